//! Where a sendable row stands before a run, and whether the run sends it: the one place
//! that decides "never twice" (docs/never-twice.md). The results file's line and the
//! feed's choice come from the same [`Standing`], so they cannot disagree.
//!
//! In order: the ledger's word for this very content; else the same card (chat and phone)
//! sent from this results file with other names ([`Standing::Changed`]); else this
//! machine's sent-card history for the instance, whatever results file the card went
//! into ([`Standing::AlreadySent`]); else the ledger's pending or failed, or nothing.

use std::collections::HashSet;

use crate::contact::{CardKey, ChatId, Checked, ContentKey};
use crate::input::{Row, RowNumber};
use crate::record::ledger::{CardState, Fate, History, KeyState};
use crate::record::sent::{Earlier, SentCards};
use crate::route::{Route, Routing};

/// Where a sendable row stands.
#[derive(Debug)]
pub(crate) enum Standing<'h> {
    /// Never attempted.
    New,
    /// What the ledger says of this content.
    Recorded(&'h KeyState),
    /// The card went out (or may have) from this results file with other names or company.
    Changed(CardState<'h>),
    /// The results file records the card as sent or unknown, and the ledger knew nothing
    /// of it: taken back from the results file (its content is not known).
    Restored(CardState<'h>),
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

/// What decides a row's standing: the ledger; the run's instances and where each row goes
/// (none: a dry run without credentials); the first pass's look at the histories, for the
/// passes after it.
#[derive(Clone, Copy)]
pub(crate) struct Judge<'a> {
    pub(crate) history: &'a History,
    pub(crate) routing: &'a Routing,
    pub(crate) first_look: Option<&'a FirstLook>,
    /// The run was told to send again what another run sent (`--again`): a row of it that
    /// this results file records as pending or failed (the daily cap held it, say) says so,
    /// not that it went before.
    pub(crate) again: bool,
}

/// How a pass looks a card up in the sent-card histories: `(card, known absent at the first
/// look)`.
pub(crate) type Lookup<'l> = dyn Fn(CardKey, bool) -> Option<Earlier> + Sync + 'l;

/// The lookup in the histories of `cards`: those of the run's instances and of the
/// instances earlier runs on the results file had. A card any of them sent went to its
/// chat from this machine, whichever number it came from.
pub(crate) fn lookup_in<'c>(
    cards: &'c [&'c SentCards],
) -> impl Fn(CardKey, bool) -> Option<Earlier> + Sync + 'c {
    move |card, absent| {
        cards
            .iter()
            .find_map(|cards| cards.earlier_unless_absent(card, absent))
    }
}

/// The cards the first pass over the input found absent from the sent-card history, by row
/// number: the passes after it (the feed, the last rewrite) look such a row's card up again
/// only if the history changed for it since (a claim, another run's slot). Every row's card
/// is then looked up in the big index once per run, not once per pass — each lookup is a
/// trip to memory. A row is known by its card's tag, so a file edited between passes is
/// looked up again.
#[derive(Debug, Default)]
pub(crate) struct FirstLook {
    tags: Vec<u32>,
}

impl FirstLook {
    /// A card's tag: bits of its key, never 0 (0 is "no record").
    fn tag(card: CardKey) -> u32 {
        (card.0 >> 96) as u32 | 1
    }

    /// Records that row `row`'s card was absent from the history.
    pub(crate) fn absent(&mut self, row: RowNumber, card: CardKey) {
        let at = row.0 as usize;
        if self.tags.len() <= at {
            self.tags.resize(at + 1, 0);
        }
        self.tags[at] = FirstLook::tag(card);
    }

    fn was_absent(&self, row: RowNumber, card: CardKey) -> bool {
        self.tags.get(row.0 as usize) == Some(&FirstLook::tag(card))
    }
}

/// What is looked up of a sendable row before its turn, beside the other rows' (see
/// [`crate::validation::walk_with`]): its card, and what the sent-card histories say of it.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) card: CardKey,
    earlier: Option<Earlier>,
}

/// Which instance a row's line names, and why it waits, if its instance is the reason.
#[derive(Debug)]
pub(crate) struct Placement<'p> {
    /// The instance that took the card (or may have), or the one the row goes to.
    pub(crate) instance: &'p str,
    /// Whether the row goes to `instance` in this run (a card sent from another is not).
    pub(crate) routed: bool,
    pub(crate) waiting: Option<String>,
    /// A card another run sent, that this run was told to send again (`--again`).
    pub(crate) again: bool,
}

impl<'a> Judge<'a> {
    /// The part of a row's standing that can be found in parallel with other rows'.
    pub(crate) fn prepare(
        &self,
        row: &Row,
        checked: &Checked,
        lookup: &Lookup,
    ) -> Option<Prepared> {
        let request = checked.request.as_ref()?;
        let card = request.card_key();
        let absent = self
            .first_look
            .is_some_and(|first| first.was_absent(row.number, card));
        Some(Prepared {
            card,
            earlier: lookup(card, absent),
        })
    }

    /// Where a sendable row goes in this run: the instance that attempted it before, else
    /// its chat's (see [`Routing::route`]).
    pub(crate) fn route(&self, key: ContentKey, chat: &ChatId) -> Route<'a> {
        let history = self.history;
        let attempted_on = history.get(key).and_then(|s| history.instance(s.instance));
        self.routing.route(chat, attempted_on)
    }

    /// Which instance a sendable row's line names, and why it waits (see [`Placement`]).
    pub(crate) fn place<'s>(
        &self,
        key: ContentKey,
        chat: &ChatId,
        standing: &'s Standing<'a>,
    ) -> Placement<'s>
    where
        'a: 's,
    {
        let route = self.route(key, chat);
        let routed = self.routing.instance(route);
        let history = self.history;
        let (instance, waits) = match standing {
            Standing::New => (routed, true),
            Standing::Recorded(state) => {
                // Attempted, with the instance not recorded (an older greenbulk): with one
                // instance it can only be that one; with several, it is not known.
                let unknown = state.attempts > 0 && self.routing.instances().len() > 1;
                let fallback = if unknown { "" } else { routed };
                (
                    history.instance(state.instance).unwrap_or(fallback),
                    matches!(state.fate, Fate::Pending(_)),
                )
            }
            Standing::Changed(card) | Standing::Restored(card) => {
                (history.instance(card.instance).unwrap_or(""), false)
            }
            // Sent again (`--again`), it waits as a new row would (see below).
            Standing::AlreadySent(earlier) => (earlier.instance.as_str(), self.again),
        };
        let waiting = waits.then(|| self.routing.waiting_reason(route)).flatten();
        let again = self.again && matches!(standing, Standing::AlreadySent(_));
        // Held back, a card sent again names the instance it waits for; else the one that
        // sent it before.
        let instance = if again && waiting.is_some() {
            routed
        } else {
            instance
        };
        Placement {
            instance,
            routed: instance == routed,
            waiting,
            again,
        }
    }

    /// Whether the history had nothing of this row's card (what a [`FirstLook`] records).
    pub(crate) fn absent(prepared: &Prepared) -> bool {
        prepared.earlier.is_none()
    }

    pub(crate) fn standing(&self, key: ContentKey, prepared: Prepared) -> Standing<'a> {
        let Prepared { card, earlier } = prepared;
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
        if let Some(earlier) = earlier {
            // Told to send it again: what this results file records of it (pending, held by
            // the daily cap; failed) is its line, and it goes as it would anyway.
            return match own {
                Some(state) if self.again => Standing::Recorded(state),
                _ => Standing::AlreadySent(earlier),
            };
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
