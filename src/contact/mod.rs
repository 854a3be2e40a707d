//! Contact: one input row turned into a checked, normalised `sendContact` request, or the
//! reasons it cannot be one.
//!
//! Everything here is a pure function of a row, so it runs in parallel and is trivial to test.

mod check;
mod country;
mod key;
pub mod phone;
mod plans;
mod request;

pub use check::{Checked, Finding, NAME_FIELDS, Severity, check, check_setting};
pub use country::{Country, parse_in};
pub use key::{CardKey, ContentKey};
pub use phone::{Ambiguous, NotInPlan, PhoneError, PhoneNumber, Plausibility};
pub use request::{ChatId, Request};

/// GREEN-API answers 500 `request entity too large` above this JSON body size.
pub const MAX_BODY_BYTES: usize = 100 * 1024;

/// No name, patronymic or company is longer. A longer cell is rows swallowed by a quote
/// left open, or something that is not a name at all: an error, so it never goes out.
pub const MAX_NAME_CHARS: usize = 300;
