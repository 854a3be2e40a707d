//! The results file: one line per input row, derived from the input and the ledger, written
//! to a temporary file beside it and renamed into place, so it is always whole. A write that
//! fails (a full disk) leaves the old file as it was and no temporary file behind.

use std::fmt;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::contact::{Checked, Severity};
use crate::input::Row;
use crate::record::ledger::{Fate, History, KeyState};
use crate::record::{Delivery, iso_utc};
use crate::validation::Verdict;

/// The fixed first columns, in order (README, "Results").
pub const COLUMNS: [&str; 9] = [
    "row",
    "status",
    "idMessage",
    "error",
    "attempts",
    "chatId",
    "phoneContact",
    "delivery",
    "deliveryAt",
];

/// An input column's name in the results file: ` (input)` appended when it is one of the
/// fixed columns' names, so no results file has two columns of one name.
pub fn input_column(name: &str) -> std::borrow::Cow<'_, str> {
    if COLUMNS.contains(&name) {
        format!("{name} (input)").into()
    } else {
        name.into()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Sent,
    Failed,
    Invalid,
    Duplicate,
    Unknown,
    Pending,
}

impl Status {
    pub(crate) const ALL: [Status; 6] = [
        Status::Sent,
        Status::Failed,
        Status::Invalid,
        Status::Duplicate,
        Status::Unknown,
        Status::Pending,
    ];

    pub(crate) fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.to_string() == text)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Sent => "sent",
            Status::Failed => "failed",
            Status::Invalid => "invalid",
            Status::Duplicate => "duplicate",
            Status::Unknown => "unknown",
            Status::Pending => "pending",
        })
    }
}

/// How many rows ended in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub sent: u64,
    pub failed: u64,
    pub invalid: u64,
    pub duplicate: u64,
    pub unknown: u64,
    pub pending: u64,
}

impl StatusCounts {
    fn add(&mut self, status: Status) {
        *match status {
            Status::Sent => &mut self.sent,
            Status::Failed => &mut self.failed,
            Status::Invalid => &mut self.invalid,
            Status::Duplicate => &mut self.duplicate,
            Status::Unknown => &mut self.unknown,
            Status::Pending => &mut self.pending,
        } += 1;
    }

    /// Rows that still need attention: the run is not complete while any remain.
    pub fn unfinished(&self) -> u64 {
        self.failed + self.unknown + self.pending
    }
}

impl fmt::Display for StatusCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} sent, {} failed, {} unknown, {} pending, {} invalid, {} duplicate",
            self.sent, self.failed, self.unknown, self.pending, self.invalid, self.duplicate
        )
    }
}

/// The status, idMessage, error, attempts and delivery of one row.
pub(crate) struct Line {
    pub(crate) status: Status,
    pub(crate) id_message: String,
    pub(crate) error: String,
    pub(crate) attempts: u32,
    pub(crate) delivery: Option<(Delivery, u64)>,
}

impl Line {
    /// Puts this line into a results line's fixed fields (all but `row`, `chatId` and
    /// `phoneContact`).
    pub(crate) fn fill(self, fields: &mut [String]) {
        fields[1] = self.status.to_string();
        fields[2] = self.id_message;
        fields[3] = self.error;
        fields[4] = self.attempts.to_string();
        let (delivery, at) = match self.delivery {
            Some((state, at)) => (state.to_string(), iso_utc(at)),
            None => (String::new(), String::new()),
        };
        fields[7] = delivery;
        fields[8] = at;
    }
}

/// The line of a sendable row, from what the ledger says of its content.
pub(crate) fn sendable_line(state: Option<&KeyState>) -> Line {
    let line = |status, id_message: &str, error: String, attempts| Line {
        status,
        id_message: id_message.to_string(),
        error,
        attempts,
        delivery: None,
    };
    let Some(state) = state else {
        return line(Status::Pending, "", String::new(), 0);
    };
    match &state.fate {
        Fate::Sent(id) => {
            let note = if state.copies > 1 {
                format!(
                    "found {} times in GREEN-API's queue and journal: it went out {} times",
                    state.copies, state.copies
                )
            } else {
                String::new()
            };
            Line {
                delivery: state.delivery,
                ..line(Status::Sent, id, note, state.attempts)
            }
        }
        Fate::Failed(e) => line(Status::Failed, "", e.clone(), state.attempts),
        Fate::Unknown(r) => line(Status::Unknown, "", r.clone(), state.attempts),
        Fate::Pending(r) => line(
            Status::Pending,
            "",
            r.clone().unwrap_or_default(),
            state.attempts,
        ),
    }
}

/// Decides a row's line from its check, its verdict and the ledger.
fn line_for(checked: &Checked, verdict: Verdict, history: &History) -> Line {
    let line = |status, id_message: &str, error: String, attempts| Line {
        status,
        id_message: id_message.to_string(),
        error,
        attempts,
        delivery: None,
    };
    match verdict {
        Verdict::Invalid => {
            let errors: Vec<String> = checked
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .map(|f| {
                    if f.value.is_empty() {
                        format!("{} {}", f.field, f.problem)
                    } else {
                        format!("{} '{}' {}", f.field, f.value, f.problem)
                    }
                })
                .collect();
            line(Status::Invalid, "", errors.join("; "), 0)
        }
        Verdict::Duplicate { of, .. } => line(
            Status::Duplicate,
            "",
            format!("duplicate of row {of}: sent once, through that row"),
            0,
        ),
        Verdict::Sendable(key) => sendable_line(history.get(key)),
    }
}

/// A results file being written: lines go to `PATH.tmp`, which [`ResultsWriter::commit`]
/// makes durable and renames over `PATH`. Dropped before that, the temporary file is removed
/// and `PATH` is left as it was.
pub(crate) struct ResultsWriter {
    path: PathBuf,
    temporary: Option<PathBuf>,
    csv: csv::Writer<BufWriter<File>>,
    counts: StatusCounts,
    fields: Vec<String>,
}

/// A failed write of the results file, and the file it concerns.
#[derive(Debug)]
pub(crate) struct WriteError {
    pub(crate) path: PathBuf,
    pub(crate) error: std::io::Error,
}

impl ResultsWriter {
    /// Starts a results file with the fixed columns and then the input's own headers.
    pub(crate) fn create(path: &Path, headers: &csv::StringRecord) -> Result<Self, WriteError> {
        let header = COLUMNS
            .iter()
            .map(|c| c.to_string())
            .chain(headers.iter().map(|h| input_column(h).into_owned()));
        ResultsWriter::with_header(path, header)
    }

    /// Starts a results file with this header row.
    pub(crate) fn with_header(
        path: &Path,
        header: impl IntoIterator<Item = String>,
    ) -> Result<Self, WriteError> {
        let temporary = temporary_path(path);
        let failed = |error| WriteError {
            path: temporary.clone(),
            error,
        };
        let file = File::create(&temporary).map_err(failed)?;
        let mut writer = ResultsWriter {
            path: path.to_path_buf(),
            temporary: Some(temporary.clone()),
            csv: csv::WriterBuilder::new()
                .flexible(true)
                .from_writer(BufWriter::with_capacity(256 * 1024, file)),
            counts: StatusCounts::default(),
            fields: Vec::with_capacity(COLUMNS.len()),
        };
        writer
            .csv
            .write_record(header)
            .map_err(|e| failed(csv_io(e)))?;
        Ok(writer)
    }

    /// Adds a line as it stands (its status in the second column), for a results file
    /// rewritten from itself.
    pub(crate) fn line(&mut self, fields: &[String]) -> Result<(), WriteError> {
        if let Some(status) = fields.get(1).and_then(|s| Status::parse(s)) {
            self.counts.add(status);
        }
        self.csv
            .write_record(fields)
            .map_err(|e| self.failed(csv_io(e)))
    }

    /// Adds one input row's line.
    pub(crate) fn row(
        &mut self,
        row: &Row,
        checked: &Checked,
        verdict: Verdict,
        history: &History,
    ) -> Result<(), WriteError> {
        let line = line_for(checked, verdict, history);
        self.counts.add(line.status);
        let fields = &mut self.fields;
        fields.clear();
        fields.push(row.number.to_string());
        fields.push(line.status.to_string());
        fields.push(line.id_message);
        fields.push(line.error);
        fields.push(line.attempts.to_string());
        match &checked.request {
            Some(request) => {
                fields.push(request.chat_id.to_string());
                fields.push(request.phone_contact.to_string());
            }
            None => fields.extend([String::new(), String::new()]),
        }
        match line.delivery {
            Some((state, at)) => {
                fields.push(state.to_string());
                fields.push(iso_utc(at));
            }
            None => fields.extend([String::new(), String::new()]),
        }
        let record = fields.iter().map(String::as_str).chain(row.cells.iter());
        self.csv
            .write_record(record)
            .map_err(|e| self.failed(csv_io(e)))
    }

    /// Makes the file durable and puts it in place; returns the counts of its lines.
    pub(crate) fn commit(mut self) -> Result<StatusCounts, WriteError> {
        let temporary = self.temporary.clone().expect("not committed yet");
        let flushed = self.csv.flush().and_then(|()| {
            let file = self.csv.get_ref().get_ref();
            file.sync_all()
        });
        flushed.map_err(|e| self.failed(e))?;
        std::fs::rename(&temporary, &self.path).map_err(|error| WriteError {
            path: self.path.clone(),
            error,
        })?;
        self.temporary = None;
        Ok(self.counts)
    }

    fn failed(&self, error: std::io::Error) -> WriteError {
        WriteError {
            path: self.temporary.clone().unwrap_or_else(|| self.path.clone()),
            error,
        }
    }
}

impl Drop for ResultsWriter {
    fn drop(&mut self) {
        if let Some(temporary) = self.temporary.take() {
            let _ = std::fs::remove_file(temporary);
        }
    }
}

fn csv_io(err: csv::Error) -> std::io::Error {
    match err.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}
