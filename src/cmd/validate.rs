//! `greenbulk validate`: check every row, print a summary, optionally write the report.

use crate::cli::ValidateArgs;
use crate::input::Table;
use crate::report::{self, Findings};
use crate::{Exit, validation};

pub fn run(args: &ValidateArgs) -> anyhow::Result<Exit> {
    let mut table = Table::open(&crate::input_options(&args.input))?;
    report::print_source(&table);
    let mut findings = Findings::new(args.report.as_deref())?;
    let tally = validation::walk(&mut table, |row, checked, _| {
        findings.add(row.number, &checked.findings)
    })?;
    let first = findings.finish()?;
    report::print_summary(&tally, &first, args.report.as_deref());
    if tally.invalid > 0 {
        eprintln!(
            "  fix the rows with errors, or send the others with `greenbulk send --skip-invalid`"
        );
        Ok(Exit::Invalid)
    } else {
        eprintln!("  no errors: every row can be sent");
        Ok(Exit::Success)
    }
}
