//! After the 200: the queue plan and its 24 hours, `--limit`, instance states, lost answers
//! looked up, and `greenbulk status` — all against the emulator's queue and journal.

use std::collections::HashMap;
use std::time::Duration;

use greenbulk::sandbox::InstanceState;

use crate::util::{
    Faults, Run, SandboxThread, Workdir, accepted_ids, assert_no_double_delivery, contacts_csv,
    read_records, sandbox, send_args, wait_until,
};

#[test]
fn the_plan_is_printed_and_a_batch_too_big_for_the_queue_is_refused_with_what_fits() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(200));
    // One message every 10 minutes: 144 a day.
    let sandbox = sandbox(Faults {
        delay: Duration::from_secs(600),
        ..Faults::default()
    });
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(
            "200 cards; the instance's queue holds 0 and sends one every 600.0 s: the last \
             card leaves about"
        ),
        "{run:?}"
    );
    assert!(run.stderr.contains("within 24 h:"), "{run:?}");
    assert!(run.stderr.contains("--limit 144"), "{run:?}");
    assert!(sandbox.received().is_empty(), "nothing may leave");
    assert!(!dir.path("out.csv").exists() && !dir.path("out.csv.ledger").exists());

    let run = dir.send(
        &sandbox,
        &send_args("in.csv", "out.csv", &["--limit", "143"]),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("57 held back by --limit"), "{run:?}");
    assert_eq!(sandbox.outgoing().len(), 143);

    // The next day's share, while the queue still holds 142: only 2 more fit.
    let args = send_args("in.csv", "out.csv", &["--limit", "143", "--resume"]);
    let run = dir.send(&sandbox, &args);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("holds 142"), "{run:?}");
    assert!(run.stderr.contains("--limit 2"), "{run:?}");
    assert_eq!(sandbox.outgoing().len(), 143);
    assert!(dir.path("out.csv").exists(), "an earlier run's files stay");
}

#[test]
fn a_dry_run_with_the_sandbox_prints_the_plan() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(4));
    let run = dir.run(&[
        "send",
        "in.csv",
        "--results",
        "out.csv",
        "--sandbox",
        "--dry-run",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("4 cards; the instance's queue holds 0 and sends one every 0.5 s"),
        "{run:?}"
    );
    assert!(!dir.path("out.csv").exists());
}

#[test]
fn limit_then_resume_until_done_sends_every_row_once() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(25));
    let sandbox = sandbox(Faults::default());
    let args = send_args("in.csv", "out.csv", &["--limit", "10", "--resume"]);
    for (round, held_back) in [(1, Some(15)), (2, Some(5)), (3, None)] {
        let run = dir.send(&sandbox, &args);
        assert_eq!(run.code, 0, "round {round}: {run:?}");
        match held_back {
            Some(n) => assert!(
                run.stderr.contains(&format!("{n} held back by --limit")),
                "round {round}: {run:?}"
            ),
            None => assert!(!run.stderr.contains("held back"), "{run:?}"),
        }
    }
    assert_eq!(sandbox.outgoing().len(), 25);
    let run = dir.send(&sandbox, &args);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("nothing left to send"), "{run:?}");
    assert_eq!(sandbox.outgoing().len(), 25);
    assert_no_double_delivery(&sandbox);
    let rows = read_records(&dir.path("out.csv"));
    assert!(rows.iter().all(|r| r["status"] == "sent"), "{rows:?}");
}

/// A results file with nothing left to send or look up: `--resume` (a cron job's) asks
/// GREEN-API nothing, and succeeds while it cannot be reached (it exited 1, "cannot reach
/// GREEN-API", with no row failed, unknown or pending).
#[test]
fn resuming_a_finished_file_needs_no_network() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(3));
    let sandbox = sandbox(Faults::default());
    let args = send_args("in.csv", "out.csv", &["--resume"]);
    let run = dir.send(&sandbox, &args);
    assert_eq!(run.code, 0, "{run:?}");
    // The same command, once the instance cannot be reached.
    let mut resume = dir.send_command(&sandbox, &args);
    drop(sandbox);
    let run = Run::from_output(resume.output().unwrap());
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("nothing left to send"), "{run:?}");
}

#[test]
fn an_instance_that_cannot_send_stops_the_run_before_the_first_request() {
    for (state, says) in [
        (InstanceState::YellowCard, "answers 200 but sends nothing"),
        (InstanceState::Blocked, "blocked"),
    ] {
        let dir = Workdir::new();
        dir.write("in.csv", contacts_csv(3));
        let sandbox = sandbox(Faults {
            state,
            ..Faults::default()
        });
        let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
        assert_eq!(run.code, 4, "{run:?}");
        assert!(run.stderr.contains(says), "{run:?}");
        assert!(sandbox.received().is_empty());
        assert!(!dir.path("out.csv").exists());
    }
}

#[test]
fn a_starting_instance_is_waited_for() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(2));
    let sandbox = sandbox(Faults {
        state: InstanceState::Starting,
        starting_for: Duration::from_secs(3),
        ..Faults::default()
    });
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("the instance is starting"), "{run:?}");
    assert_eq!(sandbox.outgoing().len(), 2);
    assert!(
        sandbox.received().iter().all(|r| r.status == 200),
        "no send while starting"
    );
}

/// Moves every `attempt` line of the rows given back in time by `minutes`.
fn age_attempts(dir: &Workdir, ledger: &str, rows: &[u64], minutes: u64) {
    let text = dir.read(ledger);
    let mut lines = Vec::new();
    for line in text.lines() {
        let mut event: serde_json::Value = serde_json::from_str(line).unwrap();
        let row = event["row"].as_u64().unwrap_or(0);
        if event["event"] == "attempt" && rows.contains(&row) {
            let at = event["at"].as_u64().unwrap();
            event["at"] = serde_json::json!(at - minutes * 60_000);
        }
        lines.push(event.to_string());
    }
    dir.write(ledger, lines.join("\n") + "\n");
}

#[test]
fn unknown_rows_not_found_are_resent_only_when_old_enough_and_asked() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(3));
    // A server that answers 200 with no idMessage and queues nothing: every row unknown,
    // and nowhere to be found.
    let sandbox = sandbox(Faults {
        empty_200: 1.0,
        ..Faults::default()
    });
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 1, "{run:?}");
    sandbox.set_faults(Faults::default());
    age_attempts(&dir, "out.csv.ledger", &[2], 10);

    // Without --retry-unknown nothing is resent.
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &["--resume"]));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("0 found"), "{run:?}");
    assert!(run.stderr.contains("3 not found"), "{run:?}");
    assert!(sandbox.outgoing().is_empty());

    // With it, only the row attempted 10 minutes ago goes again.
    let args = send_args("in.csv", "out.csv", &["--resume", "--retry-unknown"]);
    let run = dir.send(&sandbox, &args);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("2 of those not found were attempted less than 5 minutes ago"),
        "{run:?}"
    );
    let rows = read_records(&dir.path("out.csv"));
    let statuses: Vec<&str> = rows.iter().map(|r| r["status"].as_str()).collect();
    assert_eq!(statuses, ["sent", "unknown", "unknown"]);
    assert_eq!(sandbox.outgoing().len(), 1);
}

/// `status --watch` ends once every unknown row was shown absent long enough ago: nothing
/// more can be learned of them but by `send --resume --retry-unknown`, which it says (it
/// went on asking for 24 hours).
#[test]
fn watching_ends_when_the_unknown_rows_are_shown_absent() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(2));
    let sandbox = sandbox(Faults {
        empty_200: 1.0,
        ..Faults::default()
    });
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 1, "{run:?}");
    age_attempts(&dir, "out.csv.ledger", &[2, 3], 10);
    let mut watch = dir
        .api_command(&sandbox, &["status", "out.csv", "--watch", "5"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ended = None;
    wait_until(Duration::from_secs(30), "the watch to end", || {
        ended = watch.try_wait().unwrap();
        ended.is_some()
    });
    let said = crate::util::read_all(watch.stderr.take().unwrap());
    assert_eq!(ended.unwrap().code(), Some(1), "{said}");
    assert!(said.contains("2 rows are still unknown"), "{said}");
    assert!(said.contains("--retry-unknown"), "{said}");
}

/// Chats with and without WhatsApp on this emulator, in order.
fn chats(sandbox: &crate::util::SandboxThread, with: usize, without: usize) -> Vec<String> {
    let (mut yes, mut no) = (Vec::new(), Vec::new());
    for n in 0.. {
        let chat = format!("7916{:07}@c.us", 1_000_000 + n);
        if sandbox.has_whatsapp(&chat) {
            if yes.len() < with {
                yes.push(chat);
            }
        } else if no.len() < without {
            no.push(chat);
        }
        if yes.len() == with && no.len() == without {
            break;
        }
    }
    yes.extend(no);
    yes
}

fn csv_for(chats: &[String]) -> String {
    let mut csv = String::from("chatId,phoneContact,firstName\n");
    for (i, chat) in chats.iter().enumerate() {
        csv.push_str(&format!("{chat},7903{:07},Name{i}\n", 2_000_000 + i));
    }
    csv
}

#[test]
fn status_fills_delivery_for_delivered_read_no_account_and_expired_rows() {
    let dir = Workdir::new();
    // One message leaves a second; a message waits at most 2.5 s: three leave, two expire.
    let sandbox = sandbox(Faults {
        delay: Duration::from_secs(1),
        queue_ttl: Duration::from_millis(2500),
        no_account: 0.35,
        seed: 7,
        ..Faults::default()
    });
    let mut rows = chats(&sandbox, 4, 1);
    // Rows 2–4 leave the queue (the second has no WhatsApp); rows 5–6 expire.
    rows.swap(1, 4);
    dir.write("in.csv", csv_for(&rows));
    let run = dir.send(
        &sandbox,
        &send_args("in.csv", "out.csv", &["--concurrency", "1"]),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let ids = accepted_ids(&sandbox);
    wait_until(
        Duration::from_secs(10),
        "three to leave, two to expire",
        || {
            sandbox.status_of(&ids[4]).as_deref() == Some("expired")
                && sandbox.status_of(&ids[2]).as_deref() != Some("sent")
        },
    );

    let run = crate::util::Run::from_output(
        dir.api_command(&sandbox, &["status", "out.csv"])
            .env("GREENBULK_QUEUE_TTL_SECONDS", "2")
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 1, "not every card was delivered: {run:?}");
    let results = read_records(&dir.path("out.csv"));
    let mut seen = HashMap::new();
    for row in &results {
        let truth = sandbox.status_of(&row["idMessage"]).unwrap();
        assert_eq!(row["delivery"], truth, "{row:?}");
        assert!(row["deliveryAt"].ends_with('Z'), "{row:?}");
        *seen.entry(truth).or_insert(0) += 1;
    }
    assert_eq!(seen.get("noAccount"), Some(&1), "{seen:?}");
    assert_eq!(seen.get("expired"), Some(&2), "{seen:?}");
    let left = ["delivered", "read"]
        .iter()
        .filter_map(|s| seen.get(*s))
        .sum::<i32>();
    assert_eq!(left, 2, "{seen:?}");
    assert!(run.stderr.contains("expired"), "{run:?}");
    assert_eq!(sandbox.over_limit_calls(), Vec::<String>::new());
    // The ledger keeps each state, for the next look.
    let ledger = dir.read("out.csv.ledger");
    assert_eq!(ledger.matches("\"event\":\"delivery\"").count(), 5);
}

/// Three cards sent one by one to an instance that sends one every 30 s: the first has left
/// the queue, two are still in it.
fn two_still_queued() -> (Workdir, SandboxThread) {
    let dir = Workdir::new();
    let sandbox = sandbox(Faults {
        delay: Duration::from_secs(30),
        ..Faults::default()
    });
    dir.write("in.csv", contacts_csv(3));
    let run = dir.send(
        &sandbox,
        &send_args("in.csv", "out.csv", &["--concurrency", "1"]),
    );
    assert_eq!(run.code, 0, "{run:?}");
    (dir, sandbox)
}

#[test]
fn status_says_what_is_still_queued_and_when_it_should_leave() {
    let (dir, sandbox) = two_still_queued();
    let run = dir.status(&sandbox, &["out.csv"]);
    assert_eq!(run.code, 1, "{run:?}");
    let rows = read_records(&dir.path("out.csv"));
    let delivery: Vec<&str> = rows.iter().map(|r| r["delivery"].as_str()).collect();
    assert!(
        ["sent", "delivered", "read"].contains(&delivery[0]),
        "{delivery:?}"
    );
    assert_eq!(delivery[1..], ["queued", "queued"]);
    assert!(
        run.stderr.contains("the instance's queue holds 2"),
        "{run:?}"
    );
    assert_eq!(sandbox.over_limit_calls(), Vec::<String>::new());
}

/// Five cards sent one by one to an instance whose journal shows them only an hour after they
/// leave, so `status` must ask about each one by one. Returns the directory, the emulator,
/// and a way to run `status` with two lookups a round, on the history whole (the order of
/// the lookups is the whole history's; in parts, each part's).
fn sent_past_the_journal(
    faults: Faults,
) -> (
    Workdir,
    SandboxThread,
    impl Fn(&Workdir, &SandboxThread) -> Run,
) {
    let dir = Workdir::new();
    let sandbox = sandbox(Faults {
        delay: Duration::from_millis(1),
        journal_lag: Duration::from_secs(3600),
        ..faults
    });
    dir.write("in.csv", contacts_csv(5));
    let run = dir.send(
        &sandbox,
        &send_args("in.csv", "out.csv", &["--concurrency", "1"]),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let status = |dir: &Workdir, sandbox: &SandboxThread| {
        Run::from_output(
            dir.api_command(sandbox, &["status", "out.csv"])
                .env("GREENBULK_LOOKUPS_PER_ROUND", "2")
                .env("GREENBULK_HISTORY_PARTS", "1")
                .output()
                .unwrap(),
        )
    };
    (dir, sandbox, status)
}

#[test]
fn cards_the_journal_does_not_list_are_looked_up_a_share_per_round() {
    // As after a batch bigger than the journal's 10,000.
    let (dir, sandbox, status) = sent_past_the_journal(Faults::default());
    let looked_up = || {
        read_records(&dir.path("out.csv"))
            .iter()
            .filter(|r| !r["delivery"].is_empty())
            .count()
    };
    for (round, (done, left)) in [(2, 3), (4, 1), (5, 0)].into_iter().enumerate() {
        let run = status(&dir, &sandbox);
        assert_eq!(looked_up(), done, "round {round}: {run:?}");
        if left > 0 {
            assert_eq!(run.code, 1, "{run:?}");
            assert!(
                run.stderr.contains(&format!(
                    "{left} cards left the queue before the oldest message"
                )),
                "{run:?}"
            );
        } else {
            assert!(!run.stderr.contains("left the queue before"), "{run:?}");
        }
        // One journal, one queue view, and only this round's share of getMessage calls.
        let asked = done - [0, 2, 4][round];
        assert!(
            run.stderr.contains(&format!("({} calls)", 2 + asked)),
            "{run:?}"
        );
    }
    assert_eq!(sandbox.over_limit_calls(), Vec::<String>::new());
}

/// A server that answers each `getMessage` in time, but slowly, does not hold a round (and
/// the files) for as long as its lookups would take: past the round's time for them, the rest
/// wait for the next round (a hostile audit's finding: at up to 30 s an answer, a round's
/// 600 lookups could hold one `status` for five hours).
#[test]
fn a_slow_server_leaves_the_rest_of_the_lookups_to_the_next_round() {
    let (dir, sandbox, _) = sent_past_the_journal(Faults {
        slow_messages: Duration::from_secs(1),
        ..Faults::default()
    });
    let status = || {
        Run::from_output(
            dir.api_command(&sandbox, &["status", "out.csv"])
                .env("GREENBULK_ASKING_SECONDS", "2")
                .env("GREENBULK_HISTORY_PARTS", "1")
                .output()
                .unwrap(),
        )
    };
    let told = || {
        read_records(&dir.path("out.csv"))
            .iter()
            .filter(|r| !r["delivery"].is_empty())
            .count()
    };
    // Each answer takes a second: two seconds of asking hear two answers at most.
    let run = status();
    assert_eq!(run.code, 1, "{run:?}");
    let first = told();
    assert!((1..=2).contains(&first), "{first} {run:?}");
    assert!(
        run.stderr.contains(&format!(
            "{} cards left the queue before the oldest message",
            5 - first
        )),
        "{run:?}"
    );
    // The next rounds go on where it stopped.
    for _ in 0..5 {
        if told() == 5 {
            break;
        }
        status();
    }
    assert_eq!(told(), 5);
}

#[test]
fn cards_that_stay_pending_do_not_hold_back_the_others_lookups() {
    // The three oldest cards (rows 2–4) never get past `pending`: WhatsApp never acknowledged
    // them. Two lookups a round, each `status` a new run: the cards asked about longest ago
    // (never, first) go first, so the others are reached and the stuck ones take turns.
    let (dir, sandbox, status) = sent_past_the_journal(Faults {
        stuck_pending: 3,
        ..Faults::default()
    });
    let count = |states: &[&str]| {
        read_records(&dir.path("out.csv"))
            .iter()
            .filter(|r| states.contains(&r["delivery"].as_str()))
            .count()
    };
    // (queued, left the queue, still to look up) after each round: rows 2 and 3 asked; 4 and
    // 5; 6 and 2; 3 and 4.
    for (round, (pending, left_queue, still)) in [(2, 0, 3), (3, 1, 3), (3, 2, 2), (3, 2, 1)]
        .into_iter()
        .enumerate()
    {
        let run = status(&dir, &sandbox);
        assert_eq!(run.code, 1, "{run:?}");
        assert_eq!(count(&["queued"]), pending, "round {round}: {run:?}");
        assert_eq!(
            count(&["sent", "delivered", "read"]),
            left_queue,
            "round {round}: {run:?}"
        );
        assert!(
            run.stderr
                .contains(&format!("{still} cards left the queue")),
            "round {round}: {run:?}"
        );
    }
    let ledger = dir.read("out.csv.ledger");
    let asked = |row: u64| {
        ledger
            .lines()
            .filter(|l| l.contains(r#""event":"lookedup""#))
            .filter(|l| {
                l.contains(&format!(r#""row":{row}}}"#)) || l.contains(&format!(r#""row":{row},"#))
            })
            .count()
    };
    assert_eq!(
        (2..=6).map(asked).collect::<Vec<_>>(),
        [2, 2, 2, 1, 1],
        "{ledger}"
    );
    // The ledger's lookup lines are no reason to send anything again.
    let run = dir.send(
        &sandbox,
        &send_args("in.csv", "out.csv", &["--resume", "--concurrency", "1"]),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(sandbox.outgoing().len(), 5, "{run:?}");
}

#[test]
fn status_watch_ends_when_every_card_is_final() {
    let dir = Workdir::new();
    let sandbox = sandbox(Faults {
        delay: Duration::from_secs(2),
        no_account: 1.0,
        ..Faults::default()
    });
    dir.write("in.csv", contacts_csv(3));
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    let run = dir.status(&sandbox, &["out.csv", "--watch", "5"]);
    // noAccount is final, but not delivered.
    assert_eq!(run.code, 1, "{run:?}");
    let rounds: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("sent cards:"))
        .collect();
    assert_eq!(rounds.len(), 2, "{run:?}");
    assert!(rounds[1].contains("3 noAccount"), "{rounds:?}");
    let rows = read_records(&dir.path("out.csv"));
    assert!(
        rows.iter().all(|r| r["delivery"] == "noAccount"),
        "{rows:?}"
    );
    assert_eq!(sandbox.over_limit_calls(), Vec::<String>::new());
}

#[test]
fn status_finds_lost_answers_and_exits_0_when_everything_is_delivered() {
    let dir = Workdir::new();
    let sandbox = sandbox(Faults {
        drop_after_accept: 0.5,
        delay: Duration::from_millis(100),
        seed: 3,
        ..Faults::default()
    });
    dir.write("in.csv", contacts_csv(6));
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 1, "{run:?}");
    let ids = accepted_ids(&sandbox);
    wait_until(
        Duration::from_secs(10),
        "every card to be delivered",
        || {
            ids.iter()
                .all(|id| matches!(sandbox.status_of(id).as_deref(), Some("delivered" | "read")))
        },
    );
    let run = dir.status(&sandbox, &["out.csv"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("found in GREEN-API's queue or journal"),
        "{run:?}"
    );
    let rows = read_records(&dir.path("out.csv"));
    for row in &rows {
        assert_eq!(row["status"], "sent", "{row:?}");
        assert!(ids.contains(&row["idMessage"]), "{row:?}");
    }
    assert_eq!(sandbox.outgoing().len(), 6);
}

#[test]
fn status_needs_a_send_run_to_look_at() {
    let dir = Workdir::new();
    let sandbox = sandbox(Faults::default());
    let run = dir.status(&sandbox, &["nothing.csv"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no send run to look at"), "{run:?}");
    assert!(!run.stderr.contains("--resume"), "{run:?}");
}

/// A results file whose ledger was lost: `status` says how to get it back (a between-runs
/// audit: it said only that there was no send run here), and doing so sends nothing again.
#[test]
fn status_on_a_results_file_without_its_ledger_says_how_to_rebuild_it() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(3));
    let sandbox = sandbox(Faults::default());
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    std::fs::remove_file(dir.path("out.csv.ledger")).unwrap();
    let run = dir.status(&sandbox, &["out.csv"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("`greenbulk send INPUT --results out.csv --resume`"),
        "{run:?}"
    );
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &["--resume"]));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(sandbox.outgoing().len(), 3, "{run:?}");
    let run = dir.status(&sandbox, &["out.csv"]);
    assert!(run.code == 0 || run.code == 1, "{run:?}");
}

#[test]
fn one_card_named_by_two_rows_goes_once_even_when_its_answer_is_lost() {
    let dir = Workdir::new();
    // Ann and Anna: one chat, one phone — one card to WhatsApp, whatever the names say.
    dir.write(
        "in.csv",
        "chatId,phoneContact,firstName\n79001234567,79011234567,Ann\n79001234567,79011234567,Anna\n",
    );
    let sandbox = sandbox(Faults {
        drop_after_accept: 1.0,
        ..Faults::default()
    });
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(sandbox.outgoing().len(), 1, "one card, sent once");
    let rows = read_records(&dir.path("out.csv"));
    assert_eq!(rows[0]["status"], "unknown", "{rows:?}");
    assert_eq!(rows[1]["status"], "unknown", "{rows:?}");
    assert!(
        rows[1]["error"].contains("from row 2") && rows[1]["error"].contains("'Ann' → 'Anna'"),
        "{rows:?}"
    );
    // One request, made for row 2: row 3 made none.
    assert_eq!((&*rows[0]["attempts"], &*rows[1]["attempts"]), ("1", "0"));
    wait_until(
        Duration::from_secs(10),
        "the card to leave the queue",
        || sandbox.queue_len() == 0,
    );
    age_attempts(&dir, "out.csv.ledger", &[2, 3], 10);
    sandbox.set_faults(Faults::default());
    let args = send_args("in.csv", "out.csv", &["--resume", "--retry-unknown"]);
    let run = dir.send(&sandbox, &args);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("1 found in GREEN-API's queue or journal"),
        "{run:?}"
    );
    assert_eq!(sandbox.outgoing().len(), 1, "nothing was sent again");
    let rows = read_records(&dir.path("out.csv"));
    assert!(rows.iter().all(|r| r["status"] == "sent"), "{rows:?}");
    assert_eq!(rows[0]["idMessage"], rows[1]["idMessage"], "{rows:?}");
    assert_eq!((&*rows[0]["attempts"], &*rows[1]["attempts"]), ("1", "0"));
}

#[test]
fn a_queue_whose_head_is_hidden_is_not_proof_of_absence() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(2));
    // The first card leaves at once; the second waits in the queue, and the queue view
    // hides it (a known GREEN-API bug).
    let sandbox = sandbox(Faults {
        drop_after_accept: 1.0,
        delay: Duration::from_secs(600),
        hide_queue_head: true,
        ..Faults::default()
    });
    let run = dir.send(
        &sandbox,
        &send_args("in.csv", "out.csv", &["--concurrency", "1"]),
    );
    assert_eq!(run.code, 1, "{run:?}");
    age_attempts(&dir, "out.csv.ledger", &[2, 3], 10);
    let mut faults = Faults {
        delay: Duration::from_secs(600),
        hide_queue_head: true,
        ..Faults::default()
    };
    faults.seed = 2;
    sandbox.set_faults(faults);
    let args = send_args("in.csv", "out.csv", &["--resume", "--retry-unknown"]);
    let run = dir.send(&sandbox, &args);
    assert!(run.stderr.contains("1 found"), "{run:?}");
    assert!(run.stderr.contains("cannot be ruled out"), "{run:?}");
    assert_eq!(
        sandbox.outgoing().len(),
        2,
        "the queued one was not sent again"
    );

    // The same, when `getMessagesCount` answers a page that is not a count: the view alone,
    // which hides the head, proves nothing either.
    let mut faults = Faults {
        delay: Duration::from_secs(600),
        hide_queue_head: true,
        garbage_counts: 10,
        ..Faults::default()
    };
    faults.seed = 3;
    sandbox.set_faults(faults);
    let run = dir.send(&sandbox, &args);
    assert!(run.stderr.contains("cannot be ruled out"), "{run:?}");
    assert_eq!(
        sandbox.outgoing().len(),
        2,
        "the queued one was not sent again: {run:?}"
    );
}

#[test]
fn status_after_a_crash_rewrites_the_rows_the_ledger_knows_and_exits_1_with_nothing_sent() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(40));
    let sandbox = sandbox(Faults {
        delay: Duration::from_millis(100),
        ..Faults::default()
    });
    let mut child = dir.spawn_send(
        &sandbox,
        &send_args("in.csv", "out.csv", &["--rate", "10/s"]),
    );
    wait_until(Duration::from_secs(20), "some to be accepted", || {
        sandbox.outgoing().len() >= 6
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let run = dir.status(&sandbox, &["out.csv"]);
    assert!(run.code == 0 || run.code == 1, "{run:?}");
    let ids = accepted_ids(&sandbox);
    let rows = read_records(&dir.path("out.csv"));
    let sent: Vec<&HashMap<String, String>> =
        rows.iter().filter(|r| r["status"] == "sent").collect();
    assert!(
        sent.len() >= 5,
        "the results show what the ledger knows: {rows:?}"
    );
    for row in sent {
        assert!(ids.contains(&row["idMessage"]), "{row:?}");
        assert!(!row["delivery"].is_empty(), "{row:?}");
    }

    // A run stopped by the quota before anything was accepted: nothing delivered, exit 1.
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(2));
    let refusing = crate::util::sandbox(Faults {
        quota: Some(0),
        ..Faults::default()
    });
    let run = dir.send(&refusing, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 4, "{run:?}");
    let run = dir.status(&refusing, &["out.csv"]);
    assert_eq!(run.code, 1, "{run:?}");
}

#[test]
fn the_plan_of_an_instance_that_is_not_authorized_says_nothing_leaves_yet() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(2));
    let sandbox = sandbox(Faults {
        state: InstanceState::NotAuthorized,
        ..Faults::default()
    });
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("once the instance is authorized: it is 'notAuthorized' now"),
        "{run:?}"
    );
    assert!(!run.stderr.contains("should leave it about"), "{run:?}");
    let run = dir.status(&sandbox, &["out.csv"]);
    assert!(
        run.stderr
            .contains("nothing leaves while the instance is 'notAuthorized'"),
        "{run:?}"
    );
}

#[test]
fn status_watch_lets_a_send_run_between_rounds() {
    let dir = Workdir::new();
    let sandbox = sandbox(Faults {
        delay: Duration::from_secs(30),
        ..Faults::default()
    });
    dir.write("in.csv", contacts_csv(2));
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    let mut watching = dir
        .api_command(&sandbox, &["status", "out.csv", "--watch", "5"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let resume = send_args("in.csv", "out.csv", &["--resume"]);
    let mut resumed = None;
    wait_until(
        Duration::from_secs(30),
        "a resume between two rounds",
        || {
            let run = dir.send(&sandbox, &resume);
            let busy = run.stderr.contains("another greenbulk run");
            if !busy {
                resumed = Some(run);
            }
            !busy
        },
    );
    let _ = watching.kill();
    let _ = watching.wait();
    let run = resumed.unwrap();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("nothing left to send"), "{run:?}");
}

#[test]
fn status_watch_rides_out_rounds_without_an_answer_and_ends_at_delivered() {
    let dir = Workdir::new();
    // Nobody reads: by default the watch ends once every card is delivered.
    let sandbox = sandbox(Faults {
        reads: 0.0,
        ..Faults::default()
    });
    dir.write("in.csv", contacts_csv(2));
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    // A proxy in front of GREEN-API answers its maintenance page for a while.
    sandbox.set_faults(Faults {
        reads: 0.0,
        garbage_calls: 2,
        ..Faults::default()
    });
    let run = dir.status(&sandbox, &["out.csv", "--watch", "5"]);
    assert_eq!(run.code, 0, "{run:?}");
    let unanswered = run.stderr.matches("this round got no answer").count();
    assert_eq!(unanswered, 2, "{run:?}");
    assert!(
        run.stderr.contains("1 of 10 unanswered rounds in a row"),
        "{run:?}"
    );
    let last_round = run
        .stderr
        .lines()
        .rfind(|l| l.contains("sent cards:"))
        .unwrap();
    assert!(last_round.contains("2 delivered"), "{run:?}");
    let rows = read_records(&dir.path("out.csv"));
    assert!(
        rows.iter().all(|r| r["delivery"] == "delivered"),
        "{rows:?}"
    );
}

#[test]
fn status_watch_until_read_waits_for_every_card_to_be_read() {
    let dir = Workdir::new();
    let sandbox = sandbox(Faults {
        reads: 1.0,
        ..Faults::default()
    });
    dir.write("in.csv", contacts_csv(1));
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    let run = dir.status(&sandbox, &["out.csv", "--watch", "5", "--until", "read"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("1 sent card: 1 read"), "{run:?}");
    assert!(
        run.stderr.contains("(1 call)") || run.stderr.contains("calls)"),
        "{run:?}"
    );
    assert!(
        !run.stderr.contains("1 calls") && !run.stderr.contains("1 cards"),
        "{run:?}"
    );
    let rows = read_records(&dir.path("out.csv"));
    assert_eq!(rows[0]["delivery"], "read", "{rows:?}");
}

#[test]
fn status_or_send_on_files_another_run_holds_exits_1_and_says_so() {
    let dir = Workdir::new();
    let sandbox = sandbox(Faults::default());
    dir.write("in.csv", contacts_csv(2));
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    let held = std::fs::File::open(dir.path("out.csv.ledger")).unwrap();
    held.lock().unwrap();
    let run = dir.status(&sandbox, &["out.csv"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("another greenbulk run is using"),
        "{run:?}"
    );
    assert!(run.stderr.contains("--watch"), "{run:?}");
    // A send on the same files then exits 1 too, sending nothing, with the command to run
    // again (a cron job's `send` meeting a `status` round).
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &["--resume"]));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("nothing was sent. Run `"), "{run:?}");
    assert_eq!(sandbox.outgoing().len(), 2);
    held.unlock().unwrap();
    let run = dir.status(&sandbox, &["out.csv"]);
    assert_ne!(run.code, 2, "{run:?}");
}

#[test]
fn status_on_a_results_file_cut_short_says_the_ledger_knows_more() {
    let dir = Workdir::new();
    let sandbox = sandbox(Faults::default());
    dir.write("in.csv", contacts_csv(5));
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    let results = dir.read("out.csv");
    let cut: Vec<&str> = results.lines().take(3).collect();
    dir.write("out.csv", cut.join("\n") + "\n");
    let run = dir.status(&sandbox, &["out.csv"]);
    assert!(
        run.stderr
            .contains("the ledger records 3 cards that have no line"),
        "{run:?}"
    );
    assert!(run.stderr.contains("--resume"), "{run:?}");
}

/// A results file opened in Excel and saved again, its phones now `7.9E+10`: each line is
/// still its card's, by its idMessage. It gets its delivery, and no warning says the ledger's
/// cards have no line (a hostile audit's finding: the warning counted every such line).
#[test]
fn status_on_a_results_file_whose_phones_excel_rounded_finds_each_card_by_its_id() {
    let dir = Workdir::new();
    let sandbox = sandbox(Faults::default());
    dir.write("in.csv", contacts_csv(3));
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    let mut reader = csv::Reader::from_path(dir.path("out.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    let phone = header.iter().position(|h| h == "phoneContact").unwrap();
    let mut writer = csv::Writer::from_path(dir.path("saved.csv")).unwrap();
    writer.write_record(&header).unwrap();
    for record in reader.records() {
        let mut fields: Vec<String> = record.unwrap().iter().map(str::to_string).collect();
        fields[phone] = format!("{:.4E}", fields[phone].parse::<f64>().unwrap());
        writer.write_record(&fields).unwrap();
    }
    writer.flush().unwrap();
    std::fs::rename(dir.path("saved.csv"), dir.path("out.csv")).unwrap();
    assert!(
        dir.read("out.csv").contains("E10"),
        "{}",
        dir.read("out.csv")
    );

    let run = dir.status(&sandbox, &["out.csv"]);
    assert!(!run.stderr.contains("no line"), "{run:?}");
    let rows = read_records(&dir.path("out.csv"));
    assert!(
        rows.iter()
            .all(|r| r["status"] == "sent" && !r["delivery"].is_empty()),
        "{rows:?}"
    );
}

#[test]
fn a_correction_that_failed_leaves_its_row_sent_in_status_as_in_send() {
    let dir = Workdir::new();
    let sandbox = sandbox(Faults::default());
    dir.write("in.csv", contacts_csv(3));
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    let sent = read_records(&dir.path("out.csv"));
    // Row 3's names corrected, and the corrected card refused for good.
    dir.write("in.csv", contacts_csv(3).replace("Name1,", "Renamed1,"));
    sandbox.set_faults(Faults {
        fail_5xx: 1.0,
        ..Faults::default()
    });
    let args = send_args("in.csv", "out.csv", &["--resume", "--resend-changed"]);
    let run = dir.send(&sandbox, &args);
    assert!(run.stderr.contains("failed 1"), "{run:?}");
    sandbox.set_faults(Faults::default());
    let after_send = read_records(&dir.path("out.csv"));
    let run = dir.status(&sandbox, &["out.csv"]);
    let after_status = read_records(&dir.path("out.csv"));
    for rows in [&after_send, &after_status] {
        assert_eq!(rows[1]["status"], "sent", "{run:?}");
        assert_eq!(rows[1]["idMessage"], sent[1]["idMessage"]);
    }
    assert_eq!(sandbox.outgoing().len(), 3, "nothing sent twice");
}

#[test]
fn a_message_lookup_answered_with_something_else_is_an_error_not_a_card_gone() {
    // getMessage answers 200 `{}` to the first round's lookup: that says nothing of the
    // card (it is not "still queued", nor "expired" when old).
    let (dir, sandbox, status) = sent_past_the_journal(Faults {
        odd_messages: 1,
        ..Faults::default()
    });
    let run = status(&dir, &sandbox);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("unexpected body"), "{run:?}");
    let rows = read_records(&dir.path("out.csv"));
    assert!(rows.iter().all(|r| r["delivery"].is_empty()), "{rows:?}");
    // The next round asks again and learns what became of them.
    let run = status(&dir, &sandbox);
    let rows = read_records(&dir.path("out.csv"));
    let told = rows.iter().filter(|r| !r["delivery"].is_empty()).count();
    assert_eq!(told, 2, "{run:?}");
    assert!(
        rows.iter()
            .all(|r| r["delivery"] != "queued" && r["delivery"] != "expired"),
        "{rows:?}"
    );
}

#[test]
fn a_message_in_a_state_without_a_known_name_is_not_called_expired() {
    // getMessage finds the cards, but without a statusMessage: GREEN-API has them, so they
    // were not dropped, however old (a queue kept for 0 s here makes every card "old").
    let (dir, sandbox, _) = sent_past_the_journal(Faults {
        statusless_messages: 100,
        ..Faults::default()
    });
    let status = || {
        Run::from_output(
            dir.api_command(&sandbox, &["status", "out.csv"])
                .env("GREENBULK_QUEUE_TTL_SECONDS", "0")
                .output()
                .unwrap(),
        )
    };
    let run = status();
    let rows = read_records(&dir.path("out.csv"));
    assert!(
        rows.iter().all(|r| r["delivery"] == "queued"),
        "{run:?} {rows:?}"
    );
    // Once the states come with their names, the cards move on.
    sandbox.set_faults(Faults {
        delay: Duration::from_millis(1),
        journal_lag: Duration::from_secs(3600),
        ..Faults::default()
    });
    let run = status();
    let rows = read_records(&dir.path("out.csv"));
    for row in &rows {
        let truth = sandbox.status_of(&row["idMessage"]).unwrap();
        assert_eq!(row["delivery"], truth, "{run:?}");
    }
}

#[test]
fn a_message_the_journal_lists_twice_is_as_far_along_as_its_furthest_entry() {
    let dir = Workdir::new();
    let sandbox = sandbox(Faults {
        delay: Duration::from_millis(1),
        reads: 1.0,
        ..Faults::default()
    });
    dir.write("in.csv", contacts_csv(2));
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    let ids = accepted_ids(&sandbox);
    wait_until(Duration::from_secs(20), "both to be read", || {
        ids.iter()
            .all(|id| sandbox.status_of(id).as_deref() == Some("read"))
    });
    // The journal lists each message again after its newest entry, as it stood when it left.
    sandbox.set_faults(Faults {
        delay: Duration::from_millis(1),
        reads: 1.0,
        journal_twice: true,
        ..Faults::default()
    });
    let run = dir.status(&sandbox, &["out.csv"]);
    assert_eq!(run.code, 0, "{run:?}");
    let rows = read_records(&dir.path("out.csv"));
    assert!(rows.iter().all(|r| r["delivery"] == "read"), "{rows:?}");
}

#[test]
fn the_results_are_rewritten_even_when_the_queue_summary_cannot_be_read() {
    let (dir, sandbox) = two_still_queued();
    // The queue's delay, asked only for the summary, cannot be read this time.
    sandbox.set_faults(Faults {
        delay: Duration::from_secs(30),
        garbage_settings: true,
        ..Faults::default()
    });
    let run = dir.status(&sandbox, &["out.csv"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("getSettings"), "{run:?}");
    let rows = read_records(&dir.path("out.csv"));
    let delivery: Vec<&str> = rows.iter().map(|r| r["delivery"].as_str()).collect();
    assert_eq!(
        delivery[1..],
        ["queued", "queued"],
        "what the ledger learned is in the file"
    );
}

#[test]
fn status_takes_back_only_cards_the_ledger_lost_and_says_so() {
    let dir = Workdir::new();
    let sandbox = sandbox(Faults::default());
    dir.write("in.csv", contacts_csv(3));
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    // A line's chat edited by hand: its idMessage is another card's, so it records no card
    // of its own, and the chat it now names never got one.
    let edited = dir
        .read("out.csv")
        .replacen("79161000001@c.us", "79169999999@c.us", 1);
    dir.write("out.csv", &edited);
    let run = dir.status(&sandbox, &["out.csv"]);
    assert!(!run.stderr.contains("taken back"), "{run:?}");
    assert!(
        !dir.read("out.csv.ledger").contains("restored"),
        "nothing taken back"
    );
    // The ledger emptied: its cards are taken back from the results file, and status says so.
    // What an earlier status learned stays in the file (found by a hostile audit: the
    // delivery columns were blanked, and the file was their only copy).
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &["--resume"]));
    assert_eq!(run.code, 0, "{run:?}");
    dir.status(&sandbox, &["out.csv"]);
    let learned: Vec<(String, String)> = read_records(&dir.path("out.csv"))
        .into_iter()
        .map(|r| (r["delivery"].clone(), r["deliveryAt"].clone()))
        .collect();
    assert!(learned.iter().all(|(d, _)| !d.is_empty()), "{learned:?}");
    dir.write("out.csv.ledger", "");
    let run = dir.status(&sandbox, &["out.csv"]);
    assert!(
        run.stderr
            .contains("records 3 rows as sent or unknown that the ledger did not know"),
        "{run:?}"
    );
    assert_eq!(sandbox.outgoing().len(), 3, "nothing sent twice");
    // Each card is where it was or further on (status follows the cards it took back).
    let step = |state: &str| {
        ["queued", "sent", "delivered", "read"]
            .iter()
            .position(|s| *s == state)
    };
    let kept = read_records(&dir.path("out.csv"));
    for (row, (before, at)) in kept.iter().zip(&learned) {
        let (now, before) = (step(&row["delivery"]), step(before));
        assert!(
            now.is_some() && now >= before,
            "{row:?} {learned:?} {run:?}"
        );
        if now == before {
            assert_eq!(&row["deliveryAt"], at, "{row:?} {learned:?}");
        }
    }
}

/// Rows taken back from the results file (their ledger was lost) are followed by `status` as
/// any sent card is: counted, looked at, their delivery brought forward, and what was learned
/// kept in the ledger (found by a hostile audit: status said "0 cards accepted" of them and
/// left them `queued` for good).
#[test]
fn rows_taken_back_from_the_results_file_are_followed_by_status() {
    let dir = Workdir::new();
    // Every chat reads what it gets; two cards wait in the queue.
    let sandbox = sandbox(Faults {
        delay: Duration::from_secs(30),
        reads: 1.0,
        ..Faults::default()
    });
    dir.write("in.csv", contacts_csv(3));
    let args = send_args("in.csv", "out.csv", &["--concurrency", "1"]);
    let run = dir.send(&sandbox, &args);
    assert_eq!(run.code, 0, "{run:?}");
    let run = dir.status(&sandbox, &["out.csv"]);
    assert_eq!(run.code, 1, "two still queued: {run:?}");
    std::fs::remove_file(dir.path("out.csv.ledger")).unwrap();
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &["--resume"]));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        dir.read("out.csv.ledger").matches("\"restored\"").count(),
        3
    );
    let rows = read_records(&dir.path("out.csv"));
    let delivery: Vec<&str> = rows.iter().map(|r| r["delivery"].as_str()).collect();
    assert_eq!(delivery[1..], ["queued", "queued"], "{rows:?}");

    // The queue drains, and every card is read.
    sandbox.set_faults(Faults {
        delay: Duration::from_millis(1),
        reads: 1.0,
        ..Faults::default()
    });
    let ids = accepted_ids(&sandbox);
    wait_until(Duration::from_secs(20), "every card to be read", || {
        ids.iter()
            .all(|id| sandbox.status_of(id).as_deref() == Some("read"))
    });
    let run = dir.status(&sandbox, &["out.csv"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("3 cards accepted by GREEN-API"),
        "{run:?}"
    );
    let rows = read_records(&dir.path("out.csv"));
    assert!(rows.iter().all(|r| r["delivery"] == "read"), "{rows:?}");
    assert_eq!(sandbox.outgoing().len(), 3, "nothing sent twice");
    // What was learned is in the ledger: the next status has nothing left to ask.
    let run = dir.status(&sandbox, &["out.csv"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("(0 calls)"), "{run:?}");
    assert!(run.stderr.contains("read                  3"), "{run:?}");
}

/// A results line edited by hand to `sent` over a card the ledger knows did not go (refused
/// by the plan's quota): the ledger wins. Nothing is taken back, `status` puts the line back
/// as it was, and `--resume` sends the card (found by a hostile audit: the edit made it an
/// "already sent" for good).
#[test]
fn a_line_edited_to_sent_over_a_card_that_did_not_go_is_not_taken_back() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(2));
    // The plan's quota refuses the first card, and the run stops.
    let sandbox = sandbox(Faults {
        quota: Some(0),
        ..Faults::default()
    });
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 4, "{run:?}");
    let rows = read_records(&dir.path("out.csv"));
    assert_eq!(rows[0]["status"], "pending", "{rows:?}");
    assert_eq!(rows[0]["attempts"], "1", "{rows:?}");
    let edited = dir
        .read("out.csv")
        .replacen(",pending,,", ",sent,FAKEID1,", 1);
    assert!(edited.contains("FAKEID1"), "{edited}");
    dir.write("out.csv", &edited);

    sandbox.set_faults(Faults::default());
    let run = dir.status(&sandbox, &["out.csv"]);
    assert!(!run.stderr.contains("did not know"), "{run:?}");
    assert!(
        !dir.read("out.csv.ledger").contains("restored"),
        "nothing taken back"
    );
    let rows = read_records(&dir.path("out.csv"));
    assert_eq!(rows[0]["status"], "pending", "{rows:?}");
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &["--resume"]));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(sandbox.outgoing().len(), 2, "both cards went: {run:?}");
    let rows = read_records(&dir.path("out.csv"));
    assert!(rows.iter().all(|r| r["status"] == "sent"), "{rows:?}");
    assert!(rows.iter().all(|r| r["idMessage"] != "FAKEID1"), "{rows:?}");
}

#[test]
fn status_says_when_it_cut_a_torn_last_line_off_the_ledger() {
    let dir = Workdir::new();
    let sandbox = sandbox(Faults::default());
    dir.write("in.csv", contacts_csv(2));
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    // A crash mid-write: half a line at the end.
    let mut ledger = dir.read("out.csv.ledger");
    ledger.push_str("{\"event\":\"delivery\",\"key\":\"00");
    dir.write("out.csv.ledger", &ledger);
    let run = dir.status(&sandbox, &["out.csv"]);
    assert!(
        run.stderr
            .contains("out.csv.ledger was cut off by a crash or a full disk"),
        "{run:?}"
    );
    assert!(!dir.read("out.csv.ledger").contains("\"key\":\"00\n"));
}

/// Copies a work dir's results file, ledger and state directory into another.
fn copy_run(from: &Workdir, to: &Workdir) {
    fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_tree(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    for name in ["out.csv", "out.csv.ledger"] {
        std::fs::copy(from.path(name), to.path(name)).unwrap();
    }
    copy_tree(&from.path("state"), &to.path("state"));
}

#[test]
fn status_on_a_history_in_parts_finds_what_it_finds_on_it_whole() {
    // A big history is worked on in parts (about 100,000 cards each); here a small one is
    // cut in four, and everything status writes must be as when it is whole: lost answers
    // found, delivery states, a card named by two rows, a line whose chat was edited by hand
    // (its idMessage another card's, likely in another part), and lines taken back when the
    // ledger is emptied.
    let whole = Workdir::new();
    let sandbox = sandbox(Faults {
        drop_after_accept: 0.3,
        no_account: 0.1,
        // No chat reads its card: a state that moves on between the two looks would differ.
        reads: 0.0,
        delay: Duration::from_millis(1),
        seed: 11,
        ..Faults::default()
    });
    let mut input = contacts_csv(24);
    input.push_str("79161000003,79032000003,Other,Names,Same card\n");
    input.push_str("not a number,79032000099,Bad,Row,\n");
    whole.write("in.csv", &input);
    let run = whole.send(
        &sandbox,
        &send_args("in.csv", "out.csv", &["--skip-invalid"]),
    );
    assert_eq!(run.code, 1, "some answers are lost: {run:?}");
    let ids = accepted_ids(&sandbox);
    wait_until(Duration::from_secs(10), "every card to leave", || {
        ids.iter().all(|id| {
            matches!(
                sandbox.status_of(id).as_deref(),
                Some("delivered" | "noAccount")
            )
        })
    });
    let edited = whole
        .read("out.csv")
        .replacen("79161000001@c.us", "79169999999@c.us", 1);
    whole.write("out.csv", &edited);
    let parts = Workdir::new();
    copy_run(&whole, &parts);
    let status = |dir: &Workdir, parts: &str| {
        Run::from_output(
            dir.api_command(&sandbox, &["status", "out.csv"])
                .env("GREENBULK_HISTORY_PARTS", parts)
                .output()
                .unwrap(),
        )
    };
    // What the results file says, but when each state was seen.
    let lines = |dir: &Workdir| {
        let mut rows = read_records(&dir.path("out.csv"));
        for row in &mut rows {
            row.remove("deliveryAt");
        }
        rows
    };
    let events = |dir: &Workdir, event: &str| {
        dir.read("out.csv.ledger")
            .matches(&format!("\"event\":\"{event}\""))
            .count()
    };
    let (a, b) = (status(&whole, "1"), status(&parts, "4"));
    assert_eq!(a.code, b.code, "{a:?}\n{b:?}");
    assert!(
        a.stderr.contains("found in GREEN-API's queue or journal"),
        "{a:?}"
    );
    assert_eq!(a.stderr, b.stderr);
    assert_eq!(lines(&whole), lines(&parts));
    for event in ["delivery", "recovered", "restored"] {
        assert_eq!(events(&whole, event), events(&parts, event), "{event}");
    }
    assert_eq!(
        events(&parts, "restored"),
        0,
        "the edited line is not taken back"
    );
    // Every card accepted has its state recorded, once.
    let accepted: usize = a
        .stderr
        .split(" cards accepted by GREEN-API")
        .next()
        .and_then(|before| before.rsplit(' ').next())
        .and_then(|count| count.parse().ok())
        .expect("the count of cards accepted");
    assert!(accepted >= 20, "{a:?}");
    assert_eq!(events(&parts, "delivery"), accepted);

    // The ledgers emptied: every card is taken back from the results file, in every part.
    whole.write("out.csv.ledger", "");
    parts.write("out.csv.ledger", "");
    let (a, b) = (status(&whole, "1"), status(&parts, "4"));
    assert_eq!(a.code, b.code, "{a:?}\n{b:?}");
    assert!(
        a.stderr
            .contains("as sent or unknown that the ledger did not know"),
        "{a:?}"
    );
    assert_eq!(a.stderr, b.stderr);
    assert_eq!(lines(&whole), lines(&parts));
    assert_eq!(events(&whole, "restored"), events(&parts, "restored"));
    assert_eq!(sandbox.outgoing().len(), 24, "nothing sent twice");
}
