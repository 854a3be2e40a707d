//! The shared test harness: a temporary work dir, fixture writers for CSV and XLSX, the real
//! binary run with a scrubbed environment, and results files read back.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use greenbulk::sandbox::{Config, Faults, SandboxThread};

pub struct Workdir {
    dir: tempfile::TempDir,
}

/// A finished run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A cell of an XLSX fixture.
pub enum Cell<'a> {
    Text(&'a str),
    Number(f64),
    Empty,
}

impl Workdir {
    pub fn new() -> Workdir {
        Workdir {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("fixture written");
        path
    }

    pub fn write_xlsx(&self, name: &str, sheets: &[(&str, Vec<Vec<Cell>>)]) -> PathBuf {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        for (sheet_name, rows) in sheets {
            let sheet = workbook.add_worksheet();
            sheet.set_name(*sheet_name).expect("sheet name");
            for (r, row) in rows.iter().enumerate() {
                for (c, cell) in row.iter().enumerate() {
                    let (r, c) = (r as u32, c as u16);
                    match cell {
                        Cell::Text(t) => sheet.write_string(r, c, *t).map(|_| ()),
                        Cell::Number(n) => sheet.write_number(r, c, *n).map(|_| ()),
                        Cell::Empty => Ok(()),
                    }
                    .expect("cell written");
                }
            }
        }
        let path = self.path(name);
        workbook.save(&path).expect("workbook saved");
        path
    }

    /// The binary with an empty environment (but PATH), run in the work dir.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_greenbulk"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null());
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from_output(self.command(args).output().expect("the binary runs"))
    }

    /// Runs `send` against an emulator with its credentials in the environment.
    pub fn send(&self, sandbox: &SandboxThread, args: &[&str]) -> Run {
        Run::from_output(
            self.send_command(sandbox, args)
                .output()
                .expect("the binary runs"),
        )
    }

    pub fn send_command(&self, sandbox: &SandboxThread, args: &[&str]) -> Command {
        let mut all = vec!["send"];
        all.extend_from_slice(args);
        let mut command = self.command(&all);
        command
            .env("GREEN_API_URL", sandbox.url())
            .env("GREEN_API_ID_INSTANCE", &sandbox.config().id_instance)
            .env("GREEN_API_TOKEN_INSTANCE", &sandbox.config().token);
        command
    }

    pub fn spawn_send(&self, sandbox: &SandboxThread, args: &[&str]) -> Child {
        self.send_command(sandbox, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts")
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).expect("file readable")
    }
}

/// A CSV file as rows of named fields (first header wins for repeated names).
pub fn read_records(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .expect("CSV readable");
    let headers = reader.headers().expect("a header").clone();
    reader
        .records()
        .map(|record| {
            let record = record.expect("a record");
            let mut map = HashMap::new();
            for (name, value) in headers.iter().zip(record.iter()) {
                map.entry(name.to_string())
                    .or_insert_with(|| value.to_string());
            }
            map
        })
        .collect()
}

/// The CSV header of a file.
pub fn read_header(path: &Path) -> Vec<String> {
    let mut reader = csv::Reader::from_path(path).expect("CSV readable");
    reader
        .headers()
        .expect("a header")
        .iter()
        .map(str::to_string)
        .collect()
}

/// `count` distinct, valid contact rows (canonical headers), one per line.
pub fn contacts_csv(count: usize) -> String {
    let mut csv = String::from("chatId,phoneContact,firstName,lastName,company\n");
    for i in 0..count {
        csv.push_str(&format!(
            "7916{:07},7903{:07},Name{i},Surname{i},Company {i}\n",
            1_000_000 + i,
            2_000_000 + i
        ));
    }
    csv
}

/// An emulator with these faults and default credentials.
pub fn sandbox(faults: Faults) -> SandboxThread {
    SandboxThread::start(Config {
        faults,
        ..Config::default()
    })
    .expect("the emulator starts")
}

/// Waits (polling) until `condition` holds, or panics after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How often each (chatId, phoneContact, names) was accepted by the emulator.
pub fn deliveries(sandbox: &SandboxThread) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for message in sandbox.outgoing() {
        let key = format!(
            "{}|{}|{}",
            message.chat_id, message.phone_contact, message.contact.vcard
        );
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

/// Every contact card reached its chat at most once.
pub fn assert_no_double_delivery(sandbox: &SandboxThread) {
    let twice: Vec<_> = deliveries(sandbox)
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
}
