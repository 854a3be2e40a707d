//! Sending the jobs: each paced by the dispatcher, recorded in the ledger before it leaves,
//! retried when GREEN-API says "not now", and stopped cleanly on a fatal answer or Ctrl-C.
//!
//! One task per job, at most `concurrency` at a time; enough of them wait on slow answers at
//! once to hold the rate when the API is slow. A task asks the dispatcher for its turn (a FIFO
//! queue, so requests leave in input order) before every attempt.

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use std::sync::atomic::{AtomicU64, Ordering};

use crate::client::{Answer, Gateway};
use crate::record::sent::{
    Claim, Claimed, ClaimsLock, DayCap, Histories, SentCards, Settled, claim_across,
};
use crate::record::{Event, Ledger, RecordError};
use crate::send::dispatch::{self, Attempt, Go, Halt, Journal, Stop, TokioClock, Turn};
use crate::send::events::{self, Events, RowOutcome};
use crate::send::pacer::{Pacer, Rate};
use crate::send::schedule::{Decision, Gate, Schedule, WallClock, unix_ms};
use crate::{read, write};

/// One request to make: a sendable row's body, serialised once.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) attempt: Attempt,
    pub(crate) body: Vec<u8>,
}

/// How to send: the rate, how many in flight, how hard to retry.
#[derive(Debug, Clone)]
pub struct Settings {
    pub rate: Rate,
    pub concurrency: u32,
    /// Tries per row for retryable answers before the row is `failed`.
    pub max_attempts: u32,
    /// The first retry waits about this long; each further one twice as long, up to 30 s.
    pub backoff: Duration,
    /// While sending, the instance's state is asked this often (none: not asked): one that
    /// turns yellowCard, blocked, notAuthorized or suspended stops its lane.
    pub state_every: Option<Duration>,
}

/// One instance's sending: where its requests go, where what happens is recorded (the
/// results file's ledger, the instance's sent-card history) and told, how to send, and its
/// stop switches: its own (GREEN-API stopped this instance) and the run's (Ctrl-C, or a
/// file that can no longer be written, which stops every lane).
pub(crate) struct Lane {
    pub(crate) instance: String,
    pub(crate) gateway: Arc<dyn Gateway>,
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) cards: Arc<RwLock<SentCards>>,
    /// Every history the run looks at (see [`Histories`]), read afresh at each claim: a card
    /// another instance's holds, or another lane claimed, does not go from this one.
    pub(crate) histories: Arc<Histories>,
    /// The machine's claims lock, this lane's own handle on it.
    pub(crate) claims: Arc<ClaimsLock>,
    pub(crate) settings: Settings,
    pub(crate) counters: Arc<Counters>,
    pub(crate) events: Events,
    pub(crate) halt: Halt,
    pub(crate) run: Halt,
    /// The window, pace and cap each card passes before it goes, each attempt (a retry too),
    /// one card at a time: held from its decision until its request leaves, so that what
    /// the gate counts as gone is what left (none: nothing holds it).
    pub(crate) gate: Option<tokio::sync::Mutex<Gate>>,
    /// The schedule, for the daily cap counted again as each card is claimed.
    pub(crate) schedule: Option<Arc<Schedule>>,
    /// Why no new card goes (the cap, the window with `--exit-outside-window`), once one was
    /// held back: the rest stay pending, while cards already counted (a retry) still go.
    pub(crate) held: std::sync::OnceLock<String>,
    /// The instance's state when the run asked before sending.
    pub(crate) state: String,
    pub(crate) clock: WallClock,
}

/// Outcome counts, updated by the senders of every lane, read for the run's summary.
#[derive(Debug, Default)]
pub struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    unknown: AtomicU64,
    retried: AtomicU64,
    /// Taken at the last moment by another run (on any instance of this machine), or by
    /// another lane of this run.
    already_sent: AtomicU64,
}

impl Counters {
    /// The counts of several lanes together.
    pub fn total<'c>(all: impl IntoIterator<Item = &'c Counters>) -> Counters {
        let total = Counters::default();
        for counters in all {
            for (sum, one) in [
                (&total.sent, &counters.sent),
                (&total.failed, &counters.failed),
                (&total.unknown, &counters.unknown),
                (&total.retried, &counters.retried),
                (&total.already_sent, &counters.already_sent),
            ] {
                sum.fetch_add(one.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
        total
    }

    fn add(&self, outcome: &RowOutcome) {
        let counter = match outcome {
            RowOutcome::Sent { .. } => &self.sent,
            RowOutcome::Failed { .. } => &self.failed,
            RowOutcome::Unknown { .. } => &self.unknown,
            RowOutcome::Retrying { .. } => &self.retried,
            RowOutcome::Taken => &self.already_sent,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// (sent, failed, unknown, retries).
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        (
            get(&self.sent),
            get(&self.failed),
            get(&self.unknown),
            get(&self.retried),
        )
    }
}

/// How sending went.
#[derive(Debug, Clone)]
pub(crate) struct Sending {
    pub(crate) stop: Stop,
    /// Requests per second over the whole windows of the run (see [`Pacer::achieved_rate`]).
    pub(crate) achieved_rate: Option<f64>,
}

type Shared = Lane;

impl Lane {
    /// Counts a row's outcome and tells it.
    fn tell(&self, row: crate::input::RowNumber, outcome: RowOutcome) {
        self.counters.add(&outcome);
        self.events.send(events::Event::Row {
            row,
            instance: self.instance.clone(),
            outcome,
        });
    }

    /// Records an event; false, and the run halted, if the ledger refused.
    fn record(&self, event: Event) -> bool {
        self.check(self.ledger.record(&event))
    }

    fn check(&self, written: std::io::Result<()>) -> bool {
        match written {
            Ok(()) => true,
            Err(e) => {
                let error = RecordError::write(self.ledger.path(), e);
                self.fault(error.to_string());
                false
            }
        }
    }

    /// Writes what became of a claimed card into the sent-card history. A failure there
    /// stops the run: its second fence against sending twice would no longer hold.
    fn settle(&self, attempt: &Attempt, settled: Settled) {
        let Some(slot) = attempt.slot else { return };
        let written = write(&self.cards).settle(slot, attempt.card, self.now_ms(), settled);
        if let Err(e) = written {
            self.fault(e.to_string());
        }
    }

    /// Now on the run's wall clock, in Unix ms: what the ledger and the sent-card history
    /// stamp (the daily cap counts by it).
    fn now_ms(&self) -> u64 {
        unix_ms(self.clock.now())
    }

    /// A file can no longer be written: this lane and every other stop.
    fn fault(&self, reason: String) {
        self.halt.halt(Stop::Fault(reason.clone()));
        self.run.halt(Stop::Fault(reason));
    }
}

impl Journal for Arc<Shared> {
    /// Claims the cards in the sent-card history (another run may have sent some), then
    /// writes the attempts of the rest and waits for them to reach the disk. Both run on a
    /// blocking thread: a file lock held by another run, or a slow disk, must not hold up
    /// answers, or requests already let go.
    fn attempts<'t>(&'t self, turns: &'t mut Vec<Turn>) -> impl Future<Output = bool> + Send + 't {
        let at = self.now_ms();
        let cap = self.schedule.as_ref().and_then(|schedule| {
            let (_, from, to) = schedule.day(self.clock.now());
            Some(DayCap {
                from: unix_ms(from),
                to: unix_ms(to),
                most: schedule.daily_cap?,
            })
        });
        let wanted: Vec<Claim> = turns
            .iter()
            .map(|turn| Claim {
                card: turn.attempt.card,
                slot: turn.attempt.slot,
                again: turn.attempt.again,
            })
            .collect();
        let shared = self.clone();
        async move {
            let (cards, histories, claims) = (
                shared.cards.clone(),
                shared.histories.clone(),
                shared.claims.clone(),
            );
            let claimed = tokio::task::spawn_blocking(move || {
                claim_across(&cards, &histories, &claims, &wanted, at, cap)
            })
            .await
            .unwrap_or_else(|e| panic!("claiming cards panicked: {e}"));
            let claimed = match claimed {
                Ok(claimed) => claimed,
                Err(e) => {
                    shared.fault(e.to_string());
                    return false;
                }
            };
            let mut kept = Vec::with_capacity(turns.len());
            for (mut turn, claimed) in turns.drain(..).zip(claimed) {
                match claimed {
                    Claimed::Slot(slot) => {
                        turn.attempt.slot = Some(slot);
                        kept.push(turn);
                    }
                    Claimed::Taken => {
                        let _ = turn.go.send(Go::Taken);
                    }
                    Claimed::Capped => {
                        let _ = turn.go.send(Go::Capped);
                    }
                }
            }
            *turns = kept;
            let events: Vec<Event> = turns
                .iter()
                .map(|turn| Event::Attempt {
                    key: turn.attempt.key,
                    row: turn.attempt.row,
                    at: Some(at),
                    chat: Some(turn.attempt.chat_id.clone()),
                    phone: Some(turn.attempt.phone_contact),
                    names: Some(turn.attempt.names.clone()),
                    instance: Some(shared.instance.clone()),
                })
                .collect();
            if events.is_empty() {
                return true;
            }
            if !shared.check(shared.ledger.append(&events)) {
                return false;
            }
            // The claims reach the disk with the attempts, before any request leaves: after
            // a power cut the history still holds every card that may have gone.
            let (ledger, cards) = (shared.ledger.clone(), shared.cards.clone());
            let synced = tokio::task::spawn_blocking(move || {
                crate::read(&cards).sync()?;
                ledger.sync()
            })
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
            shared.check(synced)
        }
    }

    fn departing(&self, _: &[Turn]) {
        self.ledger.depart();
    }

    fn not_sent(&self, turns: &[Turn]) {
        for turn in turns {
            self.record(Event::NotSent {
                key: turn.attempt.key,
                row: turn.attempt.row,
                reason: "the run stopped before this request was sent".into(),
            });
            self.settle(&turn.attempt, Settled::Void);
        }
    }

    fn share(&self, count: usize) -> Result<usize, Duration> {
        self.gateway.reserve_sends(count)
    }
}

/// Sends every job from `jobs` until they run out or the lane is halted (the caller halts
/// it on Ctrl-C; a fatal answer halts it from within).
pub(crate) async fn run(lane: Lane, mut jobs: mpsc::Receiver<Job>) -> Sending {
    let settings = lane.settings.clone();
    let halt = lane.halt.clone();
    let shared = Arc::new(lane);
    let started = tokio::time::Instant::now();
    let watcher = settings
        .state_every
        .map(|every| tokio::spawn(watch_state(shared.clone(), every)));

    let (turns, waiting) = mpsc::unbounded_channel();
    let dispatcher = {
        let shared = shared.clone();
        let pacer = Pacer::new(settings.rate, TokioClock);
        tokio::spawn(async move {
            let halt = shared.halt.clone();
            dispatch::dispatch(TokioClock, pacer, waiting, &shared, &halt).await
        })
    };

    let permits = Arc::new(Semaphore::new(settings.concurrency as usize));
    let mut tasks = JoinSet::new();
    loop {
        let job = tokio::select! {
            job = jobs.recv() => job,
            _ = halt.until_halted() => None,
        };
        let Some(job) = job else { break };
        // Held back: this job and those behind it stay pending, saying why.
        if shared.held.get().is_some() {
            break;
        }
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("never closed"),
            _ = halt.until_halted() => break,
        };
        let shared = shared.clone();
        let turns = turns.clone();
        tasks.spawn(async move {
            deliver(&shared, &turns, job).await;
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    // Once every task is done, no one can ask for a turn and the dispatcher ends.
    drop(turns);
    while tasks.join_next().await.is_some() {}
    if let Some(watcher) = watcher {
        watcher.abort();
        // A run shorter than the watch's first look is looked at once at its end: cards
        // queued on a number WhatsApp flagged meanwhile sit in its queue, and the run says
        // so (exit 4) rather than end as if all were well. Briefly: an instance that does
        // not answer at once does not hold the run's end.
        let never_looked = settings
            .state_every
            .is_some_and(|every| started.elapsed() < every);
        if never_looked && !halt.halted() && shared.counters.sent.load(Ordering::Relaxed) > 0 {
            let asked = tokio::time::timeout(FINAL_LOOK_WITHIN, shared.gateway.state());
            let state = tokio::select! {
                state = asked => state.ok(),
                _ = halt.until_halted() => None,
            };
            if let Some(reason) =
                state.and_then(|state| state_stops(&shared, &state, &shared.state))
            {
                halt.halt(Stop::Fatal(reason));
            }
        }
    }
    let achieved_rate = dispatcher.await.unwrap_or(None);
    if let Err(e) = read(&shared.cards).sync() {
        shared.fault(format!("cannot write the sent-card history: {e}"));
    }
    Sending {
        stop: halt
            .stop()
            .or_else(|| shared.held.get().cloned().map(Stop::Held))
            .unwrap_or(Stop::Finished),
        achieved_rate,
    }
}

/// How long the last look at a short run's instance may take (see `run`).
const FINAL_LOOK_WITHIN: Duration = Duration::from_secs(10);

/// What the gate said of a card.
enum Admitted {
    /// It may go: decided at this moment.
    Go(jiff::Timestamp),
    Held(String),
    /// The lane was halted while the card waited.
    Halted,
}

/// A row's turn to go, through the gate when the lane has one: the gate is held from its
/// decision until the dispatcher answers, and told that the card went only when its request
/// may leave. A card the gate holds back for good holds the lane (this row and those behind
/// it stay pending, saying why; those that left before it are answered as they come, and
/// tried again if GREEN-API says "not now").
async fn turn(
    shared: &Shared,
    turns: &mpsc::UnboundedSender<Turn>,
    attempt: Attempt,
    first: bool,
) -> Option<Go> {
    let Some(gate) = &shared.gate else {
        return Turn::take(turns, attempt).await;
    };
    let mut gate = gate.lock().await;
    // Halted, or held, while it waited for the gate: nothing more is decided (nor a pace
    // slot taken).
    if shared.halt.halted() || (first && shared.held.get().is_some()) {
        return None;
    }
    let decided = match admit(&mut gate, shared, first).await {
        Admitted::Go(at) => at,
        Admitted::Held(reason) => {
            let _ = shared.held.set(reason);
            return None;
        }
        Admitted::Halted => return None,
    };
    let go = Turn::take(turns, attempt).await;
    if let Some(Go::Send { .. }) = go {
        // From the decision: the claim and its sync before the request leaves are not
        // added to every interval.
        gate.went(decided, first);
    }
    go
}

/// Holds a card until the schedule lets it go (the window, the pace), saying at once until
/// when when the window is closed; or holds it back for good (the cap, the window with
/// `--exit-outside-window`).
async fn admit(gate: &mut Gate, shared: &Shared, first: bool) -> Admitted {
    let mut told = None;
    // With a pace, the card's slot among every run's on the instance, once taken.
    let mut slot_taken = false;
    loop {
        let now = shared.clock.now();
        let cards = shared.cards.clone();
        // A history that cannot be read counts as full: the safe side.
        let mut sent_between = |from, to| {
            read(&cards)
                .sent_between(unix_ms(from), unix_ms(to))
                .unwrap_or(u64::MAX)
        };
        match gate.decide_on(now, &mut sent_between, first) {
            Decision::Go => {
                // The pace holds for the number: the card waits for its slot after the last
                // card any run let go, then is decided on again (the window may have closed).
                let interval = if slot_taken { None } else { gate.draw() };
                let Some(interval) = interval else {
                    return Admitted::Go(now);
                };
                slot_taken = true;
                let wait = shared.gateway.pace_slot(interval);
                if !wait.is_zero() && !shared.halt.pause(&TokioClock, wait).await {
                    return Admitted::Halted;
                }
            }
            Decision::Hold(reason) => return Admitted::Held(reason),
            Decision::Wait { until, closed } => {
                // A slot taken before a wait is stale after it: the card takes a new one.
                slot_taken = false;
                if closed && told != Some(until) {
                    told = Some(until);
                    shared.events.note(events::Note::OutsideWindow {
                        instance: shared.instance.clone(),
                        opens: until,
                        zone: gate.zone(),
                    });
                }
                // A minute at most, then the clock is read again: a machine that slept
                // through the wait is not late for the window.
                let wait = shared.clock.until(until).min(Duration::from_secs(60));
                if !shared.halt.pause(&TokioClock, wait).await {
                    return Admitted::Halted;
                }
            }
        }
    }
}

/// Asks the instance's state every `every` while the lane sends; a state that cannot send
/// stops the lane at once (its rows stay pending, saying the state and since when).
/// `notAuthorized` stops it when the phone was linked before and is not now; a run told at
/// the start that it is not linked goes on (its cards wait in the queue for the QR code).
async fn watch_state(shared: Arc<Shared>, every: Duration) {
    let mut before = shared.state.clone();
    loop {
        if !shared.halt.pause(&TokioClock, every).await {
            return;
        }
        let state = shared.gateway.state().await;
        if let Some(reason) = state_stops(&shared, &state, &before) {
            shared.halt.halt(Stop::Fatal(reason));
            return;
        }
        if let Ok(state) = state {
            before = state;
        }
    }
}

/// Why the instance's state, as asked (`before` it was that), stops its lane: none while it
/// can send, or when it did not answer (asked again next time).
fn state_stops(
    shared: &Shared,
    state: &Result<String, crate::client::CallError>,
    before: &str,
) -> Option<String> {
    match state {
        Ok(state)
            if matches!(state.as_str(), "yellowCard" | "blocked" | "suspended")
                || (state == "notAuthorized" && before == "authorized") =>
        {
            let at = shared.clock.now().to_zoned(jiff::tz::TimeZone::system());
            Some(format!(
                "the instance turned '{state}' while sending (seen at {})",
                at.strftime("%Y-%m-%d %H:%M:%S %Z")
            ))
        }
        Err(crate::client::CallError::Refused { reason, .. }) => Some(reason.clone()),
        Ok(_) | Err(_) => None,
    }
}

/// One row from its first attempt to its outcome.
async fn deliver(shared: &Shared, turns: &mpsc::UnboundedSender<Turn>, mut job: Job) {
    let (key, row) = (job.attempt.key, job.attempt.row);
    for attempt in 1..=shared.settings.max_attempts {
        match turn(shared, turns, job.attempt.clone(), attempt == 1).await {
            None => {
                // A retry held back (the window, the cap) or stopped: its claim, kept while it
                // waited to go again, is let go (the ledger has its "not sent").
                shared.settle(&job.attempt, Settled::Void);
                return;
            }
            Some(Go::Taken) => {
                shared.tell(row, RowOutcome::Taken);
                return;
            }
            Some(Go::Capped) => {
                // Another run took the day's last cards meanwhile: this one stays pending.
                let cap = shared
                    .schedule
                    .as_ref()
                    .and_then(|s| s.daily_cap)
                    .unwrap_or_default();
                let _ = shared.held.set(format!(
                    "daily cap reached: {cap} cards today from this instance (--daily-cap); \
                     --resume sends the rest on another day"
                ));
                shared.settle(&job.attempt, Settled::Void);
                return;
            }
            Some(Go::Send { slot }) => job.attempt.slot = slot,
        }
        let sent_at = Some(shared.now_ms());
        let answer = shared.gateway.send_contact(job.body.clone()).await;
        let (event, settled, outcome) = match answer {
            Answer::Sent { id_message } => {
                let settled = Settled::Sent(Some(id_message.clone()));
                let outcome = RowOutcome::Sent {
                    id_message: id_message.clone(),
                };
                let event = Event::Sent {
                    key,
                    row,
                    id_message,
                    sent_at,
                };
                (event, settled, Some(outcome))
            }
            Answer::Rejected { error } => {
                let outcome = RowOutcome::Failed {
                    error: error.clone(),
                };
                let event = Event::Failed { key, row, error };
                (event, Settled::Void, Some(outcome))
            }
            Answer::Unknown { reason } => {
                let outcome = RowOutcome::Unknown {
                    reason: reason.clone(),
                };
                let event = Event::Unknown { key, row, reason };
                (event, Settled::Unknown, Some(outcome))
            }
            Answer::Fatal { reason } => {
                shared.halt.halt(Stop::Fatal(reason.clone()));
                (Event::NotSent { key, row, reason }, Settled::Void, None)
            }
            Answer::Retry { reason } if attempt == shared.settings.max_attempts => {
                let error = format!("gave up after {attempt} attempts: {reason}");
                let outcome = RowOutcome::Failed {
                    error: error.clone(),
                };
                let event = Event::Failed { key, row, error };
                (event, Settled::Void, Some(outcome))
            }
            Answer::Retry { reason } => {
                shared.tell(
                    row,
                    RowOutcome::Retrying {
                        reason: reason.clone(),
                    },
                );
                let event = Event::NotSent { key, row, reason };
                if !shared.record(event)
                    || !shared
                        .halt
                        .pause(&TokioClock, backoff(shared, attempt))
                        .await
                {
                    // Its slot stays claimed while it waits to retry; it will not now.
                    shared.settle(&job.attempt, Settled::Void);
                    return;
                }
                continue;
            }
        };
        // The ledger first: it is the truth the sent-card history is mended from.
        shared.record(event);
        shared.settle(&job.attempt, settled);
        if let Some(outcome) = outcome {
            shared.tell(row, outcome);
        }
        return;
    }
}

/// Exponential backoff with jitter: base × 2^(attempt-1), capped at 30 s, times 0.5–1.0.
fn backoff(shared: &Shared, attempt: u32) -> Duration {
    let exponential = shared
        .settings
        .backoff
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(Duration::from_secs(30));
    exponential.mul_f64(0.5 + fastrand::f64() / 2.0)
}
