//! greenbulk: send a WhatsApp contact card through GREEN-API's `sendContact` to every row of
//! a CSV or Excel file.
//!
//! A row travels: [`input`] (file → numbered rows of cells) → [`contact`] (row → checked
//! request) → [`validation`] (the whole file, in parallel, duplicates found) → [`send`]
//! (a session: pacing, concurrency, retries) → `record` (the ledger and the results file:
//! what happened, durably). The GREEN-API [`client`] and the [`sandbox`] emulator sit beside
//! that line. The contract users rely on (commands, columns, statuses, exit codes) is the
//! README's.

pub mod cli;
pub mod client;
mod cmd;
pub mod contact;
pub mod country;
pub mod delivery;
mod exit;
pub mod input;
mod positioned;
mod record;
mod replace;
mod report;
mod route;
pub mod sandbox;
pub mod send;
mod sheet;
mod term;
pub mod validation;

pub use exit::{Exit, Failure};
pub use record::{RecordError, Status, StatusCounts};
pub use term::is_broken_pipe;

use cli::{Cli, Command, InputArgs};

/// Runs one command line to its exit code.
pub fn run(cli: Cli) -> Result<Exit, Failure> {
    match cli.command {
        Command::Validate(args) => cmd::validate::run(&args),
        Command::Send(args) => cmd::send::run(&args),
        Command::Status(args) => cmd::status::run(&args),
        Command::Sandbox(args) => cmd::sandbox::run(&args),
        Command::Ui(args) => cmd::ui::run(&args),
        Command::Completions(args) => cmd::manual::completions(args.shell),
        Command::Man => cmd::manual::man(),
    }
}

/// What the command line parser has to say — help, the version, or what is wrong with the
/// flags — written as clap writes it. Help that cannot be written (stdout a full disk) is an
/// error, as the manual's is; a closed pipe (`| head`) is not.
pub fn report_parse(said: &clap::Error) -> Exit {
    let exit = if said.exit_code() == 0 {
        Exit::Success
    } else {
        Exit::Usage
    };
    match said.print() {
        Err(e) if exit == Exit::Success && e.kind() != std::io::ErrorKind::BrokenPipe => {
            term::say!("greenbulk: error: cannot write to stdout: {e}");
            Exit::Usage
        }
        _ => exit,
    }
}

/// Prints the error that ended a command, once (nothing for a closed pipe, which is not an
/// error), and returns its exit code.
pub fn report_failure(failure: &Failure) -> Exit {
    if !is_broken_pipe(&failure.error) {
        term::say!("greenbulk: error: {:#}", failure.error);
    }
    failure.exit
}

/// The input flags, resolved: each `--set` value checked once, like a cell would be (a bad
/// one is a usage error naming the flag).
fn input_options(args: &InputArgs) -> Result<input::InputOptions, Failure> {
    for setting in &args.settings {
        contact::check_setting(setting, args.country)
            .map_err(|e| Failure::usage(anyhow::Error::msg(e)))?;
    }
    Ok(input::InputOptions {
        path: args.input.clone(),
        sheet: args.sheet.clone(),
        mappings: args.mappings.clone(),
        settings: args.settings.clone(),
        encoding: args.encoding,
        country: args.country,
    })
}

/// Reads behind a lock, going on if another thread panicked while holding it (see [`lock`]).
pub(crate) fn read<T>(lock: &std::sync::RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Writes behind a lock, going on if another thread panicked while holding it (see [`lock`]).
pub(crate) fn write<T>(lock: &std::sync::RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Locks a mutex, going on if another thread panicked while holding it: every value kept
/// behind one here stays consistent between statements.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
