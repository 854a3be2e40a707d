//! What became of every sent card, for `greenbulk status`.
//!
//! One round asks as little as it can: one `lastOutgoingMessages` covering the oldest card
//! still open (up to the API's 10,000 messages); one `showMessagesQueue` for those the journal
//! does not show. The queue is FIFO, so a card accepted after the oldest card of ours still in
//! the queue is queued too, without asking. Only the rest are asked one by one (`getMessage`,
//! 10 a second), at most [`ASKED_PER_ROUND`] a round: after a big batch the journal's 10,000
//! miss most cards, and 90,000 of them would take two and a half hours; the rest are looked
//! up by the next rounds. The cards asked about longest ago go first (never asked before
//! all, then the oldest; the ledger keeps when each was asked), so cards that keep
//! answering `pending` cannot hold back the others, in one `--watch` or over many runs. A card in none of them was dropped from the queue
//! if it was accepted longer ago than the queue keeps a message (`expired`), and is still
//! queued otherwise.
//!
//! A state only moves forward (queued → sent → delivered → read): a card once seen to leave
//! the queue is never called queued or expired again, and is not asked about one by one any
//! more (it becomes `read` if the journal shows it so). Cards whose state is final (read,
//! failed, noAccount, notInGroup, expired) are not asked about at all.

use std::collections::HashMap;
use std::time::Duration;

use super::Delivery;
use crate::client::{CallError, Gateway};

/// The most cards one round asks about one by one: `getMessage` answers 10 a second, so
/// about a minute's worth.
pub(crate) const ASKED_PER_ROUND: usize = 600;

/// The longest one round asks about cards one by one, on each instance: three times what
/// [`ASKED_PER_ROUND`] takes. A server that answers each slowly (each in time) leaves the
/// rest for the next round, rather than holding a round, and the files, for hours.
pub(crate) const ASKING_AT_MOST: Duration = Duration::from_secs(180);

/// How much one round may still ask about cards one by one, on one instance (or, after,
/// how much it did).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Share {
    pub(crate) cards: usize,
    pub(crate) time: Duration,
}

/// A sent card to look after, borrowing its chat and idMessage from the ledger's history.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tracked<'h> {
    pub(crate) chat_id: &'h str,
    pub(crate) id_message: &'h str,
    /// When it was accepted (Unix ms), if the ledger knows.
    pub(crate) accepted_at: Option<u64>,
    /// When it was accepted at the latest: `accepted_at` when the ledger knows it; for a row
    /// taken back from the results file, which says only that it had been accepted by then,
    /// when it was taken back. It is dropped from the queue no later than this plus the time
    /// the queue keeps a message, and the journal is read back at least this far.
    pub(crate) accepted_by: Option<u64>,
    /// Its state so far.
    pub(crate) delivery: Option<Delivery>,
    /// When it was last asked about one by one (Unix ms).
    pub(crate) looked_up: Option<u64>,
}

/// What one round found: each tracked card's state now (none for those already final, and
/// for those whose lookup waits for a later round), the cards asked about one by one, how
/// many wait for a later round (over its [`Share`]), the calls made, and how long asking
/// one by one took.
pub(crate) struct Observed {
    pub(crate) states: Vec<Option<Delivery>>,
    pub(crate) asked: Vec<usize>,
    pub(crate) waiting: u64,
    pub(crate) calls: Calls,
    pub(crate) asking_took: Duration,
}

/// The calls one round made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Calls {
    pub journal: u32,
    pub queue: u32,
    pub messages: u32,
}

impl Calls {
    pub fn total(&self) -> u32 {
        self.journal + self.queue + self.messages
    }
}

/// The later of two states of a card: a state never moves back (a journal can lag). A card
/// held under a yellow card is still in the queue (GREEN-API keeps it 24 hours, and it may
/// yet go): it moves on to sent, delivered or read.
fn forward(before: Option<Delivery>, now: Delivery) -> Delivery {
    let step = |d: Delivery| match d {
        Delivery::Queued | Delivery::YellowCard => 0,
        Delivery::Sent => 1,
        Delivery::Delivered => 2,
        _ => 3,
    };
    match before {
        Some(before) if step(before) > step(now) => before,
        _ => now,
    }
}

/// One round over `count` tracked cards, card `i` read by `card(i)` when it is needed (a
/// round over a million cards keeps 4 bytes of each, not a copy). `Observed::states` and
/// `Observed::asked` are by `i`.
pub(crate) async fn observe<'h>(
    client: &dyn Gateway,
    count: usize,
    card: impl Fn(usize) -> Tracked<'h>,
    ttl: Duration,
    now_ms: u64,
    share: Share,
) -> Result<Observed, CallError> {
    let mut states: Vec<Option<Delivery>> = vec![None; count];
    let mut calls = Calls::default();
    let done = |states, calls| Observed {
        states,
        asked: Vec::new(),
        waiting: 0,
        calls,
        asking_took: Duration::ZERO,
    };
    let open: Vec<u32> = (0..count as u32)
        .filter(|&i| !card(i as usize).delivery.is_some_and(Delivery::is_final))
        .collect();
    if open.is_empty() {
        return Ok(done(states, calls));
    }

    let oldest = open
        .iter()
        .filter_map(|&i| card(i as usize).accepted_by)
        .min()
        .unwrap_or(now_ms);
    let minutes = now_ms.saturating_sub(oldest) / 60_000 + 5;
    let journal = client.journal(minutes).await?;
    calls.journal += 1;
    // A message the journal lists twice is as far along as its furthest entry.
    let mut in_journal: HashMap<&str, Delivery> = HashMap::new();
    for message in &journal {
        if let Some(state) = Delivery::from_status(&message.status) {
            let id = message.id_message.as_str();
            let furthest = forward(in_journal.get(id).copied(), state);
            in_journal.insert(id, furthest);
        }
    }
    let mut rest = Vec::new();
    for &i in &open {
        let tracked = card(i as usize);
        let before = tracked.delivery;
        match in_journal.get(tracked.id_message) {
            Some(&state) => states[i as usize] = Some(forward(before, state)),
            // Seen to leave the queue before: nothing more to learn one by one.
            None if before.is_some_and(|d| d != Delivery::Queued) => states[i as usize] = before,
            None => rest.push(i),
        }
    }
    drop(open);
    if rest.is_empty() {
        return Ok(done(states, calls));
    }

    let queue = client.queue().await?;
    calls.queue += 1;
    let queued: HashMap<&str, usize> = queue
        .iter()
        .enumerate()
        .map(|(position, m)| (m.id_message.as_str(), position))
        .collect();
    // The oldest of ours in the queue: every card of ours accepted after it is behind it.
    let head = rest
        .iter()
        .map(|&i| card(i as usize))
        .filter(|tracked| queued.contains_key(tracked.id_message))
        .filter_map(|tracked| tracked.accepted_at)
        .min();
    let mut ask = Vec::new();
    for i in rest {
        let tracked = card(i as usize);
        let behind_head = head.zip(tracked.accepted_at).is_some_and(|(h, a)| a >= h);
        if queued.contains_key(tracked.id_message) || behind_head {
            states[i as usize] = Some(Delivery::Queued);
        } else {
            ask.push(i);
        }
    }

    // The cards asked about longest ago first (never before all), then the oldest.
    let order = |&i: &u32| {
        let tracked = card(i as usize);
        (tracked.looked_up, tracked.accepted_at, tracked.id_message)
    };
    let asked = share.cards;
    if ask.len() > asked {
        ask.select_nth_unstable_by(asked, |a, b| order(a).cmp(&order(b)));
    }
    let mut waiting = ask.len().saturating_sub(asked) as u64;
    ask.truncate(asked);
    ask.sort_unstable_by(|a, b| order(a).cmp(&order(b)));
    let asking = tokio::time::Instant::now();
    let mut answered = 0;
    for &i in &ask {
        // Out of time: the rest wait for the next round.
        if asking.elapsed() >= share.time {
            break;
        }
        answered += 1;
        let tracked = card(i as usize);
        let answer = client.message(tracked.chat_id, tracked.id_message).await?;
        calls.messages += 1;
        let state = match answer.map(|m| Delivery::from_status(&m.status)) {
            Some(Some(state)) => Some(forward(tracked.delivery, state)),
            // GREEN-API has the message, in a state without a name greenbulk knows: not
            // dropped; what was known of it stands.
            Some(None) => Some(tracked.delivery.unwrap_or(Delivery::Queued)),
            None => {
                let accepted = tracked.accepted_by.unwrap_or(now_ms);
                if now_ms.saturating_sub(accepted) > ttl.as_millis() as u64 {
                    Some(Delivery::Expired)
                } else if tracked.accepted_at.is_none() {
                    // A row taken back from the results file, sent when no one knows: not
                    // found is not "still queued"; what was known of it stands.
                    tracked.delivery
                } else {
                    Some(Delivery::Queued)
                }
            }
        };
        states[i as usize] = state;
    }
    waiting += (ask.len() - answered) as u64;
    ask.truncate(answered);
    Ok(Observed {
        states,
        asked: ask.into_iter().map(|i| i as usize).collect(),
        waiting,
        calls,
        asking_took: asking.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_never_moves_back() {
        use Delivery::*;
        assert_eq!(forward(Some(Delivered), Sent), Delivered);
        assert_eq!(forward(Some(Delivered), Queued), Delivered);
        assert_eq!(forward(Some(Sent), Read), Read);
        assert_eq!(forward(None, Queued), Queued);
        assert_eq!(forward(Some(Queued), NoAccount), NoAccount);
        // A yellow card holds a card in the queue; it may still go.
        assert_eq!(forward(Some(YellowCard), Delivered), Delivered);
        assert_eq!(forward(Some(Sent), YellowCard), Sent);
    }
}
