//! The results file: one line per input row, derived from the input and the ledger, written
//! to a temporary file and renamed into place so it is always whole.

use std::fmt;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::contact::{Checked, Severity};
use crate::input::{Row, Table};
use crate::ledger::{Fate, History};
use crate::validation::{self, Verdict};

/// The fixed first columns, in order (SPEC.md).
pub const COLUMNS: [&str; 7] = [
    "row",
    "status",
    "idMessage",
    "error",
    "attempts",
    "chatId",
    "phoneContact",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Sent,
    Failed,
    Invalid,
    Duplicate,
    Unknown,
    Pending,
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

/// The status, idMessage, error and attempts of one row.
pub struct Line {
    pub status: Status,
    pub id_message: String,
    pub error: String,
    pub attempts: u32,
}

/// Decides a row's line from its check, its verdict and the ledger.
pub fn line_for(checked: &Checked, verdict: Verdict, history: &History) -> Line {
    let line = |status, id_message: &str, error: String, attempts| Line {
        status,
        id_message: id_message.to_string(),
        error,
        attempts,
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
        Verdict::Sendable(key) => match history.get(key) {
            None => line(Status::Pending, "", String::new(), 0),
            Some(state) => match &state.fate {
                Fate::Sent(id) => line(Status::Sent, id, String::new(), state.attempts),
                Fate::Failed(e) => line(Status::Failed, "", e.clone(), state.attempts),
                Fate::Unknown(r) => line(Status::Unknown, "", r.clone(), state.attempts),
                Fate::Pending(r) => line(
                    Status::Pending,
                    "",
                    r.clone().unwrap_or_default(),
                    state.attempts,
                ),
            },
        },
    }
}

/// Writes the whole results file from the input and the ledger; returns the counts.
pub fn write(path: &Path, table: &mut Table, history: &History) -> anyhow::Result<StatusCounts> {
    let temporary = temporary_path(path);
    let file = File::create(&temporary)
        .with_context(|| format!("cannot write the results file {}", temporary.display()))?;
    let mut writer = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(BufWriter::with_capacity(256 * 1024, file));
    let mut header: Vec<&str> = COLUMNS.to_vec();
    header.extend(table.headers.iter());
    writer.write_record(&header)?;

    let mut counts = StatusCounts::default();
    let mut fields: Vec<String> = Vec::new();
    validation::walk(table, |row: &Row, checked, verdict| -> anyhow::Result<()> {
        let line = line_for(checked, verdict, history);
        counts.add(line.status);
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
            None => {
                fields.push(String::new());
                fields.push(String::new());
            }
        }
        writer.write_record(fields.iter().map(String::as_str).chain(row.cells.iter()))?;
        Ok(())
    })?;
    let file = writer
        .into_inner()
        .map_err(|e| e.into_error())?
        .into_inner()
        .map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot replace the results file {}", path.display()))?;
    Ok(counts)
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}
