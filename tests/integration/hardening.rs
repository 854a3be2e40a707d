//! A full disk, a torn ledger, closed pipes, pasted URLs and a server that counts: each case
//! here once lost a row, leaked data or broke `--resume`, and is pinned so it cannot again.
//! (Hostile input files are in `hostile_input.rs`.)

use std::process::Stdio;
use std::time::Duration;

use crate::util::{
    Faults, Run, Workdir, assert_no_double_delivery, assert_sent_or_unknown, contacts_csv,
    read_records, sandbox, send_args,
};

/// Rows 2.. of a results file, by status.
fn statuses(dir: &Workdir, results: &str) -> Vec<String> {
    read_records(&dir.path(results))
        .into_iter()
        .map(|r| r["status"].clone())
        .collect()
}

#[test]
fn a_torn_last_ledger_line_is_cut_off_and_resume_keeps_working() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(8));
    let sandbox = sandbox(Faults {
        quota: Some(4),
        ..Faults::default()
    });
    let args = send_args("in.csv", "out.csv", &["--concurrency", "1"]);
    let run = dir.send(&sandbox, &args);
    assert_eq!(run.code, 4, "{run:?}");

    // A crash (or a full disk) in the middle of writing the last line.
    let ledger = dir.read("out.csv.ledger");
    let last_start = ledger.trim_end().rfind('\n').unwrap() + 1;
    let torn = &ledger[..last_start + 20];
    dir.write("out.csv.ledger", torn);

    sandbox.set_faults(Faults::default());
    let mut resume = args.clone();
    resume.push("--resume");
    for round in 0..2 {
        let run = dir.send(&sandbox, &resume);
        assert!(run.code == 0 || run.code == 1, "round {round}: {run:?}");
        assert!(!run.stderr.contains("damaged"), "round {round}: {run:?}");
        assert_no_double_delivery(&sandbox);
        let rows = read_records(&dir.path("out.csv"));
        assert_eq!(rows.len(), 8);
        // An unknown row: the torn line was its outcome, so it may have gone out.
        assert!(assert_sent_or_unknown(&rows, &sandbox) <= 1);
    }
    assert!(sandbox.outgoing().len() <= 8);
    // Every line of the ledger is whole again.
    for line in dir.read("out.csv.ledger").lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("a whole JSON line");
    }
}

#[test]
fn a_damaged_line_inside_the_ledger_stops_before_sending_with_safe_advice() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(4));
    let sandbox = sandbox(Faults {
        quota: Some(2),
        ..Faults::default()
    });
    let args = send_args("in.csv", "out.csv", &["--concurrency", "1"]);
    assert_eq!(dir.send(&sandbox, &args).code, 4);
    let ledger = dir.read("out.csv.ledger");
    let mut lines: Vec<&str> = ledger.lines().collect();
    lines[1] = "{\"event\":\"sent\",\"key\":\"not-a-key\",\"row\":2,\"id_message\":\"X\"}";
    dir.write("out.csv.ledger", lines.join("\n") + "\n");
    sandbox.set_faults(Faults::default());
    let mut resume = args.clone();
    resume.push("--resume");
    let run = dir.send(&sandbox, &resume);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("line 2"), "{run:?}");
    assert!(!run.stderr.contains("move it away"), "{run:?}");
    assert!(run.stderr.contains("Do not delete the ledger"), "{run:?}");
    assert_eq!(sandbox.outgoing().len(), 2, "nothing more was sent");
}

/// A tmpfs of `kb` kilobytes, unmounted when dropped.
struct SmallDisk {
    path: std::path::PathBuf,
}

impl SmallDisk {
    fn mount(dir: &Workdir, kb: u32) -> SmallDisk {
        let path = dir.path("disk");
        std::fs::create_dir_all(&path).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kb}k"), "tmpfs"])
            .arg(&path)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "mounting a tmpfs needs root (CI runs as root)"
        );
        SmallDisk { path }
    }

    fn file(&self, name: &str) -> String {
        self.path.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

#[test]
fn a_full_disk_mid_run_names_the_file_leaves_no_temp_and_resume_finishes() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(500));
    let disk = SmallDisk::mount(&dir, 512);
    // Ballast to free later, as a user would delete something: about 60 KB stay free, enough
    // for the first results file and part of the ledger.
    std::fs::write(disk.file("ballast"), vec![0u8; 400 * 1024]).unwrap();
    let sandbox = sandbox(Faults::default());
    let results = disk.file("r.csv");
    let run = dir.send(&sandbox, &send_args("in.csv", &results, &[]));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains(&results), "names the file: {run:?}");
    assert!(run.stderr.contains("free space"), "{run:?}");
    assert!(run.stderr.contains("--resume"), "{run:?}");
    let accepted = sandbox.outgoing().len();
    assert!(accepted > 0 && accepted < 500, "{accepted} accepted");
    let leftovers: Vec<_> = std::fs::read_dir(&disk.path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    std::fs::remove_file(disk.file("ballast")).unwrap();
    let mut resume = send_args("in.csv", &results, &[]);
    resume.push("--resume");
    let run = dir.send(&sandbox, &resume);
    assert!(run.code == 0 || run.code == 1, "{run:?}");
    assert!(!run.stderr.contains("error:"), "{run:?}");
    assert_no_double_delivery(&sandbox);
    let rows = read_records(std::path::Path::new(&results));
    assert_eq!(rows.len(), 500);
    // Rows in flight when the disk filled up: their outcomes could not be written.
    let unknown = assert_sent_or_unknown(&rows, &sandbox);
    assert!(unknown <= 16, "{unknown} unknown");
}

#[test]
fn a_full_disk_before_the_first_request_leaves_no_files_behind() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(2000));
    let disk = SmallDisk::mount(&dir, 64);
    let sandbox = sandbox(Faults::default());
    let results = disk.file("r.csv");
    let run = dir.send(&sandbox, &send_args("in.csv", &results, &[]));
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("free space"), "{run:?}");
    assert!(sandbox.received().is_empty());
    let left: Vec<_> = std::fs::read_dir(&disk.path).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_run_that_fails_before_its_first_request_leaves_no_files() {
    let dir = Workdir::new();
    dir.write("in.csv", "phone,name\n79011234567,Ann\n");
    let sandbox = sandbox(Faults::default());
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 2, "{run:?}");
    assert!(!dir.path("out.csv").exists());
    assert!(!dir.path("out.csv.ledger").exists());
    // Fixed, the same command simply runs.
    dir.write("in.csv", "chat,phone,name\n79001234567,79011234567,Ann\n");
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");

    // Refused credentials: nothing left, so no file either.
    let run = dir.send(
        &sandbox,
        &send_args("in.csv", "other.csv", &["--api-token-instance", "0123abcd"]),
    );
    assert_eq!(run.code, 4, "{run:?}");
    assert!(!dir.path("other.csv").exists());
    assert!(!dir.path("other.csv.ledger").exists());
}

#[test]
fn a_closed_stderr_pipe_is_not_an_error() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(30));
    let sandbox = sandbox(Faults::default());
    let mut child = dir
        .send_command(&sandbox, &send_args("in.csv", "out.csv", &[]))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `| head -1`: read one line, then close the pipe.
    let first = crate::util::first_line(child.stderr.take().unwrap());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "first line: {first}");
    let statuses = statuses(&dir, "out.csv");
    assert_eq!(statuses, vec!["sent".to_string(); 30]);
    assert_eq!(sandbox.outgoing().len(), 30);
}

#[test]
fn a_closed_stdout_under_report_dash_ends_with_the_runs_own_code() {
    let dir = Workdir::new();
    let mut csv = String::from("chatId,phoneContact,firstName\n");
    for i in 0..20_000 {
        csv.push_str(&format!("7900{i:07},123,N{i}\n"));
    }
    dir.write("bad.csv", csv);
    let mut child = dir
        .command(&["validate", "bad.csv", "--report", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = crate::util::first_line(child.stdout.take().unwrap());
    let stderr = crate::util::read_all(child.stderr.take().unwrap());
    let status = child.wait().unwrap();
    assert_eq!(first.trim(), "row,severity,field,value,problem");
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert!(stderr.contains("20000 rows"), "{stderr}");
}

#[test]
fn a_token_pasted_into_the_api_url_is_refused_without_being_shown() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(2));
    let sandbox = sandbox(Faults::default());
    let token = sandbox.config().token.clone();
    let id = sandbox.config().id_instance.clone();
    let pasted = format!("{}/waInstance{id}/sendContact/{token}", sandbox.url());
    let with_password = sandbox.url().replace("http://", "http://user:hunter2@");
    for url in [
        pasted.as_str(),
        with_password.as_str(),
        "http://h.example/?t=secret9",
    ] {
        for dry in [false, true] {
            let mut args = send_args("in.csv", "out.csv", &["--api-url", url]);
            if dry {
                args.push("--dry-run");
            }
            let run = dir.send(&sandbox, &args);
            assert_eq!(run.code, 2, "{url}: {run:?}");
            assert!(!run.stderr.contains(&token), "{run:?}");
            assert!(!run.stderr.contains("hunter2"), "{run:?}");
            assert!(!run.stderr.contains("secret9"), "{run:?}");
            assert!(run.stderr.contains("--api-url"), "{run:?}");
        }
    }
    assert!(sandbox.received().is_empty());
}

#[test]
fn a_token_that_is_not_hex_is_refused_by_name_not_value() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(2));
    let sandbox = sandbox(Faults::default());
    let run = dir.send(
        &sandbox,
        &send_args("in.csv", "out.csv", &["--api-token-instance", "Sec/r?e#t"]),
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--api-token-instance"), "{run:?}");
    assert!(run.stderr.contains("GREEN_API_TOKEN_INSTANCE"), "{run:?}");
    assert!(!run.stderr.contains("Sec/r"), "{run:?}");
    assert!(sandbox.received().is_empty());
}

#[test]
fn a_429_on_the_preflight_call_is_waited_out() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(2));
    let sandbox = sandbox(Faults {
        busy_calls: 2,
        ..Faults::default()
    });
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains("cannot reach"), "{run:?}");
    assert_eq!(sandbox.outgoing().len(), 2);
}

/// Back-to-back runs keep to each method's rate limit, also when they reach the instance by
/// other spellings of its URL (a cron job with `localhost`, another with `127.0.0.1`): the
/// call times are the instance's, not the URL's.
#[test]
fn back_to_back_runs_keep_to_the_preflight_rate_limit() {
    let dir = Workdir::new();
    let sandbox = sandbox(Faults::default());
    let url = sandbox.url();
    let spellings = [
        url.clone(),
        url.replace("127.0.0.1", "localhost"),
        format!("{url}/"),
    ];
    for (i, spelling) in spellings.iter().enumerate() {
        let name = format!("in{i}.csv");
        dir.write(&name, contacts_csv(1));
        let results = format!("out{i}.csv");
        let output = dir
            .send_command(&sandbox, &send_args(&name, &results, &[]))
            .env("GREEN_API_URL", spelling)
            .output()
            .expect("the binary runs");
        let run = Run::from_output(output);
        assert_eq!(run.code, 0, "{spelling}: {run:?}");
    }
    assert_eq!(sandbox.over_limit_calls(), Vec::<String>::new());
}

#[test]
fn at_50_per_second_a_server_counting_on_arrival_never_answers_429() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(300));
    let sandbox = sandbox(Faults {
        latency: Duration::from_millis(30),
        jitter: Duration::from_millis(20),
        network_jitter: Duration::from_millis(12),
        ..Faults::default()
    });
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    let refused = sandbox
        .received()
        .iter()
        .filter(|r| r.status == 429)
        .count();
    assert_eq!(refused, 0, "{refused} answered 429");
    assert_eq!(sandbox.received().len(), 300);
}

#[test]
fn a_200_without_an_id_message_is_not_called_a_lost_answer() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(2));
    let sandbox = sandbox(Faults {
        empty_200: 1.0,
        ..Faults::default()
    });
    let run = dir.send(&sandbox, &send_args("in.csv", "out.csv", &[]));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(!run.stderr.contains("no answer came back"), "{run:?}");
    let rows = read_records(&dir.path("out.csv"));
    assert!(rows.iter().all(|r| r["status"] == "unknown"));
    assert!(
        rows[0]["error"].contains("without an idMessage"),
        "{rows:?}"
    );
}

#[cfg(unix)] // sent a Unix signal
#[test]
fn sigterm_before_the_first_request_leaves_nothing_behind() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(3));
    // A server that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let child = dir
        .command(&[
            "send",
            "in.csv",
            "--results",
            "out.csv",
            "--api-url",
            &url,
            "--id-instance",
            "1101000001",
            "--api-token-instance",
            "0123abcd",
            "--timeout",
            "30",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Its first connection may be the look for a sandbox starting there (it only connects):
    // the run asks once its ledger is made.
    crate::util::wait_until(
        Duration::from_secs(20),
        "the run to ask the instance",
        || {
            silent.set_nonblocking(true).unwrap();
            silent.accept().is_ok() && dir.path("out.csv.ledger").exists()
        },
    );
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let run = crate::util::Run::from_output(child.wait_with_output().unwrap());
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("interrupted before anything was sent"),
        "{run:?}"
    );
    assert!(!dir.path("out.csv").exists());
    assert!(!dir.path("out.csv.ledger").exists());
}

#[test]
fn a_full_disk_under_a_workbook_is_one_clear_error_and_no_library_noise() {
    let dir = Workdir::new();
    // Every row has an error: the report is large, the disk small.
    let mut csv = String::from("chatId,phoneContact,firstName\n");
    for i in 0..20_000 {
        csv.push_str(&format!("7900{i:07},12,Name{i}\n"));
    }
    dir.write("in.csv", csv);
    let disk = SmallDisk::mount(&dir, 64);
    let report = disk.file("problems.xlsx");
    let run = dir.run(&["validate", "in.csv", "--report", &report]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("No space left on device"), "{run:?}");
    assert!(!run.stderr.contains("ZipWriter"), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 3, "one error line: {run:?}");
    let left: Vec<_> = std::fs::read_dir(&disk.path).unwrap().collect();
    assert!(left.is_empty(), "no half-written report: {left:?}");
}

#[test]
fn status_on_a_full_disk_exits_1_and_leaves_the_results_as_they_were() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(50));
    let disk = SmallDisk::mount(&dir, 512);
    let sandbox = sandbox(Faults::default());
    let results = disk.file("r.csv");
    let run = dir.send(&sandbox, &send_args("in.csv", &results, &[]));
    assert_eq!(run.code, 0, "{run:?}");
    let before = std::fs::read(&results).unwrap();
    // Every byte left taken.
    {
        use std::io::Write;
        let mut ballast = std::fs::File::create(disk.file("ballast")).unwrap();
        while ballast.write_all(&[0u8; 4096]).is_ok() {}
    }
    let run = dir.status(&sandbox, &[&results]);
    assert_eq!(run.code, 1, "a round that could not be written: {run:?}");
    assert!(run.stderr.contains("r.csv"), "names the file: {run:?}");
    assert_eq!(std::fs::read(&results).unwrap(), before);
    std::fs::remove_file(disk.file("ballast")).unwrap();
    let run = dir.status(&sandbox, &[&results]);
    assert!(run.code == 0 || run.code == 1, "{run:?}");
    assert!(!run.stderr.contains("error:"), "{run:?}");
}

/// What a run killed while it replaced the results file left beside it is removed by the
/// next run on that file; nothing else is.
#[cfg(unix)]
#[test]
fn leftovers_of_a_killed_rewrite_are_removed_by_the_next_run_and_nothing_else() {
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(2));
    let sandbox = sandbox(Faults::default());
    let run = dir.send(&sandbox, &send_args("in.csv", "r.csv", &[]));
    assert_eq!(run.code, 0, "{run:?}");
    dir.write(".r.csv.Ab12Cd.tmp", "half a results file");
    dir.write("keep.txt", "mine");
    std::os::unix::fs::symlink(dir.path("keep.txt"), dir.path(".r.csv.Zz99Yy.tmp")).unwrap();
    dir.write(".r.csv.notours.tmp", "mine");
    dir.write(".other.csv.Ab12Cd.tmp", "mine");
    let run = dir.status(&sandbox, &["r.csv"]);
    assert!(run.code == 0 || run.code == 1, "{run:?}");
    assert!(
        !dir.path(".r.csv.Ab12Cd.tmp").exists(),
        "the leftover is gone"
    );
    for kept in [
        ".r.csv.Zz99Yy.tmp",
        ".r.csv.notours.tmp",
        ".other.csv.Ab12Cd.tmp",
    ] {
        assert!(
            dir.path(kept).symlink_metadata().is_ok(),
            "{kept} is not a leftover of r.csv"
        );
    }
    assert_eq!(dir.read("keep.txt"), "mine");
}

/// A server at `--api-url` that is not GREEN-API (a web framework's 404 page, a proxy's error
/// page) and repeats the address it was asked, token and all: what it says is shown with the
/// token masked (a hostile audit's finding: the terminal and the local page showed the whole
/// token).
#[test]
fn a_server_that_repeats_the_address_it_was_asked_never_shows_the_token() {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap_or(0);
            let mut length = 0;
            let mut header = String::new();
            while reader.read_line(&mut header).unwrap_or(0) > 2 {
                if let Some(value) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                header.clear();
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap_or(());
            // Upper case too, as some pages write the address.
            let path = request.split_whitespace().nth(1).unwrap_or("/");
            let page = format!("Cannot GET {path} ({})", path.to_ascii_uppercase());
            let answer = format!(
                "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
            stream.write_all(answer.as_bytes()).unwrap_or(());
        }
    });
    let dir = Workdir::new();
    dir.write("in.csv", contacts_csv(2));
    let token = "5a4db0c2e0f1a2b3";
    let run = dir.run(&[
        "send",
        "in.csv",
        "--results",
        "out.csv",
        "--api-url",
        &url,
        "--id-instance",
        "1101000001",
        "--api-token-instance",
        token,
    ]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("Cannot GET"), "{run:?}");
    assert!(run.stderr.contains("5a4d****"), "{run:?}");
    assert!(!run.stderr.to_ascii_lowercase().contains(token), "{run:?}");
}
