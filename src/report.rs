//! What `validate` (and `send`, before sending) tells a person: a short summary on stderr,
//! and optionally every finding as CSV. A report on stdout that nobody reads any more
//! (`--report - | head -1`) stops being written; the run goes on to its own end.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::contact::Finding;
use crate::input::{RowNumber, Table};
use crate::term::{say, shown, shown_path};
use crate::validation::Tally;

/// How many findings the summary shows before pointing at the report.
const SHOWN: usize = 10;

/// Collects findings as the pass goes: writes each to the report, keeps the first few.
pub(crate) struct Findings {
    report: Option<csv::Writer<Box<dyn Write>>>,
    first: Vec<(RowNumber, Finding)>,
}

impl Findings {
    /// `report`: a path, `-` for stdout, or none.
    pub(crate) fn new(report: Option<&Path>) -> anyhow::Result<Findings> {
        let report = match report {
            None => None,
            Some(path) => {
                let out: Box<dyn Write> = if path.as_os_str() == "-" {
                    Box::new(std::io::stdout().lock())
                } else {
                    Box::new(std::fs::File::create(path).with_context(|| {
                        format!("cannot create the report {}", shown_path(path))
                    })?)
                };
                let mut writer = csv::Writer::from_writer(out);
                writer.write_record(["row", "severity", "field", "value", "problem"])?;
                Some(writer)
            }
        };
        Ok(Findings {
            report,
            first: Vec::new(),
        })
    }

    pub(crate) fn add(&mut self, row: RowNumber, findings: &[Finding]) -> anyhow::Result<()> {
        for f in findings {
            if let Some(w) = &mut self.report {
                let written = w.write_record([
                    row.to_string().as_str(),
                    &f.severity.to_string(),
                    f.field,
                    &f.value,
                    &f.problem,
                ]);
                self.check(written.map_err(csv_io))?;
            }
            if self.first.len() < SHOWN {
                self.first.push((row, f.clone()));
            }
        }
        Ok(())
    }

    /// Ends the report; returns the first findings, for the summary.
    pub(crate) fn finish(mut self) -> anyhow::Result<Vec<(RowNumber, Finding)>> {
        if let Some(w) = &mut self.report {
            let flushed = w.flush();
            self.check(flushed)?;
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
pub(crate) fn print_source(table: &Table) {
    say!(
        "{}: {}; header on row {}",
        shown_path(&table.path),
        table.format,
        table.header_row
    );
    say!("  columns: {}", table.columns.notes.join(", "));
    if let Some((names, phone)) = table.columns.constant_card() {
        let phone = crate::contact::phone::parse(phone)
            .map(crate::contact::phone::pretty)
            .unwrap_or_else(|_| phone.to_string());
        say!("  every row gets the card {}, {phone}", shown(&names));
    }
    for warning in &table.warnings {
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
