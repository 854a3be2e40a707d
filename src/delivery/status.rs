//! `greenbulk status RESULTS`: what became of every sent card, recorded in the ledger and
//! written into the results file's `delivery` and `deliveryAt` columns.
//!
//! A round, for each part of the history in turn (one, up to about 100,000 cards; see
//! `record::Part` and docs/delivery.md): resolve the `unknown` rows (`lookup::resolve`),
//! find every open card's state (`observe`), record the changes as `delivery` ledger
//! events, and note what the part says of each results line (`lines`). Then the results file is rewritten once from itself (it holds every input
//! column, so the input file is not needed), and the queue's length and delay read to say
//! when the last card should leave. `--watch` repeats rounds until every card's state is
//! final or 24 hours have passed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::Delivery;
use super::asked::Asked;
use super::lines;
use super::lookup::{self, ResolveError, Resolved};
use super::observe::{self, Calls, Share, Tracked};
use crate::client::{CallError, Client, Credentials, Gateway};
use crate::contact::{CardKey, ContentKey};
use crate::input::RowNumber;
use crate::record::ledger::unix_millis;
use crate::record::sent::SentCards;
use crate::record::{Column, Event, Fate, Layout, Part, Record, RecordError, StatusCounts};
use crate::sandbox::{self, Sandbox};

/// Where `status` asks.
#[derive(Debug, Clone)]
pub enum StatusTarget {
    /// GREEN-API: the instance, or the instances (`--instances`); each card is asked about
    /// on the instance that sent it.
    Api(Vec<StatusInstance>),
    /// The built-in sandbox: every instance of its that the ledger names, with the messages
    /// `send --sandbox` left in the state directory.
    Sandbox,
}

/// One instance `status` asks; `shared_calls`: call times shared with other runs on the
/// instance (see `client`).
#[derive(Debug, Clone)]
pub struct StatusInstance {
    pub credentials: Credentials,
    pub shared_calls: Option<PathBuf>,
    /// A standalone emulator on this machine (see [`crate::send::ApiInstance`]).
    pub emulated: bool,
}

/// `status`'s options, resolved.
pub struct StatusOptions {
    pub results: PathBuf,
    pub target: StatusTarget,
    pub timeout: Duration,
    /// Repeat rounds this far apart until every card is settled (or 24 hours have passed).
    pub watch: Option<Duration>,
    /// What "settled" means for `--watch`: delivered or final, or (`--until read`) read or
    /// final.
    pub until: Until,
    /// How long GREEN-API keeps a queued message.
    pub queue_ttl: Duration,
    /// The most cards a round asks about one by one (`getMessage`), on each instance (0:
    /// none; `greenbulk status` asks at least one).
    pub asked_per_round: usize,
    /// The longest a round asks about cards one by one, on each instance.
    pub asking_per_round: Duration,
    /// Where the sent-card history is kept: a round brings it in line with what it learned.
    pub state_dir: PathBuf,
    /// How many parts a round works on the history in (docs/delivery.md); none: as many as
    /// keep each near 100,000 cards.
    pub parts: Option<u32>,
}

/// When `--watch` may stop looking at a card.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Until {
    /// Delivered (or read), or a state nothing follows: a card may never be read.
    #[default]
    Delivered,
    /// Read, or a state nothing follows.
    Read,
}

impl Until {
    fn settled(self, state: Delivery) -> bool {
        match self {
            Until::Delivered => state.is_delivered() || state.is_final(),
            Until::Read => state.is_final(),
        }
    }
}

/// What a watch hears between rounds.
#[derive(Debug)]
pub enum Watched<'a> {
    /// A round ran.
    Round(&'a Round),
    /// GREEN-API did not answer this round; the watch goes on (`in_a_row` failed so far).
    Failed { error: &'a CallError, in_a_row: u32 },
    /// Another run holds the files right now; the watch looks again next round.
    Busy,
}

/// How many rounds in a row GREEN-API may fail to answer before `--watch` gives up.
pub const FAILED_ROUNDS_AT_MOST: u32 = 10;

/// What one round found.
#[derive(Debug, Clone, Default)]
pub struct Round {
    /// The rows whose answer was lost, looked up (when there were any).
    pub resolved: Option<Resolved>,
    /// Sent cards by delivery state (`not looked up` for a card whose lookup waits).
    pub states: BTreeMap<&'static str, u64>,
    /// Cards sent (accepted by GREEN-API).
    pub sent: u64,
    /// Rows still unknown after looking.
    pub unknown: u64,
    /// Cards whose one-by-one lookup waits for a later round.
    pub to_look_up: u64,
    pub calls: Calls,
    /// Each instance's queue now, when cards of ours are still in it.
    pub queues: Vec<Queue>,
    /// Cards sent from instances this status was not given: not looked up.
    pub elsewhere: BTreeMap<String, u64>,
    /// How many instances were asked.
    pub instances: usize,
    /// Every sent card is settled (see [`Until`]): the watch may stop.
    pub all_settled: bool,
    /// Cards not settled yet that a later round can learn about (their instance was given):
    /// with none, and no row unknown, watching longer learns nothing.
    pub learnable: u64,
    /// Instances (of several) that did not answer this round, and why: their cards were not
    /// looked up, the others' were. A refusal (credentials, plan) ends the run with exit 4.
    pub silent: Vec<(String, CallError)>,
    /// Cards the ledger records as sent or unknown that have no line in the results file (it
    /// was cut short or edited by hand).
    pub missing_lines: u64,
    /// The ledger's torn last line this status cut off (its number), if it had one.
    pub repaired: Option<u64>,
    /// Lines the results file records as sent or unknown whose cards the ledger did not
    /// know, taken back into it (its ledger was emptied, lost or replaced), over the rounds.
    pub restored: u64,
    /// Every sent card was delivered or read, and no row is unknown.
    pub all_delivered: bool,
    /// The results file's counts after the rewrite.
    pub counts: StatusCounts,
}

/// An instance's queue as a round saw it.
#[derive(Debug, Clone)]
pub struct Queue {
    pub instance: String,
    pub length: u64,
    /// How long it takes to send what it holds, one per delay.
    pub drains_in: Duration,
    /// The instance's state: nothing leaves unless it is `authorized`.
    pub state: String,
}

/// Why `status` could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error(transparent)]
    Record(#[from] RecordError),
    /// 401, 403, 466: the credentials or the plan stop everything.
    #[error(transparent)]
    Refused(CallError),
    #[error(transparent)]
    Call(CallError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<CallError> for StatusError {
    fn from(error: CallError) -> StatusError {
        match error {
            refused @ CallError::Refused { .. } => StatusError::Refused(refused),
            other => StatusError::Call(other),
        }
    }
}

impl From<ResolveError> for StatusError {
    fn from(error: ResolveError) -> StatusError {
        match error {
            ResolveError::Call(call) => call.into(),
            ResolveError::Record(record) => StatusError::Record(record),
        }
    }
}

/// How long `--watch` goes on at most: after that, any card still queued has been dropped.
const WATCH_AT_MOST: Duration = Duration::from_secs(24 * 3600);

/// Runs `status`: one round, or rounds until done with `--watch`; `on_round` hears each,
/// and each round that could not run. Without `--watch`, any failure ends it; with it, a
/// round GREEN-API does not answer (or whose files another run holds) is waited out, up to
/// [`FAILED_ROUNDS_AT_MOST`] unanswered rounds in a row.
pub fn run(
    options: &StatusOptions,
    on_round: &mut dyn FnMut(Watched),
) -> Result<Round, StatusError> {
    // The files are taken only while a round looks, so a `send --resume` (a cron job's next
    // share) can run in between. Without --watch they are looked at once first: a missing or
    // damaged pair is said before any instance is asked, a torn last line cut off.
    let mut restored = 0;
    let mut repaired = None;
    if options.watch.is_none() {
        repaired = Record::open_existing(&options.results)?.repaired();
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)?;
    runtime.block_on(async {
        let (clients, _sandboxes) = clients(options).await?;
        let started = tokio::time::Instant::now();
        let mut last: Option<Round> = None;
        let mut failed = 0;
        loop {
            let looked = match Record::open_existing(&options.results) {
                Ok(mut open) => round(&clients, &mut open, options).await,
                Err(error) => Err(error.into()),
            };
            match looked {
                Ok(mut round) => {
                    failed = 0;
                    restored += round.restored;
                    round.restored = restored;
                    repaired = repaired.or(round.repaired);
                    round.repaired = repaired;
                    on_round(Watched::Round(&round));
                    last = Some(round);
                }
                Err(StatusError::Record(RecordError::Busy { .. })) if options.watch.is_some() => {
                    on_round(Watched::Busy)
                }
                Err(StatusError::Call(error)) if options.watch.is_some() => {
                    failed += 1;
                    on_round(Watched::Failed {
                        error: &error,
                        in_a_row: failed,
                    });
                    if failed >= FAILED_ROUNDS_AT_MOST {
                        return Err(StatusError::Call(error));
                    }
                }
                Err(other) => return Err(other),
            }
            // Cards only instances not given here could tell about: the last round's table
            // says so, and another round would say the same.
            let settled = last.as_ref().is_some_and(|round| {
                round.all_settled || (round.learnable == 0 && round.unknown == 0)
            });
            let done = settled || started.elapsed() >= WATCH_AT_MOST;
            match (options.watch, last.take()) {
                (Some(every), round) if !done => {
                    last = round;
                    tokio::time::sleep(every).await;
                }
                (_, Some(round)) => return Ok(round),
                // Watching, out of time, and never a round: say why with the last failure.
                (_, None) => {
                    return Err(StatusError::Other(anyhow::anyhow!(
                        "no round could look at the cards in 24 hours"
                    )));
                }
            }
        }
    })
}

/// The clients of the instances to ask, in order: those given, or the built-in sandbox's
/// instances that the ledger names (its first when it names none), started with the
/// messages `send --sandbox` kept.
async fn clients(
    options: &StatusOptions,
) -> Result<(Vec<Arc<dyn Gateway>>, Vec<Sandbox>), StatusError> {
    let mut clients: Vec<Arc<dyn Gateway>> = Vec::new();
    let mut started = Vec::new();
    match &options.target {
        StatusTarget::Api(instances) => {
            for instance in instances {
                let client = Client::new(
                    &instance.credentials,
                    options.timeout,
                    instance.shared_calls.clone(),
                )?;
                clients.push(Arc::new(client));
            }
        }
        StatusTarget::Sandbox => {
            // The instances it names, not its cards.
            let history = Record::peek_part(&options.results, Part::NONE)?;
            let mut places: Vec<usize> = history
                .named_instances()
                .filter_map(|id| sandbox::built_in_place(id))
                .collect();
            // An instance is named by its attempts and by its run's list: one emulator each.
            places.sort_unstable();
            places.dedup();
            if places.is_empty() {
                places.push(0);
            }
            for place in places {
                let config = sandbox::built_in(place);
                let kept = sandbox::kept_file(&options.state_dir, &config.id_instance);
                let one = Sandbox::start_kept(config, kept, true)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot start the built-in sandbox: {e}"))?;
                let credentials =
                    Credentials::new(&one.url(), &one.config().id_instance, &one.config().token)
                        .map_err(anyhow::Error::msg)?;
                clients.push(Arc::new(Client::new(&credentials, options.timeout, None)?));
                started.push(one);
            }
        }
    }
    Ok((clients, started))
}

/// One round: every part of the history in turn ([`Record::parts`]), then the results file
/// rewritten once from what each part found.
async fn round(
    clients: &[Arc<dyn Gateway>],
    record: &mut Record,
    options: &StatusOptions,
) -> Result<Round, StatusError> {
    // Each instance's queue and journal, asked once this round whichever part needs them:
    // once to find lost answers, once for the sent cards' states.
    // Cards sent to the sandbox reached no one: a real instance has nothing to say of them,
    // and its sent-card history must not take them (the sandbox stopped, its address now
    // looks like any other).
    // Nor does a sandbox know real cards: its made-up states must not go into their ledger.
    match record.history().sent_to_sandbox() {
        Some((true, _)) if !emulated(options) => {
            return Err(StatusError::Other(anyhow::anyhow!(
                "{} holds cards sent to the sandbox, which reached no one: ask the sandbox \
                 that took them — add --sandbox for the built-in one, or start `greenbulk \
                 sandbox` again at the address it had",
                crate::term::shown_path(&options.results)
            )));
        }
        Some((false, true)) if emulated(options) => {
            return Err(StatusError::Other(anyhow::anyhow!(
                "{} holds cards sent for real: the sandbox knows nothing of them. Ask the \
                 instance that sent them (leave out --sandbox)",
                crate::term::shown_path(&options.results)
            )));
        }
        _ => {}
    }
    let finding: Vec<Asked> = clients.iter().map(|c| Asked::new(c.as_ref())).collect();
    let seeing: Vec<Asked> = clients.iter().map(|c| Asked::new(c.as_ref())).collect();
    let parts = record.parts(options.parts);
    let now = unix_millis();
    let mut round = Round {
        instances: clients.len(),
        all_settled: true,
        all_delivered: true,
        ..Round::default()
    };
    let mut resolved = Resolved::default();
    let mut queued_on = vec![false; clients.len()];
    let mut messages = 0;
    // Each instance's lookups one by one this round.
    let whole = Share {
        cards: options.asked_per_round,
        time: options.asking_per_round,
    };
    let mut budget = vec![whole; clients.len()];
    let mut earlier = Vec::new();
    let mut missing = 0;
    // Of several instances, one that does not answer keeps only its own cards unlooked-at.
    let mut silent: Vec<Option<CallError>> = vec![None; clients.len()];
    let several = clients.len() > 1;
    for (done, &part) in parts.iter().enumerate() {
        record.load_part(part)?;
        for (place, asked) in finding.iter().enumerate() {
            if silent[place].is_some() {
                continue;
            }
            let scope = lookup::Scope {
                instance: asked.id_instance(),
                alone: clients.len() == 1,
            };
            let found = match lookup::resolve(asked, record, scope).await {
                Err(ResolveError::Record(error)) => return Err(error.into()),
                Err(ResolveError::Call(error)) => Err(error),
                Ok(found) => Ok(found),
            };
            if let Some(found) = unless_silent(found, several, &mut silent[place])? {
                resolved.add(found);
            }
        }
        reconcile_sent_cards(clients, record, options, part)?;
        // The lookups one by one are shared out: each part its share of what is left.
        let parts_left = parts.len() - done;
        let shares: Vec<Share> = budget
            .iter()
            .map(|left| Share {
                cards: left.cards.div_ceil(parts_left),
                time: left.time / parts_left as u32,
            })
            .collect();
        let seen = see_part(
            &seeing,
            record,
            options,
            now,
            &shares,
            &mut silent,
            &mut round,
        )
        .await?;
        for (left, used) in budget.iter_mut().zip(&seen.used) {
            left.cards -= used.cards.min(left.cards);
            left.time = left.time.saturating_sub(used.time);
        }
        messages += seen.messages;
        for (place, queued) in seen.queued_on.into_iter().enumerate() {
            queued_on[place] |= queued;
        }
        if !part.is_last() {
            let (found, part_missing) = lines::found_in_part(record)?;
            earlier.push(found);
            missing += part_missing;
        }
    }
    if let Some(error) = silent.iter().flatten().next()
        && silent.iter().all(Option::is_some)
    {
        return Err(error.clone().into());
    }
    round.restored = record.restored().map_or(0, |restored| restored.rows);
    round.repaired = record.repaired();
    // An unknown row shown absent long enough ago is as settled as watching makes it: only
    // `send --resume --retry-unknown` moves it on (a hostile audit's finding: `--watch` went
    // on asking for 24 hours, against a plan's monthly calls).
    let absent = resolved.resendable.len() as u64;
    round.resolved = (resolved != Resolved::default()).then_some(resolved);
    round.all_settled &= round.unknown <= absent;
    round.all_delivered &= round.unknown == 0;
    // The results file first: the queue's length and delay below are for the summary only,
    // and a call of theirs that fails must not leave the file behind the ledger. (A part
    // that fails before this leaves it behind what the earlier parts appended: the ledger
    // holds it, and the next round writes it.)
    let (counts, last_missing) = lines::rewrite(record, earlier)?;
    round.counts = counts;
    // Rows unknown that the ledger does not hold as its own (another run's attempt, a row
    // taken back from the results file) are not delivered either.
    round.all_delivered &= counts.unknown == 0;
    // Nothing sent is nothing delivered: a batch of pending rows is not "all good". A file
    // whose every card went before, from other results files, has nothing to wait for.
    let went_before = counts.already_sent > 0 && counts.pending == 0 && counts.failed == 0;
    round.all_delivered &= round.sent > 0 || went_before;
    round.missing_lines = missing + last_missing;
    let mut calls = Calls {
        messages,
        ..Calls::default()
    };
    for asked in &seeing {
        let (journal, queue) = asked.calls();
        calls.journal += journal;
        calls.queue += queue;
    }
    for (place, client) in clients.iter().enumerate() {
        if !queued_on[place] || silent[place].is_some() {
            continue;
        }
        let queue = async {
            Ok::<_, CallError>((
                client.queue_length().await?,
                client.delay().await?,
                client.state().await?,
            ))
        };
        let Some((length, delay, state)) = unless_silent(queue.await, several, &mut silent[place])?
        else {
            continue;
        };
        calls.queue += 3;
        round.queues.push(Queue {
            instance: client.id_instance().to_string(),
            length: length.count,
            drains_in: delay.saturating_mul(length.count as u32),
            state,
        });
    }
    round.calls = calls;
    round.silent = clients
        .iter()
        .zip(silent)
        .filter_map(|(client, error)| Some((client.id_instance().to_string(), error?)))
        .collect();
    Ok(round)
}

/// An instance's answer; of `several` instances, one whose call failed is `silent` for the
/// rest of the round (none: its cards go unlooked-at, the others' do not), while a run on one
/// instance ends with the failure.
fn unless_silent<T>(
    answer: Result<T, CallError>,
    several: bool,
    silent: &mut Option<CallError>,
) -> Result<Option<T>, StatusError> {
    match answer {
        Ok(answer) => Ok(Some(answer)),
        Err(error) if several => {
            *silent = Some(error);
            Ok(None)
        }
        Err(error) => Err(error.into()),
    }
}

/// Whether `status` asks an emulator: the built-in sandbox, or standalone ones.
fn emulated(options: &StatusOptions) -> bool {
    match &options.target {
        StatusTarget::Sandbox => true,
        StatusTarget::Api(instances) => {
            !instances.is_empty() && instances.iter().all(|i| i.emulated)
        }
    }
}

/// What the lookups learned goes into this machine's sent-card histories too (the part of
/// them the record holds): a card found sent is never sent again from another results
/// file, one shown absent may be.
fn reconcile_sent_cards(
    clients: &[Arc<dyn Gateway>],
    record: &Record,
    options: &StatusOptions,
    part: Part,
) -> Result<(), StatusError> {
    let dir = if emulated(options) {
        sandbox::history_dir(&options.state_dir)
    } else {
        options.state_dir.clone()
    };
    let history = record.history();
    for (place, client) in clients.iter().enumerate() {
        let mut cards = SentCards::open_part(&dir, client.id_instance(), part)
            .map_err(|e| anyhow::anyhow!(e))?;
        cards
            .register(&record.identity())
            .and_then(|_| cards.reconcile_with(history, unix_millis(), place == 0))
            .map_err(|e| anyhow::anyhow!(e))?;
    }
    Ok(())
}

/// What one part's sent cards showed.
struct SeenPart {
    /// Cards asked about one by one, on each instance, and how long that took.
    used: Vec<Share>,
    /// `getMessage` calls made.
    messages: u32,
    /// Whether a card of this part is queued on each instance.
    queued_on: Vec<bool>,
}

/// Finds the state of every sent card of the part the record holds (asking as many
/// as `shares[i]` allows one by one on instance `i`), records the changes in the ledger and in
/// the history held, and adds what it saw to `round`.
async fn see_part(
    clients: &[Asked<'_>],
    record: &mut Record,
    options: &StatusOptions,
    now: u64,
    shares: &[Share],
    silent: &mut [Option<CallError>],
    round: &mut Round,
) -> Result<SeenPart, StatusError> {
    let history = record.history().clone();
    // The chat of each sent card: the ledger's, else the results file's (older ledgers).
    let chats = results_chats(record)?;
    // Each sent card with a chat: its place in the history (4 bytes, not a copy of it), and
    // the client that asks about it (none: an instance not given here). The keys' come
    // first, then the rows taken back from the results file (from `keyed` on).
    const NO_CLIENT: u16 = u16::MAX;
    let mut open: Vec<u32> = Vec::new();
    let mut asker: Vec<u16> = Vec::new();
    let mut ask_on = |instance: Option<&str>| {
        // A card whose instance an older ledger did not record is asked about where it
        // can only have gone: the one instance given.
        let client = match instance {
            Some(on) => clients.iter().position(|c| c.id_instance() == on),
            None => (clients.len() == 1).then_some(0),
        };
        if client.is_none()
            && let Some(on) = instance
        {
            *round.elsewhere.entry(on.to_string()).or_default() += 1;
        }
        client.map_or(NO_CLIENT, |c| c as u16)
    };
    for (place, (_, state)) in history.iter().enumerate() {
        match &state.fate {
            Fate::Sent(id) => {
                if state.chat.is_none() && !chats.contains_key(id) {
                    continue;
                }
                open.push(place as u32);
                asker.push(ask_on(history.instance(state.instance)));
            }
            Fate::Unknown(_) => round.unknown += 1,
            _ => {}
        }
    }
    let keyed = open.len();
    for place in history.restored_sent() {
        let (_, state) = history.restored_at(place).expect("a row taken back");
        open.push(place);
        asker.push(ask_on(history.instance(state.instance)));
    }
    let card = |i: usize| -> (Learned, RowNumber, Tracked<'_>) {
        if i >= keyed {
            let (card, state) = history.restored_at(open[i]).expect("a row taken back");
            // Accepted before it was taken back, and before its state was first learned.
            let accepted_by = state
                .at
                .into_iter()
                .chain(state.delivery.map(|(_, since)| since))
                .min();
            let tracked = Tracked {
                chat_id: state.chat,
                id_message: state.sent.expect("only sent rows are followed"),
                accepted_at: None,
                accepted_by,
                delivery: state.delivery.map(|(delivery, _)| delivery),
                looked_up: state.looked_up,
            };
            return (Learned::Card(card), state.row, tracked);
        }
        let (key, state) = history.at(open[i]).expect("a place in this history");
        let id = match &state.fate {
            Fate::Sent(id) => id.as_str(),
            _ => unreachable!("only sent cards are tracked"),
        };
        let chat = state
            .chat
            .as_deref()
            .or_else(|| chats.get(id).map(String::as_str))
            .expect("only cards with a chat are tracked");
        let tracked = Tracked {
            chat_id: chat,
            id_message: id,
            accepted_at: state.sent_at,
            accepted_by: state.sent_at,
            delivery: state.delivery.map(|(delivery, _)| delivery),
            looked_up: state.looked_up,
        };
        (Learned::Key(key), state.row, tracked)
    };
    let mut states: Vec<Option<Delivery>> = vec![None; open.len()];
    let mut asked: Vec<u32> = Vec::new();
    let mut seen = SeenPart {
        used: vec![Share::default(); clients.len()],
        messages: 0,
        queued_on: vec![false; clients.len()],
    };
    for (place, client) in clients.iter().enumerate() {
        let place16 = place as u16;
        // One instance asks about every card: no list of them.
        let every = asker.iter().all(|&a| a == place16);
        let mine: Vec<u32> = if every {
            Vec::new()
        } else {
            (0..open.len() as u32)
                .filter(|&i| asker[i as usize] == place16)
                .collect()
        };
        let count = if every { open.len() } else { mine.len() };
        if count == 0 || silent[place].is_some() {
            continue;
        }
        let of = |j: usize| if every { j } else { mine[j] as usize };
        let observed = observe::observe(
            client,
            count,
            |j| card(of(j)).2,
            options.queue_ttl,
            now,
            shares[place],
        )
        .await;
        let Some(observed) = unless_silent(observed, clients.len() > 1, &mut silent[place])? else {
            continue;
        };
        for (j, state) in observed.states.iter().enumerate() {
            states[of(j)] = *state;
            seen.queued_on[place] |= *state == Some(Delivery::Queued);
        }
        asked.extend(observed.asked.iter().map(|&j| of(j) as u32));
        seen.used[place] = Share {
            cards: observed.asked.len(),
            time: observed.asking_took,
        };
        round.to_look_up += observed.waiting;
        seen.messages += observed.calls.messages;
    }
    round.sent += open.len() as u64;
    for (i, (state, &client)) in states.iter().zip(&asker).enumerate() {
        let before = card(i).2.delivery;
        // No answer for an open card: it waits for a later round's lookups (or for a
        // status given its instance). Whatever it was seen as before (queued, say), it is
        // not that any more, and what it is now is not known yet.
        let waiting =
            (state.is_none() || client == NO_CLIENT) && !before.is_some_and(Delivery::is_final);
        let state = state.or(before);
        *round
            .states
            .entry(match state {
                Some(state) if !waiting => state.name(),
                _ => "not looked up",
            })
            .or_default() += 1;
        let settled = state.is_some_and(|state| options.until.settled(state));
        round.all_settled &= settled;
        // An instance that refused the credentials will not answer a later round either.
        let refused = silent
            .get(usize::from(client))
            .is_some_and(|error| matches!(error, Some(CallError::Refused { .. })));
        round.learnable += u64::from(!settled && client != NO_CLIENT && !refused);
        round.all_delivered &= state.is_some_and(Delivery::is_delivered);
    }

    // What changed: a card's new state, and whether it was asked about one by one.
    let mut was_asked = vec![false; open.len()];
    for &i in &asked {
        was_asked[i as usize] = true;
    }
    drop(asked);
    let changed = |i: usize| {
        let (_, _, tracked) = card(i);
        states[i].filter(|&state| tracked.delivery != Some(state))
    };
    let events = (0..open.len()).flat_map(|i| {
        let (learned, row, _) = card(i);
        let (state, asked) = (changed(i), was_asked[i]);
        match learned {
            Learned::Key(key) => [
                state.map(|state| Event::Delivery {
                    key,
                    row,
                    state,
                    at: now,
                }),
                asked.then_some(Event::LookedUp { key, row, at: now }),
            ],
            Learned::Card(card) => [
                (state.is_some() || asked).then_some(Event::Followed {
                    card,
                    state,
                    looked_up: asked,
                    at: now,
                }),
                None,
            ],
        }
        .into_iter()
        .flatten()
    });
    record.append_unread(events)?;
    // The history held learns the same, without reading the ledger again (nor keeping a
    // list of the changes: a million cards' would be 16 MB).
    drop(chats);
    drop(history);
    record.update_history(|history| {
        for (i, (&place, &state)) in open.iter().zip(&states).enumerate() {
            let asked = was_asked[i];
            if i >= keyed {
                let before = history
                    .restored_at(place)
                    .and_then(|(_, card)| card.delivery)
                    .map(|(delivery, _)| delivery);
                let state = state.filter(|&state| Some(state) != before);
                if state.is_some() || asked {
                    history.follow_restored(place, state, asked, now);
                }
                continue;
            }
            if let Some(held) = history.state_at_mut(place) {
                if let Some(state) = state
                    && held.delivery.map(|(delivery, _)| delivery) != Some(state)
                {
                    held.delivery = Some((state, now));
                }
                if asked {
                    held.looked_up = Some(now);
                }
            }
        }
    })?;
    Ok(seen)
}

/// Whose state a status round learned: a key's, or a row's taken back from the results
/// file (known by its card).
#[derive(Clone, Copy)]
enum Learned {
    Key(ContentKey),
    Card(CardKey),
}

/// The chat of each sent row whose ledger did not record it (written by an older
/// greenbulk), by idMessage, from the results file (none is read otherwise).
fn results_chats(record: &Record) -> Result<HashMap<String, String>, StatusError> {
    let mut chats = HashMap::new();
    let history = record.history();
    let without_chat: HashSet<&str> = history
        .iter()
        .filter(|(_, state)| state.chat.is_none())
        .filter_map(|(_, state)| match &state.fate {
            Fate::Sent(id) => Some(id.as_str()),
            _ => None,
        })
        .collect();
    if without_chat.is_empty() {
        return Ok(chats);
    }
    let mut layout: Option<Layout> = None;
    record.read_results(|line| match &layout {
        None => layout = Some(Layout::of(&line)),
        Some(layout) => {
            let mut fields = layout.arrange(line);
            let id = std::mem::take(&mut fields[Column::IdMessage.at()]);
            if without_chat.contains(id.as_str()) {
                chats.insert(id, std::mem::take(&mut fields[Column::ChatId.at()]));
            }
        }
    })?;
    Ok(chats)
}
