//! After the 200: what GREEN-API does with an accepted card, and how greenbulk finds out.
//!
//! A 200 from `sendContact` means only "accepted into the instance's outgoing queue". The
//! instance then sends queued messages one at a time, one every `delaySendMessagesMilliseconds`,
//! keeps a queued message at most 24 hours and drops it silently after that
//! (docs/delivery.md). This module holds what greenbulk does about it:
//! - [`lookup`]: a row whose answer was lost (`unknown`), found in the queue or the journal;
//! - `observe` and [`status`]: every sent row's [`Delivery`] state, for `greenbulk status`.

mod asked;
mod lines;
pub mod lookup;
pub(crate) mod observe;
pub mod status;

use std::time::Duration;

pub use crate::record::{Delivery, iso_utc};

/// GREEN-API keeps a queued message this long, then drops it without a trace.
pub const QUEUE_TTL: Duration = Duration::from_secs(24 * 3600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_and_print_as_greenapi_spells_them() {
        for state in Delivery::ALL {
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.name()));
        }
        assert_eq!(Delivery::from_status("pending"), Some(Delivery::Queued));
        assert_eq!(
            Delivery::from_status("noAccount"),
            Some(Delivery::NoAccount)
        );
        assert_eq!(Delivery::from_status("whatever"), None);
        assert_eq!(iso_utc(1_795_688_094_123), "2026-11-26T10:14:54Z");
    }
}
