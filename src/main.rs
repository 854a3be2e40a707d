//! The `greenbulk` binary: parse the command line, run, map the outcome to an exit code.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = match greenbulk::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(said) => return greenbulk::report_parse(&said).into(),
    };
    match greenbulk::run(cli) {
        Ok(exit) => exit.into(),
        Err(failure) => greenbulk::report_failure(&failure).into(),
    }
}
