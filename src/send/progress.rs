//! Progress while sending: a bar on a terminal (done/total, rate, ETA, counts), a plain line
//! every few seconds otherwise (cron, logs, pipes).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Outcome counts, updated by the senders, read by the display.
#[derive(Debug, Default)]
pub struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    unknown: AtomicU64,
    retried: AtomicU64,
    /// Taken at the last moment by another run on the same instance.
    already_sent: AtomicU64,
}

impl Counters {
    pub fn sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }
    pub fn failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }
    pub fn unknown(&self) {
        self.unknown.fetch_add(1, Ordering::Relaxed);
    }
    pub fn retried(&self) {
        self.retried.fetch_add(1, Ordering::Relaxed);
    }
    pub fn already_sent(&self) {
        self.already_sent.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> (u64, u64, u64, u64) {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        (
            get(&self.sent),
            get(&self.failed),
            get(&self.unknown),
            get(&self.retried),
        )
    }

    /// `sent N · failed N · unknown N · retries N`.
    pub fn summary(&self) -> String {
        let (sent, failed, unknown, retried) = self.snapshot();
        format!("sent {sent} · failed {failed} · unknown {unknown} · retries {retried}")
    }

    /// Rows with an outcome so far (sent, failed, unknown, or taken by another run).
    pub fn done(&self) -> u64 {
        let (sent, failed, unknown, _) = self.snapshot();
        sent + failed + unknown + self.already_sent.load(Ordering::Relaxed)
    }
}

/// Where progress goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    Bar { color: bool },
    Lines { every: Duration },
}

/// A running display; [`Progress::finish`] clears it.
pub struct Progress {
    task: tokio::task::JoinHandle<()>,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn start(total: u64, counters: Arc<Counters>, display: Display) -> Progress {
        match display {
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
                let shown = bar.clone();
                let task = tokio::spawn(async move {
                    let started = Instant::now();
                    loop {
                        let done = counters.done();
                        let rate = done as f64 / started.elapsed().as_secs_f64().max(0.001);
                        shown.set_position(done);
                        shown.set_message(format!("{rate:.1}/s · {}", counters.summary()));
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                });
                Progress {
                    task,
                    bar: Some(bar),
                }
            }
            Display::Lines { every } => {
                let task = tokio::spawn(async move {
                    let started = Instant::now();
                    loop {
                        tokio::time::sleep(every).await;
                        let done = counters.done();
                        let elapsed = started.elapsed().as_secs_f64();
                        let rate = done as f64 / elapsed.max(0.001);
                        let left = if rate > 0.0 {
                            format!(
                                ", about {} left",
                                human(total.saturating_sub(done) as f64 / rate)
                            )
                        } else {
                            String::new()
                        };
                        crate::term::say!(
                            "greenbulk: {done}/{total} rows done ({}), {rate:.1}/s{left}",
                            counters.summary()
                        );
                    }
                });
                Progress { task, bar: None }
            }
        }
    }

    pub fn finish(self) {
        self.task.abort();
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
