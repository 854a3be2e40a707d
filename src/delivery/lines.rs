//! The results file rewritten by `greenbulk status` from what the ledger now says, a part of
//! the history at a time ([`crate::record::Part`]): each part but the last writes what it
//! found for the lines of its cards to a temporary file beside the results file (a few
//! columns a line, in the file's order); the last part rewrites the results file from itself,
//! those files and its own cards, in one pass.
//!
//! A line is the ledger's row when its row number, chat and phone are the row's last
//! attempt's: it gets the row's status, idMessage, error, attempts and delivery (a line of a
//! card no longer in the input keeps saying so). Another line that says its card was sent or
//! may have been — one that names a card sent from another row, or taken back from the
//! results file — is found by its idMessage, else by its card (chat and phone), and gets
//! that card's status and delivery, keeping its own note. The rest (duplicates, invalid
//! rows, cards sent in other runs) stay as they are; the next `send --resume` rewrites them
//! from the input.

use std::fs::File;
use std::io::{Seek, SeekFrom};

use crate::contact::CardKey;
use crate::record::results::{self, COLUMNS};
use crate::record::{Column, Fate, History, Layout, Record, RecordError, Status, StatusCounts};

/// How a line was found: by its own row's state, which beats a state found by the line's
/// idMessage, which beats its card's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Card = 1,
    Id = 2,
    Own = 3,
}

/// The columns a found line sets; `instance` too when its state knows it.
const FOUND_COLUMNS: [Column; 6] = [
    Column::Status,
    Column::IdMessage,
    Column::Error,
    Column::Attempts,
    Column::Delivery,
    Column::DeliveryAt,
];

/// What one part of the history says of a line.
struct Found {
    rank: Rank,
    values: [String; 6],
    instance: Option<String>,
}

impl Found {
    fn of(rank: Rank, mut line: results::Line) -> Found {
        let mut scratch = vec![String::new(); COLUMNS.len()];
        let instance = line.instance.take();
        line.fill(&mut scratch);
        Found {
            rank,
            values: FOUND_COLUMNS.map(|column| std::mem::take(&mut scratch[column.at()])),
            instance,
        }
    }

    fn put(self, fields: &mut [String]) {
        if let Some(instance) = self.instance {
            fields[Column::Instance.at()] = instance;
        }
        for (column, value) in FOUND_COLUMNS.into_iter().zip(self.values) {
            fields[column.at()] = value;
        }
    }

    /// As a line of a part's file: the results line's number, the rank, whether the
    /// instance is known, the instance, the values.
    fn to_fields(&self, line: u64) -> Vec<String> {
        let mut record = vec![
            line.to_string(),
            (self.rank as u8).to_string(),
            u8::from(self.instance.is_some()).to_string(),
            self.instance.clone().unwrap_or_default(),
        ];
        record.extend(self.values.iter().cloned());
        record
    }

    fn from_fields(record: &csv::StringRecord) -> Option<(u64, Found)> {
        let line = record.get(0)?.parse().ok()?;
        let rank = match record.get(1)? {
            "1" => Rank::Card,
            "2" => Rank::Id,
            "3" => Rank::Own,
            _ => return None,
        };
        let instance = (record.get(2)? == "1").then(|| record.get(3).unwrap_or("").to_string());
        let mut values = FOUND_COLUMNS.map(|_| String::new());
        for (at, value) in values.iter_mut().enumerate() {
            *value = record.get(4 + at)?.to_string();
        }
        Some((
            line,
            Found {
                rank,
                values,
                instance,
            },
        ))
    }
}

/// A part's history, ready to find lines in: tables of places in it by a hash of the row,
/// chat and phone, and by a hash of the idMessage (4 bytes a slot, not 32), each found
/// checked against the state it leads to; and one bit for each place a card can be kept,
/// set when the card has a line.
struct Finder<'h> {
    history: &'h History,
    by_row: hashbrown::HashTable<u32>,
    by_id: hashbrown::HashTable<u32>,
    lines: Vec<u64>,
}

fn row_hash(row: u64, chat: &str, phone: u64) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(&row.to_le_bytes());
    hasher.update(chat.as_bytes());
    hasher.update(&[0x1f]);
    hasher.update(&phone.to_le_bytes());
    hasher.digest()
}

fn id_hash(id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(id.as_bytes())
}

impl<'h> Finder<'h> {
    fn new(history: &'h History) -> Finder<'h> {
        let mut finder = Finder {
            history,
            by_row: hashbrown::HashTable::new(),
            by_id: hashbrown::HashTable::new(),
            lines: vec![0u64; history.card_places().div_ceil(64)],
        };
        let Finder { by_row, by_id, .. } = &mut finder;
        let row_of = |place: u32| of_row(history, place);
        let id_of = |place: u32| sent_id(history, place);
        for (place, (_, state)) in history.iter().enumerate() {
            let place = place as u32;
            if let Some((row, chat, phone)) = row_of(place) {
                let entry = by_row.entry(
                    row_hash(row, chat, phone),
                    |&held| row_of(held) == Some((row, chat, phone)),
                    |&held| row_of(held).map_or(0, |(r, c, p)| row_hash(r, c, p)),
                );
                match entry {
                    hashbrown::hash_table::Entry::Occupied(mut held) => {
                        // The same row sent again corrected (--resend-changed): the content
                        // sent, then the latest attempt — as `send` writes the line (a
                        // correction that failed leaves the row's card sent).
                        if state.standing() > state_at(history, *held.get()).standing() {
                            *held.get_mut() = place;
                        }
                    }
                    hashbrown::hash_table::Entry::Vacant(slot) => {
                        slot.insert(place);
                    }
                }
            }
            if let Some(id) = id_of(place) {
                match by_id.entry(
                    id_hash(id),
                    |&held| id_of(held) == Some(id),
                    |&held| id_of(held).map_or(0, id_hash),
                ) {
                    hashbrown::hash_table::Entry::Occupied(mut held) => *held.get_mut() = place,
                    hashbrown::hash_table::Entry::Vacant(slot) => {
                        slot.insert(place);
                    }
                }
            }
        }
        finder
    }

    /// What this part says of a results line, if anything; notes that its card has a line.
    fn find(&mut self, fields: &[String]) -> Option<Found> {
        let history = self.history;
        let field = |column: Column| fields[column.at()].as_str();
        let row = field(Column::Row).parse::<u64>().unwrap_or(0);
        let phone = field(Column::PhoneContact).parse::<u64>().unwrap_or(0);
        let chat = field(Column::ChatId);
        let card = CardKey::of(chat, phone);
        self.has_line(card);
        let old_error = field(Column::Error);
        let own = self
            .by_row
            .find(row_hash(row, chat, phone), |&held| {
                of_row(history, held) == Some((row, chat, phone))
            })
            .map(|&held| state_at(history, held));
        if let Some(state) = own {
            let mut line = results::sendable_line(Some(state));
            line.error = crate::record::keeping_removed_note(old_error, &line.error);
            return Some(Found::of(Rank::Own, line));
        }
        if !matches!(
            Status::parse(field(Column::Status)),
            Some(Status::Sent | Status::Unknown)
        ) {
            return None;
        }
        let id = field(Column::IdMessage);
        let by_its_id = self
            .by_id
            .find(id_hash(id), |&held| sent_id(history, held) == Some(id))
            .map(|&held| state_at(history, held));
        let (rank, mut line) = match by_its_id {
            Some(state) => {
                // Its card has this line, whatever its chat and phone now say (a phone that
                // Excel turned into `7.9E+10` when the file was saved again).
                if let (Some(chat), Some(phone)) = (&state.chat, state.phone) {
                    self.has_line(CardKey::of(chat, phone));
                }
                (Rank::Id, results::sendable_line(Some(state)))
            }
            None if !chat.is_empty() => (
                Rank::Card,
                results::card_line(&history.card(card)?, String::new()),
            ),
            None => return None,
        };
        // The line's own note stays: it says why this row's card is another row's.
        line.error = old_error.to_string();
        Some(Found::of(rank, line))
    }

    /// Notes that `card` has a line.
    fn has_line(&mut self, card: CardKey) {
        if let Some(place) = self.history.card_place(card) {
            self.lines[place / 64] |= 1 << (place % 64);
        }
    }

    /// The cards of this part that have no line in the results file.
    fn missing(&self) -> u64 {
        let with_lines: usize = self
            .lines
            .iter()
            .map(|bits| bits.count_ones() as usize)
            .sum();
        self.history.card_count().saturating_sub(with_lines) as u64
    }
}

fn state_at(history: &History, place: u32) -> &crate::record::ledger::KeyState {
    history.at(place).expect("a place in this history").1
}

fn of_row(history: &History, place: u32) -> Option<(u64, &str, u64)> {
    let state = state_at(history, place);
    match (&state.chat, state.phone) {
        (Some(chat), Some(phone)) => Some((state.row.0, chat.as_str(), phone)),
        _ => None,
    }
}

fn sent_id(history: &History, place: u32) -> Option<&str> {
    match &state_at(history, place).fate {
        Fate::Sent(id) => Some(id.as_str()),
        _ => None,
    }
}

/// A part's file of found lines could not be read back (the disk): the results file is
/// left as it was.
fn unreadable(record: &Record, error: impl std::fmt::Display) -> RecordError {
    RecordError::Read {
        path: crate::term::shown_path(record.results_path()),
        error: std::io::Error::other(format!(
            "what a part of the history found for it, kept in a temporary file beside it, \
             cannot be read back: {error}"
        )),
    }
}

/// A part's file of found lines could not be written (a full disk): the results file is
/// left as it was.
fn temporary(record: &Record, error: std::io::Error) -> RecordError {
    RecordError::Write {
        path: format!(
            "a temporary file beside {} (what a part of the history found for it)",
            crate::term::shown_path(record.results_path())
        ),
        error,
    }
}

/// What the part of the history the record holds says of the results file's lines, in a
/// temporary file beside it; and how many of the part's cards have no line.
pub(crate) fn found_in_part(record: &Record) -> Result<(File, u64), RecordError> {
    let history = record.history().clone();
    let mut finder = Finder::new(&history);
    let folder = crate::replace::folder_of(record.results_path());
    let file = tempfile::tempfile_in(folder).map_err(|error| temporary(record, error))?;
    let mut writer = csv::Writer::from_writer(file);
    let mut layout: Option<Layout> = None;
    let mut line = 0u64;
    let mut failed = None;
    record.read_results(|read| match &layout {
        None => layout = Some(Layout::of(&read)),
        Some(layout) => {
            let fields = layout.arrange(read);
            if let Some(found) = finder.find(&fields)
                && failed.is_none()
                && let Err(error) = writer.write_record(found.to_fields(line))
            {
                failed = Some(error);
            }
            line += 1;
        }
    })?;
    let written = match failed {
        Some(error) => Err(error.into()),
        None => writer.into_inner().map_err(|e| e.into_error()),
    };
    let mut file = written.map_err(|error| temporary(record, error))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|error| temporary(record, error))?;
    Ok((file, finder.missing()))
}

/// Rewrites the results file from itself with what the earlier parts found (their files)
/// and what the part the record holds says; returns its counts and how many of the last
/// part's cards have no line.
pub(crate) fn rewrite(
    record: &Record,
    earlier: Vec<File>,
) -> Result<(StatusCounts, u64), RecordError> {
    let history = record.history().clone();
    let mut finder = Finder::new(&history);
    let mut parts = Vec::with_capacity(earlier.len());
    for file in earlier {
        parts.push(PartFile::read(record, file)?);
    }
    let mut line = 0u64;
    let counts = record.update_results(|fields| {
        let mut best: Option<Found> = None;
        // The earlier parts first: of two found alike, the first part's stands.
        for part in &mut parts {
            if let Some(found) = part.take(line)?
                && best.as_ref().is_none_or(|best| found.rank > best.rank)
            {
                best = Some(found);
            }
        }
        if let Some(found) = finder.find(fields)
            && best.as_ref().is_none_or(|best| found.rank > best.rank)
        {
            best = Some(found);
        }
        if let Some(found) = best {
            found.put(fields);
        }
        line += 1;
        Ok(())
    })?;
    Ok((counts, finder.missing()))
}

/// An earlier part's file of found lines, read back in step with the results file.
struct PartFile<'r> {
    record: &'r Record,
    reader: csv::Reader<File>,
    /// The next line found, and its number.
    next: Option<(u64, Found)>,
}

impl<'r> PartFile<'r> {
    fn read(record: &'r Record, file: File) -> Result<PartFile<'r>, RecordError> {
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(file);
        let mut part = PartFile {
            record,
            reader,
            next: None,
        };
        part.next = part.read_next()?;
        Ok(part)
    }

    fn read_next(&mut self) -> Result<Option<(u64, Found)>, RecordError> {
        let mut read = csv::StringRecord::new();
        let more = self
            .reader
            .read_record(&mut read)
            .map_err(|error| unreadable(self.record, error))?;
        if !more {
            return Ok(None);
        }
        Found::from_fields(&read)
            .map(Some)
            .ok_or_else(|| unreadable(self.record, "a line of it cannot be read"))
    }

    /// What this part found for the results line `line`, if anything.
    fn take(&mut self, line: u64) -> Result<Option<Found>, RecordError> {
        if self.next.as_ref().is_none_or(|(at, _)| *at != line) {
            return Ok(None);
        }
        let found = self.next.take().map(|(_, found)| found);
        self.next = self.read_next()?;
        Ok(found)
    }
}
