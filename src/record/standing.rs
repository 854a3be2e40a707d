//! Where a sendable row stands before a run, and whether the run sends it: the one place
//! that decides "never twice" (docs/never-twice.md). The results file's line and the
//! feed's choice come from the same [`Standing`], so they cannot disagree.
//!
//! In order: the ledger's word for this very content; else the same card (chat and phone)
//! sent from this results file with other names ([`Standing::Changed`]); else this
//! machine's sent-card history for the instance, whatever results file the card went
//! into ([`Standing::AlreadySent`]); else the ledger's pending or failed, or nothing.

use std::collections::HashSet;

use crate::contact::{CardKey, ContentKey};
use crate::record::ledger::{CardState, Fate, History, KeyState};
use crate::record::sent::{Earlier, SentCards};

/// Where a sendable row stands.
#[derive(Debug)]
pub(crate) enum Standing<'h> {
    /// Never attempted.
    New,
    /// What the ledger says of this content.
    Recorded(&'h KeyState),
    /// The card went out (or may have) from this results file with other names or company.
    Changed(&'h CardState),
    /// The results file records the card as sent or unknown, and the ledger knew nothing
    /// of it: taken back from the results file (its content is not known).
    Restored(&'h CardState),
    /// This machine sent the card (or may have) in another run.
    AlreadySent(Earlier),
}

/// What the run was told to send again.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Policy<'a> {
    /// `--retry-unknown`: the unknown rows looked up and shown absent.
    pub(crate) resend: Option<&'a HashSet<ContentKey>>,
    /// `--resend-changed`: cards sent before with other names.
    pub(crate) resend_changed: bool,
    /// `--again`: cards the sent-card history says went out in another run.
    pub(crate) again: bool,
}

/// What decides a row's standing: the ledger, and the sent-card history when there is one
/// (a dry run without credentials, and `status`, have none).
#[derive(Clone, Copy)]
pub(crate) struct Judge<'a> {
    pub(crate) history: &'a History,
    pub(crate) cards: Option<&'a SentCards>,
}

impl<'a> Judge<'a> {
    pub(crate) fn standing(&self, key: ContentKey, card: CardKey) -> Standing<'a> {
        let own = self.history.get(key);
        if let Some(state) = own
            && matches!(state.fate, Fate::Sent(_) | Fate::Unknown(_))
        {
            return Standing::Recorded(state);
        }
        if let Some(earlier) = self.history.card(card) {
            return match earlier.key {
                Some(sent) if sent != key => Standing::Changed(earlier),
                // The same content in doubt as another key cannot happen; restored rows
                // have no content to compare.
                _ => Standing::Restored(earlier),
            };
        }
        if let Some(earlier) = self.cards.and_then(|cards| cards.earlier(card)) {
            return Standing::AlreadySent(earlier);
        }
        match own {
            Some(state) => Standing::Recorded(state),
            None => Standing::New,
        }
    }
}

impl Standing<'_> {
    /// Whether this run sends the row.
    pub(crate) fn goes(&self, key: ContentKey, policy: Policy) -> bool {
        match self {
            Standing::New => true,
            Standing::Recorded(state) => match state.fate {
                Fate::Pending(_) | Fate::Failed(_) => true,
                Fate::Unknown(_) => policy.resend.is_some_and(|keys| keys.contains(&key)),
                Fate::Sent(_) => false,
            },
            Standing::Changed(card) => policy.resend_changed && card.sent.is_some(),
            Standing::Restored(_) => false,
            Standing::AlreadySent(_) => policy.again,
        }
    }

    /// Whether its answer was lost in an earlier run of this results file.
    pub(crate) fn is_unknown(&self) -> bool {
        matches!(self, Standing::Recorded(state) if matches!(state.fate, Fate::Unknown(_)))
    }
}

/// How a card's names changed: `firstName 'Ann' → 'Anna'`, one entry a field; empty when the
/// earlier names are not known.
pub(crate) fn changes(earlier: &CardState, now: [&str; 4]) -> Vec<String> {
    const FIELDS: [&str; 4] = ["firstName", "middleName", "lastName", "company"];
    let Some(was) = &earlier.names else {
        return Vec::new();
    };
    FIELDS
        .iter()
        .zip(was.iter().zip(now))
        .filter(|(_, (was, now))| was.as_str() != *now)
        .map(|(field, (was, now))| {
            format!(
                "{field} '{}' → '{}'",
                crate::term::shown(was),
                crate::term::shown(now)
            )
        })
        .collect()
}
