//! The dispatcher: the one place that lets requests leave, a batch at a time, at the pacer's
//! rate, each batch's attempts made durable first.
//!
//! It is generic over its `Clock`, so the loop the tests drive on a fake clock is the loop
//! real runs use: production passes `TokioClock`; the tests pause tokio's clock (it then
//! jumps from timer to timer) and add the late wake-ups real timers have.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use crate::contact::{CardKey, ContentKey};
use crate::input::RowNumber;
use crate::send::pacer::Pacer;

/// What time it is and how to wait, for the pacer and the dispatcher.
pub(crate) trait Clock:
    governor::clock::Clock<Instant = Instant> + Clone + Send + Sync + 'static
{
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}

/// tokio's clock: real time in a run; virtual time in a test that pauses it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TokioClock;

impl governor::clock::Clock for TokioClock {
    type Instant = Instant;

    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

impl Clock for TokioClock {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }
}

/// Why sending ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Every job had its turn.
    Finished,
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// GREEN-API refused the run (401, 403, 466).
    Fatal(String),
    /// The ledger could not be written, or the input read: nothing more may be sent.
    Fault(String),
    /// Held on purpose, the rest left for another run: the daily cap reached, or the window
    /// closed with `--exit-outside-window`. Not a failure.
    Held(String),
}

/// The run's stop switch: the first reason to stop wins; everyone can wait for it.
#[derive(Clone)]
pub(crate) struct Halt(Arc<watch::Sender<Option<Stop>>>);

impl Halt {
    pub(crate) fn new() -> Halt {
        Halt(Arc::new(watch::channel(None).0))
    }

    /// Stops the run for `stop`, unless it is stopped already; a hold (the cap, the window)
    /// gives way to a refusal or a file that cannot be written, which come after it from the
    /// requests still in flight and must be said (and exit) as such.
    pub(crate) fn halt(&self, stop: Stop) {
        self.0.send_if_modified(|current| {
            let replaces = match current {
                None => true,
                Some(Stop::Held(_)) => matches!(stop, Stop::Fatal(_) | Stop::Fault(_)),
                Some(_) => false,
            };
            if replaces {
                *current = Some(stop);
            }
            replaces
        });
    }

    pub(crate) fn halted(&self) -> bool {
        self.0.borrow().is_some()
    }

    pub(crate) fn stop(&self) -> Option<Stop> {
        self.0.borrow().clone()
    }

    /// Waits until the run is halted (forever if it never is).
    pub(crate) async fn until_halted(&self) {
        let mut receiver = self.0.subscribe();
        let _ = receiver.wait_for(Option::is_some).await;
    }

    /// Sleeps on `clock`, waking early if the run is halted; true if the sleep ran its course.
    pub(crate) async fn pause(&self, clock: &impl Clock, duration: Duration) -> bool {
        tokio::select! {
            _ = clock.sleep(duration) => true,
            _ = self.until_halted() => false,
        }
    }
}

/// Which row an attempt is for: what its ledger line records.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub(crate) key: ContentKey,
    pub(crate) row: RowNumber,
    /// The chat and phone, so that a lost answer can be looked up later.
    pub(crate) chat_id: String,
    pub(crate) phone_contact: u64,
    /// The card's identity, claimed in the sent-card history before the request leaves.
    pub(crate) card: CardKey,
    /// The names on the card, so that a later run can say what changed.
    pub(crate) names: Box<[String; 4]>,
    /// The card's slot in the sent-card history, once claimed (a retry keeps it).
    pub(crate) slot: Option<u32>,
    /// It goes whatever the sent-card history says (`--again`, or a corrected card).
    pub(crate) again: bool,
}

/// The dispatcher's answer to a row asking to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Go {
    /// The attempt is on disk: the request may leave. Its card's slot, when claimed.
    Send { slot: Option<u32> },
    /// Another run sent this card, or has it in flight: it does not go.
    Taken,
    /// The instance's daily cap is reached: it does not go today.
    Capped,
}

/// A row asking to go. The dispatcher answers once the row's attempt is on disk and its
/// request may leave (or its card was taken by another run), or drops `go` (a "no") when
/// the run stopped first.
pub(crate) struct Turn {
    pub(crate) attempt: Attempt,
    pub(crate) go: oneshot::Sender<Go>,
}

impl Turn {
    /// Asks for a turn; none if the run stopped first.
    pub(crate) async fn take(turns: &mpsc::UnboundedSender<Turn>, attempt: Attempt) -> Option<Go> {
        let (go, answer) = oneshot::channel();
        turns.send(Turn { attempt, go }).ok()?;
        answer.await.ok()
    }
}

/// Where the dispatcher records what it lets go.
pub(crate) trait Journal: Send + Sync {
    /// Claims these rows' cards and makes their attempts durable: the turns whose card
    /// another run has are answered [`Go::Taken`] and leave the batch. False if writing
    /// failed (the run is then halted).
    fn attempts<'t>(&'t self, turns: &'t mut Vec<Turn>) -> impl Future<Output = bool> + Send + 't;
    /// These rows' requests are about to leave.
    fn departing(&self, turns: &[Turn]);
    /// These rows' attempts were recorded, but the run stopped before their requests left.
    fn not_sent(&self, turns: &[Turn]);
    /// Room for `count` requests leaving now among those other runs on the instance send:
    /// how many may go, or how long until one may.
    fn share(&self, count: usize) -> Result<usize, Duration> {
        Ok(count)
    }
}

/// Hands out turns, a batch at a time, at the pacer's rate, until every sender is gone or the
/// run is halted; returns the achieved rate (see [`Pacer::achieved_rate`]).
///
/// A batch's attempts are made durable as soon as the batch is formed, *then* it waits for its
/// slot and leaves the moment the slot opens (in parts, when the window has room for only some
/// of it): the fsync stays out of the pacing, so the rate holds on a slow disk. Should the
/// process die during that short wait, the batch's rows read `unknown` though they never
/// left: safe (they are not resent), and at most one batch at a time is exposed.
pub(crate) async fn dispatch<C: Clock>(
    clock: C,
    mut pacer: Pacer<C>,
    mut waiting: mpsc::UnboundedReceiver<Turn>,
    journal: &impl Journal,
    halt: &Halt,
) -> Option<f64> {
    let mut batch: Vec<Turn> = Vec::with_capacity(pacer.batch());
    'batches: loop {
        let first = tokio::select! {
            turn = waiting.recv() => turn,
            _ = halt.until_halted() => None,
        };
        let Some(first) = first else { break };
        batch.push(first);
        while batch.len() < pacer.batch() {
            let Ok(turn) = waiting.try_recv() else { break };
            batch.push(turn);
        }
        if !journal.attempts(&mut batch).await {
            break;
        }
        while !batch.is_empty() {
            // The run's own pace first, then what other runs on the instance leave of the
            // second (their requests count in GREEN-API's 50 too).
            let admitted = pacer
                .admit(batch.len())
                .and_then(|admitted| journal.share(admitted));
            match admitted {
                Ok(admitted) => {
                    if halt.halted() {
                        break 'batches;
                    }
                    pacer.record(admitted);
                    journal.departing(&batch[..admitted]);
                    for turn in batch.drain(..admitted) {
                        let slot = turn.attempt.slot;
                        let _ = turn.go.send(Go::Send { slot });
                    }
                }
                Err(wait) => {
                    if !halt.pause(&clock, wait).await {
                        break 'batches;
                    }
                }
            }
        }
    }
    // Rows whose attempt was written but which never left are pending again; dropping the
    // rows still in the queue tells each of them "no".
    journal.not_sent(&batch);
    pacer.achieved_rate()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::send::pacer::Rate;
    use governor::clock::Clock as _;
    use std::sync::Mutex;

    /// A hold (the cap, the window) gives way to a refusal or a write failure that comes
    /// after it from a request in flight; nothing else replaces the first reason.
    #[test]
    fn a_hold_gives_way_to_a_refusal_and_the_first_reason_stands_otherwise() {
        let halt = Halt::new();
        halt.halt(Stop::Held("cap".into()));
        halt.halt(Stop::Interrupted);
        assert_eq!(halt.stop(), Some(Stop::Held("cap".into())));
        halt.halt(Stop::Fatal("401".into()));
        assert_eq!(halt.stop(), Some(Stop::Fatal("401".into())));
        halt.halt(Stop::Fault("disk".into()));
        halt.halt(Stop::Held("window".into()));
        assert_eq!(halt.stop(), Some(Stop::Fatal("401".into())));
    }

    /// tokio's paused clock, with every sleep waking up late by up to `lateness`, as real
    /// timers do.
    #[derive(Clone)]
    struct LateClock {
        lateness: Duration,
        rng: Arc<Mutex<fastrand::Rng>>,
    }

    impl governor::clock::Clock for LateClock {
        type Instant = Instant;
        fn now(&self) -> Instant {
            TokioClock.now()
        }
    }

    impl Clock for LateClock {
        fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
            let late = self
                .rng
                .lock()
                .unwrap()
                .u64(0..=self.lateness.as_micros() as u64);
            tokio::time::sleep(duration + Duration::from_micros(late))
        }
    }

    /// Writing a batch's attempts takes a little (virtual) time, as an fsync does.
    struct SlowDisk(Mutex<fastrand::Rng>);

    impl Journal for SlowDisk {
        fn attempts<'t>(&'t self, _: &'t mut Vec<Turn>) -> impl Future<Output = bool> + Send + 't {
            let took = Duration::from_micros(self.0.lock().unwrap().u64(0..300));
            async move {
                tokio::time::sleep(took).await;
                true
            }
        }
        fn departing(&self, _: &[Turn]) {}
        fn not_sent(&self, _: &[Turn]) {}
    }

    /// What a simulated run did: when each request left, and how many times the dispatcher
    /// let a group go.
    struct Run {
        sent: Vec<Duration>,
        achieved: Option<f64>,
    }

    /// Runs the real dispatcher for `run_for` of virtual time with `senders` rows in flight,
    /// each waiting `latency(rng)` for its answer before asking for the next turn.
    async fn simulate(
        rate: Rate,
        lateness: Duration,
        run_for: Duration,
        senders: usize,
        latency: fn(&mut fastrand::Rng) -> Duration,
    ) -> Run {
        let clock = LateClock {
            lateness,
            rng: Arc::new(Mutex::new(fastrand::Rng::with_seed(u64::from(rate.count)))),
        };
        let start = clock.now();
        let (turns, waiting) = mpsc::unbounded_channel();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let halt = Halt::new();
        for sender in 0..senders {
            let (turns, sent, halt) = (turns.clone(), sent.clone(), halt.clone());
            tokio::spawn(async move {
                let mut rng = fastrand::Rng::with_seed(sender as u64);
                let attempt = Attempt {
                    key: ContentKey(0),
                    row: RowNumber(2),
                    chat_id: "79001234567@c.us".into(),
                    phone_contact: 79011234567,
                    card: CardKey(0),
                    names: Box::default(),
                    slot: None,
                    again: false,
                };
                while Turn::take(&turns, attempt.clone()).await.is_some() {
                    sent.lock().unwrap().push(TokioClock.now() - start);
                    if !halt.pause(&TokioClock, latency(&mut rng)).await {
                        break;
                    }
                }
            });
        }
        drop(turns);
        let stopper = halt.clone();
        tokio::spawn(async move {
            tokio::time::sleep(run_for).await;
            stopper.halt(Stop::Interrupted);
        });
        let pacer = Pacer::new(rate, clock.clone());
        let disk = SlowDisk(Mutex::new(fastrand::Rng::with_seed(7)));
        let achieved = dispatch(clock, pacer, waiting, &disk, &halt).await;
        let mut sent = sent.lock().unwrap().clone();
        sent.sort_unstable();
        Run { sent, achieved }
    }

    fn instant(_: &mut fastrand::Rng) -> Duration {
        Duration::ZERO
    }

    fn slow_server(rng: &mut fastrand::Rng) -> Duration {
        Duration::from_millis(rng.u64(50..300))
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

    fn per_second(count: u32) -> Rate {
        Rate {
            count,
            per: Duration::from_secs(1),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn never_over_the_rate_and_at_least_98_percent_of_it() {
        // Timers wake up 1–5 ms late on an idle machine; 10 ms is a busy one.
        for (count, lateness_ms) in [
            (50, 2),
            (50, 10),
            (30, 5),
            (10, 2),
            (10, 10),
            (3, 1),
            (1, 5),
        ] {
            let rate = per_second(count);
            let run_for = Duration::from_secs(60);
            let lateness = Duration::from_millis(lateness_ms);
            let run = simulate(rate, lateness, run_for, 64, instant).await;
            assert!(
                max_in_any_window(&run.sent, Duration::from_secs(1)) <= count as usize,
                "{count}/s with {lateness_ms} ms lateness exceeded the rate"
            );
            let achieved = run.sent.len() as f64 / run_for.as_secs_f64();
            assert!(
                achieved >= 0.98 * f64::from(count),
                "{count}/s with {lateness_ms} ms lateness reached only {achieved:.2}/s"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_counting_on_arrival_with_15_ms_of_jitter_sees_no_second_over_the_rate() {
        let run = simulate(
            per_second(50),
            Duration::from_millis(2),
            Duration::from_secs(60),
            64,
            instant,
        )
        .await;
        // Each request arrives after a network delay of 0 to 15 ms.
        let mut rng = fastrand::Rng::with_seed(9);
        let mut arrivals: Vec<Duration> = run
            .sent
            .iter()
            .map(|t| *t + Duration::from_micros(rng.u64(0..=15_000)))
            .collect();
        arrivals.sort_unstable();
        assert!(max_in_any_window(&arrivals, Duration::from_secs(1)) <= 50);
    }

    #[tokio::test(start_paused = true)]
    async fn at_full_speed_requests_leave_five_at_a_time() {
        let rate = per_second(50);
        let run = simulate(
            rate,
            Duration::from_millis(2),
            Duration::from_secs(60),
            64,
            instant,
        )
        .await;
        let mut groups = run.sent.clone();
        groups.dedup();
        assert!(
            (580..=600).contains(&groups.len()),
            "{} dispatches in 60 s",
            groups.len()
        );
        assert!(run.sent.len() >= 2930, "{} sent", run.sent.len());
        let reported = run.achieved.expect("a run of many windows");
        assert!((49.0..=50.0).contains(&reported), "{reported}");
        let short = simulate(
            rate,
            Duration::ZERO,
            Duration::from_millis(900),
            64,
            instant,
        )
        .await;
        assert_eq!(short.achieved, None, "less than a window says nothing");
    }

    #[tokio::test(start_paused = true)]
    async fn few_rows_in_flight_on_a_slow_server_still_hold_the_rate() {
        // A low --concurrency: the dispatcher sees one or a few rows at a time, and each short
        // batch costs only its own share of the rate.
        for (count, senders) in [(50, 20), (20, 9), (7, 3)] {
            let rate = per_second(count);
            let run_for = Duration::from_secs(30);
            let run = simulate(
                rate,
                Duration::from_millis(4),
                run_for,
                senders,
                slow_server,
            )
            .await;
            assert!(max_in_any_window(&run.sent, Duration::from_secs(1)) <= count as usize);
            let achieved = run.sent.len() as f64 / run_for.as_secs_f64();
            assert!(
                achieved >= 0.98 * f64::from(count),
                "{count}/s with {senders} in flight reached only {achieved:.2}/s"
            );
            let reported = run.achieved.expect("a run of many windows");
            assert!(
                reported <= f64::from(count),
                "{count}/s reported {reported}"
            );
        }
    }

    /// 3000/min is 50/s on average, and GREEN-API counts each second: no second may hold
    /// more than 50, whatever a minute's window would allow (60 arrived in the first second).
    #[tokio::test(start_paused = true)]
    async fn a_rate_per_minute_never_gathers_into_one_second() {
        let rate: Rate = "3000/min".parse().unwrap();
        let run = simulate(
            rate,
            Duration::from_millis(3),
            Duration::from_secs(120),
            16,
            instant,
        )
        .await;
        assert!(max_in_any_window(&run.sent, Duration::from_secs(1)) <= 50);
        assert!(max_in_any_window(&run.sent, Duration::from_secs(60)) <= 3000);
    }

    #[tokio::test(start_paused = true)]
    async fn per_minute_rates_use_a_minute_window() {
        let rate: Rate = "120/min".parse().unwrap();
        let run_for = Duration::from_secs(600);
        let run = simulate(rate, Duration::from_millis(3), run_for, 8, instant).await;
        assert!(max_in_any_window(&run.sent, Duration::from_secs(60)) <= 120);
        assert!(run.sent.len() as f64 >= 0.98 * 1200.0, "{}", run.sent.len());
    }
}
