//! What `validate` (and `send`, before sending) tells a person: a short summary on stderr,
//! and optionally every finding as CSV, or as a workbook for a path ending `.xlsx`. A report on stdout that nobody reads any more
//! (`--report - | head -1`) stops being written; the run goes on to its own end.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::contact::{Country, Finding, Severity};
use crate::input::RowNumber;
use crate::input::Source;
use crate::record::outputs::REPORT_COLUMNS;
use crate::replace::Replacement;
use crate::sheet::{Cell, SheetError, SheetWriter, Tone, workbook_path};
use crate::term::{say, shown, shown_path};
use crate::validation::Tally;

/// How many findings the summary shows before pointing at the report.
const SHOWN: usize = 10;

/// Where the report goes: CSV (a file or stdout), or a workbook for a path ending `.xlsx`.
enum Report {
    Csv(Box<csv::Writer<Box<dyn Write>>>),
    Xlsx(Box<SheetWriter>),
}

/// Collects findings as the pass goes: writes each to the report, keeps the first few.
pub(crate) struct Findings {
    report: Option<Report>,
    first: Vec<(RowNumber, Finding)>,
    /// The report file's bytes: written beside it and put in place once whole, so that a
    /// failed write (a full disk) leaves neither half a report nor an earlier one damaged;
    /// or a device (`/dev/stdout`, a pipe) written directly; none for stdout.
    file: Option<Destination>,
    /// The report as messages name it.
    shown: String,
    /// Written to a terminal (`--report -` not redirected): text from the file has its
    /// control characters escaped, as everywhere it is shown (docs/input.md), so a file
    /// cannot drive the terminal. Redirected, the CSV holds the cells as they are.
    on_terminal: bool,
}

enum Destination {
    Replace(Replacement),
    Device(std::fs::File),
}

impl Destination {
    fn of(path: &Path) -> std::io::Result<Destination> {
        let special = std::fs::metadata(path).is_ok_and(|meta| !meta.is_file());
        if special {
            Ok(Destination::Device(
                std::fs::OpenOptions::new().write(true).open(path)?,
            ))
        } else {
            Ok(Destination::Replace(Replacement::of(path)?))
        }
    }

    fn file(&self) -> &std::fs::File {
        match self {
            Destination::Replace(replacement) => replacement.file(),
            Destination::Device(file) => file,
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
        let on_terminal = report.is_some_and(|path| path.as_os_str() == "-")
            && crate::term::is_terminal(&std::io::stdout());
        let (report, file) = match report {
            None => (None, None),
            Some(path) if path.as_os_str() == "-" => {
                let out: Box<dyn Write> = Box::new(std::io::stdout().lock());
                (Some(Findings::csv(out)?), None)
            }
            Some(path) => {
                let workbook = workbook_path(path).map_err(|e| anyhow::anyhow!("--report: {e}"))?;
                let file = Destination::of(path)
                    .with_context(|| format!("cannot create the report {}", shown_path(path)))?;
                let report = if workbook {
                    let started = file
                        .file()
                        .try_clone()
                        .map_err(SheetError::from)
                        .and_then(|out| SheetWriter::new(out, "Findings", &REPORT_COLUMNS));
                    let sheet = started.with_context(|| {
                        format!("cannot create the report {}", shown_path(path))
                    })?;
                    Report::Xlsx(Box::new(sheet))
                } else {
                    let out = std::io::BufWriter::new(file.file().try_clone()?);
                    Findings::csv(Box::new(out))?
                };
                (Some(report), Some(file))
            }
        };
        Ok(Findings {
            report,
            first: Vec::new(),
            file,
            shown,
            on_terminal,
        })
    }

    fn csv(out: Box<dyn Write>) -> anyhow::Result<Report> {
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record(REPORT_COLUMNS)?;
        Ok(Report::Csv(Box::new(writer)))
    }

    pub(crate) fn add(&mut self, row: RowNumber, findings: &[Finding]) -> anyhow::Result<()> {
        let on_terminal = self.on_terminal;
        for f in findings {
            let (row_text, severity) = (row.to_string(), f.severity.to_string());
            let written = match &mut self.report {
                None => Ok(()),
                Some(Report::Csv(w)) => {
                    let shown = |text| escaped_if(on_terminal, text);
                    let (value, problem) = (shown(&f.value), shown(&f.problem));
                    w.write_record([row_text.as_str(), &severity, f.field, &value, &problem])
                        .map_err(csv_io)
                }
                Some(Report::Xlsx(sheet)) => {
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
            Some(Report::Xlsx(sheet)) => {
                sheet
                    .save()
                    .with_context(|| format!("cannot write the report {shown}"))?;
            }
        }
        if let Some(Destination::Replace(replacement)) = self.file.take() {
            replacement
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
        // As the card will carry it: read in the --country plan when it has no code.
        let phone = crate::contact::parse_in(phone, source.country)
            .map(|(number, _)| crate::contact::phone::pretty(number))
            .unwrap_or_else(|_| phone.to_string());
        say!("  every row gets the card {}, {phone}", shown(names));
    }
    for warning in &source.warnings {
        say!("  warning: {warning}");
    }
}

/// What the summary says about national numbers: how many `--country` read, or, without it,
/// which `--country` would read those written without a country code (when the file's
/// other numbers point to one country).
pub(crate) fn country_line(tally: &Tally) -> Option<String> {
    if let Some(country) = tally.country {
        return (tally.national > 0).then(|| {
            format!(
                "{} written without a country code read in {country}'s numbering plan \
                 (+{}), as --country {country} asks; the results show the numbers sent",
                plural(tally.national, "number"),
                country.calling_code()
            )
        });
    }
    let country = tally.hint()?;
    Some(format!(
        "hint: {} written without a country code, and the file's other numbers are \
         from {country} (+{}): `--country {country}` reads them in {country}'s numbering plan",
        plural_verb(tally.without_code, "number"),
        country.calling_code()
    ))
}

/// What the summary says of rows the sheet hides, if there are any: how many, and the two
/// ways on (each row's error says it too).
pub(crate) fn hidden_line(tally: &Tally) -> Option<String> {
    (tally.hidden > 0).then(|| {
        format!(
            "{} hidden in the sheet (by a filter, or by hand), not sent unless shown: show them \
             in Excel and save to send them, or add --skip-invalid to leave them out",
            plural(tally.hidden, "row")
        )
    })
}

/// A finding about a number, with what `--country` would read it as, when the summary's
/// hint names a country that reads it.
fn with_hint(finding: &Finding, hint: Option<Country>) -> Finding {
    let mut finding = finding.clone();
    let Some(country) = hint.filter(|_| ["chatId", "phoneContact"].contains(&finding.field)) else {
        return finding;
    };
    if let Ok((number, true)) = crate::contact::parse_in(&finding.value, Some(country)) {
        finding.problem.push_str(&format!(
            "; `--country {country}` would read it as {}",
            crate::contact::phone::pretty(number)
        ));
    }
    finding
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
    let hint = tally.hint();
    for (row, f) in first {
        let f = &with_hint(f, hint);
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
    for line in [country_line(tally), hidden_line(tally)]
        .into_iter()
        .flatten()
    {
        say!("  {line}");
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

/// `1 number looks`, `2 numbers look`.
fn plural_verb(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word} looks")
    } else {
        format!("{n} {word}s look")
    }
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `text` with its control characters escaped when it goes to a terminal, else as it is.
fn escaped_if(terminal: bool, text: &str) -> std::borrow::Cow<'_, str> {
    if terminal {
        crate::term::shown(text)
    } else {
        text.into()
    }
}
