//! A send run, from checked options to typed outcome: [`Session::run`].
//!
//! The steps, in order: open the results file and its ledger ([`Record`]: checks, lock,
//! repair, replay) → validate every row, writing the first results file as it goes → preflight
//! (the instance must exist and be able to send) → look up rows whose answer an earlier run
//! lost → plan (can the queue send them all within 24 hours?) → feed the rows this run
//! sends, in input order, up to `--limit` → dispatch them (pacing, retries, the ledger) →
//! rewrite the results from the ledger.
//! Until the first request leaves, any failure leaves no file behind; once one has left, any
//! failure still rewrites the results before the run ends.
//!
//! The session prints nothing itself: it tells an [`Observer`] what happens, and
//! `cmd/send.rs` decides how a person sees it.

pub mod dispatch;
mod engine;
pub mod pacer;
pub mod progress;

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::client::{CallError, Client, Credentials};
use crate::contact::{ContentKey, Finding};
pub use crate::delivery::lookup::RETRY_UNKNOWN_AFTER;
use crate::delivery::lookup::{self, ResolveError, Resolved};
use crate::delivery::plan::QueuePlan;
use crate::input::{InputError, InputOptions, Row, RowNumber, Table};
use crate::read;
use crate::record::ledger::unix_millis;
use crate::record::sent::{Reconciled, SentCards, SentCardsError};
use crate::record::standing::{self, FirstLook, Judge, Policy, Standing};
use crate::record::{Event, Fate, History, Record, RecordError, Restored, StatusCounts};
use crate::report::Findings;
use crate::sandbox::{self, Sandbox};
use crate::validation::{self, Tally, Verdict};
use dispatch::Halt;
pub use dispatch::Stop;
use engine::Job;
pub use engine::Settings;
pub use pacer::Rate;
pub use progress::Counters;

/// How many request bodies a dry run shows.
const DRY_RUN_SHOWN: usize = 3;

/// Where the requests go.
#[derive(Debug, Clone)]
pub enum Target {
    /// GREEN-API (or anything that answers like it). `shared_calls` is the file through which
    /// runs on the same instance keep to the per-method rate limits together.
    Api {
        credentials: Credentials,
        shared_calls: Option<PathBuf>,
    },
    /// The built-in emulator, started for this run.
    Sandbox,
    /// None given: only a dry run can do without.
    Unset,
}

/// Resolves when the run should stop starting requests (Ctrl-C, SIGTERM).
pub type Interrupt = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// A send run's options, resolved and checked.
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
}

/// What happens during a run that a person may want to know.
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    /// `--resume` on a results file that does not exist yet.
    NewRun,
    /// The ledger's last line was torn (a crash or a full disk while it was written) and was
    /// cut off before anything was appended.
    Repaired { ledger: PathBuf, line: u64 },
    /// Requests go to the built-in emulator at this URL.
    Sandbox { url: String },
    /// The instance is not `authorized`; sending goes on.
    InstanceState { state: String },
    /// The instance is `starting`: greenbulk waits and asks again.
    Starting,
    /// The plan: when the queue will have sent this run's cards, as of `now`, and the
    /// instance's state (nothing leaves the queue unless it is `authorized`).
    Plan {
        plan: QueuePlan,
        now: jiff::Timestamp,
        state: String,
    },
    /// The queue's delay or length could not be read: no 24-hour check.
    NoPlan(String),
    /// Rows an earlier run lost the answer of were looked up.
    LookedUp(Resolved),
    /// The lookup failed: unknown rows stay unknown and none is resent.
    LookupFailed(String),
    /// Rows the results file records as sent or unknown that the ledger did not know (it was
    /// emptied, lost or replaced) were taken back from the results file.
    Restored(Restored),
    /// Rows whose card (chat and phone) went out from this results file with other names or
    /// company: not sent again. The first few, and how many in all.
    Changed {
        first: Vec<ChangedRow>,
        count: u64,
        resend: bool,
    },
    /// Rows whose card this machine sent from the instance in another run.
    AlreadySent { count: u64, again: bool },
    /// Every sendable row was sent by earlier runs.
    NothingToSend,
    /// The input has a header and no data rows.
    NoRows,
    /// Nothing to send but rows still unknown (not found, or too recent to tell).
    OnlyUnknownLeft,
}

/// A row whose card went out before with other names (see [`Note::Changed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedRow {
    pub row: RowNumber,
    pub chat: String,
    /// `firstName 'Ann' → 'Anna'`, a field each; empty when the earlier names are not known.
    pub changes: Vec<String>,
    /// The row it went from, and whether it is known to have been accepted.
    pub earlier_row: RowNumber,
    pub sent: bool,
}

/// How many changed rows a note lists.
const CHANGED_SHOWN: usize = 10;

/// Whoever runs a session hears from it through this.
pub trait Observer {
    /// The input is open: its format, header row and column mapping are known.
    fn source(&mut self, table: &Table);
    /// Every row was checked; the first findings are given.
    fn validated(&mut self, tally: &Tally, first: &[(RowNumber, Finding)]);
    fn note(&mut self, note: Note);
    /// Sending starts: `total` rows, counted as they go in `counters`.
    fn sending(&mut self, total: u64, counters: Arc<Counters>);
    /// Sending is over (the results are still to be rewritten).
    fn sent(&mut self);
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
    /// Rows whose earlier answer was lost: looked up (and maybe resent) by a real run.
    pub unknown: u64,
    /// The URL the requests would go to, token masked.
    pub target: String,
    pub rate: Rate,
    /// The first request bodies, exactly as they would be sent.
    pub bodies: Vec<(RowNumber, String)>,
}

#[derive(Debug)]
pub struct Finished {
    pub stop: Stop,
    pub to_send: u64,
    /// Rows left pending because of `--limit`.
    pub held_back: u64,
    /// When the queue should have sent the last card, from the plan.
    pub last_leaves: Option<jiff::Timestamp>,
    pub rate: Rate,
    pub achieved_rate: Option<f64>,
    pub counters: Arc<Counters>,
    pub results: PathBuf,
    /// Whether the results file stays: one this run created goes again if nothing was sent.
    pub results_kept: bool,
    /// The counts of the rewritten results file, or why it could not be rewritten (it then
    /// shows an earlier state, and the ledger holds the truth).
    pub counts: Result<StatusCounts, String>,
}

/// Why a run ended before it could send, or could not start.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The sent-card history cannot be read or written.
    #[error(
        "{0}. It is greenbulk's memory of what this machine sent; without it a new results \
         file could send a card twice. Make its folder writable, or set XDG_STATE_HOME to a \
         folder that is"
    )]
    History(#[from] SentCardsError),
    #[error("cannot start the built-in sandbox: {0}")]
    Sandbox(std::io::Error),
    /// Before the first request: GREEN-API refused the credentials, or could not be asked.
    #[error(transparent)]
    Preflight(CallError),
    /// The instance cannot send (yellowCard, blocked, suspended).
    #[error("the instance is '{state}': {meaning}. Nothing was sent")]
    Instance {
        state: String,
        meaning: &'static str,
    },
    /// The queue cannot send this run's cards within the 24 hours it keeps them.
    #[error("{} cards cannot all leave the queue within {}", .0.cards, crate::delivery::human(.0.ttl))]
    QueueFull(QueuePlan),
    /// Ctrl-C (or SIGTERM) before the first request.
    #[error("interrupted before anything was sent")]
    Interrupted,
    /// `--resume` with other `--set` values than the run it continues: another card.
    #[error(
        "{field} is {now} in this run but was {was} when {results} was started: that is \
         another card, so another run. Give it a new --results file (or the same --set values \
         to continue the earlier run)"
    )]
    SettingsChanged {
        field: String,
        was: String,
        now: String,
        results: String,
    },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Runs `work` unless the run is interrupted first.
async fn until_interrupted<T>(
    work: impl Future<Output = Result<T, SendError>>,
    interrupted: impl Future + Unpin,
) -> Result<T, SendError> {
    tokio::select! {
        done = work => done,
        _ = interrupted => Err(SendError::Interrupted),
    }
}

/// One send run.
pub struct Session<'o> {
    options: SendOptions,
    observer: &'o mut dyn Observer,
}

impl<'o> Session<'o> {
    pub fn new(options: SendOptions, observer: &'o mut dyn Observer) -> Session<'o> {
        Session { options, observer }
    }

    /// Runs the session to its end: see the module's documentation for the steps.
    pub fn run(mut self, interrupt: Interrupt) -> Result<Outcome, SendError> {
        // One thread is plenty for 50 requests a second and wakes the CPU least; validation
        // and the ledger's fsync have threads of their own.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)?;
        // Signals are caught from the start: a Ctrl-C while validating or asking the
        // instance ends the run before anything is sent, and leaves nothing behind.
        let interrupted = runtime.spawn(interrupt());
        // Let it register its signal handlers now.
        runtime.block_on(tokio::task::yield_now());
        let options = &self.options;
        let mut record = if options.dry_run {
            None
        } else {
            Some(Record::open(&options.results, options.resume)?)
        };
        if let Some(record) = &record {
            if options.resume && record.is_new() {
                self.observer.note(Note::NewRun);
            }
            if let Some(line) = record.repaired() {
                self.observer.note(Note::Repaired {
                    ledger: record.ledger_path().to_path_buf(),
                    line,
                });
            }
        }
        let history = match &record {
            Some(record) => record.history().clone(),
            None => Arc::new(Record::peek(&options.results)?),
        };
        self.same_card(&history, record.as_mut())?;
        if let Some(record) = record.as_mut() {
            record.set_about(self.about());
        }
        let cards = self.sent_cards(record.as_ref())?;
        if let Some(restored) = record.as_ref().and_then(Record::restored) {
            self.observer.note(Note::Restored(restored));
        }

        let mut checked = self.check(record.as_ref(), &history, cards.as_ref())?;
        let options = &self.options;
        let tally = &checked.tally;
        if tally.invalid > 0 && (!options.skip_invalid || tally.sendable == 0) {
            return Ok(Outcome::Invalid {
                tally: checked.tally,
            });
        }
        let Some(record) = record.as_mut() else {
            let target = self.dry_run_target()?;
            // What a real run would send: at most --limit rows.
            let to_send = self
                .options
                .limit
                .map_or(checked.to_send, |limit| limit.min(checked.to_send));
            if !matches!(self.options.target, Target::Unset) {
                runtime.block_on(until_interrupted(self.dry_run_plan(to_send), interrupted))?;
            }
            return Ok(Outcome::DryRun(DryRun {
                to_send,
                held_back: checked.to_send - to_send,
                unknown: checked.unknown.len() as u64,
                target,
                rate: self.options.settings.rate,
                bodies: checked.bodies,
            }));
        };
        let cards = Arc::new(RwLock::new(
            cards.expect("a real run has its sent-card history"),
        ));
        let first_look = Arc::new(std::mem::take(&mut checked.first_look));
        let sending = self.send(
            record,
            checked,
            cards.clone(),
            first_look.clone(),
            interrupted,
        );
        let mut finished = runtime.block_on(sending)?;
        finished.counts = record
            .rewrite(&self.options.input, Some(&read(&cards)), Some(&first_look))
            .map_err(|e| e.to_string());
        // A run that created the results file and sent nothing removes it again, unless its
        // lines say something: rows this machine sent in another run.
        if finished.counts.as_ref().is_ok_and(|c| c.already_sent > 0) {
            record.keep();
        }
        finished.results_kept = record.kept();
        Ok(Outcome::Finished(finished))
    }

    /// The instance's sent-card history: opened for this run's results file and brought in
    /// line with its ledger (a run killed before it wrote its outcome there); only read by
    /// a dry run; none for a dry run with nowhere to send.
    fn sent_cards(&self, record: Option<&Record>) -> Result<Option<SentCards>, SendError> {
        let options = &self.options;
        let instance = match &options.target {
            Target::Api { credentials, .. } => credentials.id_instance().to_string(),
            Target::Sandbox => sandbox::DEFAULT_ID_INSTANCE.to_string(),
            Target::Unset => return Ok(None),
        };
        let Some(record) = record else {
            return Ok(Some(SentCards::peek(&options.state_dir, &instance)?));
        };
        let mut cards = SentCards::open(&options.state_dir, &instance)?;
        cards.register(&options.results)?;
        let history = record.history();
        let ledger_cards = history.iter().filter_map(|(_, state)| {
            let card = crate::contact::CardKey::of(state.chat.as_ref()?, state.phone?);
            Some((
                card,
                match &state.fate {
                    Fate::Sent(id) => Reconciled::Sent(id.clone()),
                    Fate::Unknown(_) => Reconciled::Unknown,
                    Fate::Pending(_) | Fate::Failed(_) => Reconciled::NotSent,
                },
            ))
        });
        let restored = history
            .cards()
            .filter(|(_, card)| card.key.is_none())
            .map(|(key, card)| {
                let fate = match &card.sent {
                    Some(id) => Reconciled::Sent(id.clone()),
                    None => Reconciled::Unknown,
                };
                (key, fate)
            });
        cards.reconcile(ledger_cards.chain(restored), unix_millis())?;
        Ok(Some(cards))
    }

    /// The policy for sending again what was (or may have been) sent before.
    fn policy<'p>(&self, resend: Option<&'p HashSet<ContentKey>>) -> Policy<'p> {
        Policy {
            resend,
            resend_changed: self.options.resend_changed,
            again: self.options.again,
        }
    }

    /// What a results workbook's summary says about this run.
    fn about(&self) -> crate::record::About {
        let options = &self.options;
        let mut pairs = vec![(
            "input file".to_string(),
            options.input.path.to_string_lossy().into_owned(),
        )];
        if let Some(sheet) = &options.input.sheet {
            pairs.push(("sheet".into(), sheet.clone()));
        }
        pairs.push(("rate".into(), options.settings.rate.to_string()));
        for setting in &options.input.settings {
            pairs.push((format!("--set {}", setting.field), setting.value.clone()));
        }
        pairs.push(("started".into(), jiff::Timestamp::now().to_string()));
        crate::record::About { pairs }
    }

    /// The `--set` values must be those of the run this one continues (none recorded: none
    /// given); a new ledger records them.
    fn same_card(
        &mut self,
        history: &History,
        record: Option<&mut Record>,
    ) -> Result<(), SendError> {
        let sets: BTreeMap<String, String> = self
            .options
            .input
            .settings
            .iter()
            .map(|s| (s.field.name().to_string(), s.value.clone()))
            .collect();
        if history.is_empty() {
            if let Some(record) = record
                && !sets.is_empty()
            {
                record.append(&[Event::Settings {
                    sets,
                    at: unix_millis(),
                }])?;
            }
            return Ok(());
        }
        let recorded = history.settings.clone().unwrap_or_default();
        let fields = recorded.keys().chain(sets.keys());
        let quoted = |v: Option<&String>| {
            v.map_or("not set".to_string(), |v| {
                format!("'{}'", crate::term::shown(v))
            })
        };
        for field in fields {
            let (was, now) = (recorded.get(field), sets.get(field));
            if was != now {
                return Err(SendError::SettingsChanged {
                    field: format!("--set {field}"),
                    was: quoted(was),
                    now: quoted(now),
                    results: crate::term::shown_path(&self.options.results),
                });
            }
        }
        Ok(())
    }

    /// Validates every row, counts what this run sends and writes the first results file.
    fn check(
        &mut self,
        record: Option<&Record>,
        history: &History,
        cards: Option<&SentCards>,
    ) -> Result<Checked, SendError> {
        let options = &self.options;
        let mut table = Table::open(&options.input)?;
        self.observer.source(&table);
        let judge = Judge {
            history,
            cards,
            first_look: None,
        };
        let mut writer = match record {
            Some(record) => Some(record.start_rewrite(&table.headers, judge)?),
            None => None,
        };
        let mut findings = Findings::new(None)?;
        let mut checked = Checked::default();
        let policy = self.policy(None);
        let prepare = |row: &Row, check: &crate::contact::Checked| judge.prepare(row, check);
        checked.tally =
            validation::walk_with(&mut table, prepare, |row, check, verdict, prepared| {
                let card = prepared.as_ref().map(|p| p.card);
                if let Some(prepared) = &prepared
                    && cards.is_some()
                    && Judge::absent(prepared)
                {
                    checked.first_look.absent(row.number, prepared.card);
                }
                let standing = match (verdict, &check.request, prepared) {
                    (Verdict::Sendable(key), Some(request), Some(prepared)) => {
                        Some((key, request, judge.standing(key, prepared)))
                    }
                    _ => None,
                };
                match &standing {
                    Some((key, _, standing)) if standing.is_unknown() => checked.unknown.push(*key),
                    Some((_, request, Standing::Changed(card))) => {
                        checked.changed += 1;
                        if checked.changed_first.len() < CHANGED_SHOWN {
                            checked.changed_first.push(ChangedRow {
                                row: row.number,
                                chat: request.chat_id.to_string(),
                                changes: standing::changes(card, request.names()),
                                earlier_row: card.row,
                                sent: card.sent.is_some(),
                            });
                        }
                    }
                    Some((_, _, Standing::AlreadySent(_))) => checked.already_sent += 1,
                    _ => {}
                }
                if let Some((key, _, standing)) = &standing
                    && standing.goes(*key, policy)
                {
                    checked.to_send += 1;
                    if options.dry_run && checked.bodies.len() < DRY_RUN_SHOWN {
                        let body = check.request.as_ref().map(|r| r.body()).unwrap_or_default();
                        checked
                            .bodies
                            .push((row.number, String::from_utf8_lossy(&body).into_owned()));
                    }
                }
                if let Some(writer) = &mut writer {
                    let standing = standing.as_ref().map(|(_, _, standing)| standing);
                    writer.row(row, check, verdict, card, standing)?;
                }
                findings
                    .add(row.number, &check.findings)
                    .map_err(SendError::Other)
            })?;
        self.observer.validated(
            &checked.tally,
            &findings.finish().map_err(SendError::Other)?,
        );
        if checked.changed > 0 {
            self.observer.note(Note::Changed {
                first: std::mem::take(&mut checked.changed_first),
                count: checked.changed,
                resend: options.resend_changed,
            });
        }
        if checked.already_sent > 0 {
            self.observer.note(Note::AlreadySent {
                count: checked.already_sent,
                again: options.again,
            });
        }
        let going_ahead = checked.tally.invalid == 0 || options.skip_invalid;
        // The results file exists from the start, so a crash leaves it (and --resume) in place.
        if let Some(writer) = writer
            && going_ahead
        {
            writer.commit()?;
        }
        Ok(checked)
    }

    /// Preflight, lookup and plan, then feed and dispatch every row this run sends.
    async fn send(
        &mut self,
        record: &mut Record,
        checked: Checked,
        cards: Arc<RwLock<SentCards>>,
        first_look: Arc<FirstLook>,
        mut interrupted: tokio::task::JoinHandle<()>,
    ) -> Result<Finished, SendError> {
        let (client, _sandbox) = until_interrupted(self.client(), &mut interrupted).await?;
        let before = async {
            let state = self.preflight(&client).await?;
            let resend = self.look_up(&client, record).await?;
            let resent = checked
                .unknown
                .iter()
                .filter(|key| resend.contains(key))
                .count() as u64;
            let wanted_rows = checked.to_send + resent;
            let to_send = self
                .options
                .limit
                .map_or(wanted_rows, |l| l.min(wanted_rows));
            let last_leaves = self.plan(&client, to_send, &state).await?;
            Ok::<_, SendError>((resend, wanted_rows, to_send, last_leaves))
        };
        let (resend, wanted_rows, to_send, last_leaves) =
            until_interrupted(before, &mut interrupted).await?;

        let counters = Arc::new(Counters::default());
        let options = &self.options;
        let mut finished = Finished {
            stop: Stop::Finished,
            to_send,
            held_back: wanted_rows - to_send,
            last_leaves,
            rate: options.settings.rate,
            achieved_rate: None,
            counters: counters.clone(),
            results: options.results.clone(),
            results_kept: true,
            counts: Err("not written yet".into()),
        };
        if to_send == 0 {
            let unknown_left = checked.unknown.iter().any(|key| {
                matches!(
                    record.history().get(*key).map(|s| &s.fate),
                    Some(Fate::Unknown(_))
                )
            });
            self.observer.note(if unknown_left {
                Note::OnlyUnknownLeft
            } else if checked.tally.rows == 0 {
                Note::NoRows
            } else {
                Note::NothingToSend
            });
            return Ok(finished);
        }

        self.observer.sending(to_send, counters.clone());
        let options = &self.options;
        let (jobs, receiver) = mpsc::channel::<Job>(1024);
        let halt = Halt::new();
        let feeder = {
            let input = options.input.clone();
            let history = record.history().clone();
            let cards = cards.clone();
            let policy = Policy {
                resend: None,
                resend_changed: options.resend_changed,
                again: options.again,
            };
            tokio::task::spawn_blocking(move || {
                let policy = Policy {
                    resend: Some(&resend),
                    ..policy
                };
                feed(&input, &history, &cards, &first_look, policy, to_send, jobs)
            })
        };
        let records = engine::Records {
            ledger: record.ledger(),
            cards,
        };
        let sending = engine::run(
            client,
            records,
            receiver,
            options.settings.clone(),
            counters.clone(),
            halt.clone(),
            async move {
                let _ = interrupted.await;
            },
        )
        .await;
        self.observer.sent();
        let fed = feeder
            .await
            .unwrap_or_else(|e| Err(FeedError::Stopped(e.to_string())));
        finished.stop = match (sending.stop, fed) {
            (Stop::Finished, Err(e)) => Stop::Fault(e.to_string()),
            (stop, _) => stop,
        };
        finished.achieved_rate = sending.achieved_rate;
        Ok(finished)
    }

    /// The instance must be able to send: refused credentials and the states that cannot
    /// send stop the run; `starting` is waited for (about a minute); the others warn.
    async fn preflight(&mut self, client: &Client) -> Result<String, SendError> {
        let mut state = client.state().await.map_err(SendError::Preflight)?;
        let patience = tokio::time::Instant::now() + STARTING_PATIENCE;
        while state == "starting" && tokio::time::Instant::now() < patience {
            self.observer.note(Note::Starting);
            tokio::time::sleep(Duration::from_secs(5)).await;
            state = client.state().await.map_err(SendError::Preflight)?;
        }
        match state.as_str() {
            "authorized" => Ok(state),
            "yellowCard" | "blocked" | "suspended" => Err(SendError::Instance {
                meaning: cannot_send(&state),
                state,
            }),
            _ => {
                self.observer.note(Note::InstanceState {
                    state: state.clone(),
                });
                Ok(state)
            }
        }
    }

    /// Looks up the rows whose answer an earlier run lost (see [`lookup::resolve`]) and
    /// returns the unknown rows this run sends again: with `--retry-unknown`, those looked
    /// up, not found, and attempted at least [`RETRY_UNKNOWN_AFTER`] ago; else none.
    async fn look_up(
        &mut self,
        client: &Client,
        record: &mut Record,
    ) -> Result<HashSet<ContentKey>, SendError> {
        match lookup::resolve(client, record).await {
            Ok(resolved) => {
                if resolved != lookup::Resolved::default() {
                    self.observer.note(Note::LookedUp(resolved.clone()));
                }
                Ok(if self.options.retry_unknown {
                    resolved.resendable
                } else {
                    HashSet::new()
                })
            }
            Err(ResolveError::Call(refused @ CallError::Refused { .. })) => {
                Err(SendError::Preflight(refused))
            }
            Err(ResolveError::Call(other)) => {
                self.observer.note(Note::LookupFailed(other.to_string()));
                Ok(HashSet::new())
            }
            Err(ResolveError::Record(record)) => Err(SendError::Record(record)),
        }
    }

    /// The plan: the queue's delay and length, the line saying when the last card leaves,
    /// and the refusal when the cards cannot leave within the queue's 24 hours.
    async fn plan(
        &mut self,
        client: &Client,
        cards: u64,
        state: &str,
    ) -> Result<Option<jiff::Timestamp>, SendError> {
        if cards == 0 {
            return Ok(None);
        }
        let read =
            async { Ok::<_, CallError>((client.delay().await?, client.queue_length().await?)) };
        let (delay, length) = match read.await {
            Ok(read) => read,
            Err(refused @ CallError::Refused { .. }) => return Err(SendError::Preflight(refused)),
            Err(other) => {
                self.observer.note(Note::NoPlan(other.to_string()));
                return Ok(None);
            }
        };
        let plan = QueuePlan {
            cards,
            queued: length.count,
            at_least: length.at_least,
            delay,
            rate: self.options.settings.rate,
            ttl: self.options.queue_ttl,
        };
        let now = jiff::Timestamp::now();
        self.observer.note(Note::Plan {
            plan,
            now,
            state: state.to_string(),
        });
        if !plan.fits() {
            return Err(SendError::QueueFull(plan));
        }
        if state != "authorized" {
            return Ok(None);
        }
        let leaves = jiff::SignedDuration::try_from(plan.last_leaves_in()).ok();
        Ok(leaves.and_then(|d| now.checked_add(d).ok()))
    }

    /// A dry run with somewhere to send: the instance's state and the plan, read only.
    async fn dry_run_plan(&mut self, cards: u64) -> Result<(), SendError> {
        let (client, _sandbox) = self.client().await?;
        let state = self.preflight(&client).await?;
        self.plan(&client, cards, &state).await.map(drop)
    }

    /// The client for the target, and the emulator it talks to when that is the target.
    async fn client(&mut self) -> Result<(Client, Option<Sandbox>), SendError> {
        let timeout = self.options.timeout;
        match &self.options.target {
            Target::Api {
                credentials,
                shared_calls,
            } => Ok((
                Client::new(credentials, timeout, shared_calls.clone())?,
                None,
            )),
            Target::Sandbox | Target::Unset => {
                let kept = sandbox::kept_file(&self.options.state_dir);
                let dry_run = self.options.dry_run;
                let started = Sandbox::start_kept(sandbox::built_in(), kept, !dry_run)
                    .await
                    .map_err(SendError::Sandbox)?;
                self.observer.note(Note::Sandbox { url: started.url() });
                let credentials = Credentials::new(
                    &started.url(),
                    &started.config().id_instance,
                    &started.config().token,
                )
                .map_err(anyhow::Error::msg)?;
                Ok((Client::new(&credentials, timeout, None)?, Some(started)))
            }
        }
    }

    fn dry_run_target(&self) -> Result<String, SendError> {
        Ok(match &self.options.target {
            Target::Api { credentials, .. } => {
                Client::new(credentials, self.options.timeout, None)?.masked_url("sendContact")
            }
            Target::Sandbox => "the built-in sandbox".to_string(),
            Target::Unset => "(no credentials given yet)".to_string(),
        })
    }
}

/// What the validation pass found.
#[derive(Debug, Default)]
struct Checked {
    tally: Tally,
    /// Rows this run sends for sure (never sent, pending, failed).
    to_send: u64,
    /// Sendable rows whose earlier answer was lost.
    unknown: Vec<ContentKey>,
    /// Rows whose card went out before with other names: how many, and the first few.
    changed: u64,
    changed_first: Vec<ChangedRow>,
    /// Rows whose card this machine sent in another run.
    already_sent: u64,
    bodies: Vec<(RowNumber, String)>,
    /// The rows whose card the history did not have, for the passes after this one.
    first_look: FirstLook,
}

/// How long a `starting` instance is waited for before sending begins anyway.
const STARTING_PATIENCE: Duration = Duration::from_secs(60);

/// What a state that cannot send means.
fn cannot_send(state: &str) -> &'static str {
    match state {
        "yellowCard" => {
            "WhatsApp suspects spam. GREEN-API still answers 200 but sends nothing: the \
             messages would wait in the queue and be dropped after 24 hours. Send nothing for \
             a while, then slowly (a longer delay in the console, a lower --rate)"
        }
        "blocked" => "WhatsApp blocked the number: nothing it sends is delivered",
        _ => "the instance is suspended (check the plan and payment in the GREEN-API console)",
    }
}

/// Why the feed stopped before the end of the input.
#[derive(Debug, thiserror::Error)]
enum FeedError {
    #[error("cannot read the input again ({0}); the rows not sent yet stay pending")]
    Input(#[from] InputError),
    #[error("the input reader stopped unexpectedly ({0}); the rows not sent yet stay pending")]
    Stopped(String),
}

/// Walks the input again and queues the rows this run sends, in input order, at most
/// `limit`. A closed queue (the sender stopped: Ctrl-C, a fatal answer) ends it quietly; a
/// read error does not.
fn feed(
    input: &InputOptions,
    history: &History,
    cards: &RwLock<SentCards>,
    first_look: &FirstLook,
    policy: Policy,
    limit: u64,
    jobs: mpsc::Sender<Job>,
) -> Result<(), FeedError> {
    enum Ended {
        Closed,
        Input(InputError),
    }
    let mut fed = 0u64;
    impl From<InputError> for Ended {
        fn from(e: InputError) -> Ended {
            Ended::Input(e)
        }
    }
    let mut table = Table::open(input)?;
    // Looked up beside the other rows, with the history as it stands: a card another run
    // claims meanwhile is refused when its own claim is made.
    let prepare = |row: &Row, checked: &crate::contact::Checked| {
        let cards = read(cards);
        let judge = Judge {
            history,
            cards: Some(&cards),
            first_look: Some(first_look),
        };
        judge.prepare(row, checked)
    };
    let judge = Judge {
        history,
        cards: None,
        first_look: None,
    };
    let walked = validation::walk_with(&mut table, prepare, |row, checked, verdict, prepared| {
        let (Verdict::Sendable(key), Some(request), Some(prepared)) =
            (verdict, &checked.request, prepared)
        else {
            return Ok(());
        };
        if fed >= limit {
            return Ok(());
        }
        let card = prepared.card;
        let standing = judge.standing(key, prepared);
        let (goes, changed) = (
            standing.goes(key, policy),
            matches!(standing, Standing::Changed(_)),
        );
        if goes {
            fed += 1;
            let job = Job {
                attempt: dispatch::Attempt {
                    key,
                    row: row.number,
                    chat_id: request.chat_id.to_string(),
                    phone_contact: request.phone_contact.get(),
                    card,
                    names: Box::new(request.names().map(str::to_string)),
                    slot: None,
                    // A corrected card replaces its earlier self, which the history holds.
                    again: policy.again || changed,
                },
                body: request.body(),
            };
            jobs.blocking_send(job).map_err(|_| Ended::Closed)?;
        }
        Ok(())
    });
    match walked {
        Ok(_) | Err(Ended::Closed) => Ok(()),
        Err(Ended::Input(e)) => Err(FeedError::Input(e)),
    }
}

/// The file through which runs on one instance share their call times (see
/// [`Target::Api`]): in `state_dir`, one per API URL and instance.
pub fn shared_calls_file(state_dir: &Path, credentials: &Credentials) -> PathBuf {
    let instance = format!("{}|{}", credentials.api_url(), credentials.id_instance());
    let key = xxhash_rust::xxh3::xxh3_64(instance.as_bytes());
    state_dir.join(format!(
        "calls-{}-{key:016x}.json",
        credentials.id_instance()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_error_in_the_feed_is_an_error_not_an_early_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        let mut csv = String::from("chatId,phoneContact,firstName\n");
        csv.push_str("79001234567,79011234567,Ann\n79001234568,79011234568,Bob\n");
        // A record over the size bound, met only after the first rows.
        csv.push_str(&format!(
            "79001234569,79011234569,\"{}\"\n",
            "x".repeat(2 << 20)
        ));
        std::fs::write(&path, csv).unwrap();
        let input = InputOptions {
            path,
            sheet: None,
            mappings: Vec::new(),
            settings: Vec::new(),
            encoding: None,
        };
        let (jobs, _queued) = mpsc::channel(16);
        let mut cards = SentCards::open(dir.path(), "1101000001").unwrap();
        cards.register(&dir.path().join("r.csv")).unwrap();
        let cards = RwLock::new(cards);
        let policy = Policy::default();
        let first_look = FirstLook::default();
        let fed = feed(
            &input,
            &History::default(),
            &cards,
            &first_look,
            policy,
            u64::MAX,
            jobs,
        );
        assert!(matches!(fed, Err(FeedError::Input(_))), "{fed:?}");
    }
}
