//! Pacing: never more than the rate in any window, and no less than the rate either.
//!
//! Two mechanisms work together, on one injectable clock:
//! - a `governor` GCRA limiter spaces requests evenly at the rate. With a burst of 1 it would
//!   undershoot (every late wake-up pushes the schedule back for good), so it gets a burst of
//!   2 for sub-second spacings: a late request lets the next one catch up.
//! - a sliding window of the last N dispatch instants forbids an (N+1)th request inside any
//!   window, which that catch-up (or governor's initial burst) could otherwise allow.
//!
//! The dispatcher asks [`Pacer::wait_time`], sleeps, and records the instant it really sent
//! with [`Pacer::record`], so the window holds true send times.

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
    clock: C,
    gcra: Gcra<C>,
    /// Dispatch instants within the last window, oldest first.
    window: VecDeque<C::Instant>,
    /// The first and last dispatch and how many there were, for the achieved rate.
    first: Option<C::Instant>,
    last: Option<C::Instant>,
    dispatched: u64,
}

impl<C: Clock + Clone> Pacer<C> {
    pub fn new(rate: Rate, clock: C) -> Pacer<C> {
        let burst = if rate.interval() < Duration::from_secs(1) && rate.count >= 2 {
            2
        } else {
            1
        };
        let quota = Quota::with_period(rate.interval())
            .expect("a rate is never zero")
            .allow_burst(NonZeroU32::new(burst).expect("burst is 1 or 2"));
        let gcra = RateLimiter::direct_with_clock(quota, clock.clone());
        // Start with the catch-up allowance spent, so the first two requests are spaced too.
        if burst > 1 {
            let _ = gcra.check();
        }
        Pacer {
            rate,
            gcra,
            clock,
            window: VecDeque::with_capacity(rate.count as usize + 1),
            first: None,
            last: None,
            dispatched: 0,
        }
    }

    /// How long to wait before the next request may go; zero means now. When it returns zero
    /// the caller must send and then call [`Pacer::record`].
    pub fn wait_time(&mut self) -> Duration {
        let now = self.clock.now();
        let window = self.rate.per + JITTER_MARGIN;
        while let Some(oldest) = self.window.front() {
            if Duration::from(now.duration_since(*oldest)) >= window {
                self.window.pop_front();
            } else {
                break;
            }
        }
        if self.window.len() >= self.rate.count as usize {
            let oldest = self.window[0];
            return window - Duration::from(now.duration_since(oldest));
        }
        match self.gcra.check() {
            Ok(()) => Duration::ZERO,
            Err(not_until) => not_until.wait_time_from(now).max(Duration::from_nanos(1)),
        }
    }

    /// Notes that a request was really sent now.
    pub fn record(&mut self) {
        let now = self.clock.now();
        self.window.push_back(now);
        self.first.get_or_insert(now);
        self.last = Some(now);
        self.dispatched += 1;
    }

    /// Requests per second between the first and the last dispatch, once there were more
    /// than a window's worth (a shorter run says nothing about the rate).
    pub fn achieved_rate(&self) -> Option<f64> {
        let span = Duration::from(self.last?.duration_since(self.first?)).as_secs_f64();
        (self.dispatched > u64::from(self.rate.count) && span > 0.0)
            .then(|| (self.dispatched - 1) as f64 / span)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    /// Drives a pacer on a fake clock whose sleeps wake up late by up to `lateness`, the way
    /// real timers do, and returns the send instants.
    fn simulate(rate: Rate, lateness: Duration, run_for: Duration, seed: u64) -> Vec<Duration> {
        let clock = FakeRelativeClock::default();
        let mut pacer = Pacer::new(rate, clock.clone());
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut sent = Vec::new();
        let start = clock.now();
        loop {
            let now = Duration::from(clock.now().duration_since(start));
            if now >= run_for {
                return sent;
            }
            let wait = pacer.wait_time();
            if wait.is_zero() {
                pacer.record();
                sent.push(now);
                // Writing the ledger and the request takes a little time too.
                clock.advance(Duration::from_micros(rng.u64(0..300)));
            } else {
                let late = rng.u64(0..=lateness.as_micros() as u64);
                clock.advance(wait + Duration::from_micros(late));
            }
        }
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
        for (count, lateness_ms) in [(50, 2), (10, 2), (10, 15), (3, 1), (1, 5)] {
            let rate = Rate {
                count,
                per: Duration::from_secs(1),
            };
            let run_for = Duration::from_secs(60);
            let sent = simulate(
                rate,
                Duration::from_millis(lateness_ms),
                run_for,
                count.into(),
            );
            assert!(
                max_in_any_window(&sent, Duration::from_secs(1)) <= count as usize,
                "{count}/s with {lateness_ms} ms lateness exceeded the rate"
            );
            let achieved = sent.len() as f64 / run_for.as_secs_f64();
            assert!(
                achieved >= 0.99 * f64::from(count),
                "{count}/s with {lateness_ms} ms lateness reached only {achieved:.2}/s"
            );
        }
    }

    #[test]
    fn per_minute_rates_use_a_minute_window() {
        let rate: Rate = "120/min".parse().unwrap();
        let sent = simulate(rate, Duration::from_millis(3), Duration::from_secs(600), 7);
        assert!(max_in_any_window(&sent, Duration::from_secs(60)) <= 120);
        assert!(sent.len() as f64 >= 0.99 * 1200.0, "{}", sent.len());
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
