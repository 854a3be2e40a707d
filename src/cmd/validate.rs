//! `greenbulk validate`: check every row, print a summary, optionally write the report.

use super::invocation::{INPUT_FLAGS, Invocation};
use crate::cli::ValidateArgs;
use crate::input::Table;
use crate::record::outputs;
use crate::report::{self, Findings};
use crate::term::say;
use crate::{Exit, Failure, validation};

pub fn run(args: &ValidateArgs) -> Result<Exit, Failure> {
    if let Some(report) = args.report.as_deref().filter(|p| p.as_os_str() != "-") {
        outputs::check_report("--report", report, &args.input.input).map_err(Failure::usage)?;
    }
    let mut table = Table::open(&crate::input_options(&args.input)?)?;
    report::print_source(&crate::input::Source::of(&table));
    let mut findings = Findings::new(args.report.as_deref()).map_err(Failure::usage)?;
    let walked = validation::walk(&mut table, |row, checked, _| {
        findings.add(row.number, &checked.findings)
    });
    // The rows before a broken one are reported all the same.
    let first = findings.finish().map_err(Failure::usage)?;
    let tally = walked.map_err(Failure::usage)?;
    report::print_summary(&tally, &first, args.report.as_deref());
    if tally.invalid > 0 && !tally.skippable() {
        say!("  {}", super::words::not_skippable(&tally));
        Ok(Exit::Invalid)
    } else if tally.invalid > 0 {
        let send = Invocation::new([
            "send",
            &args.input.input.to_string_lossy(),
            "--results",
            "results.csv",
            "--skip-invalid",
        ])
        .and(Invocation::current().given(&INPUT_FLAGS));
        say!("  fix the rows with errors, or send the others with `{send}`");
        Ok(Exit::Invalid)
    } else {
        say!("  no errors: every row can be sent");
        Ok(Exit::Success)
    }
}
