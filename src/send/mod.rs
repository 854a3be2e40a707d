//! Sending: each job paced, recorded in the ledger before it leaves, retried when GREEN-API
//! says "not now", and stopped cleanly on a fatal answer or Ctrl-C.
//!
//! One task per job, at most `concurrency` at a time. Tasks take turns at the pacer (a FIFO
//! lock), so requests leave in input order at the rate; enough of them wait on slow answers
//! at once to hold the rate when the API is slow.

pub mod pacer;
pub mod progress;

use std::sync::Arc;
use std::time::Duration;

use governor::clock::MonotonicClock;
use tokio::sync::{Mutex, Semaphore, mpsc, watch};
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
    pacer: Mutex<Pacer<MonotonicClock>>,
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

    fn record(&self, event: Event) -> bool {
        match self.ledger.record(&event) {
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
    /// Requests per second from the first to the last dispatch.
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
        pacer: Mutex::new(Pacer::new(settings.rate, MonotonicClock)),
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
        tasks.spawn(async move {
            deliver(&shared, job).await;
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    watcher.abort();
    let stop = shared.stop.borrow().clone();
    Outcome {
        stop: stop.unwrap_or(Stop::Finished),
        achieved_rate: shared.pacer.lock().await.achieved_rate(),
    }
}

/// One row from its first attempt to its outcome.
async fn deliver(shared: &Shared, job: Job) {
    let key = job.key.to_string();
    let row = job.row.0;
    let counters = &shared.counters;
    for attempt in 1..=shared.settings.max_attempts {
        if !take_turn(shared, &key, row).await {
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

/// Takes this row's turn at the pacer; false if the run was halted first.
///
/// The attempt is made durable as soon as the row is next in line, *then* the row waits for
/// its slot and leaves the moment the slot opens: the fsync stays out of the pacing, so the
/// rate holds. Should the process die during that short wait, the row reads `unknown` though
/// it never left: safe (it is not resent), and at most one row at a time is exposed.
async fn take_turn(shared: &Shared, key: &str, row: u64) -> bool {
    let mut pacer = shared.pacer.lock().await;
    if shared.halted() {
        return false;
    }
    let attempt = Event::Attempt {
        key: key.to_string(),
        row,
    };
    if !shared.record(attempt) {
        return false;
    }
    loop {
        let wait = pacer.wait_time();
        if wait.is_zero() {
            break;
        }
        if !shared.pause(wait).await {
            shared.record(Event::NotSent {
                key: key.to_string(),
                row,
                reason: "the run stopped before this request was sent".into(),
            });
            return false;
        }
    }
    pacer.record();
    true
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
