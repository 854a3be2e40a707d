//! `--country CC`: numbers written without their country code (`034 39 387 51`,
//! `8 903 123-45-67`), read in one country's numbering plan — libphonenumber's, as the
//! `phonenumber` crate ships it. See docs/validation.md, "National numbers". The country
//! itself ([`Country`]) is a leaf module's, so that the input stage can carry it.

use std::fmt;

pub use crate::country::Country;

use super::phone::{PhoneError, PhoneNumber};

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
            super::phone::pretty(*written),
            super::phone::pretty(*national)
        )
    }
}

/// E.164's digits of a number libphonenumber read: the country code, then the national
/// number (with any leading zeros, as Italy's keep).
fn e164(number: &phonenumber::PhoneNumber) -> Option<PhoneNumber> {
    let national = number.national();
    let digits = format!(
        "{}{}{}",
        number.code().value(),
        "0".repeat(usize::from(national.zeros())),
        national.value()
    );
    PhoneNumber::from_digits(digits.parse().ok()?)
}

impl Country {
    /// Reads `digits` (a number's digits, leading zeros kept, written without `+`) as the
    /// country's plan reads them: a national number (its trunk prefix dropped and the country
    /// code put in front), or a number after the country's international prefix (`00`,
    /// `0011`, `810` …), or one that starts with the country's own code. What the plan does
    /// not know is taken as written when it already starts with a country code
    /// (`79031234567` in an MG file), as without `--country`. A national reading that is
    /// also another country's number as written (`79031234567` read in DE's plan) is
    /// refused: which one is meant, only the person who wrote it knows. The number, and
    /// whether it was read as a national one.
    pub(super) fn read(self, digits: &str) -> Result<(PhoneNumber, bool), PhoneError> {
        // The digits as an international number, as they are read without `--country`.
        let as_written = || super::phone::parse(digits).ok();
        let parsed = phonenumber::parse(Some(self.id), digits)
            .ok()
            .filter(phonenumber::PhoneNumber::is_valid);
        if let Some(parsed) = parsed
            && let Some(number) = e164(&parsed)
        {
            if parsed.code().source() != phonenumber::country::Source::Default {
                return Ok((number, false));
            }
            let trunk = self.trunk_prefix();
            let without_trunk = trunk.is_empty() || !digits.starts_with(trunk);
            if without_trunk
                && let Some(written) = as_written().filter(|written| *written != number)
                && phonenumber::parse(None, format!("+{written}")).is_ok_and(|p| p.is_valid())
            {
                return Err(PhoneError::Ambiguous(Box::new(Ambiguous {
                    country: self,
                    national: number,
                    written,
                })));
            }
            return Ok((number, true));
        }
        match as_written().filter(|n| n.plausibility() == super::Plausibility::Possible) {
            Some(number) => Ok((number, false)),
            None => Err(PhoneError::NotInPlan(Box::new(self.why_not(digits)))),
        }
    }

    /// The plan's reason for refusing `digits`.
    fn why_not(self, digits: &str) -> NotInPlan {
        let prefix = self.trunk_prefix();
        let national = match digits.strip_prefix(prefix) {
            Some(rest) if !prefix.is_empty() => rest,
            _ => digits,
        };
        // Every kind of number of the plan (the table of lengths by calling code).
        let mask = super::plans::LENGTHS[usize::from(self.calling_code())];
        let lengths = (0..32u16).filter(|n| mask & (1 << n) != 0).collect();
        NotInPlan {
            country: self,
            national_digits: national.len(),
            trunk: national.len() < digits.len(),
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
