//! What the page works on: a job is one input file in `--dir` with the way to read it; its
//! check (counts, the rows with problems, the plan), its run (a send session in the
//! background, whose progress every open tab follows), and what became of its cards. The
//! files are the CLI's: the results file and its ledger sit beside the input, so a run
//! started here is resumed from the terminal and the other way round.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use crate::cmd::progress::Display;
use crate::cmd::send::Printer;
use crate::contact::Severity;
use crate::delivery::status::{StatusOptions, StatusTarget, Until};
use crate::input::Field;
use crate::input::{FieldMapping, FieldSetting, InputError, InputOptions, RowNumber, Table};
use crate::lock;
use crate::record::StatusCounts;
use crate::send::schedule::Schedule;
use crate::send::{
    Cancel, Event, Note, Outcome, RowOutcome, SendError, SendOptions, Session, Settings, Stop,
    Target,
};
use crate::validation::{self, Tally, Verdict};

/// The most rows with problems the Check step shows (the report has them all).
pub(super) const PROBLEMS_SHOWN: usize = 50;

/// The most characters of a cell the page shows (and keeps) for a row with problems; the
/// report has them whole.
const SHOWN_CHARS: usize = 200;

/// What the page writes beside an input, by the word in its name (see [`beside`]): no
/// upload takes such a name (`handlers::safe_name`).
pub(super) const RESULTS: &str = "results";
pub(super) const PROBLEMS: &str = "problems";
pub(super) const WRITTEN_BESIDE: [&str; 2] = [RESULTS, PROBLEMS];

/// The problems table shows the columns read for the card and the first of the others, up
/// to this many in all: a file of thousands of columns made a page no browser could show.
const COLUMNS_SHOWN: usize = 24;

/// `text`, cut after `chars` characters with an ellipsis.
fn at_most(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// How to read an input: the CLI's input flags, as the Columns step sets them.
#[derive(Debug, Clone, Default)]
pub(super) struct Reading {
    pub(super) sheet: Option<String>,
    pub(super) mappings: Vec<FieldMapping>,
    pub(super) settings: Vec<FieldSetting>,
    pub(super) encoding: Option<&'static encoding_rs::Encoding>,
    pub(super) country: Option<crate::contact::Country>,
}

/// One input file and what was done with it.
pub(super) struct Job {
    pub(super) id: String,
    /// The input's file name in `--dir`.
    pub(super) name: String,
    pub(super) input: PathBuf,
    pub(super) reading: Mutex<Reading>,
    pub(super) checked: Mutex<Option<Checked>>,
    pub(super) run: Mutex<Option<Arc<Run>>>,
    pub(super) delivery: Mutex<Option<Delivery>>,
}

impl Job {
    pub(super) fn new(id: String, input: PathBuf) -> Job {
        let name = input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Job {
            id,
            name,
            input,
            reading: Mutex::new(Reading::default()),
            checked: Mutex::new(None),
            run: Mutex::new(None),
            delivery: Mutex::new(None),
        }
    }

    pub(super) fn options(&self) -> InputOptions {
        let reading = lock(&self.reading).clone();
        InputOptions {
            path: self.input.clone(),
            sheet: reading.sheet,
            mappings: reading.mappings,
            settings: reading.settings,
            encoding: reading.encoding,
            country: reading.country,
        }
    }

    /// `contacts.csv` → `contacts-results.csv`, beside it (`contacts.xlsx` →
    /// `contacts-xlsx-results.csv`).
    pub(super) fn results(&self) -> PathBuf {
        self.beside(RESULTS, "csv")
    }

    /// `contacts.csv` → `contacts-problems.xlsx`, beside it (`contacts.xlsx` →
    /// `contacts-xlsx-problems.xlsx`).
    pub(super) fn report(&self) -> PathBuf {
        self.beside(PROBLEMS, "xlsx")
    }

    fn beside(&self, what: &str, extension: &str) -> PathBuf {
        beside(&self.input, what, extension)
    }

    /// The terminal command that continues this job's run: each word quoted for a POSIX
    /// shell, one with control or direction characters as `$'…'` (bash, zsh) so that it reads
    /// as it is. None when a word cannot be given to a command at all (a NUL).
    pub(super) fn resume_command(&self, sandbox: bool) -> Option<String> {
        let mut words = vec![
            "greenbulk".to_string(),
            "send".into(),
            self.input.to_string_lossy().into_owned(),
        ];
        let reading = lock(&self.reading).clone();
        if let Some(sheet) = reading.sheet {
            words.extend(["--sheet".into(), sheet]);
        }
        for mapping in reading.mappings {
            words.extend([
                "--map".into(),
                format!("{}={}", mapping.field.name(), mapping.header),
            ]);
        }
        for setting in reading.settings {
            words.extend([
                "--set".into(),
                format!("{}={}", setting.field.name(), setting.value),
            ]);
        }
        if let Some(encoding) = reading.encoding {
            words.extend(["--encoding".into(), encoding.name().to_string()]);
        }
        if let Some(country) = reading.country {
            words.extend(["--country".into(), country.to_string()]);
        }
        words.extend([
            "--results".into(),
            self.results().to_string_lossy().into_owned(),
            "--resume".into(),
            "--skip-invalid".into(),
        ]);
        if sandbox {
            words.push("--sandbox".into());
        }
        let quoted: Option<Vec<String>> = words
            .iter()
            .map(|w| crate::cmd::invocation::shell_word(w))
            .collect();
        Some(quoted?.join(" "))
    }
}

/// What the Check step found.
#[derive(Debug, Clone)]
pub(super) struct Checked {
    pub(super) tally: Tally,
    pub(super) format: String,
    /// How each field was mapped (`chatId ← 'Phone'`).
    pub(super) columns: Vec<String>,
    pub(super) warnings: Vec<String>,
    /// The headers of the columns the problems table shows (see [`COLUMNS_SHOWN`]), cut
    /// as its cells are.
    pub(super) headers: Vec<String>,
    /// How many columns it leaves out.
    pub(super) columns_left_out: usize,
    /// The first rows with errors, as the spreadsheet numbers them.
    pub(super) problems: Vec<Problem>,
    /// Whether the report of every finding was written (its path is [`Job::report`]).
    pub(super) report: bool,
    /// What sending would do: the plan's lines, or why it cannot go as it is.
    pub(super) plan: Vec<String>,
    pub(super) plan_error: Option<String>,
    /// The rows a run would send.
    pub(super) to_send: Option<u64>,
    /// The file as it was checked (its size and time): a file changed since is checked again.
    pub(super) file: Option<(u64, std::time::SystemTime)>,
}

/// A file's size and modification time, to tell whether it changed.
pub(super) fn stamp(path: &Path) -> Option<(u64, std::time::SystemTime)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.len(), metadata.modified().ok()?))
}

/// A row with errors: its cells, and each failing cell's message (by column).
#[derive(Debug, Clone)]
pub(super) struct Problem {
    pub(super) row: RowNumber,
    pub(super) cells: Vec<String>,
    pub(super) marks: Vec<(usize, String)>,
    /// Messages that concern no one cell (the row has no name at all, say).
    pub(super) other: Vec<String>,
}

/// Why a check could not be made.
pub(super) enum CheckError {
    /// The columns do not say which is which: the Columns step.
    Columns(String),
    /// The file itself cannot be read.
    File(String),
}

/// A name beside `input`: a CSV file's stem, any other file's stem and extension, so that
/// `list.csv` and `list.xlsx` never share a results file (or its ledger). Two names can still
/// lead to one (`list.csv` and `list.CSV`, `book.xlsx` and `book-xlsx.csv`): the page keeps
/// an upload under a name of its own results, and opens no file whose results another file
/// in the folder would share (see `handlers::upload` and `handlers::open`).
pub(super) fn beside(input: &Path, what: &str, extension: &str) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "input".into());
    let stem = match input.extension().map(|e| e.to_string_lossy()) {
        Some(e) if !e.eq_ignore_ascii_case("csv") => format!("{stem}-{e}"),
        _ => stem,
    };
    input.with_file_name(format!("{stem}-{what}.{extension}"))
}

/// Checks every row (the CLI's validation pass), keeps the first rows with problems and
/// writes the report of every finding beside the input. Blocking.
pub(super) fn check_rows(job: &Job) -> Result<Checked, CheckError> {
    let file = stamp(&job.input);
    let options = job.options();
    let mut table = Table::open(&options).map_err(|e| match e {
        InputError::Columns { .. } => CheckError::Columns(e.to_string()),
        other => CheckError::File(other.to_string()),
    })?;
    let columns = table.columns.clone();
    // The columns read for the card, and the others from the left, in file order.
    let card: Vec<usize> = Field::ALL.iter().filter_map(|f| columns.get(*f)).collect();
    let mut shown: Vec<usize> = (0..table.headers.len())
        .filter(|c| !card.contains(c))
        .take(COLUMNS_SHOWN.saturating_sub(card.len()))
        .chain(card.iter().copied())
        .collect();
    shown.sort_unstable();
    shown.dedup();
    let headers: Vec<String> = shown
        .iter()
        .map(|c| at_most(table.headers.get(*c).unwrap_or_default(), SHOWN_CHARS))
        .collect();
    let columns_left_out = table.headers.len().saturating_sub(shown.len());
    let report_path = job.report();
    // A file of that name that greenbulk did not write stays as it is: no report then.
    let report = crate::record::outputs::check_report("--report", &report_path, &job.input).is_ok();
    let mut findings = crate::report::Findings::new(report.then_some(report_path.as_path()))
        .map_err(|e| CheckError::File(e.to_string()))?;
    let mut problems = Vec::new();
    let mut unwritten: Option<String> = None;
    let tally = validation::walk::<InputError>(&mut table, |row, checked, verdict| {
        if verdict == Verdict::Invalid && problems.len() < PROBLEMS_SHOWN {
            let mut marks = Vec::new();
            let mut other = Vec::new();
            for finding in checked
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
            {
                let column = Field::ALL
                    .iter()
                    .find(|field| field.name() == finding.field)
                    .and_then(|field| columns.get(*field));
                let problem = at_most(&finding.problem, SHOWN_CHARS * 2);
                match column.and_then(|c| shown.iter().position(|s| *s == c)) {
                    Some(place) => marks.push((place, problem)),
                    None => other.push(format!("{} {problem}", finding.field)),
                }
            }
            problems.push(Problem {
                row: row.number,
                cells: shown
                    .iter()
                    .map(|c| at_most(row.cells.get(*c).unwrap_or_default(), SHOWN_CHARS))
                    .collect(),
                marks,
                other,
            });
        }
        if let Err(e) = findings.add(row.number, &checked.findings) {
            // The rows are still checked; the page says why the report is left off.
            unwritten.get_or_insert(format!("{e:#}"));
            if let Ok(none) = crate::report::Findings::new(None) {
                findings = none;
            }
        }
        Ok(())
    })
    .map_err(|e| CheckError::File(e.to_string()))?;
    if let Err(e) = findings.finish() {
        unwritten.get_or_insert(format!("{e:#}"));
    }
    let mut warnings = table.warnings.clone();
    if let Some(why) = &unwritten {
        warnings.push(format!(
            "the report of every finding was not written: {why}"
        ));
    }
    Ok(Checked {
        tally,
        format: table.format.to_string(),
        columns: table.columns.notes.clone(),
        warnings,
        headers,
        columns_left_out,
        problems,
        report: report && unwritten.is_none(),
        plan: Vec::new(),
        plan_error: None,
        to_send: None,
        file,
    })
}

/// What sending would do, asked of the instance without sending (a dry run): the plan's
/// lines, and how many rows go; or why it cannot go as it is.
pub(super) async fn plan(
    job: &Job,
    target: Target,
    state_dir: &Path,
    limit: Option<u64>,
) -> (Vec<String>, Option<String>, Option<u64>) {
    let mut options = send_options(job, target, state_dir);
    options.dry_run = true;
    options.limit = limit;
    let (session, mut events) = Session::new(options);
    let outcome = session.run(Cancel::new()).await;
    let mut words = words();
    let mut lines = Vec::new();
    while let Ok(event) = events.try_recv() {
        match event {
            Event::Instances { instances } => words.instances = instances,
            Event::Note(note) if shown(&note) => {
                lines.extend(words.note_lines(note).into_iter().map(plain))
            }
            _ => {}
        }
    }
    match outcome {
        Ok(Outcome::DryRun(dry)) => (lines, None, Some(dry.to_send)),
        Ok(Outcome::Invalid { tally }) => (lines, None, Some(tally.sendable)),
        Ok(Outcome::Finished(_)) => (lines, None, None),
        Err(SendError::QueueFull { plan, fitting, .. }) => (
            lines,
            Some(format!(
                "{} cards cannot all leave the instance's queue within 24 hours (it sends one \
                 every {:.1} s); {fitting} fit now: give that limit, and send the rest on the \
                 next days",
                plan.cards,
                plan.delay.as_secs_f64()
            )),
            None,
        ),
        Err(error) => (lines, Some(error.to_string()), None),
    }
}

/// The terminal's words for what a session tells, for the page.
fn words() -> Printer {
    Printer {
        display: Display::Lines {
            every: Duration::from_secs(5),
        },
        progress: None,
        instances: Vec::new(),
    }
}

/// A terminal line as the page says it: without `greenbulk: ` in front, as a sentence.
fn plain(line: String) -> String {
    let line = line
        .strip_prefix("greenbulk: ")
        .unwrap_or(&line)
        .trim_start();
    let mut chars = line.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Whether the page shows a note: not the sandbox's port, which means nothing there.
fn shown(note: &Note) -> bool {
    !matches!(note, Note::Sandbox { .. })
}

/// The CLI's options for this job: the page's defaults are the CLI's, with `--resume` (a
/// run goes on where the last one stopped, from the page or the terminal) and
/// `--skip-invalid` (the rows with problems are shown, and the others go).
pub(super) fn send_options(job: &Job, target: Target, state_dir: &Path) -> SendOptions {
    SendOptions {
        input: job.options(),
        results: job.results(),
        target,
        settings: Settings {
            rate: "10/s".parse().expect("a rate"),
            concurrency: 32,
            max_attempts: 5,
            backoff: Duration::from_millis(500),
            state_every: Some(Duration::from_secs(5)),
        },
        timeout: Duration::from_secs(30),
        resume: true,
        retry_unknown: false,
        resend_changed: false,
        again: false,
        skip_invalid: true,
        dry_run: false,
        limit: None,
        queue_ttl: crate::delivery::QUEUE_TTL,
        state_dir: state_dir.to_path_buf(),
        reassign: false,
        schedule: Schedule::default(),
        started_at: None,
    }
}

/// A send running in the background: what every tab shows of it, told to each as it
/// changes; its Stop.
pub(super) struct Run {
    pub(super) state: Mutex<RunState>,
    pub(super) updates: broadcast::Sender<String>,
    pub(super) cancel: Cancel,
    /// True once the run has ended and its results file is written.
    pub(super) ended: tokio::sync::watch::Sender<bool>,
}

/// How many outcomes the page lists, the newest first.
const LAST_SHOWN: usize = 8;

#[derive(Debug, Clone)]
pub(super) struct RunState {
    pub(super) total: u64,
    pub(super) sent: u64,
    pub(super) failed: u64,
    pub(super) unknown: u64,
    pub(super) retries: u64,
    pub(super) taken: u64,
    pub(super) started: Instant,
    /// The newest outcomes: row and what became of it.
    pub(super) last: VecDeque<(RowNumber, String)>,
    /// What the run told (the plan, warnings …), in order.
    pub(super) lines: Vec<String>,
    /// Set when it ended: what the results file says, or why it stopped.
    pub(super) finished: Option<Ended>,
}

#[derive(Debug, Clone)]
pub(super) struct Ended {
    pub(super) counts: Option<StatusCounts>,
    /// Why it ended early, if it did (Stop, GREEN-API, an error).
    pub(super) stopped: Option<String>,
    /// Whether the results file exists (a run that sent nothing leaves none).
    pub(super) results: bool,
}

impl RunState {
    fn done(&self) -> u64 {
        self.sent + self.failed + self.unknown + self.taken
    }

    /// The state as the page's script reads it (the same figures the page is drawn with).
    pub(super) fn to_json(&self) -> String {
        let elapsed = self.started.elapsed().as_secs_f64().max(0.001);
        let done = self.done();
        let rate = done as f64 / elapsed;
        let eta = (rate > 0.0 && done < self.total)
            .then(|| ((self.total - done) as f64 / rate).round() as u64);
        serde_json::json!({
            "total": self.total,
            "done": done,
            "sent": self.sent,
            "failed": self.failed,
            "unknown": self.unknown,
            "retries": self.retries,
            "rate": (rate * 10.0).round() / 10.0,
            "eta": eta,
            "last": self.last.iter().map(|(row, what)| format!("row {row}: {what}")).collect::<Vec<_>>(),
            "finished": self.finished.is_some(),
        })
        .to_string()
    }
}

impl Run {
    fn new() -> Run {
        Run {
            state: Mutex::new(RunState {
                total: 0,
                sent: 0,
                failed: 0,
                unknown: 0,
                retries: 0,
                taken: 0,
                started: Instant::now(),
                last: VecDeque::new(),
                lines: Vec::new(),
                finished: None,
            }),
            updates: broadcast::channel(64).0,
            cancel: Cancel::new(),
            ended: tokio::sync::watch::channel(false).0,
        }
    }

    fn tell(&self) {
        let json = lock(&self.state).to_json();
        // No tab listening is fine: the run goes on.
        let _ = self.updates.send(json);
    }
}

/// Starts a send of the job in the background; its progress is on the returned run.
pub(super) fn start(options: SendOptions) -> Arc<Run> {
    let run = Arc::new(Run::new());
    let running = run.clone();
    tokio::spawn(async move {
        let (session, mut events) = Session::new(options);
        let mut handle = tokio::spawn(session.run(running.cancel.clone()));
        let mut words = words();
        let outcome = loop {
            tokio::select! {
                Some(event) = events.recv() => apply(&running, &mut words, event),
                done = &mut handle => break done,
            }
        };
        while let Ok(event) = events.try_recv() {
            apply(&running, &mut words, event);
        }
        let ended = match outcome {
            Ok(Ok(Outcome::Finished(finished))) => Ended {
                counts: finished.counts.as_ref().ok().copied(),
                stopped: match &finished.stop {
                    Stop::Finished => None,
                    Stop::Interrupted => Some(
                        "stopped: the requests in flight were finished and recorded; Send \
                         again goes on where it stopped"
                            .into(),
                    ),
                    Stop::Fatal(why) => Some(format!("GREEN-API stopped the run: {why}")),
                    Stop::Fault(why) => Some(format!("stopped: {why}")),
                    Stop::Held(why) => Some(why.clone()),
                },
                results: finished.results_kept,
            },
            Ok(Ok(Outcome::Invalid { tally })) => Ended {
                counts: None,
                stopped: Some(if tally.swallowing > 0 {
                    super::pages::SWALLOWING_WORDS.to_string()
                } else {
                    format!(
                        "nothing was sent: {} rows have errors and none can be sent",
                        tally.invalid
                    )
                }),
                results: false,
            },
            Ok(Ok(Outcome::DryRun(_))) => Ended {
                counts: None,
                stopped: None,
                results: false,
            },
            Ok(Err(error)) => Ended {
                counts: None,
                stopped: Some(error.to_string()),
                results: false,
            },
            Err(panicked) => Ended {
                counts: None,
                stopped: Some(format!("the run failed: {panicked}")),
                results: false,
            },
        };
        lock(&running.state).finished = Some(ended);
        running.tell();
        running.ended.send_replace(true);
    });
    run
}

fn apply(run: &Run, words: &mut Printer, event: Event) {
    {
        let mut state = lock(&run.state);
        match event {
            Event::Instances { instances } => words.instances = instances,
            Event::Note(note) if shown(&note) => state
                .lines
                .extend(words.note_lines(note).into_iter().map(plain)),
            Event::Sending { total } => {
                state.total = total;
                state.started = Instant::now();
            }
            Event::Row { row, outcome, .. } => {
                let what = match &outcome {
                    RowOutcome::Sent { .. } => {
                        state.sent += 1;
                        "sent".to_string()
                    }
                    RowOutcome::Failed { error } => {
                        state.failed += 1;
                        format!("failed: {error}")
                    }
                    RowOutcome::Unknown { reason } => {
                        state.unknown += 1;
                        format!("unknown: {reason}")
                    }
                    RowOutcome::Retrying { reason } => {
                        state.retries += 1;
                        format!("will retry: {reason}")
                    }
                    RowOutcome::Taken => {
                        state.taken += 1;
                        "already sent (or on its way) from this machine".to_string()
                    }
                };
                state.last.push_front((row, what));
                state.last.truncate(LAST_SHOWN);
            }
            Event::Note(_) | Event::Source(_) | Event::Validated { .. } | Event::Sent => {}
        }
    }
    run.tell();
}

/// What became of the job's cards, as `greenbulk status` found it.
#[derive(Debug, Clone)]
pub(super) struct Delivery {
    /// Sent cards by state (`delivered`, `read` …).
    pub(super) states: Vec<(String, u64)>,
    pub(super) error: Option<String>,
}

/// Runs one `status` round on the job's results file. Blocking.
pub(super) fn status(job: &Job, target: StatusTarget, state_dir: &Path) -> Delivery {
    let options = StatusOptions {
        results: job.results(),
        target,
        timeout: Duration::from_secs(30),
        watch: None,
        until: Until::Delivered,
        queue_ttl: crate::delivery::QUEUE_TTL,
        asked_per_round: crate::delivery::observe::ASKED_PER_ROUND,
        asking_per_round: crate::delivery::observe::ASKING_AT_MOST,
        parts: None,
        state_dir: state_dir.to_path_buf(),
    };
    match crate::delivery::status::run(&options, &mut |_| {}) {
        Ok(round) => Delivery {
            states: round
                .states
                .iter()
                .map(|(state, count)| (state.to_string(), *count))
                .collect(),
            error: None,
        },
        Err(error) => Delivery {
            states: Vec::new(),
            error: Some(error.to_string()),
        },
    }
}

/// The results file as a workbook, for the download: the same lines, typed and coloured.
pub(super) fn results_workbook(job: &Job, into: &Path) -> anyhow::Result<()> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(job.results())?;
    let mut records = reader.records();
    let header: Vec<String> = match records.next() {
        Some(header) => header?.iter().map(str::to_string).collect(),
        None => anyhow::bail!("the results file is empty"),
    };
    let mut writer = crate::record::results::ResultsWriter::with_header(
        into,
        header,
        crate::record::About::default(),
    )
    .map_err(|e| anyhow::anyhow!("{}", e.error))?;
    for record in records {
        let line: Vec<String> = record?.iter().map(str::to_string).collect();
        writer
            .line(&line)
            .map_err(|e| anyhow::anyhow!("{}", e.error))?;
    }
    writer
        .commit()
        .map_err(|e| anyhow::anyhow!("{}", e.error))?;
    Ok(())
}
