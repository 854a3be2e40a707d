//! Keeping the number safe (docs/safety.md), with the real binary: the window (its calendar
//! is the session tests', on a paused clock), the daily cap across runs, the instance watched
//! while sending, and the flags refused when they make no sense.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use greenbulk::sandbox::InstanceState;

use std::time::Duration;

use crate::util::{Faults, Workdir, contacts_csv, read_records, sandbox, send_args};

/// A one-hour window that is closed now: it opens two hours from now, on the UTC clock.
fn closed_window() -> String {
    let hour = (jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .hour()
        + 2)
        % 24;
    format!("{hour:02}:00-{:02}:00", (hour + 1) % 24)
}

#[test]
fn outside_the_window_a_cron_run_ends_at_once_and_its_rows_say_when_they_go() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(5));
    let sandbox = sandbox(Faults::default());
    let window = closed_window();
    let flags = ["--window", &window, "--tz", "UTC", "--exit-outside-window"];
    let run = dir.send(&sandbox, &send_args("in.csv", "r.csv", &flags));
    assert_eq!(run.code, 0, "held, not failed: {run:?}");
    assert!(run.stderr.contains("outside the sending window"), "{run:?}");
    assert!(sandbox.received().is_empty());
    let rows = read_records(&dir.path("r.csv"));
    assert!(
        rows.iter()
            .all(|r| r["status"] == "pending" && r["error"].contains("outside the sending window")),
        "{rows:?}"
    );
}

#[test]
fn outside_the_window_a_run_waits_and_says_at_once_until_when() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(3));
    let sandbox = sandbox(Faults::default());
    let window = closed_window();
    let mut child = dir
        .send_command(
            &sandbox,
            &send_args("in.csv", "r.csv", &["--window", &window, "--tz", "UTC"]),
        )
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let said = lines
        .find(|line| line.as_ref().is_ok_and(|l| l.contains("waiting until")))
        .expect("it says why it waits")
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let opens = &window[..5];
    assert!(
        said.contains(&format!("{opens} today UTC"))
            || said.contains(&format!("{opens} tomorrow UTC")),
        "{said}"
    );
    assert!(sandbox.received().is_empty());
}

#[test]
fn the_daily_cap_holds_across_runs_and_the_held_rows_are_not_a_failure() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(8));
    let sandbox = sandbox(Faults::default());
    // A dry run says what the real run does: 3 go, 5 stay pending today.
    let dry = dir.send(
        &sandbox,
        &send_args("in.csv", "r.csv", &["--daily-cap", "3", "--dry-run"]),
    );
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(
        dry.stderr.contains("dry run: 3 requests would go"),
        "{dry:?}"
    );
    assert!(
        dry.stderr
            .contains("5 more would stay pending today, held back by --daily-cap"),
        "{dry:?}"
    );
    // The plan counts every card, not only the day's (it said "3 cards").
    assert!(
        dry.stderr.contains(
            "8 cards, one every 0.5 s (the queue's delay), at most 3 a day: 3 in this run"
        ),
        "{dry:?}"
    );
    assert!(sandbox.outgoing().is_empty());
    let run = dir.send(
        &sandbox,
        &send_args("in.csv", "r.csv", &["--daily-cap", "3"]),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("daily cap reached: 3 cards"), "{run:?}");
    assert!(run.stderr.contains("5 rows held back"), "{run:?}");
    assert_eq!(sandbox.outgoing().len(), 3);
    // The same day: nothing more, whatever the results file.
    dir.write("more.csv", contacts_csv(12));
    // The day's room is spent: a dry run says none would go today.
    let dry = dir.send(
        &sandbox,
        &send_args("more.csv", "s.csv", &["--daily-cap", "3", "--dry-run"]),
    );
    assert!(
        dry.stderr.contains("dry run: 0 requests would go"),
        "{dry:?}"
    );
    let run = dir.send(
        &sandbox,
        &send_args("more.csv", "s.csv", &["--daily-cap", "3"]),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        sandbox.outgoing().len(),
        3,
        "the cap counts the first run's cards"
    );
    let rows = read_records(&dir.path("s.csv"));
    assert!(
        rows.iter()
            .filter(|r| r["status"] == "pending")
            .all(|r| r["error"].contains("daily cap reached")),
        "{rows:?}"
    );
}

#[test]
fn an_instance_flagged_mid_run_gets_no_more_cards_and_the_run_exits_4() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(120));
    let sandbox = sandbox(Faults {
        state_after: Some((10, InstanceState::YellowCard)),
        ..Faults::default()
    });
    let mut command =
        dir.send_command(&sandbox, &send_args("in.csv", "r.csv", &["--rate", "10/s"]));
    command.env("GREENBULK_STATE_EVERY_MS", "1000");
    let run = crate::util::Run::from_output(command.output().unwrap());
    assert_eq!(run.code, 4, "{run:?}");
    // Flagged after 10; asked every second at 10 a second: a second's worth more at most.
    let sent = sandbox.outgoing().len();
    assert!((10..=25).contains(&sent), "{sent} accepted");
    let rows = read_records(&dir.path("r.csv"));
    let pending: Vec<_> = rows.iter().filter(|r| r["status"] == "pending").collect();
    assert_eq!(pending.len() + sent, 120, "nothing lost");
    assert!(
        pending
            .iter()
            .all(|r| r["error"].contains("turned 'yellowCard' while sending")),
        "{pending:?}"
    );
}

#[test]
fn flags_that_make_no_sense_are_refused_before_anything_is_read() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(2));
    for (flags, says) in [
        (vec!["--pace", "20s..8s"], "the shortest interval is longer"),
        (vec!["--pace", "fast"], "not MIN..MAX"),
        (vec!["--window", "9-18"], "not HH:MM-HH:MM"),
        (
            vec!["--window", "09:00-18:00", "--tz", "Mars/Base"],
            "not a time zone",
        ),
        (vec!["--days", "mon-funday"], "'funday' is not a day"),
        (vec!["--exit-outside-window"], "needs a window"),
        // A zone for nothing: the hours or the cap it was meant for are missing.
        (vec!["--tz", "Europe/Moscow"], "none is given"),
        (vec!["--daily-cap", "0"], "--daily-cap"),
    ] {
        let mut args = vec!["send", "in.csv", "--results", "r.csv", "--sandbox"];
        args.extend(flags.iter().copied());
        let run = dir.run(&args);
        assert_eq!(run.code, 2, "{flags:?}: {run:?}");
        assert!(run.stderr.contains(says), "{flags:?}: {run:?}");
    }
    // Sending hours in a local time zone that cannot be read would quietly be UTC's.
    let mut command = dir.command(&[
        "send",
        "in.csv",
        "--results",
        "r.csv",
        "--sandbox",
        "--window",
        "09:00-18:00",
    ]);
    command.env("TZ", "garbage");
    let run = crate::util::Run::from_output(command.output().unwrap());
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("TZ is 'garbage'") && run.stderr.contains("--tz"),
        "{run:?}"
    );
    assert!(!dir.path("r.csv").exists());
}

#[test]
fn a_pace_does_not_hide_a_queue_already_a_day_long() {
    let dir = Workdir::new();
    // One card every 3,000 s: 28 cards fit a day (the last waits 28 × 3,000 s = 23 h 20 min),
    // and the queue keeps what the first run put in it.
    let sandbox = sandbox(Faults {
        delay: Duration::from_secs(3000),
        ..Faults::default()
    });
    dir.write("first.csv", contacts_csv(28));
    let run = dir.send(&sandbox, &send_args("first.csv", "r1.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    // One more card, still in time behind them (the first may have left at once).
    let second = if sandbox.queue_len() < 28 { 29 } else { 28 };
    dir.write("second.csv", contacts_csv(second));
    let run = dir.send(&sandbox, &send_args("second.csv", "r2.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    // Now 28 wait: paced or not, a new card would wait 29 × 3,000 s, past the 24 hours.
    dir.write("more.csv", contacts_csv(second + 2));
    let run = dir.send(
        &sandbox,
        &send_args("more.csv", "r3.csv", &["--pace", "1s..2s"]),
    );
    assert_eq!(run.code, 2, "refused, pace or not: {run:?}");
    assert!(run.stderr.contains("cannot all leave"), "{run:?}");
    assert_eq!(sandbox.outgoing().len(), second);
}

#[test]
fn a_pace_faster_than_the_queue_says_the_queue_holds_it() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(2));
    // The sandbox's queue sends one every 0.5 s.
    let sandbox = sandbox(Faults::default());
    let run = dir.send(
        &sandbox,
        &send_args("in.csv", "r.csv", &["--pace", "100ms..200ms"]),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("and no faster than the queue's delay (0.5 s)"),
        "{run:?}"
    );
}

#[test]
fn rows_sent_again_that_the_daily_cap_holds_say_pending_not_already_sent() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(4));
    let sandbox = sandbox(Faults::default());
    let run = dir.send(&sandbox, &send_args("in.csv", "r.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    // The same cards again into another results file, six a day: two go, two wait.
    let run = dir.send(
        &sandbox,
        &send_args("in.csv", "s.csv", &["--again", "--daily-cap", "6"]),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(sandbox.outgoing().len(), 6);
    let rows = read_records(&dir.path("s.csv"));
    let statuses: Vec<&str> = rows.iter().map(|r| r["status"].as_str()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "sent").count(),
        2,
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .filter(|r| r["status"] != "sent")
            .all(|r| r["status"] == "pending" && r["error"].contains("daily cap reached")),
        "{rows:?}"
    );
}
