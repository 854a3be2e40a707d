//! A country, as `--country CC` names it: its ISO 3166 alpha-2 code and its calling code,
//! from libphonenumber's metadata (the `phonenumber` crate). A leaf: the input stage carries
//! it, the contact stage reads numbers in its plan (`contact::country`).

use std::fmt;
use std::str::FromStr;

use phonenumber::metadata::DATABASE;

/// A country whose numbering plan reads national numbers: its ISO 3166 alpha-2 code and its
/// calling code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Country {
    pub(crate) id: phonenumber::country::Id,
    calling_code: u16,
}

impl FromStr for Country {
    type Err = String;

    fn from_str(text: &str) -> Result<Country, String> {
        let upper = text.trim().to_ascii_uppercase();
        // The United Kingdom's ISO code is GB; UK is what people write.
        let upper = if upper == "UK" {
            "GB".to_string()
        } else {
            upper
        };
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

    /// The country's national (trunk) prefix: `0`, `8` …, or none.
    pub(crate) fn trunk_prefix(self) -> &'static str {
        DATABASE
            .by_id(self.id.as_ref())
            .and_then(|meta| meta.national_prefix())
            .unwrap_or("")
    }
}
