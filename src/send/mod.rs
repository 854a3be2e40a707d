//! A send run, from checked options to typed outcome: a [`Session`], owned and async, that
//! the CLI, a run over several instances and the local page all drive the same way.
//!
//! The steps, in order: open the results file and its ledger (`Record`: checks, lock,
//! repair, replay) and the instances' sent-card histories → validate every row, writing the
//! first results file as it goes → for each instance: preflight (it must exist and be able
//! to send), look up rows whose answer an earlier run lost, plan (can its queue send its
//! cards within 24 hours?) → feed the rows this run sends, in input order, up to `--limit`,
//! each to its instance → dispatch them (pacing, retries, the ledger), one lane an instance
//! → rewrite the results from the ledger. Until the first request leaves, any failure
//! leaves no file behind; once one has left, any failure still rewrites the results before
//! the run ends.
//!
//! The session prints nothing: it reports through an owned stream of [`Event`]s and stops
//! when its [`Cancel`] says so. GREEN-API is reached only through [`Gateway`]s, so a test
//! drives a whole session in-process on a fake one, on a paused clock.

mod asking;
pub mod cancel;
mod check;
pub mod dispatch;
mod engine;
pub mod events;
mod feed;
pub mod pacer;
pub mod plan;
pub mod schedule;
mod session;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::client::{CallError, Credentials, Gateway};
pub use crate::delivery::lookup::RETRY_UNKNOWN_AFTER;
use crate::input::{InputError, InputOptions, RowNumber};
use crate::record::sent::SentCardsError;
use crate::record::{RecordError, StatusCounts};
use crate::validation::Tally;
pub use cancel::Cancel;
pub use dispatch::Stop;
pub use engine::{Counters, Settings};
use events::Events;
pub use events::{Calendar, ChangedRow, Event, InstanceInfo, Note, RowOutcome, Source};
pub use pacer::Rate;
pub use plan::QueuePlan;
pub use schedule::Schedule;

/// Where the requests go.
#[derive(Debug, Clone)]
pub enum Target {
    /// GREEN-API (or anything that answers like it): one instance, or several
    /// (`--instances`, docs/instances.md), rows spread over them by chat.
    Api(Vec<ApiInstance>),
    /// The built-in emulator, started for this run with this many instances.
    Sandbox { instances: usize },
    /// None given: only a dry run can do without.
    Unset,
}

/// One GREEN-API instance a run sends from.
#[derive(Debug, Clone)]
pub struct ApiInstance {
    pub credentials: Credentials,
    /// The file through which runs on the same instance keep to the per-method rate limits
    /// together.
    pub shared_calls: Option<PathBuf>,
    /// What the instances file calls it.
    pub name: Option<String>,
    /// Its own rate (the instances file's `rate` column); else the run's.
    pub rate: Option<Rate>,
    /// A standalone emulator (`greenbulk sandbox`) on this machine: what it is sent is
    /// remembered with the built-in sandbox's cards, not the real instances' (found when the
    /// instance is made, [`crate::sandbox::serves`]).
    pub emulated: bool,
}

impl ApiInstance {
    /// An instance given by the single-instance flags (or the environment, or the page); a
    /// standalone sandbox's is marked so ([`crate::sandbox::serves`]: an unclear address is
    /// the error).
    pub fn single(credentials: Credentials, state_dir: &Path) -> Result<ApiInstance, String> {
        Ok(ApiInstance {
            shared_calls: Some(shared_calls_file(state_dir, &credentials)),
            emulated: crate::sandbox::serves(state_dir, credentials.api_url())?,
            credentials,
            name: None,
            rate: None,
        })
    }
}

/// A send run's options, resolved and checked.
#[derive(Debug, Clone)]
pub struct SendOptions {
    pub input: InputOptions,
    pub results: PathBuf,
    pub target: Target,
    pub settings: Settings,
    pub timeout: Duration,
    pub resume: bool,
    pub retry_unknown: bool,
    /// `--resend-changed`: send cards that went out from this results file with other names.
    pub resend_changed: bool,
    /// `--again`: send cards this machine sent from the instance in another run.
    pub again: bool,
    pub skip_invalid: bool,
    pub dry_run: bool,
    /// Attempt at most this many rows in this run.
    pub limit: Option<u64>,
    /// How long GREEN-API keeps a queued message (24 hours; shorter only against an emulator
    /// told to drop messages sooner).
    pub queue_ttl: Duration,
    /// Where the sent-card history of each instance is kept.
    pub state_dir: PathBuf,
    /// `--reassign`: rows that wait for an instance this run does not have go to the others.
    pub reassign: bool,
    /// The sending window, the pace and the daily cap (docs/safety.md).
    pub schedule: schedule::Schedule,
    /// The wall clock's reading when the run starts (none: now). The session tests start it
    /// on a chosen day, their time then moving with tokio's paused clock.
    pub started_at: Option<jiff::Timestamp>,
}

impl SendOptions {
    /// Where the sent-card histories of this run's instances are: the state directory, or
    /// for the built-in sandbox (and a standalone one) a folder of its own in it — trying
    /// things on the sandbox never makes a real card `already-sent`.
    pub fn history_dir(&self) -> PathBuf {
        if self.emulated() {
            crate::sandbox::history_dir(&self.state_dir)
        } else {
            self.state_dir.clone()
        }
    }

    /// Whether the run sends to an emulator: the built-in sandbox, or standalone ones.
    pub fn emulated(&self) -> bool {
        match &self.target {
            Target::Sandbox { .. } => true,
            Target::Api(instances) => !instances.is_empty() && instances.iter().all(|i| i.emulated),
            Target::Unset => false,
        }
    }
}

/// How a run ended, when it ran to an end of its own.
#[derive(Debug)]
pub enum Outcome {
    /// Rows have errors and `--skip-invalid` was not given: nothing was sent.
    Invalid { tally: Tally },
    /// `--dry-run`: nothing was sent or written.
    DryRun(DryRun),
    /// The rows were sent (or as many as the stop allowed).
    Finished(Finished),
}

#[derive(Debug)]
pub struct DryRun {
    pub to_send: u64,
    /// Rows a real run would leave pending because of `--limit`.
    pub held_back: u64,
    /// Rows a real run would leave pending today because of `--daily-cap`.
    pub capped: u64,
    /// Rows whose earlier answer was lost: looked up (and maybe resent) by a real run.
    pub unknown: u64,
    /// The URL the requests would go to, token masked (none without a target).
    pub target: Option<String>,
    pub rate: Rate,
    /// The first request bodies, exactly as they would be sent.
    pub bodies: Vec<(RowNumber, String)>,
}

#[derive(Debug)]
pub struct Finished {
    /// The worst of the lanes' stops (a refused instance is worse than Ctrl-C).
    pub stop: Stop,
    /// Each instance's part, in lane order.
    pub lanes: Vec<LaneEnd>,
    pub to_send: u64,
    /// Rows left pending because of `--limit`.
    pub held_back: u64,
    /// Rows left pending on purpose by the schedule: the daily cap, or the window with
    /// `--exit-outside-window` (docs/safety.md).
    pub held: u64,
    /// Rows that wait for an instance this run does not have (a --resume sends them only
    /// with that instance, or with --reassign).
    pub waiting: u64,
    /// When the queue should have sent the last card, from the plan.
    pub last_leaves: Option<jiff::Timestamp>,
    pub rate: Rate,
    /// Requests per second, the lanes together.
    pub achieved_rate: Option<f64>,
    /// The lanes' counts together.
    pub counters: Arc<Counters>,
    pub results: PathBuf,
    /// Whether the results file stays: one this run created goes again if nothing was sent.
    pub results_kept: bool,
    /// The counts of the rewritten results file, or why it could not be rewritten (it then
    /// shows an earlier state, and the ledger holds the truth).
    pub counts: Result<StatusCounts, String>,
    /// The results file's counts by instance (its `instance` column).
    pub by_instance: BTreeMap<String, StatusCounts>,
}

/// How one instance's part of a run ended.
#[derive(Debug)]
pub struct LaneEnd {
    pub instance: InstanceInfo,
    pub stop: Stop,
    /// Whether it began sending; if not, and stopped, it was before its first request
    /// (refused, or a state that cannot send).
    pub started: bool,
    pub rate: Rate,
    pub achieved_rate: Option<f64>,
    pub counters: Arc<Counters>,
}

/// What a run that cannot use a sent-card history says: why, what the history is for, and —
/// when its folder refused — what to do about that.
fn history_failed(error: &SentCardsError) -> String {
    let folder = matches!(
        error.kind(),
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
    );
    format!(
        "{error}. It is greenbulk's memory of what this machine sent; without it a new results \
         file could send a card twice{}",
        if folder {
            ". Make its folder writable, or set XDG_STATE_HOME to a folder that is"
        } else {
            ""
        }
    )
}

impl From<SentCardsError> for SendError {
    fn from(error: SentCardsError) -> SendError {
        SendError::History(error)
    }
}

/// Why a run ended before it could send, or could not start.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The sent-card history cannot be read or written (said once: not a source to repeat).
    #[error("{}", history_failed(.0))]
    History(SentCardsError),
    #[error("cannot start the built-in sandbox: {0}")]
    Sandbox(std::io::Error),
    /// Before the first request: GREEN-API refused the credentials, or could not be asked.
    #[error(transparent)]
    Preflight(CallError),
    /// The instance cannot send (yellowCard, blocked, suspended).
    #[error("the instance {instance} is '{state}'; nothing was sent")]
    Instance { instance: String, state: String },
    /// The queue cannot send this run's cards within the 24 hours it keeps them. `fitting`:
    /// the most rows (the `--limit`) whose cards leave every instance's queue in time.
    #[error("{} cards cannot all leave the instance's queue before it drops them", .plan.cards)]
    QueueFull {
        instance: String,
        plan: QueuePlan,
        fitting: u64,
        several: bool,
    },
    /// Ctrl-C (or SIGTERM, or the page's Stop) before the first request.
    #[error("interrupted before anything was sent")]
    Interrupted,
    /// `--resume` with other `--set` values (or `--country`) than the run it continues:
    /// other cards, or the same cells read as other numbers.
    #[error(
        "{field} is {now} in this run but was {was} when {results} was started: the same \
         rows would be other cards (or other numbers), so another run. Give it a new --results \
         file (or the same {field} to continue the earlier run)"
    )]
    SettingsChanged {
        field: String,
        was: String,
        now: String,
        results: String,
    },
    /// A run to a real instance on a results file whose cards went to the sandbox, or the
    /// other way round (docs/sandbox.md).
    #[error(
        "{}",
        if *sandbox_then {
            format!(
                "{results} holds cards sent to the sandbox, which reached no one; a real \
                 instance must neither take them for its own nor add real cards to them. Send \
                 for real into a new --results file, or start the sandbox again (`greenbulk \
                 sandbox`, at the address it had) to go on with this one"
            )
        } else {
            format!(
                "{results} holds cards sent for real{}; the sandbox's made-up ones must not \
                 join them. Give the real instance to go on with it, or try the sandbox with a \
                 new --results file",
                if *recorded {
                    ""
                } else {
                    " (its ledger, of an older greenbulk, does not say it was the sandbox)"
                }
            )
        }
    )]
    SandboxChanged {
        results: String,
        sandbox_then: bool,
        /// The ledger says which it was; an older one's requests are taken for real.
        recorded: bool,
    },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// One send run, owned: made with its options, run to its end with [`Session::run`].
pub struct Session {
    options: SendOptions,
    /// Gateways given from outside (a test's fake); otherwise made from the target.
    gateways: Option<Vec<Arc<dyn Gateway>>>,
    events: Events,
}

impl Session {
    /// A session, and the stream of what it will tell.
    pub fn new(options: SendOptions) -> (Session, mpsc::UnboundedReceiver<Event>) {
        let (events, receiver) = Events::channel();
        let session = Session {
            options,
            gateways: None,
            events,
        };
        (session, receiver)
    }

    /// A session that reaches GREEN-API through these gateways, one an instance, whatever
    /// its target says.
    pub fn with_gateways(
        options: SendOptions,
        gateways: Vec<Arc<dyn Gateway>>,
    ) -> (Session, mpsc::UnboundedReceiver<Event>) {
        let (mut session, receiver) = Session::new(options);
        session.gateways = Some(gateways);
        (session, receiver)
    }

    /// Runs the session to its end (see the module's documentation for the steps), or until
    /// `cancel` stops it.
    pub async fn run(self, cancel: Cancel) -> Result<Outcome, SendError> {
        session::run(self, cancel).await
    }
}

/// The file through which runs on one instance share their call times (see
/// [`Target::Api`]): in `state_dir`, one per instance, whatever URL reaches it — like the
/// sent-card history and the `sendContact` instants (docs/choices.md).
pub fn shared_calls_file(state_dir: &Path, credentials: &Credentials) -> PathBuf {
    state_dir.join(format!("calls-{}.json", credentials.id_instance()))
}
