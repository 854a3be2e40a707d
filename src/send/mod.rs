//! Sending: each job paced, recorded in the ledger before it leaves, retried when GREEN-API
//! says "not now", and stopped cleanly on a fatal answer or Ctrl-C.
//!
//! One task per job, at most `concurrency` at a time; enough of them wait on slow answers at
//! once to hold the rate when the API is slow. A task asks the dispatcher for its turn (a FIFO
//! queue, so requests leave in input order); the dispatcher lets a batch go whenever the pacer
//! allows, after writing the batch's attempts to the ledger with one fsync.

pub mod pacer;
pub mod progress;

use std::sync::Arc;
use std::time::Duration;

use governor::clock::MonotonicClock;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::client::{Answer, Client};
use crate::contact::ContentKey;
use crate::input::RowNumber;
use crate::ledger::{Event, Ledger};
pub use pacer::{Pacer, Rate};
pub use progress::Counters;

/// One request to make: a sendable row's body, serialised once.
#[derive(Debug)]
pub struct Job {
    pub row: RowNumber,
    pub key: ContentKey,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub rate: Rate,
    pub concurrency: u32,
    /// Tries per row for retryable answers before the row is `failed`.
    pub max_attempts: u32,
    /// The first retry waits about this long; each further one twice as long, up to 30 s.
    pub backoff: Duration,
}

/// Why sending ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Every job had its turn.
    Finished,
    /// Ctrl-C.
    Interrupted,
    /// GREEN-API refused the run (401, 403, 466).
    Fatal(String),
    /// The ledger could not be written: nothing more may be sent.
    Fault(String),
}

struct Shared {
    client: Client,
    ledger: Ledger,
    settings: Settings,
    counters: Arc<Counters>,
    stop: watch::Sender<Option<Stop>>,
}

impl Shared {
    fn halt(&self, stop: Stop) {
        self.stop.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(stop);
                true
            } else {
                false
            }
        });
    }

    fn halted(&self) -> bool {
        self.stop.borrow().is_some()
    }

    /// Waits until the run is halted (forever if it never is).
    async fn until_halted(&self) {
        let mut receiver = self.stop.subscribe();
        let _ = receiver.wait_for(Option::is_some).await;
    }

    /// Sleeps, waking early if the run is halted; true if the sleep ran its course.
    async fn pause(&self, duration: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(duration) => true,
            _ = self.until_halted() => false,
        }
    }

    /// Records an event; false, and the run halted, if the ledger refused.
    fn record(&self, event: Event) -> bool {
        self.check(self.ledger.record(&event))
    }

    /// Writes events and waits for them to reach the disk. The fsync runs on a blocking
    /// thread: a slow disk must not hold up answers, or requests already let go.
    async fn record_durably(self: &Arc<Self>, events: &[Event]) -> bool {
        if !self.check(self.ledger.append(events)) {
            return false;
        }
        let shared = self.clone();
        let synced = tokio::task::spawn_blocking(move || shared.ledger.sync())
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        self.check(synced)
    }

    fn check(&self, written: std::io::Result<()>) -> bool {
        match written {
            Ok(()) => true,
            Err(e) => {
                self.halt(Stop::Fault(format!("cannot write the ledger: {e}")));
                false
            }
        }
    }
}

/// How sending went.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub stop: Stop,
    /// Requests per second over the whole windows of the run (see [`Pacer::achieved_rate`]).
    pub achieved_rate: Option<f64>,
}

/// Sends every job from `jobs` until they run out or the run is halted.
/// `interrupt` resolves on Ctrl-C (or whatever the caller chooses).
pub async fn run(
    client: Client,
    ledger: Ledger,
    mut jobs: mpsc::Receiver<Job>,
    settings: Settings,
    counters: Arc<Counters>,
    interrupt: impl std::future::Future<Output = ()> + Send + 'static,
) -> Outcome {
    let (stop, _) = watch::channel(None);
    let shared = Arc::new(Shared {
        client,
        ledger,
        settings: settings.clone(),
        counters,
        stop,
    });
    let watcher = {
        let shared = shared.clone();
        tokio::spawn(async move {
            interrupt.await;
            shared.halt(Stop::Interrupted);
        })
    };

    let (turns, waiting) = mpsc::unbounded_channel();
    let pacer = Pacer::new(settings.rate, MonotonicClock);
    let dispatcher = tokio::spawn(dispatch(shared.clone(), pacer, waiting));

    let permits = Arc::new(Semaphore::new(settings.concurrency as usize));
    let mut tasks = JoinSet::new();
    loop {
        let job = tokio::select! {
            job = jobs.recv() => job,
            _ = shared.until_halted() => None,
        };
        let Some(job) = job else { break };
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("never closed"),
            _ = shared.until_halted() => break,
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
    let achieved_rate = dispatcher.await.unwrap_or(None);
    watcher.abort();
    let stop = shared.stop.borrow().clone();
    Outcome {
        stop: stop.unwrap_or(Stop::Finished),
        achieved_rate,
    }
}

/// A row asking to go. The dispatcher answers `true` once the row's attempt is on disk and
/// its request may leave, or drops `go` (a "no") when the run stopped first.
struct Turn {
    key: ContentKey,
    row: u64,
    go: oneshot::Sender<bool>,
}

/// Hands out turns, a batch at a time, at the pacer's rate; returns the achieved rate.
///
/// A batch's attempts are made durable as soon as the batch is formed, *then* it waits for its
/// slot and leaves the moment the slot opens (in parts, when the window has room for only some
/// of it): the fsync stays out of the pacing, so the rate holds on a slow disk. Should the process die during that short wait, the batch's rows read
/// `unknown` though they never left: safe (they are not resent), and at most one batch at a
/// time is exposed.
async fn dispatch(
    shared: Arc<Shared>,
    mut pacer: Pacer<MonotonicClock>,
    mut waiting: mpsc::UnboundedReceiver<Turn>,
) -> Option<f64> {
    let mut batch: Vec<Turn> = Vec::with_capacity(pacer.batch());
    let mut attempts: Vec<Event> = Vec::with_capacity(pacer.batch());
    'batches: loop {
        let first = tokio::select! {
            turn = waiting.recv() => turn,
            _ = shared.until_halted() => None,
        };
        let Some(first) = first else { break };
        batch.push(first);
        while batch.len() < pacer.batch() {
            let Ok(turn) = waiting.try_recv() else { break };
            batch.push(turn);
        }
        attempts.clear();
        attempts.extend(batch.iter().map(|turn| Event::Attempt {
            key: turn.key.to_string(),
            row: turn.row,
        }));
        if !shared.record_durably(&attempts).await {
            break;
        }
        while !batch.is_empty() {
            match pacer.admit(batch.len()) {
                Ok(admitted) => {
                    if shared.halted() {
                        break 'batches;
                    }
                    pacer.record(admitted);
                    for turn in batch.drain(..admitted) {
                        let _ = turn.go.send(true);
                    }
                }
                Err(wait) => {
                    if !shared.pause(wait).await {
                        break 'batches;
                    }
                }
            }
        }
    }
    // Rows whose attempt was written but which never left are pending again.
    for turn in batch {
        shared.record(Event::NotSent {
            key: turn.key.to_string(),
            row: turn.row,
            reason: "the run stopped before this request was sent".into(),
        });
    }
    // Dropping the rows still in the queue tells each of them "no".
    pacer.achieved_rate()
}

/// One row from its first attempt to its outcome.
async fn deliver(shared: &Shared, turns: &mpsc::UnboundedSender<Turn>, job: Job) {
    let key = job.key.to_string();
    let row = job.row.0;
    let counters = &shared.counters;
    for attempt in 1..=shared.settings.max_attempts {
        if !take_turn(turns, job.key, row).await {
            return;
        }
        let sent_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_millis() as u64);
        let answer = shared.client.send_contact(job.body.clone()).await;
        let event = match answer {
            Answer::Sent { id_message } => {
                counters.sent();
                Event::Sent {
                    key,
                    row,
                    id_message,
                    sent_at,
                }
            }
            Answer::Rejected { error } => {
                counters.failed();
                Event::Failed { key, row, error }
            }
            Answer::Unknown { reason } => {
                counters.unknown();
                Event::Unknown { key, row, reason }
            }
            Answer::Fatal { reason } => {
                shared.halt(Stop::Fatal(reason.clone()));
                Event::NotSent { key, row, reason }
            }
            Answer::Retry { reason } if attempt == shared.settings.max_attempts => {
                counters.failed();
                let error = format!("gave up after {attempt} attempts: {reason}");
                Event::Failed { key, row, error }
            }
            Answer::Retry { reason } => {
                counters.retried();
                let event = Event::NotSent {
                    key: key.clone(),
                    row,
                    reason,
                };
                if !shared.record(event) || !shared.pause(backoff(shared, attempt)).await {
                    return;
                }
                continue;
            }
        };
        shared.record(event);
        return;
    }
}

/// Waits for this row's turn; false if the run was halted first.
async fn take_turn(turns: &mpsc::UnboundedSender<Turn>, key: ContentKey, row: u64) -> bool {
    let (go, answer) = oneshot::channel();
    let turn = Turn { key, row, go };
    turns.send(turn).is_ok() && answer.await.unwrap_or(false)
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
