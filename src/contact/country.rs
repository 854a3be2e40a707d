//! `--country CC`: numbers written without their country code (`034 39 387 51`,
//! `8 903 123-45-67`), read in one country's numbering plan — libphonenumber's, as the
//! `phonenumber` crate ships it. See docs/validation.md, "National numbers". The country
//! itself ([`Country`]) is a leaf module's, so that the input stage can carry it.

pub use crate::country::Country;

use super::phone::{self, Ambiguous, NotInPlan, PhoneError, PhoneNumber};

/// A number as [`phone::parse`] reads it, or, with a `country`, a number written without its
/// country code read in that country's plan (see `Country::read`): the number, and
/// whether it was read as a national one.
pub fn parse_in(text: &str, country: Option<Country>) -> Result<(PhoneNumber, bool), PhoneError> {
    let digits = phone::scan(text)?;
    match country {
        Some(country) if !digits.plus => {
            // A full number (15 digits) behind the longest international prefix (`0011`):
            // anything longer is too long, and past 19 digits the value no longer fits.
            if digits.count > phone::MAX_DIGITS + 4 {
                return Err(PhoneError::TooLong(digits.count));
            }
            if digits.count == 0 {
                return Err(PhoneError::Empty);
            }
            phone::short(&digits)?;
            let written = format!(
                "{}{}",
                "0".repeat(digits.leading_zeros),
                if digits.value == 0 {
                    String::new()
                } else {
                    digits.value.to_string()
                }
            );
            country.read(&written)
        }
        _ => phone::judge(digits).map(|number| (number, false)),
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
        let as_written = || phone::parse(digits).ok();
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
                && phone::in_a_plan(written)
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

    #[test]
    fn a_country_reads_its_national_numbers() {
        let read = |text: &str, code: &str| {
            parse_in(text, Some(code.parse().unwrap())).map(|(n, national)| (n.get(), national))
        };
        assert_eq!(read("034 12 345 67", "MG"), Ok((261341234567, true)));
        assert_eq!(read("034 39 387 51", "MG"), Ok((261343938751, true)));
        assert_eq!(read("0328718641", "MG"), Ok((261328718641, true)));
        assert_eq!(read("8 903 123-45-67", "RU"), Ok((79031234567, true)));
        assert_eq!(read("9031234567", "RU"), Ok((79031234567, true)));
        // Italy keeps its leading 0 after the country code.
        assert_eq!(read("06 6982 1234", "IT"), Ok((390669821234, true)));
        // Numbers with their country code are what they say, `+` or not.
        assert_eq!(read("+261 34 11 426 48", "MG"), Ok((261341142648, false)));
        assert_eq!(read("261341142648", "MG"), Ok((261341142648, false)));
        assert_eq!(read("79031234567", "RU"), Ok((79031234567, false)));
        assert_eq!(read("79031234567", "MG"), Ok((79031234567, false)));
        assert_eq!(read("00 7 903 123-45-67", "MG"), Ok((79031234567, false)));
        // A country's own international prefix, whatever it is.
        assert_eq!(read("0011 7 903 123 45 67", "AU"), Ok((79031234567, false)));
        assert_eq!(
            read("00700 44 20 7946 0958", "KR"),
            Ok((442079460958, false))
        );
        assert_eq!(read("8 10 49 30 1234567", "RU"), Ok((49301234567, false)));
        // Another country's number written without + that the plan would read as one of
        // its own: refused, never changed.
        for (text, code) in [
            ("79031234567", "DE"),
            ("13105551234", "CN"),
            ("33612345678", "IT"),
        ] {
            assert!(
                matches!(read(text, code), Err(PhoneError::Ambiguous(_))),
                "{text} in {code}: {:?}",
                read(text, code)
            );
        }
        // What the plan does not know but starts with a country code is as written.
        assert_eq!(read("380501234567", "US"), Ok((380501234567, false)));
        // What the plan does not have stays an error, and so do short codes.
        assert!(matches!(
            read("034 39 387", "MG"),
            Err(PhoneError::NotInPlan(_))
        ));
        assert_eq!(read("800", "MG"), Err(PhoneError::ShortCode));
        assert_eq!(read("#322*67", "RU"), Err(PhoneError::Ussd));
        assert_eq!(read("", "RU"), Err(PhoneError::Empty));
        // Without a country, the plain reading.
        assert_eq!(
            parse_in("034 12 345 67", None),
            Err(PhoneError::NationalNumber)
        );
        assert!(phone::lacks_country_code("034 12 345 67"));
        assert!(phone::lacks_country_code("9031234567"));
        assert!(!phone::lacks_country_code("+7 903 123-45-67"));
        assert!(!phone::lacks_country_code("00 7 903 123-45-67"));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics_in_a_plan(text in "\\PC{0,40}") {
            let _ = parse_in(&text, Some(country("RU")));
        }
    }
}
