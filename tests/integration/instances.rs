//! Several instances in one run (docs/instances.md): each chat's card from exactly one
//! instance, never twice; an instance GREEN-API stops stops only its own rows; rows stay with
//! their instance across runs, and a new instance takes about its share.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use greenbulk::sandbox::{self as emulator, InstanceState};

use crate::util::{Faults, SandboxThread, Workdir, contacts_csv, read_records};

/// Emulated instance `place`, with these faults.
fn instance(place: usize, faults: Faults) -> SandboxThread {
    SandboxThread::start(emulator::instance(place, faults)).expect("the emulator starts")
}

/// Writes an `--instances` file for these instances (`tokens[i]` replaces instance i's own
/// token when given), readable by its owner alone.
fn instances_file(
    dir: &Workdir,
    name: &str,
    all: &[&SandboxThread],
    tokens: &[Option<&str>],
) -> PathBuf {
    let mut text = String::from("apiUrl,idInstance,apiTokenInstance,name\n");
    for (place, one) in all.iter().enumerate() {
        let token = tokens
            .get(place)
            .copied()
            .flatten()
            .unwrap_or(&one.config().token);
        text.push_str(&format!(
            "{},{},{},shop-{}\n",
            one.url(),
            one.config().id_instance,
            token,
            place + 1
        ));
    }
    let path = dir.write(name, text);
    set_mode(&path, 0o600);
    path
}

fn set_mode(path: &std::path::Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let _ = (path, mode);
}

/// `send` with an instances file, nothing in the environment but the state directory.
fn send(dir: &Workdir, file: &str, results: &str, extra: &[&str]) -> crate::util::Run {
    let mut args = vec![
        "send",
        "in.csv",
        "--results",
        results,
        "--instances",
        file,
        "--rate",
        "50/s",
    ];
    args.extend_from_slice(extra);
    dir.run(&args)
}

/// Which instance accepted each chat's card, and how many times each chat got one.
fn accepted(all: &[&SandboxThread]) -> (HashMap<String, String>, HashMap<String, usize>) {
    let mut by = HashMap::new();
    let mut times = HashMap::new();
    for one in all {
        for message in one.outgoing() {
            by.insert(message.chat_id.clone(), one.config().id_instance.clone());
            *times.entry(message.chat_id.clone()).or_insert(0) += 1;
        }
    }
    (by, times)
}

#[test]
fn one_stopped_instance_stops_only_its_rows_and_they_go_from_it_once_it_recovers() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(300));
    let a = instance(0, Faults::default());
    let b = instance(
        1,
        Faults {
            state: InstanceState::YellowCard,
            ..Faults::default()
        },
    );
    let c = instance(2, Faults::default());
    let all = [&a, &b, &c];
    // C's token is wrong: GREEN-API answers 401.
    instances_file(&dir, "instances.csv", &all, &[None, None, Some("00ff00ff")]);
    let run = send(&dir, "instances.csv", "r.csv", &[]);
    assert_eq!(run.code, 4, "an instance was stopped: {run:?}");
    assert!(
        run.stderr.contains("1101000002 (shop-2) cannot send"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("1101000003 (shop-3) cannot send"),
        "{run:?}"
    );
    assert!(b.outgoing().is_empty() && c.outgoing().is_empty());
    let rows = read_records(&dir.path("r.csv"));
    let ids: HashSet<&str> = ["1101000001", "1101000002", "1101000003"].into();
    let mut shares: HashMap<String, usize> = HashMap::new();
    for row in &rows {
        assert!(ids.contains(row["instance"].as_str()), "{row:?}");
        *shares.entry(row["instance"].clone()).or_default() += 1;
        match row["instance"].as_str() {
            "1101000001" => assert_eq!(row["status"], "sent", "{row:?}"),
            "1101000002" => {
                assert_eq!(row["status"], "pending", "{row:?}");
                assert!(row["error"].contains("'yellowCard'"), "{row:?}");
            }
            _ => {
                assert_eq!(row["status"], "pending", "{row:?}");
                assert!(row["error"].contains("refused the credentials"), "{row:?}");
            }
        }
    }
    // Spread by the chat's hash: about a third each.
    assert!(shares.values().all(|n| (70..130).contains(n)), "{shares:?}");
    assert_eq!(a.outgoing().len(), shares["1101000001"]);

    // B recovers, C's token is put right: the resumed run sends their rows from them.
    b.set_faults(Faults::default());
    instances_file(&dir, "instances.csv", &all, &[]);
    let run = send(&dir, "instances.csv", "r.csv", &["--resume"]);
    assert_eq!(run.code, 0, "{run:?}");
    let (by, times) = accepted(&all);
    assert_eq!(times.len(), 300, "every chat got its card");
    assert!(times.values().all(|n| *n == 1), "never twice");
    for row in read_records(&dir.path("r.csv")) {
        assert_eq!(row["status"], "sent", "{row:?}");
        assert_eq!(by[&row["chatId"]], row["instance"], "{row:?}");
    }
    assert!(
        run.stderr.contains("instance 1101000002 (shop-2): sent"),
        "{run:?}"
    );
}

#[test]
fn a_fourth_instance_takes_about_a_quarter_of_the_unsent_rows_and_moves_no_other() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(400));
    let four: Vec<SandboxThread> = (0..4).map(|p| instance(p, Faults::default())).collect();
    let all: Vec<&SandboxThread> = four.iter().collect();
    instances_file(&dir, "three.csv", &all[..3], &[]);
    instances_file(&dir, "four.csv", &all, &[]);
    // One row now: the rest stay pending, each naming the instance it goes to.
    let run = send(&dir, "three.csv", "r.csv", &["--limit", "1"]);
    assert_eq!(run.code, 0, "{run:?}");
    let before = read_records(&dir.path("r.csv"));
    let run = send(&dir, "four.csv", "r.csv", &["--resume", "--limit", "1"]);
    assert_eq!(run.code, 0, "{run:?}");
    let after = read_records(&dir.path("r.csv"));
    let mut moved = 0;
    for (was, now) in before.iter().zip(&after) {
        if was["status"] != "pending" || now["status"] != "pending" {
            continue;
        }
        if was["instance"] != now["instance"] {
            assert_eq!(now["instance"], "1101000004", "{was:?} → {now:?}");
            moved += 1;
        }
    }
    assert!((70..130).contains(&moved), "{moved} of about 400 moved");
    // A run without one of them leaves its rows waiting for it, unless told to reassign.
    let run = send(&dir, "three.csv", "r.csv", &["--resume"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("wait for instance 1101000004"),
        "{run:?}"
    );
    let waiting: Vec<_> = read_records(&dir.path("r.csv"))
        .into_iter()
        .filter(|r| r["status"] == "pending")
        .collect();
    assert!(
        !waiting.is_empty()
            && waiting
                .iter()
                .all(|r| r["instance"] == "1101000004" && r["error"].contains("--reassign")),
        "{waiting:?}"
    );
    // Again: nothing is left but those rows, and the run says so (not "all sent before").
    let run = send(&dir, "three.csv", "r.csv", &["--resume"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("the rows left wait for an instance"),
        "{run:?}"
    );
    assert!(
        !run.stderr.contains("every sendable row was sent before"),
        "{run:?}"
    );
    // Nor does it offer a --resume that would send them: it would not, without --reassign.
    assert!(!run.stderr.contains("failed and pending rows"), "{run:?}");
    let run = send(&dir, "three.csv", "r.csv", &["--resume", "--reassign"]);
    assert_eq!(run.code, 0, "{run:?}");
    let (_, times) = accepted(&all);
    assert_eq!(times.len(), 400);
    assert!(times.values().all(|n| *n == 1), "never twice");
}

#[test]
fn a_file_that_shows_its_tokens_to_others_is_refused_and_env_tokens_are_read() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(20));
    let a = instance(0, Faults::default());
    let b = instance(1, Faults::default());
    let file = instances_file(&dir, "instances.csv", &[&a, &b], &[]);
    set_mode(&file, 0o644);
    let run = send(&dir, "instances.csv", "r.csv", &[]);
    if cfg!(unix) {
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("chmod 600 instances.csv"), "{run:?}");
        assert!(!run.stderr.contains(&a.config().token), "{run:?}");
        assert!(!dir.path("r.csv").exists());
    }
    // The tokens in the environment instead: the file holds no secret.
    let text = format!(
        "apiUrl,idInstance,apiTokenInstance\n{},{},env:SHOP_1_TOKEN\n{},{},env:SHOP_2_TOKEN\n",
        a.url(),
        a.config().id_instance,
        b.url(),
        b.config().id_instance
    );
    let path = dir.write("public.csv", text);
    set_mode(&path, 0o644);
    let mut command = dir.command(&[
        "send",
        "in.csv",
        "--results",
        "r.csv",
        "--instances",
        "public.csv",
    ]);
    // One instance's credentials exported in the profile do not stand in the way.
    command
        .env("SHOP_1_TOKEN", &a.config().token)
        .env("SHOP_2_TOKEN", &b.config().token)
        .env("GREEN_API_URL", "http://127.0.0.1:9")
        .env("GREEN_API_ID_INSTANCE", "7103000001");
    let run = crate::util::Run::from_output(command.output().unwrap());
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(a.outgoing().len() + b.outgoing().len(), 20);
    assert!(!a.outgoing().is_empty() && !b.outgoing().is_empty());
    // Mixed with the single-instance flags: one or the other.
    let run = dir.run(&[
        "send",
        "in.csv",
        "--results",
        "s.csv",
        "--instances",
        "public.csv",
        "--id-instance",
        "1101000001",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn the_built_in_sandbox_runs_several_instances_and_status_asks_each() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(30));
    let run = dir.run(&[
        "send",
        "in.csv",
        "--results",
        "r.csv",
        "--sandbox",
        "--instances",
        "3",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let rows = read_records(&dir.path("r.csv"));
    let used: HashSet<&str> = rows.iter().map(|r| r["instance"].as_str()).collect();
    assert_eq!(used.len(), 3, "{used:?}");
    let run = dir.run(&["status", "r.csv", "--sandbox"]);
    assert!(run.code == 0 || run.code == 1, "{run:?}");
    assert!(run.stderr.contains("30 cards accepted"), "{run:?}");
    let rows = read_records(&dir.path("r.csv"));
    assert!(rows.iter().all(|r| !r["delivery"].is_empty()), "{rows:?}");
}

#[test]
fn the_standalone_emulator_writes_a_ready_private_instances_file() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(12));
    let mut child = dir
        .command(&[
            "sandbox",
            "--port",
            "0",
            "--instances",
            "2",
            "--write-instances",
            "sandbox.csv",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // It says it is ready once the file is written.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("Ctrl-C stops it") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "it ended early");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path("sandbox.csv"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let run = send(&dir, "sandbox.csv", "r.csv", &[]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(run.code, 0, "{run:?}");
    let rows = read_records(&dir.path("r.csv"));
    let used: HashSet<&str> = rows.iter().map(|r| r["instance"].as_str()).collect();
    assert_eq!(used, ["1101000001", "1101000002"].into());
}

#[test]
fn dry_runs_and_refusals_name_the_instance_and_the_limit_that_fits_them_all() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(200));
    let a = instance(0, Faults::default());
    // One card an hour: 24 fit in a day.
    let b = instance(
        1,
        Faults {
            delay: Duration::from_secs(3600),
            ..Faults::default()
        },
    );
    instances_file(&dir, "instances.csv", &[&a, &b], &[]);
    let run = send(&dir, "instances.csv", "r.csv", &["--dry-run"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("instance 1101000002's queue"),
        "{run:?}"
    );
    let limit = run
        .stderr
        .split("--limit ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .and_then(|n| n.trim().parse::<u64>().ok())
        .expect("a --limit that fits");
    // B's 24 come after about 48 rows, half of them A's.
    assert!((35..70).contains(&limit), "{limit}: {run:?}");
    let run = send(
        &dir,
        "instances.csv",
        "r.csv",
        &["--limit", &limit.to_string()],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(b.outgoing().len() <= 24, "{}", b.outgoing().len());
}

#[test]
fn a_number_taken_out_of_the_file_is_still_remembered_by_the_next_results_file() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(60));
    let three: Vec<SandboxThread> = (0..3).map(|p| instance(p, Faults::default())).collect();
    let all: Vec<&SandboxThread> = three.iter().collect();
    instances_file(&dir, "first-two.csv", &all[..2], &[]);
    instances_file(&dir, "last-two.csv", &all[1..], &[]);
    let run = send(&dir, "first-two.csv", "monday.csv", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    // The first number is gone (banned, say); the next day's run has a new results file.
    let run = send(&dir, "last-two.csv", "tuesday.csv", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let (_, times) = accepted(&all);
    assert_eq!(times.len(), 60);
    assert!(
        times.values().all(|n| *n == 1),
        "no chat got its card twice"
    );
    let rows = read_records(&dir.path("tuesday.csv"));
    assert!(
        rows.iter().all(|r| r["status"] == "already-sent"),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r["instance"] == "1101000001"
                && r["error"].contains("from instance 1101000001")),
        "{rows:?}"
    );
}

#[test]
fn two_runs_on_two_numbers_at_the_same_moment_never_both_send_a_card() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(200));
    let two: Vec<SandboxThread> = (0..2).map(|p| instance(p, Faults::default())).collect();
    let all: Vec<&SandboxThread> = two.iter().collect();
    instances_file(&dir, "first.csv", &all[..1], &[]);
    instances_file(&dir, "second.csv", &all[1..], &[]);
    // Two cron jobs, one per number, on the same export into results files of their own,
    // started together: each claims its cards where the other can see them.
    let started: Vec<std::process::Child> = [("first.csv", "a.csv"), ("second.csv", "b.csv")]
        .iter()
        .map(|(instances, results)| {
            dir.command(&[
                "send",
                "in.csv",
                "--results",
                results,
                "--instances",
                instances,
                "--rate",
                "50/s",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for child in started {
        let run = crate::util::Run::from_output(child.wait_with_output().unwrap());
        // A run that ends while the other still waits for an answer about a card of theirs
        // says that card is unknown (exit 1), never already sent.
        match run.code {
            0 => {}
            1 => assert!(run.stderr.contains("unknown here: another run"), "{run:?}"),
            _ => panic!("{run:?}"),
        }
    }
    // Once both have ended, a --resume of each settles what it saw in doubt.
    for (instances, results) in [("first.csv", "a.csv"), ("second.csv", "b.csv")] {
        let run = crate::util::Run::from_output(
            dir.command(&[
                "send",
                "in.csv",
                "--results",
                results,
                "--instances",
                instances,
                "--resume",
            ])
            .output()
            .unwrap(),
        );
        assert_eq!(run.code, 0, "{run:?}");
    }
    let (_, times) = accepted(&all);
    assert_eq!(times.len(), 200, "every card went");
    assert!(
        times.values().all(|n| *n == 1),
        "no chat got its card from both numbers: {:?}",
        times.values().filter(|n| **n > 1).count()
    );
    // Each results file says what became of every row: sent here, or already sent there.
    for results in ["a.csv", "b.csv"] {
        let rows = read_records(&dir.path(results));
        assert!(
            rows.iter()
                .all(|r| r["status"] == "sent" || r["status"] == "already-sent"),
            "{rows:?}"
        );
    }
}

#[test]
fn status_asks_each_instance_its_own_share_of_lookups_a_round() {
    // Journals that show a card only an hour after it leaves: every card is asked about one
    // by one, two a round on each instance (not two a round in all).
    let faults = || Faults {
        delay: Duration::from_millis(1),
        journal_lag: Duration::from_secs(3600),
        ..Faults::default()
    };
    let two: Vec<SandboxThread> = (0..2).map(|p| instance(p, faults())).collect();
    let all: Vec<&SandboxThread> = two.iter().collect();
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(16));
    instances_file(&dir, "instances.csv", &all, &[]);
    let run = send(&dir, "instances.csv", "r.csv", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(all.iter().all(|one| one.outgoing().len() >= 3), "both sent");
    let run = crate::util::Run::from_output(
        dir.command(&["status", "r.csv", "--instances", "instances.csv"])
            .env("GREENBULK_LOOKUPS_PER_ROUND", "2")
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 1, "{run:?}");
    let ledger = dir.read("r.csv.ledger");
    assert_eq!(
        ledger.matches("\"event\":\"lookedup\"").count(),
        4,
        "{run:?}"
    );
    assert!(run.stderr.contains("12 cards left the queue"), "{run:?}");
}

/// Two emulated instances whose queues send at once, and a run that sent eight cards from
/// them into `r.csv` (with `instances.csv` naming both).
fn eight_cards_sent_from_two_instances() -> (Vec<SandboxThread>, Workdir) {
    let quick = || Faults {
        delay: Duration::from_millis(1),
        ..Faults::default()
    };
    let two: Vec<SandboxThread> = (0..2).map(|p| instance(p, quick())).collect();
    let all: Vec<&SandboxThread> = two.iter().collect();
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(8));
    instances_file(&dir, "instances.csv", &all, &[]);
    let run = send(&dir, "instances.csv", "r.csv", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    (two, dir)
}

/// `status --watch` given one of the two instances a run sent from: the other's cards cannot
/// be looked up here, so it stops after one round and says where they went, instead of
/// watching for 24 hours (found by a hostile audit).
#[test]
fn a_watch_given_only_some_instances_stops_when_it_can_learn_nothing_more() {
    let (two, dir) = eight_cards_sent_from_two_instances();
    let all: Vec<&SandboxThread> = two.iter().collect();
    let rows = read_records(&dir.path("r.csv"));
    let second = &two[1].config().id_instance;
    let on_second = rows.iter().filter(|r| &r["instance"] == second).count();
    assert!(on_second > 0, "{rows:?}");
    // Every card of the first instance delivered: only the second's are left to learn about.
    let delivered =
        |id: &str| matches!(two[0].status_of(id).as_deref(), Some("delivered" | "read"));
    crate::util::wait_until(
        Duration::from_secs(20),
        "the first's cards to arrive",
        || {
            rows.iter()
                .filter(|r| r["instance"] != *second)
                .all(|r| delivered(&r["idMessage"]))
        },
    );
    instances_file(&dir, "first.csv", &all[..1], &[]);
    let run = dir.run(&[
        "status",
        "r.csv",
        "--instances",
        "first.csv",
        "--watch",
        "5",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr.matches("sent cards:").count(),
        1,
        "one round: {run:?}"
    );
    assert!(
        run.stderr.contains(&format!(
            "sent from instance {second}, which this status was not given"
        )),
        "{run:?}"
    );
}

/// One of two instances refuses `status` (its token changed in the console): the other's
/// cards are still looked up and written, the refusing one is named, and the exit is 4
/// (found by a hostile audit: one instance stopped the round for all).
#[test]
fn one_instance_refusing_status_leaves_the_others_cards_looked_up() {
    let (two, dir) = eight_cards_sent_from_two_instances();
    let all: Vec<&SandboxThread> = two.iter().collect();
    let first = &two[0].config().id_instance;
    let second = &two[1].config().id_instance;
    instances_file(
        &dir,
        "changed.csv",
        &all,
        &[None, Some("0000ffffeeee0000dddd")],
    );
    let run = dir.run(&["status", "r.csv", "--instances", "changed.csv"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("instance {second} did not answer")),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("its cards were not looked up, the other instances' were"),
        "{run:?}"
    );
    let rows = read_records(&dir.path("r.csv"));
    for row in &rows {
        if &row["instance"] == first {
            assert!(!row["delivery"].is_empty(), "{row:?}");
        } else {
            assert!(row["delivery"].is_empty(), "{row:?}");
        }
    }
    assert!(rows.iter().any(|r| &r["instance"] == second), "{rows:?}");
}

/// `greenbulk ui` takes `--instances` as `send` does (a hostile audit's finding: it was taken
/// and ignored, and the page sent from one instance): a file that is not there stops it at
/// once, with the file's name, before the page is served.
#[test]
fn the_local_page_reads_instances_as_send_does() {
    let dir = Workdir::new();
    let mut child = dir
        .command(&[
            "ui",
            "--no-open",
            "--dir",
            ".",
            "--instances",
            "no-such-instances.csv",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut exited = None;
    crate::util::wait_until(Duration::from_secs(20), "ui to stop", || {
        exited = child.try_wait().unwrap();
        exited.is_some()
    });
    let run = crate::util::Run::from_output(child.wait_with_output().unwrap());
    assert_eq!(exited.unwrap().code(), Some(2), "{run:?}");
    assert!(run.stderr.contains("no-such-instances.csv"), "{run:?}");
}

/// One run does not send to a standalone sandbox (`greenbulk sandbox`) and a real instance at
/// once: what each is sent is remembered apart (docs/sandbox.md), so "never twice" could not
/// hold across them.
#[test]
fn an_instances_file_mixing_the_standalone_sandbox_and_a_real_instance_is_refused() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(2));
    let standalone = crate::util::Standalone::start(&dir, &[]);
    let real = instance(1, Faults::default());
    let text = format!(
        "apiUrl,idInstance,apiTokenInstance\n{},{},{}\n{},{},{}\n",
        standalone.url,
        emulator::DEFAULT_ID_INSTANCE,
        emulator::DEFAULT_TOKEN,
        real.url(),
        real.config().id_instance,
        real.config().token
    );
    set_mode(&dir.write("instances.csv", text), 0o600);
    let run = send(&dir, "instances.csv", "r.csv", &[]);
    assert_eq!(run.code, 2, "{run:?}");
    let said = format!(
        "instance {} is a standalone greenbulk sandbox and {} is not",
        emulator::DEFAULT_ID_INSTANCE,
        real.config().id_instance
    );
    assert!(run.stderr.contains(&said), "{run:?}");
    assert!(real.received().is_empty());
}

/// `status` given one of two instances, the other's cards unknown: they are said to be not
/// looked up, not "not found in GREEN-API's queue or journal" (a hostile audit's finding:
/// it claimed a lookup that never happened, "(0 calls)").
#[test]
fn unknown_rows_of_an_instance_not_given_are_said_not_looked_up() {
    let two = [
        instance(0, Faults::default()),
        instance(
            1,
            Faults {
                empty_200: 1.0,
                ..Faults::default()
            },
        ),
    ];
    let all: Vec<&SandboxThread> = two.iter().collect();
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(8));
    instances_file(&dir, "instances.csv", &all, &[]);
    let run = send(&dir, "instances.csv", "r.csv", &[]);
    assert_eq!(run.code, 1, "{run:?}");
    let unknown = read_records(&dir.path("r.csv"))
        .iter()
        .filter(|r| r["status"] == "unknown")
        .count();
    assert!(unknown > 0, "{run:?}");
    instances_file(&dir, "first.csv", &all[..1], &[]);
    let run = dir.run(&["status", "r.csv", "--instances", "first.csv"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(
            "still unknown, not looked up: sent from an instance this status was not given"
        ),
        "{run:?}"
    );
    assert!(
        !run.stderr.contains("not found in GREEN-API's queue"),
        "{run:?}"
    );
}
