//! What the session tells, as the terminal shows it: the bar or the progress lines, and a
//! sentence for each note.

use super::plans::{calendar_line, plan_line};
use crate::cmd::progress::{Display, Progress};
use crate::cmd::words::{human, plural, time_in};
use crate::report;
use crate::send::{Event, InstanceInfo, Note};
use crate::term::say;

/// Prints what the session tells, on stderr.
pub(crate) struct Printer {
    pub(crate) display: Display,
    pub(crate) progress: Option<Progress>,
    /// The run's instances: with several, what concerns one says which.
    pub(crate) instances: Vec<InstanceInfo>,
}

impl Printer {
    pub(super) fn stop_progress(&mut self) {
        if let Some(progress) = self.progress.take() {
            progress.finish();
        }
    }

    pub(super) fn tick(&mut self) {
        if let Some(progress) = &mut self.progress {
            progress.tick();
        }
    }

    pub(super) fn on(&mut self, event: Event) {
        match event {
            Event::Instances { instances } => {
                if instances.len() > 1 {
                    let named: Vec<String> = instances.iter().map(named).collect();
                    say!(
                        "greenbulk: sending from {} instances, each chat from its own: {}",
                        instances.len(),
                        named.join(", ")
                    );
                }
                self.instances = instances;
            }
            Event::Source(source) => report::print_source(&source),
            Event::Validated { tally, first } => report::print_summary(&tally, &first, None),
            Event::Note(note) => match self.progress.take() {
                Some(progress) => {
                    progress.suspend(|| self.note(note));
                    self.progress = Some(progress);
                }
                None => self.note(note),
            },
            Event::Sending { total } => {
                self.progress = Some(Progress::start(total, self.display));
            }
            Event::Row { outcome, .. } => {
                if let Some(progress) = &mut self.progress {
                    progress.row(&outcome);
                }
            }
            Event::Sent => self.stop_progress(),
        }
    }

    /// What a note says, a line each (the terminal prints them; the page shows them).
    pub(crate) fn note_lines(&self, note: Note) -> Vec<String> {
        let mut lines = Vec::new();
        match note {
            Note::NewRun => lines.push(
                "greenbulk: the results file does not exist yet: starting a new run".to_string(),
            ),
            Note::Repaired { ledger, line } => {
                lines.push(crate::cmd::words::ledger_repaired(&ledger, line))
            }
            Note::Sandbox { url, instances: 1 } => lines.push(format!(
                "greenbulk: sending to the built-in GREEN-API sandbox at {url} (nothing leaves \
                 this machine)"
            )),
            Note::Sandbox { url, instances } => lines.push(format!(
                "greenbulk: sending to the built-in GREEN-API sandbox, {instances} instances \
                 from {url} on (nothing leaves this machine)"
            )),
            Note::InstanceState { state, instance } => lines.push(format!(
                "greenbulk: warning: {} is '{state}': {}",
                self.which(&instance),
                state_meaning(&state)
            )),
            Note::InstanceStopped { instance, reason } => lines.push(format!(
                "greenbulk: {} cannot send: {reason}. Its rows stay pending (the results file \
                 says so); the other instances go on",
                self.which(&instance)
            )),
            Note::Waiting { instance, rows } => lines.push(format!(
                "greenbulk: {} wait for instance {instance}, which an earlier run on this \
                 results file sent from and this one does not have: give it in --instances \
                 again, or add --reassign to send them from the others",
                plural(rows, "row", "rows")
            )),
            Note::Starting { .. } => lines.push(
                "greenbulk: the instance is starting; asking again in a few seconds (up to a \
                 minute)"
                    .to_string(),
            ),
            Note::Plan {
                plan,
                now,
                state,
                instance,
                calendar,
            } => lines.push(format!(
                "greenbulk: {}{}",
                self.prefix(&instance),
                match &calendar {
                    Some(calendar) => calendar_line(&plan, calendar, now, &state),
                    None => plan_line(&plan, now, &state),
                }
            )),
            Note::OutsideWindow {
                instance,
                opens,
                zone,
            } => {
                let tz =
                    jiff::tz::TimeZone::get(&zone).unwrap_or_else(|_| jiff::tz::TimeZone::system());
                let now = jiff::Timestamp::now();
                let wait =
                    std::time::Duration::try_from(opens.duration_since(now)).unwrap_or_default();
                lines.push(format!(
                    "greenbulk: {}outside the sending window: waiting until {}{} (in {}); \
                     Ctrl-C stops, --resume goes on later",
                    self.prefix(&instance),
                    time_in(now, opens, &tz),
                    if zone.is_empty() {
                        String::new()
                    } else {
                        format!(" {zone}")
                    },
                    human(wait)
                ))
            }
            Note::NoPlan { why, instance } => lines.push(format!(
                "greenbulk: warning: {}cannot read the queue's delay and length ({why}); \
                 sending without checking that every card can leave the queue within 24 hours",
                self.prefix(&instance)
            )),
            Note::LookedUp { resolved, .. } => {
                lines.extend(crate::cmd::common::looked_up_lines(&resolved))
            }
            Note::LookupFailed { why, instance } => lines.push(format!(
                "greenbulk: warning: {}could not look up the unknown rows ({why}); they stay \
                 unknown and none is sent again",
                self.prefix(&instance)
            )),
            Note::Restored(restored) => {
                let what = if restored.ledger_was_missing {
                    "the ledger beside the results file was missing, so a new one was started"
                        .to_string()
                } else {
                    format!(
                        "the ledger did not know {} rows the results file records as sent or \
                         unknown (it was emptied or replaced)",
                        restored.rows
                    )
                };
                lines.push(format!(
                    "greenbulk: {what}; {} rows were taken back from the results file and are \
                     not sent again",
                    restored.rows
                ))
            }
            Note::Changed {
                first,
                count,
                resend,
            } => {
                let then = if resend {
                    "--resend-changed sends the corrected cards now; the earlier ones stay in \
                     the ledger"
                } else {
                    "they are not sent again (add --resend-changed to send the corrected cards)"
                };
                lines.push(format!(
                    "greenbulk: warning: {} that went out before from this results file with \
                     other names or company: {then}",
                    plural(count, "row is a card", "rows are cards")
                ));
                for changed in &first {
                    let what = if changed.changes.is_empty() {
                        "other names or company".to_string()
                    } else {
                        changed.changes.join(", ")
                    };
                    lines.push(format!(
                        "  row {} (to {}): {what}; {} from row {}",
                        changed.row,
                        changed.chat,
                        if changed.sent {
                            "sent"
                        } else {
                            "attempted (unknown)"
                        },
                        changed.earlier_row
                    ));
                }
                if count > first.len() as u64 {
                    lines.push(format!(
                        "  … and {} more (the results file's error column names each)",
                        count - first.len() as u64
                    ));
                }
            }
            Note::AlreadySent {
                count,
                in_doubt,
                again,
            } => {
                let from = if self.instances.len() > 1 {
                    "these instances or another it used"
                } else {
                    "this instance or another it used"
                };
                let sent = count - in_doubt;
                if sent > 0 {
                    lines.push(format!(
                        "greenbulk: {} this machine already sent in an earlier run (into \
                         another results file, from {from}): {}",
                        plural(sent, "row is a card", "rows are cards"),
                        if again {
                            "sent again, as --again asks"
                        } else {
                            "not sent again, status already-sent (--again sends them anyway)"
                        }
                    ));
                }
                if in_doubt > 0 {
                    lines.push(format!(
                        "greenbulk: {} another run on this machine attempted (into another \
                         results file, from {from}) with no answer yet: {}",
                        plural(in_doubt, "row is a card", "rows are cards"),
                        if again {
                            "sent again, as --again asks"
                        } else {
                            "not sent, status unknown. They are settled in that results file \
                             (`greenbulk status` there looks them up; `send --resume \
                             --retry-unknown` there sends those that did not go); --again \
                             sends them here anyway"
                        }
                    ));
                }
            }
            Note::NothingToSend => lines.push(
                "greenbulk: nothing left to send: every sendable row was sent before".to_string(),
            ),
            Note::NoRows => lines.push(
                "greenbulk: nothing to send: the input has a header row and no data rows"
                    .to_string(),
            ),
            Note::HistoryDamaged { path, slots } => lines.push(format!(
                "greenbulk: warning: the sent-card history {path} has {} (a power cut in the \
                 middle of a write, or the disk): the cards {} are not known to it, and a row \
                 of such a card whose own results file does not record it may be sent again. \
                 Restore the file from a backup if you have one",
                plural(slots, "damaged slot", "damaged slots"),
                if slots == 1 {
                    "it held is"
                } else {
                    "they held are"
                }
            )),
            Note::OnlyInDoubtLeft => lines.push(
                "greenbulk: nothing to send now: the rows left are cards another run attempted \
                 with no answer yet (see above)"
                    .to_string(),
            ),
            Note::OnlyWaitingLeft => lines.push(
                "greenbulk: nothing to send now: the rows left wait for an instance this run \
                 does not have (see above)"
                    .to_string(),
            ),
            Note::OnlyUnknownLeft => lines.push(
                "greenbulk: nothing to send now: the rows left are unknown (see below)".to_string(),
            ),
        }
        lines
    }

    fn note(&mut self, note: Note) {
        for line in self.note_lines(note) {
            say!("{line}");
        }
    }
}

impl Printer {
    /// How a message names an instance: "the instance" when the run has one.
    fn which(&self, instance: &str) -> String {
        match self.instances.iter().find(|i| i.id_instance == instance) {
            Some(info) if self.instances.len() > 1 => format!("instance {}", named(info)),
            _ => "the instance".to_string(),
        }
    }

    /// `instance 1101000002 (shop-2): `, when the run has several.
    fn prefix(&self, instance: &str) -> String {
        if self.instances.len() > 1 {
            format!("{}: ", self.which(instance))
        } else {
            String::new()
        }
    }
}

/// `1101000002 (shop-2)`, or the idInstance alone.
pub(super) fn named(info: &InstanceInfo) -> String {
    match &info.name {
        Some(name) => format!("{} ({})", info.id_instance, crate::term::shown(name)),
        None => info.id_instance.clone(),
    }
}

fn state_meaning(state: &str) -> &'static str {
    match state {
        "notAuthorized" => {
            "no phone is linked: messages wait in GREEN-API's queue for up to 24 hours until \
             you scan the QR code in the console"
        }
        "starting" => "it is starting: sends are retried until it is up",
        "blocked" => "the number is blocked by WhatsApp: messages will not be delivered",
        "sleepMode" => "the phone is offline: messages wait until it is back",
        "yellowCard" => "WhatsApp suspects spam: slow down (--rate) or messages may be lost",
        _ => "messages may not go out until it is authorized",
    }
}
