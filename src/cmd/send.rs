//! `greenbulk send`: resolve the flags, run a send [`Session`], print what it tells, and map
//! its outcome to an exit code.

use std::io::IsTerminal;
use std::time::Duration;

use super::common::{credentials, queue_ttl, state_dir};
use super::invocation::{INPUT_FLAGS, INSTANCE_FLAGS, Invocation};
use super::progress::{Display, Progress};
use super::words::{grouped, human, local_time, plural};
use crate::cli::SendArgs;
use crate::client::CallError;
use crate::record::RecordError;
use crate::record::StatusCounts;
use crate::report;
use crate::send::plan::QueuePlan;
use crate::send::{
    Cancel, DryRun, Event, Finished, Note, Outcome, SendError, SendOptions, Session, Settings,
    Stop, Target,
};
use crate::term::{say, shown_path};
use crate::{Exit, Failure};

pub fn run(args: &SendArgs) -> Result<Exit, Failure> {
    let options = resolve(args)?;
    let next = Next {
        again: Invocation::current(),
        results: options.results.to_string_lossy().into_owned(),
        input: options.input.path.to_string_lossy().into_owned(),
        sandbox: args.sandbox,
    };
    let outcome = drive(options)?;
    match outcome {
        Ok(Outcome::Invalid { tally }) => {
            say!(
                "greenbulk: nothing was sent: {} rows have errors. `{}` lists each; fix them, \
                 or send the other {} with `{}`",
                tally.invalid,
                next.validate(),
                tally.sendable,
                next.again.clone().with("--skip-invalid")
            );
            Ok(Exit::Invalid)
        }
        Ok(Outcome::DryRun(dry)) => {
            print_dry_run(&dry);
            Ok(Exit::Success)
        }
        Ok(Outcome::Finished(finished)) => Ok(finish(&finished, &next)),
        Err(err) => Err(failure(err, &next)),
    }
}

/// What the commands suggested at the end are made of: this one, the files, the target.
struct Next {
    /// This command line, to repeat with a flag added.
    again: Invocation,
    results: String,
    input: String,
    sandbox: bool,
}

impl Next {
    /// This command with --resume.
    fn resume(&self) -> Invocation {
        self.again.clone().with("--resume")
    }

    /// `greenbulk status RESULTS` against the same instance.
    fn status(&self) -> Invocation {
        let status = Invocation::new(["status", &self.results]);
        if self.sandbox {
            status.with("--sandbox")
        } else {
            status.and(self.again.given(&INSTANCE_FLAGS))
        }
    }

    /// `greenbulk validate INPUT --report problems.csv`, reading the input the same way.
    fn validate(&self) -> Invocation {
        Invocation::new(["validate", &self.input, "--report", "problems.csv"])
            .and(self.again.given(&INPUT_FLAGS))
    }

    /// Says where the token went, when the commands suggested leave it out.
    fn token_note(&self) {
        if self.again.dropped_token() {
            say!(
                "  (the commands above leave out --api-token-instance: set                  GREEN_API_TOKEN_INSTANCE to the token instead, where other users of this                  machine cannot read it in the list of processes)"
            );
        }
    }
}

/// The flags, checked and resolved once.
fn resolve(args: &SendArgs) -> Result<SendOptions, Failure> {
    let input = crate::input_options(&args.input)?;
    crate::sheet::workbook_path(&args.results)
        .map_err(|e| Failure::usage(anyhow::anyhow!("--results: {e}")))?;
    if crate::record::outputs::same_file(&input.path, &args.results) {
        return Err(Failure::usage(anyhow::anyhow!(
            "--results {} is the input file itself; choose another path",
            shown_path(&args.results)
        )));
    }
    let target = if args.sandbox {
        Target::Sandbox
    } else {
        match credentials(&args.credentials, args.dry_run)
            .map_err(|e| Failure::usage(anyhow::Error::msg(e)))?
        {
            Some(credentials) => Target::Api {
                shared_calls: Some(crate::send::shared_calls_file(&state_dir(), &credentials)),
                credentials,
            },
            None if args.dry_run => Target::Unset,
            None => unreachable!("credentials() refuses missing ones unless dry-running"),
        }
    };
    Ok(SendOptions {
        input,
        results: args.results.clone(),
        target,
        settings: Settings {
            rate: args.rate,
            concurrency: args.concurrency,
            max_attempts: 5,
            backoff: Duration::from_millis(500),
        },
        timeout: Duration::from_secs(args.timeout),
        resume: args.resume,
        retry_unknown: args.retry_unknown,
        resend_changed: args.resend_changed,
        again: args.again,
        skip_invalid: args.skip_invalid,
        dry_run: args.dry_run,
        limit: args.limit,
        queue_ttl: queue_ttl(),
        state_dir: state_dir(),
    })
}

fn display() -> Display {
    let forced_tty = std::env::var_os("GREENBULK_FORCE_TTY").is_some_and(|v| v == "1");
    if forced_tty || std::io::stderr().is_terminal() {
        Display::Bar {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    } else {
        Display::Lines {
            every: Duration::from_secs(5),
        }
    }
}

/// Runs the session on a runtime of its own, printing what it tells as it goes; Ctrl-C (or
/// SIGTERM) stops it.
fn drive(options: SendOptions) -> Result<Result<Outcome, SendError>, Failure> {
    // One thread is plenty for 50 requests a second and wakes the CPU least; validation and
    // the ledger's fsync have threads of their own.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Failure::usage)?;
    Ok(runtime.block_on(async {
        let cancel = Cancel::new();
        // Signals are caught from the start: a Ctrl-C while validating or asking the
        // instance ends the run before anything is sent, and leaves nothing behind.
        let signals = tokio::spawn(signals(cancel.clone()));
        tokio::task::yield_now().await;
        let (session, mut events) = Session::new(options);
        let mut run = tokio::spawn(session.run(cancel));
        let mut printer = Printer {
            display: display(),
            progress: None,
        };
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let outcome = loop {
            tokio::select! {
                biased;
                Some(event) = events.recv() => printer.on(event),
                done = &mut run => break done,
                _ = tick.tick() => printer.tick(),
            }
        };
        while let Ok(event) = events.try_recv() {
            printer.on(event);
        }
        printer.stop_progress();
        signals.abort();
        match outcome {
            Ok(outcome) => outcome,
            Err(panicked) => std::panic::resume_unwind(panicked.into_panic()),
        }
    }))
}

/// Prints what the session tells, on stderr.
struct Printer {
    display: Display,
    progress: Option<Progress>,
}

impl Printer {
    fn stop_progress(&mut self) {
        if let Some(progress) = self.progress.take() {
            progress.finish();
        }
    }

    fn tick(&mut self) {
        if let Some(progress) = &mut self.progress {
            progress.tick();
        }
    }

    fn on(&mut self, event: Event) {
        match event {
            Event::Source(source) => report::print_source(&source),
            Event::Validated { tally, first } => report::print_summary(&tally, &first, None),
            Event::Note(note) => self.note(note),
            Event::Sending { total } => {
                self.progress = Some(Progress::start(total, self.display));
            }
            Event::Row { outcome, .. } => {
                if let Some(progress) = &mut self.progress {
                    progress.row(&outcome);
                }
            }
            Event::Sent => self.stop_progress(),
        }
    }

    fn note(&mut self, note: Note) {
        match note {
            Note::NewRun => {
                say!("greenbulk: the results file does not exist yet: starting a new run")
            }
            Note::Repaired { ledger, line } => say!(
                "greenbulk: the last line ({line}) of {} was cut off by a crash or a full disk \
                 and was removed; the row it concerned counts as unknown if its request may \
                 have left",
                shown_path(&ledger)
            ),
            Note::Sandbox { url } => say!(
                "greenbulk: sending to the built-in GREEN-API sandbox at {url} (nothing leaves \
                 this machine)"
            ),
            Note::InstanceState { state, .. } => say!(
                "greenbulk: warning: the instance is '{state}': {}",
                state_meaning(&state)
            ),
            Note::Starting { .. } => say!(
                "greenbulk: the instance is starting; asking again in a few seconds (up to a \
                 minute)"
            ),
            Note::Plan {
                plan, now, state, ..
            } => say!("greenbulk: {}", plan_line(&plan, now, &state)),
            Note::NoPlan { why, .. } => say!(
                "greenbulk: warning: cannot read the queue's delay and length ({why}); \
                 sending without checking that every card can leave the queue within 24 hours"
            ),
            Note::LookedUp { resolved, .. } => super::common::print_looked_up(&resolved),
            Note::LookupFailed { why, .. } => say!(
                "greenbulk: warning: could not look up the unknown rows ({why}); they stay \
                 unknown and none is sent again"
            ),
            Note::Restored(restored) => {
                let what = if restored.ledger_was_missing {
                    "the ledger beside the results file was missing, so a new one was started"
                        .to_string()
                } else {
                    format!(
                        "the ledger did not know {} rows the results file records as sent or \
                         unknown (it was emptied or replaced)",
                        restored.rows
                    )
                };
                say!(
                    "greenbulk: {what}; {} rows were taken back from the results file and are \
                     not sent again",
                    restored.rows
                )
            }
            Note::Changed {
                first,
                count,
                resend,
            } => {
                let then = if resend {
                    "--resend-changed sends the corrected cards now; the earlier ones stay in \
                     the ledger"
                } else {
                    "they are not sent again (add --resend-changed to send the corrected cards)"
                };
                say!(
                    "greenbulk: warning: {} that went out before from this results file with \
                     other names or company: {then}",
                    plural(count, "row is a card", "rows are cards")
                );
                for changed in &first {
                    let what = if changed.changes.is_empty() {
                        "other names or company".to_string()
                    } else {
                        changed.changes.join(", ")
                    };
                    say!(
                        "  row {} (to {}): {what}; {} from row {}",
                        changed.row,
                        changed.chat,
                        if changed.sent {
                            "sent"
                        } else {
                            "attempted (unknown)"
                        },
                        changed.earlier_row
                    );
                }
                if count > first.len() as u64 {
                    say!(
                        "  … and {} more (the results file's error column names each)",
                        count - first.len() as u64
                    );
                }
            }
            Note::AlreadySent { count, again } => say!(
                "greenbulk: {} this machine already sent from this instance in an earlier run \
                 (into another results file): {}",
                plural(count, "row is a card", "rows are cards"),
                if again {
                    "sent again, as --again asks"
                } else {
                    "not sent again, status already-sent (--again sends them anyway)"
                }
            ),
            Note::NothingToSend => {
                say!("greenbulk: nothing left to send: every sendable row was sent before")
            }
            Note::NoRows => {
                say!("greenbulk: nothing to send: the input has a header row and no data rows")
            }
            Note::OnlyUnknownLeft => {
                say!("greenbulk: nothing to send now: the rows left are unknown (see below)")
            }
        }
    }
}

fn state_meaning(state: &str) -> &'static str {
    match state {
        "notAuthorized" => {
            "no phone is linked: messages wait in GREEN-API's queue for up to 24 hours until \
             you scan the QR code in the console"
        }
        "starting" => "it is starting: sends are retried until it is up",
        "blocked" => "the number is blocked by WhatsApp: messages will not be delivered",
        "sleepMode" => "the phone is offline: messages wait until it is back",
        "yellowCard" => "WhatsApp suspects spam: slow down (--rate) or messages may be lost",
        _ => "messages may not go out until it is authorized",
    }
}

/// What a state that cannot send means.
fn cannot_send(state: &str) -> &'static str {
    match state {
        "yellowCard" => {
            "WhatsApp suspects spam. GREEN-API still answers 200 but sends nothing: the \
             messages would wait in the queue and be dropped after 24 hours. Send nothing for \
             a while, then slowly (a longer delay in the console, a lower --rate)"
        }
        "blocked" => "WhatsApp blocked the number: nothing it sends is delivered",
        _ => "the instance is suspended (check the plan and payment in the GREEN-API console)",
    }
}

/// The exit code for an error that ended the run before it sent anything, with the advice
/// the error alone cannot give.
fn failure(err: SendError, next: &Next) -> Failure {
    match err {
        SendError::Record(RecordError::Exists { path }) => Failure::usage(anyhow::anyhow!(
            "{path} exists from an earlier run and is never overwritten. To continue that run \
             (rows already sent are not sent again): `{}`; or choose another --results path",
            next.resume()
        )),
        SendError::QueueFull { plan, .. } => {
            Failure::usage(anyhow::Error::msg(refusal(&plan, next)))
        }
        SendError::Preflight(CallError::Refused { reason, .. }) => Failure::new(
            Exit::Stopped,
            anyhow::anyhow!("GREEN-API refused the credentials: {reason}"),
        ),
        SendError::Preflight(call) => Failure::new(
            Exit::Incomplete,
            anyhow::anyhow!("{call}. Check --api-url and the network; nothing was sent"),
        ),
        SendError::Instance { state, .. } => Failure::new(
            Exit::Stopped,
            anyhow::anyhow!(
                "the instance is '{state}': {}. Nothing was sent",
                cannot_send(&state)
            ),
        ),
        SendError::Interrupted => Failure::new(
            Exit::Incomplete,
            anyhow::anyhow!("interrupted before anything was sent"),
        ),
        SendError::Record(record) if record.is_out_of_space() => Failure::usage(anyhow::anyhow!(
            "{record}, then run `{}` again; nothing was sent and nothing was left behind for {}",
            next.again,
            crate::term::shown(&next.results)
        )),
        other => Failure::usage(other),
    }
}

/// Prints the end of a run and picks its exit code.
fn finish(run: &Finished, next: &Next) -> Exit {
    if let Some(rate) = run.achieved_rate {
        say!(
            "greenbulk: requests left at {rate:.2}/s (limit {}, {:.1}% of it); {}",
            run.rate,
            rate / run.rate.per_second() * 100.0,
            summary(&run.counters)
        );
    }
    let stopped = match &run.stop {
        Stop::Finished => None,
        Stop::Interrupted => {
            say!("greenbulk: interrupted: requests in flight were finished and recorded");
            Some(Exit::Incomplete)
        }
        Stop::Fatal(reason) => {
            say!("greenbulk: GREEN-API stopped the run: {reason}");
            Some(Exit::Stopped)
        }
        Stop::Fault(reason) => {
            say!("greenbulk: stopped: {reason}");
            Some(Exit::Incomplete)
        }
    };
    let results = shown_path(&run.results);
    match &run.counts {
        Ok(counts) => {
            say!("greenbulk: {counts}");
            if run.held_back > 0 {
                say!(
                    "  {} held back by --limit: `{}` sends the next share",
                    run.held_back,
                    next.resume()
                );
            }
            if run.results_kept {
                say!("  results: {results}");
            } else {
                say!("  no results file: nothing was sent");
            }
            if let Some(last) = run.last_leaves
                && counts.sent > 0
            {
                let when = local_time(jiff::Timestamp::now(), last);
                say!(
                    "  sent means accepted into the instance's queue; the last card should \
                     leave it about {when}. `{}` tells what became of each card",
                    next.status()
                );
            }
            print_next_steps(counts, run.held_back, &run.stop, next);
            next.token_note();
            match stopped {
                Some(exit) => exit,
                // Rows held back by --limit are planned, not a failure.
                None if counts.unfinished() > run.held_back => Exit::Incomplete,
                None => Exit::Success,
            }
        }
        Err(error) => {
            say!(
                "greenbulk: error: the results file could not be rewritten: {error}. It still \
                 shows an earlier state; the ledger beside it holds the truth. Free space if \
                 the disk is full, then `{}` rewrites it (nothing already sent goes out again)",
                next.resume()
            );
            stopped.unwrap_or(Exit::Incomplete)
        }
    }
}

fn print_next_steps(counts: &StatusCounts, held_back: u64, stop: &Stop, next: &Next) {
    if counts.failed + counts.pending > held_back {
        let when = match stop {
            Stop::Fatal(_) | Stop::Fault(_) => "once the problem above is fixed, ",
            _ => "",
        };
        say!(
            "  {when}`{}` sends the {} failed and pending rows (nothing already sent goes out \
             again)",
            next.resume(),
            counts.failed + counts.pending - held_back
        );
    }
    if counts.unknown > 0 {
        say!(
            "  {} unknown: GREEN-API may or may not have queued them (the answer was lost, cut \
             off, or did not say). `{}` (or the next --resume) looks them up in GREEN-API's \
             queue and journal; those not found 5 minutes on can be sent again with `{}`",
            plural(counts.unknown, "row is", "rows are"),
            next.status(),
            next.resume().with("--retry-unknown")
        );
    }
}

/// The one line printed before sending: when the last card leaves the queue, and what the
/// 24-hour check is about (each card's wait in the queue, not the run's length).
fn plan_line(plan: &QueuePlan, now: jiff::Timestamp, state: &str) -> String {
    let last = plan.last_leaves_in();
    let then = jiff::SignedDuration::try_from(last)
        .ok()
        .and_then(|d| now.checked_add(d).ok())
        .unwrap_or(now);
    let mut line = format!(
        "{}; the instance's queue holds {}{} and sends one every {:.1} s: the last card \
         leaves about {} (in {}); none waits in the queue more than {} (GREEN-API drops a \
         card that waited {})",
        plural(plan.cards, "card", "cards"),
        if plan.at_least { "at least " } else { "" },
        grouped(plan.queued),
        plan.delay.as_secs_f64(),
        local_time(now, then),
        human(last),
        human(plan.longest_wait()),
        human(plan.ttl),
    );
    if state != "authorized" {
        line.push_str(&format!(
            " — once the instance is authorized: it is '{state}' now, and nothing leaves the \
             queue until it is"
        ));
    }
    line
}

/// Why the cards cannot be sent as they are, and the ways out.
fn refusal(plan: &QueuePlan, next: &Next) -> String {
    let fitting = plan.fitting();
    let mut text = format!(
        "{} cannot all leave the instance's queue within {}: it holds {}{} and sends one every \
         {:.1} s, so a card would wait up to {} in the queue, and GREEN-API drops a message \
         still queued after {} (no status, no notice).",
        plural(plan.cards, "card", "cards"),
        human(plan.ttl),
        if plan.at_least { "at least " } else { "" },
        grouped(plan.queued),
        plan.delay.as_secs_f64(),
        human(plan.longest_wait()),
        human(plan.ttl),
    );
    if fitting == 0 {
        text.push_str(
            " The queue is already too long for any more: wait until it drains (greenbulk \
             status shows it), or shorten the delay in the GREEN-API console",
        );
    } else {
        text.push_str(&format!(
            " {} fit now: `{}` sends them, and the same command on the next days the rest (a \
             cron job can); or shorten the delay in the GREEN-API console \
             (delaySendMessagesMilliseconds; GREEN-API advises longer delays for mass sending, \
             to keep the number from being blocked)",
            grouped(fitting),
            next.resume().with_value("--limit", &fitting.to_string())
        ));
    }
    text
}

/// `sent N · failed N · unknown N · retries N`.
fn summary(counters: &crate::send::Counters) -> String {
    let (sent, failed, unknown, retried) = counters.snapshot();
    format!("sent {sent} · failed {failed} · unknown {unknown} · retries {retried}")
}

fn print_dry_run(dry: &DryRun) {
    say!(
        "greenbulk: dry run: {} requests would go to POST {} at up to {}; nothing was sent or \
         written",
        dry.to_send,
        dry.target
            .as_deref()
            .unwrap_or("(no credentials given yet)"),
        dry.rate
    );
    for (row, body) in &dry.bodies {
        say!("  row {row}: {}", crate::term::shown(body));
    }
    if dry.held_back > 0 {
        say!(
            "  {} more would stay pending, held back by --limit",
            grouped(dry.held_back)
        );
    }
    if dry.unknown > 0 {
        say!(
            "  {} rows are unknown from an earlier run: a real run looks them up first",
            dry.unknown
        );
    }
}

/// Cancels the run on the first Ctrl-C (or SIGTERM, as from systemd or a container stop); a
/// second one ends the process at once.
async fn signals(cancel: Cancel) {
    if stop_signal().await.is_err() {
        return;
    }
    say!(
        "\ngreenbulk: stopping: no new requests; waiting for those in flight (Ctrl-C again to \
         quit now; they then show as unknown)"
    );
    cancel.cancel();
    if stop_signal().await.is_ok() {
        std::process::exit(Exit::Incomplete as i32);
    }
}

#[cfg(unix)]
async fn stop_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
async fn stop_signal() -> std::io::Result<()> {
    tokio::signal::ctrl_c().await
}
