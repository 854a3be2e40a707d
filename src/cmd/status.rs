//! `greenbulk status RESULTS`: resolve the flags, run the rounds, print each, and map the
//! outcome to an exit code.

use std::time::Duration;

use crate::cli::StatusArgs;
use crate::client::CallError;
use crate::delivery::observe::ASKED_PER_ROUND;
use crate::delivery::plan::{grouped, local_time};
use crate::delivery::status::{self, Round, StatusError, StatusOptions};
use crate::delivery::{Delivery, human};
use crate::term::{say, shown_path};
use crate::{Exit, Failure};

pub fn run(args: &StatusArgs) -> Result<Exit, Failure> {
    let credentials = super::send::credentials(&args.credentials, false)
        .map_err(|e| Failure::usage(anyhow::Error::msg(e)))?
        .expect("required credentials are given or refused");
    let options = StatusOptions {
        results: args.results.clone(),
        shared_calls: super::send::state_dir()
            .map(|dir| crate::send::shared_calls_file(&dir, &credentials)),
        credentials,
        timeout: Duration::from_secs(30),
        watch: args.watch.map(Duration::from_secs),
        queue_ttl: super::send::queue_ttl(),
        asked_per_round: asked_per_round(),
    };
    let watching = options.watch.is_some();
    let last = status::run(&options, &mut |round| {
        if let Some(resolved) = &round.resolved {
            super::send::print_looked_up(resolved);
        }
        if watching {
            say!("greenbulk: {}", one_line(round));
        }
    })
    .map_err(failure)?;
    print_table(&last, options.asked_per_round);
    say!("  results: {}", shown_path(&options.results));
    Ok(if last.all_delivered {
        Exit::Success
    } else {
        Exit::Incomplete
    })
}

/// [`ASKED_PER_ROUND`]; the tests set a smaller number (`GREENBULK_LOOKUPS_PER_ROUND`) to
/// see rounds take turns without waiting a minute for each.
fn asked_per_round() -> usize {
    std::env::var("GREENBULK_LOOKUPS_PER_ROUND")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(ASKED_PER_ROUND)
        .max(1)
}

fn failure(err: StatusError) -> Failure {
    match err {
        StatusError::Refused(CallError::Refused { reason, .. }) => Failure::new(
            Exit::Stopped,
            anyhow::anyhow!("GREEN-API stopped status: {reason}"),
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
    let mut line = format!("{} sent cards: {}", grouped(round.sent), states.join(", "));
    if round.unknown > 0 {
        line.push_str(&format!("; {} unknown", grouped(round.unknown)));
    }
    if round.to_look_up > 0 {
        line.push_str(&format!("; {} still to look up", grouped(round.to_look_up)));
    }
    line.push_str(&format!(" ({} calls)", round.calls.total()));
    line
}

fn print_table(round: &Round, asked_per_round: usize) {
    say!(
        "greenbulk: {} cards accepted by GREEN-API, by what became of them ({} calls):",
        grouped(round.sent),
        round.calls.total()
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
            && let Some(queue) = &round.queue
        {
            let now = jiff::Timestamp::now();
            let left = jiff::SignedDuration::try_from(queue.drains_in).unwrap_or_default();
            let when = local_time(now, now.checked_add(left).unwrap_or(now));
            if queue.state == "authorized" {
                line.push_str(&format!(
                    "   the instance's queue holds {}; the last should leave about {when} (in \
                     {})",
                    grouped(queue.length),
                    human(queue.drains_in)
                ));
            } else {
                line.push_str(&format!(
                    "   the instance's queue holds {}, and nothing leaves while the instance is \
                     '{}'; messages still queued 24 hours after they were accepted are dropped",
                    grouped(queue.length),
                    queue.state
                ));
            }
        }
        say!("{line}");
    }
    if round.to_look_up > 0 {
        say!(
            "  {} cards left the queue before the oldest message GREEN-API's journal still \
             lists (it keeps the last 10,000) and are looked up one by one, {} a round (getMessage \
             answers 10 a second): run `greenbulk status` again, or add --watch SECS, to go on",
            grouped(round.to_look_up),
            asked_per_round
        );
    }
    if round.unknown > 0 {
        say!(
            "  {} rows are still unknown: not found in GREEN-API's queue or journal yet \
             (`send --resume --retry-unknown` sends those not found 5 minutes after their \
             attempt)",
            grouped(round.unknown)
        );
    }
    say!("  {}", round.counts);
}
