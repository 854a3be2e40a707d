//! The built-in emulator answers like GREEN-API, over real HTTP from a real client.

use std::time::Duration;

use greenbulk::sandbox::{
    Config, DEFAULT_ID_INSTANCE, DEFAULT_TOKEN, Faults, InstanceState, Sandbox,
};

use crate::util::{Standalone, Workdir};
use serde_json::{Value, json};

struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(sandbox: &Sandbox) -> Api {
        Api::at(
            &sandbox.url(),
            &sandbox.config().id_instance,
            &sandbox.config().token,
        )
    }

    fn at(url: &str, id_instance: &str, token: &str) -> Api {
        Api {
            client: reqwest::Client::new(),
            base: format!("{url}/waInstance{id_instance}"),
            token: token.to_string(),
        }
    }

    async fn post(&self, method: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}/{method}/{}", self.base, self.token))
            .json(body)
            .send()
            .await
            .expect("an answer");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, method: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}/{method}/{}", self.base, self.token))
            .send()
            .await
            .expect("an answer");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

fn card(chat: &str, phone: Value) -> Value {
    json!({"chatId": chat, "contact": {"phoneContact": phone, "firstName": "Artem", "lastName": "Evpatoriysky", "company": "Bicycle"}})
}

async fn start(faults: Faults) -> Sandbox {
    Sandbox::start(
        Config {
            faults,
            ..Config::default()
        },
        0,
    )
    .await
    .expect("the emulator starts")
}

#[tokio::test]
async fn send_contact_answers_as_documented() {
    let sandbox = start(Faults::default()).await;
    let api = Api::new(&sandbox);

    let (status, body) = api
        .post(
            "sendContact",
            &card("11001234567@c.us", json!(79001234568u64)),
        )
        .await;
    assert_eq!(status, 200);
    let id = body["idMessage"].as_str().expect("an idMessage");
    assert_eq!(id.len(), 20);
    assert!(
        id.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
    );

    let cases = [
        (
            json!({}),
            "Validation failed. Details: 'value' must have at least 1 key",
        ),
        (
            card("11001234567@c.us", json!("79001234568")),
            "Validation failed. Details: 'contact.phoneContact' must be a number",
        ),
        (
            card("11001234567@c.us", json!(9007199254740993u64)),
            "Validation failed. Details: 'contact.phoneContact' must be a safe number",
        ),
        (
            card("11001234567", json!(79001234568u64)),
            "Validation failed. Details: 'chatId' must be one of the next formats: 'phone_number@c.us' or 'group_id@g.us'",
        ),
        (
            json!({"chatId": "11001234567@c.us", "contact": {"phoneContact": 79001234568u64}}),
            "Validation failed. Details: 'contact' must contain at least one of [firstName, middleName, lastName, company]",
        ),
    ];
    for (body, message) in cases {
        let (status, answer) = api.post("sendContact", &body).await;
        assert_eq!((status, answer["message"].as_str()), (400, Some(message)));
    }

    let mut huge = card("11001234567@c.us", json!(79001234568u64));
    huge["contact"]["company"] = json!("x".repeat(101 * 1024));
    let (status, answer) = api.post("sendContact", &huge).await;
    assert_eq!(
        (status, answer["message"].as_str()),
        (500, Some("request entity too large"))
    );

    // Only the first request was accepted.
    assert_eq!(sandbox.outgoing().len(), 1);
    assert_eq!(sandbox.received().len(), 7);
}

#[tokio::test]
async fn wrong_credentials_are_401_and_403() {
    let sandbox = start(Faults::default()).await;
    let client = reqwest::Client::new();
    let id = &sandbox.config().id_instance;
    let url = |instance: &str, token: &str| {
        format!(
            "{}/waInstance{instance}/getStateInstance/{token}",
            sandbox.url()
        )
    };
    let status = |u: String| {
        let client = client.clone();
        async move { client.get(u).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(url(id, "wrong")).await, 401);
    assert_eq!(status(url("999", &sandbox.config().token)).await, 403);
    assert_eq!(status(url(id, &sandbox.config().token)).await, 200);
}

#[tokio::test]
async fn more_than_50_sends_in_a_second_get_429() {
    let sandbox = start(Faults::default()).await;
    let api = Api::new(&sandbox);
    let mut statuses = Vec::new();
    for i in 0..60u64 {
        let (status, _) = api
            .post(
                "sendContact",
                &card("11001234567@c.us", json!(79001234000u64 + i)),
            )
            .await;
        statuses.push(status);
    }
    // Whatever the timing, a request is refused exactly when it is the 51st or later
    // arrival within one second.
    let received = sandbox.received();
    for (i, request) in received.iter().enumerate() {
        let in_window = received[..=i]
            .iter()
            .filter(|r| request.at - r.at < Duration::from_secs(1))
            .count();
        let expected = if in_window > 50 { 429 } else { 200 };
        assert_eq!(statuses[i], expected, "request {i}: {statuses:?}");
    }
    assert!(
        statuses.contains(&429),
        "60 requests on loopback take well under a second"
    );
}

#[tokio::test]
async fn the_queue_sends_one_per_delay_and_the_journal_shows_what_left() {
    let sandbox = start(Faults {
        delay: Duration::from_millis(400),
        ..Faults::default()
    })
    .await;
    let api = Api::new(&sandbox);
    let mut ids = Vec::new();
    for phone in [79001234568u64, 79001234569, 79001234570] {
        let (_, sent) = api
            .post("sendContact", &card("11001234567@c.us", json!(phone)))
            .await;
        ids.push(sent["idMessage"].as_str().unwrap().to_string());
    }
    // The first left at once; the other two wait their turn.
    let (_, count) = api.get("getMessagesCount").await;
    assert_eq!(count, json!({"count": 2}));
    let (_, queue) = api.get("showMessagesQueue").await;
    assert_eq!(queue.as_array().map(Vec::len), Some(2), "{queue}");
    assert_eq!(queue[0]["messageID"], json!(ids[1]));
    assert_eq!(queue[0]["type"], json!("sendContact"));
    assert_eq!(queue[0]["body"]["chatId"], json!("11001234567@c.us"));
    assert_eq!(
        queue[0]["body"]["contact"]["phoneContact"],
        json!(79001234569u64)
    );
    let (_, journal) = api.get("lastOutgoingMessages").await;
    let record = &journal[0];
    assert_eq!(journal.as_array().map(Vec::len), Some(1), "{journal}");
    assert_eq!(record["idMessage"], json!(ids[0]));
    assert_eq!(record["typeMessage"], json!("contactMessage"));
    assert_eq!(record["sendByApi"], json!(true));
    assert_eq!(record["statusMessage"], json!("sent"));
    assert_eq!(
        record["contact"]["displayName"],
        json!("Artem Evpatoriysky")
    );
    let vcard = record["contact"]["vcard"].as_str().unwrap();
    assert!(vcard.starts_with("BEGIN:VCARD\nVERSION:3.0\n"), "{vcard}");
    assert!(vcard.contains("ORG:Bicycle;"), "{vcard}");
    assert!(vcard.contains("TEL;type=CELL;type=VOICE;waid=79001234568:+79001234568"));
    // getMessage knows what left the queue, not what is still in it.
    let get = |id: &str| json!({"chatId": "11001234567@c.us", "idMessage": id});
    let (status, message) = api.post("getMessage", &get(&ids[0])).await;
    assert_eq!((status, &message["idMessage"]), (200, &json!(ids[0])));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (status, _) = api.post("getMessage", &get(&ids[2])).await;
    assert_eq!(status, 404);

    crate::util::wait_until(Duration::from_secs(5), "the queue to drain", || {
        sandbox.queue_len() == 0
    });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (_, journal) = api.get("lastOutgoingMessages").await;
    assert_eq!(journal.as_array().map(Vec::len), Some(3), "{journal}");
    // Newest first; the oldest has been delivered by now.
    assert_eq!(journal[2]["idMessage"], json!(ids[0]));
    assert_ne!(journal[2]["statusMessage"], json!("sent"));
    let (_, settings) = api.get("getSettings").await;
    assert_eq!(settings["delaySendMessagesMilliseconds"], json!(400));
    assert_eq!(sandbox.over_limit_calls(), Vec::<String>::new());
}

#[tokio::test]
async fn a_message_queued_past_its_time_is_dropped_without_a_trace() {
    let sandbox = start(Faults {
        state: InstanceState::NotAuthorized,
        queue_ttl: Duration::from_millis(500),
        ..Faults::default()
    })
    .await;
    let api = Api::new(&sandbox);
    let (_, sent) = api
        .post(
            "sendContact",
            &card("11001234567@c.us", json!(79001234568u64)),
        )
        .await;
    let id = sent["idMessage"].as_str().unwrap().to_string();
    assert_eq!(sandbox.status_of(&id).as_deref(), Some("queued"));
    crate::util::wait_until(Duration::from_secs(5), "the message to expire", || {
        sandbox.status_of(&id).as_deref() == Some("expired")
    });
    let (_, count) = api.get("getMessagesCount").await;
    assert_eq!(count, json!({"count": 0}));
    let (_, journal) = api.get("lastOutgoingMessages").await;
    assert_eq!(journal, json!([]));
    let (status, _) = api
        .post(
            "getMessage",
            &json!({"chatId": "11001234567@c.us", "idMessage": id}),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_journal_lags_and_chats_without_whatsapp_end_no_account() {
    let sandbox = start(Faults {
        journal_lag: Duration::from_millis(1500),
        no_account: 1.0,
        ..Faults::default()
    })
    .await;
    let api = Api::new(&sandbox);
    let (_, exists) = api
        .post("checkWhatsapp", &json!({"phoneNumber": 79161234567u64}))
        .await;
    assert_eq!(exists, json!({"existsWhatsapp": false}));
    assert!(!sandbox.has_whatsapp("79161234567@c.us"));
    let (_, sent) = api
        .post(
            "sendContact",
            &card("79161234567@c.us", json!(79001234568u64)),
        )
        .await;
    let id = sent["idMessage"].as_str().unwrap().to_string();
    let (_, journal) = api.get("lastOutgoingMessages").await;
    assert_eq!(journal, json!([]), "not in the journal yet");
    let (status, message) = api
        .post(
            "getMessage",
            &json!({"chatId": "79161234567@c.us", "idMessage": id}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(message["statusMessage"], json!("noAccount"));
    crate::util::wait_until(Duration::from_secs(5), "the journal to show it", || {
        std::thread::sleep(Duration::from_millis(200));
        sandbox.status_of(&id).as_deref() == Some("noAccount")
    });
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (_, journal) = api.get("lastOutgoingMessages").await;
    assert_eq!(journal[0]["idMessage"], json!(id));
}

#[tokio::test]
async fn a_yellow_card_instance_accepts_and_sends_nothing() {
    let sandbox = start(Faults {
        state: InstanceState::YellowCard,
        ..Faults::default()
    })
    .await;
    let api = Api::new(&sandbox);
    let (status, sent) = api
        .post(
            "sendContact",
            &card("11001234567@c.us", json!(79001234568u64)),
        )
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let id = sent["idMessage"].as_str().unwrap();
    assert_eq!(sandbox.status_of(id).as_deref(), Some("queued"));
    assert_eq!(sandbox.queue_len(), 1);
}

#[tokio::test]
async fn quota_answers_466_with_the_documented_body() {
    let sandbox = start(Faults {
        quota: Some(2),
        ..Faults::default()
    })
    .await;
    let api = Api::new(&sandbox);
    for chat in ["11001234567@c.us", "11001234568@c.us", "11001234567@c.us"] {
        let (status, _) = api
            .post("sendContact", &card(chat, json!(79001234568u64)))
            .await;
        assert_eq!(
            status, 200,
            "{chat}: chats within the quota, or already written to"
        );
    }
    let (status, body) = api
        .post(
            "sendContact",
            &card("11001234569@c.us", json!(79001234568u64)),
        )
        .await;
    assert_eq!(status, 466);
    for part in ["invokeStatus", "correspondentsStatus"] {
        assert_eq!(body[part]["used"], json!(2), "{body}");
        assert_eq!(body[part]["total"], json!(2), "{body}");
        assert!(body[part]["description"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn instance_states_and_starting() {
    let sandbox = start(Faults {
        state: InstanceState::Starting,
        starting_for: Duration::from_secs(60),
        ..Faults::default()
    })
    .await;
    let api = Api::new(&sandbox);
    let (_, state) = api.get("getStateInstance").await;
    assert_eq!(state, json!({"stateInstance": "starting"}));
    let (status, body) = api
        .post(
            "sendContact",
            &card("11001234567@c.us", json!(79001234568u64)),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        json!("instance in starting process try later")
    );

    sandbox.set_faults(Faults {
        state: InstanceState::YellowCard,
        ..Faults::default()
    });
    // getStateInstance, like GREEN-API's, answers once a second.
    let (status, _) = api.get("getStateInstance").await;
    assert_eq!(status, 429);
    assert_eq!(sandbox.over_limit_calls().len(), 1);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (_, state) = api.get("getStateInstance").await;
    assert_eq!(state, json!({"stateInstance": "yellowCard"}));
}

#[tokio::test]
async fn faults_are_deterministic_for_a_seed() {
    async fn statuses(seed: u64) -> Vec<u16> {
        let sandbox = start(Faults {
            fail_429: 0.2,
            fail_5xx: 0.2,
            seed,
            ..Faults::default()
        })
        .await;
        let api = Api::new(&sandbox);
        let mut statuses = Vec::new();
        for i in 0..30u64 {
            let body = card("11001234567@c.us", json!(79001234000u64 + i));
            statuses.push(api.post("sendContact", &body).await.0);
            // Stay under 50/s so the rate limit plays no part.
            tokio::time::sleep(Duration::from_millis(21)).await;
        }
        statuses
    }
    let first = statuses(7).await;
    assert_eq!(first, statuses(7).await);
    assert_ne!(first, statuses(8).await);
    assert!(first.contains(&429) && first.contains(&200), "{first:?}");
    assert!(first.iter().any(|s| *s == 500 || *s == 502), "{first:?}");
}

#[tokio::test]
async fn dropped_connections_after_accepting() {
    let sandbox = start(Faults {
        drop_after_accept: 1.0,
        ..Faults::default()
    })
    .await;
    let api = Api::new(&sandbox);
    let result = api
        .client
        .post(format!("{}/sendContact/{}", api.base, api.token))
        .json(&card("11001234567@c.us", json!(79001234568u64)))
        .send()
        .await;
    assert!(
        result.is_err(),
        "the connection must be closed without an answer"
    );
    let outgoing = sandbox.outgoing();
    assert_eq!(outgoing.len(), 1, "the message was accepted nonetheless");
    assert!(outgoing[0].dropped);
}

#[test]
fn standalone_sandbox_prints_its_url_first() {
    let dir = Workdir::new();
    let sandbox = Standalone::start(&dir, &[]);
    let port: u16 = sandbox.url.rsplit(':').next().unwrap().parse().unwrap();
    assert!(port > 0);
}

#[tokio::test]
async fn standalone_sandbox_takes_the_garbage_and_hidden_head_faults() {
    let dir = Workdir::new();
    let garbage = Standalone::start(&dir, &["--empty-200", "1"]);
    let (status, body) = Api::at(&garbage.url, DEFAULT_ID_INSTANCE, DEFAULT_TOKEN)
        .post(
            "sendContact",
            &card("79001234567@c.us", json!(79001234568u64)),
        )
        .await;
    assert_eq!(status, 200);
    assert!(body.get("idMessage").is_none(), "{body}");

    let hidden = Standalone::start(&dir, &["--hide-queue-head", "--delay-ms", "600000"]);
    let api = Api::at(&hidden.url, DEFAULT_ID_INSTANCE, DEFAULT_TOKEN);
    // The first leaves at once; two wait, and the view leaves out the one at the head.
    for phone in [79001234568u64, 79001234569, 79001234570] {
        let (status, _) = api
            .post("sendContact", &card("79001234567@c.us", json!(phone)))
            .await;
        assert_eq!(status, 200);
    }
    let (_, count) = api.get("getMessagesCount").await;
    let (_, queue) = api.get("showMessagesQueue").await;
    assert_eq!(count["count"], 2, "{count}");
    assert_eq!(queue.as_array().map(Vec::len), Some(1), "{queue}");
}

#[test]
fn standalone_sandbox_refuses_a_share_above_one() {
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_greenbulk"))
        .args(["sandbox", "--port", "0", "--empty-200", "1.5"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("--empty-200 1.5"), "{stderr}");
}

/// `send --sandbox` killed with -9 (a rehearsal of a crash): the built-in sandbox kept what
/// it was sent as it came, so `status --sandbox` finds those cards, as GREEN-API would (a
/// hostile audit's finding: it kept them only on a clean exit, and `status` then found none).
#[test]
fn the_built_in_sandbox_keeps_what_it_was_sent_through_a_kill_9() {
    let dir = Workdir::new();
    dir.write("in.csv", crate::util::contacts_csv(60));
    let mut child = dir
        .command(&[
            "send",
            "in.csv",
            "--results",
            "out.csv",
            "--sandbox",
            "--rate",
            "10/s",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let sent_ids = || -> Vec<String> {
        std::fs::read_to_string(dir.path("out.csv.ledger"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|event| event["event"] == "sent")
            .map(|event| event["id_message"].as_str().unwrap().to_string())
            .collect()
    };
    crate::util::wait_until(Duration::from_secs(30), "cards to be accepted", || {
        sent_ids().len() >= 3
    });
    // Another run meanwhile, to its end: its save replaces the kept file under the first
    // (a re-audit's finding: the first went on adding to the file replaced, and lost those
    // cards when killed).
    dir.write(
        "other.csv",
        "chatId,phoneContact,firstName\n79169990001,79039990001,Zed\n",
    );
    let other = dir.run(&[
        "send",
        "other.csv",
        "--results",
        "other-out.csv",
        "--sandbox",
    ]);
    assert_eq!(other.code, 0, "{other:?}");
    let after = sent_ids().len();
    crate::util::wait_until(Duration::from_secs(30), "more cards to be accepted", || {
        sent_ids().len() >= after + 2
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let kept = dir.read(&format!(
        "state/greenbulk/sandbox-{DEFAULT_ID_INSTANCE}.jsonl"
    ));
    let sent = sent_ids();
    for id in &sent {
        assert!(kept.contains(id), "{id} kept: {kept}");
    }
    let others = crate::util::read_records(&dir.path("other-out.csv"));
    assert!(kept.contains(&others[0]["idMessage"]), "{kept}");
    let run = dir.run(&["status", "out.csv", "--sandbox"]);
    assert!(run.code == 0 || run.code == 1, "{run:?}");
    let rows = crate::util::read_records(&dir.path("out.csv"));
    let looked_up = rows
        .iter()
        .filter(|r| sent.contains(&r["idMessage"]) && !r["delivery"].is_empty())
        .count();
    assert_eq!(looked_up, sent.len(), "{rows:?}");
}
