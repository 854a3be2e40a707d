//! The sending window: `--window HH:MM-HH:MM` on `--days`, in `--tz` (docs/safety.md). Pure
//! calendar arithmetic on jiff's zoned times, so a window crossing midnight or a day that
//! changes its clocks (DST) is what a person reading the wall clock means.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;

/// The days a window opens on (the day it *opens*: 22:00–02:00 on Friday runs into Saturday).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days(u8);

const NAMES: [(&str, &str, Weekday); 7] = [
    ("mon", "monday", Weekday::Monday),
    ("tue", "tuesday", Weekday::Tuesday),
    ("wed", "wednesday", Weekday::Wednesday),
    ("thu", "thursday", Weekday::Thursday),
    ("fri", "friday", Weekday::Friday),
    ("sat", "saturday", Weekday::Saturday),
    ("sun", "sunday", Weekday::Sunday),
];

impl Days {
    pub const ALL: Days = Days(0b111_1111);

    fn bit(day: Weekday) -> u8 {
        1 << (day.to_monday_zero_offset() as u8)
    }

    pub fn contains(self, day: Weekday) -> bool {
        self.0 & Days::bit(day) != 0
    }

    /// `mon-fri`, `mon,wed,sat`, `fri-mon` (a range may wrap), `sat,sun`; names short or
    /// whole, any case.
    pub fn parse(text: &str) -> Result<Days, String> {
        let day = |name: &str| {
            let name = name.trim().to_ascii_lowercase();
            NAMES
                .iter()
                .position(|(short, long, _)| name == *short || name == *long)
                .ok_or_else(|| {
                    format!(
                        "--days: '{}' is not a day; write mon, tue, wed, thu, fri, sat, sun, as \
                         a list (mon,wed,sat) or a range (mon-fri)",
                        crate::term::shown(name.trim())
                    )
                })
        };
        let mut days = 0u8;
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            match part.split_once('-') {
                Some((from, to)) => {
                    let (from, to) = (day(from)?, day(to)?);
                    let mut at = from;
                    loop {
                        days |= 1 << at;
                        if at == to {
                            break;
                        }
                        at = (at + 1) % 7;
                    }
                }
                None => days |= 1 << day(part)?,
            }
        }
        if days == 0 {
            return Err("--days names no day; e.g. --days mon-fri".into());
        }
        Ok(Days(days))
    }
}

impl fmt::Display for Days {
    /// `Mon–Fri`, `Mon, Wed, Sat`, `every day`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Days::ALL {
            return f.write_str("every day");
        }
        let title = |i: usize| {
            let short = NAMES[i].0;
            format!("{}{}", short[..1].to_uppercase(), &short[1..])
        };
        let on: Vec<usize> = (0..7).filter(|i| self.0 & (1 << i) != 0).collect();
        let consecutive = on.windows(2).all(|w| w[1] == w[0] + 1);
        if on.len() >= 3 && consecutive {
            return write!(f, "{}–{}", title(on[0]), title(on[on.len() - 1]));
        }
        let names: Vec<String> = on.into_iter().map(title).collect();
        f.write_str(&names.join(", "))
    }
}

/// When cards may leave the queue.
#[derive(Debug, Clone)]
pub struct Window {
    pub from: Time,
    pub to: Time,
    pub days: Days,
    pub tz: TimeZone,
}

/// `HH:MM-HH:MM`.
pub fn parse_hours(text: &str) -> Result<(Time, Time), String> {
    let bad = || {
        format!(
            "--window '{}' is not HH:MM-HH:MM (e.g. 09:00-18:00, or 22:00-02:00 across \
             midnight)",
            crate::term::shown(text)
        )
    };
    let (from, to) = text.split_once('-').ok_or_else(bad)?;
    let time = |t: &str| -> Result<Time, String> {
        let (h, m) = t.trim().split_once(':').ok_or_else(bad)?;
        let (h, m): (i8, i8) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if h == 24 && m == 0 {
            return Ok(Time::MAX);
        }
        Time::new(h, m, 0, 0).map_err(|_| bad())
    };
    let (from, to) = (time(from)?, time(to)?);
    if from == Time::MAX {
        return Err(format!(
            "--window {}: a window opens at 00:00 at the latest (24:00 is only an end)",
            crate::term::shown(text)
        ));
    }
    if from == to {
        return Err(format!(
            "--window {} opens and closes at the same minute; leave --window out to send at \
             any hour",
            crate::term::shown(text)
        ));
    }
    Ok((from, to))
}

impl Window {
    /// The open stretch that contains `at`, or else the next one: (opens, closes). Days
    /// whose stretches meet (`00:00-24:00` on days in a row) are one stretch, joined forward:
    /// a card leaving at midnight is inside it, not outside until the next day. (`opens` is
    /// the opening of the day `at` falls in, which is all the gate asks of it.)
    pub fn stretch(&self, at: Timestamp) -> (Timestamp, Timestamp) {
        let (opens, mut closes) = self.one_stretch(at);
        // A week at most: a window open every hour of every day never closes, but is
        // judged a week at a time.
        for _ in 0..7 {
            let Ok(just_after) = closes.checked_add(jiff::SignedDuration::from_secs(1)) else {
                break;
            };
            let (next_opens, next_closes) = self.one_stretch(closes);
            if next_opens > just_after {
                break;
            }
            closes = next_closes;
        }
        (opens, closes)
    }

    /// [`Window::stretch`] of one day's hours alone.
    fn one_stretch(&self, at: Timestamp) -> (Timestamp, Timestamp) {
        let today = at.to_zoned(self.tz.clone()).date();
        let mut day = today.yesterday().unwrap_or(today);
        for _ in 0..9 {
            if self.days.contains(day.weekday()) {
                let (opens, closes) = self.stretch_of(day);
                if closes > at {
                    return (opens, closes);
                }
            }
            day = day.tomorrow().unwrap_or(day);
        }
        unreachable!("a window opens at least once a week")
    }

    /// The stretch that opens on `day`.
    fn stretch_of(&self, day: Date) -> (Timestamp, Timestamp) {
        // A time a clock change skips, or shows twice, is read on the safe side: an opening
        // as the later moment (after the gap), a closing as the earlier (before the gap, at
        // its first showing), so that the window is never longer than the clock says.
        let at = |date: Date, time: Time, closing: bool| {
            let moment = self.tz.to_ambiguous_timestamp(date.to_datetime(time));
            let moment = if closing {
                moment.earlier()
            } else {
                moment.later()
            };
            moment.unwrap_or(Timestamp::MAX)
        };
        let opens = at(day, self.from, false);
        let closes = if self.to > self.from {
            at(day, self.to, true)
        } else {
            at(day.tomorrow().unwrap_or(day), self.to, true)
        };
        (opens, closes)
    }

    pub fn is_open(&self, at: Timestamp) -> bool {
        let (opens, closes) = self.stretch(at);
        opens <= at && at < closes
    }

    /// `Mon 09:00` (or `09:00` the same day as `now`), on the window's clock.
    pub fn when(&self, at: Timestamp, now: Timestamp) -> String {
        let zoned = at.to_zoned(self.tz.clone());
        let same_day = zoned.date() == now.to_zoned(self.tz.clone()).date();
        if same_day {
            zoned.strftime("%H:%M").to_string()
        } else {
            zoned.strftime("%a %d %b %H:%M").to_string()
        }
    }

    /// The zone's name, as a person would give it to `--tz`.
    pub fn zone(&self) -> String {
        self.tz.iana_name().unwrap_or("local time").to_string()
    }
}

impl fmt::Display for Window {
    /// `09:00–18:00 Mon–Fri Europe/Moscow`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hm = |t: Time| {
            if t == Time::MAX {
                "24:00".to_string()
            } else {
                t.strftime("%H:%M").to_string()
            }
        };
        write!(
            f,
            "{}–{} {} {}",
            hm(self.from),
            hm(self.to),
            self.days,
            self.zone()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(hours: &str, days: &str, tz: &str) -> Window {
        let (from, to) = parse_hours(hours).unwrap();
        Window {
            from,
            to,
            days: Days::parse(days).unwrap(),
            tz: TimeZone::get(tz).unwrap(),
        }
    }

    fn at(text: &str, tz: &str) -> Timestamp {
        text.parse::<jiff::civil::DateTime>()
            .unwrap()
            .to_zoned(TimeZone::get(tz).unwrap())
            .unwrap()
            .timestamp()
    }

    #[test]
    fn working_hours_open_on_working_days_only() {
        let w = window("09:00-18:00", "mon-fri", "Europe/Moscow");
        // 2026-11-27 is a Friday.
        assert!(w.is_open(at("2026-11-27T09:00", "Europe/Moscow")));
        assert!(w.is_open(at("2026-11-27T17:59", "Europe/Moscow")));
        assert!(!w.is_open(at("2026-11-27T18:00", "Europe/Moscow")));
        assert!(!w.is_open(at("2026-11-27T08:59", "Europe/Moscow")));
        // Friday evening: next Monday 09:00.
        let (opens, closes) = w.stretch(at("2026-11-27T19:30", "Europe/Moscow"));
        assert_eq!(opens, at("2026-11-30T09:00", "Europe/Moscow"));
        assert_eq!(closes, at("2026-11-30T18:00", "Europe/Moscow"));
        assert_eq!(w.to_string(), "09:00–18:00 Mon–Fri Europe/Moscow");
    }

    /// Days whose hours meet at midnight are one stretch (a hostile audit's finding:
    /// `--window 00:00-24:00` held the cards that would leave after midnight, "outside the
    /// window", until 00:00).
    #[test]
    fn hours_that_meet_at_midnight_are_one_stretch() {
        let w = window("00:00-24:00", "sat-sun", "Etc/UTC");
        // 2026-11-28 is a Saturday.
        let (opens, closes) = w.stretch(at("2026-11-28T23:59:45", "Etc/UTC"));
        assert_eq!(opens, at("2026-11-28T00:00", "Etc/UTC"));
        assert!(closes > at("2026-11-29T23:59:59", "Etc/UTC"), "{closes}");
        assert!(closes < at("2026-11-30T00:00:01", "Etc/UTC"), "{closes}");
        let always = window("00:00-24:00", "mon-sun", "Etc/UTC");
        let (_, closes) = always.stretch(at("2026-11-29T23:59:45", "Etc/UTC"));
        assert!(closes >= at("2026-12-05T00:00", "Etc/UTC"), "{closes}");
        // Hours that do not meet keep their midnight.
        let evenings = window("20:00-24:00", "mon-sun", "Etc/UTC");
        let (_, closes) = evenings.stretch(at("2026-11-29T23:00", "Etc/UTC"));
        assert!(closes < at("2026-11-30T00:00:01", "Etc/UTC"), "{closes}");
    }

    #[test]
    fn a_window_across_midnight_belongs_to_the_day_it_opens() {
        let w = window("22:00-02:00", "fri", "Europe/Berlin");
        assert!(w.is_open(at("2026-11-27T23:30", "Europe/Berlin")));
        assert!(
            w.is_open(at("2026-11-28T01:59", "Europe/Berlin")),
            "Saturday night"
        );
        assert!(!w.is_open(at("2026-11-28T02:00", "Europe/Berlin")));
        assert!(
            !w.is_open(at("2026-11-27T01:00", "Europe/Berlin")),
            "Thursday's night"
        );
        let (opens, _) = w.stretch(at("2026-11-28T03:00", "Europe/Berlin"));
        assert_eq!(opens, at("2026-12-04T22:00", "Europe/Berlin"));
    }

    #[test]
    fn clock_changes_keep_the_window_on_the_wall_clock() {
        // Europe/Berlin went to summer time on 2026-03-29 at 02:00 (to 03:00), and back on
        // 2026-10-25 at 03:00 (to 02:00).
        let w = window("01:30-03:30", "mon-sun", "Europe/Berlin");
        let (opens, closes) = w.stretch(at("2026-03-29T00:00", "Europe/Berlin"));
        assert_eq!(opens, at("2026-03-29T01:30", "Europe/Berlin"));
        // 01:30 to 03:30 on the short day is one real hour.
        assert_eq!((closes - opens).get_seconds(), 3600);
        let (opens, closes) = w.stretch(at("2026-10-25T00:00", "Europe/Berlin"));
        assert_eq!(
            (closes - opens).get_seconds(),
            3 * 3600,
            "the long day's window"
        );
        // A window opening in the skipped hour opens when the clock reaches it.
        let gap = window("02:30-04:00", "sun", "Europe/Berlin");
        let (opens, _) = gap.stretch(at("2026-03-29T00:00", "Europe/Berlin"));
        assert_eq!(opens, at("2026-03-29T03:30", "Europe/Berlin"));
        // One closing in the skipped hour closes before it: the clock never shows 02:30 that
        // day, and what goes after the jump is past it (a hostile audit's finding: it closed
        // at 03:30 summer time, an hour late).
        let closing = window("01:00-02:30", "sun", "Europe/Berlin");
        let (_, closes) = closing.stretch(at("2026-03-29T00:00", "Europe/Berlin"));
        // 02:30 read with the summer offset: 01:30 winter time, the skipped hour early.
        assert_eq!(closes, at("2026-03-29T01:30", "Europe/Berlin"));
        assert!(!closing.is_open(at("2026-03-29T03:00", "Europe/Berlin")));
        // One closing in the hour shown twice closes at its first showing.
        let twice = window("01:00-02:30", "sun", "Europe/Berlin");
        let (opens, closes) = twice.stretch(at("2026-10-25T00:00", "Europe/Berlin"));
        assert_eq!((closes - opens).get_seconds(), 90 * 60);
    }

    #[test]
    fn days_and_hours_are_read_as_people_write_them() {
        assert_eq!(Days::parse("mon-fri").unwrap().to_string(), "Mon–Fri");
        assert_eq!(
            Days::parse("Mon,Wed,SAT").unwrap().to_string(),
            "Mon, Wed, Sat"
        );
        assert_eq!(
            Days::parse("fri-mon").unwrap().to_string(),
            "Mon, Fri, Sat, Sun"
        );
        assert_eq!(Days::parse("monday-sunday").unwrap(), Days::ALL);
        assert!(
            Days::parse("mon-funday")
                .unwrap_err()
                .contains("'funday' is not a day")
        );
        assert!(parse_hours("9-18").is_err());
        assert!(
            parse_hours("09:00-09:00")
                .unwrap_err()
                .contains("same minute")
        );
        assert!(parse_hours("25:00-02:00").is_err());
        assert_eq!(parse_hours("18:00-24:00").unwrap().1, Time::MAX);
        assert!(parse_hours("24:00-09:00").is_err());
    }
}
