//! The ledger's lines: one [`Event`] each, what a run did or learned about a row, typed when
//! read back (see the ledger's own documentation for how they are written).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::contact::{CardKey, ContentKey};
use crate::input::RowNumber;
use crate::record::Delivery;

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub(crate) enum Event {
    /// A request is about to leave; `at` is when it was recorded (Unix milliseconds). The
    /// chat and phone let a lost answer be looked up in GREEN-API's queue and journal.
    Attempt {
        key: ContentKey,
        row: RowNumber,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chat: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phone: Option<u64>,
        /// The card's firstName, middleName, lastName and company, so that a later run can
        /// say what changed when the same card (chat and phone) comes again with other names.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        names: Option<Box<[String; 4]>>,
        /// The instance (idInstance) the request goes to: a resumed run sends the row from
        /// the same one (docs/instances.md).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
    },
    /// 200 with this idMessage; `sent_at` is when the request left (Unix milliseconds).
    Sent {
        key: ContentKey,
        row: RowNumber,
        id_message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sent_at: Option<u64>,
    },
    /// Refused for good (a 400, say); `--resume` tries it again.
    Failed {
        key: ContentKey,
        row: RowNumber,
        error: String,
    },
    /// May or may not have been queued.
    Unknown {
        key: ContentKey,
        row: RowNumber,
        reason: String,
    },
    /// Answered without being accepted (429, 5xx …), or the run stopped before it left.
    NotSent {
        key: ContentKey,
        row: RowNumber,
        reason: String,
    },
    /// An `unknown` row found in GREEN-API's queue or journal: it was accepted, `copies`
    /// times (more than once: it went out twice). `at`: when it was found (Unix ms).
    Recovered {
        key: ContentKey,
        row: RowNumber,
        id_message: String,
        copies: u32,
        at: u64,
    },
    /// What became of a sent message (`greenbulk status`), first seen at `at` (Unix ms).
    Delivery {
        key: ContentKey,
        row: RowNumber,
        state: Delivery,
        at: u64,
    },
    /// A sent message asked about one by one (`getMessage`) at `at` (Unix ms), whatever the
    /// answer: the next rounds ask about the others first.
    LookedUp {
        key: ContentKey,
        row: RowNumber,
        at: u64,
    },
    /// A row the results file records as sent (or unknown) that this ledger did not know (it
    /// was emptied, lost or replaced), taken back from the results file when the run was
    /// resumed: never sent again. Known by its card (chat and phone), not its content.
    Restored {
        card: CardKey,
        row: RowNumber,
        chat: String,
        phone: u64,
        /// The idMessage the results file gives (none for a row recorded as unknown).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id_message: Option<String>,
        /// The instance the results file gives.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
        /// The delivery state the results file gives, and since when (Unix ms): what an
        /// earlier `status` learned, kept rather than blanked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delivery: Option<(Delivery, u64)>,
        at: u64,
    },
    /// What `status` learned of a row taken back from the results file (see
    /// [`Event::Restored`]; it has no key, so it is known by its card): its delivery state,
    /// when that changed, and whether it was asked about one by one, at `at` (Unix ms).
    Followed {
        card: CardKey,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<Delivery>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        looked_up: bool,
        at: u64,
    },
    /// The first line of every ledger greenbulk begins: when, and a random number. A ledger
    /// begun again at the same path (the earlier one deleted or lost) is thereby another
    /// run's, and the sent-card history does not take the earlier one's doubts for its own
    /// (docs/never-twice.md).
    Begun { at: u64, nonce: u64 },
    /// The instances (idInstances) of a run, when they differ from those recorded before:
    /// rows assigned to one that a later run lacks wait for it. `replaced`: the run was told
    /// to send such rows from its own (`--reassign`), so those before no longer count.
    Instances {
        ids: Vec<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        replaced: bool,
        at: u64,
    },
    /// The `--set` values (field → value) of the run that started this ledger: the card it
    /// sends, when the input does not give it; and its `--country` (under the key
    /// `--country`), which reads the cells' numbers. A resumed run must give the same.
    Settings {
        sets: BTreeMap<String, String>,
        at: u64,
    },
}

impl Event {
    /// An attempt with no time, chat, phone, names or instance: as an older greenbulk wrote
    /// them (tests of reading such ledgers).
    #[cfg(test)]
    pub(crate) fn bare_attempt(key: ContentKey, row: RowNumber) -> Event {
        Event::Attempt {
            key,
            row,
            at: None,
            chat: None,
            phone: None,
            names: None,
            instance: None,
        }
    }

    /// The row an event is about, and its content key (none for a run's settings).
    pub(super) fn row(&self) -> Option<(ContentKey, RowNumber)> {
        match self {
            Event::Attempt { key, row, .. }
            | Event::Sent { key, row, .. }
            | Event::Failed { key, row, .. }
            | Event::Unknown { key, row, .. }
            | Event::NotSent { key, row, .. }
            | Event::Recovered { key, row, .. }
            | Event::Delivery { key, row, .. }
            | Event::LookedUp { key, row, .. } => Some((*key, *row)),
            Event::Begun { .. }
            | Event::Instances { .. }
            | Event::Settings { .. }
            | Event::Restored { .. }
            | Event::Followed { .. } => None,
        }
    }
}
