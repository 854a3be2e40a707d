//! `greenbulk send`: resolve the flags, run a send [`Session`], print what it tells, and map
//! its outcome to an exit code.

use std::time::Duration;

mod plans;
mod printer;

use super::common::{queue_ttl, state_dir, target};
use super::invocation::{INPUT_FLAGS, INSTANCE_FLAGS, Invocation};
use super::progress::Display;
use super::words::{grouped, local_time, plural};
use crate::cli::{SafetyArgs, SendArgs};
use crate::client::CallError;
use crate::record::RecordError;
use crate::record::StatusCounts;
use crate::send::schedule::window::parse_hours;
use crate::send::schedule::{Days, Window};
use crate::send::{
    Cancel, DryRun, Finished, LaneEnd, Outcome, Schedule, SendError, SendOptions, Session,
    Settings, Stop,
};
use crate::term::{say, shown_path};
use crate::{Exit, Failure};
use plans::{cannot_send, refusal, summary};
pub(crate) use printer::Printer;
use printer::named;

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
            if tally.skippable() {
                say!(
                    "greenbulk: nothing was sent: {} rows have errors. `{}` lists each; fix \
                     them, or send the other {} with `{}`",
                    tally.invalid,
                    next.validate(),
                    tally.sendable,
                    next.again.clone().with("--skip-invalid")
                );
            } else {
                say!(
                    "greenbulk: nothing was sent: {}. `{}` lists each",
                    super::words::not_skippable(&tally),
                    next.validate()
                );
            }
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
    /// This command with --resume: sending (a dry run's --dry-run left out).
    fn resume(&self) -> Invocation {
        self.again.clone().without("--dry-run").with("--resume")
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
                "  (the commands above leave out --api-token-instance: set \
                 GREEN_API_TOKEN_INSTANCE to the token instead, where other users of this \
                 machine cannot read it in the list of processes)"
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
    let target = target(&args.credentials, args.sandbox, args.dry_run)?;
    Ok(SendOptions {
        input,
        results: args.results.clone(),
        target,
        settings: Settings {
            rate: args.rate,
            concurrency: args.concurrency,
            max_attempts: 5,
            backoff: Duration::from_millis(500),
            state_every: Some(state_every()),
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
        state_dir: state_dir()?,
        reassign: args.reassign,
        schedule: schedule(&args.safety)?,
        started_at: None,
    })
}

/// How often the instance's state is asked while sending: every 5 s (GREEN-API allows one a
/// second, shared with other runs; at 10/s a flagged number gets at most about 50 more
/// cards); `GREENBULK_STATE_EVERY_MS` shortens it for tests.
fn state_every() -> Duration {
    std::env::var("GREENBULK_STATE_EVERY_MS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map_or(Duration::from_secs(5), Duration::from_millis)
        .max(Duration::from_secs(1))
}

/// The window, the pace and the cap, checked (docs/safety.md).
pub(crate) fn schedule(args: &SafetyArgs) -> Result<Schedule, Failure> {
    let usage = |e: String| Failure::usage(anyhow::Error::msg(e));
    let tz = match &args.tz {
        Some(name) => jiff::tz::TimeZone::get(name.trim()).map_err(|_| {
            usage(format!(
                "--tz '{}' is not a time zone; give its IANA name, e.g. Europe/Moscow or \
                 Asia/Almaty",
                crate::term::shown(name)
            ))
        })?,
        // Hours, days and a day's cap are the local time zone's: TZ set to something that
        // is not a zone would quietly be UTC. (A machine with no zone at all, TZ unset, is
        // on UTC, as its own clock says.)
        None if (args.window.is_some() || args.days.is_some() || args.daily_cap.is_some())
            && std::env::var_os("TZ").is_some() =>
        {
            jiff::tz::TimeZone::try_system().map_err(|_| {
                usage(format!(
                    "TZ is '{}', not a time zone, and --window, --days and --daily-cap count \
                     in the local one: give it with --tz (e.g. --tz Europe/Moscow), or fix TZ",
                    crate::term::shown(&std::env::var("TZ").unwrap_or_default())
                ))
            })?
        }
        None => jiff::tz::TimeZone::system(),
    };
    let days = args
        .days
        .as_deref()
        .map(Days::parse)
        .transpose()
        .map_err(usage)?;
    let window = match (&args.window, days) {
        (None, None) => None,
        (hours, days) => {
            let (from, to) = match hours {
                Some(hours) => parse_hours(hours).map_err(usage)?,
                // Days alone: all day on those days.
                None => (jiff::civil::Time::midnight(), jiff::civil::Time::MAX),
            };
            Some(Window {
                from,
                to,
                days: days.unwrap_or(Days::ALL),
                tz: tz.clone(),
            })
        }
    };
    if args.exit_outside_window && window.is_none() {
        return Err(usage(
            "--exit-outside-window needs a window: give --window HH:MM-HH:MM (or --days)".into(),
        ));
    }
    if args.tz.is_some() && window.is_none() && args.daily_cap.is_none() {
        return Err(usage(
            "--tz is the zone of --window, --days and --daily-cap, and none is given: add the \
             one you meant (e.g. --window 09:00-18:00), or leave --tz out"
                .into(),
        ));
    }
    Ok(Schedule {
        window,
        pace: args.pace,
        daily_cap: args.daily_cap,
        exit_outside_window: args.exit_outside_window,
        tz,
    })
}

fn display() -> Display {
    if crate::term::is_terminal(&std::io::stderr()) {
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
            instances: Vec::new(),
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

/// The exit code for an error that ended the run before it sent anything, with the advice
/// the error alone cannot give.
fn failure(err: SendError, next: &Next) -> Failure {
    match err {
        SendError::Record(RecordError::Exists { path }) => Failure::usage(anyhow::anyhow!(
            "{path} exists from an earlier run and is never overwritten. To continue that run \
             (rows already sent are not sent again): `{}`; or choose another --results path",
            next.resume()
        )),
        // As `status` does: a run holding the files now is a reason to run again, not a
        // mistake in the command (README, "Exit codes").
        SendError::Record(RecordError::Busy { path }) => Failure::new(
            Exit::Incomplete,
            anyhow::anyhow!(
                "another greenbulk run (a send, or a status round) is using {path} right now; \
                 nothing was sent. Run `{}` again once it has finished",
                next.again
            ),
        ),
        SendError::QueueFull {
            plan,
            fitting,
            instance,
            several,
        } => {
            let instance = several.then_some(instance.as_str());
            Failure::usage(anyhow::Error::msg(refusal(&plan, fitting, instance, next)))
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

/// Prints the end of a run and picks its exit code: the worst of its instances'.
fn finish(run: &Finished, next: &Next) -> Exit {
    let several = run.lanes.len() > 1;
    if several {
        say!("greenbulk: {}", summary(&run.counters));
        for lane in &run.lanes {
            let counts = run.by_instance.get(&lane.instance.id_instance);
            say!("  {}", lane_line(lane, counts));
        }
    } else if let Some(rate) = run.achieved_rate {
        say!(
            "greenbulk: requests left at {rate:.2}/s (limit {}, {:.1}% of it); {}",
            run.rate,
            rate / run.rate.per_second() * 100.0,
            summary(&run.counters)
        );
    }
    let stopped = match &run.stop {
        Stop::Finished => None,
        // What the schedule held back is pending for a later run, as with --limit.
        Stop::Held(reason) => {
            if !several {
                say!("greenbulk: {reason}");
            }
            None
        }
        Stop::Interrupted => {
            say!("greenbulk: interrupted: requests in flight were finished and recorded");
            Some(Exit::Incomplete)
        }
        Stop::Fatal(_) if several => {
            say!(
                "greenbulk: GREEN-API stopped some of the instances (above); their rows stay \
                 pending, and the others went on"
            );
            Some(Exit::Stopped)
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
            if run.held > 0 {
                say!(
                    "  {} held back (above): `{}` sends them when they may go",
                    plural(run.held, "row", "rows"),
                    next.resume()
                );
            }
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
            print_next_steps(
                counts,
                run.held_back + run.held + run.waiting,
                &run.stop,
                next,
            );
            next.token_note();
            match stopped {
                Some(exit) => exit,
                // Rows held back by --limit are planned, not a failure.
                None if counts.unfinished() > run.held_back + run.held => Exit::Incomplete,
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

/// One instance's part: `instance 1101000002 (shop-2): sent 98 · … at 9.97/s (limit 10/s)`,
/// or why it stopped and how many of its rows wait.
fn lane_line(lane: &LaneEnd, counts: Option<&StatusCounts>) -> String {
    let name = named(&lane.instance);
    let pending = counts.map_or(0, |c| c.pending);
    match &lane.stop {
        Stop::Fatal(reason) if !lane.started => format!(
            "instance {name}: sent nothing: {reason}; {} wait for it",
            plural(pending, "row", "rows")
        ),
        Stop::Fatal(reason) => format!(
            "instance {name}: {}; then GREEN-API stopped it: {reason}; {} wait for it",
            summary(&lane.counters),
            plural(pending, "row", "rows")
        ),
        Stop::Held(reason) => format!(
            "instance {name}: {}; then {reason}; {} wait",
            summary(&lane.counters),
            plural(pending, "row", "rows")
        ),
        _ => {
            let rate = lane.achieved_rate.map_or(String::new(), |rate| {
                format!(" at {rate:.2}/s (limit {})", lane.rate)
            });
            format!("instance {name}: {}{rate}", summary(&lane.counters))
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
    let own_unknown = counts.unknown.saturating_sub(counts.unknown_elsewhere);
    if own_unknown > 0 {
        say!(
            "  {} unknown: GREEN-API may or may not have queued them (the answer was lost, cut \
             off, or did not say). `{}` (or the next --resume) looks them up in GREEN-API's \
             queue and journal; those not found 5 minutes on can be sent again with `{}`",
            plural(own_unknown, "row is", "rows are"),
            next.status(),
            next.resume().with("--retry-unknown")
        );
    }
    if counts.unknown_elsewhere > 0 {
        say!(
            "  {} unknown here: another run on this machine attempted {} card with no answer \
             yet (the error column names its results file). That run's answer settles it; if \
             it ended without one, `greenbulk status` on its results file finds the cards that \
             went, and `send --resume --retry-unknown` there sends those that did not. `{}` \
             here then marks them already sent, or sends those that never went",
            plural(counts.unknown_elsewhere, "row is", "rows are"),
            if counts.unknown_elsewhere == 1 {
                "its"
            } else {
                "their"
            },
            next.resume()
        );
    }
}

fn print_dry_run(dry: &DryRun) {
    let target = match dry.target.as_deref() {
        Some(url) => format!("would go to POST {url}"),
        None => "would go out (no instance given yet: --api-url, --id-instance, \
                 --api-token-instance, or --sandbox)"
            .to_string(),
    };
    say!(
        "greenbulk: dry run: {} requests {target} at up to {}; nothing was sent or written",
        dry.to_send,
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
    if dry.capped > 0 {
        say!(
            "  {} more would stay pending today, held back by --daily-cap: --resume sends them \
             on another day",
            grouped(dry.capped)
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
