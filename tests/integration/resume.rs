//! Crash safety and resuming: `kill -9` at any moment loses no sent row and never causes a
//! second delivery; rows are matched by content, so edited files resume safely.

use std::collections::HashMap;
use std::time::Duration;

use crate::util::{Faults, Workdir, contacts_csv, read_records, sandbox, wait_until};

#[test]
fn kill_9_mid_run_then_resume_sends_nothing_twice_and_loses_nothing() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(120));
    let sandbox = sandbox(Faults {
        latency: Duration::from_millis(150),
        jitter: Duration::from_millis(100),
        ..Faults::default()
    });
    let flags = [
        "in.csv",
        "--results",
        "out.csv",
        "--rate",
        "50/s",
        "--concurrency",
        "12",
    ];

    for kill_after in [15, 60] {
        let mut child = dir.spawn_send(&sandbox, &flags_with_resume(&flags, kill_after > 15));
        wait_until(Duration::from_secs(30), "requests to arrive", || {
            sandbox.received().len() >= kill_after
        });
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
    }
    let accepted_before = sandbox.outgoing().len();
    assert!(accepted_before < 120, "the kills came mid-run");

    let run = dir.send(&sandbox, &flags_with_resume(&flags, true));
    crate::util::assert_no_double_delivery(&sandbox);

    let ids: HashMap<String, String> = sandbox
        .outgoing()
        .iter()
        .map(|m| (m.id_message.clone(), m.chat_id.clone()))
        .collect();
    let rows = read_records(&dir.path("out.csv"));
    assert_eq!(rows.len(), 120);
    let mut unknown = 0;
    for row in &rows {
        match row["status"].as_str() {
            "sent" => assert_eq!(
                ids.get(&row["idMessage"]),
                Some(&row["chatId"]),
                "a sent row is a real delivery: {row:?}"
            ),
            "unknown" => unknown += 1,
            other => panic!("unexpected {other}: {row:?}"),
        }
    }
    // Only rows in flight at a kill can be unknown: at most the concurrency, per kill.
    assert!(unknown <= 2 * 12, "{unknown} unknown");
    assert_eq!(run.code, if unknown > 0 { 1 } else { 0 }, "{run:?}");
    // Every chat the emulator accepted is accounted for: sent, or unknown (in flight).
    let sent = rows.iter().filter(|r| r["status"] == "sent").count();
    assert_eq!(sent + unknown, 120);
    assert!(sandbox.outgoing().len() >= sent);
    assert!(sandbox.outgoing().len() <= 120);
}

fn flags_with_resume<'a>(flags: &[&'a str], resume: bool) -> Vec<&'a str> {
    let mut all = flags.to_vec();
    if resume {
        all.push("--resume");
    }
    all
}

#[test]
fn resume_on_an_edited_and_resorted_file_sends_only_what_was_not_sent() {
    let dir = Workdir::new();
    let original = contacts_csv(10);
    dir.write("in.csv", &original);
    let sandbox = sandbox(Faults {
        quota: Some(4),
        ..Faults::default()
    });
    let flags = [
        "in.csv",
        "--results",
        "out.csv",
        "--concurrency",
        "1",
        "--rate",
        "50/s",
    ];
    let run = dir.send(&sandbox, &flags);
    assert_eq!(run.code, 4, "{run:?}");
    assert_eq!(sandbox.outgoing().len(), 4);

    // The user re-sorts the file, drops a sent row, fixes a name and adds a contact.
    let mut lines: Vec<String> = original.lines().map(str::to_string).collect();
    let header = lines.remove(0);
    lines.remove(1); // row 3, already sent
    lines.reverse();
    lines[0] = lines[0].replace("Name9", "Name9-corrected");
    lines.push("79169999999,79039999999,New,Person,".into());
    dir.write("in.csv", format!("{header}\n{}\n", lines.join("\n")));

    sandbox.set_faults(Faults::default());
    let mut resumed = flags.to_vec();
    resumed.push("--resume");
    let run = dir.send(&sandbox, &resumed);
    assert_eq!(run.code, 0, "{run:?}");
    crate::util::assert_no_double_delivery(&sandbox);
    // 4 before; now the 6 unsent (one with a corrected name) and the new one.
    assert_eq!(sandbox.outgoing().len(), 4 + 6 + 1);
    let rows = read_records(&dir.path("out.csv"));
    // The 10 rows of the input, and the sent row taken out of it: its line stays.
    assert_eq!(rows.len(), 11);
    assert!(rows.iter().all(|r| r["status"] == "sent"), "{rows:?}");
    let removed: Vec<_> = rows
        .iter()
        .filter(|r| r["error"].contains("no longer in the input"))
        .collect();
    assert_eq!(removed.len(), 1, "{rows:?}");
    assert_eq!(removed[0]["firstName"], "Name1", "its input cells are kept");
    assert_eq!(removed[0]["row"], "3");
    let first_run: Vec<&str> = rows
        .iter()
        .filter(|r| r["attempts"] == "1")
        .map(|r| r["firstName"].as_str())
        .collect();
    assert!(first_run.contains(&"Name0"), "{first_run:?}");
}

#[test]
fn resume_without_an_earlier_run_starts_one() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(2));
    let sandbox = sandbox(Faults::default());
    let run = dir.send(&sandbox, &["in.csv", "--results", "out.csv", "--resume"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("starting a new run"), "{run:?}");
    // Running the same command again (as cron would) sends nothing more.
    let run = dir.send(&sandbox, &["in.csv", "--results", "out.csv", "--resume"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("nothing left to send"), "{run:?}");
    assert_eq!(sandbox.outgoing().len(), 2);
}

#[test]
fn a_damaged_ledger_is_refused_rather_than_guessed() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(2));
    let sandbox = sandbox(Faults::default());
    let run = dir.send(&sandbox, &["in.csv", "--results", "out.csv"]);
    assert_eq!(run.code, 0, "{run:?}");
    let ledger = dir.read("out.csv.ledger");
    dir.write("out.csv.ledger", format!("garbage\n{ledger}"));
    let run = dir.send(&sandbox, &["in.csv", "--results", "out.csv", "--resume"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("line 1: the ledger is damaged"),
        "{run:?}"
    );
    assert_eq!(sandbox.outgoing().len(), 2);
}

/// A results file emptied beside its ledger (a disk, an editor saving nothing) is rebuilt
/// from the ledger by `--resume`, which sends nothing again — it was refused as "not a
/// results file", with advice to choose another path that abandoned the ledger (a hostile
/// audit). Without `--resume` the run is still refused: the ledger says a run was here.
#[test]
fn an_emptied_results_file_is_rebuilt_from_its_ledger_on_resume() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(3));
    let sandbox = sandbox(Faults::default());
    let args = ["in.csv", "--results", "out.csv"];
    let run = dir.send(&sandbox, &args);
    assert_eq!(run.code, 0, "{run:?}");
    let sent: Vec<String> = read_records(&dir.path("out.csv"))
        .into_iter()
        .map(|r| r["idMessage"].clone())
        .collect();
    dir.write("out.csv", "");

    let refused = dir.send(&sandbox, &args);
    assert_eq!(refused.code, 2, "{refused:?}");
    // status says how to get it back, not to choose another path (a re-audit).
    let status = dir.status(&sandbox, &["out.csv"]);
    assert_eq!(status.code, 2, "{status:?}");
    assert!(
        status
            .stderr
            .contains("out.csv is empty, its ledger beside it: `greenbulk send INPUT --results out.csv --resume`"),
        "{status:?}"
    );
    let run = dir.send(&sandbox, &["in.csv", "--results", "out.csv", "--resume"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(sandbox.outgoing().len(), 3, "nothing sent again: {run:?}");
    let rows = read_records(&dir.path("out.csv"));
    let rebuilt: Vec<String> = rows.iter().map(|r| r["idMessage"].clone()).collect();
    assert_eq!(rebuilt, sent);
    assert!(rows.iter().all(|r| r["status"] == "sent"), "{rows:?}");
}
