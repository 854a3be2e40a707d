//! What the emulator keeps of a message: the requests as they arrived, and the cards it
//! accepted into its queue.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

/// One sendContact request as it arrived, and what it was answered.
#[derive(Debug, Clone, Serialize)]
pub struct Received {
    /// Arrival time since the emulator started.
    pub at: Duration,
    pub body: String,
    /// The status answered; 0 when the connection was dropped without an answer.
    pub status: u16,
}

/// A contact card message the emulator accepted into its queue.
#[derive(Debug, Clone, Serialize)]
pub struct OutgoingMessage {
    pub id_message: String,
    pub chat_id: String,
    pub phone_contact: u64,
    pub quoted_message_id: Option<String>,
    /// The contact as the request gave it (`phoneContact`, `firstName` …).
    pub card: Value,
    /// The contact as WhatsApp shows it.
    pub contact: Contact,
    pub accepted_at: Duration,
    /// Accepted, then the connection was dropped before the answer (the ambiguous case).
    pub dropped: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Contact {
    #[serde(rename = "displayName")]
    pub display_name: String,
    pub vcard: String,
}
