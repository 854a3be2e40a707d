//! `greenbulk send` against the emulator: what it received, what the results file says.

use std::collections::HashSet;
use std::time::Duration;

use crate::util::{Cell, Faults, Workdir, contacts_csv, read_header, read_records, sandbox};
use greenbulk::sandbox::InstanceState;

const FAST: [&str; 4] = ["--rate", "50/s", "--concurrency", "16"];

fn args<'a>(input: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec![input, "--results", "out.csv"];
    all.extend_from_slice(&FAST);
    all.extend_from_slice(extra);
    all
}

#[test]
fn happy_path_csv_sends_every_row_once_in_order() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(30));
    let sandbox = sandbox(Faults::default());
    let run = dir.send(&sandbox, &args("in.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");

    let outgoing = sandbox.outgoing();
    assert_eq!(outgoing.len(), 30);
    let chats: Vec<&str> = outgoing.iter().map(|m| m.chat_id.as_str()).collect();
    // Requests leave in input order, a group of up to 5 at a time; within a group they may
    // arrive in any order.
    assert!(chats[..5].contains(&"79161000000@c.us"), "{chats:?}");
    let rows = read_records(&dir.path("out.csv"));
    assert_eq!(rows.len(), 30);
    let sent_ids: HashSet<&str> = outgoing.iter().map(|m| m.id_message.as_str()).collect();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["row"], (i + 2).to_string());
        assert_eq!(row["status"], "sent", "{row:?}");
        assert_eq!(row["attempts"], "1");
        assert!(sent_ids.contains(row["idMessage"].as_str()), "{row:?}");
    }
    // The body is exactly the documented shape.
    let first = sandbox
        .received()
        .into_iter()
        .find(|r| r.body.contains("79161000000@c.us"))
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&first.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"chatId": "79161000000@c.us", "contact": {"phoneContact": 79032000000u64,
            "firstName": "Name0", "lastName": "Surname0", "company": "Company 0"}})
    );
}

#[test]
fn results_columns_follow_the_spec_then_the_input() {
    let dir = Workdir::new();
    dir.write(
        "in.csv",
        "Note,chatId,phoneContact,firstName\nvip,+7 916 100-00-00,+7 (903) 200-00-00,Ann\n",
    );
    let sandbox = sandbox(Faults::default());
    let run = dir.send(&sandbox, &args("in.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        read_header(&dir.path("out.csv")),
        [
            "row",
            "status",
            "idMessage",
            "error",
            "attempts",
            "chatId",
            "phoneContact",
            "delivery",
            "deliveryAt",
            "instance",
            "Note",
            "chatId (input)",
            "phoneContact (input)",
            "firstName"
        ]
    );
    let text = dir.read("out.csv");
    let line = text.lines().nth(1).unwrap();
    assert!(
        line.ends_with(
            ",1,79161000000@c.us,79032000000,,,1101000001,vip,+7 916 100-00-00,+7 (903) 200-00-00,Ann"
        ),
        "{line}"
    );
}

#[test]
fn happy_path_xlsx() {
    let dir = Workdir::new();
    let mut rows = vec![vec![
        Cell::Text("Recipient"),
        Cell::Text("Phone"),
        Cell::Text("Name"),
    ]];
    for i in 0..5 {
        rows.push(vec![
            Cell::Number(79161000000.0 + f64::from(i)),
            Cell::Number(79032000000.0 + f64::from(i)),
            Cell::Text("Ann"),
        ]);
    }
    dir.write_xlsx("in.xlsx", &[("Contacts", rows)]);
    let sandbox = sandbox(Faults::default());
    let run = dir.send(&sandbox, &args("in.xlsx", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    let mut phones: Vec<u64> = sandbox.outgoing().iter().map(|m| m.phone_contact).collect();
    // Requests leave in input order but may overtake each other on the way.
    phones.sort_unstable();
    assert_eq!(phones, (0..5).map(|i| 79032000000 + i).collect::<Vec<_>>());
}

#[test]
fn invalid_rows_stop_everything_unless_skipped() {
    let dir = Workdir::new();
    let mut csv = contacts_csv(4);
    csv.push_str("79161999999,1234567,Bad,Row,\n");
    dir.write("in.csv", csv);
    let sandbox = sandbox(Faults::default());

    let run = dir.send(&sandbox, &args("in.csv", &[]));
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("nothing was sent"), "{run:?}");
    assert!(sandbox.received().is_empty());
    assert!(
        !dir.path("out.csv").exists(),
        "no results file when nothing was sent"
    );
    assert!(!dir.path("out.csv.ledger").exists());

    let run = dir.send(&sandbox, &args("in.csv", &["--skip-invalid"]));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(sandbox.outgoing().len(), 4);
    let rows = read_records(&dir.path("out.csv"));
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[4]["status"], "invalid");
    assert!(rows[4]["error"].contains("has 7 digits"), "{:?}", rows[4]);
}

#[test]
fn duplicates_are_sent_once() {
    let dir = Workdir::new();
    dir.write(
        "in.csv",
        "chatId,phoneContact,firstName\n79161000000,79032000000,Ann\n79161000001,79032000001,Bob\n\
         +7 916 100-00-00,+7 903 200-00-00,Ann\n",
    );
    let sandbox = sandbox(Faults::default());
    let run = dir.send(&sandbox, &args("in.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(sandbox.outgoing().len(), 2);
    let rows = read_records(&dir.path("out.csv"));
    assert_eq!(rows[2]["status"], "duplicate");
    assert!(rows[2]["error"].contains("duplicate of row 2"));
}

#[test]
fn retryable_faults_end_sent_exactly_once_or_failed_never_twice() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(40));
    let sandbox = sandbox(Faults {
        fail_429: 0.15,
        fail_5xx: 0.15,
        seed: 3,
        ..Faults::default()
    });
    let run = dir.send(&sandbox, &args("in.csv", &[]));
    assert!(run.code == 0 || run.code == 1, "{run:?}");
    crate::util::assert_no_double_delivery(&sandbox);
    let accepted: HashSet<String> = sandbox
        .outgoing()
        .iter()
        .map(|m| m.id_message.clone())
        .collect();
    let rows = read_records(&dir.path("out.csv"));
    let mut retried = 0;
    for row in &rows {
        match row["status"].as_str() {
            "sent" => assert!(accepted.contains(&row["idMessage"]), "{row:?}"),
            "failed" => assert!(
                row["error"].starts_with("gave up after 5 attempts"),
                "{row:?}"
            ),
            other => panic!("unexpected status {other}: {row:?}"),
        }
        retried += usize::from(row["attempts"] != "1");
    }
    let sent = rows.iter().filter(|r| r["status"] == "sent").count();
    assert_eq!(sent, accepted.len(), "every accepted message is a sent row");
    assert!(retried > 0, "the faults made some rows retry");
    assert!(
        sandbox
            .received()
            .iter()
            .any(|r| r.status == 502 || r.status == 500)
    );
}

#[test]
fn dropped_connections_become_unknown_then_resume_finds_them_sent_and_never_resends() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(30));
    let sandbox = sandbox(Faults {
        drop_after_accept: 0.3,
        seed: 5,
        ..Faults::default()
    });
    let run = dir.send(&sandbox, &args("in.csv", &[]));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("unknown"), "{run:?}");
    let rows = read_records(&dir.path("out.csv"));
    let outgoing = sandbox.outgoing();
    assert_eq!(outgoing.len(), 30, "each row went out exactly once");
    let dropped: HashSet<&str> = outgoing
        .iter()
        .filter(|m| m.dropped)
        .map(|m| m.id_message.as_str())
        .collect();
    let unknown = rows.iter().filter(|r| r["status"] == "unknown").count();
    assert!(!dropped.is_empty());
    assert_eq!(unknown, dropped.len());

    // --resume looks them up first: found in the queue or the journal, they are sent, with
    // the emulator's own idMessage; --retry-unknown has nothing left to resend.
    sandbox.set_faults(Faults::default());
    let run = dir.send(&sandbox, &args("in.csv", &["--resume", "--retry-unknown"]));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "{} found in GREEN-API's queue or journal",
            dropped.len()
        )),
        "{run:?}"
    );
    assert_eq!(sandbox.outgoing().len(), 30, "nothing was sent twice");
    let rows = read_records(&dir.path("out.csv"));
    assert!(rows.iter().all(|r| r["status"] == "sent"), "{rows:?}");
    let recovered: HashSet<&str> = rows
        .iter()
        .filter(|r| dropped.contains(r["idMessage"].as_str()))
        .map(|r| r["idMessage"].as_str())
        .collect();
    assert_eq!(recovered, dropped);
    crate::util::assert_no_double_delivery(&sandbox);
}

#[test]
fn a_slow_server_past_the_timeout_gives_unknown_not_a_resend() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(3));
    let sandbox = sandbox(Faults::default());
    sandbox.set_faults(Faults {
        latency: Duration::from_secs(3),
        ..Faults::default()
    });
    let run = dir.send(&sandbox, &args("in.csv", &["--timeout", "1"]));
    let status = run.code;
    let rows = read_records(&dir.path("out.csv"));
    let statuses: Vec<&str> = rows.iter().map(|r| r["status"].as_str()).collect();
    assert_eq!(status, 1, "{run:?}");
    assert_eq!(statuses, ["unknown"; 3]);
    assert_eq!(sandbox.received().len(), 3);
    assert!(
        rows.iter()
            .filter(|r| r["status"] == "unknown")
            .all(|r| r["error"].contains("timeout"))
    );
}

#[test]
fn bad_token_or_instance_stop_with_exit_4_before_sending() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(3));
    let sandbox = sandbox(Faults::default());
    for (flag, value, says) in [
        ("--api-token-instance", "0bad0bad0bad", "401"),
        ("--id-instance", "999", "403"),
    ] {
        let run = dir.send(&sandbox, &args("in.csv", &[flag, value]));
        assert_eq!(run.code, 4, "{run:?}");
        assert!(run.stderr.contains(says), "{run:?}");
        assert!(!run.stderr.contains("0bad0bad0bad"), "{run:?}");
        // Nothing was sent, so nothing is left to refuse the corrected command.
        assert!(!dir.path("out.csv").exists());
        assert!(!dir.path("out.csv.ledger").exists());
    }
    assert!(sandbox.received().is_empty());
}

#[test]
fn quota_466_stops_the_run_and_resume_finishes_it() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(6));
    let sandbox = sandbox(Faults {
        quota: Some(2),
        ..Faults::default()
    });
    let run = dir.send(&sandbox, &args("in.csv", &["--concurrency", "1"]));
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.contains("quota"), "{run:?}");
    assert!(run.stderr.contains("--resume"), "{run:?}");
    let rows = read_records(&dir.path("out.csv"));
    let statuses: Vec<&str> = rows.iter().map(|r| r["status"].as_str()).collect();
    assert_eq!(
        statuses,
        ["sent", "sent", "pending", "pending", "pending", "pending"]
    );

    sandbox.set_faults(Faults::default());
    let run = dir.send(&sandbox, &args("in.csv", &["--resume"]));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(sandbox.outgoing().len(), 6);
    crate::util::assert_no_double_delivery(&sandbox);
    let rows = read_records(&dir.path("out.csv"));
    assert!(rows.iter().all(|r| r["status"] == "sent"));
}

#[test]
fn rejected_rows_fail_with_the_servers_message_and_resume_retries_them() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(3));
    let sandbox = sandbox(Faults {
        state: InstanceState::Starting,
        starting_for: Duration::from_secs(600),
        ..Faults::default()
    });
    let run = dir.send(&sandbox, &args("in.csv", &[]));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("'starting'"), "{run:?}");
    let rows = read_records(&dir.path("out.csv"));
    for row in &rows {
        assert_eq!(row["status"], "failed");
        assert_eq!(row["attempts"], "5");
        assert!(
            row["error"].contains("instance in starting process"),
            "{row:?}"
        );
    }
    sandbox.set_faults(Faults::default());
    let run = dir.send(&sandbox, &args("in.csv", &["--resume"]));
    assert_eq!(run.code, 0, "{run:?}");
    let rows = read_records(&dir.path("out.csv"));
    assert!(
        rows.iter()
            .all(|r| r["status"] == "sent" && r["attempts"] == "6")
    );
}

#[test]
fn existing_results_are_never_overwritten() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(2));
    dir.write("out.csv", "precious\n");
    let sandbox = sandbox(Faults::default());
    // A file greenbulk did not write: left as it is, and no --resume offered (it would
    // not help).
    let run = dir.send(&sandbox, &args("in.csv", &[]));
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("not a results file"), "{run:?}");
    assert!(!run.stderr.contains("--resume"), "{run:?}");
    assert_eq!(dir.read("out.csv"), "precious\n");
    // An earlier run's results: never overwritten; --resume continues them.
    let mut done = vec!["in.csv", "--results", "done.csv"];
    done.extend_from_slice(&FAST);
    let other = self::sandbox(Faults::default());
    let run = dir.send(&other, &done);
    assert_eq!(run.code, 0, "{run:?}");
    let before = dir.read("done.csv");
    let run = dir.send(&other, &done);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("never overwritten"), "{run:?}");
    assert!(run.stderr.contains("--resume"), "{run:?}");
    assert_eq!(dir.read("done.csv"), before);
    // Nor continued, when it is not a results file.
    let run = dir.send(&sandbox, &args("in.csv", &["--resume"]));
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("not a results file"), "{run:?}");
    assert_eq!(dir.read("out.csv"), "precious\n");
    // Nor is the input.
    let run = dir.send(&sandbox, &["in.csv", "--results", "in.csv"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(sandbox.received().is_empty());
}

#[test]
fn the_token_never_appears_in_output_or_files() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(3));
    let sandbox = sandbox(Faults {
        drop_after_accept: 0.5,
        fail_5xx: 0.3,
        ..Faults::default()
    });
    let token = sandbox.config().token.clone();
    let runs = [
        dir.send(&sandbox, &args("in.csv", &[])),
        dir.send(&sandbox, &args("in.csv", &["--dry-run"])),
        // A server that is not there: the error names the URL, without the token.
        dir.send(
            &sandbox,
            &[
                "in.csv",
                "--results",
                "gone.csv",
                "--api-url",
                "http://127.0.0.1:9",
            ],
        ),
    ];
    assert_eq!(runs[2].code, 1, "{:?}", runs[2]);
    assert!(
        runs[2].stderr.contains("cannot reach GREEN-API"),
        "{:?}",
        runs[2]
    );
    for run in &runs {
        assert!(!run.stdout.contains(&token), "{run:?}");
        assert!(!run.stderr.contains(&token), "{run:?}");
    }
    assert!(runs[1].stderr.contains("5a4d****"), "{:?}", runs[1]);
    assert!(
        !dir.path("gone.csv").exists(),
        "nothing sent, nothing written"
    );
    for file in ["out.csv", "out.csv.ledger"] {
        assert!(!dir.read(file).contains(&token), "{file}");
    }
}

#[test]
fn dry_run_sends_and_writes_nothing() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(5));
    let sandbox = sandbox(Faults::default());
    let run = dir.send(&sandbox, &args("in.csv", &["--dry-run"]));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("dry run: 5 requests would go to POST"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("\"phoneContact\":79032000000"),
        "{run:?}"
    );
    assert!(sandbox.received().is_empty());
    assert!(!dir.path("out.csv").exists());
    assert!(!dir.path("out.csv.ledger").exists());
}

#[test]
fn rate_over_the_limit_and_missing_credentials_are_usage_errors() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(1));
    let run = dir.run(&["send", "in.csv", "--results", "o.csv", "--rate", "60/s"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("limit of 50"), "{run:?}");
    let run = dir.run(&["send", "in.csv", "--results", "o.csv"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--api-url (GREEN_API_URL)"), "{run:?}");
    assert!(run.stderr.contains("--sandbox"), "{run:?}");
}

#[test]
fn a_second_run_on_the_same_results_is_refused_while_the_first_runs() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(20));
    let sandbox = sandbox(Faults::default());
    let mut first = dir.spawn_send(&sandbox, &args("in.csv", &["--rate", "5/s"]));
    crate::util::wait_until(Duration::from_secs(20), "the first run to send", || {
        !sandbox.received().is_empty()
    });
    let second = dir.send(&sandbox, &args("in.csv", &["--resume"]));
    let _ = first.kill();
    let _ = first.wait();
    // Exit 1, as status gives: run it again once the other has finished.
    assert_eq!(second.code, 1, "{second:?}");
    assert!(
        second
            .stderr
            .contains("another greenbulk run (a send, or a status round) is using out.csv"),
        "{second:?}"
    );
    assert!(!second.stderr.contains("  "), "{second:?}");
}

#[test]
fn non_terminal_output_has_no_bar_but_a_final_summary() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(3));
    let sandbox = sandbox(Faults::default());
    let run = dir.send(&sandbox, &args("in.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains('\r'), "{run:?}");
    assert!(
        run.stderr.contains("greenbulk: 3 sent, 0 failed"),
        "{run:?}"
    );
    assert!(run.stderr.contains("results: out.csv"), "{run:?}");
}

#[test]
fn terminal_mode_draws_a_progress_bar() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(10));
    let sandbox = sandbox(Faults {
        latency: Duration::from_millis(200),
        ..Faults::default()
    });
    let run = crate::util::Run::from_output(
        dir.send_command(&sandbox, &args("in.csv", &["--rate", "10/s"]))
            .env("GREENBULK_FORCE_TTY", "1")
            .env("NO_COLOR", "1")
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("/10 rows"), "{run:?}");
    assert!(run.stderr.contains("sent "), "{run:?}");
}

#[cfg(unix)] // sent a Unix signal
#[test]
fn ctrl_c_and_sigterm_finish_in_flight_requests_and_exit_1() {
    for signal in ["-INT", "-TERM"] {
        let dir = Workdir::new();
        dir.write("in.csv", contacts_csv(40));
        let sandbox = sandbox(Faults {
            latency: Duration::from_millis(300),
            ..Faults::default()
        });
        let child = dir.spawn_send(&sandbox, &args("in.csv", &["--rate", "20/s"]));
        crate::util::wait_until(Duration::from_secs(20), "requests to arrive", || {
            sandbox.received().len() >= 5
        });
        let status = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let output = child.wait_with_output().unwrap();
        let run = crate::util::Run::from_output(output);
        assert_eq!(run.code, 1, "{signal}: {run:?}");
        assert!(run.stderr.contains("interrupted"), "{signal}: {run:?}");
        let rows = read_records(&dir.path("out.csv"));
        let sent = rows.iter().filter(|r| r["status"] == "sent").count();
        let pending = rows.iter().filter(|r| r["status"] == "pending").count();
        // Requests in flight were answered and recorded: nothing is left unknown.
        assert_eq!(sent + pending, 40, "{signal}: {rows:?}");
        assert_eq!(sent, sandbox.outgoing().len(), "{signal}");
        assert!(pending > 0, "{signal}: the run stopped early");
    }
}

#[test]
fn a_token_given_as_a_flag_is_left_out_of_the_commands_suggested_and_said_so() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(3));
    let sandbox = sandbox(Faults::default());
    let token = sandbox.config().token.clone();
    let run = dir.send(
        &sandbox,
        &args("in.csv", &["--limit", "1", "--api-token-instance", &token]),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains(&token), "{run:?}");
    assert!(
        run.stderr.contains(
            "the commands above leave out --api-token-instance: set GREEN_API_TOKEN_INSTANCE \
             to the token instead, where other users of this machine cannot read it"
        ),
        "one line, as written: {run:?}"
    );
}
