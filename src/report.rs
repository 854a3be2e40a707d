//! What `validate` (and `send`, before sending) tells a person: a short summary on stderr,
//! and optionally every finding as CSV.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::contact::Finding;
use crate::input::{RowNumber, Table};
use crate::validation::Tally;

/// How many findings the summary shows before pointing at the report.
const SHOWN: usize = 10;

/// Collects findings as the pass goes: writes each to the report, keeps the first few.
pub struct Findings {
    report: Option<csv::Writer<Box<dyn Write>>>,
    first: Vec<(RowNumber, Finding)>,
}

impl Findings {
    /// `report`: a path, `-` for stdout, or none.
    pub fn new(report: Option<&Path>) -> anyhow::Result<Findings> {
        let report = match report {
            None => None,
            Some(path) => {
                let out: Box<dyn Write> = if path.as_os_str() == "-" {
                    Box::new(std::io::stdout().lock())
                } else {
                    Box::new(
                        std::fs::File::create(path)
                            .with_context(|| format!("cannot create report {}", path.display()))?,
                    )
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

    pub fn add(&mut self, row: RowNumber, findings: &[Finding]) -> anyhow::Result<()> {
        for f in findings {
            if let Some(w) = &mut self.report {
                w.write_record([
                    row.to_string().as_str(),
                    &f.severity.to_string(),
                    f.field,
                    &f.value,
                    &f.problem,
                ])?;
            }
            if self.first.len() < SHOWN {
                self.first.push((row, f.clone()));
            }
        }
        Ok(())
    }

    pub fn finish(mut self) -> anyhow::Result<Vec<(RowNumber, Finding)>> {
        if let Some(w) = &mut self.report {
            w.flush().context("cannot write the report")?;
        }
        Ok(self.first)
    }
}

/// Prints where the rows came from and how the columns were mapped.
pub fn print_source(table: &Table) {
    eprintln!(
        "{}: {}; header on row {}",
        table.path.display(),
        table.format,
        table.header_row
    );
    eprintln!("  columns: {}", table.columns.notes.join(", "));
}

/// Prints the counts and the first findings.
pub fn print_summary(tally: &Tally, first: &[(RowNumber, Finding)], report: Option<&Path>) {
    eprintln!(
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
            format!(" '{}'", f.value)
        };
        eprintln!(
            "  row {row}: {} {}{value} {}",
            f.severity, f.field, f.problem
        );
    }
    let total = tally.errors + tally.warnings;
    if total > first.len() as u64 {
        let rest = total - first.len() as u64;
        match report {
            Some(path) if path.as_os_str() != "-" => {
                eprintln!("  … and {rest} more in {}", path.display())
            }
            Some(_) => eprintln!("  … and {rest} more in the report above"),
            None => eprintln!("  … and {rest} more: add --report problems.csv to see them all"),
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
