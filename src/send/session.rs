//! The session's steps, in order (see the `send` module's documentation). The blocking ones
//! (files, the validation walk) run on blocking threads; the rest is async, on whatever
//! runtime drives the session. What is asked of each instance is in `asking`.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, RwLock};

use tokio::sync::mpsc;

use super::asking::{self, gateways_for, last_leaves, look_up, plan, preflight};
use super::check::{self, Checked, Pass};
use super::dispatch::{Halt, Stop};
use super::engine::{self, Counters, Lane};
use super::events::{Event, Events, InstanceInfo, Note};
use super::feed::{self, Feed, FeedError};
use super::{Cancel, DryRun, Finished, LaneEnd, Outcome, SendError, SendOptions, Session, Target};
use crate::client::Gateway;
use crate::contact::ContentKey;
use crate::read;
use crate::record::ledger::{History, unix_millis};
use crate::record::sent::{ClaimsLock, Histories, SentCards};
use crate::record::standing::{FirstLook, Policy};
use crate::record::{Event as LedgerEvent, Record, SANDBOX_SETTING};
use crate::route::Routing;
use crate::send::schedule::{Gate, WallClock};
use std::time::Duration;

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
    let instances = asking::instances(&options, gateways.as_deref());
    events.send(Event::Instances {
        instances: instances.clone(),
    });
    let ids: Vec<String> = instances.iter().map(|i| i.id_instance.clone()).collect();
    let mut routing = Routing::new(ids, &history.instances, options.reassign);
    let (record, cards) = {
        let (options, routing) = (options.clone(), routing.clone());
        until_cancelled(
            &cancel,
            blocking(move || {
                let cards = sent_cards(&options, record.as_ref(), &routing)?;
                Ok::<_, SendError>((record, cards))
            }),
        )
        .await??
    };
    if let Some(restored) = record.as_ref().and_then(Record::restored) {
        events.note(Note::Restored(restored));
    }
    for history in cards.iter().filter(|c| c.damaged() > 0) {
        events.note(Note::HistoryDamaged {
            path: history.shown_path(),
            slots: history.damaged(),
        });
    }

    let (record, cards, mut checked) = {
        let (options, events, history, routing) = (
            options.clone(),
            events.clone(),
            history.clone(),
            routing.clone(),
        );
        until_cancelled(
            &cancel,
            blocking(move || {
                let views: Vec<&SentCards> = cards.iter().collect();
                let checked = check::check(Pass {
                    input: &options.input,
                    // A workbook is written once, at the end: writing a million rows of it
                    // twice costs seconds, and the ledger holds what a crash would need
                    // (docs/results.md).
                    record: record.as_ref().filter(|r| !r.results_is_workbook()),
                    history: &history,
                    routing: &routing,
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
    if tally.invalid > 0 && (!options.skip_invalid || !tally.skippable()) {
        return Ok(Outcome::Invalid {
            tally: checked.tally,
        });
    }

    // From here on GREEN-API is asked: each instance through its gateway.
    let Some(mut record) = record else {
        return dry_run(&options, gateways, &events, &cancel, checked).await;
    };
    record_instances(&mut record, &history, &routing, options.reassign)?;
    let (gateways, _sandboxes) =
        until_cancelled(&cancel, gateways_for(&options, gateways, &events)).await??;
    let first_look = Arc::new(std::mem::take(&mut checked.first_look));
    let cards: Vec<Arc<RwLock<SentCards>>> = cards
        .into_iter()
        .map(|c| Arc::new(RwLock::new(c)))
        .collect();
    let histories = Arc::new(Histories::new(cards.clone()));
    let run = Run {
        options: &options,
        gateways: &gateways,
        instances: &instances,
        cards: &cards,
        histories: &histories,
        events: &events,
        cancel: &cancel,
        clock: WallClock::starting_at(options.started_at),
    };
    let finished = run
        .send(&mut record, &mut routing, checked, first_look.clone())
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
        let options = options.clone();
        blocking(move || {
            // Every history the run looked at, those its claims found included: a row one of
            // them refused says so.
            let cards = crate::lock(&histories).clone();
            let guards: Vec<_> = cards.iter().map(|c| read(c)).collect();
            let views: Vec<&SentCards> = guards.iter().map(|g| &**g).collect();
            let lookup = crate::record::standing::lookup_in(&views);
            let counts = record
                .rewrite(
                    &options.input,
                    &routing,
                    &lookup,
                    Some(&first_look),
                    options.again,
                )
                .map_err(|e| e.to_string());
            (record, counts)
        })
        .await
    };
    let mut record = record;
    // A run that created the results file and sent nothing removes it again, unless its
    // lines say something: rows this machine sent in another run, or may have.
    if counts
        .as_ref()
        .is_ok_and(|c| c.total.already_sent + c.total.unknown_elsewhere > 0)
    {
        record.keep();
    }
    if let Ok(counts) = counts {
        // Held back: by --limit, and the rows of instances the schedule held (the daily cap,
        // the window with --exit-outside-window) — all still pending; one whose card another
        // row of this run sent is not.
        finished.held_back = finished.held_back.min(counts.total.pending);
        for lane in &finished.lanes {
            if matches!(lane.stop, Stop::Held(_)) {
                let held = counts.by_instance.get(&lane.instance.id_instance);
                finished.held += held.map_or(0, |c| c.pending);
            }
        }
        // A row held back by --limit on a held instance counts once.
        finished.held = finished.held.min(counts.total.pending - finished.held_back);
        // Its lines say why the rows wait (the window, the cap): the next run continues it.
        if finished.held > 0 {
            record.keep();
        }
        finished.counts = Ok(counts.total);
        finished.by_instance = counts.by_instance;
    } else if let Err(error) = counts {
        finished.counts = Err(error);
    }
    finished.results_kept = record.kept();
    Ok(Outcome::Finished(finished))
}

/// Each instance's sent-card history: this run's, opened for its results file and brought in
/// line with its ledger (a run killed before it wrote its outcome there), then those of the
/// instances earlier runs on the results file had and this one lacks, only read (a card one
/// of them sent is not sent again from another). A dry run only reads them all.
fn sent_cards(
    options: &SendOptions,
    record: Option<&Record>,
    routing: &Routing,
) -> Result<Vec<SentCards>, SendError> {
    let dir = options.history_dir();
    let mut all = Vec::with_capacity(routing.instances().len() + routing.missing().len());
    for (lane, instance) in routing.instances().iter().enumerate() {
        let Some(record) = record else {
            all.push(SentCards::peek(&dir, instance)?);
            continue;
        };
        let mut cards = SentCards::open(&dir, instance)?;
        cards.register(&record.identity())?;
        cards.reconcile_with(record.history(), unix_millis(), lane == 0)?;
        all.push(cards);
    }
    // Every other instance this machine ever sent from: a card one of them sent is not sent
    // again from another (a number taken out of --instances, or replaced).
    let known: Vec<&String> = routing.instances().iter().collect();
    for instance in routing
        .missing()
        .iter()
        .chain(SentCards::instances_in(&dir).iter())
        .filter(|i| !known.contains(i))
        .collect::<std::collections::BTreeSet<_>>()
    {
        all.push(SentCards::peek(&dir, instance)?);
    }
    Ok(all)
}

/// Records the run's instances in the ledger when they differ from those recorded before:
/// later runs then know which rows wait for which instance.
fn record_instances(
    record: &mut Record,
    history: &History,
    routing: &Routing,
    reassign: bool,
) -> Result<(), SendError> {
    let ids = routing.instances();
    let known = ids.iter().all(|id| history.instances.contains(id));
    let dropped = reassign && history.instances.iter().any(|id| !ids.contains(id));
    if ids.is_empty() || (known && !dropped) {
        return Ok(());
    }
    record.append(&[LedgerEvent::Instances {
        ids: ids.to_vec(),
        replaced: reassign,
        at: unix_millis(),
    }])?;
    Ok(())
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
    let mut capped = 0;
    let target = match (&gateways, &options.target) {
        (None, Target::Unset) => None,
        _ => {
            let (gateways, _sandboxes) =
                until_cancelled(cancel, gateways_for(options, gateways, events)).await??;
            let target = match options.target {
                Target::Sandbox { .. } => Some("the built-in sandbox".to_string()),
                _ => gateways.first().map(|g| g.masked_url("sendContact")),
            };
            let live = vec![true; gateways.len()];
            let resent = vec![0; gateways.len()];
            let shares = asking::shares(&checked.lanes, &resent, &live, options.limit);
            // What --daily-cap leaves room for today, on each instance, after what this
            // machine sent from it today: the rest stays pending, as in a real run.
            if let Some(cap) = options.schedule.daily_cap {
                let now = options.started_at.unwrap_or_else(jiff::Timestamp::now);
                for (gateway, share) in gateways.iter().zip(&shares) {
                    let room =
                        cap.saturating_sub(asking::sent_today(options, gateway.id_instance(), now));
                    capped += share.saturating_sub(room);
                }
            }
            let rates = asking::rates(options, gateways.len());
            let mut plans = Vec::new();
            for (lane, gateway) in gateways.iter().enumerate() {
                let asked = async {
                    let state = preflight(gateway.as_ref(), events).await?;
                    let share = shares[lane];
                    let now = options.started_at.unwrap_or_else(jiff::Timestamp::now);
                    plan(
                        options,
                        gateway.as_ref(),
                        share,
                        rates[lane],
                        &state,
                        now,
                        events,
                    )
                    .await
                };
                match until_cancelled(cancel, asked).await? {
                    Ok(planned) => plans.push(planned),
                    Err(error) if gateways.len() > 1 => {
                        events.note(Note::InstanceStopped {
                            instance: gateway.id_instance().to_string(),
                            reason: asking::stop_reason(&error),
                        });
                        plans.push(None);
                    }
                    Err(error) => return Err(error),
                }
            }
            check_plans(options, &gateways, &plans, &checked.lanes, &live)?;
            target.map(|t| match gateways.len() {
                1 => t,
                n => format!("{t} and {} more instances", n - 1),
            })
        }
    };
    let capped = capped.min(to_send);
    checked
        .bodies
        .truncate(usize::try_from(to_send - capped).unwrap_or(usize::MAX));
    Ok(Outcome::DryRun(DryRun {
        to_send: to_send - capped,
        held_back: checked.to_send - to_send,
        capped,
        unknown: checked.unknown.len() as u64,
        target,
        rate: options.settings.rate,
        bodies: checked.bodies,
    }))
}

/// Refuses the run when some instance's queue cannot send its share in time, with the most
/// rows (`--limit`) that fit every instance. A window never lets the queue hold more than
/// leaves in time: no refusal then. (A pace keeps the queue from growing, but not from
/// holding a backlog already there: its plan is checked.)
fn check_plans(
    options: &SendOptions,
    gateways: &[Arc<dyn Gateway>],
    plans: &[Option<crate::send::QueuePlan>],
    order: &[u16],
    live: &[bool],
) -> Result<(), SendError> {
    if options.schedule.window.is_some() {
        return Ok(());
    }
    let Some(lane) = plans.iter().position(|p| p.is_some_and(|p| !p.fits())) else {
        return Ok(());
    };
    let plan = plans[lane].expect("the plan that does not fit");
    let fitting = if gateways.len() == 1 {
        plan.fitting()
    } else {
        let each: Vec<u64> = plans
            .iter()
            .map(|p| p.map_or(u64::MAX, |p| p.fitting()))
            .collect();
        asking::fitting_overall(order, live, &each)
    };
    Err(SendError::QueueFull {
        instance: gateways[lane].id_instance().to_string(),
        plan,
        fitting,
        several: gateways.len() > 1,
    })
}

/// What sending needs of the session, borrowed.
struct Run<'r> {
    options: &'r Arc<SendOptions>,
    gateways: &'r [Arc<dyn Gateway>],
    instances: &'r [InstanceInfo],
    /// The sent-card histories: the lanes' (in lane order), then the missing instances'.
    cards: &'r [Arc<RwLock<SentCards>>],
    /// The same, and those the lanes' claims find in the directory meanwhile.
    histories: &'r Arc<Histories>,
    events: &'r Events,
    cancel: &'r Cancel,
    clock: WallClock,
}

impl Run<'_> {
    /// How a run ends, before its lanes' ends are known.
    fn finished(
        &self,
        to_send: u64,
        held_back: u64,
        waiting: u64,
        last_leaves: Option<jiff::Timestamp>,
    ) -> Finished {
        Finished {
            stop: Stop::Finished,
            lanes: Vec::new(),
            to_send,
            held_back,
            held: 0,
            waiting,
            last_leaves,
            rate: self.options.settings.rate,
            achieved_rate: None,
            counters: Arc::new(Counters::default()),
            results: self.options.results.clone(),
            results_kept: true,
            counts: Err("not written yet".into()),
            by_instance: BTreeMap::new(),
        }
    }

    /// A run with nothing to send ends here: it says why, and each instance's lane ends as
    /// its first look left it.
    fn sends_nothing(
        &self,
        record: &Record,
        routing: &Routing,
        checked: &Checked,
        live: &[bool],
        rates: &[super::Rate],
        mut finished: Finished,
    ) -> Finished {
        self.events.note(
            if check::still_unknown(&checked.unknown, record.history()) {
                Note::OnlyUnknownLeft
            } else if checked.tally.rows == 0 {
                Note::NoRows
            } else if !checked.waiting.is_empty() {
                // Said above: the rows left wait for an instance this run does not have.
                Note::OnlyWaitingLeft
            } else if checked.in_doubt > 0 {
                Note::OnlyInDoubtLeft
            } else {
                Note::NothingToSend
            },
        );
        finished.lanes = (0..self.gateways.len())
            .map(|lane| LaneEnd {
                instance: self.instances[lane].clone(),
                stop: preflight_stop(routing, lane, live),
                started: false,
                rate: rates[lane],
                achieved_rate: None,
                counters: Arc::new(Counters::default()),
            })
            .collect();
        finished.stop = worst(finished.lanes.iter().map(|l| &l.stop));
        finished
    }

    /// Asks each instance, then feeds and dispatches every row this run sends, each to its
    /// instance's lane. An instance that cannot send, of several, stops only its own rows.
    async fn send(
        &self,
        record: &mut Record,
        routing: &mut Routing,
        checked: Checked,
        first_look: Arc<FirstLook>,
    ) -> Result<Finished, SendError> {
        let (options, events, cancel) = (self.options, self.events, self.cancel);
        let lanes = self.gateways.len();
        let rates = asking::rates(options, lanes);
        // Continuing a results file with nothing to send, look up or wait for: GREEN-API is
        // not asked at all, so a cron job's `--resume` of a finished file succeeds while
        // GREEN-API cannot be reached. (A new results file's run asks it all the same: the
        // credentials of a run being set up are checked at once.)
        if !record.is_new()
            && checked.to_send == 0
            && checked.unknown.is_empty()
            && checked.waiting.is_empty()
        {
            let live = vec![true; lanes];
            let finished = self.finished(0, 0, 0, None);
            return Ok(self.sends_nothing(record, routing, &checked, &live, &rates, finished));
        }

        // Each instance's state; of several, one that cannot send stops only its rows.
        let mut states: Vec<Option<String>> = Vec::with_capacity(lanes);
        let mut first_error = None;
        // Asked all at once: an instance that does not answer holds up none of the others.
        let asked = futures_util::future::join_all(
            self.gateways
                .iter()
                .map(|gateway| preflight(gateway.as_ref(), events)),
        );
        let answers = until_cancelled(cancel, asked).await?;
        for ((lane, gateway), answer) in self.gateways.iter().enumerate().zip(answers) {
            match answer {
                Ok(state) => states.push(Some(state)),
                Err(error) if lanes > 1 => {
                    let reason = asking::stop_reason(&error);
                    events.note(Note::InstanceStopped {
                        instance: gateway.id_instance().to_string(),
                        reason: reason.clone(),
                    });
                    routing.stop(lane, reason);
                    first_error.get_or_insert(error);
                    states.push(None);
                }
                Err(error) => return Err(error),
            }
        }
        if let Some(error) = first_error
            && states.iter().all(Option::is_none)
        {
            return Err(error);
        }
        let live: Vec<bool> = states.iter().map(Option::is_some).collect();

        // The rows whose answer an earlier run lost, looked up where they were sent.
        let mut resend = HashSet::new();
        let first_live = live.iter().position(|l| *l);
        for (lane, gateway) in self.gateways.iter().enumerate() {
            if !live[lane] {
                continue;
            }
            let found = look_up(options, gateway.as_ref(), lanes == 1, record, events);
            resend.extend(until_cancelled(cancel, found).await??);
        }
        let mut resent = vec![0u64; lanes];
        let history = record.history().clone();
        for key in checked.unknown.iter().filter(|key| resend.contains(key)) {
            let on = history.get(*key).and_then(|s| history.instance(s.instance));
            let lane = on
                .and_then(|on| routing.instances().iter().position(|i| i == on))
                .or(first_live)
                .unwrap_or(0);
            resent[lane] += 1;
        }

        // Each instance's share, and whether its queue can send it in time.
        let shares = asking::shares(&checked.lanes, &resent, &live, options.limit);
        let to_send: u64 = shares.iter().sum();
        let wanted: u64 = checked
            .lanes
            .iter()
            .filter(|lane| live[usize::from(**lane)])
            .count() as u64
            + resent.iter().sum::<u64>();
        let mut plans = Vec::with_capacity(lanes);
        for (lane, gateway) in self.gateways.iter().enumerate() {
            let Some(state) = &states[lane] else {
                plans.push(None);
                continue;
            };
            let asked = plan(
                options,
                gateway.as_ref(),
                shares[lane],
                rates[lane],
                state,
                self.clock.now(),
                events,
            );
            plans.push(until_cancelled(cancel, asked).await??);
        }
        check_plans(options, self.gateways, &plans, &checked.lanes, &live)?;
        let now = self.clock.now();
        let last_leaves = if options.schedule.is_active() {
            None
        } else {
            plans
                .iter()
                .zip(&states)
                .filter_map(|(plan, state)| last_leaves(plan.as_ref()?, state.as_deref()?, now))
                .max()
        };
        // Each card passes its instance's gate: the window, the pace, the daily cap.
        let schedule = Arc::new(options.schedule.clone());
        let mut gates: Vec<Option<Gate>> = plans
            .iter()
            .map(|plan| {
                schedule.is_active().then(|| {
                    // Unread, the instance's delay is taken as GREEN-API's shortest.
                    let (delay, queued) =
                        plan.map_or((Duration::from_millis(500), 0), |p| (p.delay, p.queued));
                    Gate::new(schedule.clone(), delay, queued, now)
                })
            })
            .collect();

        let mut finished = self.finished(
            to_send,
            wanted - to_send,
            checked.waiting.values().sum(),
            last_leaves,
        );
        let lane_counters: Vec<Arc<Counters>> =
            (0..lanes).map(|_| Arc::new(Counters::default())).collect();
        let end = |lane: usize, stop: Stop, started: bool, achieved_rate| LaneEnd {
            instance: self.instances[lane].clone(),
            stop,
            started,
            rate: rates[lane],
            achieved_rate,
            counters: lane_counters[lane].clone(),
        };
        if to_send == 0 {
            return Ok(self.sends_nothing(record, routing, &checked, &live, &rates, finished));
        }

        events.send(Event::Sending { total: to_send });
        let run_halt = Halt::new();
        let mut senders = Vec::with_capacity(lanes);
        let mut running = Vec::with_capacity(lanes);
        let mut halts = Vec::with_capacity(lanes);
        for (lane, gateway) in self.gateways.iter().enumerate() {
            let (jobs, queued) = mpsc::channel::<engine::Job>(1024);
            senders.push(jobs);
            if !live[lane] {
                // Its receiver dropped: the feed passes its rows by, and they stay pending.
                running.push(None);
                continue;
            }
            let one = Lane {
                instance: gateway.id_instance().to_string(),
                gateway: gateway.clone(),
                ledger: record.ledger(),
                cards: self.cards[lane].clone(),
                histories: self.histories.clone(),
                claims: Arc::new(ClaimsLock::open(&options.history_dir())?),
                settings: engine::Settings {
                    rate: rates[lane],
                    ..options.settings.clone()
                },
                counters: lane_counters[lane].clone(),
                events: events.clone(),
                halt: Halt::new(),
                run: run_halt.clone(),
                gate: gates[lane]
                    .take()
                    .map(|gate| tokio::sync::Mutex::new(gate.spaced(rates[lane].interval()))),
                schedule: schedule.is_active().then(|| schedule.clone()),
                held: std::sync::OnceLock::new(),
                state: states[lane].clone().unwrap_or_default(),
                clock: self.clock,
            };
            halts.push(one.halt.clone());
            running.push(Some(tokio::spawn(engine::run(one, queued))));
        }
        // Ctrl-C stops the run; a file that can no longer be written (one lane's fault)
        // stops every lane.
        let watcher = {
            let (cancel, run_halt, halts) = (cancel.clone(), run_halt.clone(), halts.clone());
            tokio::spawn(async move {
                tokio::select! {
                    _ = cancel.cancelled() => run_halt.halt(Stop::Interrupted),
                    _ = run_halt.until_halted() => {}
                }
                let stop = run_halt.stop().unwrap_or(Stop::Interrupted);
                for halt in &halts {
                    halt.halt(stop.clone());
                }
            })
        };
        let feeder = {
            let (options, history, cards, routing) = (
                options.clone(),
                record.history().clone(),
                self.cards.to_vec(),
                routing.clone(),
            );
            let policy_resend = resend;
            tokio::task::spawn_blocking(move || {
                let views: Vec<&RwLock<SentCards>> = cards.iter().map(|c| &**c).collect();
                feed::feed(Feed {
                    input: &options.input,
                    history: &history,
                    routing: &routing,
                    cards: &views,
                    lanes: senders,
                    first_look: &first_look,
                    policy: policy(&options, Some(&policy_resend)),
                    limit: to_send,
                })
            })
        };
        let mut sendings = Vec::with_capacity(lanes);
        for lane in running {
            match lane {
                None => sendings.push(None),
                Some(handle) => match handle.await {
                    Ok(sending) => sendings.push(Some(sending)),
                    Err(error) => std::panic::resume_unwind(error.into_panic()),
                },
            }
        }
        watcher.abort();
        let fed = feeder
            .await
            .unwrap_or_else(|e| Err(FeedError::Stopped(e.to_string())));
        let fed_error = fed.err().map(|e| e.to_string());
        for (lane, sending) in sendings.into_iter().enumerate() {
            let one = match sending {
                None => end(lane, preflight_stop(routing, lane, &live), false, None),
                Some(sending) => {
                    let stop = match (sending.stop, &fed_error) {
                        (Stop::Finished, Some(e)) => Stop::Fault(e.clone()),
                        (stop, _) => stop,
                    };
                    match &stop {
                        Stop::Fatal(reason) => routing.stop(lane, reason.clone()),
                        Stop::Held(reason) => routing.hold(lane, reason.clone()),
                        _ => {}
                    }
                    end(lane, stop, true, sending.achieved_rate)
                }
            };
            finished.lanes.push(one);
        }
        finished.stop = worst(finished.lanes.iter().map(|l| &l.stop));
        finished.counters = Arc::new(Counters::total(lane_counters.iter().map(|c| &**c)));
        let rates: Vec<f64> = finished
            .lanes
            .iter()
            .filter_map(|l| l.achieved_rate)
            .collect();
        finished.achieved_rate = (!rates.is_empty()).then(|| rates.iter().sum());
        Ok(finished)
    }
}

/// How a lane that never started ended: stopped at its preflight (or, live, with nothing
/// to send).
fn preflight_stop(routing: &Routing, lane: usize, live: &[bool]) -> Stop {
    if live[lane] {
        return Stop::Finished;
    }
    let reason = routing
        .stop_reason(lane)
        .unwrap_or("it could not be asked")
        .to_string();
    Stop::Fatal(reason)
}

/// The worst of the lanes' stops: refused by GREEN-API, then a fault, then interrupted.
fn worst<'s>(stops: impl Iterator<Item = &'s Stop>) -> Stop {
    let rank = |stop: &Stop| match stop {
        Stop::Finished => 0,
        Stop::Held(_) => 1,
        Stop::Interrupted => 2,
        Stop::Fault(_) => 3,
        Stop::Fatal(_) => 4,
    };
    stops
        .max_by_key(|stop| rank(stop))
        .cloned()
        .unwrap_or(Stop::Finished)
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

/// The `--set` values and the `--country` must be those of the run this one continues (none
/// recorded: none given); a new ledger records them. Another country would read the same
/// cells as other numbers. So must the kind of target, sandbox or real, recorded with them
/// ([`SANDBOX_SETTING`]) but refused in words of its own.
fn same_card(
    options: &SendOptions,
    history: &History,
    record: Option<&mut Record>,
) -> Result<(), SendError> {
    let mut sets: BTreeMap<String, String> = options
        .input
        .settings
        .iter()
        .map(|s| (s.field.name().to_string(), s.value.clone()))
        .collect();
    // Recorded beside the fields, under the flag's own name (no field starts with `--`).
    if let Some(country) = options.input.country {
        sets.insert("--country".into(), country.to_string());
    }
    // Cards sent to the sandbox reached no one: a real run must not take them for its own,
    // nor a sandbox run add made-up cards to real ones.
    // Recorded either way, so that a run that sent nothing yet still says which it was.
    let emulated = options.emulated();
    let word = if emulated { "yes" } else { "no" };
    sets.insert(SANDBOX_SETTING.into(), word.into());
    if let Some((sandbox_then, recorded)) = history.sent_to_sandbox()
        && sandbox_then != emulated
        && !matches!(options.target, Target::Unset)
    {
        return Err(SendError::SandboxChanged {
            results: crate::term::shown_path(&options.results),
            sandbox_then,
            recorded,
        });
    }
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
    let empty = BTreeMap::new();
    let recorded = history.settings.as_ref().unwrap_or(&empty);
    let fields = recorded
        .keys()
        .chain(sets.keys())
        .filter(|field| *field != SANDBOX_SETTING);
    let quoted = |v: Option<&String>| {
        v.map_or("not set".to_string(), |v| {
            format!("'{}'", crate::term::shown(v))
        })
    };
    for field in fields {
        let (was, now) = (recorded.get(field), sets.get(field));
        if was != now {
            return Err(SendError::SettingsChanged {
                field: if field.starts_with("--") {
                    field.clone()
                } else {
                    format!("--set {field}")
                },
                was: quoted(was),
                now: quoted(now),
                results: crate::term::shown_path(&options.results),
            });
        }
    }
    Ok(())
}

/// The policy for sending again what was (or may have been) sent before.
fn policy<'p>(options: &SendOptions, resend: Option<&'p HashSet<ContentKey>>) -> Policy<'p> {
    Policy {
        resend,
        resend_changed: options.resend_changed,
        again: options.again,
    }
}
