//! greenbulk: send a WhatsApp contact card through GREEN-API's `sendContact` to every row of
//! a CSV or Excel file.
//!
//! A row travels: [`input`] (file → numbered rows of cells) → [`contact`] (row → checked
//! request) → [`validation`] (the whole file, in parallel, duplicates found) → [`send`]
//! (pacing, concurrency, retries) → [`ledger`] and [`results`] (what happened, durably). The
//! GREEN-API [`client`] and the [`sandbox`] emulator sit beside that line.

pub mod cli;
pub mod client;
pub mod cmd;
pub mod contact;
mod exit;
pub mod input;
pub mod ledger;
pub mod report;
pub mod results;
pub mod sandbox;
pub mod send;
pub mod validation;

pub use exit::{Exit, RunFault};

use cli::{Cli, Command, InputArgs};

/// Runs one command line to its exit code.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Validate(args) => cmd::validate::run(&args),
        Command::Send(args) => cmd::send::run(&args),
        Command::Sandbox(args) => cmd::sandbox::run(&args),
    }
}

fn input_options(args: &InputArgs) -> input::InputOptions {
    input::InputOptions {
        path: args.input.clone(),
        sheet: args.sheet.clone(),
        mappings: args.mappings.clone(),
        encoding: args.encoding,
    }
}
