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

use super::instance::{self, Fate, Instance, Pace};
use super::{Config, Faults, Hangup, InstanceState, Moment};
use crate::contact::MAX_BODY_BYTES;
use crate::contact::phone::MAX_SAFE_INTEGER;

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
    faults: Faults,
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
    fn unix(&self, at: Moment) -> u64 {
        at.as_secs()
    }
}

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/{instance}/{method}/{token}", any(handle))
        .with_state(shared)
}

fn answer(status: u16, message: &str) -> Response {
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
    let response = Json(json!({ "idMessage": id_message })).into_response();
    (200, response, dropped)
}

struct Card {
    chat_id: String,
    phone_contact: u64,
    quoted_message_id: Option<String>,
    fields: Value,
    contact: Contact,
}

/// Validates a body the way GREEN-API does, with its messages.
fn parse_card(body: &[u8]) -> Result<Card, String> {
    let value: Value = serde_json::from_slice(body).map_err(|_| "Validation failed".to_string())?;
    let object = value.as_object().ok_or("Validation failed")?;
    if object.is_empty() {
        return Err("Validation failed. Details: 'value' must have at least 1 key".into());
    }
    for key in object.keys() {
        if !["chatId", "contact", "quotedMessageId"].contains(&key.as_str()) {
            return Err(format!(
                "Validation failed. Details: '{key}' is not allowed"
            ));
        }
    }
    let chat_id = object
        .get("chatId")
        .and_then(Value::as_str)
        .ok_or("Validation failed. Details: 'chatId' is required")?;
    if !valid_chat_id(chat_id) {
        return Err(
            "Validation failed. Details: 'chatId' must be one of the next formats: \
                    'phone_number@c.us' or 'group_id@g.us'"
                .into(),
        );
    }
    let contact = object
        .get("contact")
        .and_then(Value::as_object)
        .ok_or("Validation failed. Details: 'contact' is required")?;
    for key in contact.keys() {
        if ![
            "phoneContact",
            "firstName",
            "middleName",
            "lastName",
            "company",
        ]
        .contains(&key.as_str())
        {
            return Err(format!(
                "Validation failed. Details: 'contact.{key}' is not allowed"
            ));
        }
    }
    let phone = contact
        .get("phoneContact")
        .ok_or("Validation failed. Details: 'contact.phoneContact' is required")?;
    let phone_contact = match phone {
        Value::Number(n) => match n.as_u64() {
            Some(p) if p <= MAX_SAFE_INTEGER => p,
            Some(_) => {
                return Err(
                    "Validation failed. Details: 'contact.phoneContact' must be a safe number"
                        .into(),
                );
            }
            None if n.as_f64().is_some_and(|f| f > MAX_SAFE_INTEGER as f64) => {
                return Err(
                    "Validation failed. Details: 'contact.phoneContact' must be a safe number"
                        .into(),
                );
            }
            None => {
                return Err(
                    "Validation failed. Details: 'contact.phoneContact' must be a number".into(),
                );
            }
        },
        _ => {
            return Err(
                "Validation failed. Details: 'contact.phoneContact' must be a number".into(),
            );
        }
    };
    let name = |key: &str| {
        contact
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (first, middle, last, company) = (
        name("firstName"),
        name("middleName"),
        name("lastName"),
        name("company"),
    );
    if [&first, &middle, &last, &company]
        .iter()
        .all(|s| s.is_empty())
    {
        return Err(
            "Validation failed. Details: 'contact' must contain at least one of \
                    [firstName, middleName, lastName, company]"
                .into(),
        );
    }
    Ok(Card {
        chat_id: chat_id.to_string(),
        phone_contact,
        quoted_message_id: object
            .get("quotedMessageId")
            .and_then(Value::as_str)
            .map(str::to_string),
        fields: Value::Object(contact.clone()),
        contact: vcard(phone_contact, &first, &middle, &last, &company),
    })
}

fn valid_chat_id(chat_id: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(number) = chat_id.strip_suffix("@c.us") {
        return digits(number);
    }
    if let Some(group) = chat_id.strip_suffix("@g.us") {
        return group.splitn(2, '-').all(digits);
    }
    false
}

/// The contact as WhatsApp shows it: a display name and a vCard 3.0.
fn vcard(phone: u64, first: &str, middle: &str, last: &str, company: &str) -> Contact {
    let full: Vec<&str> = [first, middle, last]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    let display_name = if full.is_empty() {
        company.to_string()
    } else {
        full.join(" ")
    };
    let mut card = String::from("BEGIN:VCARD\nVERSION:3.0\n");
    card.push_str(&format!("N:{last};{first};{middle};;\n"));
    card.push_str(&format!("FN:{display_name}\n"));
    if !company.is_empty() {
        card.push_str(&format!("ORG:{company};\n"));
    }
    card.push_str(&format!(
        "TEL;type=CELL;type=VOICE;waid={phone}:+{phone}\nEND:VCARD"
    ));
    Contact {
        display_name,
        vcard: card,
    }
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

/// A journal record of a message that left the queue. One to a number without WhatsApp has
/// an empty `typeMessage` and no card, as GREEN-API's journal can show it.
fn record(shared: &Shared, message: &OutgoingMessage, left: Moment, status: &str) -> Value {
    let mut record = json!({
        "type": "outgoing",
        "idMessage": message.id_message,
        "timestamp": shared.unix(left),
        "typeMessage": "contactMessage",
        "chatId": message.chat_id,
        "contact": message.contact,
        "statusMessage": status,
        "sendByApi": true,
    });
    if status == "noAccount" {
        record["typeMessage"] = json!("");
        record.as_object_mut().map(|r| r.remove("contact"));
    }
    record
}

/// The first 500 queued messages, as `showMessagesQueue` lists them.
fn show_queue(shared: &Shared) -> Response {
    let (state, _) = shared.now();
    // A known GREEN-API bug hides the head of the queue: the emulator can have it too.
    let hidden = usize::from(state.faults.hide_queue_head);
    let queue: Vec<Value> = state
        .instance
        .queued()
        .skip(hidden)
        .take(500)
        .map(|index| {
            let m = &state.outgoing[index];
            let mut body = json!({ "chatId": m.chat_id, "contact": m.card });
            if let Some(quoted) = &m.quoted_message_id {
                body["quotedMessageId"] = json!(quoted);
            }
            json!({ "messageID": m.id_message, "type": "sendContact", "body": body })
        })
        .collect();
    Json(queue).into_response()
}

/// The messages that left the queue in the last `minutes` (default 1440), newest first, at
/// most 10,000; each shows up `journal_lag` after it left.
fn last_outgoing(shared: &Shared, query: Option<&str>) -> Response {
    let minutes: u64 = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("minutes="))
        .and_then(|m| m.parse().ok())
        .unwrap_or(1440);
    let (state, now) = shared.now();
    let lag = state.faults.journal_lag;
    let window = Duration::from_secs(minutes.saturating_mul(60));
    let mut left: Vec<(Moment, usize)> = state
        .instance
        .messages
        .iter()
        .enumerate()
        .filter_map(|(index, m)| match m.fate {
            Fate::Left(at) if at + lag <= now && now.saturating_sub(at) <= window => {
                Some((at, index))
            }
            _ => None,
        })
        .collect();
    left.sort_by(|a, b| b.cmp(a));
    let records: Vec<Value> = left
        .into_iter()
        .take(10_000)
        .map(|(at, index)| {
            let status = state.status_of(index, now);
            record(shared, &state.outgoing[index], at, status)
        })
        .collect();
    Json(records).into_response()
}

/// One message that left the queue, by chat and id.
fn get_message(shared: &Shared, body: &[u8]) -> Response {
    let Ok(query) = serde_json::from_slice::<Value>(body) else {
        return answer(400, "Validation failed");
    };
    let id = query.get("idMessage").and_then(Value::as_str);
    let chat = query.get("chatId").and_then(Value::as_str);
    let (Some(id), Some(chat)) = (id, chat) else {
        return answer(
            400,
            "Validation failed. Details: 'chatId' and 'idMessage' are required",
        );
    };
    let (state, now) = shared.now();
    let found = state
        .outgoing
        .iter()
        .position(|m| m.id_message == id && m.chat_id == chat);
    match found.map(|index| (index, state.instance.messages[index].fate)) {
        Some((index, Fate::Left(at))) => {
            let status = state.status_of(index, now);
            Json(record(shared, &state.outgoing[index], at, status)).into_response()
        }
        _ => answer(404, "message not found"),
    }
}

fn check_whatsapp(shared: &Shared, body: &[u8]) -> Response {
    let number = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("phoneNumber").and_then(Value::as_u64));
    match number {
        Some(n) => {
            let exists = shared.lock().has_whatsapp(&format!("{n}@c.us"));
            Json(json!({ "existsWhatsapp": exists })).into_response()
        }
        None => answer(
            400,
            "Validation failed. Details: 'phoneNumber' must be a number",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_validation_messages() {
        let err = |body: &str| parse_card(body.as_bytes()).err().unwrap_or_default();
        assert_eq!(
            err("{}"),
            "Validation failed. Details: 'value' must have at least 1 key"
        );
        assert!(
            err(r#"{"chatId":"1@c.us","contact":{"phoneContact":"7900","firstName":"A"}}"#)
                .ends_with("'contact.phoneContact' must be a number")
        );
        assert!(
            err(
                r#"{"chatId":"1@c.us","contact":{"phoneContact":9007199254740993,"firstName":"A"}}"#
            )
            .ends_with("'contact.phoneContact' must be a safe number")
        );
        assert!(
            err(r#"{"chatId":"x","contact":{"phoneContact":79001234568,"firstName":"A"}}"#)
                .contains("'chatId' must be one of the next formats")
        );
        assert!(
            err(r#"{"chatId":"1@c.us","contact":{"phoneContact":79001234568}}"#)
                .contains("at least one of")
        );
    }

    #[test]
    fn vcard_is_built_from_the_fields() {
        let c = vcard(79001234568, "Artem", "Petrovich", "Evpatoriysky", "Bicycle");
        assert_eq!(c.display_name, "Artem Petrovich Evpatoriysky");
        assert!(c.vcard.contains("N:Evpatoriysky;Artem;Petrovich;;"));
        assert!(c.vcard.contains("ORG:Bicycle;"));
        assert!(c.vcard.contains("waid=79001234568:+79001234568"));
        assert_eq!(
            vcard(79001234568, "", "", "", "Bicycle").display_name,
            "Bicycle"
        );
    }
}
