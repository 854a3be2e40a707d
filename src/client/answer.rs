//! The one table that says what every answer means, for a row and for the run (docs/sending.md):
//! `sendContact`'s answers become an [`Answer`]; the other methods' failures a [`CallError`].

use serde_json::Value;

use crate::term::shown;

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
pub(super) fn classify_transport(err: &reqwest::Error) -> Answer {
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
pub(super) fn describe(err: &reqwest::Error) -> String {
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

pub(super) fn server_message(body: &str) -> String {
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
pub(super) fn shorten(body: &str) -> String {
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
    fn quota_names_what_is_used_up() {
        let body =
            r#"{"correspondentsStatus":{"used":3,"total":3,"description":"3 chats a month"}}"#;
        let Answer::Fatal { reason } = classify(466, body) else {
            panic!("466 is fatal")
        };
        assert!(reason.contains("3 chats a month (used 3 of 3)"), "{reason}");
    }
}
