//! How durations, counts and moments are said to a person: the front end's words, used by
//! every command that prints (`send`, `status`).

use std::time::Duration;

/// A duration as a person says it: `10 h 18 min`, `7 min`, `40 s`.
pub(crate) fn human(duration: Duration) -> String {
    // Up, as minutes are: a wait of half a second is not "0 s".
    let s = u64::try_from(duration.as_millis().div_ceil(1000)).unwrap_or(u64::MAX);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s.div_ceil(60)),
        _ if s < 48 * 3600 && s.is_multiple_of(3600) => format!("{} h", s / 3600),
        _ if s < 48 * 3600 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} days {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// `7412` → `7,412`.
pub(crate) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A moment in local time, as seen from `now`: `10:42 today`, `10:42 tomorrow`,
/// `10:42 on Fri 28 Nov`.
pub(crate) fn local_time(now: jiff::Timestamp, then: jiff::Timestamp) -> String {
    time_in(now, then, &jiff::tz::TimeZone::system())
}

/// [`local_time`] on the clock of `zone`.
pub(crate) fn time_in(
    now: jiff::Timestamp,
    then: jiff::Timestamp,
    zone: &jiff::tz::TimeZone,
) -> String {
    let (today, later) = (now.to_zoned(zone.clone()), then.to_zoned(zone.clone()));
    let day = match (later.date() - today.date()).get_days() {
        0 => "today".to_string(),
        1 => "tomorrow".to_string(),
        _ => later.strftime("on %a %-d %b").to_string(),
    };
    format!("{} {day}", later.strftime("%H:%M"))
}

/// `1 row`, `2 rows`: the count with the word that fits it.
pub(crate) fn plural(count: u64, one: &str, many: &str) -> String {
    format!("{} {}", grouped(count), if count == 1 { one } else { many })
}

/// What a run says when it cut a torn last line off a ledger (`send` and `status` alike).
pub(crate) fn ledger_repaired(ledger: &std::path::Path, line: u64) -> String {
    format!(
        "greenbulk: the last line ({line}) of {} was cut off by a crash or a full disk and was \
         removed; the row it concerned counts as unknown if its request may have left",
        crate::term::shown_path(ledger)
    )
}

/// Why `--skip-invalid` cannot help a file whose rows have errors: no row can be sent, or a
/// row holds what looks like other rows (a quote left open), which skipping would lose.
pub(crate) fn not_skippable(tally: &crate::validation::Tally) -> String {
    if tally.swallowing > 0 {
        format!(
            "{} what look like other rows of the file (a quote left open swallowed them): \
             close or remove the stray quote, then run again. --skip-invalid does not skip \
             such a row: the rows inside it would be neither sent nor listed",
            plural(tally.swallowing, "row holds", "rows hold")
        )
    } else {
        format!(
            "{} errors and no row can be sent: fix them, then run again",
            plural(tally.invalid, "row has", "rows have")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_counts_read_as_a_person_says_them() {
        assert_eq!(human(Duration::from_secs(37_080)), "10 h 18 min");
        assert_eq!(human(Duration::from_secs(400)), "7 min");
        assert_eq!(human(Duration::from_millis(500)), "1 s");
        assert_eq!(human(Duration::from_millis(59_500)), "1 min");
        assert_eq!(human(Duration::ZERO), "0 s");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(12), "12");
        assert_eq!(plural(1, "card", "cards"), "1 card");
        assert_eq!(plural(1_000, "card", "cards"), "1,000 cards");
    }
}
