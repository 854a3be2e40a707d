//! The plan before sending: how long the instance's queue will take to send this run's cards,
//! and whether each of them can leave before GREEN-API drops it.
//!
//! Card k (of N) is accepted (k−1)/R after the first, at `--rate` R, behind the Q messages
//! already queued; the instance sends one every D, so card k leaves about (Q+k)·D from now,
//! or as soon as it is accepted if the queue drains faster than cards arrive. It waits
//! max((Q+k)·D − (k−1)/R, 0) in the queue, and must not wait longer than the queue keeps a
//! message (24 hours).

use std::time::Duration;

use super::pacer::Rate;

/// What the queue will do with this run's cards.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct QueuePlan {
    /// The cards this run sends (N).
    pub cards: u64,
    /// The messages already queued (Q).
    pub queued: u64,
    /// `queued` was counted from the first 500 the queue view lists: there may be more.
    pub at_least: bool,
    /// One message leaves per this long (D).
    pub delay: Duration,
    pub rate: Rate,
    /// How long the queue keeps a message.
    pub ttl: Duration,
}

impl QueuePlan {
    /// How long card `k` (1-based) waits in the queue.
    fn wait(&self, k: u64) -> f64 {
        let leaves = (self.queued + k) as f64 * self.delay.as_secs_f64();
        let accepted = (k.saturating_sub(1)) as f64 / self.rate.per_second();
        (leaves - accepted).max(0.0)
    }

    /// From now until the last card leaves the queue.
    pub fn last_leaves_in(&self) -> Duration {
        let leaves = (self.queued + self.cards) as f64 * self.delay.as_secs_f64();
        let accepted = self.cards.saturating_sub(1) as f64 / self.rate.per_second();
        Duration::from_secs_f64(leaves.max(accepted))
    }

    /// The longest any card waits: the last one's when the queue is slower than the rate,
    /// else the first one's.
    pub fn longest_wait(&self) -> Duration {
        Duration::from_secs_f64(self.wait(1).max(self.wait(self.cards.max(1))))
    }

    /// Every card leaves before the queue would drop it.
    pub fn fits(&self) -> bool {
        self.cards == 0 || self.longest_wait() <= self.ttl
    }

    /// How many of the cards (from the first) leave in time.
    pub fn fitting(&self) -> u64 {
        let ttl = self.ttl.as_secs_f64();
        let delay = self.delay.as_secs_f64();
        let spacing = 1.0 / self.rate.per_second();
        if self.wait(1) > ttl {
            return 0;
        }
        if delay <= spacing {
            return self.cards;
        }
        // A hair of tolerance: 599.98 / 599.98 must be 1, not 0.9999….
        let most = (ttl - self.queued as f64 * delay - spacing) / (delay - spacing) + 1e-9;
        (most.floor().max(0.0) as u64).min(self.cards)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(cards: u64, queued: u64, delay_ms: u64, rate: &str) -> QueuePlan {
        QueuePlan {
            cards,
            queued,
            at_least: false,
            delay: Duration::from_millis(delay_ms),
            rate: rate.parse().unwrap(),
            ttl: Duration::from_secs(86_400),
        }
    }

    #[test]
    fn a_queue_slower_than_the_rate_decides_when_the_last_card_leaves() {
        // 7,412 cards behind 12, one every 5 s: about 10 h 18 min.
        let p = plan(7412, 12, 5000, "10/s");
        assert_eq!(p.last_leaves_in(), Duration::from_secs(37_120));
        assert!(p.fits());
        assert_eq!(p.fitting(), 7412);
        // 100,000 cards at one every 5 s need 6 days: about 17,280 fit in a day.
        let p = plan(100_000, 0, 5000, "50/s");
        assert!(!p.fits());
        let fitting = p.fitting();
        assert_eq!(fitting, 17_349);
        let just = QueuePlan {
            cards: fitting,
            ..p
        };
        assert!(just.fits());
        let one_more = QueuePlan {
            cards: fitting + 1,
            ..p
        };
        assert!(!one_more.fits());
    }

    #[test]
    fn a_queue_faster_than_the_rate_never_holds_a_card_long() {
        let p = plan(1_000_000, 0, 500, "1/s");
        assert!(p.fits());
        assert_eq!(p.last_leaves_in(), Duration::from_secs(999_999));
        // A queue already a day long takes nothing more.
        let full = plan(10, 200_000, 500, "10/s");
        assert!(!full.fits());
        assert_eq!(full.fitting(), 0);
    }
}
