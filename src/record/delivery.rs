//! What became of a sent card after GREEN-API accepted it: the states `greenbulk status`
//! records in the ledger and writes in the results' `delivery` column.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What became of a sent card, as far as GREEN-API tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Delivery {
    /// Still in the instance's outgoing queue (or not yet seen to leave it).
    Queued,
    /// Left the queue: sent to WhatsApp.
    Sent,
    Delivered,
    Read,
    Failed,
    /// The chat has no WhatsApp account.
    NoAccount,
    /// A group chat the instance's number is not in.
    NotInGroup,
    /// Held back under WhatsApp's spam warning.
    YellowCard,
    /// In neither queue nor journal, and accepted longer ago than the queue keeps a message:
    /// dropped from the queue unsent.
    Expired,
}

impl Delivery {
    pub const ALL: [Delivery; 9] = [
        Delivery::Queued,
        Delivery::Sent,
        Delivery::Delivered,
        Delivery::Read,
        Delivery::Failed,
        Delivery::NoAccount,
        Delivery::NotInGroup,
        Delivery::YellowCard,
        Delivery::Expired,
    ];

    /// The state a GREEN-API `statusMessage` names (`pending`: not sent yet).
    pub fn from_status(status: &str) -> Option<Delivery> {
        Some(match status {
            "pending" => Delivery::Queued,
            "sent" => Delivery::Sent,
            "delivered" => Delivery::Delivered,
            "read" => Delivery::Read,
            "failed" => Delivery::Failed,
            "noAccount" => Delivery::NoAccount,
            "notInGroup" => Delivery::NotInGroup,
            "yellowCard" => Delivery::YellowCard,
            _ => return None,
        })
    }

    /// The state a results file's `delivery` column names (as [`Delivery::name`] writes it).
    pub fn named(name: &str) -> Option<Delivery> {
        Delivery::ALL.into_iter().find(|state| state.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Delivery::Queued => "queued",
            Delivery::Sent => "sent",
            Delivery::Delivered => "delivered",
            Delivery::Read => "read",
            Delivery::Failed => "failed",
            Delivery::NoAccount => "noAccount",
            Delivery::NotInGroup => "notInGroup",
            Delivery::YellowCard => "yellowCard",
            Delivery::Expired => "expired",
        }
    }

    /// Nothing more will happen to it: no need to look again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Delivery::Read
                | Delivery::Failed
                | Delivery::NoAccount
                | Delivery::NotInGroup
                | Delivery::Expired
        )
    }

    /// It reached the person.
    pub fn is_delivered(self) -> bool {
        matches!(self, Delivery::Delivered | Delivery::Read)
    }
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Unix milliseconds as ISO 8601 UTC, to the second (`2026-11-26T10:42:00Z`).
pub fn iso_utc(millis: u64) -> String {
    jiff::Timestamp::from_second((millis / 1000) as i64)
        .map(|t| t.to_string())
        .unwrap_or_default()
}
