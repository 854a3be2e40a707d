//! What a session tells whoever drives it, as data: an owned stream of [`Event`]s, the way
//! oha's core streams results to whichever display is attached. The words are the front
//! end's (`cmd/send.rs` for the terminal, the page for the browser); every event serializes,
//! so the page gets the same events the bar does.

use std::path::PathBuf;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::contact::Finding;
use crate::delivery::lookup::Resolved;
use crate::input::RowNumber;
pub use crate::input::Source;
use crate::record::Restored;
use crate::send::plan::QueuePlan;
use crate::validation::Tally;

/// One thing that happened in a run.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The input is open: its format, header row and column mapping are known.
    Source(Source),
    /// Every row was checked; the first findings are given.
    Validated {
        tally: Tally,
        first: Vec<(RowNumber, Finding)>,
    },
    Note(Note),
    /// The instances the run sends from, in lane order (told before any is asked).
    Instances {
        instances: Vec<InstanceInfo>,
    },
    /// Sending starts: this many rows in this run.
    Sending {
        total: u64,
    },
    /// A row's request was answered (or will not be made): what became of it.
    Row {
        row: RowNumber,
        instance: String,
        outcome: RowOutcome,
    },
    /// Sending is over; the results file is being rewritten.
    Sent,
}

/// One of the run's instances, as the summary names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceInfo {
    pub id_instance: String,
    /// What the instances file calls it.
    pub name: Option<String>,
}

/// What became of one row's request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RowOutcome {
    /// Accepted into the instance's queue.
    Sent {
        id_message: String,
    },
    Failed {
        error: String,
    },
    /// It may or may not have been queued.
    Unknown {
        reason: String,
    },
    /// Answered "not now": it goes again after a pause.
    Retrying {
        reason: String,
    },
    /// Another run on this machine (on this instance or another), or another lane of this
    /// run, sent this card or has it in flight: it does not go.
    Taken,
}

/// Something a person may want to know, as data.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum Note {
    /// `--resume` on a results file that does not exist yet.
    NewRun,
    /// The ledger's last line was torn (a crash or a full disk while it was written) and was
    /// cut off before anything was appended.
    Repaired { ledger: PathBuf, line: u64 },
    /// Requests go to the built-in emulator at this URL (its first instance's, when it
    /// runs several).
    Sandbox { url: String, instances: usize },
    /// The instance is not `authorized`; sending goes on.
    InstanceState { instance: String, state: String },
    /// The instance is `starting`: greenbulk waits and asks again.
    Starting { instance: String },
    /// One of several instances cannot send (refused, or yellowCard, blocked …) before the
    /// run sent anything from it: its rows stay pending; the others go on.
    InstanceStopped { instance: String, reason: String },
    /// Rows wait for an instance an earlier run sent from, which this run does not have.
    Waiting { instance: String, rows: u64 },
    /// Nothing to send now: the rows left wait for instances the run does not have.
    OnlyWaitingLeft,
    /// A sent-card history had slots that failed their checksum.
    HistoryDamaged { path: String, slots: u64 },
    /// Every row left is a card another run attempted with no answer yet.
    OnlyInDoubtLeft,
    /// The sending window is closed (or full) for this instance: it waits until `opens`.
    OutsideWindow {
        instance: String,
        #[serde(serialize_with = "as_text")]
        opens: jiff::Timestamp,
        /// The window's zone (an IANA name; empty for the system's).
        zone: String,
    },
    /// The plan: when the queue will have sent this run's cards, as of `now`, and the
    /// instance's state (nothing leaves the queue unless it is `authorized`).
    Plan {
        instance: String,
        plan: QueuePlan,
        #[serde(serialize_with = "as_text")]
        now: jiff::Timestamp,
        state: String,
        /// With a window, a pace or a daily cap: the calendar they make of it.
        calendar: Option<Calendar>,
    },
    /// The queue's delay or length could not be read: no 24-hour check.
    NoPlan { instance: String, why: String },
    /// Rows an earlier run lost the answer of were looked up.
    LookedUp {
        instance: String,
        resolved: Resolved,
    },
    /// The lookup failed: unknown rows stay unknown and none is resent.
    LookupFailed { instance: String, why: String },
    /// Rows the results file records as sent or unknown that the ledger did not know (it was
    /// emptied, lost or replaced) were taken back from the results file.
    Restored(Restored),
    /// Rows whose card (chat and phone) went out from this results file with other names or
    /// company: not sent again. The first few, and how many in all.
    Changed {
        first: Vec<ChangedRow>,
        count: u64,
        resend: bool,
    },
    /// Rows whose card this machine sent from the instance in another run.
    AlreadySent {
        count: u64,
        /// Of those, cards another run attempted with no answer yet (its rows are `unknown`).
        in_doubt: u64,
        again: bool,
    },
    /// Every sendable row was sent by earlier runs.
    NothingToSend,
    /// The input has a header and no data rows.
    NoRows,
    /// Nothing to send but rows still unknown (not found, or too recent to tell).
    OnlyUnknownLeft,
}

/// The calendar of an instance's share under the schedule (docs/safety.md), for the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calendar {
    /// The instance's cards in this run (its plan's, with a daily cap, are the cap's).
    pub share: u64,
    /// `09:00–18:00 Mon–Fri Europe/Moscow`.
    pub window: Option<String>,
    /// `8–20 s`.
    pub pace: Option<String>,
    pub daily_cap: Option<u64>,
    /// The zone of the window and the days (an IANA name; empty for the system's).
    pub zone: String,
    pub projection: crate::send::schedule::Projection,
}

/// A row whose card went out before with other names (see [`Note::Changed`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangedRow {
    pub row: RowNumber,
    pub chat: String,
    /// `firstName 'Ann' → 'Anna'`, a field each; empty when the earlier names are not known.
    pub changes: Vec<String>,
    /// The row it went from, and whether it is known to have been accepted.
    pub earlier_row: RowNumber,
    pub sent: bool,
}

fn as_text<S: serde::Serializer>(value: &jiff::Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// Where a session's events go. Whoever stopped listening (a page closed) does not stop the
/// run.
#[derive(Debug, Clone)]
pub(crate) struct Events(mpsc::UnboundedSender<Event>);

impl Events {
    pub(crate) fn channel() -> (Events, mpsc::UnboundedReceiver<Event>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (Events(sender), receiver)
    }

    pub(crate) fn send(&self, event: Event) {
        let _ = self.0.send(event);
    }

    pub(crate) fn note(&self, note: Note) {
        self.send(Event::Note(note));
    }
}
