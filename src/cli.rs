//! The command line, as clap derive types; the `///` comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::input::{FieldMapping, FieldSetting};
use crate::send::Rate;

/// Send a WhatsApp contact card (GREEN-API sendContact) to every row of a CSV or Excel file:
/// every row checked first, sending paced under the rate limit, never twice, with a results
/// file that says what happened to each row.
#[derive(Debug, Parser)]
#[command(
    name = "greenbulk",
    version,
    max_term_width = 100,
    args_override_self = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every row of the input and report what is wrong, without sending anything.
    Validate(ValidateArgs),
    /// Validate, then send one contact card per sendable row and write the results file.
    Send(Box<SendArgs>),
    /// What became of every sent card: queued, sent, delivered, read … (and unknown rows
    /// looked up); fills the results file's delivery columns.
    Status(StatusArgs),
    /// Run the built-in GREEN-API emulator on loopback, for trying things without an account.
    Sandbox(SandboxArgs),
    /// The same run from a local web page: upload, columns, check, send, results.
    Ui(UiArgs),
    /// Print a shell's completion script for greenbulk (README, "Install").
    Completions(CompletionsArgs),
    /// Print greenbulk's manual page (roff), e.g. `greenbulk man > greenbulk.1`.
    Man,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The shells `greenbulk completions` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

#[derive(Debug, Args)]
pub struct UiArgs {
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,

    /// Where uploaded files, results and ledgers are kept (default: the current folder).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,

    /// Do not open the page in the default browser.
    #[arg(long)]
    pub no_open: bool,

    /// Send to the built-in GREEN-API emulator (no account needed).
    #[arg(long)]
    pub sandbox: bool,

    #[command(flatten)]
    pub credentials: CredentialArgs,
}

/// Flags that say how to read the input (shared by `validate` and `send`).
#[derive(Debug, Args)]
pub struct InputArgs {
    /// The CSV/TSV/TXT, XLSX, XLSM, XLS, XLSB or ODS file, one contact card per row.
    pub input: PathBuf,

    /// The workbook sheet to read (default: the first visible sheet).
    #[arg(long, value_name = "NAME")]
    pub sheet: Option<String>,

    /// Map a field to a column whose header does not say it, e.g. --map phoneContact=Mobile.
    /// Fields: chatId, phoneContact, firstName, middleName, lastName, company, quotedMessageId.
    #[arg(long = "map", value_name = "FIELD=HEADER")]
    pub mappings: Vec<FieldMapping>,

    /// Give a field one value on every row, e.g. --set phoneContact=74951234567 --set
    /// company="Romashka support" sends that one card to every chat in the file.
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub settings: Vec<FieldSetting>,

    /// The text encoding of a CSV file (e.g. windows-1251, windows-1252, utf-16le), when
    /// detection gets it wrong.
    #[arg(long, value_name = "ENC", value_parser = parse_encoding)]
    pub encoding: Option<&'static encoding_rs::Encoding>,

    /// Read numbers written without a country code (034 39 387 51, 8 903 123-45-67) in this
    /// country's numbering plan: its ISO 3166 code, e.g. MG, RU, DE.
    #[arg(long, value_name = "CC")]
    pub country: Option<crate::contact::Country>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Write every finding as CSV (row,severity,field,value,problem); `-` for stdout.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// The results CSV: one line per input row with its status, idMessage or error.
    /// Never overwritten: to continue an earlier run on it, add --resume.
    #[arg(long, value_name = "PATH")]
    pub results: PathBuf,

    #[command(flatten)]
    pub credentials: CredentialArgs,

    /// Requests per second or minute, e.g. 10/s or 600/min. GREEN-API allows at most 50/s.
    #[arg(long, default_value = "10/s", value_name = "N/s|N/min")]
    pub rate: Rate,

    /// The most requests in flight at once (enough to hold the rate when the API is slow).
    #[arg(long, default_value_t = 32, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub concurrency: u32,

    /// Seconds to wait for one answer; after that the row's outcome is `unknown`.
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,

    /// Send the valid rows even when others have errors (those become `invalid`).
    #[arg(long)]
    pub skip_invalid: bool,

    /// Continue a run on an existing results file: send `pending` and `failed` rows only.
    #[arg(long)]
    pub resume: bool,

    /// With --resume: also resend `unknown` rows (their first request may have arrived).
    #[arg(long, requires = "resume")]
    pub retry_unknown: bool,

    /// With --resume: send again the cards that went out from this results file with other
    /// names or company (edited since, or mapped differently); the earlier ones stay sent.
    #[arg(long, requires = "resume")]
    pub resend_changed: bool,

    /// With --resume: rows that wait for an instance this run does not have (taken out of
    /// --instances) go to the other instances instead.
    #[arg(long)]
    pub reassign: bool,

    /// Send the cards this machine already sent (from any instance) in an earlier run (into
    /// another results file); without it they are `already-sent`.
    #[arg(long)]
    pub again: bool,

    /// Attempt at most N rows in this run; the rest stay pending for the next --resume
    /// (a cron job's daily share of a batch too big for the queue's 24 hours).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,

    /// Validate and show what would be sent (and, given credentials or --sandbox, the queue
    /// plan); send nothing, write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Send to the built-in GREEN-API emulator instead of the real API (no account needed);
    /// credentials from flags or the environment are then ignored.
    #[arg(long)]
    pub sandbox: bool,

    #[command(flatten)]
    pub safety: SafetyArgs,
}

/// What keeps a number safe: when, how fast, how many a day (docs/safety.md).
#[derive(Debug, Args)]
pub struct SafetyArgs {
    /// Cards leave the queue only between these hours, e.g. 09:00-18:00 (22:00-02:00 runs
    /// past midnight); outside them the run waits, saying until when.
    #[arg(long, value_name = "HH:MM-HH:MM")]
    pub window: Option<String>,

    /// The days the window opens on, e.g. mon-fri or mon,wed,sat (default: every day).
    #[arg(long, value_name = "DAYS")]
    pub days: Option<String>,

    /// The time zone of --window, --days and --daily-cap's days, e.g. Europe/Moscow (default:
    /// this machine's).
    #[arg(long, value_name = "AREA/CITY")]
    pub tz: Option<String>,

    /// Outside the window, end (exit 0; the rest pending) instead of waiting: for cron.
    #[arg(long)]
    pub exit_outside_window: bool,

    /// One card per random interval in this range, e.g. 8s..20s, as the queue drains:
    /// irregular, human spacing (never shorter than the instance's own delay).
    #[arg(long, value_name = "MIN..MAX", value_parser = clap::value_parser!(crate::send::schedule::Pace))]
    pub pace: Option<crate::send::schedule::Pace>,

    /// At most N cards a day from each number, counted across runs on this machine; the
    /// rest stay pending (exit 0), for the next day.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub daily_cap: Option<u64>,
}

/// Where and as whom to call GREEN-API (shared by `send` and `status`).
#[derive(Debug, Args)]
pub struct CredentialArgs {
    // The help text is this comment, so the URL stays bare (as `--help` shows it).
    #[allow(rustdoc::bare_urls)]
    /// GREEN-API base URL, as the console shows it (e.g. https://7103.api.greenapi.com).
    #[arg(long, env = "GREEN_API_URL", value_name = "URL")]
    pub api_url: Option<String>,

    /// The instance id (idInstance).
    #[arg(long, env = "GREEN_API_ID_INSTANCE", value_name = "ID")]
    pub id_instance: Option<String>,

    /// The instance token (apiTokenInstance). Never printed or written anywhere.
    #[arg(
        long,
        env = "GREEN_API_TOKEN_INSTANCE",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub api_token_instance: Option<String>,

    /// Send from several instances, listed in FILE: a CSV with the header
    /// apiUrl,idInstance,apiTokenInstance (and optionally name,rate); a token may be
    /// env:VARIABLE. Each chat always gets its card from the same instance. With --sandbox, a
    /// number: the built-in emulator runs that many instances.
    /// The single-instance flags may not be given with it (GREEN_API_* in the environment
    /// are ignored).
    #[arg(long, value_name = "FILE")]
    pub instances: Option<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The results file of a `greenbulk send` (its ledger beside it).
    pub results: PathBuf,

    #[command(flatten)]
    pub credentials: CredentialArgs,

    /// Ask the built-in sandbox, which keeps what a `send --sandbox` put in its queue
    /// (credentials from flags or the environment are then ignored).
    #[arg(long)]
    pub sandbox: bool,

    /// Look again every SECS seconds until every card is delivered or read, or its state is
    /// final (failed, noAccount, notInGroup, expired), or 24 hours have passed. A round
    /// GREEN-API does not answer is waited out (up to 10 in a row).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(5..=86_400))]
    pub watch: Option<u64>,

    /// With --watch: what to wait for. `read` waits until every card is read (or final);
    /// a card may never be read.
    #[arg(long, value_enum, default_value = "delivered", requires = "watch")]
    pub until: UntilArg,
}

/// `status --until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UntilArg {
    Delivered,
    Read,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 7123)]
    pub port: u16,

    /// The idInstance the emulator accepts.
    #[arg(long, default_value = crate::sandbox::DEFAULT_ID_INSTANCE)]
    pub id_instance: String,

    /// The apiTokenInstance the emulator accepts.
    #[arg(long, default_value = crate::sandbox::DEFAULT_TOKEN)]
    pub api_token_instance: String,

    /// Serve this many instances, each on its own port (from --port on) with its own id,
    /// token, queue and faults: the first has --id-instance and --api-token-instance, the
    /// next 1101000002 and so on.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=100))]
    pub instances: u16,

    /// Write a ready --instances file for them to PATH (readable by you alone).
    #[arg(long, value_name = "PATH")]
    pub write_instances: Option<PathBuf>,

    #[command(flatten)]
    pub faults: FaultArgs,
}

/// How the emulated instance behaves, bad days included, for demos and tests.
#[derive(Debug, Args, Default, Clone)]
pub struct FaultArgs {
    /// Milliseconds between two messages leaving the instance's queue
    /// (delaySendMessagesMilliseconds; getSettings reports it).
    #[arg(long, default_value_t = 500, value_name = "MS")]
    pub delay_ms: u64,

    /// Seconds a message may wait in the queue before it is dropped without a trace.
    #[arg(long, default_value_t = 86_400, value_name = "SECS")]
    pub queue_ttl_s: u64,

    /// Milliseconds before a message that left the queue shows in lastOutgoingMessages.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub journal_lag_ms: u64,

    /// Share of numbers with no WhatsApp account (a seeded choice): their messages end
    /// noAccount and checkWhatsapp says false.
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub no_account: f64,

    /// Up to this many milliseconds of network delay on the way in, at random.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub network_jitter_ms: u64,

    /// Milliseconds before each sendContact answer (the message is queued on arrival).
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub latency_ms: u64,

    /// Up to this many extra milliseconds, at random.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub jitter_ms: u64,

    /// Share of sendContact requests answered 429 (0.0–1.0).
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub fail_429: f64,

    /// Share of sendContact requests answered 500 or 502 (0.0–1.0).
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub fail_5xx: f64,

    /// Share of accepted messages whose connection is then dropped without an answer.
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub drop_after_accept: f64,

    /// Share of sendContact requests answered 200 with no idMessage in the body, and never
    /// queued (a proxy answering garbage).
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub empty_200: f64,

    /// Share of chats that read their messages (a seeded choice by chat).
    #[arg(long, default_value_t = 0.5, value_name = "SHARE")]
    pub read_share: f64,

    /// Answer the next N calls of methods other than sendContact with a page that is not
    /// JSON (200), as a proxy under maintenance would.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub garbage_calls: u32,

    /// Leave the head of the queue out of showMessagesQueue (getMessagesCount still counts
    /// it), as a known GREEN-API bug does.
    #[arg(long)]
    pub hide_queue_head: bool,

    /// Answer 466 (quota exceeded) once this many distinct chats were written to.
    #[arg(long, value_name = "CHATS")]
    pub quota: Option<u32>,

    /// The instance state: authorized, notAuthorized, starting, blocked, sleepMode, yellowCard.
    #[arg(long, default_value = "authorized")]
    pub state: String,

    /// Turn to STATE once N messages were accepted, e.g. 10:yellowCard (as WhatsApp flags a
    /// number mid-mailing).
    #[arg(long, value_name = "N:STATE")]
    pub state_after: Option<String>,

    /// Seed for the random faults, so a run can be repeated exactly.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

fn parse_encoding(label: &str) -> Result<&'static encoding_rs::Encoding, String> {
    encoding_rs::Encoding::for_label(label.trim().as_bytes()).ok_or_else(|| {
        format!("unknown encoding '{label}'; try utf-8, windows-1251, windows-1252, utf-16le")
    })
}
