//! The check pass: every row validated, where each stands (the ledger, the sent-card
//! histories), how many this run sends, and the first results file written as it goes. It
//! runs on a blocking thread (the walk has threads of its own); what it finds goes out as
//! events.

use std::collections::BTreeMap;

use crate::contact::{Checked as CheckedRow, ContentKey};
use crate::input::Source;
use crate::input::{InputOptions, Row, RowNumber, Table};
use crate::record::Record;
use crate::record::ledger::History;
use crate::record::sent::SentCards;
use crate::record::standing::{self, FirstLook, Judge, Policy, Standing, lookup_in};
use crate::report::Findings;
use crate::route::{Route, Routing};
use crate::send::SendError;
use crate::send::events::{ChangedRow, Event, Events, Note};
use crate::validation::{self, Tally, Verdict};

/// How many request bodies a dry run shows.
const DRY_RUN_SHOWN: usize = 3;

/// How many changed rows a note lists.
const CHANGED_SHOWN: usize = 10;

/// What the check pass found.
#[derive(Debug, Default)]
pub(crate) struct Checked {
    pub(crate) tally: Tally,
    /// Rows this run sends for sure (never sent, pending, failed), in all.
    pub(crate) to_send: u64,
    /// Sendable rows whose earlier answer was lost.
    pub(crate) unknown: Vec<ContentKey>,
    /// The first request bodies, for a dry run.
    pub(crate) bodies: Vec<(RowNumber, String)>,
    /// The rows whose card the histories did not have, for the passes after this one.
    pub(crate) first_look: FirstLook,
    /// The lane of each row this run sends for sure, in input order: each instance's share
    /// of the first N rows, for its plan.
    pub(crate) lanes: Vec<u16>,
    /// Rows that wait for an instance the run does not have, by instance.
    pub(crate) waiting: BTreeMap<String, u64>,
    /// Rows whose card another run attempted with no answer yet.
    pub(crate) in_doubt: u64,
}

/// What the pass needs of the run.
pub(crate) struct Pass<'a> {
    pub(crate) input: &'a InputOptions,
    /// The results file to write as the pass goes (none for a dry run).
    pub(crate) record: Option<&'a Record>,
    pub(crate) history: &'a History,
    /// Where each row goes, and the sent-card histories to look cards up in.
    pub(crate) routing: &'a Routing,
    pub(crate) cards: &'a [&'a SentCards],
    pub(crate) policy: Policy<'a>,
    pub(crate) dry_run: bool,
    /// The rows with errors are not written yet (nothing will be sent).
    pub(crate) skip_invalid: bool,
    pub(crate) events: &'a Events,
}

/// Validates every row, counts what this run sends and writes the first results file.
pub(crate) fn check(pass: Pass) -> Result<Checked, SendError> {
    let mut table = Table::open(pass.input)?;
    pass.events.send(Event::Source(Source::of(&table)));
    let judge = Judge {
        history: pass.history,
        routing: pass.routing,
        first_look: None,
        again: pass.policy.again,
    };
    let mut writer = match pass.record {
        Some(record) => Some(record.start_rewrite(&table.headers, judge)?),
        None => None,
    };
    let mut findings = Findings::new(None)?;
    let mut checked = Checked::default();
    let mut changed = (0u64, Vec::new());
    let mut already_sent = 0u64;
    let mut in_doubt = 0u64;
    let lookup = lookup_in(pass.cards);
    let prepare = |row: &Row, check: &CheckedRow| judge.prepare(row, check, &lookup);
    let has_cards = !pass.cards.is_empty();
    checked.tally = validation::walk_with(&mut table, prepare, |row, check, verdict, prepared| {
        let card = prepared.as_ref().map(|p| p.card);
        if let Some(prepared) = &prepared
            && has_cards
            && Judge::absent(prepared)
        {
            checked.first_look.absent(row.number, prepared.card);
        }
        let standing = match (verdict, &check.request, prepared) {
            (Verdict::Sendable(key), Some(request), Some(prepared)) => {
                Some((key, request, judge.standing(key, prepared)))
            }
            _ => None,
        };
        match &standing {
            Some((key, _, standing)) if standing.is_unknown() => checked.unknown.push(*key),
            Some((_, request, Standing::Changed(card))) => {
                changed.0 += 1;
                if changed.1.len() < CHANGED_SHOWN {
                    changed.1.push(ChangedRow {
                        row: row.number,
                        chat: request.chat_id.to_string(),
                        changes: standing::changes(card, request.names()),
                        earlier_row: card.row,
                        sent: card.sent.is_some(),
                    });
                }
            }
            Some((_, _, Standing::AlreadySent(earlier))) => {
                already_sent += 1;
                in_doubt += u64::from(earlier.sent.is_none());
            }
            _ => {}
        }
        if let Some((key, request, standing)) = &standing
            && standing.goes(*key, pass.policy)
        {
            match judge.route(*key, &request.chat_id) {
                Route::Lane(lane) => {
                    checked.lanes.push(lane as u16);
                    checked.to_send += 1;
                    if pass.dry_run && checked.bodies.len() < DRY_RUN_SHOWN {
                        let body = request.body();
                        checked
                            .bodies
                            .push((row.number, String::from_utf8_lossy(&body).into_owned()));
                    }
                }
                Route::Waiting(instance) => {
                    *checked.waiting.entry(instance.to_string()).or_default() += 1;
                }
            }
        }
        if let Some(writer) = &mut writer {
            let standing = standing.as_ref().map(|(_, _, standing)| standing);
            writer.row(row, check, verdict, card, standing)?;
        }
        findings
            .add(row.number, &check.findings)
            .map_err(SendError::Other)
    })?;
    let first = findings.finish().map_err(SendError::Other)?;
    pass.events.send(Event::Validated {
        tally: checked.tally.clone(),
        first,
    });
    if changed.0 > 0 {
        pass.events.note(Note::Changed {
            first: changed.1,
            count: changed.0,
            resend: pass.policy.resend_changed,
        });
    }
    checked.in_doubt = in_doubt;
    if already_sent > 0 {
        pass.events.note(Note::AlreadySent {
            count: already_sent,
            in_doubt,
            again: pass.policy.again,
        });
    }
    for (instance, rows) in &checked.waiting {
        pass.events.note(Note::Waiting {
            instance: instance.clone(),
            rows: *rows,
        });
    }
    let going_ahead =
        checked.tally.invalid == 0 || (pass.skip_invalid && checked.tally.skippable());
    // A CSV results file exists from the start, so a crash leaves it in place (--resume
    // rebuilds it from the ledger and the input either way).
    if let Some(writer) = writer
        && going_ahead
    {
        writer.commit()?;
    }
    Ok(checked)
}

/// The unknown rows among `keys` that the ledger still calls unknown.
pub(crate) fn still_unknown(keys: &[ContentKey], history: &History) -> bool {
    keys.iter().any(|key| {
        matches!(
            history.get(*key).map(|state| &state.fate),
            Some(crate::record::Fate::Unknown(_))
        )
    })
}
