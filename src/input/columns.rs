//! Which input column feeds which `sendContact` field.
//!
//! Headers are matched loosely (case, spaces, `_` and `-` ignored): first a header that *is*
//! the field's name, then a common alias (English and Russian CRM exports). `--map` wins over
//! both. Missing essential columns are reported with the headers that do exist.

use std::fmt;
use std::str::FromStr;

use csv::StringRecord;

use crate::term::shown;

/// A `sendContact` request field that an input column can feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    ChatId,
    PhoneContact,
    FirstName,
    MiddleName,
    LastName,
    Company,
    QuotedMessageId,
}

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
            Field::PhoneContact => &[
                "phone",
                "phonenumber",
                "contactphone",
                "mobile",
                "mobilephone",
                "cell",
                "tel",
                "telephone",
                "телефон",
                "мобильный",
                "мобильныйтелефон",
                "номертелефона",
                "телефонконтакта",
            ],
            Field::FirstName => &["first", "name", "givenname", "forename", "имя"],
            Field::MiddleName => &["middle", "patronymic", "secondname", "отчество"],
            Field::LastName => &["last", "surname", "familyname", "фамилия"],
            Field::Company => &[
                "organisation",
                "organization",
                "org",
                "companyname",
                "employer",
                "компания",
                "организация",
                "фирма",
            ],
            Field::QuotedMessageId => &["quoted", "quotedid", "quotedmessage", "replyto"],
        }
    }

    fn index(self) -> usize {
        self as usize
    }
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

/// The column index of each field, and how each was found (for the summary).
#[derive(Debug, Clone, Default)]
pub struct ColumnMap {
    indexes: [Option<usize>; 7],
    /// One line per mapped field: `chatId ← 'Recipient'`, with any ambiguity spelled out.
    pub notes: Vec<String>,
}

impl ColumnMap {
    /// The column feeding `field`, if any.
    pub fn get(&self, field: Field) -> Option<usize> {
        self.indexes[field.index()]
    }

    /// Maps headers to fields: `--map` first, then exact names, then aliases.
    /// The error message says what is missing; the caller adds the headers that exist.
    pub fn resolve(headers: &StringRecord, mappings: &[FieldMapping]) -> Result<ColumnMap, String> {
        let loose_headers: Vec<String> = headers.iter().map(loose).collect();
        let mut map = ColumnMap::default();
        let mut taken = vec![false; headers.len()];
        let mut notes: [String; 7] = Default::default();

        for mapping in mappings {
            let index = headers
                .iter()
                .position(|h| h == mapping.header)
                .or_else(|| {
                    loose_headers
                        .iter()
                        .position(|h| *h == loose(&mapping.header))
                })
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
                format!("{} ← '{}' (--map)", mapping.field, shown(&headers[index]));
        }

        for pass in [Pass::Name, Pass::Alias] {
            for field in Field::ALL {
                if map.get(field).is_some() {
                    continue;
                }
                let matches: Vec<usize> = (0..headers.len())
                    .filter(|&i| !taken[i] && pass.matches(field, &loose_headers[i]))
                    .collect();
                let Some(&first) = matches.first() else {
                    continue;
                };
                map.indexes[field.index()] = Some(first);
                taken[first] = true;
                let mut note = format!("{field} ← '{}'", shown(&headers[first]));
                if matches.len() > 1 {
                    let others: Vec<&str> = matches[1..].iter().map(|&i| &headers[i]).collect();
                    note.push_str(&format!(
                        " (also matched {}; use --map {field}=HEADER to choose)",
                        super::quote_list(others.into_iter())
                    ));
                }
                notes[field.index()] = note;
            }
        }

        map.notes = notes.into_iter().filter(|n| !n.is_empty()).collect();
        if map.get(Field::ChatId).is_none() {
            return Err(
                "no chatId column (the chat to send to). Name a column chatId, or add \
                        --map chatId=HEADER"
                    .into(),
            );
        }
        if map.get(Field::PhoneContact).is_none() {
            return Err(
                "no phoneContact column (the number on the contact card). Name a column \
                        phoneContact, or add --map phoneContact=HEADER"
                    .into(),
            );
        }
        let names = [
            Field::FirstName,
            Field::MiddleName,
            Field::LastName,
            Field::Company,
        ];
        if names.iter().all(|f| map.get(*f).is_none()) {
            return Err(
                "no name column: a contact card needs firstName, middleName, lastName or \
                        company. Add one, or --map firstName=HEADER"
                    .into(),
            );
        }
        Ok(map)
    }
}

#[derive(Clone, Copy)]
enum Pass {
    Name,
    Alias,
}

impl Pass {
    fn matches(self, field: Field, loose_header: &str) -> bool {
        match self {
            Pass::Name => loose(field.name()) == loose_header,
            Pass::Alias => field.aliases().contains(&loose_header),
        }
    }
}

/// A header reduced for matching: lower case, without spaces, `_`, `-` and `.`.
fn loose(header: &str) -> String {
    header
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(headers: &[&str]) -> StringRecord {
        headers.iter().collect()
    }

    #[test]
    fn names_match_loosely_and_aliases_follow() {
        let headers = record(&["Chat ID", "Телефон", "Имя", "surname", "ORGANISATION"]);
        let map = ColumnMap::resolve(&headers, &[]).unwrap();
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
        let map = ColumnMap::resolve(&headers, &[]).unwrap();
        assert_eq!(map.get(Field::PhoneContact), Some(2));
        let mapping: FieldMapping = "phoneContact=Phone".parse().unwrap();
        let map = ColumnMap::resolve(&headers, &[mapping]).unwrap();
        assert_eq!(map.get(Field::PhoneContact), Some(1));
    }

    #[test]
    fn missing_columns_are_named() {
        let err = ColumnMap::resolve(&record(&["phone", "name"]), &[]).unwrap_err();
        assert!(err.contains("no chatId column"), "{err}");
        let mapping: FieldMapping = "chatId=Nope".parse().unwrap();
        let err = ColumnMap::resolve(&record(&["chatId", "phone", "name"]), &[mapping]);
        assert!(err.unwrap_err().contains("there is no column 'Nope'"));
        assert!("nofield=x".parse::<FieldMapping>().is_err());
        assert!("chatId".parse::<FieldMapping>().is_err());
    }
}
