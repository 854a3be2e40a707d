//! `--country CC`: numbers written without their country code (`034 39 387 51`,
//! `8 903 123-45-67`), read in one country's numbering plan — libphonenumber's, as the
//! `phonenumber` crate ships it. See docs/validation.md, "National numbers".

use std::fmt;
use std::str::FromStr;

use phonenumber::metadata::DATABASE;

use super::phone::{PhoneError, PhoneNumber};

/// A country whose numbering plan reads national numbers: its ISO 3166 alpha-2 code and its
/// calling code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Country {
    id: phonenumber::country::Id,
    calling_code: u16,
}

impl FromStr for Country {
    type Err = String;

    fn from_str(text: &str) -> Result<Country, String> {
        let upper = text.trim().to_ascii_uppercase();
        let id = upper
            .parse::<phonenumber::country::Id>()
            .ok()
            .filter(|_| upper.len() == 2);
        let meta = id.and_then(|id| DATABASE.by_id(id.as_ref()));
        match (id, meta) {
            (Some(id), Some(meta)) => Ok(Country {
                id,
                calling_code: meta.country_code(),
            }),
            _ => Err(format!(
                "'{}' is not a country code: give the two letters of ISO 3166 \
                 (e.g. MG for Madagascar, RU for Russia, DE for Germany)",
                crate::term::shown(text)
            )),
        }
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id.as_ref())
    }
}

/// Why a number without a country code is not a number of the country's plan, in the
/// plan's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotInPlan {
    pub country: Country,
    /// The digits after the national (trunk) prefix, as the plan reads them.
    pub national_digits: usize,
    /// The lengths the plan allows, shortest first.
    pub lengths: Vec<u16>,
}

impl fmt::Display for NotInPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            country,
            national_digits,
            lengths,
        } = self;
        let plan = format!("{country}'s numbering plan (+{})", country.calling_code);
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
                "is not a number of {plan}: it has {national_digits} digits after the trunk \
                 prefix, and numbers there have {}; check the number, or write it with its \
                 own country code (+…)",
                allowed.join(" or ")
            )
        }
    }
}

impl Country {
    /// The country libphonenumber treats as the main one of a calling code (RU for 7, US
    /// for 1), if the code is a country's.
    pub fn main_of(calling_code: u16) -> Option<Country> {
        let metas = DATABASE.by_code(&calling_code)?;
        let meta = metas
            .iter()
            .find(|m| m.is_main_country_for_code())
            .or_else(|| metas.first())?;
        meta.id().parse().ok()
    }

    pub fn calling_code(self) -> u16 {
        self.calling_code
    }

    /// Reads `digits` (a number's digits, leading zeros kept, written without `+` or `00`)
    /// as the country's plan reads them: a national number (its trunk prefix dropped and the
    /// country code put in front), or a number that already starts with a country code
    /// (`261341142648`, `79031234567`) when the plan does not know it as a national one.
    /// The number, and whether it was national.
    pub(super) fn read(self, digits: &str) -> Result<(PhoneNumber, bool), PhoneError> {
        let national = phonenumber::parse(Some(self.id), digits)
            .ok()
            .filter(phonenumber::PhoneNumber::is_valid)
            .and_then(|number| {
                // The country code, then the national number (with any leading zeros, as
                // Italy's keep): E.164's digits, without the formatter's work.
                let national = number.national();
                let digits = format!(
                    "{}{}{}",
                    number.code().value(),
                    "0".repeat(usize::from(national.zeros())),
                    national.value()
                );
                PhoneNumber::from_digits(digits.parse().ok()?)
            });
        if let Some(number) = national {
            // `79031234567` read in RU's plan is itself: not a national number.
            let changed = digits.trim_start_matches('0') != number.to_string();
            return Ok((number, changed));
        }
        let international = digits
            .parse::<u64>()
            .ok()
            .filter(|_| !digits.starts_with('0'))
            .and_then(PhoneNumber::from_digits)
            .filter(|number| {
                phonenumber::parse(None, format!("+{number}")).is_ok_and(|parsed| parsed.is_valid())
            });
        if let Some(number) = international {
            return Ok((number, false));
        }
        Err(PhoneError::NotInPlan(Box::new(self.why_not(digits))))
    }

    /// The plan's reason for refusing `digits`.
    fn why_not(self, digits: &str) -> NotInPlan {
        let meta = DATABASE
            .by_id(self.id.as_ref())
            .expect("a country is made only from an id the metadata has");
        let prefix = meta.national_prefix().unwrap_or("");
        let national = if prefix.is_empty() {
            digits
        } else {
            digits.strip_prefix(prefix).unwrap_or(digits)
        };
        // Every kind of number of the plan (the table of lengths by calling code).
        let mask = super::plans::LENGTHS[usize::from(self.calling_code)];
        let lengths = (0..32u16).filter(|n| mask & (1 << n) != 0).collect();
        NotInPlan {
            country: self,
            national_digits: national.len(),
            lengths,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn country(code: &str) -> Country {
        code.parse().unwrap()
    }

    #[test]
    fn codes_are_two_letters_of_a_country_the_metadata_knows() {
        assert_eq!(country("mg").to_string(), "MG");
        assert_eq!(country(" RU ").calling_code(), 7);
        for wrong in ["", "M", "MDG", "XX", "001", "Madagascar"] {
            let err = wrong.parse::<Country>().unwrap_err();
            assert!(err.contains("ISO 3166"), "{wrong}: {err}");
        }
    }

    #[test]
    fn the_main_country_of_a_calling_code() {
        assert_eq!(Country::main_of(261), Some(country("MG")));
        assert_eq!(Country::main_of(7), Some(country("RU")));
        assert_eq!(Country::main_of(1), Some(country("US")));
        assert_eq!(Country::main_of(999), None);
    }
}
