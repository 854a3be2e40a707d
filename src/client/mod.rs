//! The GREEN-API client: URLs built from `apiUrl`/`idInstance`/`apiTokenInstance`, one
//! connection pool, a timeout, and the one table that says what every answer means.
//!
//! The token is only ever put into the request URL; it is checked to be what GREEN-API issues
//! (hex digits) so it needs no escaping, URLs in errors are stripped, and
//! [`Client::masked_url`] is what gets shown. `sendContact` is paced by the sender; every
//! other method goes through [`Client::call`], which keeps to the method's own rate limit and
//! waits out a 429 instead of failing.

mod spacing;

pub use spacing::documented_interval;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::contact::ContentKey;
use crate::term::shown;

/// Where and as whom to call GREEN-API, checked: an `apiUrl` that is a base URL and nothing
/// more, an all-digits idInstance, a hex token.
#[derive(Clone)]
pub struct Credentials {
    api_url: String,
    id_instance: String,
    token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("api_url", &self.api_url)
            .field("id_instance", &self.id_instance)
            .field("token", &"***")
            .finish()
    }
}

impl Credentials {
    /// Checks the three values as given by flags or the environment. Errors name the flag
    /// and its variable, and never repeat a value that may hold the token.
    pub fn new(api_url: &str, id_instance: &str, token: &str) -> Result<Credentials, String> {
        let (api_url, id_instance, token) = (api_url.trim(), id_instance.trim(), token.trim());
        let example = "it looks like https://7103.api.greenapi.com (the apiUrl the console shows)";
        let url = reqwest::Url::parse(api_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| format!("--api-url (GREEN_API_URL) is not a URL; {example}"))?;
        let origin = format!(
            "{}://{}{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.port().map(|p| format!(":{p}")).unwrap_or_default()
        );
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "--api-url (GREEN_API_URL) holds a user name or password; GREEN-API takes none \
                 there. Give the base URL alone, e.g. {origin}"
            ));
        }
        if url.query().is_some() || url.fragment().is_some() || url.path().contains("waInstance") {
            return Err(format!(
                "--api-url (GREEN_API_URL) must be the apiUrl alone, like {origin}, not a whole \
                 method URL (…/waInstance…/sendContact/…, with a query or a #); the idInstance \
                 and the token go in --id-instance and --api-token-instance"
            ));
        }
        if id_instance.is_empty() || !id_instance.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "--id-instance (GREEN_API_ID_INSTANCE) '{}' is not an idInstance; it is all \
                 digits, e.g. 7103000001",
                shown(id_instance)
            ));
        }
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("--api-token-instance (GREEN_API_TOKEN_INSTANCE) is not an \
                        apiTokenInstance: GREEN-API tokens are hexadecimal digits (0-9, a-f). \
                        Copy it again from the GREEN-API console"
                .into());
        }
        let path = url.path().trim_end_matches('/');
        Ok(Credentials {
            api_url: format!("{origin}{path}"),
            id_instance: id_instance.to_string(),
            token: token.to_string(),
        })
    }

    pub fn id_instance(&self) -> &str {
        &self.id_instance
    }

    /// The base URL, checked to hold nothing secret.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }
}

/// What an answer (or its absence) means for the row and the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 200 with an idMessage: queued by GREEN-API.
    Sent { id_message: String },
    /// The request was refused for this row (400 validation, 500 too large): do not retry.
    Rejected { error: String },
    /// Not accepted, worth another try after a pause (429, 5xx, "starting", connect failed).
    Retry { reason: String },
    /// The whole run must stop (401, 403, 466): nothing more can be sent.
    Fatal { reason: String },
    /// The request may or may not have been accepted (timeout, connection lost mid-way).
    Unknown { reason: String },
}

/// Why a call to a method other than sendContact gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// 401, 403 or 466: the credentials or the plan stop everything.
    #[error("GREEN-API refused the call to {url}: {reason}")]
    Refused { url: String, reason: String },
    /// Nothing answered (connection refused, DNS, timeouts), even after retries.
    #[error("cannot reach GREEN-API at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// Something answered, but not with what the method returns.
    #[error("GREEN-API answered {url} with {answer}")]
    Unexpected { url: String, answer: String },
    /// A 4xx answer other than 401/403/429/466: the call itself was refused (a message that
    /// is not there, say).
    #[error("GREEN-API refused the call to {url}: {status} {answer}")]
    Rejected {
        url: String,
        status: u16,
        answer: String,
    },
}

/// A message in the instance's queue, as `showMessagesQueue` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    pub id_message: String,
    pub chat_id: String,
    pub phone_contact: Option<u64>,
    /// The card's content key, computed from the queued body exactly as greenbulk computes
    /// a row's: it tells apart cards with the same chat and phone.
    pub key: Option<ContentKey>,
}

/// A message that left the queue, as `lastOutgoingMessages` and `getMessage` give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub id_message: String,
    pub chat_id: String,
    /// When it left the queue (Unix seconds).
    pub timestamp: u64,
    /// A contact card (`typeMessage` `contactMessage`) sent through the API.
    pub card_by_api: bool,
    /// Sent through the API, whatever its type (a card to a number without WhatsApp can be
    /// journaled with an empty `typeMessage`).
    pub by_api: bool,
    /// The phone digits on the card's vCard.
    pub phone_contact: Option<u64>,
    pub status: String,
}

impl SentMessage {
    fn from_json(value: &Value) -> Option<SentMessage> {
        let text = |key: &str| value.get(key).and_then(Value::as_str);
        Some(SentMessage {
            id_message: text("idMessage")?.to_string(),
            chat_id: text("chatId").unwrap_or_default().to_string(),
            timestamp: value.get("timestamp").and_then(Value::as_u64).unwrap_or(0),
            card_by_api: text("typeMessage") == Some("contactMessage")
                && value.get("sendByApi").and_then(Value::as_bool) == Some(true),
            by_api: value.get("sendByApi").and_then(Value::as_bool) == Some(true),
            phone_contact: value
                .get("contact")
                .and_then(|c| c.get("vcard"))
                .and_then(Value::as_str)
                .and_then(vcard_phone),
            status: text("statusMessage").unwrap_or_default().to_string(),
        })
    }
}

/// The digits of a vCard's first `TEL` line (`TEL;type=CELL;waid=79…:+7 900 …`).
fn vcard_phone(vcard: &str) -> Option<u64> {
    let line = vcard
        .lines()
        .find(|line| line.trim_start().to_ascii_uppercase().starts_with("TEL"))?;
    let number = line.rsplit(':').next()?;
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// How long the instance's queue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLength {
    pub count: u64,
    /// Counted from the queue view, which lists the first 500 only: there may be more.
    pub at_least: bool,
}

/// How many times a call is tried, and the first pause between tries (doubling, up to 15 s):
/// about a minute in all, long enough for a 429 or a restarting instance to pass. When
/// nothing answers at all, a few seconds: a wrong URL does not get better by waiting.
const CALL_TRIES: u32 = 7;
const CALL_TRIES_UNREACHABLE: u32 = 3;
const CALL_BACKOFF: Duration = Duration::from_secs(1);

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    /// Parsed once: parsing a URL for every request cost more than building the request.
    send_contact: reqwest::Url,
    spacing: spacing::Spacing,
}

impl Client {
    /// `shared_calls`: the file through which runs on the same instance keep to the other
    /// methods' rate limits together (see [`spacing`]); none for a private instance.
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
            credentials.api_url, credentials.id_instance
        );
        let token = credentials.token.clone();
        let send_contact =
            reqwest::Url::parse(&method_url(&base, "sendContact", &token)).map_err(|e| {
                let shown = method_url(&base, "sendContact", &mask(&token));
                anyhow::anyhow!("cannot build a request URL from {shown}: {e}")
            })?;
        Ok(Client {
            http,
            base,
            token,
            send_contact,
            spacing: spacing::Spacing::new(shared_calls),
        })
    }

    fn url(&self, method: &str) -> String {
        method_url(&self.base, method, &self.token)
    }

    /// The URL of a method with the token masked, for showing.
    pub fn masked_url(&self, method: &str) -> String {
        method_url(&self.base, method, &mask(&self.token))
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
                    Ok(text) => classify(status, &text),
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
            let wait = self.spacing.reserve(method);
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
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
                Ok(text) => text,
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
    /// spellings are read); if that fails, the length of the queue view, at least.
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
            at_least: listed >= 500,
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
            Ok(value) => Ok(SentMessage::from_json(&value)),
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

/// The one table: HTTP status and body → what it means (docs/sending.md).
pub fn classify(status: u16, body: &str) -> Answer {
    if status == 200 {
        #[derive(serde::Deserialize)]
        struct Accepted {
            #[serde(rename = "idMessage")]
            id_message: String,
        }
        return match serde_json::from_str::<Accepted>(body) {
            Ok(Accepted { id_message }) => Answer::Sent { id_message },
            Err(_) => Answer::Unknown {
                reason: format!("200 without an idMessage: {}", shorten(body)),
            },
        };
    }
    let message = server_message(body);
    match status {
        400 if message.contains("starting process") => Answer::Retry {
            reason: format!("400 {message}"),
        },
        401 => Answer::Fatal {
            reason: "401 Unauthorized: GREEN-API refused the apiTokenInstance. Copy the token \
                     again from the GREEN-API console (--api-token-instance or \
                     GREEN_API_TOKEN_INSTANCE)"
                .into(),
        },
        403 => Answer::Fatal {
            reason: "403 Forbidden: GREEN-API does not know this idInstance at this API URL. \
                     Check --id-instance (GREEN_API_ID_INSTANCE) and --api-url (GREEN_API_URL) \
                     against the console"
                .into(),
        },
        466 => Answer::Fatal {
            reason: quota_reason(body),
        },
        429 => Answer::Retry {
            reason: "429 Too Many Requests".into(),
        },
        500 if message.contains("request entity too large") => Answer::Rejected {
            error: format!("500 {message}: the request is over 100 KB"),
        },
        500 | 502 | 503 | 504 => Answer::Retry {
            reason: format!("{status} {}", status_text(status, &message)),
        },
        499 => Answer::Unknown {
            reason: "499: the request was cut off; it may have been queued".into(),
        },
        400..=499 => Answer::Rejected {
            error: format!("{status} {}", status_text(status, &message)),
        },
        _ => Answer::Unknown {
            reason: format!(
                "unexpected answer {status} {}; it may have been queued",
                status_text(status, &message)
            ),
        },
    }
}

/// A failure without an HTTP answer: retryable only when the request provably never left.
fn classify_transport(err: &reqwest::Error) -> Answer {
    if err.is_connect() || err.is_builder() {
        Answer::Retry {
            reason: format!("cannot connect: {}", describe(err)),
        }
    } else if err.is_timeout() {
        Answer::Unknown {
            reason: "no answer before the timeout; the message may have been queued".into(),
        }
    } else {
        Answer::Unknown {
            reason: format!(
                "the connection was lost after the request was sent: {}",
                describe(err)
            ),
        }
    }
}

/// An error's chain of causes, without the URL (which holds the token).
fn describe(err: &reqwest::Error) -> String {
    use std::error::Error;
    let mut text = String::new();
    let mut source: Option<&dyn Error> = err.source();
    while let Some(cause) = source {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if text.is_empty() {
        text = "request failed".into();
    }
    text
}

fn server_message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(shorten))
        .unwrap_or_else(|| shorten(body))
}

fn status_text(status: u16, message: &str) -> String {
    if message.is_empty() || message.starts_with('<') {
        reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("")
            .to_string()
    } else {
        message.to_string()
    }
}

/// A server's text made fit to show: one line, at most 200 characters, control characters
/// escaped (a server can send escape sequences too).
fn shorten(body: &str) -> String {
    let flat = shown(&body.split_whitespace().collect::<Vec<_>>().join(" ")).into_owned();
    if flat.chars().count() > 200 {
        format!("{}…", flat.chars().take(200).collect::<String>())
    } else {
        flat
    }
}

fn quota_reason(body: &str) -> String {
    let value = serde_json::from_str::<Value>(body).unwrap_or(Value::Null);
    let part = |key: &str| {
        let status = value.get(key)?;
        let description = shorten(status.get("description")?.as_str()?);
        let used = status.get("used").map(Value::to_string).unwrap_or_default();
        let total = status
            .get("total")
            .map(Value::to_string)
            .unwrap_or_default();
        Some(format!("{description} (used {used} of {total})"))
    };
    let details: Vec<String> = ["correspondentsStatus", "invokeStatus"]
        .into_iter()
        .filter_map(part)
        .collect();
    if details.is_empty() {
        "466: GREEN-API says the plan's quota is used up. Check the plan in the console".into()
    } else {
        format!(
            "466: GREEN-API says the plan's quota is used up: {}. Upgrade the plan in the \
             console, or send to chats already written to this month",
            details.join("; ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        assert_eq!(
            classify(200, r#"{"idMessage":"3EB0C767D097B7C7C030"}"#),
            Answer::Sent {
                id_message: "3EB0C767D097B7C7C030".into()
            }
        );
        assert!(matches!(
            classify(400, r#"{"message":"Validation failed. Details: 'contact.phoneContact' must be a number"}"#),
            Answer::Rejected { error } if error.contains("must be a number")
        ));
        assert!(matches!(
            classify(
                400,
                r#"{"message":"instance in starting process try later"}"#
            ),
            Answer::Retry { .. }
        ));
        for status in [429, 500, 502, 503, 504] {
            assert!(
                matches!(classify(status, ""), Answer::Retry { .. }),
                "{status}"
            );
        }
        assert!(matches!(
            classify(500, r#"{"message":"request entity too large"}"#),
            Answer::Rejected { .. }
        ));
        for status in [401, 403, 466] {
            assert!(
                matches!(classify(status, "{}"), Answer::Fatal { .. }),
                "{status}"
            );
        }
        assert!(matches!(classify(499, ""), Answer::Unknown { .. }));
        assert!(matches!(classify(200, "{}"), Answer::Unknown { .. }));
    }

    #[test]
    fn a_vcard_gives_its_phone_digits() {
        let vcard = "BEGIN:VCARD\nVERSION:3.0\nN:Ivanov;Ivan;;;\nFN:Ivan Ivanov\n\
                     TEL;type=CELL;type=VOICE;waid=79001234568:+7 900 123-45-68\nEND:VCARD";
        assert_eq!(vcard_phone(vcard), Some(79001234568));
        assert_eq!(vcard_phone("BEGIN:VCARD\nEND:VCARD"), None);
    }

    #[test]
    fn quota_names_what_is_used_up() {
        let body =
            r#"{"correspondentsStatus":{"used":3,"total":3,"description":"3 chats a month"}}"#;
        let Answer::Fatal { reason } = classify(466, body) else {
            panic!("466 is fatal")
        };
        assert!(reason.contains("3 chats a month (used 3 of 3)"), "{reason}");
    }

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
    }

    #[test]
    fn credentials_refuse_what_would_leak_or_misroute_the_token() {
        let ok = |url: &str| Credentials::new(url, "1101000001", "abc123").map(|c| c.api_url);
        assert_eq!(
            ok("https://api.green-api.com").unwrap(),
            "https://api.green-api.com"
        );
        assert_eq!(
            ok("http://127.0.0.1:7123/").unwrap(),
            "http://127.0.0.1:7123"
        );
        assert_eq!(
            ok("https://proxy.example/green").unwrap(),
            "https://proxy.example/green"
        );
        for bad in [
            "https://api.green-api.com/waInstance1101000001/sendContact/abc123",
            "https://user:pw@api.green-api.com",
            "https://api.green-api.com/?token=abc",
            "https://api.green-api.com/#x",
            "api.green-api.com",
            "ftp://api.green-api.com",
        ] {
            let err = ok(bad).unwrap_err();
            assert!(!err.contains("abc123") && !err.contains(":pw"), "{err}");
            assert!(err.contains("--api-url"), "{err}");
        }
        let err = Credentials::new("https://a.example", "1", "Sec/r?e#t").unwrap_err();
        assert!(
            err.contains("--api-token-instance") && !err.contains("Sec"),
            "{err}"
        );
        assert!(Credentials::new("https://a.example", "12a", "ab").is_err());
    }
}
