//! `greenbulk status RESULTS`: what became of every sent card, recorded in the ledger and
//! written into the results file's `delivery` and `deliveryAt` columns.
//!
//! A round: resolve the `unknown` rows ([`lookup::resolve`]), find every open card's state
//! ([`observe`]), record the changes as `delivery` ledger events, rewrite the results file
//! from itself (it holds every input column, so the input file is not needed), and read the
//! queue's length and delay to say when the last card should leave. `--watch` repeats rounds
//! until every card's state is final or 24 hours have passed.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::Delivery;
use super::lookup::{self, ResolveError, Resolved};
use super::observe::{self, Calls, Tracked};
use crate::client::{CallError, Client, Credentials, Gateway};
use crate::contact::{CardKey, ContentKey};
use crate::input::RowNumber;
use crate::record::ledger::unix_millis;
use crate::record::sent::SentCards;
use crate::record::{
    Column, Event, Fate, Layout, Record, RecordError, Status, StatusCounts, results,
};
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
    /// The most cards a round asks about one by one (`getMessage`).
    pub asked_per_round: usize,
    /// Where the sent-card history is kept: a round brings it in line with what it learned.
    pub state_dir: PathBuf,
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
    // share) can run in between.
    let mut restored = 0;
    let mut repaired = None;
    if options.watch.is_none() {
        let opened = Record::open_existing(&options.results)?;
        restored += opened.restored().map_or(0, |restored| restored.rows);
        repaired = opened.repaired();
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
            let settled = last.as_ref().is_some_and(|round| round.all_settled);
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
            let history = Record::peek(&options.results)?;
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

async fn round(
    clients: &[Arc<dyn Gateway>],
    record: &mut Record,
    options: &StatusOptions,
) -> Result<Round, StatusError> {
    let mut resolved = Resolved::default();
    for client in clients {
        let scope = lookup::Scope {
            instance: client.id_instance(),
            alone: clients.len() == 1,
        };
        resolved.add(lookup::resolve(client.as_ref(), record, scope).await?);
    }
    let history = record.history().clone();
    // What the lookups learned goes into this machine's sent-card histories too: a card
    // found sent is never sent again from another results file, one shown absent may be.
    for (place, client) in clients.iter().enumerate() {
        let dir = match options.target {
            StatusTarget::Sandbox => sandbox::history_dir(&options.state_dir),
            StatusTarget::Api(_) => options.state_dir.clone(),
        };
        let mut cards =
            SentCards::open(&dir, client.id_instance()).map_err(|e| anyhow::anyhow!(e))?;
        cards
            .register(&record.identity())
            .and_then(|_| cards.reconcile_with(&history, unix_millis(), place == 0))
            .map_err(|e| anyhow::anyhow!(e))?;
    }
    // The chat of each sent card: the ledger's, else the results file's (older ledgers).
    let chats = results_chats(record)?;
    // Each sent card with a chat: its place in the history (4 bytes, not a copy of it), and
    // the client that asks about it (none: an instance not given here).
    const NO_CLIENT: u16 = u16::MAX;
    let mut open: Vec<u32> = Vec::new();
    let mut asker: Vec<u16> = Vec::new();
    let mut elsewhere: BTreeMap<String, u64> = BTreeMap::new();
    let mut unknown = 0;
    for (place, (_, state)) in history.iter().enumerate() {
        match &state.fate {
            Fate::Sent(id) => {
                if state.chat.is_none() && !chats.contains_key(id) {
                    continue;
                }
                // A card whose instance an older ledger did not record is asked about
                // where it can only have gone: the one instance given.
                let client = match history.instance(state.instance) {
                    Some(on) => clients.iter().position(|c| c.id_instance() == on),
                    None => (clients.len() == 1).then_some(0),
                };
                if client.is_none()
                    && let Some(on) = history.instance(state.instance)
                {
                    *elsewhere.entry(on.to_string()).or_default() += 1;
                }
                open.push(place as u32);
                asker.push(client.map_or(NO_CLIENT, |c| c as u16));
            }
            Fate::Unknown(_) => unknown += 1,
            _ => {}
        }
    }
    let card = |i: usize| -> (ContentKey, RowNumber, Tracked<'_>) {
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
            delivery: state.delivery.map(|(delivery, _)| delivery),
            looked_up: state.looked_up,
        };
        (key, state.row, tracked)
    };
    let now = unix_millis();
    let mut states: Vec<Option<Delivery>> = vec![None; open.len()];
    let mut asked: Vec<u32> = Vec::new();
    let mut waiting = 0;
    let mut calls = Calls::default();
    let mut queued_on = vec![false; clients.len()];
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
        if count == 0 {
            continue;
        }
        let of = |j: usize| if every { j } else { mine[j] as usize };
        let observed = observe::observe(
            client.as_ref(),
            count,
            |j| card(of(j)).2,
            options.queue_ttl,
            now,
            options.asked_per_round,
        )
        .await?;
        for (j, state) in observed.states.iter().enumerate() {
            states[of(j)] = *state;
            queued_on[place] |= *state == Some(Delivery::Queued);
        }
        asked.extend(observed.asked.iter().map(|&j| of(j) as u32));
        waiting += observed.waiting;
        calls.add(observed.calls);
    }

    let mut round = Round {
        restored: record.restored().map_or(0, |restored| restored.rows),
        repaired: record.repaired(),
        resolved: (resolved != Resolved::default()).then_some(resolved),
        sent: open.len() as u64,
        unknown,
        to_look_up: waiting,
        elsewhere,
        instances: clients.len(),
        ..Round::default()
    };
    let mut all_settled = true;
    let mut all_delivered = unknown == 0;
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
        all_settled &= state.is_some_and(|state| options.until.settled(state));
        all_delivered &= state.is_some_and(Delivery::is_delivered);
    }
    round.all_settled = all_settled && unknown == 0;
    // Nothing sent is nothing delivered: a batch of pending rows is not "all good".
    round.all_delivered = all_delivered && !open.is_empty();

    let changes = states.iter().enumerate().filter_map(|(i, state)| {
        let state = (*state)?;
        let (key, row, tracked) = card(i);
        (tracked.delivery != Some(state)).then_some(Event::Delivery {
            key,
            row,
            state,
            at: now,
        })
    });
    let looked_up = asked.iter().map(|&i| {
        let (key, row, _) = card(i as usize);
        Event::LookedUp { key, row, at: now }
    });
    record.append_unread(changes.chain(looked_up))?;
    // What the round tracked goes before the ledger is read again and the results file
    // rewritten: a million cards' worth, each.
    drop((open, asker, states, asked, chats));
    drop(history);
    record.reload()?;
    // The results file first: the queue's length and delay below are for the summary only,
    // and a call of theirs that fails must not leave the file behind the ledger.
    (round.counts, round.missing_lines) = rewrite(record)?;
    for (place, client) in clients.iter().enumerate() {
        if !queued_on[place] {
            continue;
        }
        let length = client.queue_length().await?;
        let delay = client.delay().await?;
        let state = client.state().await?;
        calls.queue += 3;
        round.queues.push(Queue {
            instance: client.id_instance().to_string(),
            length: length.count,
            drains_in: delay.saturating_mul(length.count as u32),
            state,
        });
    }
    round.calls = calls;
    Ok(round)
}

/// The chat of each sent row, by idMessage, from the results file: only for ledgers written
/// by a greenbulk that did not record the chat (none are read otherwise).
fn results_chats(record: &Record) -> Result<HashMap<String, String>, StatusError> {
    let mut chats = HashMap::new();
    let without_chat = record
        .history()
        .iter()
        .any(|(_, state)| state.chat.is_none() && matches!(state.fate, Fate::Sent(_)));
    if !without_chat {
        return Ok(chats);
    }
    let mut layout: Option<Layout> = None;
    record.read_results(|line| match &layout {
        None => layout = Some(Layout::of(&line)),
        Some(layout) => {
            let mut fields = layout.arrange(line);
            let id = std::mem::take(&mut fields[Column::IdMessage.at()]);
            if !id.is_empty() {
                chats.insert(id, std::mem::take(&mut fields[Column::ChatId.at()]));
            }
        }
    })?;
    Ok(chats)
}

/// Rewrites the results file from itself with what the ledger now says of each line it can
/// tell. A line is the ledger's row when its row number, chat and phone are the row's last
/// attempt's: it gets the row's status, idMessage, error, attempts and delivery (a line of a
/// card no longer in the input keeps saying so). Another line that says its card was sent or
/// may have been — one that names a card sent from another row, or taken back from the
/// results file — is found by its idMessage, else by its card (chat and phone), and gets
/// that card's status and delivery, keeping its own note. The rest (duplicates, invalid
/// rows, cards sent in other runs) stay as they are; the next `send --resume` rewrites them
/// from the input.
fn rewrite(record: &Record) -> Result<(StatusCounts, u64), StatusError> {
    let history = record.history().clone();
    // The keys by a hash of the row, chat and phone, and by a hash of the idMessage: tables
    // of places in the history (4 bytes a slot, not 32), each found checked against the
    // state it leads to.
    let row_hash = |row: u64, chat: &str, phone: u64| {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(&row.to_le_bytes());
        hasher.update(chat.as_bytes());
        hasher.update(&[0x1f]);
        hasher.update(&phone.to_le_bytes());
        hasher.digest()
    };
    let id_hash = |id: &str| xxhash_rust::xxh3::xxh3_64(id.as_bytes());
    let state_at = |place: u32| history.at(place).expect("a place in this history").1;
    let of_row = |place: u32| {
        let state = state_at(place);
        match (&state.chat, state.phone) {
            (Some(chat), Some(phone)) => Some((state.row.0, chat.as_str(), phone)),
            _ => None,
        }
    };
    let sent_id = |place: u32| match &state_at(place).fate {
        Fate::Sent(id) => Some(id.as_str()),
        _ => None,
    };
    let mut by_row: hashbrown::HashTable<u32> = hashbrown::HashTable::new();
    let mut by_id: hashbrown::HashTable<u32> = hashbrown::HashTable::new();
    for (place, (_, state)) in history.iter().enumerate() {
        let place = place as u32;
        if let Some((row, chat, phone)) = of_row(place) {
            let entry = by_row.entry(
                row_hash(row, chat, phone),
                |&held| of_row(held) == Some((row, chat, phone)),
                |&held| of_row(held).map_or(0, |(r, c, p)| row_hash(r, c, p)),
            );
            match entry {
                hashbrown::hash_table::Entry::Occupied(mut held) => {
                    // The same row sent again corrected (--resend-changed): the content sent,
                    // then the latest attempt — as `send` writes the line (a correction that
                    // failed leaves the row's card sent).
                    if state.standing() > state_at(*held.get()).standing() {
                        *held.get_mut() = place;
                    }
                }
                hashbrown::hash_table::Entry::Vacant(slot) => {
                    slot.insert(place);
                }
            }
        }
        if let Some(id) = sent_id(place) {
            match by_id.entry(
                id_hash(id),
                |&held| sent_id(held) == Some(id),
                |&held| sent_id(held).map_or(0, id_hash),
            ) {
                hashbrown::hash_table::Entry::Occupied(mut held) => *held.get_mut() = place,
                hashbrown::hash_table::Entry::Vacant(slot) => {
                    slot.insert(place);
                }
            }
        }
    }
    // The cards that have a line: one bit for each place a card can be kept.
    let mut lines = vec![0u64; history.card_places().div_ceil(64)];
    let counts = record.update_results(|fields| {
        let field = |column: Column| fields[column.at()].as_str();
        let row = field(Column::Row).parse::<u64>().unwrap_or(0);
        let phone = field(Column::PhoneContact).parse::<u64>().unwrap_or(0);
        let chat = field(Column::ChatId);
        let card = CardKey::of(chat, phone);
        if let Some(place) = history.card_place(card) {
            lines[place / 64] |= 1 << (place % 64);
        }
        let old_error = field(Column::Error);
        let own = by_row
            .find(row_hash(row, chat, phone), |&held| {
                of_row(held) == Some((row, chat, phone))
            })
            .map(|&held| state_at(held));
        if let Some(state) = own {
            let mut line = results::sendable_line(Some(state));
            line.error = crate::record::keeping_removed_note(old_error, &line.error);
            line.fill(fields);
            return;
        }
        if !matches!(
            Status::parse(field(Column::Status)),
            Some(Status::Sent | Status::Unknown)
        ) {
            return;
        }
        let id = field(Column::IdMessage);
        let by_its_id = by_id
            .find(id_hash(id), |&held| sent_id(held) == Some(id))
            .map(|&held| state_at(held));
        let line = match by_its_id {
            Some(state) => Some(results::sendable_line(Some(state))),
            None if !chat.is_empty() => history
                .card(card)
                .map(|card| results::card_line(&card, String::new())),
            None => None,
        };
        if let Some(mut line) = line {
            // The line's own note stays: it says why this row's card is another row's.
            line.error = old_error.to_string();
            line.fill(fields);
        }
    })?;
    let with_lines: usize = lines.iter().map(|bits| bits.count_ones() as usize).sum();
    let missing = history.card_count().saturating_sub(with_lines) as u64;
    Ok((counts, missing))
}
