//! The GREEN-API client: URLs built from `apiUrl`/`idInstance`/`apiTokenInstance`, one
//! connection pool, a timeout, and the one table that says what every answer means.
//!
//! The token is only ever put into the request URL; URLs in errors are stripped, and
//! [`Client::masked_url`] is what gets shown.

use std::time::Duration;

use serde_json::Value;

/// Where and as whom to call GREEN-API.
#[derive(Clone)]
pub struct Credentials {
    pub api_url: String,
    pub id_instance: String,
    pub token: String,
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

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    /// Parsed once: parsing a URL for every request cost more than building the request.
    send_contact: reqwest::Url,
}

impl Client {
    pub fn new(credentials: &Credentials, timeout: Duration) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("greenbulk/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let api_url = credentials.api_url.trim().trim_end_matches('/');
        let base = format!("{api_url}/waInstance{}", credentials.id_instance.trim());
        let token = credentials.token.trim().to_string();
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

    /// `getStateInstance`: the instance state, or the answer that prevented knowing it.
    pub async fn state(&self) -> Result<String, Answer> {
        let response = self
            .http
            .get(self.url("getStateInstance"))
            .send()
            .await
            .map_err(|err| classify_transport(&err))?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        if status != 200 {
            return Err(classify(status, &text));
        }
        serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("stateInstance")?.as_str().map(str::to_string))
            .ok_or(Answer::Unknown {
                reason: format!("getStateInstance answered an unexpected body: {text}"),
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

/// The one table: HTTP status and body → what it means (SPEC.md, Sending).
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
        .and_then(|v| v.get("message")?.as_str().map(str::to_string))
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

fn shorten(body: &str) -> String {
    let flat = body.split_whitespace().collect::<Vec<_>>().join(" ");
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
        let description = status.get("description")?.as_str()?;
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
        let client = Client::new(
            &Credentials {
                api_url: "https://7103.api.greenapi.com/".into(),
                id_instance: "7103000001".into(),
                token: "secrettoken123".into(),
            },
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(
            client.url("sendContact"),
            "https://7103.api.greenapi.com/waInstance7103000001/sendContact/secrettoken123"
        );
        assert!(!client.masked_url("sendContact").contains("secrettoken123"));
    }
}
