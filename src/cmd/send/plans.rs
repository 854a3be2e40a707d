//! The words for the plan before sending: when the last card leaves the queue, why a run is
//! refused when it cannot leave in time, and what a state that cannot send means.

use super::Next;
use crate::cmd::words::{grouped, human, local_time, plural, time_in};
use crate::send::{Calendar, QueuePlan};

/// What a state that cannot send means.
pub(super) fn cannot_send(state: &str) -> &'static str {
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

/// The one line printed before sending: when the last card leaves the queue, and what the
/// 24-hour check is about (each card's wait in the queue, not the run's length).
pub(super) fn plan_line(plan: &QueuePlan, now: jiff::Timestamp, state: &str) -> String {
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
    line.push_str(&until_authorized(state));
    line
}

/// What a plan's times wait for while the instance is not authorized (nothing, when it is).
fn until_authorized(state: &str) -> String {
    if state == "authorized" {
        return String::new();
    }
    format!(
        " — once the instance is authorized: it is '{state}' now, and nothing leaves the queue \
         until it is"
    )
}

/// The plan under a schedule, as a calendar: `7,412 cards, 09:00–18:00 Mon–Fri
/// Europe/Moscow, one every 8–20 s: about 4 days of sending; the last leaves about 14:10 on
/// Wed 2 Dec`.
pub(super) fn calendar_line(
    plan: &QueuePlan,
    calendar: &Calendar,
    now: jiff::Timestamp,
    state: &str,
) -> String {
    let mut parts = vec![plural(calendar.share, "card", "cards")];
    parts.extend(calendar.window.clone());
    parts.push(match &calendar.pace {
        Some(pace) => format!("one every {pace}"),
        None => format!(
            "one every {:.1} s (the queue's delay)",
            plan.delay.as_secs_f64()
        ),
    });
    if let Some(cap) = calendar.daily_cap {
        parts.push(format!("at most {} a day", grouped(cap)));
    }
    let projection = &calendar.projection;
    let mut line = parts.join(", ");
    if projection.going < calendar.share {
        line.push_str(&format!(
            ": {} in this run, the rest stay pending ({})",
            grouped(projection.going),
            projection.held.as_deref().unwrap_or("held back")
        ));
    }
    // On the window's clock: "09:00 tomorrow" there, not here.
    let zone =
        jiff::tz::TimeZone::get(&calendar.zone).unwrap_or_else(|_| jiff::tz::TimeZone::system());
    let when = time_in(now, projection.last_leaves, &zone);
    if projection.going > 1 && projection.days > 1 {
        line.push_str(&format!(
            ": about {} of sending; the last leaves about {when}",
            plural(u64::from(projection.days), "day", "days"),
        ));
    } else if projection.going > 0 {
        let wait = std::time::Duration::try_from(projection.last_leaves.duration_since(now))
            .unwrap_or_default();
        line.push_str(&format!(
            ": the last leaves about {when} (in {})",
            human(wait)
        ));
    }
    line.push_str(&until_authorized(state));
    line
}

/// Why the cards cannot be sent as they are, and the ways out. `fitting`: the most rows
/// whose cards leave every instance's queue in time; `instance`: the one whose queue is too
/// slow, when the run has several.
pub(super) fn refusal(
    plan: &QueuePlan,
    fitting: u64,
    instance: Option<&str>,
    next: &Next,
) -> String {
    let whose = match instance {
        Some(instance) => format!("instance {instance}'s queue"),
        None => "the instance's queue".to_string(),
    };
    let mut text = format!(
        "{} cannot all leave {whose} within {}: it holds {}{} and sends one every {:.1} s, so \
         a card would wait up to {} in the queue, and GREEN-API drops a message still queued \
         after {} (no status, no notice).",
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
        let every = if instance.is_some() {
            " (every instance's share in time)"
        } else {
            ""
        };
        text.push_str(&format!(
            " {} rows fit now{every}: `{}` sends them, and the same command on the next days \
             the rest (a cron job can); or shorten the delay in the GREEN-API console \
             (delaySendMessagesMilliseconds; GREEN-API advises longer delays for mass sending, \
             to keep the number from being blocked)",
            grouped(fitting),
            next.resume().with_value("--limit", &fitting.to_string())
        ));
    }
    text
}

/// `sent N · failed N · unknown N · retries N`.
pub(super) fn summary(counters: &crate::send::Counters) -> String {
    let (sent, failed, unknown, retried) = counters.snapshot();
    format!("sent {sent} · failed {failed} · unknown {unknown} · retries {retried}")
}
