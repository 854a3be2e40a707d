//! The GREEN-API methods the emulator answers, and what it remembers of them.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use xxhash_rust::xxh3::xxh3_64_with_seed;

use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{Value, json};

use super::card::parse_card;
use super::instance::{self, Fate, Instance, Pace};
use super::reads::{check_whatsapp, get_message, last_outgoing, show_queue};
use super::{Config, Faults, Hangup, InstanceState, Moment};
use crate::contact::MAX_BODY_BYTES;

/// GREEN-API's limit for send methods, per instance.
const SEND_LIMIT_PER_SECOND: usize = 50;

/// One sendContact request as it arrived, and what it was answered.
#[derive(Debug, Clone, Serialize)]
pub struct Received {
    /// Arrival time since the emulator started.
    pub at: Duration,
    pub body: String,
    /// The status answered; 0 when the connection was dropped without an answer.
    pub status: u16,
}

/// A contact card message the emulator accepted into its queue.
#[derive(Debug, Clone, Serialize)]
pub struct OutgoingMessage {
    pub id_message: String,
    pub chat_id: String,
    pub phone_contact: u64,
    pub quoted_message_id: Option<String>,
    /// The contact as the request gave it (`phoneContact`, `firstName` …).
    pub card: Value,
    /// The contact as WhatsApp shows it.
    pub contact: Contact,
    pub accepted_at: Duration,
    /// Accepted, then the connection was dropped before the answer (the ambiguous case).
    pub dropped: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Contact {
    #[serde(rename = "displayName")]
    pub display_name: String,
    pub vcard: String,
}

pub(super) struct Shared {
    config: Config,
    started: Moment,
    state: Mutex<EmulatorState>,
}

pub(super) struct EmulatorState {
    pub(super) faults: Faults,
    rng: fastrand::Rng,
    /// For idMessages: seeded by the system, so ids are unique across runs (a saved
    /// sandbox must never give one twice), whatever the faults' seed.
    ids: fastrand::Rng,
    pub(super) received: Vec<Received>,
    pub(super) outgoing: Vec<OutgoingMessage>,
    arrivals: VecDeque<Moment>,
    /// The outgoing queue and what left it; its messages are `outgoing`'s, in order.
    pub(super) instance: Instance,
    /// The last call of each rate-limited method, and the calls that came too soon.
    last_calls: HashMap<String, Moment>,
    pub(super) over_limit: Vec<String>,
    chats: HashSet<String>,
    starting_until: Moment,
}

impl EmulatorState {
    pub(super) fn set_faults(&mut self, faults: Faults) {
        let now = super::now();
        self.catch_up(now);
        self.starting_until = now + faults.starting_for;
        self.faults = faults;
        self.catch_up(now);
    }

    fn state(&self) -> InstanceState {
        match self.faults.state {
            InstanceState::Starting if super::now() >= self.starting_until => {
                InstanceState::Authorized
            }
            state => state,
        }
    }

    /// Brings the queue up to `now`: what would have left (or expired) by then has.
    pub(super) fn catch_up(&mut self, now: Moment) {
        let since = match self.faults.state {
            InstanceState::Authorized => Some(now),
            InstanceState::Starting => Some(self.starting_until).filter(|t| *t <= now),
            _ => None,
        };
        match since {
            Some(since) => self.instance.set_sending(true, since),
            None => self.instance.set_sending(false, now),
        }
        let pace = Pace {
            delay: self.faults.delay,
            ttl: self.faults.queue_ttl,
        };
        self.instance.advance(now, pace);
    }

    /// Whether a chat has WhatsApp: a number possible in its numbering plan, and not in the
    /// seeded share of numbers that have no account (`Faults::no_account`).
    pub(super) fn has_whatsapp(&self, chat: &str) -> bool {
        let digits = chat.split('@').next().unwrap_or_default();
        if chat.ends_with("@g.us") {
            return true;
        }
        let possible = crate::contact::phone::parse(digits)
            .is_ok_and(|p| p.plausibility() == crate::contact::Plausibility::Possible);
        possible && share(self.faults.seed, digits, 1) >= self.faults.no_account
    }

    /// A message's status now: `queued`, `expired`, or what GREEN-API reports once it left.
    pub(super) fn status_of(&self, index: usize, now: Moment) -> &'static str {
        let message = &self.instance.messages[index];
        match message.fate {
            Fate::Queued => "queued",
            Fate::Expired => "expired",
            Fate::Left(_) => instance::status(message, now).unwrap_or("sent"),
        }
    }
}

/// Where `text` falls in [0, 1) for a seeded rule (`salt` keeps different rules apart).
fn share(seed: u64, text: &str, salt: u64) -> f64 {
    (xxh3_64_with_seed(text.as_bytes(), seed ^ salt) >> 11) as f64 / (1u64 << 53) as f64
}

impl Shared {
    pub(super) fn new(config: Config, started: Moment) -> Shared {
        let faults = config.faults.clone();
        Shared {
            state: Mutex::new(EmulatorState {
                rng: fastrand::Rng::with_seed(faults.seed),
                ids: fastrand::Rng::new(),
                starting_until: started + faults.starting_for,
                faults,
                received: Vec::new(),
                outgoing: Vec::new(),
                arrivals: VecDeque::new(),
                instance: Instance::default(),
                last_calls: HashMap::new(),
                over_limit: Vec::new(),
                chats: HashSet::new(),
            }),
            config,
            started,
        }
    }

    /// Puts back the messages an earlier run saved.
    pub(super) fn restore(&self, saved: Vec<super::saved::Saved>) {
        let mut state = self.lock();
        for message in saved {
            let (outgoing, queued) = message.restore(self.started);
            state.chats.insert(outgoing.chat_id.clone());
            state.outgoing.push(outgoing);
            state.instance.restore(queued);
        }
    }

    /// Every message, as it is to be saved.
    pub(super) fn to_save(&self) -> Vec<super::saved::Saved> {
        let (state, _) = self.now();
        state
            .outgoing
            .iter()
            .zip(&state.instance.messages)
            .map(|(message, queued)| super::saved::Saved::of(message, queued))
            .collect()
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, EmulatorState> {
        super::lock(&self.state)
    }

    /// The state, with the queue brought up to now.
    pub(super) fn now(&self) -> (std::sync::MutexGuard<'_, EmulatorState>, Moment) {
        let mut state = self.lock();
        let now = super::now();
        state.catch_up(now);
        (state, now)
    }

    /// An instant as the Unix seconds GREEN-API's records carry.
    pub(super) fn unix(&self, at: Moment) -> u64 {
        at.as_secs()
    }
}

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/{instance}/{method}/{token}", any(handle))
        .with_state(shared)
}

pub(super) fn answer(status: u16, message: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        Json(json!({ "statusCode": status, "message": message })),
    )
        .into_response()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    Extension(hangup): Extension<Hangup>,
    Path((instance, method, token)): Path<(String, String, String)>,
    http_method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    if method == "sendContact" {
        let network = {
            let mut state = shared.lock();
            match state.faults.network_jitter.as_micros() as u64 {
                0 => Duration::ZERO,
                jitter => Duration::from_micros(state.rng.u64(0..=jitter)),
            }
        };
        if !network.is_zero() {
            tokio::time::sleep(network).await;
        }
    }
    let arrived = super::now();
    if instance.strip_prefix("waInstance") != Some(shared.config.id_instance.as_str()) {
        return answer(403, "Forbidden");
    }
    if token != shared.config.token {
        return answer(401, "Unauthorized");
    }
    let delay = {
        let mut state = shared.lock();
        let jitter = state.faults.jitter.as_millis() as u64;
        state.faults.latency + Duration::from_millis(state.rng.u64(0..=jitter))
    };
    let expect = |verb: Method| http_method == verb;
    if method != "sendContact"
        && let Some(refused) = rate_limited(&shared, &method, arrived)
    {
        return refused;
    }
    if method == "sendContact" && expect(Method::POST) {
        // Decided (and accepted) on arrival, answered after the latency: a slow answer does
        // not mean the message was not queued.
        return send_contact(&shared, &hangup, arrived, &body, delay).await;
    }
    match method.as_str() {
        "getStateInstance" if expect(Method::GET) => {
            Json(json!({ "stateInstance": shared.lock().state().name() })).into_response()
        }
        "getSettings" if expect(Method::GET) && shared.lock().faults.garbage_settings => {
            (StatusCode::OK, "<html><body>Bad gateway</body></html>").into_response()
        }
        "getSettings" if expect(Method::GET) => Json(json!({
            "wid": format!("{}@c.us", shared.config.id_instance),
            "delaySendMessagesMilliseconds": shared.lock().faults.delay.as_millis() as u64,
            "markIncomingMessagesReaded": "no",
            "outgoingWebhook": "yes",
            "incomingWebhook": "yes",
        }))
        .into_response(),
        "getMessagesCount" if expect(Method::GET) => {
            Json(json!({ "count": shared.now().0.instance.queue_len() })).into_response()
        }
        "showMessagesQueue" if expect(Method::GET) => show_queue(&shared),
        "lastOutgoingMessages" if expect(Method::GET) => last_outgoing(&shared, query.as_deref()),
        "getMessage" if expect(Method::POST) => get_message(&shared, &body),
        "checkWhatsapp" if expect(Method::POST) => check_whatsapp(&shared, &body),
        "sendContact"
        | "getStateInstance"
        | "getSettings"
        | "getMessagesCount"
        | "showMessagesQueue"
        | "lastOutgoingMessages"
        | "getMessage"
        | "checkWhatsapp" => answer(405, "Method Not Allowed"),
        _ => answer(404, "Not Found"),
    }
}

/// 429 for a call that comes too soon after the last one of its method (and notes it), or
/// for a call the `busy_calls` fault refuses; a page that is not JSON for one the
/// `garbage_calls` fault answers.
fn rate_limited(shared: &Shared, method: &str, arrived: Moment) -> Option<Response> {
    let mut state = shared.lock();
    if state.faults.busy_calls > 0 {
        state.faults.busy_calls -= 1;
        return Some(answer(429, "Too Many Requests"));
    }
    if state.faults.garbage_calls > 0 {
        state.faults.garbage_calls -= 1;
        let page = "<html><body><h1>Down for maintenance</h1></body></html>";
        return Some((StatusCode::OK, page).into_response());
    }
    let interval = crate::client::documented_interval(method)?;
    let too_soon = state
        .last_calls
        .get(method)
        .is_some_and(|last| arrived.saturating_sub(*last) < interval);
    if too_soon {
        let at = arrived.saturating_sub(shared.started).as_secs_f64();
        state.over_limit.push(format!("{method} at {at:.3}s"));
        return Some(answer(429, "Too Many Requests"));
    }
    state.last_calls.insert(method.to_string(), arrived);
    None
}

async fn send_contact(
    shared: &Shared,
    hangup: &Hangup,
    arrived: Moment,
    body: &[u8],
    delay: Duration,
) -> Response {
    let (response, hang_up) = {
        let mut state = shared.lock();
        let (status, response, hang_up) = decide(shared, &mut state, arrived, body);
        state.received.push(Received {
            at: arrived.saturating_sub(shared.started),
            body: String::from_utf8_lossy(body).into_owned(),
            status: if hang_up { 0 } else { status },
        });
        (response, hang_up)
    };
    tokio::time::sleep(delay).await;
    if hang_up {
        hangup.0.notify_one();
        std::future::pending::<()>().await;
    }
    response
}

/// Decides a sendContact answer: (status, response, hang up without answering).
fn decide(
    shared: &Shared,
    state: &mut EmulatorState,
    arrived: Moment,
    body: &[u8],
) -> (u16, Response, bool) {
    let second_ago = arrived.checked_sub(Duration::from_secs(1));
    while let (Some(front), Some(limit)) = (state.arrivals.front(), second_ago) {
        if *front > limit {
            break;
        }
        state.arrivals.pop_front();
    }
    state.arrivals.push_back(arrived);
    if state.arrivals.len() > SEND_LIMIT_PER_SECOND {
        return (429, answer(429, "Too Many Requests"), false);
    }
    if state.state() == InstanceState::Starting {
        return (
            400,
            answer(400, "instance in starting process try later"),
            false,
        );
    }
    let roll = state.rng.f64();
    if roll < state.faults.fail_429 {
        return (429, answer(429, "Too Many Requests"), false);
    }
    if roll < state.faults.fail_429 + state.faults.fail_5xx {
        return if state.rng.bool() {
            (500, answer(500, "Internal Server Error"), false)
        } else {
            let page = "<html><head><title>502 Bad Gateway</title></head><body>\
                        <center><h1>502 Bad Gateway</h1></center></body></html>";
            (502, (StatusCode::BAD_GATEWAY, page).into_response(), false)
        };
    }
    if body.len() > MAX_BODY_BYTES {
        return (500, answer(500, "request entity too large"), false);
    }
    let card = match parse_card(body) {
        Ok(card) => card,
        Err(message) => return (400, answer(400, &message), false),
    };
    if let Some(quota) = state.faults.quota
        && !state.chats.contains(&card.chat_id)
        && state.chats.len() as u32 >= quota
    {
        return (466, quota_answer(state.chats.len() as u32, quota), false);
    }
    if state.faults.empty_200 > 0.0 && state.rng.f64() < state.faults.empty_200 {
        return (200, Json(json!({})).into_response(), false);
    }
    state.chats.insert(card.chat_id.clone());
    state.catch_up(arrived);
    let no_account = !state.has_whatsapp(&card.chat_id);
    let reads = share(state.faults.seed, &card.chat_id, 2) < state.faults.reads;
    let stuck = (state.instance.messages.len() as u64) < u64::from(state.faults.stuck_pending);
    state.instance.accept(arrived, no_account, reads, stuck);
    let id_message = (0..20)
        .map(|_| char::from_digit(state.ids.u32(0..16), 16).expect("hex digit"))
        .collect::<String>()
        .to_uppercase();
    let dropped = state.rng.f64() < state.faults.drop_after_accept;
    state.outgoing.push(OutgoingMessage {
        id_message: id_message.clone(),
        chat_id: card.chat_id,
        phone_contact: card.phone_contact,
        quoted_message_id: card.quoted_message_id,
        card: card.fields,
        contact: card.contact,
        accepted_at: arrived.saturating_sub(shared.started),
        dropped,
    });
    if let Some((after, turned)) = state.faults.state_after
        && state.outgoing.len() >= after as usize
    {
        let now = super::now();
        state.catch_up(now);
        state.faults.state = turned;
        state.faults.state_after = None;
        state.catch_up(now);
    }
    let response = Json(json!({ "idMessage": id_message })).into_response();
    (200, response, dropped)
}

fn quota_answer(used: u32, total: u32) -> Response {
    let body = json!({
        "invokeStatus": {
            "method": "sendContact",
            "used": used,
            "total": total,
            "status": "QUOTE_ALLOWED_EXCEEDED",
            "description": "Monthly quota has been exceeded. To send messages to new chats, \
                            upgrade the instance to a paid plan"
        },
        "correspondentsStatus": {
            "used": used,
            "total": total,
            "status": "QUOTE_ALLOWED_EXCEEDED",
            "description": format!(
                "The limit of {total} chats per month on the Developer plan is used up"
            )
        }
    });
    (
        StatusCode::from_u16(466).expect("466 is a valid status"),
        Json(body),
    )
        .into_response()
}
