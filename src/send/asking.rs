//! Asking each instance before sending: is it there and able to send (preflight), what
//! became of the rows an earlier run lost the answer of (lookup), and can its queue send its
//! share of the cards within the 24 hours GREEN-API keeps them (plan). Also where the
//! gateways come from: the target's clients, or the built-in emulator's instances.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::events::{Calendar, Events, InstanceInfo, Note};
use super::plan::QueuePlan;
use super::schedule;
use super::{ApiInstance, Rate, SendError, SendOptions, Target};
use crate::client::{CallError, Client, Credentials, Gateway};
use crate::contact::ContentKey;
use crate::delivery::lookup::{self, ResolveError, Scope};
use crate::record::Record;
use crate::record::sent::SentCards;
use crate::sandbox::{self, Sandbox};

/// How long a `starting` instance is waited for before sending begins anyway.
const STARTING_PATIENCE: Duration = Duration::from_secs(60);

/// The run's instances, in lane order, as the summary names them.
pub(super) fn instances(
    options: &SendOptions,
    gateways: Option<&[Arc<dyn Gateway>]>,
) -> Vec<InstanceInfo> {
    let unnamed = |id: &str| InstanceInfo {
        id_instance: id.to_string(),
        name: None,
    };
    if let Some(gateways) = gateways {
        return gateways.iter().map(|g| unnamed(g.id_instance())).collect();
    }
    match &options.target {
        Target::Api(instances) => instances
            .iter()
            .map(|i| InstanceInfo {
                id_instance: i.credentials.id_instance().to_string(),
                name: i.name.clone(),
            })
            .collect(),
        Target::Sandbox { instances } => (0..*instances)
            .map(|place| unnamed(&sandbox::instance_id(place)))
            .collect(),
        Target::Unset => Vec::new(),
    }
}

/// Each instance's rate: its own (the instances file's), else the run's.
pub(super) fn rates(options: &SendOptions, lanes: usize) -> Vec<Rate> {
    let own = |lane: usize| match &options.target {
        Target::Api(instances) => instances.get(lane).and_then(|i: &ApiInstance| i.rate),
        _ => None,
    };
    (0..lanes)
        .map(|lane| own(lane).unwrap_or(options.settings.rate))
        .collect()
}

/// The gateways the run sends through, one an instance: those given, or clients made from
/// the target (the built-in emulator's instances started for it, kept alive with them).
pub(super) async fn gateways_for(
    options: &SendOptions,
    given: Option<Vec<Arc<dyn Gateway>>>,
    events: &Events,
) -> Result<(Vec<Arc<dyn Gateway>>, Vec<Sandbox>), SendError> {
    if let Some(given) = given {
        return Ok((given, Vec::new()));
    }
    let timeout = options.timeout;
    match &options.target {
        Target::Api(instances) => {
            let mut gateways: Vec<Arc<dyn Gateway>> = Vec::with_capacity(instances.len());
            for instance in instances {
                let client = Client::new(
                    &instance.credentials,
                    timeout,
                    instance.shared_calls.clone(),
                )?;
                gateways.push(Arc::new(client));
            }
            Ok((gateways, Vec::new()))
        }
        Target::Sandbox { instances } => {
            let mut gateways: Vec<Arc<dyn Gateway>> = Vec::with_capacity(*instances);
            let mut started = Vec::with_capacity(*instances);
            for place in 0..*instances {
                let config = sandbox::built_in(place);
                let kept = sandbox::kept_file(&options.state_dir, &config.id_instance);
                let one = Sandbox::start_kept(config, kept, !options.dry_run)
                    .await
                    .map_err(SendError::Sandbox)?;
                let credentials =
                    Credentials::new(&one.url(), &one.config().id_instance, &one.config().token)
                        .map_err(anyhow::Error::msg)?;
                gateways.push(Arc::new(Client::new(&credentials, timeout, None)?));
                started.push(one);
            }
            if let Some(first) = started.first() {
                events.note(Note::Sandbox {
                    url: first.url(),
                    instances: started.len(),
                });
            }
            Ok((gateways, started))
        }
        Target::Unset => Ok((Vec::new(), Vec::new())),
    }
}

/// The instance must be able to send: refused credentials and the states that cannot send
/// are errors; `starting` is waited for (about a minute); the others are noted.
pub(super) async fn preflight(gateway: &dyn Gateway, events: &Events) -> Result<String, SendError> {
    let instance = gateway.id_instance().to_string();
    let mut state = gateway.state().await.map_err(SendError::Preflight)?;
    let patience = tokio::time::Instant::now() + STARTING_PATIENCE;
    while state == "starting" && tokio::time::Instant::now() < patience {
        events.note(Note::Starting {
            instance: instance.clone(),
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        state = gateway.state().await.map_err(SendError::Preflight)?;
    }
    match state.as_str() {
        "authorized" => Ok(state),
        "yellowCard" | "blocked" | "suspended" => Err(SendError::Instance { instance, state }),
        _ => {
            events.note(Note::InstanceState {
                instance,
                state: state.clone(),
            });
            Ok(state)
        }
    }
}

/// Why a preflight error stops one instance of several (its rows then stay pending).
pub(super) fn stop_reason(error: &SendError) -> String {
    match error {
        SendError::Preflight(CallError::Refused { reason, .. }) => {
            format!("GREEN-API refused the credentials: {reason}")
        }
        SendError::Instance { state, .. } => format!("the instance is '{state}'"),
        other => other.to_string(),
    }
}

/// Looks up the rows whose answer an earlier run lost on this instance (see
/// [`lookup::resolve`]) and returns the unknown rows this run sends again: with
/// `--retry-unknown`, those looked up, not found, and attempted at least
/// [`lookup::RETRY_UNKNOWN_AFTER`] ago; else none. The rows whose instance an older ledger
/// did not record are looked up on every instance, and sent again only when the run has
/// one (`alone`).
pub(super) async fn look_up(
    options: &SendOptions,
    gateway: &dyn Gateway,
    alone: bool,
    record: &mut Record,
    events: &Events,
) -> Result<HashSet<ContentKey>, SendError> {
    let instance = gateway.id_instance().to_string();
    let scope = Scope {
        instance: &instance,
        alone,
    };
    match lookup::resolve(gateway, record, scope).await {
        Ok(resolved) => {
            let resendable = resolved.resendable.clone();
            if resolved != lookup::Resolved::default() {
                events.note(Note::LookedUp {
                    instance: instance.clone(),
                    resolved,
                });
            }
            Ok(if options.retry_unknown {
                resendable
            } else {
                HashSet::new()
            })
        }
        Err(ResolveError::Call(refused @ CallError::Refused { .. })) => {
            Err(SendError::Preflight(refused))
        }
        Err(ResolveError::Call(other)) => {
            events.note(Note::LookupFailed {
                instance,
                why: other.to_string(),
            });
            Ok(HashSet::new())
        }
        Err(ResolveError::Record(record)) => Err(SendError::Record(record)),
    }
}

/// The plan for an instance's `share` of this run: the queue's delay and length, noted
/// (none when they cannot be read, which is noted too). Whether it fits is the caller's to
/// judge, over every instance. With a daily cap, the queue holds no more than the cap at
/// once: the plan is for that many, the calendar for the whole share.
pub(super) async fn plan(
    options: &SendOptions,
    gateway: &dyn Gateway,
    share: u64,
    rate: Rate,
    state: &str,
    now: jiff::Timestamp,
    events: &Events,
) -> Result<Option<QueuePlan>, SendError> {
    let cards = options
        .schedule
        .daily_cap
        .map_or(share, |cap| share.min(cap));
    if cards == 0 {
        return Ok(None);
    }
    let instance = gateway.id_instance().to_string();
    let read =
        async { Ok::<_, CallError>((gateway.delay().await?, gateway.queue_length().await?)) };
    let (delay, length) = match read.await {
        Ok(read) => read,
        Err(refused @ CallError::Refused { .. }) => return Err(SendError::Preflight(refused)),
        Err(other) => {
            events.note(Note::NoPlan {
                instance,
                why: other.to_string(),
            });
            return Ok(None);
        }
    };
    // Under a pace, cards are queued one per interval at the fastest, never faster than the
    // queue lets them out: what waits is the backlog before them.
    let rate = match options.schedule.pace {
        Some(pace) => Rate {
            count: 1,
            per: pace.min.max(delay).max(Duration::from_millis(1)),
        },
        None => rate,
    };
    let plan = QueuePlan {
        cards,
        queued: length.count,
        at_least: length.at_least,
        delay,
        rate,
        ttl: options.queue_ttl,
    };
    let calendar = calendar(options, gateway, &plan, share, now);
    events.note(Note::Plan {
        instance,
        plan,
        now,
        state: state.to_string(),
        calendar,
    });
    Ok(Some(plan))
}

/// The calendar a schedule makes of an instance's `share`: how many of its cards go in
/// this run, on how many days, and when the last leaves.
fn calendar(
    options: &SendOptions,
    gateway: &dyn Gateway,
    plan: &QueuePlan,
    share: u64,
    now: jiff::Timestamp,
) -> Option<Calendar> {
    let schedule = &options.schedule;
    if !schedule.is_active() {
        return None;
    }
    let sent_today = match schedule.daily_cap {
        Some(_) => sent_today(options, gateway.id_instance(), now),
        None => 0,
    };
    let projection = schedule::project(
        Arc::new(schedule.clone()),
        plan.delay,
        plan.queued,
        plan.rate.per_second(),
        share,
        sent_today,
        now,
    );
    Some(Calendar {
        share,
        window: schedule.window.as_ref().map(ToString::to_string),
        // A pace under the queue's delay is held to it (the queue sends no faster): say so.
        pace: schedule.pace.map(|p| {
            if p.min < plan.delay {
                format!(
                    "{p}, and no faster than the queue's delay ({:.1} s)",
                    plan.delay.as_secs_f64()
                )
            } else {
                p.to_string()
            }
        }),
        daily_cap: schedule.daily_cap,
        zone: schedule.tz.iana_name().unwrap_or_default().to_string(),
        projection,
    })
}

/// How many cards this machine sent from the instance today (in the schedule's zone).
pub(super) fn sent_today(options: &SendOptions, id_instance: &str, now: jiff::Timestamp) -> u64 {
    let tz = options.schedule.tz.clone();
    let today = now.to_zoned(tz.clone()).date();
    let start = |d: jiff::civil::Date| d.to_zoned(tz.clone()).map_or(now, |z| z.timestamp());
    let (from, to) = (start(today), start(today.tomorrow().unwrap_or(today)));
    SentCards::peek(&options.history_dir(), id_instance)
        .and_then(|cards| cards.sent_between(schedule::unix_ms(from), schedule::unix_ms(to)))
        .unwrap_or(0)
}

/// When the last card of a plan should leave the queue (none while the instance is not
/// `authorized`: nothing leaves until it is), as of `now`.
pub(super) fn last_leaves(
    plan: &QueuePlan,
    state: &str,
    now: jiff::Timestamp,
) -> Option<jiff::Timestamp> {
    if state != "authorized" {
        return None;
    }
    let leaves = jiff::SignedDuration::try_from(plan.last_leaves_in()).ok()?;
    now.checked_add(leaves).ok()
}

/// Each live lane's share of the rows this run sends: `order` gives the lane of each row
/// that goes for sure, in input order; `resent`, the lost rows sent again, by lane; at most
/// `limit` rows in all. Rows of lanes that are not `live` do not go.
pub(super) fn shares(order: &[u16], resent: &[u64], live: &[bool], limit: Option<u64>) -> Vec<u64> {
    let mut shares = resent.to_vec();
    let mut left = limit.map_or(u64::MAX, |l| l.saturating_sub(resent.iter().sum()));
    for &lane in order {
        if left == 0 {
            break;
        }
        let lane = usize::from(lane);
        if live.get(lane).copied().unwrap_or(false) {
            shares[lane] += 1;
            left -= 1;
        }
    }
    shares
}

/// The most rows (a `--limit`) whose cards all leave their queues in time, each lane taking
/// at most `fitting[lane]`, rows taken in input order.
pub(super) fn fitting_overall(order: &[u16], live: &[bool], fitting: &[u64]) -> u64 {
    let mut taken = vec![0u64; fitting.len()];
    let mut rows = 0;
    for &lane in order {
        let lane = usize::from(lane);
        if !live.get(lane).copied().unwrap_or(false) {
            continue;
        }
        if taken[lane] == fitting[lane] {
            break;
        }
        taken[lane] += 1;
        rows += 1;
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_the_limit_that_fits_follow_input_order_over_the_live_lanes() {
        let order = [0, 1, 2, 0, 1, 2, 0, 0];
        let live = [true, true, false];
        assert_eq!(shares(&order, &[0, 0, 0], &live, None), [4, 2, 0]);
        assert_eq!(shares(&order, &[1, 0, 0], &live, Some(3)), [2, 1, 0]);
        // Lane 0 takes 2 in time: the third row of lane 0 is the 5th live row.
        assert_eq!(fitting_overall(&order, &live, &[2, 9, 9]), 4);
        assert_eq!(fitting_overall(&order, &live, &[9, 9, 0]), 6);
    }
}
