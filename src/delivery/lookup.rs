//! Finding a lost answer: an `unknown` row (its request left, no usable answer came back)
//! looked up in the instance's queue and journal.
//!
//! GREEN-API documents no way to do this; the data allows it (docs/delivery.md). A queued
//! message carries the whole card, so it is matched exactly, by content
//! key. A journal entry carries only the chat and the vCard: one sent through the API as a
//! contact card to the same chat, whose vCard has the same phone, from the attempt on (less a
//! minute of clock skew), is the row's — unless another lost row has the same chat and
//! phone, when it could be either's. Messages already known as some row's are never counted.
//!
//! Not finding a row proves nothing unless the look was complete, so a row is sent again
//! (with `--retry-unknown`) only when it was *shown* absent: the queue view held every queued
//! message (it lists 500 at most, and GREEN-API's count must agree — a known bug hides its
//! head), the journal reached back ten minutes before the attempt (it returns 10,000 at
//! most), and nothing there could be the row's even with ten minutes of clock skew.
//! Otherwise the row stays `unknown`, and is never sent again by greenbulk.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::client::{CallError, Gateway, QueuedMessage, SentMessage};
use crate::contact::ContentKey;
use crate::input::RowNumber;
use crate::record::ledger::unix_millis;
use crate::record::{Event, Fate, Record, RecordError};

/// An unknown row waits this long before `--retry-unknown` may send it again: its journal
/// entry can take two minutes to appear, so an earlier look proves too little.
pub const RETRY_UNKNOWN_AFTER: Duration = Duration::from_secs(300);

/// What resolving the unknown rows of a record found.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Resolved {
    /// Found accepted (now `sent`).
    pub found: u64,
    /// Of those, the rows found more than once: they went out twice.
    pub twice: Vec<RowNumber>,
    /// Not found.
    pub not_found: u64,
    /// Of those, not found but not shown absent either (the queue or the journal was cut
    /// short, or a message there could be theirs): never sent again.
    pub unsure: u64,
    /// Of those, attempted too recently to tell (less than [`RETRY_UNKNOWN_AFTER`] ago).
    pub too_recent: u64,
    /// Recorded by an earlier version, without the chat and phone to look for.
    pub not_looked_up: u64,
    /// The rows shown absent and attempted long enough ago, and those recorded without the
    /// chat and phone to look for (older versions): the only unknown rows `--retry-unknown`
    /// may send again.
    #[serde(skip)]
    pub(crate) resendable: HashSet<ContentKey>,
}

impl Resolved {
    /// Another instance's lookup added to this one's.
    pub(crate) fn add(&mut self, other: Resolved) {
        self.found += other.found;
        self.twice.extend(other.twice);
        self.not_found += other.not_found;
        self.unsure += other.unsure;
        self.too_recent += other.too_recent;
        self.not_looked_up += other.not_looked_up;
        self.resendable.extend(other.resendable);
    }
}

/// Why the unknown rows could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// Which unknown rows one instance's lookup is for: those attempted on it, and those whose
/// instance the ledger does not say (recorded by an older greenbulk).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub(crate) instance: &'a str,
    /// The run has this instance alone: a row whose instance was not recorded can only have
    /// gone from it, so not finding it there is absence. With several, it could have gone
    /// from another: such a row is never sent again.
    pub(crate) alone: bool,
}

/// Looks every `unknown` row of the record in `scope` up, in the queue and journal of the
/// instance `client` reaches, and records those found as sent (a `recovered` ledger event).
/// Nothing is asked when there is no such row.
pub(crate) async fn resolve(
    client: &dyn Gateway,
    record: &mut Record,
    scope: Scope<'_>,
) -> Result<Resolved, ResolveError> {
    let history = record.history().clone();
    let mut lost = Vec::new();
    let mut resolved = Resolved::default();
    let now = unix_millis();
    let old_enough = |at: Option<u64>| {
        at.is_none_or(|at| now.saturating_sub(at) >= RETRY_UNKNOWN_AFTER.as_millis() as u64)
    };
    let in_scope = |state: &crate::record::ledger::KeyState| match history.instance(state.instance)
    {
        Some(on) => on == scope.instance,
        None => true,
    };
    for (key, state) in history.iter() {
        if matches!(state.fate, Fate::Unknown(_)) && !in_scope(state) {
            continue;
        }
        match (&state.fate, &state.chat, state.phone, state.attempt_at) {
            (Fate::Unknown(_), Some(chat), Some(phone), Some(at)) => lost.push(Lost {
                key,
                row: state.row,
                chat_id: chat.clone(),
                phone_contact: phone,
                attempt_at: at,
            }),
            (Fate::Unknown(_), ..) => {
                resolved.not_looked_up += 1;
                if old_enough(state.attempt_at) && scope.alone {
                    resolved.resendable.insert(key);
                }
            }
            _ => {}
        }
    }
    if lost.is_empty() {
        return Ok(resolved);
    }
    // The messages some row already has, of those GREEN-API shows: asked for only when
    // something is lost (of the ledger, when the record holds a part of the cards).
    let looked = look_up(client, &lost, |ids| record.sent_ids_of(ids), now).await?;
    // The history is read again by the append: this copy goes first.
    drop(history);
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
    let history = record.history().clone();
    resolved.found = looked.found.len() as u64;
    resolved.twice = looked
        .found
        .iter()
        .filter(|found| found.copies > 1)
        .map(|found| found.row)
        .collect();
    resolved.not_found = (looked.absent.len() + looked.unsure.len()) as u64;
    resolved.unsure = looked.unsure.len() as u64;
    let attempted = |key: &ContentKey| history.get(*key).and_then(|state| state.attempt_at);
    let recorded_here = |key: &ContentKey| {
        history
            .get(*key)
            .is_some_and(|state| history.instance(state.instance).is_some())
    };
    for key in &looked.absent {
        if !scope.alone && !recorded_here(key) {
            // It may have gone from another of the run's instances: never sent again.
            resolved.unsure += 1;
        } else if old_enough(attempted(key)) {
            resolved.resendable.insert(*key);
        } else {
            resolved.too_recent += 1;
        }
    }
    Ok(resolved)
}

/// The clock of this machine and GREEN-API's may disagree by this much, when a message is
/// claimed as a lost row's.
const CLOCK_SKEW_MS: u64 = 60_000;

/// How far before an attempt nothing may match, for the row to count as absent: a wider
/// margin than for claiming, so that a clock off by minutes cannot make a row look absent.
const ABSENT_MARGIN_MS: u64 = 10 * 60_000;

/// The most `showMessagesQueue` and `lastOutgoingMessages` return.
const QUEUE_VIEW_MAX: usize = 500;
const JOURNAL_MAX: usize = 10_000;

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

/// What looking found: rows accepted after all; rows shown absent; rows not found but not
/// shown absent either.
#[derive(Debug, Default)]
pub(crate) struct LookedUp {
    pub(crate) found: Vec<Found>,
    pub(crate) absent: HashSet<ContentKey>,
    pub(crate) unsure: HashSet<ContentKey>,
}

/// What GREEN-API showed: the queue view and whether it held the whole queue; the journal
/// and since when (Unix ms) it is whole.
pub(crate) struct Seen<'a> {
    pub(crate) queue: &'a [QueuedMessage],
    pub(crate) queue_whole: bool,
    pub(crate) journal: &'a [SentMessage],
    pub(crate) journal_since: u64,
}

/// Looks the rows up: `showMessagesQueue` and `getMessagesCount`, and one
/// `lastOutgoingMessages` reaching ten minutes before the oldest attempt. `known`: which of
/// the message ids shown are already some row's.
pub(crate) async fn look_up(
    client: &dyn Gateway,
    lost: &[Lost],
    known: impl FnOnce(&HashSet<&str>) -> Result<HashSet<String>, RecordError>,
    now_ms: u64,
) -> Result<LookedUp, ResolveError> {
    if lost.is_empty() {
        return Ok(LookedUp::default());
    }
    let queue = client.queue().await?;
    let count = client.queue_length().await.ok();
    let queue_whole = queue.len() < QUEUE_VIEW_MAX
        && count.is_some_and(|c| !c.at_least && c.count <= queue.len() as u64);
    let oldest = lost.iter().map(|l| l.attempt_at).min().unwrap_or(now_ms);
    let reach = oldest.saturating_sub(ABSENT_MARGIN_MS);
    let minutes = now_ms.saturating_sub(reach) / 60_000 + 2;
    let journal = client.journal(minutes).await?;
    let journal_since = if journal.len() < JOURNAL_MAX {
        reach
    } else {
        // Cut short: whole only since its oldest entry.
        journal
            .iter()
            .map(|m| m.timestamp * 1000)
            .min()
            .unwrap_or(u64::MAX)
    };
    let shown: HashSet<&str> = queue
        .iter()
        .map(|m| m.id_message.as_str())
        .chain(journal.iter().map(|m| m.id_message.as_str()))
        .collect();
    let known = known(&shown)?;
    let known: HashSet<&str> = known.iter().map(String::as_str).collect();
    let seen = Seen {
        queue: &queue,
        queue_whole,
        journal: &journal,
        journal_since,
    };
    Ok(match_lost(lost, &seen, &known))
}

/// The matching itself, pure.
pub(crate) fn match_lost(lost: &[Lost], seen: &Seen, known: &HashSet<&str>) -> LookedUp {
    let mut sharing: HashMap<(&str, u64), usize> = HashMap::new();
    for row in lost {
        *sharing
            .entry((row.chat_id.as_str(), row.phone_contact))
            .or_default() += 1;
    }
    let unclaimed = |id: &str| !known.contains(id);
    let mut looked = LookedUp::default();
    for row in lost {
        let shared = sharing[&(row.chat_id.as_str(), row.phone_contact)] > 1;
        let same_card = |chat: &str, phone: Option<u64>| {
            chat == row.chat_id && phone == Some(row.phone_contact)
        };
        // The queue holds the whole card: an exact match, however many rows share a chat.
        let queued: Vec<&str> = seen
            .queue
            .iter()
            .filter(|m| m.key == Some(row.key) && unclaimed(&m.id_message))
            .map(|m| m.id_message.as_str())
            .collect();
        let near = |m: &SentMessage, margin: u64| {
            m.card_by_api
                && same_card(&m.chat_id, m.phone_contact)
                && unclaimed(&m.id_message)
                && m.timestamp * 1000 + margin >= row.attempt_at
        };
        let mut left: Vec<&SentMessage> = seen
            .journal
            .iter()
            .filter(|m| near(m, CLOCK_SKEW_MS))
            .collect();
        left.sort_by_key(|m| m.timestamp);
        let mut ids: Vec<&str> = if shared {
            Vec::new()
        } else {
            left.iter().map(|m| m.id_message.as_str()).collect()
        };
        ids.extend(queued);
        let mut once = HashSet::new();
        ids.retain(|id| once.insert(*id));
        if let Some(id) = ids.first() {
            looked.found.push(Found {
                key: row.key,
                row: row.row,
                id_message: id.to_string(),
                copies: ids.len() as u32,
            });
            continue;
        }
        // Anything sent through the API to this chat around the attempt could be this row's
        // (a card to a number without WhatsApp can be journaled without its type or card).
        let maybe = |m: &SentMessage| {
            m.by_api
                && m.chat_id == row.chat_id
                && unclaimed(&m.id_message)
                && m.timestamp * 1000 + ABSENT_MARGIN_MS >= row.attempt_at
        };
        let shown_absent = seen.queue_whole
            && seen.journal_since <= row.attempt_at.saturating_sub(ABSENT_MARGIN_MS)
            && !seen
                .journal
                .iter()
                .any(|m| near(m, ABSENT_MARGIN_MS) || maybe(m))
            && !seen
                .queue
                .iter()
                .any(|m| same_card(&m.chat_id, m.phone_contact) && unclaimed(&m.id_message));
        if shown_absent {
            looked.absent.insert(row.key);
        } else {
            looked.unsure.insert(row.key);
        }
    }
    looked
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: u64 = 1_800_000_000_000;

    fn lost(key: u128, chat: &str, phone: u64) -> Lost {
        Lost {
            key: ContentKey(key),
            row: RowNumber(key as u64 + 1),
            chat_id: chat.into(),
            phone_contact: phone,
            attempt_at: AT,
        }
    }

    fn left(id: &str, chat: &str, phone: u64, timestamp: u64) -> SentMessage {
        SentMessage {
            id_message: id.into(),
            chat_id: chat.into(),
            timestamp,
            card_by_api: true,
            by_api: true,
            phone_contact: Some(phone),
            status: "delivered".into(),
        }
    }

    fn queued(id: &str, key: u128, chat: &str, phone: u64) -> QueuedMessage {
        QueuedMessage {
            id_message: id.into(),
            chat_id: chat.into(),
            phone_contact: Some(phone),
            key: Some(ContentKey(key)),
        }
    }

    fn whole<'a>(queue: &'a [QueuedMessage], journal: &'a [SentMessage]) -> Seen<'a> {
        Seen {
            queue,
            queue_whole: true,
            journal,
            journal_since: 0,
        }
    }

    #[test]
    fn found_in_the_queue_or_the_journal_once_twice_or_shown_absent() {
        let rows = [
            lost(1, "1@c.us", 71),
            lost(2, "2@c.us", 72),
            lost(3, "3@c.us", 73),
            lost(4, "4@c.us", 74),
        ];
        let queue = [queued("Q2", 2, "2@c.us", 72)];
        let journal = [
            left("J1", "1@c.us", 71, AT / 1000 + 5),
            left("J3a", "3@c.us", 73, AT / 1000 + 5),
            left("J3b", "3@c.us", 73, AT / 1000 + 9),
            // Hours before the attempt: an earlier card to the same chat.
            left("OLD4", "4@c.us", 74, AT / 1000 - 3600),
        ];
        let looked = match_lost(&rows, &whole(&queue, &journal), &HashSet::new());
        let found: Vec<(u128, &str, u32)> = looked
            .found
            .iter()
            .map(|f| (f.key.0, f.id_message.as_str(), f.copies))
            .collect();
        assert_eq!(found, [(1, "J1", 1), (2, "Q2", 1), (3, "J3a", 2)]);
        assert_eq!(looked.absent, HashSet::from([ContentKey(4)]));
        assert!(looked.unsure.is_empty());
    }

    #[test]
    fn rows_sharing_a_chat_are_told_apart_in_the_queue_and_never_guessed_in_the_journal() {
        let rows = [lost(1, "1@c.us", 71), lost(2, "1@c.us", 71)];
        // Ann's card is queued; Anna's left, but the journal cannot say whose it is.
        let queue = [queued("QA", 1, "1@c.us", 71)];
        let journal = [left("JB", "1@c.us", 71, AT / 1000 + 5)];
        let looked = match_lost(&rows, &whole(&queue, &journal), &HashSet::new());
        assert_eq!(looked.found.len(), 1);
        assert_eq!(looked.found[0].id_message, "QA");
        assert_eq!(looked.unsure, HashSet::from([ContentKey(2)]));
        assert!(looked.absent.is_empty(), "never resent");
    }

    #[test]
    fn absence_needs_a_whole_look() {
        let rows = [lost(1, "1@c.us", 71)];
        // The queue view was cut short (or its head hidden): the row could be in it.
        let cut = Seen {
            queue: &[],
            queue_whole: false,
            journal: &[],
            journal_since: 0,
        };
        assert_eq!(match_lost(&rows, &cut, &HashSet::new()).unsure.len(), 1);
        // The journal does not reach back far enough.
        let short = Seen {
            queue: &[],
            queue_whole: true,
            journal: &[],
            journal_since: AT - 60_000,
        };
        assert_eq!(match_lost(&rows, &short, &HashSet::new()).unsure.len(), 1);
        // A card to the same chat five minutes before the attempt: a clock off by five
        // minutes would make it this row's, so it is not shown absent.
        let near = [left("N", "1@c.us", 71, AT / 1000 - 300)];
        let looked = match_lost(&rows, &whole(&[], &near), &HashSet::new());
        assert!(looked.found.is_empty());
        assert_eq!(looked.unsure.len(), 1);
    }

    #[test]
    fn a_message_without_its_card_to_the_same_chat_makes_a_row_unsure() {
        let rows = [lost(1, "1@c.us", 71)];
        let mut no_card = left("X", "1@c.us", 0, AT / 1000 + 5);
        no_card.card_by_api = false;
        no_card.phone_contact = None;
        let looked = match_lost(&rows, &whole(&[], &[no_card]), &HashSet::new());
        assert_eq!(looked.unsure.len(), 1);
    }

    #[test]
    fn known_messages_and_other_senders_are_never_claimed() {
        let rows = [lost(1, "1@c.us", 71)];
        let mut typed_by_hand = left("H1", "1@c.us", 71, AT / 1000 - 3600);
        typed_by_hand.card_by_api = false;
        typed_by_hand.by_api = false;
        let journal = [typed_by_hand, left("K1", "1@c.us", 71, AT / 1000)];
        let known = HashSet::from(["K1"]);
        let looked = match_lost(&rows, &whole(&[], &journal), &known);
        assert!(looked.found.is_empty(), "{:?}", looked.found);
        assert_eq!(looked.absent.len(), 1);
    }
}
