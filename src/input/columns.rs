//! Which input column (or `--set` value) feeds which `sendContact` field.
//!
//! Headers are matched loosely (case, spaces, `_`, `-` and `.` ignored, and a record's name
//! before them: Pipedrive's `Person - First name`), in passes: `--map` first, then a header
//! that *is* the field's name, then the field's own aliases (English and Russian CRM exports:
//! Google Contacts, Outlook, HubSpot, Salesforce, Bitrix24, amoCRM, Zoho, Pipedrive — the
//! table is in docs/input.md), then `Name` beside a last-name column as the first name (as
//! Bitrix24 writes it), then a full-name column (`Name`, `ФИО`) when no name part matched.
//!
//! Phone columns are the hard part. `chatId` is the chat that receives the card and
//! `phoneContact` the number on it, and an export's `Mobile Phone` can be either: "send our
//! card to every customer" makes it the chat, "send these contacts to my colleague" makes it
//! the card. So a generic phone column fills only a phone field that is still missing when
//! the other comes from its own column or from `--set`; when both are missing, which is
//! which is the user's to say, and the error shows the commands that would say it, built
//! from the file's own headers.
//!
//! `--set FIELD=VALUE` gives a field one value on every row (one card to many chats, or many
//! cards to one chat); a column that would have matched that field is ignored, and noted.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use csv::StringRecord;

use super::Row;
use crate::country::Country;
use crate::term::shown;

/// A `sendContact` request field that an input column can feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    ChatId,
    PhoneContact,
    FirstName,
    MiddleName,
    LastName,
    Company,
    QuotedMessageId,
}

/// The fields that make a card's name: at least one must be filled in.
pub const NAME_FIELDS: [Field; 4] = [
    Field::FirstName,
    Field::MiddleName,
    Field::LastName,
    Field::Company,
];

impl Field {
    pub const ALL: [Field; 7] = [
        Field::ChatId,
        Field::PhoneContact,
        Field::FirstName,
        Field::MiddleName,
        Field::LastName,
        Field::Company,
        Field::QuotedMessageId,
    ];

    /// One of the fields that make the card's name ([`NAME_FIELDS`]).
    pub fn is_name(self) -> bool {
        NAME_FIELDS.contains(&self)
    }

    /// The name GREEN-API (and the report) uses.
    pub fn name(self) -> &'static str {
        match self {
            Field::ChatId => "chatId",
            Field::PhoneContact => "phoneContact",
            Field::FirstName => "firstName",
            Field::MiddleName => "middleName",
            Field::LastName => "lastName",
            Field::Company => "company",
            Field::QuotedMessageId => "quotedMessageId",
        }
    }

    /// Other headers that mean this field, already in [`loose`] form.
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Field::ChatId => &[
                "chat",
                "to",
                "sendto",
                "recipient",
                "recipientphone",
                "whatsapp",
                "whatsappnumber",
                "чат",
                "кому",
                "получатель",
                "телефонполучателя",
            ],
            // Only headers that say "the number on the card"; plain phone columns are
            // matched by [`phone_rank`].
            Field::PhoneContact => &[
                "contactphone",
                "cardphone",
                "phoneoncard",
                "телефонконтакта",
                "номерконтакта",
            ],
            Field::FirstName => &["first", "givenname", "forename", "firstname", "имя"],
            Field::MiddleName => &[
                "middle",
                "patronymic",
                "secondname",
                "additionalname",
                "отчество",
            ],
            Field::LastName => &["last", "surname", "familyname", "фамилия"],
            Field::Company => &[
                "organisation",
                "organization",
                "organizationname",
                "organization1name",
                "org",
                "companyname",
                "accountname",
                "employer",
                "компания",
                "организация",
                "названиекомпании",
                "фирма",
            ],
            Field::QuotedMessageId => &["quoted", "quotedid", "quotedmessage", "replyto"],
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Headers of a whole name in one column (Google's old `Name`, amoCRM's `Полное имя`): used
/// as `firstName` when no part of the name has a column of its own.
const FULL_NAME: &[&str] = &[
    "name",
    "fullname",
    "contactname",
    "contactperson",
    "displayname",
    "фио",
    "полноеимя",
    "наименование",
    "контакт",
    "контактноелицо",
];

/// Numbers that are not phones: a column so named, or a number a row labels so.
const NOT_PHONES: [&str; 4] = ["fax", "факс", "pager", "пейджер"];

/// How likely a header is a phone a WhatsApp chat can be reached at (lower is likelier),
/// or none for a header that is not a phone: a WhatsApp number first, then mobile, then a
/// primary or general phone, then work (and a company's), then home and the rest.
///
/// The header is read as words (`Mobile Phone`, `mobilePhone`, `Phone 1 - Value`): it is a
/// phone when a word is a phone word (one that starts with a phone word's beginning:
/// `Cancellation Reason`, `Automobile` and `Telegram` are not phones) and no word says it is
/// something about a phone rather than the number to reach (`Phone 1 - Type`, `Phone Country
/// Code`, `Assistant's Phone`, `Source phone`, `Phone Verified`). Faxes and pagers are not
/// phones. docs/input.md ("What counts as a phone column") says the same.
fn phone_rank(header: &str) -> Option<u8> {
    let words = words(header);
    let any = |test: &dyn Fn(&str) -> bool| words.iter().any(|w| test(w));
    let starts = |w: &str, prefixes: &[&str]| prefixes.iter().any(|p| w.starts_with(p));
    let glued_phone = |w: &str| {
        ["phone", "telefon"].iter().any(|suffix| {
            w.strip_suffix(suffix)
                .is_some_and(|qualifier| GLUED_QUALIFIERS.contains(&qualifier))
        })
    };
    // German `Mobil` is a mobile phone only beside a number's word (`Mobil-Tel.-Nr.`,
    // `Mobil Nr.`): alone, it is Indonesian for a car.
    let mobil = |w: &str| w == "mobil" && any(&|o| ["nr", "nummer", "no", "tel"].contains(&o));
    let is_phone = |w: &str| {
        starts(w, PHONE_WORD_STARTS) || PHONE_WORDS.contains(&w) || glued_phone(w) || mobil(w)
    };
    let whatsapp = |w: &str| w.starts_with("whatsapp");
    let first_phone = words.iter().position(|w| is_phone(w) || whatsapp(w))?;
    // `Phone Verified` says whether a number was checked; `Verified Phone` is a number.
    let after_phone = |w: &str| {
        words[first_phone + 1..].iter().any(|later| later == w) && starts(w, STATES_OF_A_PHONE)
    };
    // `Phone Country Code` is a part of a number; `Phone (with country code)` is a number.
    let with = any(&|w| WITH.contains(&w));
    let code = |w: &str| !with && (w.starts_with("code") || w.starts_with("код"));
    if any(&|w| NOT_PHONES.iter().any(|not| w.contains(not)))
        || any(&|w| {
            starts(w, NOT_THE_NUMBER_STARTS)
                || NOT_THE_NUMBER.contains(&w)
                || after_phone(w)
                || code(w)
        })
    {
        return None;
    }
    // A WhatsApp word alone (`Accepts WhatsApp Marketing`) is not a number; with a phone
    // word (`WhatsApp Phone Number`) it is the likeliest of all.
    if any(&whatsapp) {
        return any(&is_phone).then_some(0);
    }
    let ranked = |&&(_, prefixes, whole): &&(u8, &[&str], &[&str])| {
        any(&|w| starts(w, prefixes) || whole.contains(&w))
    };
    Some(RANKS.iter().find(ranked).map_or(3, |&(rank, _, _)| rank))
}

/// The rank of a phone column one of whose words starts so, or is one of the whole words
/// (checked in this order: `Company Main Phone` is a company's), and 3 for any other: a
/// general phone.
#[rustfmt::skip]
const RANKS: &[(u8, &[&str], &[&str])] = &[
    (1, &["mob", "cel", "handy", "handp", "ponsel", "telemóv", "telemov", "móvil", "movil",
          "portabl", "моб", "сотов"],
        &["cep", "gsm"]),
    (4, &["business", "work", "office", "company", "corporate", "trabajo", "comercial",
          "bureau", "geschäft", "geschaft", "dienst", "firma", "kantor", "рабоч", "компан"],
        &["iş", "i̇ş"]),
    (2, &["primary", "principal", "haupt", "основн"], &["main"]),
    (5, &["home", "other", "car", "radio", "address", "particular", "residencial", "domicil",
          "privat", "otro", "outro", "autre", "weiter", "auto", "rumah", "домашн", "друг",
          "адрес"],
        &["ev", "casa"]),
];

/// Words a phone word starts with (`Phone`, `Phones`, `Telephone`, `Teléfono`, `Telepon`,
/// `TelNo`, `Telemóvel`, `Mobile`, `Mobiltelefon`, `Cellular`, `Handynummer`, `Handphone`,
/// `Телефона`, `Мобильный`, `Сотовый`).
#[rustfmt::skip]
const PHONE_WORD_STARTS: &[&str] = &[
    "phone", "telef", "teléf", "teleph", "téléph", "telep", "telno", "telnr", "telnum",
    "telemóv", "telemov", "mobile", "mobilt", "mobilnr", "mobilnum", "mobilfunk", "cell",
    "celular", "móvil", "movil", "handyn", "handphone", "ponsel", "телефон", "мобильн",
    "сотов",
];

/// Phone words that are words of their own only (`Tel.` but not `Telegram`, `Mob. No.` but
/// not `Mobster`, `Handy` but not `Handyman`).
const PHONE_WORDS: &[&str] = &[
    "tel", "tél", "telp", "mob", "cel", "handy", "fone", "gsm", "тел", "моб",
];

/// What goes glued before `phone` or `telefon` in one word (`homephone`, `Haupttelefon`),
/// where `smartphone` or `microphone` is not a number.
const GLUED_QUALIFIERS: &[&str] = &[
    "home", "work", "business", "office", "main", "primary", "other", "car", "auto", "direct",
    "company", "contact", "private", "haupt",
];

/// Words that make a phone header something about a phone, not the number to reach: what
/// such a word starts with.
#[rustfmt::skip]
const NOT_THE_NUMBER_STARTS: &[&str] = &[
    // what kind of number it is, or how to say it
    "type", "label", "тип", "yomi", "phonetic",
    // someone else's line, or another kind of line
    "assist", "telex", "tty", "tdd",
    // a part of a number
    "extens", "доб",
    // where it came from, and what its owner agreed to
    "source", "источник", "consent", "соглас", "accept", "opted",
    // the phone as a thing, and calls made to it
    "carrier", "operator", "operador", "оператор", "device", "portal", "enable", "telefonat",
    "anruf",
];

/// The same, as whole words (`Ext.`, `Asst. Phone`, `Mobile App`, `Phone opt-in`, `Phone Call
/// Date`), where a longer word may be a phone's (`Next of kin phone`, `Phone (optional)`).
const NOT_THE_NUMBER: &[&str] = &[
    "ext", "asst", "app", "os", "opt", "optin", "optout", "call", "calls", "date", "datum", "fecha",
];

/// What a word after the phone's says about it (`Phone Verified`, `Mobile Status`), where
/// before it (`Verified Mobile Number`, `Subscriber Phone`) the number is meant.
const STATES_OF_A_PHONE: &[&str] = &["verif", "subscri", "подпис", "status", "статус"];

/// Words that make a country code part of a number's header (`Mobile Number (with country
/// code)`, `Телефон с кодом страны`).
const WITH: &[&str] = &[
    "with",
    "incl",
    "including",
    "inc",
    "plus",
    "с",
    "со",
    "con",
    "com",
    "mit",
    "avec",
    "dengan",
];

/// A header's words, lower case: split at anything not a letter or digit, where a lower-case
/// letter meets an upper-case one (`mobilePhone`, but not `iPhone` or `WhatsApp`), and where
/// letters meet digits (`Phone1`).
fn words(header: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut last: Option<char> = None;
    for c in header.chars() {
        let boundary = match last {
            _ if !c.is_alphanumeric() => {
                last = None;
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                continue;
            }
            Some(before) => {
                (before.is_lowercase()
                    && c.is_uppercase()
                    && word.chars().nth(1).is_some()
                    && word != "whats")
                    || (before.is_alphabetic() != c.is_alphabetic())
            }
            None => false,
        };
        if boundary && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        word.extend(c.to_lowercase());
        last = Some(c);
    }
    if !word.is_empty() {
        words.push(word);
    }
    // `Whats App` is one word.
    while let Some(at) = words.windows(2).position(|pair| pair == ["whats", "app"]) {
        words[at] = "whatsapp".into();
        words.remove(at + 1);
    }
    words
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Field {
    type Err = String;

    fn from_str(s: &str) -> Result<Field, String> {
        let wanted = loose(s);
        Field::ALL
            .into_iter()
            .find(|f| loose(f.name()) == wanted)
            .ok_or_else(|| {
                let names: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
                format!("unknown field '{s}'; fields are {}", names.join(", "))
            })
    }
}

/// `--map FIELD=HEADER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMapping {
    pub field: Field,
    pub header: String,
}

impl FromStr for FieldMapping {
    type Err = String;

    fn from_str(s: &str) -> Result<FieldMapping, String> {
        let (field, header) = s
            .split_once('=')
            .ok_or_else(|| format!("'{s}' is not FIELD=HEADER (e.g. phoneContact=Mobile)"))?;
        Ok(FieldMapping {
            field: field.parse()?,
            header: header.trim().to_string(),
        })
    }
}

/// `--set FIELD=VALUE`: the field takes VALUE on every row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSetting {
    pub field: Field,
    pub value: String,
}

impl FromStr for FieldSetting {
    type Err = String;

    fn from_str(s: &str) -> Result<FieldSetting, String> {
        let (field, value) = s
            .split_once('=')
            .ok_or_else(|| format!("'{s}' is not FIELD=VALUE (e.g. phoneContact=74951234567)"))?;
        Ok(FieldSetting {
            field: field.parse()?,
            value: value.trim().to_string(),
        })
    }
}

/// Where each field's text comes from, and how each was found (for the summary).
#[derive(Debug, Clone, Default)]
pub struct ColumnMap {
    indexes: [Option<usize>; 7],
    /// For a phone field taken from the export's phone columns: the other phone columns,
    /// likeliest first, used on a row whose first one is empty.
    fallbacks: [Vec<usize>; 2],
    /// Phone columns whose kind each row labels in a column beside them (Google Contacts:
    /// `Phone 1 - Value`, labelled by `Phone 1 - Label` or `Phone 1 - Type`): the value's
    /// column and its label's.
    labels: Vec<(usize, usize)>,
    constants: [Option<String>; 7],
    /// `--country`: the plan numbers written without a country code are read in.
    country: Option<Country>,
    /// One line per field: `chatId ← 'Recipient'`, with any ambiguity spelled out.
    pub notes: Vec<String>,
}

impl ColumnMap {
    /// The column feeding `field`, if a column does.
    pub fn get(&self, field: Field) -> Option<usize> {
        self.indexes[field.index()]
    }

    /// The country whose numbering plan reads numbers written without a country code.
    pub fn country(&self) -> Option<Country> {
        self.country
    }

    /// Reads numbers written without a country code in `country`'s plan.
    pub fn with_country(mut self, country: Option<Country>) -> ColumnMap {
        self.country = country;
        self
    }

    /// The `--set` value of `field`, if it has one.
    pub fn constant(&self, field: Field) -> Option<&str> {
        self.constants[field.index()].as_deref()
    }

    /// Whether any field has a `--set` value.
    pub fn has_settings(&self) -> bool {
        self.constants.iter().any(Option::is_some)
    }

    /// A field's text on a row: its `--set` value, or its column's cell ("" without either);
    /// for a phone field drawn from several phone columns, the first that is filled in.
    /// A number a row labels a fax or a pager is not a phone: it is passed over, as an empty
    /// cell is.
    pub fn text<'a>(&'a self, field: Field, row: &'a Row) -> &'a str {
        if let Some(value) = self.constant(field) {
            return value;
        }
        let index = self.get(field);
        let cell = row.cell(index);
        let usable = |i: Option<usize>, cell: &str| {
            !cell.trim().is_empty() && self.labelled_not_a_phone(i, row).is_none()
        };
        if usable(index, cell) {
            return cell;
        }
        let others = self
            .fallbacks
            .get(field.index())
            .map_or(&[][..], Vec::as_slice);
        let fallback = others
            .iter()
            .map(|&i| (i, row.cell(Some(i))))
            .find(|&(i, c)| usable(Some(i), c));
        match fallback {
            Some((_, cell)) => cell,
            None if self.labelled_not_a_phone(index, row).is_some() => "",
            None => cell,
        }
    }

    /// The label a row gives the number in column `index`, when it says the number is not a
    /// phone (`Work Fax`, `Pager`).
    pub fn labelled_not_a_phone<'a>(&self, index: Option<usize>, row: &'a Row) -> Option<&'a str> {
        let index = index?;
        let &(_, label) = self.labels.iter().find(|(value, _)| *value == index)?;
        let text = row.cell(Some(label));
        // Whole words: `Work Fax` is a fax, `Fairfax office` is not.
        text.split(|c: char| !c.is_alphanumeric())
            .any(|word| NOT_PHONES.contains(&word.to_lowercase().as_str()))
            .then_some(text)
    }

    /// The card every row gets, when `--set` fixes it: the phone and every name field come
    /// from `--set`. (`firstName`, `company` … joined, then the phone.)
    pub fn constant_card(&self) -> Option<(String, &str)> {
        let phone = self.constant(Field::PhoneContact)?;
        if NAME_FIELDS.iter().any(|f| self.get(*f).is_some()) {
            return None;
        }
        let names: Vec<&str> = NAME_FIELDS
            .iter()
            .filter_map(|f| self.constant(*f))
            .collect();
        Some((names.join(" "), phone))
    }

    /// Maps headers to fields: `--map`, `--set`, exact names, aliases, a full-name column,
    /// then phone columns for a phone field still missing. The error message says what is
    /// missing (the caller adds the headers that exist); `path` goes into the commands it
    /// suggests.
    pub fn resolve(
        headers: &StringRecord,
        mappings: &[FieldMapping],
        settings: &[FieldSetting],
        path: &Path,
    ) -> Result<ColumnMap, String> {
        let loose_headers: Vec<String> = headers.iter().map(loose).collect();
        let mut map = ColumnMap::default();
        for (value, header) in loose_headers.iter().enumerate() {
            let Some(stem) = header.strip_suffix("value") else {
                continue;
            };
            let label = ["label", "type"].iter().find_map(|kind| {
                let wanted = format!("{stem}{kind}");
                loose_headers.iter().position(|h| *h == wanted)
            });
            if let Some(label) = label {
                map.labels.push((value, label));
            }
        }
        // What the passes below match: the header without a record's name before it
        // (Pipedrive's `Person - First name`); `--map` names a header as it is written.
        let field_headers: Vec<String> = headers
            .iter()
            .zip(&loose_headers)
            .map(|(header, as_written)| {
                if names_a_field(as_written) {
                    as_written.clone()
                } else {
                    loose(without_record_prefix(header))
                }
            })
            .collect();
        let mut taken = vec![false; headers.len()];
        let mut notes: [String; 7] = Default::default();
        let shown_header = |i: usize| shown(&headers[i]).into_owned();

        for mapping in mappings {
            if settings.iter().any(|s| s.field == mapping.field) {
                return Err(format!(
                    "--map {field}=… and --set {field}=… both give {field}; keep one",
                    field = mapping.field
                ));
            }
            // A field mapped again gives back its column: the last --map of it wins.
            if let Some(earlier) = map.indexes[mapping.field.index()] {
                taken[earlier] = false;
            }
            // Columns of one name are taken in order, one --map each (`Phone,Phone`: the
            // first --map naming it gets the first); past them, the first again.
            let exact: Vec<usize> = (0..headers.len())
                .filter(|&i| &headers[i] == mapping.header.as_str())
                .collect();
            let named = if exact.is_empty() {
                let wanted = loose(&mapping.header);
                (0..headers.len())
                    .filter(|&i| loose_headers[i] == wanted)
                    .collect()
            } else {
                exact
            };
            let index = named
                .iter()
                .find(|&&i| !taken[i])
                .or(named.first())
                .copied()
                .ok_or_else(|| {
                    let header = shown(&mapping.header);
                    format!(
                        "--map {}={header}: there is no column '{header}'",
                        mapping.field
                    )
                })?;
            map.indexes[mapping.field.index()] = Some(index);
            taken[index] = true;
            notes[mapping.field.index()] =
                format!("{} ← '{}' (--map)", mapping.field, shown_header(index));
        }
        for setting in settings {
            map.constants[setting.field.index()] = Some(setting.value.clone());
            let mut note = format!("{} = '{}' (--set)", setting.field, shown(&setting.value));
            let would_match = [Pass::Name, Pass::Alias].into_iter().find_map(|pass| {
                (0..headers.len())
                    .find(|&i| !taken[i] && pass.matches(setting.field, &field_headers[i]))
            });
            if let Some(ignored) = would_match {
                taken[ignored] = true;
                note.push_str(&format!(", column '{}' ignored", shown_header(ignored)));
            }
            notes[setting.field.index()] = note;
        }
        let given = |map: &ColumnMap, field: Field| {
            map.get(field).is_some() || map.constant(field).is_some()
        };
        // With the card's phone from --set the card is the same on every row: the file's
        // names are those of the people it goes to, not of the card.
        let constant_card = map.constant(Field::PhoneContact).is_some();
        let mut unused_names: Vec<usize> = Vec::new();

        for pass in [Pass::Name, Pass::Alias, Pass::GivenName, Pass::FullName] {
            for field in Field::ALL {
                if given(&map, field) {
                    continue;
                }
                let person = [Field::FirstName, Field::MiddleName, Field::LastName];
                if pass == Pass::FullName
                    && (field != Field::FirstName || person.iter().any(|f| given(&map, *f)))
                {
                    continue;
                }
                let other_parts = [Field::MiddleName, Field::LastName];
                if pass == Pass::GivenName
                    && (field != Field::FirstName || !other_parts.iter().any(|f| given(&map, *f)))
                {
                    continue;
                }
                let matches: Vec<usize> = (0..headers.len())
                    .filter(|&i| !taken[i] && pass.matches(field, &field_headers[i]))
                    .collect();
                let Some(&first) = matches.first() else {
                    continue;
                };
                if constant_card && NAME_FIELDS.contains(&field) {
                    for i in matches {
                        if !unused_names.contains(&i) {
                            unused_names.push(i);
                        }
                    }
                    continue;
                }
                map.indexes[field.index()] = Some(first);
                taken[first] = true;
                notes[field.index()] = format!(
                    "{field} ← '{}'{}",
                    shown_header(first),
                    also_matched(field, &matches[1..], headers)
                );
            }
        }

        // Phone columns, likeliest first, fill the one phone field still missing.
        let mut phones: Vec<(u8, usize)> = (0..headers.len())
            .filter(|&i| !taken[i])
            .filter_map(|i| phone_rank(&headers[i]).map(|rank| (rank, i)))
            .collect();
        phones.sort();
        let phones: Vec<usize> = phones.into_iter().map(|(_, i)| i).collect();
        let missing: Vec<Field> = [Field::ChatId, Field::PhoneContact]
            .into_iter()
            .filter(|f| !given(&map, *f))
            .collect();
        match (missing.as_slice(), phones.first()) {
            ([field], Some(&best)) => {
                map.indexes[field.index()] = Some(best);
                map.fallbacks[field.index()] = phones[1..].to_vec();
                let mut note = format!("{field} ← '{}'", shown_header(best));
                if phones.len() > 1 {
                    let others: Vec<&str> = phones[1..].iter().map(|&i| &headers[i]).collect();
                    note.push_str(&format!(
                        " (where it is empty: {}; --map {field}=HEADER to choose one)",
                        super::quote_list(others.into_iter())
                    ));
                }
                notes[field.index()] = note;
            }
            ([_, _], Some(_)) => return Err(ambiguous(headers, &phones, &map, path)),
            _ => {}
        }

        map.notes = notes.into_iter().filter(|n| !n.is_empty()).collect();
        if !unused_names.is_empty() {
            let names: Vec<&str> = unused_names.iter().map(|&i| &headers[i]).collect();
            map.notes.push(format!(
                "{} not on the card (with --set phoneContact, the card's name comes from \
                 --set too)",
                super::quote_list(names.into_iter())
            ));
        }
        if !given(&map, Field::ChatId) {
            return Err(
                "no chatId column (the chat to send to). Name a column chatId, or add \
                 --map chatId=HEADER, or send every card to one chat with --set chatId=NUMBER"
                    .into(),
            );
        }
        if !given(&map, Field::PhoneContact) {
            return Err(
                "no phoneContact column (the number on the contact card). Name a column \
                 phoneContact, or add --map phoneContact=HEADER, or send one card to every \
                 chat with --set phoneContact=NUMBER"
                    .into(),
            );
        }
        if !NAME_FIELDS.iter().any(|f| given(&map, *f)) {
            return Err(if constant_card {
                "no name for the card: with --set phoneContact, give the card's name too, \
                 e.g. --set company=NAME or --set firstName=NAME"
                    .into()
            } else {
                "no name column: a contact card needs firstName, middleName, lastName or \
                 company. Add one, or --map firstName=HEADER, or --set company=NAME"
                    .into()
            });
        }
        Ok(map)
    }
}

/// ` (also matched 'A', 'B'; use --map FIELD=HEADER to choose)`, or nothing.
fn also_matched(field: Field, others: &[usize], headers: &StringRecord) -> String {
    if others.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = others.iter().map(|&i| &headers[i]).collect();
    format!(
        " (also matched {}; use --map {field}=HEADER to choose)",
        super::quote_list(names.into_iter())
    )
}

/// The error when phone columns exist but nothing says which is the chat and which the
/// card: the commands that would, for this file.
fn ambiguous(headers: &StringRecord, phones: &[usize], map: &ColumnMap, path: &Path) -> String {
    let file = shell_quote(&path.to_string_lossy());
    let column = |i: usize| shell_quote(&headers[i]);
    let best = column(phones[0]);
    let has_name = NAME_FIELDS.iter().any(|f| map.get(*f).is_some());
    let card_name = if has_name {
        ""
    } else {
        " --set company='Your company'"
    };
    let mut text = format!(
        "it is not clear which phone column is the chat to send to (chatId) and which is the \
         number on the card (phoneContact); phone columns: {}. Say which, for example (put in \
         your own numbers):\n  one card, your company's, to every contact in the file:\n    \
         greenbulk send {file} --map chatId={best} --set phoneContact=74951234567 --set \
         company='Your company' --results card-to-all.csv\n  every contact in the file, as a \
         card, to one chat (a colleague):\n    greenbulk send {file} --set chatId=79001234567 \
         --map phoneContact={best}{card_name} --results cards-to-one-chat.csv",
        super::quote_list(phones.iter().map(|&i| &headers[i]))
    );
    if let [chat, card, ..] = phones {
        text.push_str(&format!(
            "\n  each row: the card of '{}' to the chat of '{}':\n    greenbulk send {file} \
             --map chatId={} --map phoneContact={} --results each-row.csv",
            shown(&headers[*card]),
            shown(&headers[*chat]),
            column(*chat),
            column(*card),
        ));
    }
    text
}

/// A word the shell reads back as it is: bare when safe, else in single quotes.
fn shell_quote(text: &str) -> String {
    let safe = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ',' | ':' | '@'));
    if safe {
        shown(text).into_owned()
    } else {
        format!("'{}'", shown(&text.replace('\'', r"'\''")))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Name,
    Alias,
    /// `Name` beside a last-name (or middle-name) column: the first name, as Bitrix24
    /// exports it (`Name`, `Second name`, `Last name`).
    GivenName,
    FullName,
}

impl Pass {
    fn matches(self, field: Field, loose_header: &str) -> bool {
        match self {
            Pass::Name => loose(field.name()) == loose_header,
            Pass::Alias => field.aliases().contains(&loose_header),
            Pass::GivenName => loose_header == "name",
            Pass::FullName => FULL_NAME.contains(&loose_header),
        }
    }
}

/// Names of the record a CRM writes before each field of it (`Person - First name`,
/// `Contact: Mobile`), in [`loose`] form.
const RECORD_PREFIXES: &[&str] = &[
    "person",
    "contact",
    "lead",
    "customer",
    "client",
    "контакт",
    "клиент",
    "лид",
];

/// A header without the record's name written before it, with ` - ` or `: ` between
/// (`Person - First name` → `First name`); any other header (`Contact-Phone`,
/// `contact.phone`) as it is.
fn without_record_prefix(header: &str) -> &str {
    header
        .split_once(['-', ':'])
        .filter(|(record, field)| {
            RECORD_PREFIXES.contains(&loose(record).as_str())
                && field.starts_with(char::is_whitespace)
                && !field.trim().is_empty()
        })
        .map_or(header, |(_, field)| field)
}

/// Whether a header, as written, is a field's name, one of its aliases or a full name's: such
/// a header keeps its record's name (`Contact - Name` is a contact's name, a whole one).
fn names_a_field(loose_header: &str) -> bool {
    FULL_NAME.contains(&loose_header)
        || Field::ALL.iter().any(|&field| {
            Pass::Name.matches(field, loose_header) || Pass::Alias.matches(field, loose_header)
        })
}

/// A header reduced for matching: lower case, without spaces, `_`, `-`, `.` and quotes.
fn loose(header: &str) -> String {
    header
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '.' | '\'' | '"'))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(headers: &[&str]) -> StringRecord {
        headers.iter().collect()
    }

    fn resolve(headers: &[&str]) -> Result<ColumnMap, String> {
        ColumnMap::resolve(&record(headers), &[], &[], Path::new("in.csv"))
    }

    #[test]
    fn names_match_loosely_and_aliases_follow() {
        let map = resolve(&["Chat ID", "Телефон", "Имя", "surname", "ORGANISATION"]).unwrap();
        assert_eq!(map.get(Field::ChatId), Some(0));
        assert_eq!(map.get(Field::PhoneContact), Some(1));
        assert_eq!(map.get(Field::FirstName), Some(2));
        assert_eq!(map.get(Field::LastName), Some(3));
        assert_eq!(map.get(Field::Company), Some(4));
        assert_eq!(map.get(Field::MiddleName), None);
    }

    #[test]
    fn exact_name_beats_alias_and_map_beats_both() {
        let headers = record(&["chat_id", "Phone", "phone_contact", "Name"]);
        let map = ColumnMap::resolve(&headers, &[], &[], Path::new("x")).unwrap();
        assert_eq!(map.get(Field::PhoneContact), Some(2));
        let mapping: FieldMapping = "phoneContact=Phone".parse().unwrap();
        let map = ColumnMap::resolve(&headers, &[mapping], &[], Path::new("x")).unwrap();
        assert_eq!(map.get(Field::PhoneContact), Some(1));
    }

    #[test]
    fn missing_columns_are_named() {
        let err = resolve(&["name"]).unwrap_err();
        assert!(err.contains("no chatId column"), "{err}");
        let mapping: FieldMapping = "chatId=Nope".parse().unwrap();
        let err = ColumnMap::resolve(
            &record(&["chatId", "phone", "name"]),
            &[mapping],
            &[],
            Path::new("x"),
        );
        assert!(err.unwrap_err().contains("there is no column 'Nope'"));
        assert!("nofield=x".parse::<FieldMapping>().is_err());
        assert!("chatId".parse::<FieldMapping>().is_err());
    }

    #[test]
    fn set_gives_a_field_and_ignores_the_column_it_would_have_taken() {
        let setting: FieldSetting = "company=Romashka support".parse().unwrap();
        let map = ColumnMap::resolve(
            &record(&["chatId", "phoneContact", "Company"]),
            &[],
            &[setting],
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(map.get(Field::Company), None);
        assert_eq!(map.constant(Field::Company), Some("Romashka support"));
        assert!(
            map.notes
                .iter()
                .any(|n| n.contains("column 'Company' ignored")),
            "{:?}",
            map.notes
        );
        let both = ColumnMap::resolve(
            &record(&["chatId", "phoneContact", "Company"]),
            &["company=Company".parse().unwrap()],
            &["company=X".parse().unwrap()],
            Path::new("x"),
        );
        assert!(both.unwrap_err().contains("keep one"));
    }

    #[test]
    fn a_phone_column_fills_the_phone_field_that_is_missing() {
        // One card to every row: the export's mobile is the chat.
        let headers = record(&[
            "Given Name",
            "Family Name",
            "Phone 1 - Type",
            "Phone 1 - Value",
        ]);
        let card: Vec<FieldSetting> = vec![
            "phoneContact=74951234567".parse().unwrap(),
            "company=Romashka".parse().unwrap(),
        ];
        let map = ColumnMap::resolve(&headers, &[], &card, Path::new("x")).unwrap();
        assert_eq!(map.get(Field::ChatId), Some(3));
        // Many cards to one chat: the export's mobile is the card.
        let chat = vec!["chatId=79001234567".parse().unwrap()];
        let map = ColumnMap::resolve(&headers, &[], &chat, Path::new("x")).unwrap();
        assert_eq!(map.get(Field::PhoneContact), Some(3));
        assert_eq!(map.get(Field::FirstName), Some(0));
        // A mapped chat leaves the best remaining phone for the card, and the others for
        // rows where it is empty.
        let headers = record(&["First Name", "Home Phone", "Business Phone", "Mobile Phone"]);
        let mapping = vec!["chatId=Mobile Phone".parse().unwrap()];
        let map = ColumnMap::resolve(&headers, &mapping, &[], Path::new("x")).unwrap();
        assert_eq!(map.get(Field::PhoneContact), Some(2));
        let row = Row {
            cells: ["Ann", "+7 495 111", "", "+7 916 222"].iter().collect(),
            ..Row::default()
        };
        assert_eq!(map.text(Field::PhoneContact, &row), "+7 495 111");
    }

    #[test]
    fn without_a_say_the_error_suggests_commands_for_this_file() {
        let err = ColumnMap::resolve(
            &record(&["Name", "Business Phone", "Mobile Phone"]),
            &[],
            &[],
            Path::new("my contacts.csv"),
        )
        .unwrap_err();
        assert!(
            err.contains(
                "greenbulk send 'my contacts.csv' --map chatId='Mobile Phone' --set phoneContact="
            ),
            "{err}"
        );
        assert!(
            err.contains("--set chatId=79001234567 --map phoneContact='Mobile Phone'"),
            "{err}"
        );
        assert!(
            err.contains("--map chatId='Mobile Phone' --map phoneContact='Business Phone'"),
            "{err}"
        );
    }

    #[test]
    fn a_full_name_column_is_used_only_without_name_parts() {
        let map = resolve(&["chatId", "phoneContact", "Name", "Given Name"]).unwrap();
        assert_eq!(map.get(Field::FirstName), Some(3));
        let map = resolve(&["chatId", "phoneContact", "ФИО"]).unwrap();
        assert_eq!(map.get(Field::FirstName), Some(2));
        // A company's contact person: the card has the person, not only the company.
        let map = resolve(&["chatId", "Company Name", "Contact Person", "Mobile"]).unwrap();
        assert_eq!(map.get(Field::FirstName), Some(2));
        assert_eq!(map.get(Field::Company), Some(1));
        let map = resolve(&["chatId", "Компания", "Контактное лицо", "Мобильный"]).unwrap();
        assert_eq!(map.get(Field::FirstName), Some(2));
    }

    #[test]
    fn bitrix24s_own_labels_are_its_name_parts_and_phones() {
        // Bitrix24's English export, its contacts sent as cards to one colleague.
        let headers = [
            "Name",
            "Second name",
            "Last name",
            "Work Phone",
            "Mobile",
            "Fax",
            "Home Phone",
            "Pager Number",
            "Other Phone Number",
        ];
        let to_colleague = FieldSetting {
            field: Field::ChatId,
            value: "79001234567".into(),
        };
        let map = ColumnMap::resolve(&record(&headers), &[], &[to_colleague], Path::new("in.csv"))
            .unwrap();
        assert_eq!(map.get(Field::FirstName), Some(0));
        assert_eq!(map.get(Field::MiddleName), Some(1));
        assert_eq!(map.get(Field::LastName), Some(2));
        assert_eq!(map.get(Field::PhoneContact), Some(4));
        // Where Mobile is empty: the work phone, then home, then other; never fax or pager.
        assert_eq!(map.fallbacks[Field::PhoneContact.index()], vec![3, 6, 8]);
        // The Russian labels too.
        let map = resolve(&["Получатель", "Телефон", "Имя", "Фамилия"]).unwrap();
        assert_eq!(map.get(Field::FirstName), Some(2));
        // `Name` alone is a whole name; beside a last name, the first name.
        let map = resolve(&["chatId", "phoneContact", "Name", "Last name"]).unwrap();
        assert_eq!(map.get(Field::FirstName), Some(2));
        assert!(
            map.notes.iter().any(|n| n == "firstName ← 'Name'"),
            "{:?}",
            map.notes
        );
    }

    #[test]
    fn labels_faxes_and_pagers_are_not_phones() {
        for header in [
            "Phone 1 - Type",
            "Phone 1 - Label",
            "Business Fax",
            "Telefax",
            "Pager",
            "Номер факса",
            "Phonetic First Name",
            "TTY/TDD Phone",
            "Telex",
        ] {
            assert_eq!(phone_rank(header), None, "{header}");
        }
        let order = [
            "WhatsApp Phone Number",
            "Mobile Phone",
            "Primary Phone",
            "Phone 1 - Value",
            "Business Phone",
            "Home Phone",
        ];
        for pair in order.windows(2) {
            assert!(phone_rank(pair[0]) < phone_rank(pair[1]), "{pair:?}");
        }
        assert!(phone_rank("Мобильный телефон") < phone_rank("Рабочий телефон"));
    }

    /// Headers of real exports that hold a phone word inside another word, or say something
    /// about a phone other than the number: none is taken for a phone.
    #[test]
    fn headers_that_only_mention_a_phone_are_not_phones() {
        for header in [
            "Cancellation Reason",
            "Cancelled at",
            "Automobile",
            "Автомобиль",
            "Telegram",
            "Контакт Telegram",
            "Hotel",
            "Satellite office",
            "Связанный пользователь",
            "Phone Country Code",
            "Phone Area Code",
            "Код телефона",
            "Assistant's Phone",
            "Asst. Phone",
            "AssistantPhone",
            "Telefon Assistent",
            "Phone Ext.",
            "Extension",
            "Добавочный телефона",
            "Source phone",
            "Источник телефона",
            "Person - Marketing consent phone",
            "Accepts WhatsApp Marketing",
            "Accepts SMS Marketing",
            "Phone opt-in",
            "Phone Verified",
            "Mobile App",
            "Mobile Carrier",
            "Мобильный оператор",
            "Enable_Mobile_Portal__c",
            "Smartphone",
            "Microphone",
            "iPhone",
            "Mobil",
            "Merk Mobil",
            "Operadora do celular",
            "Letztes Telefonat",
            "Phone Call Date",
            "Handyman",
            "Phone Verified",
            "Mobile Status",
        ] {
            assert_eq!(phone_rank(header), None, "{header}");
        }
        for header in [
            "Tel.",
            "Моб. тел.",
            "Telephone",
            "Teléfono",
            "Téléphone",
            "Telefonnummer",
            "Mobiltelefon",
            "Mobil-Tel.-Nr.",
            "Celular",
            "Móvil",
            "Handy",
            "Cellular",
            "MobilePhone",
            "homephone",
            "Next of kin phone",
            "Phone (optional)",
            "Сотовый",
            "Номер телефона",
            "Phone2",
            "telnumber",
            "Telemóvel",
            "Mob. No.",
            "Cel",
            "Handynummer",
            "Mobile Number (with country code)",
            "Phone (incl. country code)",
            "Телефон с кодом страны",
            "Telepon",
            "Nomor Telepon",
            "Telp.",
            "No. Handphone",
            "Verified Mobile Number",
            "Subscriber Phone",
            "Whats App Phone",
            "Tél.",
            "Fone",
            "GSM",
            "Mobil Nr.",
        ] {
            assert!(phone_rank(header).is_some(), "{header}");
        }
        assert_eq!(phone_rank("MobilePhone"), phone_rank("Mobile Phone"));
        let same_rank = [
            ("Mobile", "Mobiltelefon"),
            ("Mobile", "Mob. No."),
            ("Mobile", "Telemóvel"),
            ("Mobile", "Celular"),
            ("Mobile", "Handy"),
            ("Mobile", "Сотовый"),
            ("Mobile", "Cep Telefonu"),
            ("Mobile", "Téléphone portable"),
            ("Mobile", "No. Handphone"),
            ("Primary Phone", "Telefone principal"),
            ("Primary Phone", "Haupttelefon"),
            ("Business Phone", "Telefon geschäftlich"),
            ("Business Phone", "Teléfono del trabajo"),
            ("Business Phone", "İş Telefonu"),
            ("Business Phone", "Telepon Kantor"),
            ("Home Phone", "Telefon privat"),
            ("Home Phone", "Ev Telefonu"),
            ("Home Phone", "Téléphone domicile"),
            ("Phone", "Maintenance Phone"),
        ];
        for (known, other) in same_rank {
            assert_eq!(phone_rank(other), phone_rank(known), "{other} as {known}");
        }
        assert_eq!(phone_rank("Whats App Phone"), Some(0));
        assert!(phone_rank("Phone") < phone_rank("Default Address Phone"));
    }

    #[test]
    fn words_split_as_people_write_headers() {
        assert_eq!(words("Phone 1 - Value"), ["phone", "1", "value"]);
        assert_eq!(words("mobilePhone"), ["mobile", "phone"]);
        assert_eq!(
            words("Enable_Mobile_Portal__c"),
            ["enable", "mobile", "portal", "c"]
        );
        assert_eq!(words("Mobil-Tel.-Nr."), ["mobil", "tel", "nr"]);
        assert_eq!(words("Phone2"), ["phone", "2"]);
        assert_eq!(words("Моб. тел."), ["моб", "тел"]);
        assert_eq!(words("PHONE"), ["phone"]);
        assert_eq!(words("WhatsApp Phone"), ["whatsapp", "phone"]);
        assert_eq!(words("iPhone"), ["iphone"]);
    }

    #[test]
    fn a_records_name_before_a_header_is_read_past() {
        assert_eq!(without_record_prefix("Person - First name"), " First name");
        assert_eq!(without_record_prefix("Contact: Mobile"), " Mobile");
        for kept in [
            "Organization 1 - Name",
            "E-mail 1 - Value",
            "Contact Name",
            "Person -",
            "Contact-Phone",
            "contact.phone",
        ] {
            assert_eq!(without_record_prefix(kept), kept);
        }
        // A header that names a field as written keeps its record's name.
        let headers = record(&["Name", "Mobile", "Contact - Phone", "Last name"]);
        let setting: FieldSetting = "chatId=79001234567".parse().unwrap();
        let map = ColumnMap::resolve(&headers, &[], &[setting], Path::new("x")).unwrap();
        assert_eq!(map.get(Field::PhoneContact), Some(2));
        let map = resolve(&["chatId", "phoneContact", "Contact - Name", "Last name"]).unwrap();
        assert_eq!(map.get(Field::FirstName), None);
        assert_eq!(map.get(Field::LastName), Some(3));
        // `--map` names the header as written.
        let headers = record(&["Person - Name", "Person - Phone - Mobile", "Person - Email"]);
        let mapping: FieldMapping = "firstName=Person - Name".parse().unwrap();
        let setting: FieldSetting = "chatId=79001234567".parse().unwrap();
        let map = ColumnMap::resolve(&headers, &[mapping], &[setting], Path::new("x")).unwrap();
        assert_eq!(map.get(Field::FirstName), Some(0));
        assert_eq!(map.get(Field::PhoneContact), Some(1));
    }
}
