//! The README and every page under `docs/` run as written, so the documentation cannot drift
//! from the program (as trycmd does for its own markdown): in each file, in order, in one
//! work dir holding a copy of `samples/`, with an emulator's credentials in the environment
//! as a user with an account would have them:
//! - a ```` ```console ```` block: each `$ command` runs, and what it prints (stderr and
//!   stdout together) must match the lines that follow it. `[..]` in a line matches any
//!   text, a line `...` any number of lines; times of day, durations, ports, idMessages,
//!   timestamps and rates are compared by their shape. A command ending `# exits N` must
//!   exit N, any other 0.
//! - a ```` ```sh ```` block runs as one script (`set -e`); `export GREEN_API_…=…` lines
//!   with an example account (not on 127.0.0.1) are left out, the emulator's being set;
//!   `7123` is a free port.
//! - a ```` ```cron ```` line's command runs in the work dir, as cron would run it there:
//!   `/srv/crm` is the work dir, `/usr/local/bin/greenbulk` the binary, `/var/log/` a folder
//!   of the work dir; `export.csv`, `big.csv` and `crm-export.csv` are sample files. It must
//!   exit 0 or 1 (1: "something to look at", as a job finds cards still queued).
//! - `instances.csv` in the work dir lists two more emulated instances, 7103000001 and
//!   7103000002, as docs/instances.md shows the file, their tokens in `SHOP_1_TOKEN` and
//!   `SHOP_2_TOKEN`.
//! - `cargo run --release --` is the binary; `cargo test`, `cargo build` and `cargo install`
//!   are what runs this test, so they are not run again (nor compared).
//!
//! Other blocks (`text`, formats, tables) are not run.

use std::path::{Path, PathBuf};
use std::process::Command;

use regex::Regex;

use crate::util::{Config, Faults, Run, SandboxThread, Workdir, sandbox};

/// A fenced block of a markdown file.
struct Block {
    file: String,
    /// The line of its opening fence.
    line: usize,
    lang: String,
    body: Vec<String>,
}

fn blocks(file: &str, text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (number, line) in text.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(lang)) => {
                open = Some(Block {
                    file: file.to_string(),
                    line: number + 1,
                    lang: lang.trim().to_string(),
                    body: Vec::new(),
                })
            }
            (Some(_), Some(_)) => blocks.push(open.take().expect("open")),
            (Some(block), None) => block.body.push(line.to_string()),
            (None, None) => {}
        }
    }
    blocks
}

/// Where a file's blocks run.
struct Context {
    dir: Workdir,
    sandbox: SandboxThread,
    /// The instances of `instances.csv`.
    shops: [SandboxThread; 2],
    bin: PathBuf,
}

impl Context {
    fn new() -> Context {
        let dir = Workdir::new();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        std::fs::create_dir_all(dir.path("samples")).unwrap();
        for entry in std::fs::read_dir(root.join("samples")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.path("samples").join(entry.file_name())).unwrap();
        }
        for (name, sample) in [
            ("export.csv", "crm-export-ru.csv"),
            ("big.csv", "contacts-clean.csv"),
            ("crm-export.csv", "contacts-clean.csv"),
        ] {
            std::fs::copy(root.join("samples").join(sample), dir.path(name)).unwrap();
        }
        std::fs::create_dir_all(dir.path("log")).unwrap();
        let shop = |n: usize| {
            SandboxThread::start(Config {
                id_instance: format!("710300000{n}"),
                ..greenbulk::sandbox::instance(n, Faults::default())
            })
            .unwrap()
        };
        let shops = [shop(1), shop(2)];
        let mut file = String::from("apiUrl,idInstance,apiTokenInstance,name,rate\n");
        for (n, one) in (1..).zip(&shops) {
            file.push_str(&format!(
                "{},{},env:SHOP_{n}_TOKEN,shop-{n},\n",
                one.url(),
                one.config().id_instance
            ));
        }
        dir.write("instances.csv", file);
        Context {
            dir,
            sandbox: sandbox(Faults::default()),
            shops,
            bin: Path::new(env!("CARGO_BIN_EXE_greenbulk"))
                .parent()
                .unwrap()
                .to_path_buf(),
        }
    }

    /// Runs a shell script in the work dir, `greenbulk` on the path, output merged. The
    /// script runs in a process group of its own, ended with it: what it started in the
    /// background (a standalone sandbox) goes too.
    fn shell(&self, script: &str) -> Run {
        use std::os::unix::process::CommandExt;
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let config = self.sandbox.config();
        // Into a file, not a pipe: a background process holding a pipe open would keep a
        // reader waiting after the script ended.
        let printed = tempfile::tempfile().unwrap();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("exec 2>&1\n{script}"))
            .current_dir(self.dir.path(""))
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.dir.path(""))
            .env("XDG_STATE_HOME", self.dir.path("state"))
            .env("GREEN_API_URL", self.sandbox.url())
            .env("GREEN_API_ID_INSTANCE", &config.id_instance)
            .env("GREEN_API_TOKEN_INSTANCE", &config.token)
            .env("SHOP_1_TOKEN", &self.shops[0].config().token)
            .env("SHOP_2_TOKEN", &self.shops[1].config().token)
            .stdin(std::process::Stdio::null())
            .stdout(printed.try_clone().unwrap())
            .process_group(0)
            .spawn()
            .unwrap();
        let status = child.wait().unwrap();
        let _ = Command::new("kill")
            .arg("--")
            .arg(format!("-{}", child.id()))
            .stderr(std::process::Stdio::null())
            .status();
        let mut text = String::new();
        let mut printed = printed;
        std::io::Seek::seek(&mut printed, std::io::SeekFrom::Start(0)).unwrap();
        std::io::Read::read_to_string(&mut printed, &mut text).unwrap();
        Run {
            code: status.code().unwrap_or(-1),
            stdout: text,
            stderr: String::new(),
        }
    }

    /// What a run printed, with the work dir's path taken out.
    fn printed(&self, run: &Run) -> String {
        let dir = self.dir.path("").display().to_string();
        run.stdout
            .replace(&format!("{}/", dir.trim_end_matches('/')), "")
            .replace(dir.trim_end_matches('/'), ".")
    }
}

/// The values that differ from run to run, replaced by their shape.
fn shapes() -> Vec<(Regex, &'static str)> {
    [
        (
            r"\b\d{1,2}:\d{2} (today|tomorrow|on [A-Z][a-z]{2} \d{1,2} [A-Z][a-z]{2})",
            "[TIME]",
        ),
        (r"\(in [^)]*\)", "(in [DURATION])"),
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
        (r"\b[0-9A-F]{16,32}\b", "[ID]"),
        (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", "[TIMESTAMP]"),
        (r"\b\d+\.\d+/s\b", "[RATE]/s"),
        (r"\b\d+\.\d%", "[PERCENT]%"),
        (r"/tmp/\S+", "[TEMP]"),
    ]
    .into_iter()
    .map(|(pattern, shape)| (Regex::new(pattern).unwrap(), shape))
    .collect()
}

fn shaped(text: &str, shapes: &[(Regex, &str)]) -> String {
    let mut text = text.to_string();
    for (pattern, shape) in shapes {
        text = pattern.replace_all(&text, *shape).into_owned();
    }
    text
}

/// Whether `actual` lines match `expected` lines (`[..]` within a line, `...` for lines).
fn matches(expected: &[String], actual: &[String]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((first, rest)) if first.trim() == "..." => {
            (0..=actual.len()).any(|skip| matches(rest, &actual[skip..]))
        }
        Some((first, rest)) => actual
            .split_first()
            .is_some_and(|(line, others)| line_matches(first, line) && matches(rest, others)),
    }
}

fn line_matches(expected: &str, actual: &str) -> bool {
    let parts: Vec<&str> = expected.trim_end().split("[..]").collect();
    let actual = actual.trim_end();
    if parts.len() == 1 {
        return parts[0] == actual;
    }
    let Some(mut rest) = actual.strip_prefix(parts[0]) else {
        return false;
    };
    for (i, part) in parts.iter().enumerate().skip(1) {
        if i == parts.len() - 1 {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// The exit code a `$ command # exits N` line announces.
fn announced_exit(command: &str) -> i32 {
    command
        .rsplit_once("# exits ")
        .and_then(|(_, code)| code.trim().parse().ok())
        .unwrap_or(0)
}

fn run_console(context: &Context, block: &Block, shapes: &[(Regex, &str)]) -> Vec<String> {
    let mut failures = Vec::new();
    let mut commands: Vec<(usize, String, Vec<String>)> = Vec::new();
    for (offset, line) in block.body.iter().enumerate() {
        match line.strip_prefix("$ ") {
            Some(command) => commands.push((offset, command.to_string(), Vec::new())),
            None => match commands.last_mut() {
                Some((_, _, expected)) => expected.push(line.clone()),
                None => failures.push(format!(
                    "{}:{}: a console block starts with `$ command`",
                    block.file,
                    block.line + 1 + offset
                )),
            },
        }
    }
    for (offset, command, expected) in commands {
        let Some(command) = as_run(&command) else {
            continue;
        };
        let run = context.shell(&command);
        let at = format!("{}:{}: `{command}`", block.file, block.line + 1 + offset);
        let want = announced_exit(&command);
        if run.code != want {
            failures.push(format!(
                "{at} exited {} (not {want}):\n{}",
                run.code, run.stdout
            ));
            continue;
        }
        let actual: Vec<String> = shaped(&context.printed(&run), shapes)
            .lines()
            .map(str::to_string)
            .collect();
        let expected: Vec<String> = expected.iter().map(|l| shaped(l, shapes)).collect();
        if !matches(&expected, &actual) {
            failures.push(format!(
                "{at} printed\n{}\n--- but the docs say\n{}",
                actual.join("\n"),
                expected.join("\n")
            ));
        }
    }
    failures
}

/// A documented command as the harness runs it: `cargo run --release --` is the binary;
/// the other cargo commands are what runs this test (none).
fn as_run(command: &str) -> Option<String> {
    match command.strip_prefix("cargo run --release -- ") {
        Some(rest) => Some(format!("greenbulk {rest}")),
        None if command.starts_with("cargo ") => None,
        None => Some(command.to_string()),
    }
}

fn run_sh(context: &Context, block: &Block, port: u16) -> Vec<String> {
    // A line ending in `\` goes on on the next.
    let joined = block.body.join("\n").replace("\\\n", " ");
    let example_account = |line: &&str| {
        line.trim_start().starts_with("export GREEN_API") && !line.contains("127.0.0.1")
    };
    let script: Vec<String> = joined
        .lines()
        .filter(|line| !example_account(line))
        .filter_map(as_run)
        .map(|line| line.replace("7123", &port.to_string()))
        .collect();
    let run = context.shell(&format!("set -e\n{}", script.join("\n")));
    if run.code == 0 {
        Vec::new()
    } else {
        vec![format!(
            "{}:{}: the sh block exited {}:\n{}",
            block.file, block.line, run.code, run.stdout
        )]
    }
}

fn run_cron(context: &Context, block: &Block) -> Vec<String> {
    let mut failures = Vec::new();
    // A line ending in `\` goes on on the next.
    let joined = block.body.join("\n").replace("\\\n", " ");
    for line in joined.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let command: String = line
            .split_whitespace()
            .skip(5)
            .collect::<Vec<_>>()
            .join(" ");
        let command = command
            .replace("\\%", "%")
            .replace("cd /srv/crm && ", "")
            .replace("/usr/local/bin/greenbulk", "greenbulk")
            .replace("/var/log/", "log/")
            .replace(
                "GREEN_API_URL=... GREEN_API_ID_INSTANCE=... GREEN_API_TOKEN_INSTANCE=... ",
                "",
            );
        let run = context.shell(&command);
        if run.code != 0 && run.code != 1 {
            failures.push(format!(
                "{}:{}: `{command}` exited {}:\n{}{}",
                block.file,
                block.line,
                run.code,
                run.stdout,
                std::fs::read_to_string(context.dir.path("log/greenbulk.log")).unwrap_or_default()
            ));
        }
    }
    failures
}

/// Runs every block of one file; panics with every failure found.
fn runs_as_written(file: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(file)).unwrap();
    let context = Context::new();
    let shapes = shapes();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut failures = Vec::new();
    let mut ran = 0;
    for block in blocks(file, &text) {
        let found = match block.lang.as_str() {
            "console" => run_console(&context, &block, &shapes),
            "sh" => run_sh(&context, &block, port),
            "cron" => run_cron(&context, &block),
            _ => continue,
        };
        ran += 1;
        failures.extend(found);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(ran > 0 || !text.contains("```"), "{file}: nothing ran");
}

#[test]
fn the_harness_matches_lines_and_shapes() {
    let lines = |text: &str| -> Vec<String> { text.lines().map(str::to_string).collect() };
    assert!(matches(&lines("a\n...\nd"), &lines("a\nb\nc\nd")));
    assert!(matches(&lines("a [..] c"), &lines("a b b c")));
    assert!(!matches(&lines("a\nc"), &lines("a\nb\nc")));
    assert!(!matches(&lines("a [..] c"), &lines("a b d")));
    let shapes = shapes();
    assert_eq!(
        shaped("leaves about 10:42 tomorrow (in 10 h 18 min)", &shapes),
        shaped("leaves about 05:53 today (in 3 s)", &shapes)
    );
    assert_eq!(announced_exit("greenbulk validate x.csv  # exits 3"), 3);
}

/// One test per page, so that they run side by side.
macro_rules! pages {
    ($($test:ident => $file:literal,)*) => {
        $(
            #[test]
            fn $test() {
                runs_as_written($file);
            }
        )*

        #[test]
        fn every_page_under_docs_is_run() {
            let listed = [$($file),*];
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            for entry in std::fs::read_dir(root.join("docs")).unwrap() {
                let name = format!("docs/{}", entry.unwrap().file_name().to_string_lossy());
                if name.ends_with(".md") {
                    assert!(listed.contains(&name.as_str()), "{name} is not run by a test");
                }
            }
        }
    };
}

pages! {
    readme => "README.md",
    input => "docs/input.md",
    validation => "docs/validation.md",
    sending => "docs/sending.md",
    results => "docs/results.md",
    never_twice => "docs/never-twice.md",
    instances => "docs/instances.md",
    safety => "docs/safety.md",
    ui_page => "docs/ui.md",
    delivery => "docs/delivery.md",
    cron => "docs/cron.md",
    sandbox_page => "docs/sandbox.md",
    troubleshooting => "docs/troubleshooting.md",
    choices => "docs/choices.md",
    development => "docs/development.md",
}
