//! Sending the jobs: each paced by the dispatcher, recorded in the ledger before it leaves,
//! retried when GREEN-API says "not now", and stopped cleanly on a fatal answer or Ctrl-C.
//!
//! One task per job, at most `concurrency` at a time; enough of them wait on slow answers at
//! once to hold the rate when the API is slow. A task asks the dispatcher for its turn (a FIFO
//! queue, so requests leave in input order) before every attempt.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::client::{Answer, Client};
use crate::record::{Event, Ledger, RecordError, ledger::unix_millis};
use crate::send::dispatch::{self, Attempt, Halt, Journal, Stop, TokioClock, Turn};
use crate::send::pacer::{Pacer, Rate};
use crate::send::progress::Counters;

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
}

/// How sending went.
#[derive(Debug, Clone)]
pub(crate) struct Sending {
    pub(crate) stop: Stop,
    /// Requests per second over the whole windows of the run (see [`Pacer::achieved_rate`]).
    pub(crate) achieved_rate: Option<f64>,
}

struct Shared {
    client: Client,
    ledger: Arc<Ledger>,
    settings: Settings,
    counters: Arc<Counters>,
    halt: Halt,
}

impl Shared {
    /// Records an event; false, and the run halted, if the ledger refused.
    fn record(&self, event: Event) -> bool {
        self.check(self.ledger.record(&event))
    }

    fn check(&self, written: std::io::Result<()>) -> bool {
        match written {
            Ok(()) => true,
            Err(e) => {
                let error = RecordError::write(self.ledger.path(), e);
                self.halt.halt(Stop::Fault(error.to_string()));
                false
            }
        }
    }
}

impl Journal for Arc<Shared> {
    /// Writes the attempts and waits for them to reach the disk. The fsync runs on a blocking
    /// thread: a slow disk must not hold up answers, or requests already let go.
    fn attempts(&self, turns: &[Turn]) -> impl Future<Output = bool> + Send {
        let at = Some(unix_millis());
        let events: Vec<Event> = turns
            .iter()
            .map(|turn| Event::Attempt {
                key: turn.attempt.key,
                row: turn.attempt.row,
                at,
                chat: Some(turn.attempt.chat_id.clone()),
                phone: Some(turn.attempt.phone_contact),
            })
            .collect();
        let shared = self.clone();
        async move {
            if !shared.check(shared.ledger.append(&events)) {
                return false;
            }
            let ledger = shared.ledger.clone();
            let synced = tokio::task::spawn_blocking(move || ledger.sync())
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
        }
    }
}

/// Sends every job from `jobs` until they run out or the run is halted. `interrupt`
/// resolves on Ctrl-C (or whatever the caller chooses); `halt` lets the caller stop the run
/// too.
pub(crate) async fn run(
    client: Client,
    ledger: Arc<Ledger>,
    mut jobs: mpsc::Receiver<Job>,
    settings: Settings,
    counters: Arc<Counters>,
    halt: Halt,
    interrupt: impl Future<Output = ()> + Send + 'static,
) -> Sending {
    let shared = Arc::new(Shared {
        client,
        ledger,
        settings: settings.clone(),
        counters,
        halt: halt.clone(),
    });
    let watcher = {
        let halt = halt.clone();
        tokio::spawn(async move {
            interrupt.await;
            halt.halt(Stop::Interrupted);
        })
    };

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
    let achieved_rate = dispatcher.await.unwrap_or(None);
    watcher.abort();
    Sending {
        stop: halt.stop().unwrap_or(Stop::Finished),
        achieved_rate,
    }
}

/// One row from its first attempt to its outcome.
async fn deliver(shared: &Shared, turns: &mpsc::UnboundedSender<Turn>, job: Job) {
    let (key, row) = (job.attempt.key, job.attempt.row);
    let counters = &shared.counters;
    for attempt in 1..=shared.settings.max_attempts {
        if !Turn::take(turns, job.attempt.clone()).await {
            return;
        }
        let sent_at = Some(unix_millis());
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
                shared.halt.halt(Stop::Fatal(reason.clone()));
                Event::NotSent { key, row, reason }
            }
            Answer::Retry { reason } if attempt == shared.settings.max_attempts => {
                counters.failed();
                let error = format!("gave up after {attempt} attempts: {reason}");
                Event::Failed { key, row, error }
            }
            Answer::Retry { reason } => {
                counters.retried();
                let event = Event::NotSent { key, row, reason };
                if !shared.record(event)
                    || !shared
                        .halt
                        .pause(&TokioClock, backoff(shared, attempt))
                        .await
                {
                    return;
                }
                continue;
            }
        };
        shared.record(event);
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
