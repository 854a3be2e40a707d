//! Keeping a number safe (docs/safety.md): when cards may leave the queue (the window), how
//! often (the pace), how many a day (the cap) — decided per instance for each card before its
//! request is let go. GREEN-API sends from its queue on its own, one card per its delay, so
//! greenbulk never queues a card that would leave after the window closes.
//!
//! The decision is pure (`Gate::decide`) on a clock it is given: the plan's calendar is the
//! same arithmetic run ahead (`project`), and tests run days in microseconds.

pub mod pace;
pub mod window;

use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

pub use pace::Pace;
pub use window::{Days, Window};

/// What keeps a number safe, as given on the command line.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub window: Option<Window>,
    pub pace: Option<Pace>,
    /// At most this many cards a day from one instance, counted across runs.
    pub daily_cap: Option<u64>,
    /// Outside the window (or with the window full), end instead of waiting.
    pub exit_outside_window: bool,
    /// The zone days are counted in (the window's).
    pub tz: TimeZone,
}

impl Default for Schedule {
    fn default() -> Schedule {
        Schedule {
            window: None,
            pace: None,
            daily_cap: None,
            exit_outside_window: false,
            tz: TimeZone::system(),
        }
    }
}

impl Schedule {
    /// Whether anything here holds a card back.
    pub fn is_active(&self) -> bool {
        self.window.is_some() || self.pace.is_some() || self.daily_cap.is_some()
    }

    /// The day `at` falls on, in the schedule's zone, and when it starts and ends.
    pub(crate) fn day(&self, at: Timestamp) -> (Date, Timestamp, Timestamp) {
        let date = at.to_zoned(self.tz.clone()).date();
        let start = |d: Date| {
            d.to_zoned(self.tz.clone())
                .map_or(Timestamp::MAX, |z| z.timestamp())
        };
        let next = date.tomorrow().unwrap_or(date);
        (date, start(date), start(next))
    }
}

/// What to do with an instance's next card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    Go,
    /// Not before `until`: the pace's next interval, or (`closed`) the window's next opening.
    Wait {
        until: Timestamp,
        closed: bool,
    },
    /// Not in this run: why (the daily cap, or the window with `--exit-outside-window`).
    Hold(String),
}

/// One instance's gate: the schedule, and what it has let through so far.
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    schedule: std::sync::Arc<Schedule>,
    /// The instance's delay between two messages leaving its queue.
    delay: Duration,
    /// When the queue will have sent everything let through so far.
    queue_free_at: Timestamp,
    /// The pace: not before this, and the interval drawn for it (the next card's shared
    /// slot is taken with the same).
    next_at: Option<Timestamp>,
    next_interval: Option<Duration>,
    rng: fastrand::Rng,
    /// The pace's mean instead of a random draw (the plan's projection).
    mean: bool,
    /// The day counted for the cap, and the cards sent on it.
    today: Option<(Date, u64)>,
    /// The run's rate, as the least time between two cards (see [`Gate::spaced`]), and when
    /// the last one went.
    spacing: Duration,
    last_went: Option<Timestamp>,
}

impl Gate {
    /// A gate for an instance whose queue sends one card per `delay` and holds `queued`
    /// now.
    pub(crate) fn new(
        schedule: std::sync::Arc<Schedule>,
        delay: Duration,
        queued: u64,
        now: Timestamp,
    ) -> Gate {
        // The card at the queue's head may leave a whole delay from now (the one before it
        // may have just left), and each after it a delay later: the first card let through
        // leaves by `(queued + 1) × delay` at the latest, as the plan reckons (a hostile
        // audit's finding: reckoned `queued × delay`, a card left after the window closed).
        let backlog =
            delay.saturating_mul(u32::try_from(queued.saturating_add(1)).unwrap_or(u32::MAX));
        Gate {
            schedule,
            delay,
            queue_free_at: add(now, backlog),
            next_at: None,
            next_interval: None,
            rng: fastrand::Rng::new(),
            mean: false,
            today: None,
            spacing: Duration::ZERO,
            last_went: None,
        }
    }

    /// The gate of a run that lets a card leave at most every `spacing` (its rate): a card
    /// is decided on when the rate lets it leave, not before, so that the window is judged
    /// at the moment the card goes.
    pub(crate) fn spaced(self, spacing: Duration) -> Gate {
        Gate { spacing, ..self }
    }

    /// What to do with the next card at `now`. `sent_between(from, to)`: how many cards
    /// this machine sent from the instance in that time (the sent-card history).
    pub(crate) fn decide(
        &mut self,
        now: Timestamp,
        sent_between: &mut dyn FnMut(Timestamp, Timestamp) -> u64,
    ) -> Decision {
        self.decide_on(now, sent_between, true)
    }

    /// [`Gate::decide`] for a card's `first` attempt, or for one more after GREEN-API's
    /// "not now": the day's count has it already, and the cap does not hold it back.
    pub(crate) fn decide_on(
        &mut self,
        now: Timestamp,
        sent_between: &mut dyn FnMut(Timestamp, Timestamp) -> u64,
        first: bool,
    ) -> Decision {
        let schedule = self.schedule.clone();
        if let Some(cap) = schedule.daily_cap.filter(|_| first) {
            let (date, start, end) = schedule.day(now);
            if self.today.is_none_or(|(day, _)| day != date) {
                self.today = Some((date, sent_between(start, end)));
            }
            if self.today.is_some_and(|(_, sent)| sent >= cap) {
                return Decision::Hold(format!(
                    "daily cap reached: {cap} cards on {date} from this instance \
                     (--daily-cap; in this run, a card GREEN-API refused counts too); --resume \
                     sends the rest on another day"
                ));
            }
        }
        if let Some(last) = self.last_went
            && now < add(last, self.spacing)
        {
            return Decision::Wait {
                until: add(last, self.spacing),
                closed: false,
            };
        }
        if let Some(window) = &schedule.window {
            let (opens, closes) = window.stretch(now);
            let leaves = now.max(self.queue_free_at);
            let next = if now < opens {
                Some(opens)
            } else if leaves >= closes {
                // The window is full: what the queue holds leaves before it closes, and no
                // more than that is queued.
                Some(window.stretch(closes).0)
            } else {
                None
            };
            if let Some(opens) = next {
                if schedule.exit_outside_window {
                    return Decision::Hold(format!(
                        "outside the sending window ({window}); it opens {} \
                         (--exit-outside-window: --resume then sends the rest)",
                        window.when(opens, now)
                    ));
                }
                return Decision::Wait {
                    until: opens,
                    closed: true,
                };
            }
        }
        if let Some(next) = self.next_at
            && now < next
        {
            return Decision::Wait {
                until: next,
                closed: false,
            };
        }
        Decision::Go
    }

    /// A card was let through at `now`: its `first` attempt, or one more after GREEN-API's
    /// "not now" (which the pace spaces as any request, but which is not one more card in
    /// the queue or the day's count).
    pub(crate) fn went(&mut self, now: Timestamp, first: bool) {
        self.last_went = Some(now);
        if first {
            self.queue_free_at = add(now.max(self.queue_free_at), self.delay);
            if let Some((_, sent)) = &mut self.today {
                *sent += 1;
            }
        }
        if let Some(pace) = self.schedule.pace {
            let interval = if self.mean {
                pace.mean(self.delay)
            } else {
                pace.draw(&mut self.rng, self.delay)
            };
            self.next_at = Some(add(now, interval));
            self.next_interval = Some(interval);
        }
    }

    /// The pace's interval before the next card (none without a pace): the one drawn when
    /// the last card went, else a new draw. The next card's slot among every run's on the
    /// instance is taken with it (see `engine::admit`).
    pub(crate) fn draw(&mut self) -> Option<Duration> {
        let pace = self.schedule.pace?;
        Some(
            self.next_interval
                .take()
                .unwrap_or_else(|| pace.draw(&mut self.rng, self.delay)),
        )
    }

    /// The zone the schedule's days are in (an IANA name; empty for the system's).
    pub(crate) fn zone(&self) -> String {
        self.schedule.tz.iana_name().unwrap_or_default().to_string()
    }

    /// When the last card let through leaves the queue.
    fn last_leaves(&self) -> Timestamp {
        self.queue_free_at
            .checked_sub(self.delay)
            .unwrap_or(self.queue_free_at)
    }
}

/// A run's wall clock: the system's (read each time: a laptop that slept, or a clock set
/// right, is seen at once); or, for the session tests, a chosen start plus tokio's time
/// since, so that a night's wait on tokio's paused clock takes no real time.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WallClock {
    System,
    From {
        wall: Timestamp,
        instant: tokio::time::Instant,
    },
}

impl WallClock {
    /// The system's clock, or one reading `wall` now (`Some`, for tests).
    pub(crate) fn starting_at(wall: Option<Timestamp>) -> WallClock {
        match wall {
            None => WallClock::System,
            Some(wall) => WallClock::From {
                wall,
                instant: tokio::time::Instant::now(),
            },
        }
    }

    pub(crate) fn now(&self) -> Timestamp {
        match self {
            WallClock::System => Timestamp::now(),
            WallClock::From { wall, instant } => add(*wall, instant.elapsed()),
        }
    }

    /// How long from now until `at` (zero if it is past).
    pub(crate) fn until(&self, at: Timestamp) -> Duration {
        Duration::try_from(at.duration_since(self.now())).unwrap_or(Duration::ZERO)
    }
}

/// Unix milliseconds, as the sent-card history stamps its slots.
pub(crate) fn unix_ms(at: Timestamp) -> u64 {
    u64::try_from(at.as_millisecond()).unwrap_or(0)
}

fn add(at: Timestamp, d: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|d| at.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

/// What the plan expects of one instance's share under the schedule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Projection {
    /// Cards this run lets through (the cap may hold back the rest).
    pub going: u64,
    /// When the last of them should leave the queue.
    #[serde(serialize_with = "as_text")]
    pub last_leaves: Timestamp,
    /// On how many days (in the schedule's zone) cards go.
    pub days: u32,
    /// Why the rest do not go in this run, when some do not.
    pub held: Option<String>,
}

fn as_text<S: serde::Serializer>(value: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// Runs `cards` through a gate like the instance's, ahead of time: the pace at its mean, at
/// most `rate` a second, `sent_today` already sent today.
pub(crate) fn project(
    schedule: std::sync::Arc<Schedule>,
    delay: Duration,
    queued: u64,
    rate: f64,
    cards: u64,
    sent_today: u64,
    now: Timestamp,
) -> Projection {
    let mut gate = Gate::new(schedule.clone(), delay, queued, now);
    gate.mean = true;
    let today = schedule.day(now).0;
    let mut sent = |from: Timestamp, _to: Timestamp| {
        if from.to_zoned(schedule.tz.clone()).date() == today {
            sent_today
        } else {
            0
        }
    };
    let spacing = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let mut at = now;
    let mut going = 0;
    let mut days = 0;
    let mut last_day = None;
    let mut held = None;
    // Each step lets a card through or jumps to when one may go: bounded either way.
    let mut steps = cards.saturating_mul(2).saturating_add(1_000);
    while going < cards && steps > 0 {
        steps -= 1;
        match gate.decide(at, &mut sent) {
            Decision::Go => {
                gate.went(at, true);
                going += 1;
                let day = schedule.day(at).0;
                if last_day != Some(day) {
                    days += 1;
                    last_day = Some(day);
                }
                at = add(at, spacing);
            }
            Decision::Wait { until, .. } => at = until.max(at),
            Decision::Hold(why) => {
                held = Some(why);
                break;
            }
        }
    }
    Projection {
        going,
        last_leaves: gate.last_leaves().max(now),
        days,
        held,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse::<jiff::civil::DateTime>()
            .unwrap()
            .to_zoned(TimeZone::get("Europe/Moscow").unwrap())
            .unwrap()
            .timestamp()
    }

    fn schedule(window: Option<&str>, pace: Option<&str>, cap: Option<u64>) -> Arc<Schedule> {
        let tz = TimeZone::get("Europe/Moscow").unwrap();
        Arc::new(Schedule {
            window: window.map(|hours| {
                let (from, to) = window::parse_hours(hours).unwrap();
                Window {
                    from,
                    to,
                    days: Days::parse("mon-fri").unwrap(),
                    tz: tz.clone(),
                }
            }),
            pace: pace.map(|p| p.parse().unwrap()),
            daily_cap: cap,
            exit_outside_window: false,
            tz,
        })
    }

    /// Lets cards through as the engine does, waiting when told; returns when each went.
    fn run(gate: &mut Gate, cards: usize, mut now: Timestamp) -> Vec<Timestamp> {
        let mut went = Vec::new();
        let mut none = |_: Timestamp, _: Timestamp| 0;
        while went.len() < cards {
            match gate.decide(now, &mut none) {
                Decision::Go => {
                    gate.went(now, true);
                    went.push(now);
                    now = add(now, Duration::from_millis(100));
                }
                Decision::Wait { until, .. } => now = until,
                Decision::Hold(why) => panic!("{why}"),
            }
        }
        went
    }

    #[test]
    fn no_card_leaves_the_queue_outside_the_window() {
        // 2026-11-27 is a Friday; the queue sends one a minute.
        let s = schedule(Some("09:00-18:00"), None, None);
        let delay = Duration::from_secs(60);
        let mut gate = Gate::new(s.clone(), delay, 0, at("2026-11-27T17:50"));
        let went = run(&mut gate, 20, at("2026-11-27T17:50"));
        let window = s.window.as_ref().unwrap();
        // Nine fit before 18:00: the first may leave a minute from now (the queue's last
        // message may have just left), each after it a minute later; the rest wait for
        // Monday 09:00.
        assert_eq!(
            went[8],
            at("2026-11-27T17:50")
                .checked_add(jiff::SignedDuration::from_millis(800))
                .unwrap()
        );
        assert_eq!(went[9], at("2026-11-30T09:00"));
        // Each leaves the queue a minute after the one before, at the latest, inside the
        // window.
        let mut free = add(at("2026-11-27T17:50"), delay);
        for queued in &went {
            let leaves = (*queued).max(free);
            assert!(window.is_open(leaves), "{leaves}");
            free = add(leaves, delay);
        }
    }

    /// Three messages already in the queue: the third leaves by three delays from now, the
    /// first card let through by four (a hostile audit's finding: reckoned from the queue's
    /// length alone, the last card let through left 5 s after the window closed).
    #[test]
    fn a_queue_that_holds_messages_leaves_its_last_delay_to_the_window() {
        let s = schedule(Some("09:00-18:00"), None, None);
        let delay = Duration::from_secs(60);
        let now = at("2026-11-27T17:50");
        let mut gate = Gate::new(s, delay, 3, now);
        let went = run(&mut gate, 10, now);
        // 17:54, 17:55 … 17:59: six.
        let today = went.iter().filter(|w| **w < at("2026-11-28T00:00")).count();
        assert_eq!(today, 6, "{went:?}");
    }

    #[test]
    fn the_pace_spaces_cards_at_random_within_its_range() {
        let s = schedule(None, Some("8s..20s"), None);
        let mut gate = Gate::new(s, Duration::from_millis(500), 0, at("2026-11-27T10:00"));
        let went = run(&mut gate, 50, at("2026-11-27T10:00"));
        let gaps: Vec<i64> = went
            .windows(2)
            .map(|w| w[1].duration_since(w[0]).as_millis() as i64)
            .collect();
        assert!(
            gaps.iter().all(|g| (8_000..=20_000).contains(g)),
            "{gaps:?}"
        );
        assert!(gaps.iter().any(|g| *g != gaps[0]), "not all equal");
    }

    #[test]
    fn the_daily_cap_counts_the_history_and_resets_the_next_day() {
        let s = schedule(None, None, Some(5));
        let mut gate = Gate::new(s, Duration::from_millis(500), 0, at("2026-11-27T10:00"));
        let friday = at("2026-11-27T00:00");
        let mut history = |from: Timestamp, _to: Timestamp| if from == friday { 3 } else { 0 };
        let mut now = at("2026-11-27T10:00");
        let mut went = 0;
        while gate.decide(now, &mut history) == Decision::Go {
            gate.went(now, true);
            went += 1;
            now = add(now, Duration::from_secs(1));
        }
        assert_eq!(went, 2, "3 sent earlier today, 5 a day");
        let held = gate.decide(now, &mut history);
        assert!(
            matches!(&held, Decision::Hold(why) if why.contains("daily cap reached: 5 cards on 2026-11-27"))
        );
        assert_eq!(
            gate.decide(at("2026-11-28T00:00"), &mut history),
            Decision::Go
        );
    }

    #[test]
    fn the_projection_is_a_calendar() {
        // 7,412 cards, 09:00–18:00 on working days, one every 8–20 s (14 s on average): about
        // 2,314 a day, so four working days from a Friday morning.
        let s = schedule(Some("09:00-18:00"), Some("8s..20s"), None);
        let p = project(
            s,
            Duration::from_secs(1),
            0,
            10.0,
            7412,
            0,
            at("2026-11-27T09:00"),
        );
        assert_eq!(p.going, 7412);
        assert_eq!(p.days, 4);
        let last = p
            .last_leaves
            .to_zoned(TimeZone::get("Europe/Moscow").unwrap());
        assert_eq!(last.date().to_string(), "2026-12-02", "the Wednesday after");
        // The cap stops the projection.
        let capped = project(
            schedule(None, None, Some(100)),
            Duration::from_secs(1),
            0,
            10.0,
            500,
            40,
            at("2026-11-27T09:00"),
        );
        assert_eq!(capped.going, 60);
    }
}
