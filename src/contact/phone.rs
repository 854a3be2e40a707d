//! Phone numbers as people and spreadsheets write them, reduced to international digits.
//!
//! Accepted: digits with `+`, spaces, dots, dashes, slashes and parentheses, a `00`
//! international prefix, and the `.0` a numeric export leaves behind. Refused with a reason:
//! letters, Excel's scientific notation (digits already lost), national numbers starting
//! with a single 0 (unless `--country` says whose they are: see
//! [`parse_in`](super::country::parse_in)), short codes and
//! USSD strings, fewer than 11 or more than 15 digits, values above 2^53-1.

use std::fmt;

use crate::country::Country;

/// The largest integer a JSON number keeps exactly (GREEN-API: "must be a safe number").
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
pub const MIN_DIGITS: usize = 11;
pub const MAX_DIGITS: usize = 15;

/// An international phone number: country code and number, digits only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PhoneNumber(u64);

impl PhoneNumber {
    pub fn get(self) -> u64 {
        self.0
    }

    /// The number of a chat id's digits, when they make a phone number [`parse`] would
    /// accept (11–15 digits, at most 2^53-1).
    pub fn from_digits(digits: u64) -> Option<PhoneNumber> {
        let count = digit_count(digits);
        ((MIN_DIGITS..=MAX_DIGITS).contains(&count) && digits <= MAX_SAFE_INTEGER)
            .then_some(PhoneNumber(digits))
    }

    /// Whether the number is possible in its country's numbering plan: a known country code
    /// followed by a national number of a length that plan allows (libphonenumber's
    /// "possible number" test, from the `phonenumber` crate's metadata, built into a table:
    /// see `plans`). Lengths only, so it costs a table lookup, not a regex.
    pub fn plausibility(self) -> Plausibility {
        let Some((code, code_len)) = self.calling_code() else {
            return Plausibility::UnknownCountryCode;
        };
        let national = (digit_count(self.0) - code_len) as u16;
        let lengths = super::plans::LENGTHS[code as usize];
        if national < 32 && lengths & (1 << national) != 0 {
            Plausibility::Possible
        } else {
            Plausibility::WrongLength {
                country_code: code,
                national_digits: national,
            }
        }
    }

    /// The country calling code the number starts with, and its length in digits, if a
    /// country uses one of its first digits as its code (a table lookup).
    pub fn calling_code(self) -> Option<(u16, usize)> {
        let digits = digit_count(self.0);
        // The first three digits (or all, in a shorter number); codes are their prefixes.
        let shown = 3.min(digits);
        let top = (self.0 / 10u64.pow((digits - shown) as u32)) as usize;
        (1..=shown).find_map(|code_len| {
            let code = top / [1, 10, 100][shown - code_len];
            (super::plans::LENGTHS[code] != 0).then_some((code as u16, code_len))
        })
    }
}

/// How many decimal digits `n` has (1 for 0).
fn digit_count(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// The outcome of [`PhoneNumber::plausibility`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plausibility {
    Possible,
    /// No country calling code starts the number (e.g. a Russian number written with 8).
    UnknownCountryCode,
    WrongLength {
        country_code: u16,
        national_digits: u16,
    },
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a text is not a usable phone number; `Display` says what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneError {
    Empty,
    ScientificNotation,
    Letters,
    Character(char),
    MisplacedPlus,
    /// `-79161234610`: a minus in front of the number.
    Negative,
    /// `79010000010.5`: a number cell with a fraction.
    NotWhole,
    NationalNumber,
    /// `+0 903 1234567`: a `+` and then a 0, where a country code belongs.
    PlusThenZero,
    /// Fewer digits than a country code and number; whether it was written as international
    /// (`+` or `00`: then `--country` cannot help).
    TooShort(usize, bool),
    TooLong(usize),
    Unsafe,
    /// `800`, `112`: a service number of a few digits.
    ShortCode,
    /// `#322*67`, `*100#`: a request to the mobile operator.
    Ussd,
    /// Written without a country code, and not a number of the `--country` plan.
    NotInPlan(Box<NotInPlan>),
    /// Written without `+`, and another country's number as written than in the
    /// `--country` plan.
    Ambiguous(Box<Ambiguous>),
}

impl fmt::Display for PhoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhoneError::Empty => write!(f, "is empty"),
            PhoneError::ScientificNotation => write!(
                f,
                "was turned into scientific notation by Excel and its last digits are lost; \
                 format the column as Text (or Number with 0 decimals) in the original \
                 workbook and export again"
            ),
            PhoneError::Letters => write!(
                f,
                "contains letters; keep only the number (no extension, no words)"
            ),
            PhoneError::Character('\'') => write!(
                f,
                "contains an apostrophe (Excel's mark for a number typed as text, kept by the \
                 export): remove it"
            ),
            PhoneError::Character(c) if is_invisible(*c) => write!(
                f,
                "contains an invisible character (U+{:04X}, pasted in with the number): \
                 retype the number, or remove that character",
                u32::from(*c)
            ),
            PhoneError::Character(c) => write!(
                f,
                "contains '{}'; write the number with digits, +, spaces, dots, dashes or \
                 parentheses only",
                c.escape_debug()
            ),
            PhoneError::NotWhole => write!(
                f,
                "is not a whole number (it has a fraction, as a number cell can); a phone \
                 number has no decimal part: check the cell in the original workbook"
            ),
            PhoneError::MisplacedPlus => write!(f, "has a '+' that is not at the start"),
            PhoneError::Negative => write!(
                f,
                "starts with a minus sign: a phone number is never negative; check the cell \
                 (a number typed with a minus, or a formula's result)"
            ),
            PhoneError::NationalNumber => write!(
                f,
                "starts with 0, a national trunk prefix; write it in international form \
                 with the country code (e.g. +49 30 1234567 instead of 030 1234567), or give \
                 the country of such numbers with --country (e.g. --country DE)"
            ),
            PhoneError::PlusThenZero => write!(
                f,
                "has a 0 right after the '+', where the country code belongs, and no country \
                 code starts with 0: write the country code after the '+' and leave out the \
                 national 0 (+49 30 1234567, not +0 30 1234567 or +49 030 1234567)"
            ),
            PhoneError::TooShort(n, true) => write!(
                f,
                "has {n} digits after the international prefix, fewer than {MIN_DIGITS}: a \
                 digit is missing, or the area code"
            ),
            PhoneError::TooShort(n, false) => write!(
                f,
                "has {n} digits, fewer than {MIN_DIGITS}; include the country code \
                 (e.g. 79001234567, not 9001234567), or give the country of such numbers \
                 with --country (e.g. --country RU)"
            ),
            PhoneError::TooLong(n) => write!(
                f,
                "has {n} digits, more than {MAX_DIGITS}; it is probably two numbers or has \
                 an extension"
            ),
            PhoneError::Unsafe => write!(f, "is larger than 2^53-1 (9007199254740991)"),
            PhoneError::ShortCode => write!(
                f,
                "is a short code (a service number of a few digits), not a phone number: \
                 WhatsApp needs a full number with its country code"
            ),
            PhoneError::Ussd => write!(
                f,
                "is a USSD code (a request to the mobile operator, as dialled with * and #), \
                 not a phone number: WhatsApp needs a full number with its country code"
            ),
            PhoneError::NotInPlan(why) => why.fmt(f),
            PhoneError::Ambiguous(two) => two.fmt(f),
        }
    }
}

/// Why a number without a country code is not a number of the country's plan, in the
/// plan's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotInPlan {
    pub country: Country,
    /// The digits after the national (trunk) prefix, as the plan reads them.
    pub national_digits: usize,
    /// Whether a trunk prefix was written (and is not counted).
    pub trunk: bool,
    /// The lengths the plan allows, shortest first.
    pub lengths: Vec<u16>,
}

impl fmt::Display for NotInPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            country,
            national_digits,
            trunk,
            lengths,
        } = self;
        let after = if *trunk {
            " after the trunk prefix"
        } else {
            ""
        };
        let plan = format!("{country}'s numbering plan (+{})", country.calling_code());
        if lengths.contains(&(*national_digits as u16)) {
            write!(
                f,
                "is not a number of {plan}: no line there starts this way; check the number, \
                 or write it with its own country code (+…)"
            )
        } else {
            let allowed: Vec<String> = lengths.iter().map(u16::to_string).collect();
            write!(
                f,
                "is not a number of {plan}: it has {national_digits} digits{after}, and numbers \
                 there have {}; check the number, or write it with its own country code (+…)",
                allowed.join(" or ")
            )
        }
    }
}

/// A number without a country code that two readings make two numbers: as written (it
/// starts with a country code) and in the `--country` plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ambiguous {
    pub country: Country,
    pub national: PhoneNumber,
    pub written: PhoneNumber,
}

impl fmt::Display for Ambiguous {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            country,
            national,
            written,
        } = self;
        let trunk = country.trunk_prefix();
        let trunk = if trunk.is_empty() {
            String::new()
        } else {
            format!(", or with {country}'s trunk prefix {trunk} in front")
        };
        write!(
            f,
            "reads as two numbers: as written, {}; in {country}'s numbering plan (--country \
             {country}), {}. Write it with + and its country code{trunk}, so it says which",
            pretty(*written),
            pretty(*national)
        )
    }
}

/// A number as people write it in its country (`+7 495 123-45-67`), from libphonenumber's
/// formats; `+digits` when its country's plan does not know it.
pub fn pretty(number: PhoneNumber) -> String {
    phonenumber::parse(None, format!("+{}", number.0))
        .map(|parsed| {
            parsed
                .format()
                .mode(phonenumber::Mode::International)
                .to_string()
        })
        .unwrap_or_else(|_| format!("+{}", number.0))
}

/// Parses a phone number written any usual way, with its country code.
pub fn parse(text: &str) -> Result<PhoneNumber, PhoneError> {
    scan(text).and_then(judge)
}

/// Whether a text reads as a number written without its country code, as numbers are
/// within one country: no `+` or `00`, and a single leading 0 (a trunk prefix) or too few
/// digits for a country code and number.
pub fn lacks_country_code(text: &str) -> bool {
    scan(text).is_ok_and(|d| {
        !d.plus
            && (d.leading_zeros == 1
                || (d.leading_zeros == 0 && (6..MIN_DIGITS).contains(&d.count)))
    })
}

/// The digits of a text that passed the character checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Digits {
    /// Their value (saturating: a value past u64 is caught by the length check).
    pub(super) value: u64,
    pub(super) count: usize,
    pub(super) leading_zeros: usize,
    /// Whether a `+` came first.
    pub(super) plus: bool,
}

pub(super) fn scan(text: &str) -> Result<Digits, PhoneError> {
    // `+49 (0)30 1234567`: the 0 is the trunk prefix, dialled only within the country; the
    // number is +49 30 1234567 (then judged by its length and plan like any other).
    let dropped = optional_trunk_dropped(text);
    let text = dropped.as_deref().unwrap_or(text);
    match parse_plain(text.as_bytes()) {
        Some(scanned) => scanned,
        None => parse_any(text),
    }
}

/// Whether some country's numbering plan (libphonenumber's) has the number with these
/// international digits (country code first).
pub(super) fn in_a_plan(digits: impl fmt::Display) -> bool {
    phonenumber::parse(None, format!("+{digits}")).is_ok_and(|p| p.is_valid())
}

/// The text without the `(0)` written after a country code (`+49 (0)30 1234567`, `44
/// (0)7911 123456`): the trunk prefix, shown in brackets because it is dialled only within
/// the country. None when the text has no such `(0)`, or when the code's country has no
/// trunk prefix 0 (Italy's 0 is part of the number: `+39 (0)331 …` keeps it).
fn optional_trunk_dropped(text: &str) -> Option<String> {
    let at = text.find("(0)")?;
    let before = text[..at].trim_end_matches(['-', '.', ' ', '/']).trim();
    let code = before
        .strip_prefix('+')
        .or_else(|| before.strip_prefix("00"))
        .unwrap_or(before)
        .trim_start();
    let is_code = (1..=3).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit());
    let trunk_zero = || {
        code.parse()
            .ok()
            .and_then(Country::main_of)
            .is_some_and(|country| country.trunk_prefix() == "0")
    };
    (is_code && !code.starts_with('0') && trunk_zero())
        .then(|| format!("{}{}", &text[..at], &text[at + "(0)".len()..]))
}

/// The common case in one pass over the bytes: ASCII digits, a leading `+`, and the
/// separators `space - ( ) /` (and ASCII white space), nothing else: no `.` or `,` (a
/// fraction, a numeric export) and no letters (scientific notation). None for any other
/// text, which [`parse_any`] reads; for this text both give the same answer.
fn parse_plain(text: &[u8]) -> Option<Result<Digits, PhoneError>> {
    let mut value: u64 = 0;
    let mut digits = 0usize;
    let mut leading_zeros = 0usize;
    // Whether anything but white space came yet: a `+` is allowed only before that.
    let mut started = false;
    let mut misplaced_plus = false;
    let mut plus = false;
    for &b in text {
        match b {
            b'0'..=b'9' => {
                if digits == leading_zeros && b == b'0' {
                    leading_zeros += 1;
                }
                digits += 1;
                value = value.saturating_mul(10).saturating_add(u64::from(b - b'0'));
                started = true;
            }
            b'+' => {
                // The first such error is the one reported, and nothing else can go wrong
                // in this text before the digits are counted.
                misplaced_plus |= started;
                plus |= !started;
                started = true;
            }
            // `-79161234610`: a number cell typed with a minus, not a phone number.
            b'-' if !started => return Some(Err(PhoneError::Negative)),
            b'-' | b'(' | b')' | b'/' => started = true,
            b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r' => {}
            _ => return None,
        }
    }
    if !started {
        return Some(Err(PhoneError::Empty));
    }
    if misplaced_plus {
        return Some(Err(PhoneError::MisplacedPlus));
    }
    Some(Ok(Digits {
        value,
        count: digits,
        leading_zeros,
        plus,
    }))
}

/// `800`, `112`, `90009`: five digits or fewer, written without `+` or a leading 0.
pub(super) fn short(digits: &Digits) -> Result<(), PhoneError> {
    if !digits.plus && digits.leading_zeros == 0 && (1..=5).contains(&digits.count) {
        Err(PhoneError::ShortCode)
    } else {
        Ok(())
    }
}

/// Digits counted: the `00` prefix, the length and the safe-integer limit decide.
pub(super) fn judge(digits: Digits) -> Result<PhoneNumber, PhoneError> {
    short(&digits)?;
    let Digits {
        value,
        count,
        leading_zeros,
        ..
    } = digits;
    // `00` is the international dialling prefix; a single 0 is a national trunk prefix.
    let significant = match leading_zeros {
        0 => count,
        2 => count - 2,
        _ if count == 0 => 0,
        _ if digits.plus => return Err(PhoneError::PlusThenZero),
        _ => return Err(PhoneError::NationalNumber),
    };
    if significant < MIN_DIGITS {
        return Err(PhoneError::TooShort(
            significant,
            digits.plus || leading_zeros == 2,
        ));
    }
    if significant > MAX_DIGITS {
        return Err(PhoneError::TooLong(significant));
    }
    if value > MAX_SAFE_INTEGER {
        return Err(PhoneError::Unsafe);
    }
    Ok(PhoneNumber(value))
}

/// Any text: Unicode spaces and dashes, fractions, scientific notation, stray characters.
fn parse_any(text: &str) -> Result<Digits, PhoneError> {
    let text = text.trim_matches(is_space);
    if text.is_empty() {
        return Err(PhoneError::Empty);
    }
    if is_ussd(text) {
        return Err(PhoneError::Ussd);
    }
    if is_scientific(text) {
        return Err(PhoneError::ScientificNotation);
    }
    if is_fractional(text) {
        return Err(PhoneError::NotWhole);
    }
    let text = strip_numeric_fraction(text);
    if text.starts_with(|c: char| c == '-' || is_dash(c)) {
        return Err(PhoneError::Negative);
    }
    let mut plus = false;
    let mut value: u64 = 0;
    let mut digits = 0usize;
    let mut leading_zeros = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '0'..='9' => {
                if digits == leading_zeros && c == '0' {
                    leading_zeros += 1;
                }
                digits += 1;
                value = value
                    .saturating_mul(10)
                    .saturating_add(u64::from(c as u8 - b'0'));
            }
            '+' if i == 0 => plus = true,
            '+' => return Err(PhoneError::MisplacedPlus),
            ' ' | '.' | '-' | '(' | ')' | '/' => {}
            c if is_space(c) || is_dash(c) => {}
            c if c.is_alphabetic() => return Err(PhoneError::Letters),
            c => return Err(PhoneError::Character(c)),
        }
    }
    Ok(Digits {
        value,
        count: digits,
        leading_zeros,
        plus,
    })
}

/// `*100#`, `#322*67`: starts with `*` or `#`, then digits, `*` and `#` only.
fn is_ussd(text: &str) -> bool {
    text.starts_with(['*', '#'])
        && text.len() > 1
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
}

fn is_space(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{a0}' | '\u{202f}' | '\u{2007}' | '\u{feff}')
}

/// Characters that show as nothing: direction marks and embeddings, zero-width spaces and
/// joiners, a byte order mark — what a number copied from a web page or a chat brings along.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    ) || c.is_control()
}

fn is_dash(c: char) -> bool {
    matches!(c, '\u{2010}'..='\u{2015}' | '\u{2212}')
}

/// `7.90012E+10`, `7,90012E+10`, `7E10`: Excel's display of a long number in a General cell.
fn is_scientific(text: &str) -> bool {
    let Some((mantissa, exponent)) = text.split_once(['e', 'E']) else {
        return false;
    };
    let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    let mantissa = mantissa.strip_prefix('+').unwrap_or(mantissa);
    let mut parts = mantissa.splitn(2, ['.', ',']);
    let whole = parts.next().unwrap_or("");
    let fraction = parts.next().unwrap_or("0");
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(whole) && all_digits(fraction) && all_digits(exponent)
}

/// `79010000010.5`: digits, one decimal separator and a fraction that is not all zeros —
/// a number with a decimal part, not a phone written with a dot.
fn is_fractional(text: &str) -> bool {
    let Some(cut) = text.rfind(['.', ',']) else {
        return false;
    };
    let (whole, fraction) = (&text[..cut], &text[cut + 1..]);
    let whole = whole.strip_prefix('+').unwrap_or(whole);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    whole.len() >= 7
        && digits(whole)
        && (1..=6).contains(&fraction.len())
        && digits(fraction)
        && fraction.bytes().any(|b| b != b'0')
}

/// `79001234568.0` (a number column exported as text) is the integer, not 12 digits.
fn strip_numeric_fraction(text: &str) -> &str {
    let Some(cut) = text.rfind(['.', ',']) else {
        return text;
    };
    let (whole, fraction) = (&text[..cut], &text[cut + 1..]);
    let whole_digits = whole.strip_prefix('+').unwrap_or(whole);
    let is_fraction =
        !fraction.is_empty() && fraction.len() <= 2 && fraction.bytes().all(|b| b == b'0');
    if is_fraction && whole_digits.len() >= 7 && whole_digits.bytes().all(|b| b.is_ascii_digit()) {
        whole
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn usual_forms_give_the_same_digits() {
        for text in [
            "79001234568",
            "+7 (900) 123-45-68",
            "+7 900 123 45 68",
            "7.900.123.45.68",
            "007 900 1234568",
            "79001234568.0",
            " +7\u{a0}900\u{a0}123\u{2011}45\u{2011}68 ",
        ] {
            assert_eq!(parse(text).map(PhoneNumber::get), Ok(79001234568), "{text}");
        }
    }

    #[test]
    fn each_mistake_has_its_reason() {
        assert_eq!(parse(""), Err(PhoneError::Empty));
        assert_eq!(parse("7.90012E+10"), Err(PhoneError::ScientificNotation));
        assert_eq!(parse("7,90012E+10"), Err(PhoneError::ScientificNotation));
        assert_eq!(parse("+7 900 123 45 68 ext 5"), Err(PhoneError::Letters));
        assert_eq!(parse("79001234568#"), Err(PhoneError::Character('#')));
        assert_eq!(parse("7900+1234568"), Err(PhoneError::MisplacedPlus));
        assert_eq!(parse("030 1234 5678"), Err(PhoneError::NationalNumber));
        assert_eq!(parse("+0 903 1234567"), Err(PhoneError::PlusThenZero));
        assert_eq!(parse("+030 1234 5678"), Err(PhoneError::PlusThenZero));
        assert_eq!(parse("79010000010.5"), Err(PhoneError::NotWhole));
        assert_eq!(parse("79010000010,25"), Err(PhoneError::NotWhole));
        assert_eq!(parse("9001234568"), Err(PhoneError::TooShort(10, false)));
        assert_eq!(parse("+49 30 123456"), Err(PhoneError::TooShort(10, true)));
        assert_eq!(parse("7900123456812345"), Err(PhoneError::TooLong(16)));
        assert_eq!(parse("800"), Err(PhoneError::ShortCode));
        assert_eq!(parse("112"), Err(PhoneError::ShortCode));
        assert_eq!(parse("#322*67"), Err(PhoneError::Ussd));
        assert_eq!(parse("*100#"), Err(PhoneError::Ussd));
        let said = |text: &str| parse(text).unwrap_err().to_string();
        assert!(
            said("'79161234501").contains("apostrophe"),
            "{}",
            said("'79161234501")
        );
        assert!(said("79161234501\u{200F}").contains("invisible character (U+200F"));
        // A number cell typed with a minus was sent as the number without it.
        assert_eq!(parse("-79161234610"), Err(PhoneError::Negative));
        assert_eq!(parse(" -7 916 123-46-10"), Err(PhoneError::Negative));
        assert_eq!(parse("\u{2212}79161234610"), Err(PhoneError::Negative));
        assert_eq!(parse("-79161234610.0"), Err(PhoneError::Negative));
        assert_eq!(
            parse("+7-916-123-46-10").map(PhoneNumber::get),
            Ok(79161234610)
        );
    }

    #[test]
    fn a_trunk_zero_in_brackets_after_the_country_code_is_not_dialled() {
        let read = |text: &str| parse(text).map(PhoneNumber::get);
        assert_eq!(read("+49 (0)30 1234570"), Ok(49301234570));
        assert_eq!(read("+49 (0) 151 12345678"), Ok(4915112345678));
        assert_eq!(read("+44 (0)7911 123456"), Ok(447911123456));
        assert_eq!(read("0044(0)20 7946 0018"), Ok(442079460018));
        assert_eq!(read("41 (0)44 668 18 00"), Ok(41446681800));
        // Italy keeps the 0 after its country code: only that number exists.
        assert_eq!(read("+39 (0)6 6982 1234"), Ok(390669821234));
        // A landline there, never turned into a mobile without its 0.
        assert_eq!(read("+39 (0)331 1234567"), Ok(3903311234567));
        assert_eq!(read("+39 (0)35 1234567"), Ok(390351234567));
        // Separators around the bracket, as people type them.
        assert_eq!(read("+44-(0)-20-7946-0959"), Ok(442079460959));
        assert_eq!(read("+44.(0)20.7946.0960"), Ok(442079460960));
        // Belgium's landlines have 10 digits with the country code: too short for a card,
        // said so, never sent with a 0 no number has.
        assert_eq!(
            read("+32 (0)2 123 45 67"),
            Err(PhoneError::TooShort(10, true))
        );
        // A (0) that does not follow a country code is not this.
        assert_eq!(read("(0)30 1234570"), Err(PhoneError::NationalNumber));
        assert_eq!(read("+7 903 (0)12 34 56"), Ok(79030123456));
    }

    #[test]
    fn numbers_are_shown_the_way_their_country_writes_them() {
        assert_eq!(pretty(parse("74951234567").unwrap()), "+7 495 123-45-67");
        assert_eq!(pretty(parse("4930123456789").unwrap()), "+49 30 123456789");
    }

    #[test]
    fn plausibility_uses_numbering_plans() {
        let plausibility = |text| parse(text).unwrap().plausibility();
        assert_eq!(plausibility("+7 900 123-45-68"), Plausibility::Possible);
        assert_eq!(plausibility("+1 415 555 0123"), Plausibility::Possible);
        assert_eq!(plausibility("+49 30 12345678"), Plausibility::Possible);
        assert_eq!(
            plausibility("89001234568"),
            Plausibility::UnknownCountryCode
        );
        assert_eq!(
            plausibility("+7 900 123-45-6812"),
            Plausibility::WrongLength {
                country_code: 7,
                national_digits: 12
            }
        );
    }

    /// The national lengths each country calling code allows, from the `phonenumber`
    /// crate's metadata (every number type of every region sharing the code), as the source
    /// of `plans.rs`.
    fn plans_from_metadata() -> String {
        let database = &*phonenumber::metadata::DATABASE;
        let mut source = String::from(
            "//! National number lengths by country calling code: libphonenumber's \"possible\n\
             //! length\" data, as the `phonenumber` crate ships it, built into a table so that no\n\
             //! run pays for loading the metadata. Generated; a unit test checks it against the\n\
             //! crate (`GREENBULK_PIN=1 cargo test --lib numbering_plan` writes it anew).\n\n\
             /// For each code 0–999: bit `n` is set when a national number of `n` digits is\n\
             /// possible; 0 for a code no country uses.\n\
             pub(super) static LENGTHS: [u32; 1000] = {\n    \
             let mut table = [0; 1000];\n    let mut i = 0;\n    while i < BY_CODE.len() {\n        \
             table[BY_CODE[i].0 as usize] = BY_CODE[i].1;\n        i += 1;\n    }\n    table\n};\n\n\
             /// (country calling code, lengths as bits).\n\
             const BY_CODE: &[(u16, u32)] = &[\n",
        );
        for code in 0..1000u16 {
            let Some(regions) = database.by_code(&code) else {
                continue;
            };
            let mask = regions
                .iter()
                .flat_map(|m| {
                    let d = m.descriptors();
                    [
                        Some(d.general()),
                        d.fixed_line(),
                        d.mobile(),
                        d.toll_free(),
                        d.premium_rate(),
                        d.shared_cost(),
                        d.personal_number(),
                        d.voip(),
                        d.pager(),
                        d.uan(),
                        d.voicemail(),
                    ]
                })
                .flatten()
                .flat_map(|descriptor| descriptor.possible_length().iter().copied())
                .fold(0u32, |mask, length| mask | 1 << length);
            source.push_str(&format!("    ({code}, {mask:#010x}),\n"));
        }
        source.push_str("];\n");
        source
    }

    #[test]
    fn the_numbering_plan_table_is_the_metadata() {
        let expected = plans_from_metadata();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/contact/plans.rs");
        if std::env::var_os("GREENBULK_PIN").is_some() {
            std::fs::write(path, &expected).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap();
        assert!(
            committed == expected,
            "src/contact/plans.rs is not what the phonenumber crate's metadata gives; \
             regenerate it with GREENBULK_PIN=1 cargo test --lib numbering_plan"
        );
    }

    #[test]
    fn digit_counts_and_chat_digits() {
        assert_eq!(digit_count(0), 1);
        assert_eq!(digit_count(9), 1);
        assert_eq!(digit_count(10), 2);
        assert_eq!(digit_count(MAX_SAFE_INTEGER), 16);
        assert_eq!(
            PhoneNumber::from_digits(79001234567),
            parse("79001234567").ok()
        );
        assert_eq!(PhoneNumber::from_digits(9001234567), None);
        assert_eq!(PhoneNumber::from_digits(1234567890123456), None);
    }

    proptest! {
        #[test]
        fn formatting_never_changes_the_digits(
            digits in "[1-9][0-9]{10,14}",
            seps in proptest::collection::vec(prop_oneof![
                Just(""), Just(" "), Just("-"), Just("."), Just("("), Just(")"), Just("\u{a0}")
            ], 16),
            plus in any::<bool>(),
        ) {
            let mut text = String::from(if plus { "+" } else { "" });
            for (i, d) in digits.chars().enumerate() {
                text.push(d);
                text.push_str(seps[i]);
            }
            // "7900123456.00" reads as a numeric export of 7900123456, and "790012345.67" as
            // a number with a fraction, on purpose.
            prop_assume!(strip_numeric_fraction(&text) == text && !is_fractional(&text));
            // `44(0)79…`: a trunk 0 in brackets after a country code is not dialled (see
            // a_trunk_zero_in_brackets_after_the_country_code_is_not_dialled).
            prop_assume!(!text.contains("(0)"));
            prop_assert_eq!(parse(&text).map(|p| p.get().to_string()), Ok(digits));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,40}") {
            let _ = parse(&text);
        }

        #[test]
        fn plausibility_reads_the_codes_off_the_leading_digits(n in 1u64..MAX_SAFE_INTEGER) {
            // The same test on the number's text.
            let text = n.to_string();
            let by_text = (1..=3.min(text.len()))
                .map(|len| (text[..len].parse::<usize>().unwrap(), len))
                .find(|(code, _)| super::super::plans::LENGTHS[*code] != 0)
                .map_or(Plausibility::UnknownCountryCode, |(code, len)| {
                    let national = (text.len() - len) as u16;
                    if super::super::plans::LENGTHS[code] & (1 << national) != 0 {
                        Plausibility::Possible
                    } else {
                        Plausibility::WrongLength { country_code: code as u16, national_digits: national }
                    }
                });
            prop_assert_eq!(PhoneNumber(n).plausibility(), by_text);
        }

        #[test]
        fn the_one_pass_reading_agrees_with_the_general_one(
            text in "[ +0-9()/\\t-]{0,24}",
        ) {
            prop_assert_eq!(parse_plain(text.as_bytes()), Some(parse_any(&text)));
        }
    }
}
