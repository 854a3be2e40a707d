//! The emulator's read methods: the queue (`showMessagesQueue`), the journal
//! (`lastOutgoingMessages`), one message (`getMessage`) and `checkWhatsapp`.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use std::time::Duration;

use super::Moment;
use super::answer;
use super::instance::Fate;
use super::message::OutgoingMessage;
use super::state::Shared;

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
pub(super) fn show_queue(shared: &Shared) -> Response {
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
pub(super) fn last_outgoing(shared: &Shared, query: Option<&str>) -> Response {
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
    let twice = state.faults.journal_twice;
    let records: Vec<Value> = left
        .into_iter()
        .take(10_000)
        .flat_map(|(at, index)| {
            let status = state.status_of(index, now);
            let entry = record(shared, &state.outgoing[index], at, status);
            // The same message again, as it stood when it left the queue.
            let again = twice.then(|| record(shared, &state.outgoing[index], at, "sent"));
            std::iter::once(entry).chain(again)
        })
        .collect();
    Json(records).into_response()
}

/// One message that left the queue, by chat and id.
pub(super) fn get_message(shared: &Shared, body: &[u8]) -> Response {
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
    let (mut state, now) = shared.now();
    if state.faults.odd_messages > 0 {
        state.faults.odd_messages -= 1;
        return Json(json!({})).into_response();
    }
    let found = state
        .outgoing
        .iter()
        .position(|m| m.id_message == id && m.chat_id == chat);
    match found.map(|index| (index, state.instance.messages[index].fate)) {
        Some((index, Fate::Left(at))) => {
            let status = state.status_of(index, now);
            let mut record = record(shared, &state.outgoing[index], at, status);
            if state.faults.statusless_messages > 0 {
                state.faults.statusless_messages -= 1;
                record.as_object_mut().map(|r| r.remove("statusMessage"));
            }
            Json(record).into_response()
        }
        _ => answer(404, "message not found"),
    }
}

pub(super) fn check_whatsapp(shared: &Shared, body: &[u8]) -> Response {
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
