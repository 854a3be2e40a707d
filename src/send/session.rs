//! The session's steps, in order (see the `send` module's documentation). The blocking ones
//! (files, the validation walk) run on blocking threads; the rest is async, on whatever
//! runtime drives the session.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;

use super::check::{self, Checked, Pass};
use super::dispatch::{Halt, Stop};
use super::engine::{self, Counters, Lane};
use super::events::{Event, Events, Note};
use super::feed::{self, Feed, FeedError};
use super::plan::QueuePlan;
use super::{Cancel, DryRun, Finished, Outcome, SendError, SendOptions, Session, Target};
use crate::client::{CallError, Client, Credentials, Gateway};
use crate::contact::ContentKey;
use crate::delivery::lookup::{self, ResolveError};
use crate::read;
use crate::record::ledger::{History, unix_millis};
use crate::record::sent::SentCards;
use crate::record::standing::{FirstLook, Policy};
use crate::record::{Event as LedgerEvent, Record};
use crate::sandbox::{self, Sandbox};

/// How long a `starting` instance is waited for before sending begins anyway.
const STARTING_PATIENCE: Duration = Duration::from_secs(60);

pub(super) async fn run(session: Session, cancel: Cancel) -> Result<Outcome, SendError> {
    let Session {
        options,
        gateways,
        events,
    } = session;
    let options = Arc::new(options);

    let (record, history) = {
        let (options, events) = (options.clone(), events.clone());
        until_cancelled(&cancel, blocking(move || open(&options, &events))).await??
    };
    let instances: Vec<String> = match (&gateways, &options.target) {
        (Some(gateways), _) => gateways
            .iter()
            .map(|g| g.id_instance().to_string())
            .collect(),
        (None, Target::Api { credentials, .. }) => vec![credentials.id_instance().to_string()],
        (None, Target::Sandbox) => vec![sandbox::DEFAULT_ID_INSTANCE.to_string()],
        (None, Target::Unset) => Vec::new(),
    };
    let (record, cards) = {
        let (options, instances) = (options.clone(), instances.clone());
        until_cancelled(
            &cancel,
            blocking(move || {
                let cards = sent_cards(&options, record.as_ref(), &instances)?;
                Ok::<_, SendError>((record, cards))
            }),
        )
        .await??
    };
    if let Some(restored) = record.as_ref().and_then(Record::restored) {
        events.note(Note::Restored(restored));
    }

    let (record, cards, mut checked) = {
        let (options, events, history, instances) = (
            options.clone(),
            events.clone(),
            history.clone(),
            instances.clone(),
        );
        until_cancelled(
            &cancel,
            blocking(move || {
                let views: Vec<&SentCards> = cards.iter().collect();
                let checked = check::check(Pass {
                    input: &options.input,
                    record: record.as_ref(),
                    history: &history,
                    instances: &instances,
                    cards: &views,
                    policy: policy(&options, None),
                    dry_run: options.dry_run,
                    skip_invalid: options.skip_invalid,
                    events: &events,
                })?;
                Ok::<_, SendError>((record, cards, checked))
            }),
        )
        .await??
    };
    let tally = &checked.tally;
    if tally.invalid > 0 && (!options.skip_invalid || tally.sendable == 0) {
        return Ok(Outcome::Invalid {
            tally: checked.tally,
        });
    }

    // From here on GREEN-API is asked: each instance through its gateway.
    let Some(mut record) = record else {
        return dry_run(&options, gateways, &events, &cancel, checked).await;
    };
    let (gateways, _sandbox) =
        until_cancelled(&cancel, gateways_for(&options, gateways, &events)).await??;
    let first_look = Arc::new(std::mem::take(&mut checked.first_look));
    let cards: Vec<Arc<RwLock<SentCards>>> = cards
        .into_iter()
        .map(|c| Arc::new(RwLock::new(c)))
        .collect();
    let finished = send(
        &options,
        &mut record,
        &gateways,
        &cards,
        checked,
        first_look.clone(),
        &events,
        &cancel,
    )
    .await;
    let mut finished = match finished {
        Ok(finished) => finished,
        Err(error) => {
            drop(record);
            return Err(error);
        }
    };
    events.send(Event::Sent);

    let (record, counts) = {
        let (options, instances) = (options.clone(), instances.clone());
        blocking(move || {
            let guards: Vec<_> = cards.iter().map(|c| read(c)).collect();
            let views: Vec<&SentCards> = guards.iter().map(|g| &**g).collect();
            let lookup = crate::record::standing::lookup_in(&views);
            let counts = record
                .rewrite(&options.input, &instances, &lookup, Some(&first_look))
                .map_err(|e| e.to_string());
            (record, counts)
        })
        .await
    };
    let mut record = record;
    // A run that created the results file and sent nothing removes it again, unless its
    // lines say something: rows this machine sent in another run.
    if counts.as_ref().is_ok_and(|c| c.already_sent > 0) {
        record.keep();
    }
    // Held back are rows still pending: one whose card another row of this run sent is not.
    if let Ok(counts) = &counts {
        finished.held_back = finished.held_back.min(counts.pending);
    }
    finished.counts = counts;
    finished.results_kept = record.kept();
    Ok(Outcome::Finished(finished))
}

/// Runs blocking work on a blocking thread; a panic there is a panic here.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => done,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

/// Runs `work` unless the run is cancelled first (then: interrupted, nothing sent).
async fn until_cancelled<T>(
    cancel: &Cancel,
    work: impl std::future::Future<Output = T>,
) -> Result<T, SendError> {
    tokio::select! {
        done = work => Ok(done),
        _ = cancel.cancelled() => Err(SendError::Interrupted),
    }
}

/// Opens the results file and its ledger (none for a dry run, which only peeks at them),
/// checks the run's `--set` values against the ledger's, and notes what opening found.
fn open(
    options: &SendOptions,
    events: &Events,
) -> Result<(Option<Record>, Arc<History>), SendError> {
    let mut record = if options.dry_run {
        None
    } else {
        Some(Record::open(&options.results, options.resume)?)
    };
    if let Some(record) = &record {
        if options.resume && record.is_new() {
            events.note(Note::NewRun);
        }
        if let Some(line) = record.repaired() {
            events.note(Note::Repaired {
                ledger: record.ledger_path().to_path_buf(),
                line,
            });
        }
    }
    let history = match &record {
        Some(record) => record.history().clone(),
        None => Arc::new(Record::peek(&options.results)?),
    };
    same_card(options, &history, record.as_mut())?;
    if let Some(record) = record.as_mut() {
        record.set_about(about(options));
    }
    Ok((record, history))
}

/// What a results workbook's summary says about this run.
fn about(options: &SendOptions) -> crate::record::About {
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
    options: &SendOptions,
    history: &History,
    record: Option<&mut Record>,
) -> Result<(), SendError> {
    let sets: BTreeMap<String, String> = options
        .input
        .settings
        .iter()
        .map(|s| (s.field.name().to_string(), s.value.clone()))
        .collect();
    if history.is_empty() {
        if let Some(record) = record
            && !sets.is_empty()
        {
            record.append(&[LedgerEvent::Settings {
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
                results: crate::term::shown_path(&options.results),
            });
        }
    }
    Ok(())
}

/// Each instance's sent-card history: opened for this run's results file and brought in
/// line with its ledger (a run killed before it wrote its outcome there); only read by a dry
/// run.
fn sent_cards(
    options: &SendOptions,
    record: Option<&Record>,
    instances: &[String],
) -> Result<Vec<SentCards>, SendError> {
    let mut all = Vec::with_capacity(instances.len());
    for instance in instances {
        let Some(record) = record else {
            all.push(SentCards::peek(&options.state_dir, instance)?);
            continue;
        };
        let mut cards = SentCards::open(&options.state_dir, instance)?;
        cards.register(&record.identity())?;
        cards.reconcile_with(record.history(), unix_millis())?;
        all.push(cards);
    }
    Ok(all)
}

/// The policy for sending again what was (or may have been) sent before.
fn policy<'p>(options: &SendOptions, resend: Option<&'p HashSet<ContentKey>>) -> Policy<'p> {
    Policy {
        resend,
        resend_changed: options.resend_changed,
        again: options.again,
    }
}

/// The gateways the run sends through, one an instance: those given, or clients made from
/// the target (the built-in emulator started for it, kept alive with them).
async fn gateways_for(
    options: &SendOptions,
    given: Option<Vec<Arc<dyn Gateway>>>,
    events: &Events,
) -> Result<(Vec<Arc<dyn Gateway>>, Option<Sandbox>), SendError> {
    if let Some(given) = given {
        return Ok((given, None));
    }
    let timeout = options.timeout;
    match &options.target {
        Target::Api {
            credentials,
            shared_calls,
        } => {
            let client = Client::new(credentials, timeout, shared_calls.clone())?;
            Ok((vec![Arc::new(client)], None))
        }
        Target::Sandbox | Target::Unset => {
            let kept = sandbox::kept_file(&options.state_dir);
            let started = Sandbox::start_kept(sandbox::built_in(), kept, !options.dry_run)
                .await
                .map_err(SendError::Sandbox)?;
            events.note(Note::Sandbox { url: started.url() });
            let credentials = Credentials::new(
                &started.url(),
                &started.config().id_instance,
                &started.config().token,
            )
            .map_err(anyhow::Error::msg)?;
            let client = Client::new(&credentials, timeout, None)?;
            Ok((vec![Arc::new(client)], Some(started)))
        }
    }
}

/// A dry run: the rows a real run would send, and, with somewhere to send, each instance's
/// state and plan, read only.
async fn dry_run(
    options: &SendOptions,
    gateways: Option<Vec<Arc<dyn Gateway>>>,
    events: &Events,
    cancel: &Cancel,
    mut checked: Checked,
) -> Result<Outcome, SendError> {
    // What a real run would send: at most --limit rows.
    let to_send = options
        .limit
        .map_or(checked.to_send, |limit| limit.min(checked.to_send));
    checked
        .bodies
        .truncate(usize::try_from(to_send).unwrap_or(usize::MAX));
    let target = match (&gateways, &options.target) {
        (None, Target::Unset) => None,
        _ => {
            let (gateways, _sandbox) =
                until_cancelled(cancel, gateways_for(options, gateways, events)).await??;
            let target = match options.target {
                Target::Sandbox => Some("the built-in sandbox".to_string()),
                _ => gateways.first().map(|g| g.masked_url("sendContact")),
            };
            for gateway in &gateways {
                let asked = async {
                    let state = preflight(gateway.as_ref(), events).await?;
                    plan(options, gateway.as_ref(), to_send, &state, events).await
                };
                until_cancelled(cancel, asked).await??;
            }
            target
        }
    };
    Ok(Outcome::DryRun(DryRun {
        to_send,
        held_back: checked.to_send - to_send,
        unknown: checked.unknown.len() as u64,
        target,
        rate: options.settings.rate,
        bodies: checked.bodies,
    }))
}

/// Asks each instance, then feeds and dispatches every row this run sends.
#[allow(clippy::too_many_arguments)]
async fn send(
    options: &Arc<SendOptions>,
    record: &mut Record,
    gateways: &[Arc<dyn Gateway>],
    cards: &[Arc<RwLock<SentCards>>],
    checked: Checked,
    first_look: Arc<FirstLook>,
    events: &Events,
    cancel: &Cancel,
) -> Result<Finished, SendError> {
    let gateway = gateways[0].as_ref();
    let before = async {
        let state = preflight(gateway, events).await?;
        let resend = look_up(options, gateway, record, events).await?;
        let resent = checked
            .unknown
            .iter()
            .filter(|key| resend.contains(key))
            .count() as u64;
        let wanted_rows = checked.to_send + resent;
        let to_send = options.limit.map_or(wanted_rows, |l| l.min(wanted_rows));
        let last_leaves = plan(options, gateway, to_send, &state, events).await?;
        Ok::<_, SendError>((resend, wanted_rows, to_send, last_leaves))
    };
    let (resend, wanted_rows, to_send, last_leaves) = until_cancelled(cancel, before).await??;

    let counters = Arc::new(Counters::default());
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
        events.note(
            if check::still_unknown(&checked.unknown, record.history()) {
                Note::OnlyUnknownLeft
            } else if checked.tally.rows == 0 {
                Note::NoRows
            } else {
                Note::NothingToSend
            },
        );
        return Ok(finished);
    }

    events.send(Event::Sending { total: to_send });
    let mut lanes = Vec::with_capacity(gateways.len());
    let mut senders = Vec::with_capacity(gateways.len());
    for (gateway, cards) in gateways.iter().zip(cards) {
        let (jobs, queued) = mpsc::channel::<engine::Job>(1024);
        let lane = Lane {
            instance: gateway.id_instance().to_string(),
            gateway: gateway.clone(),
            ledger: record.ledger(),
            cards: cards.clone(),
            settings: options.settings.clone(),
            counters: counters.clone(),
            events: events.clone(),
            halt: Halt::new(),
        };
        senders.push(jobs);
        lanes.push((lane, queued));
    }
    let halts: Vec<Halt> = lanes.iter().map(|(lane, _)| lane.halt.clone()).collect();
    let watcher = {
        let (cancel, halts) = (cancel.clone(), halts.clone());
        tokio::spawn(async move {
            cancel.cancelled().await;
            for halt in &halts {
                halt.halt(Stop::Interrupted);
            }
        })
    };
    let feeder = {
        let (options, history, cards, instances) = (
            options.clone(),
            record.history().clone(),
            cards.to_vec(),
            gateways
                .iter()
                .map(|g| g.id_instance().to_string())
                .collect::<Vec<_>>(),
        );
        tokio::task::spawn_blocking(move || {
            let views: Vec<&RwLock<SentCards>> = cards.iter().map(|c| &**c).collect();
            feed::feed(Feed {
                input: &options.input,
                history: &history,
                instances: &instances,
                cards: &views,
                lanes: senders,
                first_look: &first_look,
                policy: policy(&options, Some(&resend)),
                limit: to_send,
            })
        })
    };
    let running: Vec<_> = lanes
        .into_iter()
        .map(|(lane, queued)| tokio::spawn(engine::run(lane, queued)))
        .collect();
    let mut sendings = Vec::with_capacity(running.len());
    for lane in running {
        match lane.await {
            Ok(sending) => sendings.push(sending),
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }
    watcher.abort();
    let fed = feeder
        .await
        .unwrap_or_else(|e| Err(FeedError::Stopped(e.to_string())));
    let sending = sendings.swap_remove(0);
    finished.stop = match (sending.stop, fed) {
        (Stop::Finished, Err(e)) => Stop::Fault(e.to_string()),
        (stop, _) => stop,
    };
    finished.achieved_rate = sending.achieved_rate;
    Ok(finished)
}

/// The instance must be able to send: refused credentials and the states that cannot send
/// stop the run; `starting` is waited for (about a minute); the others are noted.
async fn preflight(gateway: &dyn Gateway, events: &Events) -> Result<String, SendError> {
    let instance = gateway.id_instance().to_string();
    let mut state = gateway.state().await.map_err(SendError::Preflight)?;
    let patience = tokio::time::Instant::now() + STARTING_PATIENCE;
    while state == "starting" && tokio::time::Instant::now() < patience {
        events.note(Note::Starting {
            instance: instance.clone(),
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        state = gateway.state().await.map_err(SendError::Preflight)?;
    }
    match state.as_str() {
        "authorized" => Ok(state),
        "yellowCard" | "blocked" | "suspended" => Err(SendError::Instance { instance, state }),
        _ => {
            events.note(Note::InstanceState {
                instance,
                state: state.clone(),
            });
            Ok(state)
        }
    }
}

/// Looks up the rows whose answer an earlier run lost (see [`lookup::resolve`]) and returns
/// the unknown rows this run sends again: with `--retry-unknown`, those looked up, not
/// found, and attempted at least [`lookup::RETRY_UNKNOWN_AFTER`] ago; else none.
async fn look_up(
    options: &SendOptions,
    gateway: &dyn Gateway,
    record: &mut Record,
    events: &Events,
) -> Result<HashSet<ContentKey>, SendError> {
    let instance = gateway.id_instance().to_string();
    match lookup::resolve(gateway, record).await {
        Ok(resolved) => {
            let resendable = resolved.resendable.clone();
            if resolved != lookup::Resolved::default() {
                events.note(Note::LookedUp { instance, resolved });
            }
            Ok(if options.retry_unknown {
                resendable
            } else {
                HashSet::new()
            })
        }
        Err(ResolveError::Call(refused @ CallError::Refused { .. })) => {
            Err(SendError::Preflight(refused))
        }
        Err(ResolveError::Call(other)) => {
            events.note(Note::LookupFailed {
                instance,
                why: other.to_string(),
            });
            Ok(HashSet::new())
        }
        Err(ResolveError::Record(record)) => Err(SendError::Record(record)),
    }
}

/// The plan: the queue's delay and length, noted; refused when the cards cannot leave within
/// the queue's 24 hours. Returns when the last card should leave, when it can be told.
async fn plan(
    options: &SendOptions,
    gateway: &dyn Gateway,
    cards: u64,
    state: &str,
    events: &Events,
) -> Result<Option<jiff::Timestamp>, SendError> {
    if cards == 0 {
        return Ok(None);
    }
    let instance = gateway.id_instance().to_string();
    let read =
        async { Ok::<_, CallError>((gateway.delay().await?, gateway.queue_length().await?)) };
    let (delay, length) = match read.await {
        Ok(read) => read,
        Err(refused @ CallError::Refused { .. }) => return Err(SendError::Preflight(refused)),
        Err(other) => {
            events.note(Note::NoPlan {
                instance,
                why: other.to_string(),
            });
            return Ok(None);
        }
    };
    let plan = QueuePlan {
        cards,
        queued: length.count,
        at_least: length.at_least,
        delay,
        rate: options.settings.rate,
        ttl: options.queue_ttl,
    };
    let now = jiff::Timestamp::now();
    events.note(Note::Plan {
        instance: instance.clone(),
        plan,
        now,
        state: state.to_string(),
    });
    if !plan.fits() {
        return Err(SendError::QueueFull { instance, plan });
    }
    if state != "authorized" {
        return Ok(None);
    }
    let leaves = jiff::SignedDuration::try_from(plan.last_leaves_in()).ok();
    Ok(leaves.and_then(|d| now.checked_add(d).ok()))
}
