//! The GREEN-API methods the emulator answers, and what it remembers of them.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::json;

use super::card::parse_card;
use super::message::{OutgoingMessage, Received};
use super::reads::{check_whatsapp, get_message, last_outgoing, show_queue};
use super::state::{EmulatorState, Shared, share};
use super::{Hangup, InstanceState, Moment, answer};
use crate::contact::MAX_BODY_BYTES;

/// GREEN-API's limit for send methods, per instance.
const SEND_LIMIT_PER_SECOND: usize = 50;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/{instance}/{method}/{token}", any(handle))
        .with_state(shared)
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
            (StatusCode::OK, NOT_JSON).into_response()
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
            let mut state = shared.lock();
            if state.faults.garbage_counts > 0 {
                state.faults.garbage_counts -= 1;
                return (StatusCode::OK, NOT_JSON).into_response();
            }
            drop(state);
            Json(json!({ "count": shared.now().0.instance.queue_len() })).into_response()
        }
        "showMessagesQueue" if expect(Method::GET) => show_queue(&shared),
        "lastOutgoingMessages" if expect(Method::GET) => last_outgoing(&shared, query.as_deref()),
        "getMessage" if expect(Method::POST) => {
            let slow = shared.lock().faults.slow_messages;
            tokio::time::sleep(slow).await;
            get_message(&shared, &body)
        }
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

/// What a proxy in front of GREEN-API answers with a 200 when it is down: not JSON.
const NOT_JSON: &str = "<html><body>Bad gateway</body></html>";

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
    state.journal_last();
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
