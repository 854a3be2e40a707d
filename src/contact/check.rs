//! Checking one row: its cells turned into a [`Request`], or the findings that say why they
//! cannot be one, and the warnings worth a look. A pure function of a row, so it runs in
//! parallel and is trivial to test.

use std::borrow::Cow;
use std::fmt;

use super::{
    ChatId, Country, MAX_NAME_CHARS, PhoneError, PhoneNumber, Plausibility, Request, phone,
};
use crate::input::{ColumnMap, Field, FieldSetting, OpenQuote, Row};

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
    /// The request, when the row has no error (but that the sheet hides it).
    pub request: Option<Request<'a>>,
    pub findings: Vec<Finding>,
    /// How many of its numbers (chat and card) were read in the `--country` plan.
    pub national: u8,
    /// How many of its numbers look written without a country code (a leading 0, too few
    /// digits, no known country code) where no `--country` was given: what the summary's
    /// hint is about.
    pub without_code: u8,
    /// A cell of the row holds what looks like another row of the file (a quote left open):
    /// such a row is never skipped (`--skip-invalid`), since the row inside it would be
    /// neither sent nor listed.
    pub swallows: bool,
    /// The sheet hides the row (an error: see [`Row::hidden`]); its request, if nothing else
    /// is wrong, is kept for the duplicate check, which drops it (a hidden copy of an earlier
    /// row is a plain duplicate, never sent either way: see [`crate::validation::walk`]).
    pub hidden: bool,
}

impl Finding {
    /// Whether this is the error of a row the sheet hides.
    pub fn is_hidden_row(&self) -> bool {
        self.field == "row" && self.problem == HIDDEN
    }
}

/// What a name whose cell holds what looks like another row of the file is told: a quote
/// left open swallowed that row.
const SWALLOWED: &str = "holds a line break followed by what looks like another row of the \
    file: a quote opened in this cell and closed only on a later line? Close or remove the \
    stray quote; if the text is really part of the name, put it on one line";

/// What a cell that reads empty because it is a formula with no saved value is told.
const UNSAVED_FORMULA: &str = "is a formula whose value was never saved (the workbook was \
    written by a program that does not calculate formulas): open it in Excel and save it, so \
    the values are stored, then run again";

/// What a row the sheet hides is told: the user does not see it, so does not mean it (a
/// filter chose the rows they mean).
const HIDDEN: &str = "is hidden in the sheet (by a filter, or by hand), and every program \
    that reads the file sees it, shown or not: show it (in Excel, Data > Clear, or Home > Format \
    > Hide & Unhide > Unhide Rows) and save to send it, or add --skip-invalid to leave it out";

/// The field name the report uses for the "no name at all" error.
pub const NAME_FIELDS: &str = "firstName/middleName/lastName/company";

/// Checks one row and builds its request. Pure: same row, same answer.
pub fn check<'a>(row: &'a Row, columns: &'a ColumnMap, header_len: usize) -> Checked<'a> {
    use Severity::{Error, Warning};
    let mut findings = Vec::new();
    // A cell (any column, read or not) that swallowed a row, or whose quote the file ends
    // inside, as the reader found it.
    let reader_found = matches!(
        row.open_quote,
        Some(
            OpenQuote::Swallowed { .. }
                | OpenQuote::Unclosed {
                    further_lines: true,
                    ..
                }
        )
    );
    let mut swallows = reader_found;
    match &row.open_quote {
        Some(OpenQuote::Swallowed { column }) => findings.push(Finding::new(
            Error,
            "row",
            "",
            format!(
                "column '{column}' holds a line break followed by what looks like another row \
                 of the file: a quote opened in that cell and closed only on a later line? \
                 Close or remove the stray quote (the row inside it is otherwise neither sent \
                 nor listed); if the text really belongs in that cell, put it on one line"
            ),
        )),
        Some(OpenQuote::Unclosed { column, line, .. }) => findings.push(Finding::new(
            Error,
            "row",
            "",
            format!(
                "column '{column}' opens a quote (line {line} of the file) that is never \
                 closed: the file ends inside it, so everything after it was read as that one \
                 cell. Close or remove the stray quote, then run again"
            ),
        )),
        None => {}
    }
    let country = columns.country();
    let (mut national, mut without_code) = (0, 0);
    let texts = Field::ALL.map(|field| trim(columns.text(field, row)));
    let cell = |field: Field| texts[field as usize];
    let missing = |field: Field, what: &str| {
        if row.unsaved_formula(columns.get(field)) {
            UNSAVED_FORMULA.to_string()
        } else if let Some(label) = columns.labelled_not_a_phone(columns.get(field), row) {
            format!(
                "is missing: the row's number is labelled '{}', and a fax or a pager is not on \
                 WhatsApp; {what}",
                crate::term::shown(label.trim())
            )
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
        match ChatId::parse_in(chat_text, country) {
            Ok((id, read_nationally)) => {
                national += u8::from(read_nationally);
                Some(id)
            }
            Err(problem) => {
                without_code += u8::from(country.is_none() && phone::lacks_country_code(chat_text));
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
    let phone_contact = match super::parse_in(phone_text, country) {
        Ok((p, read_nationally)) => {
            national += u8::from(read_nationally);
            Some(p)
        }
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
            without_code += u8::from(country.is_none() && phone::lacks_country_code(phone_text));
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
    .map(|field| {
        let found = reader_found;
        name(field, cell(field), &mut findings, &mut swallows, found)
    });
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

    // On every number read, whatever else the row has: the report lists every finding.
    without_code += plausibility_warnings(
        chat_id.as_ref(),
        phone_contact,
        chat_text,
        phone_text,
        &mut findings,
    );
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
    // After the request: a hidden row keeps it when nothing else is wrong, for the duplicate
    // check to find an earlier copy of it (see `Checked::hidden`).
    if row.hidden {
        findings.push(Finding::new(Error, "row", "", HIDDEN.into()));
    }
    Checked {
        request,
        findings,
        national,
        without_code,
        swallows,
        hidden: row.hidden,
    }
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

/// Checks a `--set` value once, as a cell of its field would be checked (a number without
/// its country code read in `country`'s plan); the error names the flag.
pub fn check_setting(setting: &FieldSetting, country: Option<Country>) -> Result<(), String> {
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
        Field::ChatId => ChatId::parse_in(value, country).err(),
        Field::PhoneContact => super::parse_in(value, country).err().map(|e| e.to_string()),
        Field::QuotedMessageId => None,
        _ => {
            let mut findings = Vec::new();
            name(field, value, &mut findings, &mut false, false);
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
fn name<'a>(
    field: Field,
    text: &'a str,
    findings: &mut Vec<Finding>,
    swallows: &mut bool,
    reader_found: bool,
) -> Cow<'a, str> {
    let mut name = Cow::Borrowed(text);
    // A line break is a control character: without any, only the length is left to check.
    if !has_control(text) {
        if text.len() > MAX_NAME_CHARS {
            too_long(field, text, &name, findings);
        }
        return name;
    }
    // Not said twice: the reader may have found it already (as many delimiters as a row).
    if !reader_found
        && let Some(rest) = text.split(['\n', '\r']).nth(1)
        && rest.matches([',', ';', '\t', '|']).count() >= 2
    {
        findings.push(Finding::new(
            Severity::Error,
            field.name(),
            &text.chars().take(60).collect::<String>(),
            SWALLOWED.into(),
        ));
        *swallows = true;
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

/// The warnings about numbers no country's plan has; how many start with no known country
/// code and were written without a `+`, as a national number would be (`8 903 …`).
fn plausibility_warnings(
    chat_id: Option<&ChatId>,
    phone_contact: Option<PhoneNumber>,
    chat_text: &str,
    phone_text: &str,
    findings: &mut Vec<Finding>,
) -> u8 {
    let mut without_code = 0;
    let unplaced = |number: PhoneNumber, text: &str| {
        u8::from(
            number.plausibility() == Plausibility::UnknownCountryCode
                && !text.trim_start().starts_with('+'),
        )
    };
    if let Some(&ChatId::Personal(digits)) = chat_id {
        if phone_contact.is_some_and(|phone| phone.get() == digits) {
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
            without_code += unplaced(number, chat_text);
            findings.push(Finding::new(
                Severity::Warning,
                "chatId",
                chat_text,
                problem,
            ));
        }
    }
    if let Some(phone) = phone_contact
        && let Some(problem) = implausible(phone)
    {
        without_code += unplaced(phone, phone_text);
        findings.push(Finding::new(
            Severity::Warning,
            "phoneContact",
            &phone.to_string(),
            problem,
        ));
    }
    without_code
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

    proptest::proptest! {
        #[test]
        fn control_characters_are_found_by_their_bytes(text in "\\PC{0,8}[\\x00-\\x{a0}]{0,3}\\PC{0,8}") {
            proptest::prop_assert_eq!(has_control(&text), text.chars().any(char::is_control));
        }

    }
}
