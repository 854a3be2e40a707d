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
//! - a `governor` GCRA limiter spaces the batches evenly. With a burst of 1 it would undershoot
//!   (every late wake-up pushes the schedule back for good), so it gets a burst of 2 for
//!   sub-second spacings: a late batch lets the next one catch up.
//! - a sliding window of the last N dispatch instants forbids an (N+1)th request inside any
//!   window, which that catch-up (or governor's initial burst) could otherwise allow.
//!
//! The dispatcher asks [`Pacer::wait_time`] for the requests it holds, sleeps, and records the
//! instant it really sent them with [`Pacer::record`], so the window holds true send times.

use std::collections::VecDeque;
use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use governor::clock::{Clock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// GREEN-API's limit for send methods.
pub const MAX_PER_SECOND: u32 = 50;

/// The window is kept this much longer than the rate's period: requests leave exactly on
/// the window's edge, and the network's jitter must not bunch them up at GREEN-API's end.
/// Costs 0.3% of the rate.
const JITTER_MARGIN: Duration = Duration::from_millis(3);

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

    /// The even spacing between two requests.
    pub fn interval(self) -> Duration {
        self.per / self.count
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
    /// Spaces batches, not single requests.
    gcra: Gcra<C>,
    /// Dispatch instants within the last window, oldest first.
    window: VecDeque<C::Instant>,
    /// The first and last dispatch, how many left at the first and in all, for the achieved
    /// rate.
    first: Option<(C::Instant, u64)>,
    last: Option<C::Instant>,
    dispatched: u64,
}

impl<C: Clock + Clone> Pacer<C> {
    pub fn new(rate: Rate, clock: C) -> Pacer<C> {
        let batch = ((rate.per_second() * BATCH_PERIOD.as_secs_f64()) as u32).clamp(1, rate.count);
        let spacing = rate.interval() * batch;
        let burst = if spacing < Duration::from_secs(1) && rate.count / batch >= 2 {
            2
        } else {
            1
        };
        let quota = Quota::with_period(spacing)
            .expect("a rate is never zero")
            .allow_burst(NonZeroU32::new(burst).expect("burst is 1 or 2"));
        let gcra = RateLimiter::direct_with_clock(quota, clock.clone());
        // Start with the catch-up allowance spent, so the first two batches are spaced too.
        if burst > 1 {
            let _ = gcra.check();
        }
        Pacer {
            rate,
            batch: batch as usize,
            gcra,
            clock,
            window: VecDeque::with_capacity(rate.count as usize + 1),
            first: None,
            last: None,
            dispatched: 0,
        }
    }

    /// The most requests that leave together.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// How long to wait before `count` requests (1 to [`Pacer::batch`]) may go together; zero
    /// means now. When it returns zero the caller must send them and then call
    /// [`Pacer::record`].
    pub fn wait_time(&mut self, count: usize) -> Duration {
        debug_assert!((1..=self.batch).contains(&count));
        let now = self.clock.now();
        let window = self.rate.per + JITTER_MARGIN;
        while let Some(oldest) = self.window.front() {
            if Duration::from(now.duration_since(*oldest)) >= window {
                self.window.pop_front();
            } else {
                break;
            }
        }
        let limit = self.rate.count as usize;
        if self.window.len() + count > limit {
            // The window must shed enough of its oldest entries to make room.
            let must_expire = self.window[self.window.len() + count - limit - 1];
            return window - Duration::from(now.duration_since(must_expire));
        }
        match self.gcra.check() {
            Ok(()) => Duration::ZERO,
            Err(not_until) => not_until.wait_time_from(now).max(Duration::from_nanos(1)),
        }
    }

    /// Notes that `count` requests were really sent now.
    pub fn record(&mut self, count: usize) {
        let now = self.clock.now();
        self.window.extend(std::iter::repeat_n(now, count));
        self.first.get_or_insert((now, count as u64));
        self.last = Some(now);
        self.dispatched += count as u64;
    }

    /// Requests per second between the first and the last dispatch, once there were more
    /// than a window's worth (a shorter run says nothing about the rate).
    pub fn achieved_rate(&self) -> Option<f64> {
        let (first, at_first) = self.first?;
        let span = Duration::from(self.last?.duration_since(first)).as_secs_f64();
        (self.dispatched > u64::from(self.rate.count) && span > 0.0)
            .then(|| (self.dispatched - at_first) as f64 / span)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::{FakeRelativeClock, MonotonicClock};

    /// What a simulated run did: every request's send instant, and how many times it sent.
    struct Run {
        sent: Vec<Duration>,
        dispatches: usize,
    }

    /// Drives a pacer on a fake clock whose sleeps wake up late by up to `lateness`, the way
    /// real timers do. `waiting` says how many requests are ready at a dispatch (at most a
    /// batch is taken).
    fn simulate(
        rate: Rate,
        lateness: Duration,
        run_for: Duration,
        seed: u64,
        waiting: impl Fn(&mut fastrand::Rng) -> usize,
    ) -> Run {
        let clock = FakeRelativeClock::default();
        let mut pacer = Pacer::new(rate, clock.clone());
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut run = Run {
            sent: Vec::new(),
            dispatches: 0,
        };
        let start = clock.now();
        let mut ready = waiting(&mut rng).clamp(1, pacer.batch());
        loop {
            let now = Duration::from(clock.now().duration_since(start));
            if now >= run_for {
                return run;
            }
            let wait = pacer.wait_time(ready);
            if wait.is_zero() {
                pacer.record(ready);
                run.sent.extend(std::iter::repeat_n(now, ready));
                run.dispatches += 1;
                ready = waiting(&mut rng).clamp(1, pacer.batch());
                // Writing the ledger and the requests takes a little time too.
                clock.advance(Duration::from_micros(rng.u64(0..300)));
            } else {
                let late = rng.u64(0..=lateness.as_micros() as u64);
                clock.advance(wait + Duration::from_micros(late));
            }
        }
    }

    fn full(_: &mut fastrand::Rng) -> usize {
        usize::MAX
    }

    fn max_in_any_window(sent: &[Duration], window: Duration) -> usize {
        (0..sent.len())
            .map(|i| {
                sent[i..]
                    .iter()
                    .take_while(|t| **t - sent[i] < window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn never_over_the_rate_and_at_least_99_percent_of_it() {
        for (count, lateness_ms) in [
            (50, 2),
            (50, 15),
            (30, 5),
            (10, 2),
            (10, 15),
            (3, 1),
            (1, 5),
        ] {
            let rate = Rate {
                count,
                per: Duration::from_secs(1),
            };
            let run_for = Duration::from_secs(60);
            let run = simulate(
                rate,
                Duration::from_millis(lateness_ms),
                run_for,
                count.into(),
                full,
            );
            assert!(
                max_in_any_window(&run.sent, Duration::from_secs(1)) <= count as usize,
                "{count}/s with {lateness_ms} ms lateness exceeded the rate"
            );
            let achieved = run.sent.len() as f64 / run_for.as_secs_f64();
            assert!(
                achieved >= 0.99 * f64::from(count),
                "{count}/s with {lateness_ms} ms lateness reached only {achieved:.2}/s"
            );
        }
    }

    #[test]
    fn at_full_speed_requests_leave_five_at_a_time_ten_times_a_second() {
        let rate: Rate = "50/s".parse().unwrap();
        let run = simulate(
            rate,
            Duration::from_millis(2),
            Duration::from_secs(60),
            3,
            full,
        );
        assert!(
            (595..=605).contains(&run.dispatches),
            "{} dispatches in 60 s",
            run.dispatches
        );
        assert!(run.sent.len() >= 2970, "{} sent", run.sent.len());
        // Slow rates keep even spacing: a batch of one.
        assert_eq!(
            Pacer::new("10/s".parse().unwrap(), MonotonicClock).batch(),
            1
        );
        assert_eq!(
            Pacer::new("30/s".parse().unwrap(), MonotonicClock).batch(),
            3
        );
        assert_eq!(
            Pacer::new("600/min".parse().unwrap(), MonotonicClock).batch(),
            1
        );
    }

    #[test]
    fn partly_filled_batches_never_exceed_the_rate_either() {
        for count in [50, 20, 7] {
            let rate = Rate {
                count,
                per: Duration::from_secs(1),
            };
            let run = simulate(
                rate,
                Duration::from_millis(4),
                Duration::from_secs(30),
                11,
                |rng| rng.usize(1..=5),
            );
            assert!(max_in_any_window(&run.sent, Duration::from_secs(1)) <= count as usize);
        }
    }

    #[test]
    fn per_minute_rates_use_a_minute_window() {
        let rate: Rate = "120/min".parse().unwrap();
        let run = simulate(
            rate,
            Duration::from_millis(3),
            Duration::from_secs(600),
            7,
            full,
        );
        assert!(max_in_any_window(&run.sent, Duration::from_secs(60)) <= 120);
        assert!(run.sent.len() as f64 >= 0.99 * 1200.0, "{}", run.sent.len());
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
