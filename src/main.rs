//! The `greenbulk` binary: parse the command line, run, map the outcome to an exit code.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = greenbulk::cli::Cli::parse();
    match greenbulk::run(cli) {
        Ok(exit) => exit.into(),
        Err(failure) => greenbulk::report_failure(&failure).into(),
    }
}
