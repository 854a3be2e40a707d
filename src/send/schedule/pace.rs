//! `--pace MIN..MAX`: one card per random interval in the range, as a person sends them
//! (docs/safety.md), and the durations it is written in: `500ms`, `1.5s`, `20s`, `2m`.

use std::fmt;
use std::time::Duration;

/// The range of intervals between two cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub min: Duration,
    pub max: Duration,
}

impl Pace {
    /// The next interval: uniform in the range, never shorter than `floor` (the instance's
    /// own delay between two messages).
    pub(crate) fn draw(&self, rng: &mut fastrand::Rng, floor: Duration) -> Duration {
        let span = self.max.saturating_sub(self.min);
        let drawn = self.min + span.mul_f64(rng.f64());
        drawn.max(floor)
    }

    /// The interval on average (for the plan), never shorter than `floor`.
    pub(crate) fn mean(&self, floor: Duration) -> Duration {
        ((self.min + self.max) / 2).max(floor)
    }
}

impl std::str::FromStr for Pace {
    type Err = String;

    fn from_str(text: &str) -> Result<Pace, String> {
        let (min, max) = text.split_once("..").ok_or_else(|| {
            format!(
                "--pace '{}' is not MIN..MAX; e.g. 8s..20s (one card every 8 to 20 seconds)",
                crate::term::shown(text)
            )
        })?;
        if max.starts_with('.') {
            return Err(format!(
                "--pace '{}' is not MIN..MAX (two dots between them); e.g. 8s..20s",
                crate::term::shown(text)
            ));
        }
        let (min, max) = (duration(min)?, duration(max)?);
        if min > max {
            return Err(format!(
                "--pace {}: the shortest interval is longer than the longest; write MIN..MAX",
                crate::term::shown(text)
            ));
        }
        if max.is_zero() {
            return Err("--pace 0s..0s is no pace; leave --pace out to send at --rate".into());
        }
        Ok(Pace { min, max })
    }
}

impl fmt::Display for Pace {
    /// `8–20 s`, or `8 s` for a fixed interval.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Under a second, in milliseconds: `0–1 s` would say nothing.
        let (unit, scale) = if self.max < Duration::from_secs(1) {
            ("ms", 1000.0)
        } else {
            ("s", 1.0)
        };
        let show = |d: Duration| {
            let n = d.as_secs_f64() * scale;
            if n.fract() == 0.0 {
                format!("{n:.0}")
            } else {
                format!("{n:.1}")
            }
        };
        if self.min == self.max {
            write!(f, "{} {unit}", show(self.min))
        } else {
            write!(f, "{}–{} {unit}", show(self.min), show(self.max))
        }
    }
}

/// `500ms`, `1.5s`, `20s`, `2m`, `1h`.
fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let bad = || {
        format!(
            "--pace: '{}' is not a duration; write 500ms, 1.5s, 20s or 2m",
            crate::term::shown(text)
        )
    };
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit.trim() {
        "ms" => number / 1000.0,
        "s" => number,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(bad()),
    };
    if !seconds.is_finite() || seconds > 86_400.0 {
        return Err(format!(
            "--pace: '{}' is longer than a day",
            crate::term::shown(text)
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pace_is_read_and_drawn_in_its_range_never_below_the_delay() {
        let pace: Pace = "8s..20s".parse().unwrap();
        assert_eq!(pace.to_string(), "8–20 s");
        let mut rng = fastrand::Rng::with_seed(5);
        let drawn: Vec<Duration> = (0..200)
            .map(|_| pace.draw(&mut rng, Duration::from_millis(500)))
            .collect();
        assert!(drawn.iter().all(|d| *d >= pace.min && *d <= pace.max));
        let distinct: std::collections::HashSet<u128> =
            drawn.iter().map(Duration::as_millis).collect();
        assert!(distinct.len() > 100, "irregular, not a tick");
        // The instance's own delay is the floor.
        let fast: Pace = "500ms..1.5s".parse().unwrap();
        assert!(
            (0..50).all(|_| fast.draw(&mut rng, Duration::from_secs(1)) >= Duration::from_secs(1))
        );
        assert_eq!("2m..2m".parse::<Pace>().unwrap().to_string(), "120 s");
        assert_eq!(
            "0ms..500ms".parse::<Pace>().unwrap().to_string(),
            "0–500 ms"
        );
        for bad in ["8s", "20s..8s", "8x..9s", "0s..0s", "1s..2d"] {
            assert!(bad.parse::<Pace>().is_err(), "{bad}");
        }
        // Three dots: said so, not "the shortest is longer than the longest" (.2s).
        let err = "1s...2s".parse::<Pace>().unwrap_err();
        assert!(err.contains("two dots"), "{err}");
    }
}
