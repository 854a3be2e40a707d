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
use std::time::Duration;

use super::lookup::{self, ResolveError, Resolved};
use super::observe::{self, Calls, Tracked};
use super::{Delivery, iso_utc};
use crate::client::{CallError, Client, Credentials};
use crate::contact::ContentKey;
use crate::record::ledger::unix_millis;
use crate::record::{Event, Fate, Record, RecordError, Status, StatusCounts};

/// `status`'s options, resolved.
pub struct StatusOptions {
    pub results: PathBuf,
    pub credentials: Credentials,
    /// Shared call times with other runs on the instance (see `client`).
    pub shared_calls: Option<PathBuf>,
    pub timeout: Duration,
    /// Repeat rounds this far apart until every card is final (or 24 hours have passed).
    pub watch: Option<Duration>,
    /// How long GREEN-API keeps a queued message.
    pub queue_ttl: Duration,
}

/// What one round found.
#[derive(Debug, Clone, Default)]
pub struct Round {
    /// The rows whose answer was lost, looked up (when there were any).
    pub resolved: Option<Resolved>,
    /// Sent cards by delivery state (a card not looked up yet counts as none).
    pub states: BTreeMap<&'static str, u64>,
    /// Cards sent (accepted by GREEN-API).
    pub sent: u64,
    /// Rows still unknown after looking.
    pub unknown: u64,
    pub calls: Calls,
    /// The instance's queue now: its length and when its last message should leave.
    pub queue: Option<(u64, Duration)>,
    /// Every sent card's state is final: nothing more will change.
    pub all_final: bool,
    /// Every sent card was delivered or read, and no row is unknown.
    pub all_delivered: bool,
    /// The results file's counts after the rewrite.
    pub counts: StatusCounts,
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

/// Runs `status`: one round, or rounds until done with `--watch`; `on_round` hears each.
pub fn run(
    options: &StatusOptions,
    on_round: &mut dyn FnMut(&Round),
) -> Result<Round, StatusError> {
    let mut record = Record::open_existing(&options.results)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)?;
    runtime.block_on(async {
        let client = Client::new(
            &options.credentials,
            options.timeout,
            options.shared_calls.clone(),
        )?;
        let started = tokio::time::Instant::now();
        loop {
            let round = round(&client, &mut record, options.queue_ttl).await?;
            on_round(&round);
            let done = round.all_final || started.elapsed() >= WATCH_AT_MOST;
            match options.watch {
                Some(every) if !done => tokio::time::sleep(every).await,
                _ => return Ok(round),
            }
        }
    })
}

async fn round(client: &Client, record: &mut Record, ttl: Duration) -> Result<Round, StatusError> {
    let resolved = lookup::resolve(client, record).await?;
    let history = record.history().clone();
    // The chat of each sent card: the ledger's, else the results file's (older ledgers).
    let chats = results_chats(record)?;
    let mut keys: Vec<ContentKey> = Vec::new();
    let mut tracked: Vec<Tracked> = Vec::new();
    let mut unknown = 0;
    for (key, state) in history.iter() {
        match &state.fate {
            Fate::Sent(id) => {
                let Some(chat) = state.chat.clone().or_else(|| chats.get(id).cloned()) else {
                    continue;
                };
                keys.push(key);
                tracked.push(Tracked {
                    chat_id: chat,
                    id_message: id.clone(),
                    accepted_at: state.sent_at,
                    delivery: state.delivery.map(|(delivery, _)| delivery),
                });
            }
            Fate::Unknown(_) => unknown += 1,
            _ => {}
        }
    }
    let now = unix_millis();
    let (states, mut calls) = observe::observe(client, &tracked, ttl, now).await?;
    let changes: Vec<Event> = states
        .iter()
        .zip(&tracked)
        .zip(&keys)
        .filter_map(|((state, card), key)| {
            let state = (*state)?;
            (card.delivery != Some(state)).then(|| Event::Delivery {
                key: *key,
                row: history.get(*key).map(|s| s.row).unwrap_or_default(),
                state,
                at: now,
            })
        })
        .collect();
    record.append(&changes)?;

    let mut round = Round {
        resolved: (resolved != Resolved::default()).then_some(resolved),
        sent: tracked.len() as u64,
        unknown,
        ..Round::default()
    };
    let mut all_final = true;
    let mut all_delivered = unknown == 0;
    for (card, state) in tracked.iter().zip(&states) {
        let state = state.or(card.delivery);
        *round
            .states
            .entry(state.map_or("not looked up", Delivery::name))
            .or_default() += 1;
        all_final &= state.is_some_and(Delivery::is_final);
        all_delivered &= state.is_some_and(Delivery::is_delivered);
    }
    round.all_final = all_final && unknown == 0;
    round.all_delivered = all_delivered;
    if round.states.get("queued").copied().unwrap_or(0) > 0 {
        let length = client.queue_length().await?;
        let delay = client.delay().await?;
        calls.queue += 2;
        round.queue = Some((length.count, delay.saturating_mul(length.count as u32)));
    }
    round.calls = calls;
    round.counts = rewrite(record)?;
    Ok(round)
}

/// The chat of each sent row, by idMessage, from the results file.
fn results_chats(record: &Record) -> Result<HashMap<String, String>, StatusError> {
    let mut chats = HashMap::new();
    let path = record.results_path();
    let Ok(mut reader) = csv::ReaderBuilder::new().flexible(true).from_path(path) else {
        return Ok(chats);
    };
    for line in reader.records().flatten() {
        if let (Some(id), Some(chat)) = (line.get(2), line.get(5))
            && !id.is_empty()
        {
            chats.insert(id.to_string(), chat.to_string());
        }
    }
    Ok(chats)
}

/// Rewrites the results file from itself with what the ledger now says: delivery states,
/// and unknown rows found sent.
fn rewrite(record: &Record) -> Result<StatusCounts, StatusError> {
    let history = record.history().clone();
    let mut by_id: HashMap<&str, ContentKey> = HashMap::new();
    // Unknown rows are matched by chat and phone, when no other sent card shares them.
    let mut by_chat: HashMap<(&str, u64), Vec<ContentKey>> = HashMap::new();
    for (key, state) in history.iter() {
        if let Fate::Sent(id) = &state.fate {
            by_id.insert(id.as_str(), key);
            if let (Some(chat), Some(phone)) = (&state.chat, state.phone) {
                by_chat.entry((chat.as_str(), phone)).or_default().push(key);
            }
        }
    }
    let counts = record.update_results(|fields| {
        let key = if fields[2].is_empty() {
            let phone = fields[6].parse::<u64>().unwrap_or(0);
            match by_chat.get(&(fields[5].as_str(), phone)).map(Vec::as_slice) {
                Some([key]) if fields[1] == Status::Unknown.to_string() => Some(*key),
                _ => None,
            }
        } else {
            by_id.get(fields[2].as_str()).copied()
        };
        let Some(state) = key.and_then(|key| history.get(key)) else {
            return;
        };
        if let Fate::Sent(id) = &state.fate {
            fields[1] = Status::Sent.to_string();
            fields[2].clone_from(id);
            if state.copies > 1 {
                fields[3] = format!(
                    "found {} times in GREEN-API's queue and journal: it went out {} times",
                    state.copies, state.copies
                );
            } else if fields[1] == Status::Sent.to_string() && !fields[3].is_empty() {
                fields[3].clear();
            }
        }
        if let Some((delivery, at)) = state.delivery {
            fields[7] = delivery.to_string();
            fields[8] = iso_utc(at);
        }
    })?;
    Ok(counts)
}
