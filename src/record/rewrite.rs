//! Writing the results file anew: from the input's rows and where each stands (a send's
//! passes), keeping the lines of cards no longer in the input; or from itself, each line
//! updated (`status`). Always to a temporary file renamed into place.

use std::collections::HashMap;

use super::results::{self, Column, Counted, Layout, ResultsHeader, ResultsWriter, WriteError};
use super::standing::{self, FirstLook, Judge, Lookup};
use super::{History, Record, RecordError, StatusCounts, shown_path};
use crate::contact::{CardKey, ContentKey};
use crate::input::{InputError, InputOptions, Table};
use crate::record::Fate;
use crate::route::Routing;
use crate::validation::{self, Verdict};

impl Record {
    /// Reads the ledger again (it now holds this run's outcomes too) and rewrites the
    /// results file from the input, atomically.
    /// Rows whose card went out (or may have) but is no longer in the input keep their
    /// lines, marked so, after the input's rows: nothing the file recorded disappears.
    /// `routing`, `lookup`, `first_look` and `again` are the run's (see [`Judge`]).
    pub(crate) fn rewrite(
        &mut self,
        input: &InputOptions,
        routing: &Routing,
        lookup: &Lookup,
        first_look: Option<&FirstLook>,
        again: bool,
    ) -> Result<Counted, RewriteError> {
        self.reload()?;
        let mut table = Table::open(input)?;
        let history = self.history.clone();
        let judge = Judge {
            history: &history,
            routing,
            first_look,
            again,
        };
        let mut rewrite = self.start_rewrite(&table.headers, judge)?;
        validation::walk_with(
            &mut table,
            |row, checked| judge.prepare(row, checked, lookup),
            |row, checked, verdict, prepared| {
                let card = prepared.as_ref().map(|p| p.card);
                let standing = match (verdict, prepared) {
                    (Verdict::Sendable(key), Some(prepared)) => Some(judge.standing(key, prepared)),
                    _ => None,
                };
                rewrite
                    .row(row, checked, verdict, card, standing.as_ref())
                    .map_err(RewriteError::Record)
            },
        )?;
        Ok(rewrite.commit()?)
    }

    /// Starts writing the results file anew from the input's rows (the caller adds each),
    /// deciding each line with `judge`.
    pub(crate) fn start_rewrite<'r>(
        &'r self,
        headers: &csv::StringRecord,
        judge: Judge<'r>,
    ) -> Result<Rewrite<'r>, RecordError> {
        Ok(Rewrite {
            record: self,
            writer: self.results_writer(headers)?,
            headers: headers.clone(),
            coverage: Coverage::of(judge.history),
            judge,
        })
    }

    /// Writes the lines of cards no longer in the input: the ledger's fate, and the input
    /// cells the results file held for them (by column name), when it still does.
    fn write_removed(
        &self,
        writer: &mut ResultsWriter,
        headers: &csv::StringRecord,
        removed: &[Removed],
    ) -> Result<(), RecordError> {
        let wanted: HashMap<(u64, &str, u64), usize> = removed
            .iter()
            .enumerate()
            .map(|(i, r)| ((r.row.0, r.chat.as_str(), r.phone), i))
            .collect();
        let mut cells: Vec<Option<Vec<String>>> = vec![None; removed.len()];
        let mut old: Option<(ResultsHeader, Vec<String>)> = None;
        // Unreadable or gone: the lines are kept without their input cells.
        let _ = self.read_results(|line| {
            let Some((columns, names)) = &old else {
                old = ResultsHeader::find(&line).map(|columns| (columns, line));
                return;
            };
            let field = |i: usize| line.get(i).map_or("", String::as_str);
            let phone = field(columns.phone_contact).parse().unwrap_or(0);
            let row = field(columns.row).parse().unwrap_or(0);
            if let Some(&i) = wanted.get(&(row, field(columns.chat_id), phone)) {
                let by_name: HashMap<&str, &str> = names
                    .iter()
                    .zip(&line)
                    .skip(results::COLUMNS.len())
                    .map(|(name, cell)| (name.as_str(), cell.as_str()))
                    .collect();
                cells[i] = Some(
                    headers
                        .iter()
                        .map(|h| {
                            let name = results::input_column(h);
                            by_name.get(&*name).unwrap_or(&"").to_string()
                        })
                        .collect(),
                );
            }
        });
        for (removed, cells) in removed.iter().zip(cells) {
            let mut fields = vec![String::new(); results::COLUMNS.len()];
            fields[Column::Row.at()] = removed.row.to_string();
            fields[Column::ChatId.at()] = removed.chat.clone();
            fields[Column::PhoneContact.at()] = removed.phone.to_string();
            let mut line = removed.line.clone();
            line.error = with_note(&removed_note(removed.row), &line.error);
            line.fill(&mut fields);
            fields.extend(cells.unwrap_or_else(|| vec![String::new(); headers.len()]));
            writer.line(&fields)?;
        }
        Ok(())
    }
}

/// What a line of a card no longer in the input says first.
const REMOVED: &str = "no longer in the input";

fn removed_note(row: crate::input::RowNumber) -> String {
    format!("{REMOVED}: this card went from row {row} of an earlier version of it")
}

/// A line's error with a note before it.
fn with_note(note: &str, error: &str) -> String {
    if error.is_empty() {
        note.to_string()
    } else {
        format!("{note}; {error}")
    }
}

/// The note a line of a card no longer in the input starts with, if it is one.
fn removed_note_of(error: &str) -> Option<&str> {
    if !error.starts_with(REMOVED) {
        return None;
    }
    Some(error.split_once("; ").map_or(error, |(note, _)| note))
}

/// The error a line gets when rewritten: the ledger's, after the note a line of a card no
/// longer in the input keeps.
pub(crate) fn keeping_removed_note(old: &str, error: &str) -> String {
    match removed_note_of(old) {
        Some(note) => with_note(note, error),
        None => error.to_string(),
    }
}

/// A results file being written from the input's rows, one by one; [`Rewrite::commit`] adds
/// the lines of cards no longer in the input and puts the file in place.
pub(crate) struct Rewrite<'r> {
    record: &'r Record,
    writer: ResultsWriter,
    headers: csv::StringRecord,
    coverage: Coverage,
    judge: Judge<'r>,
}

impl Rewrite<'_> {
    /// Adds a row's line: its card (for a row with a request), and where it stands (for a
    /// sendable row, as [`Judge::standing`] says) and which instance it names.
    pub(crate) fn row(
        &mut self,
        row: &crate::input::Row,
        checked: &crate::contact::Checked,
        verdict: Verdict,
        card: Option<CardKey>,
        standing: Option<&standing::Standing>,
    ) -> Result<(), RecordError> {
        if let (Verdict::Sendable(key) | Verdict::Duplicate { key, .. }, Some(card)) =
            (verdict, card)
        {
            self.coverage.cover(card, key);
        }
        let placement = match (verdict, &checked.request, standing) {
            (Verdict::Sendable(key), Some(request), Some(standing)) => {
                Some((standing, self.judge.place(key, &request.chat_id, standing)))
            }
            _ => None,
        };
        let standing = placement.as_ref().map(|(s, p)| (*s, p));
        Ok(self.writer.row(row, checked, verdict, standing)?)
    }

    /// Adds the lines of cards no longer in the input (read from the results file as it
    /// stands), then makes the file durable and puts it in place.
    pub(crate) fn commit(mut self) -> Result<Counted, RecordError> {
        let removed = self.coverage.uncovered(self.judge.history);
        if !removed.is_empty() {
            self.record
                .write_removed(&mut self.writer, &self.headers, &removed)?;
        }
        Ok(self.writer.commit()?)
    }
}

/// A card the ledger says went out (or may have), no longer in the input.
struct Removed {
    row: crate::input::RowNumber,
    chat: String,
    phone: u64,
    line: results::Line,
}

/// Which of the ledger's cards the input still has, by identity: their keys sorted, and a
/// bit each, so a million sent cards cost 16 MB here, not a hash set's 40.
struct Coverage {
    cards: Vec<CardKey>,
    covered: Vec<bool>,
    /// Cards recorded without their chat and phone (older ledgers), by content.
    keys: Vec<ContentKey>,
    keys_covered: Vec<bool>,
}

impl Coverage {
    fn of(history: &History) -> Coverage {
        let mut cards: Vec<CardKey> = history.cards().map(|(card, _)| card).collect();
        cards.sort_unstable();
        let mut keys: Vec<ContentKey> = history
            .iter()
            .filter(|(_, state)| {
                state.chat.is_none() && matches!(state.fate, Fate::Sent(_) | Fate::Unknown(_))
            })
            .map(|(key, _)| key)
            .collect();
        keys.sort_unstable();
        Coverage {
            covered: vec![false; cards.len()],
            keys_covered: vec![false; keys.len()],
            cards,
            keys,
        }
    }

    fn cover(&mut self, card: CardKey, key: ContentKey) {
        if let Ok(i) = self.cards.binary_search(&card) {
            self.covered[i] = true;
        }
        if let Ok(i) = self.keys.binary_search(&key) {
            self.keys_covered[i] = true;
        }
    }

    /// The cards not covered, in the order of their rows.
    fn uncovered(&self, history: &History) -> Vec<Removed> {
        let mut removed: Vec<Removed> = self
            .cards
            .iter()
            .zip(&self.covered)
            .filter(|(_, covered)| !**covered)
            .filter_map(|(card, _)| history.card(*card))
            .map(|card| Removed {
                row: card.row,
                chat: card.chat.to_string(),
                phone: card.phone,
                line: results::card_line(&card, String::new()),
            })
            .chain(
                self.keys
                    .iter()
                    .zip(&self.keys_covered)
                    .filter(|(_, covered)| !**covered)
                    .filter_map(|(key, _)| history.get(*key))
                    .map(|state| Removed {
                        row: state.row,
                        chat: String::new(),
                        phone: 0,
                        line: results::sendable_line(Some(state)),
                    }),
            )
            .collect();
        removed.sort_by_key(|r| r.row);
        removed
    }
}

impl Record {
    /// Rewrites the results file from itself, each line (all its fields) passed through
    /// `update`; atomically, like every rewrite (an `update` that fails leaves the file as it
    /// was). Returns the counts of its statuses.
    ///
    /// Streamed: a line is read, updated and written before the next is read, so memory does
    /// not grow with the file. Each line reaches `update` in the current layout (see
    /// [`Layout`]): a file written before a fixed column existed gets it, empty.
    pub(crate) fn update_results(
        &self,
        mut update: impl FnMut(&mut [String]) -> Result<(), RecordError>,
    ) -> Result<StatusCounts, RecordError> {
        let mut about = self.read_about();
        about.pairs.push((
            "looked at by greenbulk status".into(),
            jiff::Timestamp::now().to_string(),
        ));
        let mut writer: Option<(ResultsWriter, Layout)> = None;
        let mut failed: Option<RecordError> = None;
        self.read_results(|line| {
            if failed.is_some() {
                return;
            }
            let written = match &mut writer {
                None => {
                    let layout = Layout::of(&line);
                    let header = layout.arrange(line);
                    ResultsWriter::with_header(&self.results, header, about.clone())
                        .map(|started| writer = Some((started, layout)))
                }
                Some((writer, layout)) => {
                    let mut fields = layout.arrange(line);
                    if let Err(error) = update(&mut fields) {
                        failed = Some(error);
                        return;
                    }
                    writer.line(&fields)
                }
            };
            if let Err(error) = written {
                failed = Some(error.into());
            }
        })?;
        if let Some(error) = failed {
            return Err(error);
        }
        match writer {
            Some((writer, _)) => Ok(writer.commit()?.total),
            None => Err(RecordError::NotResults {
                path: shown_path(&self.results),
            }),
        }
    }
}

/// Why the results file could not be rewritten.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RewriteError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Input(#[from] InputError),
}

impl From<WriteError> for RewriteError {
    fn from(e: WriteError) -> RewriteError {
        RewriteError::Record(e.into())
    }
}
