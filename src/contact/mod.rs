//! Contact: one input row turned into a checked, normalised `sendContact` request, or the
//! reasons it cannot be one.
//!
//! Everything here is a pure function of a row, so it runs in parallel and is trivial to test.

pub mod phone;
mod plans;

use std::borrow::Cow;
use std::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};
use xxhash_rust::xxh3::Xxh3Default;

use crate::input::{ColumnMap, Field, FieldSetting, Row};
pub use phone::{PhoneError, PhoneNumber, Plausibility};

/// GREEN-API answers 500 `request entity too large` above this JSON body size.
pub const MAX_BODY_BYTES: usize = 100 * 1024;

/// No name, patronymic or company is longer. A longer cell is rows swallowed by a quote
/// left open, or something that is not a name at all: an error, so it never goes out.
pub const MAX_NAME_CHARS: usize = 300;

/// Where a message goes: a personal chat (`digits@c.us`) or a group (`…@g.us`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChatId {
    Personal(u64),
    Group(String),
}

impl fmt::Display for ChatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChatId::Personal(digits) => write!(f, "{digits}@c.us"),
            ChatId::Group(id) => f.write_str(id),
        }
    }
}

impl ChatId {
    /// A stable hash of the chat as it is sent (`digits@c.us`, `…@g.us`): the same on every
    /// machine and version, for spreading chats over instances.
    pub fn stable_hash(&self) -> u64 {
        let mut text = KeyText {
            bytes: [0; 192],
            len: 0,
        };
        let mut digits = [0; 20];
        let assembled = match self {
            ChatId::Personal(n) => text
                .push(decimal(*n, &mut digits))
                .and_then(|()| text.push(b"@c.us")),
            ChatId::Group(id) => text.push(id.as_bytes()),
        };
        match assembled {
            Some(()) => xxhash_rust::xxh3::xxh3_64(&text.bytes[..text.len]),
            None => xxhash_rust::xxh3::xxh3_64(self.to_string().as_bytes()),
        }
    }

    /// Parses every accepted form: `digits@c.us`, `digits-digits@g.us`, `digits@g.us`, or a
    /// phone number written any usual way. The error is a sentence about the value.
    pub fn parse(text: &str) -> Result<ChatId, String> {
        let text = text.trim();
        // Every chat id form has an `@`; without one, the text is a phone number.
        if memchr::memchr(b'@', text.as_bytes()).is_none() {
            return phone::parse(text)
                .map(|p| ChatId::Personal(p.get()))
                .map_err(|e| e.to_string());
        }
        let lower = text.to_ascii_lowercase();
        if let Some(digits) = lower.strip_suffix("@c.us") {
            return match digits.parse::<u64>() {
                Ok(n) if digits.bytes().all(|b| b.is_ascii_digit()) && n > 0 => {
                    Ok(ChatId::Personal(n))
                }
                _ => Err(
                    "is not a personal chat id: it must be digits@c.us, the country code \
                          and number without + (e.g. 79001234567@c.us)"
                        .into(),
                ),
            };
        }
        if let Some(id) = lower.strip_suffix("@g.us") {
            let mut parts = id.splitn(2, '-');
            let well_formed = parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            return if well_formed {
                Ok(ChatId::Group(lower))
            } else {
                Err(
                    "is not a group chat id: it must be digits@g.us or digits-digits@g.us, \
                     as GREEN-API's getContacts or group methods return it"
                        .into(),
                )
            };
        }
        if lower.ends_with("@s.whatsapp.net") {
            return Err(
                "uses WhatsApp's internal suffix; write it as digits@c.us (e.g. 79001234567@c.us)"
                    .into(),
            );
        }
        if text.contains('@') {
            return Err(
                "is not a chat id: personal chats are digits@c.us, groups are \
                        digits@g.us or digits-digits@g.us"
                    .into(),
            );
        }
        phone::parse(text)
            .map(|p| ChatId::Personal(p.get()))
            .map_err(|e| e.to_string())
    }
}

/// A checked `sendContact` request, borrowing its names from the row (cleaned copies only
/// where a name held control characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub chat_id: ChatId,
    pub phone_contact: PhoneNumber,
    pub first_name: Cow<'a, str>,
    pub middle_name: Cow<'a, str>,
    pub last_name: Cow<'a, str>,
    pub company: Cow<'a, str>,
    pub quoted_message_id: &'a str,
}

/// A fingerprint of a request's content (chat and contact card): two rows with the same key
/// would deliver the same card to the same chat. Stable across runs and versions (XXH3-128),
/// so the ledger can match rows by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentKey(pub u128);

/// A card's identity, for "never twice": the chat it goes to and the phone on it (XXH3-128 of
/// `chat\x1fphone`). The names and the company are the card's content ([`ContentKey`]): a
/// corrected name, or another `--map`, is still the same card to the same person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CardKey(pub u128);

/// Both keys are written as 32 hexadecimal digits (in the ledger and the sent-card history)
/// and read back the same way; anything else is not a key.
macro_rules! hex_key {
    ($key:ident, $what:literal) => {
        impl fmt::Display for $key {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:032x}", self.0)
            }
        }

        impl std::str::FromStr for $key {
            type Err = String;

            fn from_str(s: &str) -> Result<$key, String> {
                if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!("'{s}' is not a {} (32 hexadecimal digits)", $what));
                }
                u128::from_str_radix(s, 16)
                    .map($key)
                    .map_err(|e| e.to_string())
            }
        }

        impl serde::Serialize for $key {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $key {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<$key, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_key!(ContentKey, "content key");
hex_key!(CardKey, "card key");

impl CardKey {
    /// The identity of a card with this phone sent to this chat (as sent: `digits@c.us`).
    pub fn of(chat_id: impl fmt::Display, phone_contact: u64) -> CardKey {
        use fmt::Write as _;
        let mut hasher = Xxh3Default::new();
        let _ = write!(Feed(&mut hasher), "{chat_id}\x1f{phone_contact}");
        CardKey(hasher.digest128())
    }
}

/// Feeds formatted text straight into the hasher: the same bytes as `to_string()`, without
/// an allocation.
struct Feed<'h>(&'h mut Xxh3Default);

impl fmt::Write for Feed<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

impl ContentKey {
    /// The key of a card with this chat (as sent: `digits@c.us`), phone and names
    /// (`firstName`, `middleName`, `lastName`, `company`): what [`Request::key`] gives, for a
    /// card read back from GREEN-API's queue.
    pub fn of(chat_id: impl fmt::Display, phone_contact: u64, names: [&str; 4]) -> ContentKey {
        use fmt::Write as _;
        let mut hasher = Xxh3Default::new();
        let _ = write!(Feed(&mut hasher), "{chat_id}");
        ContentKey::finish(hasher, phone_contact, names)
    }

    /// The rest of the key once the chat id is in: `\x1f`, the phone, `\x1f` before each name.
    fn finish(mut hasher: Xxh3Default, phone_contact: u64, names: [&str; 4]) -> ContentKey {
        let mut digits = [0; 20];
        hasher.update(b"\x1f");
        hasher.update(decimal(phone_contact, &mut digits));
        for part in names {
            hasher.update(b"\x1f");
            hasher.update(part.as_bytes());
        }
        ContentKey(hasher.digest128())
    }
}

/// A card's key text (`chat\x1fphone\x1fnames…`) assembled on the stack, when it fits, so
/// it is hashed in one call: XXH3 gives the same digest for the same bytes either way.
struct KeyText {
    bytes: [u8; 192],
    len: usize,
}

impl KeyText {
    fn push(&mut self, part: &[u8]) -> Option<()> {
        let end = self
            .len
            .checked_add(part.len())
            .filter(|&e| e <= self.bytes.len())?;
        self.bytes[self.len..end].copy_from_slice(part);
        self.len = end;
        Some(())
    }
}

/// `n` in decimal, as `Display` writes it, in `buffer`: two digits at a time.
fn decimal(mut n: u64, buffer: &mut [u8; 20]) -> &[u8] {
    const PAIRS: [u8; 200] = {
        let mut pairs = [0; 200];
        let mut i = 0;
        while i < 100 {
            pairs[2 * i] = b'0' + (i / 10) as u8;
            pairs[2 * i + 1] = b'0' + (i % 10) as u8;
            i += 1;
        }
        pairs
    };
    let mut start = buffer.len();
    while n >= 10 {
        let pair = (n % 100) as usize * 2;
        start -= 2;
        buffer[start..start + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
        n /= 100;
    }
    if n > 0 || start == buffer.len() {
        start -= 1;
        buffer[start] = b'0' + n as u8;
    }
    &buffer[start..]
}

impl Request<'_> {
    /// The card's identity: its chat and phone (see [`CardKey`]); the same key as
    /// [`CardKey::of`], assembled on the stack (every row of a send computes it).
    pub fn card_key(&self) -> CardKey {
        let mut text = KeyText {
            bytes: [0; 192],
            len: 0,
        };
        let mut digits = [0; 20];
        let assembled = match &self.chat_id {
            ChatId::Personal(n) => text
                .push(decimal(*n, &mut digits))
                .and_then(|()| text.push(b"@c.us")),
            ChatId::Group(id) => text.push(id.as_bytes()),
        }
        .and_then(|()| text.push(b"\x1f"))
        .and_then(|()| text.push(decimal(self.phone_contact.get(), &mut digits)));
        match assembled {
            Some(()) => CardKey(xxhash_rust::xxh3::xxh3_128(&text.bytes[..text.len])),
            None => CardKey::of(&self.chat_id, self.phone_contact.get()),
        }
    }

    /// The same key as [`ContentKey::of`] gives for this card, without formatting the chat id.
    pub fn key(&self) -> ContentKey {
        self.short_key().unwrap_or_else(|| self.long_key())
    }

    /// The key of a card whose text fits in a [`KeyText`] (nearly all of them).
    fn short_key(&self) -> Option<ContentKey> {
        let mut text = KeyText {
            bytes: [0; 192],
            len: 0,
        };
        let mut digits = [0; 20];
        match &self.chat_id {
            ChatId::Personal(n) => {
                text.push(decimal(*n, &mut digits))?;
                text.push(b"@c.us")?;
            }
            ChatId::Group(id) => text.push(id.as_bytes())?,
        }
        text.push(b"\x1f")?;
        text.push(decimal(self.phone_contact.get(), &mut digits))?;
        for part in [
            &self.first_name,
            &self.middle_name,
            &self.last_name,
            &self.company,
        ] {
            text.push(b"\x1f")?;
            text.push(part.as_bytes())?;
        }
        Some(ContentKey(xxhash_rust::xxh3::xxh3_128(
            &text.bytes[..text.len],
        )))
    }

    fn long_key(&self) -> ContentKey {
        ContentKey::of(
            &self.chat_id,
            self.phone_contact.get(),
            [
                &self.first_name,
                &self.middle_name,
                &self.last_name,
                &self.company,
            ],
        )
    }

    /// The card's firstName, middleName, lastName and company.
    pub fn names(&self) -> [&str; 4] {
        [
            &self.first_name,
            &self.middle_name,
            &self.last_name,
            &self.company,
        ]
    }

    /// The JSON body exactly as it is sent.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a request always serialises")
    }

    /// The body's size in bytes, computed exactly only when it could be near the limit.
    fn body_len_exceeds_limit(&self) -> bool {
        let raw: usize = [
            &self.first_name,
            &self.middle_name,
            &self.last_name,
            &self.company,
        ]
        .iter()
        .map(|s| s.len())
        .sum::<usize>()
            + self.quoted_message_id.len();
        // JSON escaping grows a byte to at most six (\u00XX); below this the body is surely small.
        raw * 6 + 256 > MAX_BODY_BYTES && self.body().len() > MAX_BODY_BYTES
    }
}

impl Serialize for Request<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Contact<'r, 'a>(&'r Request<'a>);
        impl Serialize for Contact<'_, '_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let r = self.0;
                let mut map = serializer.serialize_map(None)?;
                map.serialize_entry("phoneContact", &r.phone_contact.get())?;
                for (name, value) in [
                    ("firstName", &r.first_name),
                    ("middleName", &r.middle_name),
                    ("lastName", &r.last_name),
                    ("company", &r.company),
                ] {
                    if !value.is_empty() {
                        map.serialize_entry(name, value)?;
                    }
                }
                map.end()
            }
        }
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("chatId", &self.chat_id.to_string())?;
        map.serialize_entry("contact", &Contact(self))?;
        if !self.quoted_message_id.is_empty() {
            map.serialize_entry("quotedMessageId", self.quoted_message_id)?;
        }
        map.end()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem found in a row, in the words the report uses.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// The field concerned, or a description such as `row` for whole-row findings.
    pub field: &'static str,
    pub value: String,
    pub problem: String,
}

impl Finding {
    fn new(severity: Severity, field: &'static str, value: &str, problem: String) -> Finding {
        Finding {
            severity,
            field,
            value: value.to_string(),
            problem,
        }
    }
}

/// The outcome of checking one row.
#[derive(Debug)]
pub struct Checked<'a> {
    /// The request, when the row has no error.
    pub request: Option<Request<'a>>,
    pub findings: Vec<Finding>,
}

/// What a cell that reads empty because it is a formula with no saved value is told.
const UNSAVED_FORMULA: &str = "is a formula whose value was never saved (the workbook was \
    written by a program that does not calculate formulas): open it in Excel and save it, so \
    the values are stored, then run again";

/// The field name the report uses for the "no name at all" error.
pub const NAME_FIELDS: &str = "firstName/middleName/lastName/company";

/// Checks one row and builds its request. Pure: same row, same answer.
pub fn check<'a>(row: &'a Row, columns: &'a ColumnMap, header_len: usize) -> Checked<'a> {
    use Severity::{Error, Warning};
    let mut findings = Vec::new();
    let texts = Field::ALL.map(|field| trim(columns.text(field, row)));
    let cell = |field: Field| texts[field as usize];
    let missing = |field: Field, what: &str| {
        if row.unsaved_formula(columns.get(field)) {
            UNSAVED_FORMULA.to_string()
        } else {
            format!("is missing: {what}")
        }
    };

    let chat_text = first_value(Field::ChatId, cell(Field::ChatId), &mut findings);
    let chat_id = if chat_text.is_empty() {
        findings.push(Finding::new(
            Error,
            "chatId",
            "",
            missing(
                Field::ChatId,
                "give the chat to send to, as a phone number with country code or digits@c.us",
            ),
        ));
        None
    } else {
        match ChatId::parse(chat_text) {
            Ok(id) => Some(id),
            Err(problem) => {
                findings.push(Finding::new(Error, "chatId", chat_text, problem));
                None
            }
        }
    };

    let phone_text = first_value(
        Field::PhoneContact,
        cell(Field::PhoneContact),
        &mut findings,
    );
    let phone_contact = match phone::parse(phone_text) {
        Ok(p) => Some(p),
        Err(PhoneError::Empty) => {
            findings.push(Finding::new(
                Error,
                "phoneContact",
                "",
                missing(
                    Field::PhoneContact,
                    "give the number on the contact card, with country code",
                ),
            ));
            None
        }
        Err(e) => {
            findings.push(Finding::new(
                Error,
                "phoneContact",
                phone_text,
                e.to_string(),
            ));
            None
        }
    };

    for field in [Field::ChatId, Field::PhoneContact] {
        if row.dated_number(columns.get(field)) {
            findings.push(Finding::new(
                Warning,
                field.name(),
                cell(field),
                "is a number in a column the workbook formats as dates (Excel shows it as \
                 ##### or a date past the year 9999): greenbulk reads the number it holds. \
                 Format the column as Text (or Number, 0 decimals) to see it in Excel"
                    .into(),
            ));
        }
    }

    let [first_name, middle_name, last_name, company] = [
        Field::FirstName,
        Field::MiddleName,
        Field::LastName,
        Field::Company,
    ]
    .map(|field| name(field, cell(field), &mut findings));
    if [&first_name, &middle_name, &last_name, &company]
        .iter()
        .all(|s| s.is_empty())
    {
        let formulas = [
            Field::FirstName,
            Field::MiddleName,
            Field::LastName,
            Field::Company,
        ]
        .iter()
        .any(|f| row.unsaved_formula(columns.get(*f)));
        findings.push(Finding::new(
            Error,
            NAME_FIELDS,
            "",
            if formulas {
                format!("all empty: {UNSAVED_FORMULA}")
            } else {
                "all empty: a contact card needs at least one of firstName, middleName, \
                 lastName or company"
                    .into()
            },
        ));
    }
    let quoted_message_id = cell(Field::QuotedMessageId);
    if !quoted_message_id.is_empty()
        && !quoted_message_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        findings.push(Finding::new(
            Warning,
            "quotedMessageId",
            quoted_message_id,
            "does not look like a message id; GREEN-API accepts a wrong one with 200 and then \
             never delivers the message"
                .into(),
        ));
    }

    // U+FFFD is EF BF BD in UTF-8: a row without an EF byte has none in any cell.
    let undecoded =
        memchr::memchr(0xEF, row.cells.as_slice().as_bytes()).is_some() || columns.has_settings();
    for field in Field::ALL.into_iter().filter(|_| undecoded) {
        let value = cell(field);
        if contains(value, "\u{FFFD}".as_bytes()) {
            findings.push(Finding::new(
                Warning,
                field.name(),
                value,
                "has characters that could not be decoded; the file's encoding may be \
                 misdetected: try --encoding windows-1251 (or windows-1252, utf-16)"
                    .into(),
            ));
        }
    }
    if row.cells.len() > header_len
        && row
            .cells
            .iter()
            .skip(header_len)
            .any(|c| !c.trim().is_empty())
    {
        findings.push(Finding::new(
            Warning,
            "row",
            "",
            format!(
                "has {} cells but the header has {header_len}; the extra cells are ignored \
                 (an unquoted delimiter inside a cell?)",
                row.cells.len()
            ),
        ));
    }

    let request = match (chat_id, phone_contact) {
        (Some(chat_id), Some(phone_contact)) if findings.iter().all(|f| f.severity != Error) => {
            Some(Request {
                chat_id,
                phone_contact,
                first_name,
                middle_name,
                last_name,
                company,
                quoted_message_id,
            })
        }
        _ => None,
    };
    let request = request.and_then(|r| {
        if r.body_len_exceeds_limit() {
            findings.push(Finding::new(
                Error,
                "row",
                "",
                format!(
                    "the request body would be {} bytes, over GREEN-API's 100 KB limit; \
                     shorten the names",
                    r.body().len()
                ),
            ));
            None
        } else {
            Some(r)
        }
    });
    if let Some(r) = &request {
        plausibility_warnings(r, chat_text, &mut findings);
    }
    Checked { request, findings }
}

/// Google Contacts joins several values of one field with ` ::: ` (`+7 900 … ::: +7 901 …`):
/// the first is used, with a warning.
fn first_value<'a>(field: Field, text: &'a str, findings: &mut Vec<Finding>) -> &'a str {
    if !contains(text, b":::") {
        return text;
    }
    let first = text
        .split(":::")
        .map(str::trim)
        .find(|v| !v.is_empty())
        .unwrap_or("");
    findings.push(Finding::new(
        Severity::Warning,
        field.name(),
        text,
        format!(
            "holds several values joined by ':::' (as Google Contacts exports them); the first, \
             '{first}', is used"
        ),
    ));
    first
}

/// Checks a `--set` value once, as a cell of its field would be checked; the error names the
/// flag.
pub fn check_setting(setting: &FieldSetting) -> Result<(), String> {
    let (field, value) = (setting.field, setting.value.as_str());
    // A long value is shown by its start: the message must stay one readable line.
    let shown: String = value.chars().take(60).collect();
    let cut = if shown.len() < value.len() { "…" } else { "" };
    let flag = format!("--set {field}='{}{cut}'", crate::term::shown(&shown));
    if value.is_empty() {
        return Err(format!("{flag}: give a value, or leave the flag out"));
    }
    let length = value.chars().count();
    if field.is_name() && length > MAX_NAME_CHARS {
        return Err(format!(
            "{flag} is {length} characters long; a name on a card is at most {MAX_NAME_CHARS}. \
             Give a shorter value"
        ));
    }
    let problem = match field {
        Field::ChatId => ChatId::parse(value).err(),
        Field::PhoneContact => phone::parse(value).err().map(|e| e.to_string()),
        Field::QuotedMessageId => None,
        _ => {
            let mut findings = Vec::new();
            name(field, value, &mut findings);
            findings
                .iter()
                .find(|f| f.severity == Severity::Error)
                .map(|f| f.problem.clone())
                .or_else(|| {
                    value
                        .chars()
                        .any(char::is_control)
                        .then(|| "holds control characters".to_string())
                })
        }
    };
    match problem {
        Some(problem) => Err(format!("{flag} {problem}")),
        None => Ok(()),
    }
}

/// A name cell as it goes on the card: line breaks and tabs (Alt+Enter in Excel) become a
/// space and other control characters are dropped, with a warning; a name longer than
/// [`MAX_NAME_CHARS`] is an error.
fn name<'a>(field: Field, text: &'a str, findings: &mut Vec<Finding>) -> Cow<'a, str> {
    let mut name = Cow::Borrowed(text);
    // A line break is a control character: without any, only the length is left to check.
    if !has_control(text) {
        if text.len() > MAX_NAME_CHARS {
            too_long(field, text, &name, findings);
        }
        return name;
    }
    if let Some(rest) = text.split(['\n', '\r']).nth(1)
        && rest.matches([',', ';', '\t', '|']).count() >= 2
    {
        findings.push(Finding::new(
            Severity::Error,
            field.name(),
            &text.chars().take(60).collect::<String>(),
            "holds a line break followed by what looks like another row of the file: a quote \
             opened in this cell and closed only on a later line? Close or remove the stray \
             quote; if the text is really part of the name, put it on one line"
                .into(),
        ));
    }
    if text.chars().any(char::is_control) {
        let cleaned: String = text
            .chars()
            .filter_map(|c| match c {
                '\n' | '\r' | '\t' => Some(' '),
                c if c.is_control() => None,
                c => Some(c),
            })
            .collect();
        findings.push(Finding::new(
            Severity::Warning,
            field.name(),
            text,
            "holds control characters (line breaks, escape codes); line breaks and tabs are \
             sent as spaces, the others are left out"
                .into(),
        ));
        name = Cow::Owned(cleaned.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    too_long(field, text, &name, findings);
    name
}

/// A name of more than [`MAX_NAME_CHARS`] characters (as it goes on the card) is an error.
fn too_long(field: Field, text: &str, name: &str, findings: &mut Vec<Finding>) {
    let length = name.chars().count();
    if length > MAX_NAME_CHARS {
        let shown: String = text.chars().take(60).collect();
        findings.push(Finding::new(
            Severity::Error,
            field.name(),
            &format!("{shown}…"),
            format!(
                "is {length} characters long, more than any name ({MAX_NAME_CHARS}); it may \
                 hold other rows, swallowed by a quote left open above it. Check this row in \
                 the file"
            ),
        ));
    }
}

/// Whether `text` holds a control character (`char::is_control`: U+0000–U+001F and
/// U+007F–U+009F), by its UTF-8 bytes: C0 and DEL are single bytes, C1 is 0xC2 0x80–0x9F.
fn has_control(text: &str) -> bool {
    let bytes = text.as_bytes();
    // Printable ASCII throughout is the usual case, and one vectorised pass.
    if bytes.iter().all(|&b| (0x20..0x7f).contains(&b)) {
        return false;
    }
    bytes.iter().enumerate().any(|(i, &b)| {
        b < 0x20 || b == 0x7f || (b == 0xC2 && matches!(bytes.get(i + 1), Some(0x80..=0x9F)))
    })
}

/// `str::trim`, with the usual case first: a cell that starts and ends with a visible ASCII
/// character has nothing to trim.
fn trim(text: &str) -> &str {
    match text.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        [only] if only.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

/// Whether `text` contains `needle`, without building a searcher for each short cell.
fn contains(text: &str, needle: &[u8]) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr_iter(needle[0], bytes).any(|i| bytes[i..].starts_with(needle))
}

fn plausibility_warnings(request: &Request, chat_text: &str, findings: &mut Vec<Finding>) {
    if let ChatId::Personal(digits) = request.chat_id {
        if digits == request.phone_contact.get() {
            findings.push(Finding::new(
                Severity::Warning,
                "chatId",
                chat_text,
                "is the contact's own number: the card is sent to the person it describes".into(),
            ));
        }
        if let Some(number) = PhoneNumber::from_digits(digits)
            && let Some(problem) = implausible(number)
        {
            findings.push(Finding::new(
                Severity::Warning,
                "chatId",
                chat_text,
                problem,
            ));
        }
    }
    if let Some(problem) = implausible(request.phone_contact) {
        findings.push(Finding::new(
            Severity::Warning,
            "phoneContact",
            &request.phone_contact.to_string(),
            problem,
        ));
    }
}

/// Why a number cannot exist in its country's numbering plan, if it cannot.
fn implausible(number: PhoneNumber) -> Option<String> {
    match number.plausibility() {
        Plausibility::Possible => None,
        Plausibility::UnknownCountryCode => Some(
            "does not start with a known country code; check it (a Russian number written \
             with a leading 8 must start with 7)"
                .into(),
        ),
        Plausibility::WrongLength {
            country_code,
            national_digits,
        } => Some(format!(
            "has {national_digits} digits after country code +{country_code}, a length that \
             country does not use; check for a missing or extra digit"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_ids_in_every_accepted_form() {
        let personal = ChatId::Personal(79001234567);
        assert_eq!(ChatId::parse("79001234567@c.us"), Ok(personal.clone()));
        assert_eq!(ChatId::parse("79001234567@C.US"), Ok(personal.clone()));
        assert_eq!(ChatId::parse("+7 (900) 123-45-67"), Ok(personal.clone()));
        assert_eq!(ChatId::parse("79001234567.0"), Ok(personal));
        assert_eq!(
            ChatId::parse("11001234567-1581234048@g.us"),
            Ok(ChatId::Group("11001234567-1581234048@g.us".into()))
        );
        assert_eq!(
            ChatId::parse("120363025555555555@g.us"),
            Ok(ChatId::Group("120363025555555555@g.us".into()))
        );
        for bad in [
            "abc@c.us",
            "@c.us",
            "12-@g.us",
            "79001234567@s.whatsapp.net",
            "a@b.c",
            "900",
        ] {
            assert!(ChatId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn body_matches_the_documented_shape() {
        let r = Request {
            chat_id: ChatId::Personal(11001234567),
            phone_contact: phone::parse("79001234568").unwrap(),
            first_name: "Artem".into(),
            middle_name: "".into(),
            last_name: "Evpatoriysky".into(),
            company: "".into(),
            quoted_message_id: "",
        };
        assert_eq!(
            String::from_utf8(r.body()).unwrap(),
            r#"{"chatId":"11001234567@c.us","contact":{"phoneContact":79001234568,"firstName":"Artem","lastName":"Evpatoriysky"}}"#
        );
    }

    #[test]
    fn key_depends_on_content_not_on_the_quote() {
        let a = Request {
            chat_id: ChatId::Personal(11001234567),
            phone_contact: phone::parse("79001234568").unwrap(),
            first_name: "Ann".into(),
            middle_name: "".into(),
            last_name: "".into(),
            company: "".into(),
            quoted_message_id: "",
        };
        let b = Request {
            first_name: "Anna".into(),
            ..a.clone()
        };
        let c = Request {
            quoted_message_id: "ABC",
            ..a.clone()
        };
        // Pinned: ledgers and histories written by earlier versions must keep matching.
        assert_eq!(
            a.card_key(),
            CardKey(xxhash_rust::xxh3::xxh3_128(
                b"11001234567@c.us\x1f79001234568"
            ))
        );
        assert_eq!(
            a.card_key(),
            b.card_key(),
            "names are not the card's identity"
        );
        assert_eq!(
            a.key(),
            ContentKey(xxhash_rust::xxh3::xxh3_128(
                b"11001234567@c.us\x1f79001234568\x1fAnn\x1f\x1f\x1f"
            ))
        );
        assert_ne!(a.key(), b.key());
        assert_eq!(a.key(), c.key());
        assert_eq!(a.key().to_string().parse::<ContentKey>(), Ok(a.key()));
        let group = Request {
            chat_id: ChatId::Group("120363043968066561@g.us".into()),
            ..a.clone()
        };
        let long = Request {
            company: "x".repeat(200).into(),
            ..a.clone()
        };
        assert!(a.short_key().is_some() && long.short_key().is_none());
        assert_eq!(a.short_key(), Some(a.long_key()));
        for request in [&a, &b, &group, &long] {
            let names = [
                &*request.first_name,
                &request.middle_name,
                &request.last_name,
                &request.company,
            ];
            let of = ContentKey::of(&request.chat_id, request.phone_contact.get(), names);
            assert_eq!(request.key(), of, "{request:?}");
            let card = CardKey::of(&request.chat_id, request.phone_contact.get());
            assert_eq!(request.card_key(), card, "{request:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn control_characters_are_found_by_their_bytes(text in "\\PC{0,8}[\\x00-\\x{a0}]{0,3}\\PC{0,8}") {
            proptest::prop_assert_eq!(has_control(&text), text.chars().any(char::is_control));
        }

        #[test]
        fn numbers_are_written_as_display_writes_them(
            n in proptest::prop_oneof![0..1000u64, proptest::num::u64::ANY],
        ) {
            let mut buffer = [0; 20];
            proptest::prop_assert_eq!(decimal(n, &mut buffer), n.to_string().into_bytes());
        }
    }
}
