//! What the emulated instance does with an accepted message: its outgoing queue, the journal
//! of what left it, and each message's status — as GREEN-API documents them
//! (docs/delivery.md).
//!
//! The queue is FIFO. One message leaves, then the next waits `delay` from the previous one
//! (at once if more time has passed); nothing leaves while the instance is not `authorized`.
//! A message still queued `queue_ttl` after it was accepted is dropped without a trace: no
//! status, no journal entry. A message that left is `sent`, then `delivered` a second later
//! and, for chats that read (a seeded half of them), `read` three seconds after leaving;
//! a chat without WhatsApp makes it `noAccount` instead. Journal entries appear
//! `journal_lag` after the message left.
//!
//! Time only moves forward here: every call brings the queue up to "now" first
//! ([`Instance::advance`]), so the result is the same as a server ticking on its own.

use std::collections::VecDeque;
use std::time::Duration;

use super::Moment;

/// When a message left the queue, or why it never will.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Queued,
    Left(Moment),
    /// Still queued when its time ran out: gone, with no trace.
    Expired,
}

/// What the emulator keeps of an accepted message for its queue.
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    pub(crate) accepted: Moment,
    pub(crate) fate: Fate,
    /// The chat has no WhatsApp account.
    pub(crate) no_account: bool,
    /// The chat reads its messages.
    pub(crate) reads: bool,
    /// WhatsApp never acknowledges it: `pending` for good once it left.
    pub(crate) stuck: bool,
}

/// The statuses GREEN-API reports for a message that left the queue.
pub(crate) fn status(message: &Queued, now: Moment) -> Option<&'static str> {
    let Fate::Left(left) = message.fate else {
        return None;
    };
    let since = now.saturating_sub(left);
    Some(if message.stuck {
        "pending"
    } else if message.no_account {
        "noAccount"
    } else if since < Duration::from_secs(1) {
        "sent"
    } else if message.reads && since >= Duration::from_secs(3) {
        "read"
    } else {
        "delivered"
    })
}

/// The instance's queue: messages in acceptance order, indexes of those still queued.
#[derive(Debug, Default)]
pub(crate) struct Instance {
    pub(crate) messages: Vec<Queued>,
    queue: VecDeque<usize>,
    last_left: Option<Moment>,
    /// Since when the instance can send (it could not before).
    sending_since: Option<Moment>,
}

/// How the queue behaves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    pub(crate) delay: Duration,
    pub(crate) ttl: Duration,
}

impl Instance {
    /// Queues a message accepted at `at`; returns its index.
    pub(crate) fn accept(
        &mut self,
        at: Moment,
        no_account: bool,
        reads: bool,
        stuck: bool,
    ) -> usize {
        self.messages.push(Queued {
            accepted: at,
            fate: Fate::Queued,
            no_account,
            reads,
            stuck,
        });
        let index = self.messages.len() - 1;
        self.queue.push_back(index);
        index
    }

    /// Puts back a message a earlier run of the emulator saved (in acceptance order).
    pub(crate) fn restore(&mut self, message: Queued) {
        if let Fate::Left(at) = message.fate {
            self.last_left = self.last_left.max(Some(at));
        }
        // The built-in sandbox is authorized whether a greenbulk runs or not: its queue kept
        // emptying meanwhile.
        let since = self
            .sending_since
            .map_or(message.accepted, |s| s.min(message.accepted));
        self.sending_since = Some(since);
        let queued = message.fate == Fate::Queued;
        self.messages.push(message);
        if queued {
            self.queue.push_back(self.messages.len() - 1);
        }
    }

    /// Whether the instance can send from now on (`authorized`) or not.
    pub(crate) fn set_sending(&mut self, sending: bool, now: Moment) {
        match (sending, self.sending_since) {
            (true, None) => self.sending_since = Some(now),
            (false, Some(_)) => self.sending_since = None,
            _ => {}
        }
    }

    /// Lets every message leave (or expire) that would have by `now`.
    pub(crate) fn advance(&mut self, now: Moment, pace: Pace) {
        while let Some(&head) = self.queue.front() {
            let message = &mut self.messages[head];
            let expires = message.accepted + pace.ttl;
            let turn = self.sending_since.map(|since| {
                let after_previous = self.last_left.map_or(since, |last| last + pace.delay);
                after_previous.max(since).max(message.accepted)
            });
            match turn {
                Some(turn) if turn < expires && turn <= now => {
                    message.fate = Fate::Left(turn);
                    self.last_left = Some(turn);
                }
                _ if expires <= now && turn.is_none_or(|turn| turn >= expires) => {
                    message.fate = Fate::Expired;
                }
                _ => break,
            }
            self.queue.pop_front();
        }
    }

    /// The indexes of the messages still queued, oldest first.
    pub(crate) fn queued(&self) -> impl Iterator<Item = usize> + '_ {
        self.queue.iter().copied()
    }

    pub(crate) fn queue_len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace(delay_ms: u64, ttl_s: u64) -> Pace {
        Pace {
            delay: Duration::from_millis(delay_ms),
            ttl: Duration::from_secs(ttl_s),
        }
    }

    #[test]
    fn one_message_leaves_per_delay_in_order() {
        let start = super::super::now();
        let mut instance = Instance::default();
        instance.set_sending(true, start);
        for _ in 0..3 {
            instance.accept(start, false, false, false);
        }
        instance.advance(start + Duration::from_millis(600), pace(500, 60));
        let fates: Vec<Fate> = instance.messages.iter().map(|m| m.fate).collect();
        assert_eq!(
            fates,
            [
                Fate::Left(start),
                Fate::Left(start + Duration::from_millis(500)),
                Fate::Queued
            ]
        );
        assert_eq!(instance.queue_len(), 1);
        // More time than the delay passed: the next leaves as soon as it is accepted.
        let later = start + Duration::from_secs(10);
        instance.advance(later, pace(500, 60));
        instance.accept(later, false, false, false);
        instance.advance(later, pace(500, 60));
        assert_eq!(instance.messages[3].fate, Fate::Left(later));
    }

    #[test]
    fn nothing_leaves_while_not_sending_and_old_messages_expire() {
        let start = super::super::now();
        let mut instance = Instance::default();
        instance.accept(start, false, false, false);
        instance.accept(start + Duration::from_secs(5), false, false, false);
        instance.advance(start + Duration::from_secs(8), pace(500, 6));
        assert_eq!(instance.messages[0].fate, Fate::Expired);
        assert_eq!(instance.messages[1].fate, Fate::Queued);
        // Sending again: the second leaves at once, before its time runs out.
        instance.set_sending(true, start + Duration::from_secs(9));
        instance.advance(start + Duration::from_secs(20), pace(500, 6));
        assert_eq!(
            instance.messages[1].fate,
            Fate::Left(start + Duration::from_secs(9))
        );
    }

    #[test]
    fn a_long_queue_outlives_its_messages() {
        let start = super::super::now();
        let mut instance = Instance::default();
        instance.set_sending(true, start);
        for _ in 0..10 {
            instance.accept(start, false, false, false);
        }
        // One every 2 s, each kept 5 s: the first three leave (0, 2, 4 s), the rest expire.
        instance.advance(start + Duration::from_secs(60), pace(2000, 5));
        let left = instance
            .messages
            .iter()
            .filter(|m| matches!(m.fate, Fate::Left(_)))
            .count();
        assert_eq!(left, 3);
        assert_eq!(instance.queue_len(), 0);
    }

    #[test]
    fn statuses_move_on_after_leaving() {
        let start = super::super::now();
        let message = |no_account, reads| Queued {
            accepted: start,
            fate: Fate::Left(start),
            no_account,
            reads,
            stuck: false,
        };
        let at = |s| start + Duration::from_secs(s);
        assert_eq!(status(&message(false, true), at(0)), Some("sent"));
        assert_eq!(status(&message(false, true), at(1)), Some("delivered"));
        assert_eq!(status(&message(false, true), at(3)), Some("read"));
        assert_eq!(status(&message(false, false), at(9)), Some("delivered"));
        assert_eq!(status(&message(true, true), at(9)), Some("noAccount"));
        let stuck = Queued {
            stuck: true,
            ..message(false, true)
        };
        assert_eq!(status(&stuck, at(9)), Some("pending"));
    }
}
