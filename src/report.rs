//! What `validate` (and `send`, before sending) tells a person: a short summary on stderr,
//! and optionally every finding as CSV, or as a workbook for a path ending `.xlsx`. A report on stdout that nobody reads any more
//! (`--report - | head -1`) stops being written; the run goes on to its own end.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::contact::{Finding, Severity};
use crate::input::RowNumber;
use crate::record::outputs::REPORT_COLUMNS;
use crate::send::Source;
use crate::sheet::{Cell, SheetError, SheetWriter, Tone, workbook_path};
use crate::term::{say, shown, shown_path};
use crate::validation::Tally;

/// How many findings the summary shows before pointing at the report.
const SHOWN: usize = 10;

/// Where the report goes: CSV (a file or stdout), or a workbook for a path ending `.xlsx`.
enum Report {
    Csv(Box<csv::Writer<Box<dyn Write>>>),
    Xlsx {
        sheet: Box<SheetWriter>,
        path: std::path::PathBuf,
    },
}

/// Collects findings as the pass goes: writes each to the report, keeps the first few.
pub(crate) struct Findings {
    report: Option<Report>,
    first: Vec<(RowNumber, Finding)>,
    /// Where a report file is written until it is whole.
    placement: Option<Placement>,
    /// The report as messages name it.
    shown: String,
}

/// A report written beside its path and renamed into place once whole, so that a failed
/// write (a full disk) leaves neither half a report nor an earlier one damaged.
struct Placement {
    temporary: std::path::PathBuf,
    path: std::path::PathBuf,
    placed: bool,
}

impl Placement {
    /// Where to write `path`: beside it, or (a device such as `/dev/stdout`, a pipe) into it.
    fn of(path: &Path) -> Option<Placement> {
        let special = std::fs::metadata(path).is_ok_and(|meta| !meta.is_file());
        (!special).then(|| {
            let mut temporary = path.as_os_str().to_owned();
            temporary.push(".tmp");
            Placement {
                temporary: temporary.into(),
                path: path.to_path_buf(),
                placed: false,
            }
        })
    }

    fn place(&mut self) -> std::io::Result<()> {
        std::fs::rename(&self.temporary, &self.path)?;
        self.placed = true;
        Ok(())
    }
}

impl Drop for Placement {
    fn drop(&mut self) {
        if !self.placed {
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

impl Findings {
    /// `report`: a path, `-` for stdout, or none.
    pub(crate) fn new(report: Option<&Path>) -> anyhow::Result<Findings> {
        let shown = match report {
            Some(path) if path.as_os_str() == "-" => "on stdout".to_string(),
            Some(path) => shown_path(path),
            None => String::new(),
        };
        let placement = report
            .filter(|path| path.as_os_str() != "-")
            .and_then(Placement::of);
        let written = |path: &Path| -> std::path::PathBuf {
            placement
                .as_ref()
                .map_or_else(|| path.to_path_buf(), |p| p.temporary.clone())
        };
        let report = match report {
            None => None,
            Some(path)
                if path.as_os_str() != "-"
                    && workbook_path(path).map_err(|e| anyhow::anyhow!("--report: {e}"))? =>
            {
                Some(Report::Xlsx {
                    sheet: Box::new(SheetWriter::new("Findings", &REPORT_COLUMNS)?),
                    path: written(path),
                })
            }
            Some(path) => {
                let out: Box<dyn Write> = if path.as_os_str() == "-" {
                    Box::new(std::io::stdout().lock())
                } else {
                    Box::new(std::io::BufWriter::new(
                        std::fs::File::create(written(path)).with_context(|| {
                            format!("cannot create the report {}", shown_path(path))
                        })?,
                    ))
                };
                let mut writer = csv::Writer::from_writer(out);
                writer.write_record(REPORT_COLUMNS)?;
                Some(Report::Csv(Box::new(writer)))
            }
        };
        Ok(Findings {
            report,
            first: Vec::new(),
            placement,
            shown,
        })
    }

    pub(crate) fn add(&mut self, row: RowNumber, findings: &[Finding]) -> anyhow::Result<()> {
        for f in findings {
            let (row_text, severity) = (row.to_string(), f.severity.to_string());
            let written = match &mut self.report {
                None => Ok(()),
                Some(Report::Csv(w)) => w
                    .write_record([row_text.as_str(), &severity, f.field, &f.value, &f.problem])
                    .map_err(csv_io),
                Some(Report::Xlsx { sheet, .. }) => {
                    let tone = match f.severity {
                        Severity::Error => Tone::Bad,
                        Severity::Warning => Tone::Neutral,
                    };
                    sheet
                        .row(&[
                            Cell::Number(row.0 as f64),
                            Cell::Toned(&severity, Some(tone)),
                            Cell::Text(f.field),
                            Cell::Text(&f.value),
                            Cell::Text(&f.problem),
                        ])
                        .map_err(SheetError::into_io)
                }
            };
            self.check(written)?;
            if self.first.len() < SHOWN {
                self.first.push((row, f.clone()));
            }
        }
        Ok(())
    }

    /// Ends the report; returns the first findings, for the summary.
    pub(crate) fn finish(mut self) -> anyhow::Result<Vec<(RowNumber, Finding)>> {
        let shown = self.shown.clone();
        match self.report.take() {
            None => {}
            Some(Report::Csv(mut w)) => {
                let flushed = w.flush();
                self.report = Some(Report::Csv(w));
                self.check(flushed)?;
                // Closed, so that what it buffered is written before the rename.
                let closed = match self.report.take() {
                    Some(Report::Csv(w)) => w.into_inner().map(drop).map_err(|e| e.into_error()),
                    _ => Ok(()),
                };
                closed.with_context(|| format!("cannot write the report {shown}"))?;
            }
            Some(Report::Xlsx { sheet, path }) => sheet
                .save(&path)
                .with_context(|| format!("cannot write the report {shown}"))?,
        }
        if let Some(placement) = &mut self.placement {
            placement
                .place()
                .with_context(|| format!("cannot write the report {shown}"))?;
        }
        Ok(self.first)
    }

    /// A closed pipe ends the report quietly; any other write error ends the command.
    fn check(&mut self, written: std::io::Result<()>) -> anyhow::Result<()> {
        match written {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                // Its last flush, on drop, fails the same way and is ignored.
                self.report = None;
                Ok(())
            }
            other => other.context("cannot write the report"),
        }
    }
}

fn csv_io(err: csv::Error) -> std::io::Error {
    match err.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

/// Prints where the rows came from and how the columns were mapped.
pub(crate) fn print_source(source: &Source) {
    say!(
        "{}: {}; header on row {}",
        shown_path(&source.path),
        source.format,
        source.header_row
    );
    say!("  columns: {}", source.columns.join(", "));
    if let Some((names, phone)) = &source.constant_card {
        let phone = crate::contact::phone::parse(phone)
            .map(crate::contact::phone::pretty)
            .unwrap_or_else(|_| phone.to_string());
        say!("  every row gets the card {}, {phone}", shown(names));
    }
    for warning in &source.warnings {
        say!("  warning: {warning}");
    }
}

/// Prints the counts and the first findings.
pub(crate) fn print_summary(tally: &Tally, first: &[(RowNumber, Finding)], report: Option<&Path>) {
    say!(
        "  {}: {} sendable, {} with errors, {}; {}, {}",
        plural(tally.rows, "row"),
        tally.sendable,
        tally.invalid,
        plural(tally.duplicates, "duplicate"),
        plural(tally.errors, "error"),
        plural(tally.warnings, "warning"),
    );
    for (row, f) in first {
        let value = if f.value.is_empty() {
            String::new()
        } else {
            format!(" '{}'", shown(&f.value))
        };
        say!(
            "  row {row}: {} {}{value} {}",
            f.severity,
            f.field,
            shown(&f.problem)
        );
    }
    let total = tally.errors + tally.warnings;
    if total > first.len() as u64 {
        let rest = total - first.len() as u64;
        match report {
            Some(path) if path.as_os_str() != "-" => {
                say!("  … and {rest} more in {}", shown_path(path))
            }
            Some(_) => say!("  … and {rest} more in the report above"),
            None => say!("  … and {rest} more: add --report problems.csv to see them all"),
        }
    }
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
