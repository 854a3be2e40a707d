//! Finding a lost answer: an `unknown` row (its request left, no usable answer came back)
//! looked up in the instance's queue and journal.
//!
//! GREEN-API documents no way to do this; the data allows it (README, "What happens after
//! sending"): a queued message with the same `chatId` and `contact.phoneContact`, or a journal
//! entry sent through the API as a contact card to the same chat, whose vCard has the same
//! phone digits, from the attempt on (less a minute of clock skew). Messages already known
//! as some row's are never counted again. Not found proves nothing — a journal entry can take
//! two minutes to appear and the queue view stops at 500 — so such a row stays `unknown`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::client::{CallError, Client, QueuedMessage, SentMessage};
use crate::contact::ContentKey;
use crate::input::RowNumber;
use crate::record::ledger::unix_millis;
use crate::record::{Event, Fate, Record, RecordError};

/// An unknown row waits this long before `--retry-unknown` may send it again: its journal
/// entry can take two minutes to appear, so an earlier look proves too little.
pub const RETRY_UNKNOWN_AFTER: Duration = Duration::from_secs(300);

/// What resolving the unknown rows of a record found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Found accepted (now `sent`).
    pub found: u64,
    /// Of those, the rows found more than once: they went out twice.
    pub twice: Vec<RowNumber>,
    /// Not found.
    pub not_found: u64,
    /// Of those, attempted too recently to tell (less than [`RETRY_UNKNOWN_AFTER`] ago).
    pub too_recent: u64,
    /// Recorded by an earlier version, without the chat and phone to look for.
    pub not_looked_up: u64,
    /// The rows looked up, not found, and attempted long enough ago: the only unknown rows
    /// `--retry-unknown` may send again.
    pub(crate) resendable: HashSet<ContentKey>,
}

/// Why the unknown rows could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// Looks every `unknown` row of the record up and records those found as sent (a
/// `recovered` ledger event). Nothing is asked when there is no unknown row.
pub(crate) async fn resolve(
    client: &Client,
    record: &mut Record,
) -> Result<Resolved, ResolveError> {
    let history = record.history().clone();
    let mut lost = Vec::new();
    let mut known = HashSet::new();
    let mut resolved = Resolved::default();
    for (key, state) in history.iter() {
        match (&state.fate, &state.chat, state.phone, state.attempt_at) {
            (Fate::Sent(id), ..) => {
                known.insert(id.clone());
            }
            (Fate::Unknown(_), Some(chat), Some(phone), Some(at)) => lost.push(Lost {
                key,
                row: state.row,
                chat_id: chat.clone(),
                phone_contact: phone,
                attempt_at: at,
            }),
            (Fate::Unknown(_), ..) => resolved.not_looked_up += 1,
            _ => {}
        }
    }
    if lost.is_empty() {
        return Ok(resolved);
    }
    let now = unix_millis();
    let looked = look_up(client, &lost, &known, now).await?;
    let events: Vec<Event> = looked
        .found
        .iter()
        .map(|found| Event::Recovered {
            key: found.key,
            row: found.row,
            id_message: found.id_message.clone(),
            copies: found.copies,
            at: now,
        })
        .collect();
    record.append(&events)?;
    let old_enough = |key: &ContentKey| {
        history
            .get(*key)
            .and_then(|state| state.attempt_at)
            .is_some_and(|at| now.saturating_sub(at) >= RETRY_UNKNOWN_AFTER.as_millis() as u64)
    };
    resolved.found = looked.found.len() as u64;
    resolved.twice = looked
        .found
        .iter()
        .filter(|found| found.copies > 1)
        .map(|found| found.row)
        .collect();
    resolved.not_found = looked.not_found.len() as u64;
    resolved.resendable = looked
        .not_found
        .iter()
        .copied()
        .filter(old_enough)
        .collect();
    resolved.too_recent = resolved.not_found - resolved.resendable.len() as u64;
    Ok(resolved)
}

/// The clock of this machine and GREEN-API's may disagree by this much.
const CLOCK_SKEW_MS: u64 = 60_000;

/// An `unknown` row to look for.
#[derive(Debug, Clone)]
pub(crate) struct Lost {
    pub(crate) key: ContentKey,
    pub(crate) row: RowNumber,
    pub(crate) chat_id: String,
    pub(crate) phone_contact: u64,
    /// When its (last) request left, Unix milliseconds.
    pub(crate) attempt_at: u64,
}

/// A lost row found accepted: `copies` messages match it (more than one: it went out twice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) key: ContentKey,
    pub(crate) row: RowNumber,
    pub(crate) id_message: String,
    pub(crate) copies: u32,
}

/// What looking found: rows accepted after all, and the keys of those not found (or that
/// share a chat and phone with another lost row, so no message can be told to be theirs).
#[derive(Debug, Default)]
pub(crate) struct LookedUp {
    pub(crate) found: Vec<Found>,
    pub(crate) not_found: HashSet<ContentKey>,
}

/// Looks the rows up: one `showMessagesQueue`, one `lastOutgoingMessages` covering the oldest
/// attempt. `known`: message ids already some row's.
pub(crate) async fn look_up(
    client: &Client,
    lost: &[Lost],
    known: &HashSet<String>,
    now_ms: u64,
) -> Result<LookedUp, CallError> {
    if lost.is_empty() {
        return Ok(LookedUp::default());
    }
    let queue = client.queue().await?;
    let oldest = lost.iter().map(|l| l.attempt_at).min().unwrap_or(now_ms);
    let minutes = now_ms.saturating_sub(oldest).saturating_add(CLOCK_SKEW_MS) / 60_000 + 2;
    let journal = client.journal(minutes).await?;
    Ok(match_lost(lost, &queue, &journal, known))
}

/// The matching itself, pure.
pub(crate) fn match_lost(
    lost: &[Lost],
    queue: &[QueuedMessage],
    journal: &[SentMessage],
    known: &HashSet<String>,
) -> LookedUp {
    let mut sharing: HashMap<(&str, u64), usize> = HashMap::new();
    for row in lost {
        *sharing
            .entry((row.chat_id.as_str(), row.phone_contact))
            .or_default() += 1;
    }
    let mut looked = LookedUp::default();
    for row in lost {
        if sharing[&(row.chat_id.as_str(), row.phone_contact)] > 1 {
            looked.not_found.insert(row.key);
            continue;
        }
        let queued = queue
            .iter()
            .filter(|m| m.chat_id == row.chat_id && m.phone_contact == Some(row.phone_contact));
        let left = journal.iter().filter(|m| {
            m.card_by_api
                && m.chat_id == row.chat_id
                && m.phone_contact == Some(row.phone_contact)
                && m.timestamp * 1000 + CLOCK_SKEW_MS >= row.attempt_at
        });
        // The earliest to leave first, then the queued ones in queue order.
        let mut sent: Vec<&SentMessage> = left.collect();
        sent.sort_by_key(|m| m.timestamp);
        let mut ids: Vec<&str> = sent.iter().map(|m| m.id_message.as_str()).collect();
        ids.extend(queued.map(|m| m.id_message.as_str()));
        let mut seen = HashSet::new();
        ids.retain(|id| !known.contains(*id) && seen.insert(*id));
        match ids.first() {
            Some(id) => looked.found.push(Found {
                key: row.key,
                row: row.row,
                id_message: id.to_string(),
                copies: ids.len() as u32,
            }),
            None => {
                looked.not_found.insert(row.key);
            }
        }
    }
    looked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lost(key: u128, chat: &str, phone: u64, at: u64) -> Lost {
        Lost {
            key: ContentKey(key),
            row: RowNumber(key as u64 + 1),
            chat_id: chat.into(),
            phone_contact: phone,
            attempt_at: at,
        }
    }

    fn left(id: &str, chat: &str, phone: u64, timestamp: u64) -> SentMessage {
        SentMessage {
            id_message: id.into(),
            chat_id: chat.into(),
            timestamp,
            card_by_api: true,
            phone_contact: Some(phone),
            status: "delivered".into(),
        }
    }

    fn queued(id: &str, chat: &str, phone: u64) -> QueuedMessage {
        QueuedMessage {
            id_message: id.into(),
            chat_id: chat.into(),
            phone_contact: Some(phone),
        }
    }

    #[test]
    fn found_in_the_queue_or_the_journal_once_twice_or_not_at_all() {
        let at = 1_800_000_000_000;
        let rows = [
            lost(1, "1@c.us", 71, at),
            lost(2, "2@c.us", 72, at),
            lost(3, "3@c.us", 73, at),
            lost(4, "4@c.us", 74, at),
        ];
        let queue = [queued("Q2", "2@c.us", 72)];
        let journal = [
            left("J1", "1@c.us", 71, at / 1000 + 5),
            left("J3a", "3@c.us", 73, at / 1000 + 5),
            left("J3b", "3@c.us", 73, at / 1000 + 9),
            // Before the attempt (less the skew): an earlier card to the same chat.
            left("OLD4", "4@c.us", 74, at / 1000 - 3600),
        ];
        let looked = match_lost(&rows, &queue, &journal, &HashSet::new());
        let found: Vec<(u128, &str, u32)> = looked
            .found
            .iter()
            .map(|f| (f.key.0, f.id_message.as_str(), f.copies))
            .collect();
        assert_eq!(found, [(1, "J1", 1), (2, "Q2", 1), (3, "J3a", 2)]);
        assert_eq!(looked.not_found, HashSet::from([ContentKey(4)]));
    }

    #[test]
    fn known_messages_other_senders_and_shared_chats_are_never_claimed() {
        let at = 1_800_000_000_000;
        let rows = [
            lost(1, "1@c.us", 71, at),
            lost(2, "2@c.us", 72, at),
            lost(3, "2@c.us", 72, at),
        ];
        let mut typed_by_hand = left("H1", "1@c.us", 71, at / 1000);
        typed_by_hand.card_by_api = false;
        let journal = [
            typed_by_hand,
            left("K1", "1@c.us", 71, at / 1000),
            left("J2", "2@c.us", 72, at / 1000),
        ];
        let known = HashSet::from(["K1".to_string()]);
        let looked = match_lost(&rows, &[], &journal, &known);
        assert!(looked.found.is_empty(), "{:?}", looked.found);
        assert_eq!(looked.not_found.len(), 3);
    }
}
