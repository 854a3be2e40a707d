//! Progress while sending, drawn from the session's events: a bar on a terminal (done/total,
//! rate, ETA, counts), a plain line every few seconds otherwise (cron, logs, pipes).

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::send::RowOutcome;
use crate::term::say;

/// Where progress goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Display {
    Bar { color: bool },
    Lines { every: Duration },
}

/// The rows of a sending run, counted as their outcomes arrive.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    sent: u64,
    failed: u64,
    unknown: u64,
    retried: u64,
    taken: u64,
}

impl Tally {
    /// Rows with an outcome so far (retries are not one).
    fn done(&self) -> u64 {
        self.sent + self.failed + self.unknown + self.taken
    }

    /// `sent N · failed N · unknown N · retries N`.
    fn summary(&self) -> String {
        format!(
            "sent {} · failed {} · unknown {} · retries {}",
            self.sent, self.failed, self.unknown, self.retried
        )
    }
}

/// A running display; [`Progress::finish`] clears it.
pub(crate) struct Progress {
    total: u64,
    tally: Tally,
    started: Instant,
    every: Duration,
    last_line: Instant,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub(crate) fn start(total: u64, display: Display) -> Progress {
        let now = Instant::now();
        let (bar, every) = match display {
            Display::Bar { color } => {
                let template = if color {
                    "{spinner:.green} [{elapsed_precise}] {bar:30.green/white} {pos}/{len} rows \
                     ETA {eta}  {msg}"
                } else {
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} rows ETA {eta}  {msg}"
                };
                let bar = ProgressBar::with_draw_target(
                    Some(total),
                    ProgressDrawTarget::term_like_with_hz(Box::new(console::Term::stderr()), 4),
                );
                bar.set_style(
                    ProgressStyle::with_template(template)
                        .expect("the template is valid")
                        .progress_chars("=> "),
                );
                (Some(bar), Duration::ZERO)
            }
            Display::Lines { every } => (None, every),
        };
        Progress {
            total,
            tally: Tally::default(),
            started: now,
            every,
            last_line: now,
            bar,
        }
    }

    /// A row's outcome arrived.
    pub(crate) fn row(&mut self, outcome: &RowOutcome) {
        let tally = &mut self.tally;
        match outcome {
            RowOutcome::Sent { .. } => tally.sent += 1,
            RowOutcome::Failed { .. } => tally.failed += 1,
            RowOutcome::Unknown { .. } => tally.unknown += 1,
            RowOutcome::Retrying { .. } => tally.retried += 1,
            RowOutcome::Taken => tally.taken += 1,
        }
    }

    /// Redraws the bar, or prints a line when it is time for one.
    pub(crate) fn tick(&mut self) {
        let done = self.tally.done();
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = done as f64 / elapsed.max(0.001);
        match &self.bar {
            Some(bar) => {
                bar.set_position(done);
                bar.set_message(format!("{rate:.1}/s · {}", self.tally.summary()));
            }
            None if self.last_line.elapsed() >= self.every => {
                self.last_line = Instant::now();
                let left = if rate > 0.0 {
                    format!(
                        ", about {} left",
                        human(self.total.saturating_sub(done) as f64 / rate)
                    )
                } else {
                    String::new()
                };
                say!(
                    "greenbulk: {done}/{} rows done ({}), {rate:.1}/s{left}",
                    self.total,
                    self.tally.summary()
                );
            }
            None => {}
        }
    }

    /// Runs `print` with the bar out of the way: a line printed while it is drawn would be
    /// torn by its next redraw.
    pub(crate) fn suspend<R>(&self, print: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    pub(crate) fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

fn human(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}
