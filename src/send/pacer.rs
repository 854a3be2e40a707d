//! Pacing: never more than the rate in any window, and no less than the rate either.
//!
//! Requests leave in small groups ("batches"): as many as the rate allows in [`BATCH_PERIOD`],
//! at least one. At 50/s that is 5 requests every 100 ms instead of one every 20 ms. Each
//! wake-up of an idle process costs far more than the request it sends (cold caches, a
//! context switch, a timer), so waking a tenth as often is what keeps a full-speed run under
//! 2% of a core; and the group's attempts reach the disk with one fsync. The rate over any
//! window is the same; only the spacing inside 100 ms changes.
//!
//! Two mechanisms work together, on one injectable clock:
//! - a `governor` GCRA limiter spaces requests evenly at the rate; a batch takes as many cells
//!   as it holds, so a batch of 5 waits 5 intervals and a short batch (few rows waiting) only
//!   as many as it holds. Its burst is two batches for sub-second spacings: with room for just
//!   one it would undershoot (every late wake-up pushes the schedule back for good); the
//!   second lets a late batch's successor catch up.
//! - a sliding window of the last N dispatch instants forbids an (N+1)th request inside any
//!   window, which that catch-up (or governor's initial burst) could otherwise allow.
//!
//! Both work to a window `JITTER_MARGIN` longer than the rate's period: GREEN-API counts
//! requests as they *arrive*, and a request that left on time but arrived late, with the next
//! window's requests arriving early, must not make 51 in its second.
//!
//! The dispatcher asks [`Pacer::admit`] about the requests it holds, sleeps when told to, and
//! records the instant it really sent them with [`Pacer::record`], so the window holds true
//! send times.

use std::collections::VecDeque;
use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use governor::clock::{Clock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// GREEN-API's limit for send methods.
pub const MAX_PER_SECOND: u32 = 50;

/// The window is kept this much longer than the rate's period, so that a server counting
/// arrivals per second sees no more than the rate even when the network delays one request
/// up to this much more than another. A request that leaves late (a timer waking up late)
/// holds back the one a window later just as much, so margin and lateness together cost
/// rate: 15 ms, plus the 1–5 ms a timer is typically late, keep 50/s above 49/s (98%).
pub(crate) const JITTER_MARGIN: Duration = Duration::from_millis(15);

/// How much of the rate leaves together: a batch is what the rate allows in this long.
pub const BATCH_PERIOD: Duration = Duration::from_millis(100);

/// `--rate`: so many requests per second or per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl Rate {
    pub fn per_second(self) -> f64 {
        f64::from(self.count) / self.per.as_secs_f64()
    }

    /// The window requests are counted in: the rate's period and the margin for jitter.
    fn window(self) -> Duration {
        self.per + JITTER_MARGIN
    }

    /// The even spacing between two requests.
    pub(crate) fn interval(self) -> Duration {
        self.window() / self.count
    }
}

impl serde::Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = if self.per == Duration::from_secs(60) {
            "min"
        } else {
            "s"
        };
        write!(f, "{}/{unit}", self.count)
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Rate, String> {
        let text = s.trim().to_ascii_lowercase();
        let (count, unit) = text.split_once('/').unwrap_or((&text, "s"));
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            other => return Err(format!("unknown unit '{other}' in '{s}': use N/s or N/min")),
        };
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| format!("'{s}' is not a rate: use N/s or N/min, e.g. 10/s"))?;
        if count == 0 {
            return Err("the rate must be at least 1".into());
        }
        let rate = Rate { count, per };
        if rate.per_second() > f64::from(MAX_PER_SECOND) {
            return Err(format!(
                "{s} is over GREEN-API's limit of {MAX_PER_SECOND} requests per second for send \
                 methods; faster requests are answered 429 and slow the run down. Use at most \
                 {MAX_PER_SECOND}/s"
            ));
        }
        Ok(rate)
    }
}

type Gcra<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

pub struct Pacer<C: Clock> {
    rate: Rate,
    batch: usize,
    clock: C,
    /// Spaces requests; a batch takes as many cells as it holds, so a short batch does not
    /// cost a whole batch's time.
    gcra: Gcra<C>,
    /// Dispatch instants within the last window, oldest first.
    window: VecDeque<C::Instant>,
    /// Requests counted in whole windows from the first dispatch on, for the achieved rate.
    tally: Option<Tally<C::Instant>>,
}

/// Consecutive windows of the rate's period, the first starting at the first dispatch.
#[derive(Debug, Clone, Copy)]
struct Tally<I> {
    /// The window being filled: its start and its requests so far.
    start: I,
    count: u64,
    /// The windows already over, and the requests they held.
    windows: u64,
    requests: u64,
}

impl<C: Clock + Clone> Pacer<C> {
    pub fn new(rate: Rate, clock: C) -> Pacer<C> {
        let batch = ((rate.per_second() * BATCH_PERIOD.as_secs_f64()) as u32).clamp(1, rate.count);
        // Room for one batch, and for a second one to catch up after a late wake-up.
        let catch_up = rate.interval() * batch < rate.window() && rate.count / batch >= 2;
        let burst = if catch_up { 2 * batch } else { batch };
        let quota = Quota::with_period(rate.interval())
            .expect("a rate is never zero")
            .allow_burst(NonZeroU32::new(burst).expect("a batch is at least 1"));
        let gcra = RateLimiter::direct_with_clock(quota, clock.clone());
        // Start with the catch-up allowance spent, so the first two batches are spaced too.
        if catch_up {
            let _ = gcra.check_n(NonZeroU32::new(batch).expect("a batch is at least 1"));
        }
        Pacer {
            rate,
            batch: batch as usize,
            gcra,
            clock,
            window: VecDeque::with_capacity(rate.count as usize + 1),
            tally: None,
        }
    }

    /// The most requests that leave together.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// How many of `count` waiting requests (1 to [`Pacer::batch`]) may go now, or how long
    /// until some may. `Ok(n)` obliges the caller to send `n` of them and call
    /// [`Pacer::record`]. The rate's spacing is waited out for the whole batch; but when the
    /// window is what holds them back, the ones it has room for go at once, so room freed by
    /// earlier, smaller batches is not left idle.
    pub fn admit(&mut self, count: usize) -> Result<usize, Duration> {
        debug_assert!((1..=self.batch).contains(&count));
        let now = self.clock.now();
        let window = self.rate.window();
        while let Some(oldest) = self.window.front() {
            if Duration::from(now.duration_since(*oldest)) >= window {
                self.window.pop_front();
            } else {
                break;
            }
        }
        let room = self.rate.count as usize - self.window.len();
        if room == 0 {
            let oldest = self.window[0];
            return Err(window - Duration::from(now.duration_since(oldest)));
        }
        // A rate per minute may not gather its minute's requests into one second: whatever
        // the window, no second holds more than GREEN-API's limit.
        let second = Duration::from_secs(1) + JITTER_MARGIN;
        let mut room = room;
        if self.rate.per > Duration::from_secs(1) {
            let recent: Vec<_> = self
                .window
                .iter()
                .rev()
                .take_while(|at| Duration::from(now.duration_since(**at)) < second)
                .collect();
            let left = (MAX_PER_SECOND as usize).saturating_sub(recent.len());
            if left == 0 {
                let oldest = **recent.last().expect("a full second holds requests");
                return Err(second - Duration::from(now.duration_since(oldest)));
            }
            room = room.min(left);
        }
        let admitted = count.min(room);
        let cells = NonZeroU32::new(admitted as u32).expect("at least one request");
        match self.gcra.check_n(cells).expect("a batch fits the burst") {
            Ok(()) => Ok(admitted),
            Err(not_until) => Err(not_until.wait_time_from(now).max(Duration::from_nanos(1))),
        }
    }

    /// Notes that `count` requests were really sent now.
    pub fn record(&mut self, count: usize) {
        let now = self.clock.now();
        self.window.extend(std::iter::repeat_n(now, count));
        let tally = self.tally.get_or_insert(Tally {
            start: now,
            count: 0,
            windows: 0,
            requests: 0,
        });
        while Duration::from(now.duration_since(tally.start)) >= self.rate.per {
            tally.windows += 1;
            tally.requests += tally.count;
            tally.count = 0;
            tally.start = tally.start + Nanos::from(self.rate.per);
        }
        tally.count += count as u64;
    }

    /// Requests per second over the whole windows (of the rate's period) from the first
    /// dispatch to the last; none before a window is over (a shorter run says nothing about
    /// the rate). Every whole window holds at most the rate, so this never reads above it,
    /// whatever burst a start or a catch-up allowed inside one.
    pub fn achieved_rate(&self) -> Option<f64> {
        let tally = self.tally?;
        (tally.windows > 0)
            .then(|| tally.requests as f64 / (tally.windows as f64 * self.rate.per.as_secs_f64()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::MonotonicClock;

    #[test]
    fn at_full_speed_a_batch_is_what_100_ms_allow() {
        let batch = |rate: &str| Pacer::new(rate.parse().unwrap(), MonotonicClock).batch();
        assert_eq!(batch("50/s"), 5);
        assert_eq!(batch("30/s"), 3);
        // Slow rates keep even spacing: a batch of one.
        assert_eq!(batch("10/s"), 1);
        assert_eq!(batch("600/min"), 1);
    }

    #[test]
    fn rates_parse_and_the_limit_is_explained() {
        assert_eq!(
            "10/s".parse::<Rate>(),
            Ok(Rate {
                count: 10,
                per: Duration::from_secs(1)
            })
        );
        assert_eq!("600/min".parse::<Rate>().map(|r| r.per_second()), Ok(10.0));
        assert_eq!("50".parse::<Rate>().map(|r| r.count), Ok(50));
        let err = "51/s".parse::<Rate>().unwrap_err();
        assert!(err.contains("limit of 50"), "{err}");
        assert!("0/s".parse::<Rate>().is_err());
        assert!("ten/s".parse::<Rate>().is_err());
        assert!("10/h".parse::<Rate>().is_err());
    }
}
