//! The GREEN-API client: URLs built from `apiUrl`/`idInstance`/`apiTokenInstance`, one
//! connection pool, a timeout, and the one table that says what every answer means.
//!
//! The token is only ever put into the request URL; it is checked to be what GREEN-API issues
//! (hex digits) so it needs no escaping, URLs in errors are stripped, and
//! [`Client::masked_url`] is what gets shown. `sendContact` is paced by the sender; every
//! other method goes through [`Client::call`], which keeps to the method's own rate limit and
//! waits out a 429 instead of failing. The run reaches GREEN-API only through the
//! [`Gateway`] trait, which the client implements (and a test's fake can).

mod answer;
mod credentials;
mod gateway;
mod messages;
mod spacing;

pub use answer::{Answer, CallError, classify};
pub use credentials::{Credentials, Names};
pub use gateway::{Call, Gateway};
pub use messages::{QueueLength, QueuedMessage, SentMessage};
pub use spacing::documented_interval;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::contact::ContentKey;
use answer::{classify_transport, describe, server_message, shorten};

/// How many times a call is tried, and the first pause between tries (doubling, up to 15 s):
/// about a minute in all, long enough for a 429 or a restarting instance to pass. When
/// nothing answers at all, a few seconds: a wrong URL does not get better by waiting.
const CALL_TRIES: u32 = 7;
const CALL_TRIES_UNREACHABLE: u32 = 3;
const CALL_BACKOFF: Duration = Duration::from_secs(1);

pub struct Client {
    id_instance: String,
    http: reqwest::Client,
    base: String,
    token: String,
    /// Parsed once: parsing a URL for every request cost more than building the request.
    send_contact: reqwest::Url,
    spacing: spacing::Spacing,
    /// The last second's `sendContact` requests of every run on the instance.
    sends: Option<spacing::SendWindow>,
}

impl Client {
    /// `shared_calls`: the file through which runs on the same instance keep to the other
    /// methods' rate limits together (see `spacing`); none for a private instance.
    pub fn new(
        credentials: &Credentials,
        timeout: Duration,
        shared_calls: Option<PathBuf>,
    ) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("greenbulk/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let base = format!(
            "{}/waInstance{}",
            credentials.api_url(),
            credentials.id_instance()
        );
        let token = credentials.token().to_string();
        let send_contact =
            reqwest::Url::parse(&method_url(&base, "sendContact", &token)).map_err(|e| {
                let shown = method_url(&base, "sendContact", &mask(&token));
                anyhow::anyhow!("cannot build a request URL from {shown}: {e}")
            })?;
        Ok(Client {
            id_instance: credentials.id_instance().to_string(),
            http,
            base,
            token,
            send_contact,
            // By the idInstance alone: one instance's runs share its 50/s whichever API URL
            // (`localhost` or `127.0.0.1`, a host of its own or GREEN-API's general one)
            // they name it by.
            sends: shared_calls.as_ref().map(|file| {
                let name = format!("sends-{}.bin", credentials.id_instance());
                spacing::SendWindow::new(file.with_file_name(name))
            }),
            spacing: spacing::Spacing::new(shared_calls),
        })
    }

    fn url(&self, method: &str) -> String {
        method_url(&self.base, method, &self.token)
    }

    /// A server's answer with the token masked wherever it appears: a server other than
    /// GREEN-API (a proxy, a web framework's "Cannot GET /…/{token}" page) may repeat the
    /// address, and what it says is shown.
    fn without_token(&self, text: String) -> String {
        let token = self.token.to_ascii_lowercase();
        if token.is_empty() || !text.to_ascii_lowercase().contains(&token) {
            return text;
        }
        // The token is ASCII, so the lowercase copy has the same byte offsets.
        let lower = text.to_ascii_lowercase();
        let mut shown = String::with_capacity(text.len());
        let mut from = 0;
        for (at, _) in lower.match_indices(&token) {
            shown.push_str(&text[from..at]);
            shown.push_str(&mask(&text[at..at + token.len()]));
            from = at + token.len();
        }
        shown.push_str(&text[from..]);
        shown
    }

    /// The URL of a method with the token masked, for showing.
    pub fn masked_url(&self, method: &str) -> String {
        method_url(&self.base, method, &mask(&self.token))
    }

    /// Room for `count` `sendContact` requests leaving now, shared with the other runs on
    /// the instance: how many may go, or how long until one may.
    pub fn reserve_sends(&self, count: usize) -> Result<usize, Duration> {
        match &self.sends {
            Some(window) => window.reserve(count),
            None => Ok(count),
        }
    }

    /// Takes the next `--pace` slot on the instance, `interval` after the one the last card
    /// of any run on this machine took: how long to wait for it.
    pub fn pace_slot(&self, interval: Duration) -> Duration {
        self.spacing.reserve_after("pace", interval)
    }

    /// POSTs one sendContact body and classifies the outcome.
    pub async fn send_contact(&self, body: Vec<u8>) -> Answer {
        let request = self
            .http
            .post(self.send_contact.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        match request.send().await {
            Err(err) => classify_transport(&err),
            Ok(response) => {
                let status = response.status().as_u16();
                match response.text().await {
                    Ok(text) => classify(status, &self.without_token(text)),
                    Err(err) if status == 200 => Answer::Unknown {
                        reason: format!("the answer was cut off: {}", describe(&err)),
                    },
                    Err(_) => classify(status, ""),
                }
            }
        }
    }

    /// Calls a method other than sendContact (GET, or POST with `body`; `query` after the
    /// token) and returns the body of its 200. Keeps to the method's rate limit, and retries
    /// what passes (429, 5xx, a refused connection) with backoff for about a minute.
    pub async fn call(
        &self,
        method: &str,
        body: Option<&Value>,
        query: &str,
    ) -> Result<String, CallError> {
        let shown = self.masked_url(method);
        let mut last = CallError::Unreachable {
            url: shown.clone(),
            reason: "no attempt made".into(),
        };
        for attempt in 0..CALL_TRIES {
            let unreachable = matches!(last, CallError::Unreachable { .. });
            if attempt >= CALL_TRIES_UNREACHABLE && unreachable {
                break;
            }
            if attempt > 0 {
                let pause = CALL_BACKOFF
                    .saturating_mul(1 << (attempt - 1))
                    .min(Duration::from_secs(15));
                tokio::time::sleep(pause).await;
            }
            let mut wait = self.spacing.reserve(method);
            loop {
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                wait = self.spacing.leave(method);
                if wait.is_zero() {
                    break;
                }
            }
            let url = format!("{}{query}", self.url(method));
            let request = match body {
                Some(body) => self.http.post(url).json(body),
                None => self.http.get(url),
            };
            let response = match request.send().await {
                Ok(response) => response,
                Err(err) => {
                    last = CallError::Unreachable {
                        url: shown.clone(),
                        reason: describe(&err),
                    };
                    continue;
                }
            };
            let status = response.status().as_u16();
            let text = match response.text().await {
                Ok(text) => self.without_token(text),
                Err(err) => {
                    last = CallError::Unexpected {
                        url: shown.clone(),
                        answer: format!("{status} cut off: {}", describe(&err)),
                    };
                    continue;
                }
            };
            match (status, classify(status, &text)) {
                (200, _) => return Ok(text),
                (_, Answer::Fatal { reason }) => {
                    return Err(CallError::Refused { url: shown, reason });
                }
                (_, Answer::Retry { reason }) => {
                    last = CallError::Unexpected {
                        url: shown.clone(),
                        answer: reason,
                    };
                }
                (400..=499, _) => {
                    return Err(CallError::Rejected {
                        url: shown,
                        status,
                        answer: server_message(&text),
                    });
                }
                (_, Answer::Rejected { error: reason } | Answer::Unknown { reason })
                | (_, Answer::Sent { id_message: reason }) => {
                    return Err(CallError::Unexpected {
                        url: shown,
                        answer: reason,
                    });
                }
            }
        }
        Err(last)
    }

    /// A call whose 200 is JSON.
    async fn call_json(
        &self,
        method: &str,
        body: Option<&Value>,
        query: &str,
    ) -> Result<Value, CallError> {
        let text = self.call(method, body, query).await?;
        serde_json::from_str(&text).map_err(|_| CallError::Unexpected {
            url: self.masked_url(method),
            answer: format!("a body that is not JSON: {}", shorten(&text)),
        })
    }

    fn unexpected(&self, method: &str, value: &Value) -> CallError {
        CallError::Unexpected {
            url: self.masked_url(method),
            answer: format!("an unexpected body: {}", shorten(&value.to_string())),
        }
    }

    /// `getSettings`: the delay between two messages leaving the queue.
    pub async fn delay(&self) -> Result<Duration, CallError> {
        let value = self.call_json("getSettings", None, "").await?;
        value
            .get("delaySendMessagesMilliseconds")
            .and_then(Value::as_u64)
            .map(Duration::from_millis)
            .ok_or_else(|| self.unexpected("getSettings", &value))
    }

    /// `getMessagesCount` (its documented answer spells the key with a Cyrillic `с`, so both
    /// spellings are read); if that fails, the length of the queue view, *at least*: the view
    /// lists 500 at most and may leave out the message being sent (a known GREEN-API bug), so
    /// only a count can prove the view whole: without one, a card the view does not show is
    /// never taken as absent (docs/delivery.md, "Not found is not enough to send again").
    pub async fn queue_length(&self) -> Result<QueueLength, CallError> {
        let counted = self.call_json("getMessagesCount", None, "").await;
        if let Ok(value) = &counted
            && let Some(count) = ["count", "\u{441}ount"]
                .iter()
                .find_map(|key| value.get(*key).and_then(Value::as_u64))
        {
            return Ok(QueueLength {
                count,
                at_least: false,
            });
        }
        if let Err(refused @ CallError::Refused { .. }) = counted {
            return Err(refused);
        }
        let listed = self.queue().await?.len() as u64;
        Ok(QueueLength {
            count: listed,
            at_least: true,
        })
    }

    /// `showMessagesQueue`: the first 500 queued messages.
    pub async fn queue(&self) -> Result<Vec<QueuedMessage>, CallError> {
        let value = self.call_json("showMessagesQueue", None, "").await?;
        let list = value
            .as_array()
            .ok_or_else(|| self.unexpected("showMessagesQueue", &value))?;
        Ok(list
            .iter()
            .filter_map(|entry| {
                let body = entry.get("body")?;
                let chat_id = body.get("chatId")?.as_str()?.to_string();
                let contact = body.get("contact");
                let phone_contact = contact
                    .and_then(|c| c.get("phoneContact"))
                    .and_then(Value::as_u64);
                let name = |key: &str| {
                    contact
                        .and_then(|c| c.get(key))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                };
                let key = phone_contact.map(|phone| {
                    let names = ["firstName", "middleName", "lastName", "company"].map(name);
                    ContentKey::of(&chat_id, phone, names)
                });
                Some(QueuedMessage {
                    id_message: entry.get("messageID")?.as_str()?.to_string(),
                    chat_id,
                    phone_contact,
                    key,
                })
            })
            .collect())
    }

    /// `lastOutgoingMessages?minutes=N`: what left the queue in the last N minutes, newest
    /// first, at most 10,000.
    pub async fn journal(&self, minutes: u64) -> Result<Vec<SentMessage>, CallError> {
        let query = format!("?minutes={}", minutes.max(1));
        let value = self.call_json("lastOutgoingMessages", None, &query).await?;
        let list = value
            .as_array()
            .ok_or_else(|| self.unexpected("lastOutgoingMessages", &value))?;
        Ok(list.iter().filter_map(SentMessage::from_json).collect())
    }

    /// `getMessage`: one message that left the queue; none when GREEN-API does not have it.
    pub async fn message(
        &self,
        chat_id: &str,
        id_message: &str,
    ) -> Result<Option<SentMessage>, CallError> {
        let body = serde_json::json!({ "chatId": chat_id, "idMessage": id_message });
        match self.call_json("getMessage", Some(&body), "").await {
            // A 200 that is not a message says nothing of the card: not "gone", which would
            // end its lookups as expired for good.
            Ok(value) => match SentMessage::from_json(&value) {
                Some(message) => Ok(Some(message)),
                None => Err(self.unexpected("getMessage", &value)),
            },
            Err(CallError::Rejected {
                status: 400 | 404, ..
            }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// `getStateInstance`: the instance state.
    pub async fn state(&self) -> Result<String, CallError> {
        let text = self.call("getStateInstance", None, "").await?;
        serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("stateInstance")?.as_str().map(shorten))
            .ok_or_else(|| CallError::Unexpected {
                url: self.masked_url("getStateInstance"),
                answer: format!("an unexpected body: {}", shorten(&text)),
            })
    }
}

/// `{apiUrl}/waInstance{idInstance}/{method}/{apiTokenInstance}`, from its first two parts.
fn method_url(base: &str, method: &str, token: &str) -> String {
    format!("{base}/{method}/{token}")
}

/// `abcdef…` → `abcd****`: enough to recognise, not enough to use.
pub fn mask(token: &str) -> String {
    let shown: String = token.chars().take(4).collect();
    format!("{shown}****")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_mask_the_token() {
        let credentials = Credentials::new(
            "https://7103.api.greenapi.com/",
            "7103000001",
            "5ec7e70ce123",
        )
        .unwrap();
        let client = Client::new(&credentials, Duration::from_secs(5), None).unwrap();
        assert_eq!(
            client.url("sendContact"),
            "https://7103.api.greenapi.com/waInstance7103000001/sendContact/5ec7e70ce123"
        );
        assert!(!client.masked_url("sendContact").contains("5ec7e70ce123"));
        // What a server says, token and all, is shown masked, in any case.
        assert_eq!(
            client.without_token(
                "Cannot GET /sendContact/5EC7E70CE123 — ünïcode 5ec7e70ce123".into()
            ),
            "Cannot GET /sendContact/5EC7**** — ünïcode 5ec7****"
        );
    }
}
