//! What GREEN-API says of messages: the queue's entries, the journal's and `getMessage`'s
//! records, the queue's length.

use serde_json::Value;

use crate::contact::ContentKey;

/// A message in the instance's queue, as `showMessagesQueue` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    pub id_message: String,
    pub chat_id: String,
    pub phone_contact: Option<u64>,
    /// The card's content key, computed from the queued body exactly as greenbulk computes
    /// a row's: it tells apart cards with the same chat and phone.
    pub key: Option<ContentKey>,
}

/// A message that left the queue, as `lastOutgoingMessages` and `getMessage` give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub id_message: String,
    pub chat_id: String,
    /// When it left the queue (Unix seconds).
    pub timestamp: u64,
    /// A contact card (`typeMessage` `contactMessage`) sent through the API.
    pub card_by_api: bool,
    /// Sent through the API, whatever its type (a card to a number without WhatsApp can be
    /// journaled with an empty `typeMessage`).
    pub by_api: bool,
    /// The phone digits on the card's vCard.
    pub phone_contact: Option<u64>,
    pub status: String,
}

impl SentMessage {
    pub(super) fn from_json(value: &Value) -> Option<SentMessage> {
        let text = |key: &str| value.get(key).and_then(Value::as_str);
        Some(SentMessage {
            id_message: text("idMessage")?.to_string(),
            chat_id: text("chatId").unwrap_or_default().to_string(),
            timestamp: value.get("timestamp").and_then(Value::as_u64).unwrap_or(0),
            card_by_api: text("typeMessage") == Some("contactMessage")
                && value.get("sendByApi").and_then(Value::as_bool) == Some(true),
            by_api: value.get("sendByApi").and_then(Value::as_bool) == Some(true),
            phone_contact: value
                .get("contact")
                .and_then(|c| c.get("vcard"))
                .and_then(Value::as_str)
                .and_then(vcard_phone),
            status: text("statusMessage").unwrap_or_default().to_string(),
        })
    }
}

/// The digits of a vCard's first `TEL` line (`TEL;type=CELL;waid=79…:+7 900 …`).
fn vcard_phone(vcard: &str) -> Option<u64> {
    let line = vcard
        .lines()
        .find(|line| line.trim_start().to_ascii_uppercase().starts_with("TEL"))?;
    let number = line.rsplit(':').next()?;
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// How long the instance's queue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLength {
    pub count: u64,
    /// Counted from the queue view, which lists the first 500 only: there may be more.
    pub at_least: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vcard_gives_its_phone_digits() {
        let vcard = "BEGIN:VCARD\nVERSION:3.0\nN:Ivanov;Ivan;;;\nFN:Ivan Ivanov\n\
                     TEL;type=CELL;type=VOICE;waid=79001234568:+7 900 123-45-68\nEND:VCARD";
        assert_eq!(vcard_phone(vcard), Some(79001234568));
        assert_eq!(vcard_phone("BEGIN:VCARD\nEND:VCARD"), None);
    }
}
