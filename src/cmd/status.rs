//! `greenbulk status RESULTS`: resolve the flags, run the rounds, print each, and map the
//! outcome to an exit code.

use std::time::Duration;

use crate::cli::{StatusArgs, UntilArg};
use crate::client::CallError;
use crate::delivery::Delivery;
use crate::delivery::observe::{ASKED_PER_ROUND, ASKING_AT_MOST};
use crate::delivery::status::{
    self, FAILED_ROUNDS_AT_MOST, Queue, Round, StatusError, StatusOptions, StatusTarget, Until,
    Watched,
};
use crate::record::RecordError;
use crate::term::{say, shown_path};
use crate::{Exit, Failure};

use super::invocation::{INSTANCE_FLAGS, Invocation};
use super::words::{grouped, human, local_time, plural};

pub fn run(args: &StatusArgs) -> Result<Exit, Failure> {
    let state_dir = super::common::state_dir()?;
    let target = super::common::status_target(&args.credentials, args.sandbox)?;
    let options = StatusOptions {
        results: args.results.clone(),
        target,
        timeout: Duration::from_secs(30),
        watch: args.watch.map(Duration::from_secs),
        until: match args.until {
            UntilArg::Delivered => Until::Delivered,
            UntilArg::Read => Until::Read,
        },
        queue_ttl: super::common::queue_ttl(),
        asked_per_round: asked_per_round(),
        asking_per_round: test_setting("GREENBULK_ASKING_SECONDS")
            .map_or(ASKING_AT_MOST, Duration::from_secs),
        parts: history_parts(),
        state_dir,
    };
    let watching = options.watch.as_ref().map(Duration::as_secs);
    let results_arg = options.results.to_string_lossy().into_owned();
    let last = status::run(&options, &mut |watched| match watched {
        Watched::Round(round) => {
            if let Some(resolved) = &round.resolved {
                super::common::print_looked_up(resolved);
            }
            if watching.is_some() {
                say!("greenbulk: {}", one_line(round));
            }
        }
        Watched::Failed { error, in_a_row } if in_a_row >= FAILED_ROUNDS_AT_MOST => say!(
            "greenbulk: this round got no answer either ({error}): giving up after \
             {FAILED_ROUNDS_AT_MOST} unanswered rounds in a row"
        ),
        Watched::Failed { error, in_a_row } => say!(
            "greenbulk: this round got no answer ({error}); looking again in {} s ({in_a_row} \
             of {FAILED_ROUNDS_AT_MOST} unanswered rounds in a row before giving up)",
            watching.unwrap_or_default()
        ),
        Watched::Busy => say!(
            "greenbulk: another greenbulk run is using {} right now; looking again in {} s",
            shown_path(&options.results),
            watching.unwrap_or_default()
        ),
    })
    .map_err(|e| failure(e, &options.results))?;
    let again = match &options.target {
        StatusTarget::Sandbox => Invocation::new(["status", &results_arg, "--sandbox"]),
        StatusTarget::Api(_) => Invocation::new(["status", &results_arg])
            .and(Invocation::current().given(&INSTANCE_FLAGS)),
    };
    print_table(&last, options.asked_per_round, &again);
    if last.missing_lines > 0 {
        say!(
            "  warning: the ledger records {} no line in the results file (it was cut short \
             or edited): run the `greenbulk send` that wrote it again with --resume, which \
             rewrites it from the input and the ledger (nothing already sent goes out again)",
            plural(last.missing_lines, "card that has", "cards that have")
        );
    }
    if let Some(line) = last.repaired {
        say!(
            "{}",
            super::words::ledger_repaired(&crate::record::ledger_path(&options.results), line)
        );
    }
    if last.restored > 0 {
        say!(
            "  warning: the results file records {} as sent or unknown that the ledger did \
             not know (it was emptied, lost or replaced): taken back into it, so that they are \
             never sent again",
            plural(last.restored, "row", "rows")
        );
    }
    for (instance, error) in &last.silent {
        say!(
            "  instance {instance} did not answer ({error}): its cards were not looked up, the \
             other instances' were"
        );
    }
    say!("  results: {}", shown_path(&options.results));
    let refused = last
        .silent
        .iter()
        .any(|(_, error)| matches!(error, CallError::Refused { .. }));
    Ok(if refused {
        Exit::Stopped
    } else if last.all_delivered {
        Exit::Success
    } else {
        Exit::Incomplete
    })
}

/// How many parts a round works on the history in: as many as its size calls for, unless
/// the tests set a number (`GREENBULK_HISTORY_PARTS`) to work on a small history in parts.
fn history_parts() -> Option<u32> {
    test_setting("GREENBULK_HISTORY_PARTS")
}

/// [`ASKED_PER_ROUND`]; the tests set a smaller number (`GREENBULK_LOOKUPS_PER_ROUND`) to
/// see rounds take turns without waiting a minute for each.
fn asked_per_round() -> usize {
    test_setting("GREENBULK_LOOKUPS_PER_ROUND").unwrap_or(ASKED_PER_ROUND)
}

/// A positive number the tests set in the environment, if they did.
fn test_setting<T: std::str::FromStr + PartialOrd + Default>(name: &str) -> Option<T> {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > T::default())
}

fn failure(err: StatusError, results: &std::path::Path) -> Failure {
    match err {
        StatusError::Record(RecordError::Busy { .. }) => Failure::new(
            Exit::Incomplete,
            anyhow::anyhow!(
                "another greenbulk run is using {} right now (a send, or another status): run \
                 status again when it ends, or add --watch SECS to wait for it",
                shown_path(results)
            ),
        ),
        StatusError::Refused(CallError::Refused { reason, .. }) => Failure::new(
            Exit::Stopped,
            anyhow::anyhow!("GREEN-API stopped status: {reason}"),
        ),
        // The disk full: nothing is lost (the ledger is cut back to whole lines, the results
        // file kept as it was); the round can run again once there is room.
        StatusError::Record(record) if record.is_out_of_space() => Failure::new(
            Exit::Incomplete,
            anyhow::anyhow!("{record}; what was learned before is in the ledger"),
        ),
        StatusError::Call(call) => Failure::new(
            Exit::Incomplete,
            anyhow::anyhow!(
                "{call}. What was learned before is in the ledger; try again in a while"
            ),
        ),
        other => Failure::usage(other),
    }
}

/// `1,234 sent cards: 1,000 delivered, 200 read, 34 queued (3 calls)`.
fn one_line(round: &Round) -> String {
    let states: Vec<String> = round
        .states
        .iter()
        .map(|(state, n)| format!("{} {state}", grouped(*n)))
        .collect();
    let mut line = format!(
        "{}: {}",
        plural(round.sent, "sent card", "sent cards"),
        states.join(", ")
    );
    if round.unknown > 0 {
        line.push_str(&format!("; {} unknown", grouped(round.unknown)));
    }
    if round.to_look_up > 0 {
        line.push_str(&format!("; {} still to look up", grouped(round.to_look_up)));
    }
    for (instance, _) in &round.silent {
        line.push_str(&format!("; instance {instance} did not answer"));
    }
    line.push_str(&format!(
        " ({})",
        plural(u64::from(round.calls.total()), "call", "calls")
    ));
    line
}

/// `queue holds 12; the last should leave about 14:05 (in 6 s)`, or why nothing leaves.
fn queue_words(queue: &Queue) -> String {
    let now = jiff::Timestamp::now();
    let left = jiff::SignedDuration::try_from(queue.drains_in).unwrap_or_default();
    let when = local_time(now, now.checked_add(left).unwrap_or(now));
    if queue.state == "authorized" {
        format!(
            "queue holds {}; the last should leave about {when} (in {})",
            grouped(queue.length),
            human(queue.drains_in)
        )
    } else {
        format!(
            "queue holds {}, and nothing leaves while the instance is '{}'; messages still \
             queued 24 hours after they were accepted are dropped",
            grouped(queue.length),
            queue.state
        )
    }
}

fn print_table(round: &Round, asked_per_round: usize, again: &Invocation) {
    say!(
        "greenbulk: {} accepted by GREEN-API, by what became of them ({}):",
        plural(round.sent, "card", "cards"),
        plural(u64::from(round.calls.total()), "call", "calls")
    );
    for state in Delivery::ALL
        .iter()
        .map(|d| d.name())
        .chain(["not looked up"])
    {
        let Some(count) = round.states.get(state) else {
            continue;
        };
        let mut line = format!("  {state:<13} {:>9}", grouped(*count));
        if state == "queued"
            && round.instances == 1
            && let [queue] = round.queues.as_slice()
        {
            line.push_str(&format!("   the instance's {}", queue_words(queue)));
        }
        say!("{line}");
        if state == "queued" && round.instances > 1 {
            for queue in &round.queues {
                say!("    instance {}'s {}", queue.instance, queue_words(queue));
            }
        }
    }
    for (instance, cards) in &round.elsewhere {
        say!(
            "  {} sent from instance {instance}, which this status was not given: not looked \
             up (give it in --instances)",
            plural(*cards, "card was", "cards were")
        );
    }
    if round.to_look_up > 0 {
        say!(
            "  {} cards left the queue before the oldest message GREEN-API's journal still \
             lists (it keeps the last 10,000) and are looked up one by one, {} a round (getMessage \
             answers 10 a second): run `{again}` again, or `{}` to go on until done",
            grouped(round.to_look_up),
            asked_per_round,
            again.clone().with_value("--watch", "600")
        );
    }
    if round.unknown > 0 && round.resolved.is_none() && round.silent.is_empty() {
        // None was looked up, and no instance given was silent: theirs is not among them.
        say!(
            "  {} still unknown, not looked up: sent from an instance this status was not \
             given (give it, or its --instances file)",
            plural(round.unknown, "row is", "rows are")
        );
    } else if round.unknown > 0 {
        say!(
            "  {} still unknown: not found in GREEN-API's queue or journal yet \
             (`send --resume --retry-unknown` sends those not found 5 minutes after their \
             attempt)",
            plural(round.unknown, "row is", "rows are")
        );
    }
    if round.sent == 0 && round.counts.already_sent > 0 {
        say!(
            "  no card went from this results file: {} already-sent, from the results files \
             {} (`greenbulk status` on those tells what became of them)",
            plural(round.counts.already_sent, "row is", "rows are"),
            if round.counts.already_sent == 1 {
                "its error names"
            } else {
                "their errors name"
            }
        );
    }
    let unsettled = round.counts.unknown.saturating_sub(round.unknown);
    if unsettled > 0 {
        say!(
            "  {} unknown but not this file's to settle: another run attempted the card with \
             no answer yet (run `greenbulk status` on the results file each row's error names), \
             or the row was taken back from this results file without its card",
            plural(unsettled, "more row is", "more rows are")
        );
    }
    say!("  {}", round.counts);
}
