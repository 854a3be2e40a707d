//! The validation pass: every row of a table checked, in parallel chunks, with exact
//! duplicates found in input order. `validate`, `send` and the results writer all walk the
//! input through this one pass, so they always agree on what a row is.

use rayon::prelude::*;

use crate::contact::{self, ChatId, Checked, ContentKey, Country, Finding, PhoneNumber, Severity};
use crate::input::{InputError, Row, RowNumber, Table};

/// Rows checked per parallel batch: large enough to keep both cores busy, small enough to
/// keep memory flat.
const CHUNK_ROWS: usize = 4 * 1024;

/// What a row is, once checked against itself and the rows before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Sendable, with its content key.
    Sendable(ContentKey),
    /// Has at least one error.
    Invalid,
    /// Same chat and contact as an earlier row: sent once, through that row.
    Duplicate { of: RowNumber, key: ContentKey },
}

/// Counts for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    pub rows: u64,
    pub sendable: u64,
    pub invalid: u64,
    pub duplicates: u64,
    pub errors: u64,
    pub warnings: u64,
    /// Rows with a cell that holds what looks like another row of the file (a quote left
    /// open): `--skip-invalid` cannot skip them.
    #[serde(skip)]
    pub swallowing: u64,
    /// Rows the sheet hides (errors: the user does not see them, so does not mean them).
    #[serde(skip)]
    pub hidden: u64,
    /// Numbers read in the `--country` plan.
    pub national: u64,
    /// Without `--country`: numbers that look written without a country code.
    pub without_code: u64,
    /// The `--country` given, if any.
    #[serde(skip)]
    pub country: Option<Country>,
    /// Without `--country`: the country calling codes of the numbers read, and how many had
    /// each (the few a file has, most common first once [`Tally::likely_country`] asks).
    #[serde(skip)]
    codes: Vec<(u16, u64)>,
    /// Numbers counted past the first 64 calling codes.
    #[serde(skip)]
    elsewhere: u64,
}

impl Tally {
    /// Whether `--skip-invalid` may send the sendable rows and leave the invalid ones: there
    /// are some, and no invalid row may hold others inside it.
    pub fn skippable(&self) -> bool {
        self.sendable > 0 && self.swallowing == 0
    }

    /// The country the file's international numbers point to: nine in ten of them (and at
    /// least one) have its calling code. Asked when numbers lack their country code.
    pub fn likely_country(&self) -> Option<Country> {
        let total: u64 = self.codes.iter().map(|(_, n)| n).sum::<u64>() + self.elsewhere;
        let &(code, most) = self.codes.iter().max_by_key(|(_, n)| *n)?;
        (most * 10 >= total * 9)
            .then(|| Country::main_of(code))
            .flatten()
    }

    /// The country the summary's hint names: without `--country`, when numbers look
    /// written without a country code and the others point to one country.
    pub fn hint(&self) -> Option<Country> {
        if self.country.is_some() || self.without_code == 0 {
            return None;
        }
        self.likely_country()
    }

    fn count_code(&mut self, number: PhoneNumber) {
        let Some((code, _)) = number.calling_code() else {
            return;
        };
        if let Some((_, n)) = self.codes.iter_mut().find(|(c, _)| *c == code) {
            *n += 1;
        } else if self.codes.len() < 64 {
            self.codes.push((code, 1));
        } else {
            self.elsewhere += 1;
        }
    }

    fn count(&mut self, verdict: Verdict, checked: &Checked) {
        let findings = &checked.findings;
        self.national += u64::from(checked.national);
        self.without_code += u64::from(checked.without_code);
        if self.country.is_none()
            && let Some(request) = &checked.request
        {
            if let ChatId::Personal(digits) = request.chat_id
                && let Some(number) = PhoneNumber::from_digits(digits)
            {
                self.count_code(number);
            }
            self.count_code(request.phone_contact);
        }
        self.rows += 1;
        self.swallowing += u64::from(checked.swallows);
        self.hidden += u64::from(checked.hidden && !matches!(verdict, Verdict::Duplicate { .. }));
        match verdict {
            Verdict::Sendable(_) => self.sendable += 1,
            Verdict::Invalid => self.invalid += 1,
            Verdict::Duplicate { .. } => self.duplicates += 1,
        }
        for f in findings {
            match f.severity {
                Severity::Error => self.errors += 1,
                Severity::Warning => self.warnings += 1,
            }
        }
    }
}

/// Walks every data row in input order, handing each with its check and verdict to `visit`.
///
/// A reader thread parses the next chunk while this one checks the current chunk in parallel
/// (rayon) and visits it in order; chunks are recycled, so memory stays flat.
pub fn walk<E>(
    table: &mut Table,
    mut visit: impl FnMut(&Row, &Checked, Verdict) -> Result<(), E>,
) -> Result<Tally, E>
where
    E: From<InputError>,
{
    walk_with(
        table,
        |_, _| (),
        |row, checked, verdict, ()| visit(row, checked, verdict),
    )
}

/// [`walk`], with `prepare` run on each row's check in the parallel part, its answer handed
/// to `visit` with the row: work per row that looks something up (the sent-card history)
/// then runs on every core, its memory accesses overlapping, not one row after another.
pub fn walk_with<E, P: Send>(
    table: &mut Table,
    prepare: impl Fn(&Row, &Checked) -> P + Sync,
    mut visit: impl FnMut(&Row, &Checked, Verdict, P) -> Result<(), E>,
) -> Result<Tally, E>
where
    E: From<InputError>,
{
    let mut seen = Seen::default();
    let columns = table.columns.clone();
    let mut tally = Tally {
        country: columns.country(),
        ..Tally::default()
    };
    let header_len = table.headers.len();
    // Each chunk comes with the number of rows the input is expected to hold, once known.
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(Vec<Row>, Option<u64>)>(1);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<Row>>();
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || -> Result<(), InputError> {
            let mut chunk = Vec::with_capacity(CHUNK_ROWS);
            let mut read = 0;
            loop {
                let more = table.next_chunk(&mut chunk, CHUNK_ROWS);
                // Every row before an error in the file is checked, whatever the chunk size.
                if more.is_err() && !chunk.is_empty() {
                    let _ = full_tx.send((chunk, None));
                    return more.map(|_| ());
                }
                if !more? {
                    return Ok(());
                }
                read += chunk.len() as u64;
                let expected = table.expected_rows(read);
                if full_tx.send((chunk, expected)).is_err() {
                    return Ok(());
                }
                chunk = empty_rx.try_recv().unwrap_or_default();
            }
        });
        let mut outcome = Ok(());
        let mut reserved = false;
        for (chunk, expected) in full_rx.iter() {
            if let Some(rows) = expected.filter(|_| !reserved) {
                seen.reserve(rows);
                reserved = true;
            }
            outcome = visit_chunk(
                &chunk, &columns, header_len, &mut seen, &mut tally, &prepare, &mut visit,
            );
            let _ = empty_tx.send(chunk);
            if outcome.is_err() {
                break;
            }
        }
        // Dropping the receiver stops the reader if the visitor gave up early.
        drop(full_rx);
        let read = reader.join().expect("the reader thread does not panic");
        outcome?;
        read?;
        Ok(tally)
    })
}

fn visit_chunk<E, P: Send>(
    chunk: &[Row],
    columns: &crate::input::ColumnMap,
    header_len: usize,
    seen: &mut Seen,
    tally: &mut Tally,
    prepare: &(impl Fn(&Row, &Checked) -> P + Sync),
    visit: &mut impl FnMut(&Row, &Checked, Verdict, P) -> Result<(), E>,
) -> Result<(), E> {
    let mut checked: Vec<(Checked, Option<ContentKey>, Option<P>)> = chunk
        .par_iter()
        .with_min_len(256)
        .map(|row| {
            let checked = contact::check(row, columns, header_len);
            let key = checked.request.as_ref().map(|r| r.key());
            let prepared = prepare(row, &checked);
            (checked, key, Some(prepared))
        })
        .collect();
    // A hidden row is never sent: it may be a copy of an earlier row, but no row's first.
    let earlier = seen.firsts(
        chunk,
        checked
            .iter()
            .map(|(checked, key, _)| key.map(|key| (key, !checked.hidden))),
    );
    // By reference: moving each check out of the vector costs a copy of it.
    for ((row, (checked, key, prepared)), earlier) in
        chunk.iter().zip(checked.iter_mut()).zip(earlier)
    {
        let verdict = match (*key, earlier) {
            (None, _) => Verdict::Invalid,
            (Some(key), Some(of)) => {
                // A copy is never sent: hidden or not, it is no error.
                checked.findings.retain(|finding| !finding.is_hidden_row());
                checked.findings.push(Finding {
                    severity: Severity::Warning,
                    field: "row",
                    value: String::new(),
                    problem: format!(
                        "duplicate of row {of} (same chatId and contact): sent once, this \
                         copy gets status duplicate"
                    ),
                });
                Verdict::Duplicate { of, key }
            }
            // A hidden row with nothing else wrong: its request served to find an earlier
            // copy; it has none, so it is the error it says, and sendable no more.
            (Some(_), None) if checked.hidden => {
                checked.request = None;
                Verdict::Invalid
            }
            (Some(key), None) => Verdict::Sendable(key),
        };
        tally.count(verdict, checked);
        let prepared = prepared.take().expect("each row is prepared once");
        visit(row, checked, verdict, prepared)?;
    }
    Ok(())
}

/// How many independent parts the duplicate index is split into, by key: each part sees
/// its own keys in input order, so the parts work in parallel and still find, for every
/// key, the first row that had it.
const SHARDS: usize = 16;

/// The most rows the duplicate index makes room for ahead (about 60 MB); past that it
/// grows as it goes.
const RESERVED_ROWS: u64 = 2_000_000;

/// The first row of each content key, in [`SHARDS`] parts.
struct Seen {
    shards: Vec<SeenShard>,
}

impl Default for Seen {
    fn default() -> Seen {
        Seen {
            shards: (0..SHARDS).map(|_| SeenShard::default()).collect(),
        }
    }
}

impl Seen {
    /// Makes room for the keys of `rows` rows (at most [`RESERVED_ROWS`]), so that the
    /// tables are not rebuilt as they grow.
    fn reserve(&mut self, rows: u64) {
        let per_part = rows.min(RESERVED_ROWS) as usize / SHARDS + 1;
        for shard in &mut self.shards {
            let entries = &shard.entries;
            shard
                .index
                .reserve(per_part, |&i| entries[i as usize].key[0]);
            shard.entries.reserve(per_part);
        }
    }

    /// For each row of a chunk with a key: the earlier row that had the same key, if any
    /// (and the row is remembered as the first otherwise, if it may be one: `(key, true)`).
    /// In parallel, by part.
    fn firsts(
        &mut self,
        chunk: &[Row],
        keys: impl Iterator<Item = Option<(ContentKey, bool)>>,
    ) -> Vec<Option<RowNumber>> {
        let mut count = 0;
        for (i, key) in keys.enumerate() {
            count += 1;
            if let Some((key, first)) = key {
                self.shards[SeenShard::part(key)]
                    .chunk_keys
                    .push((i, key, first));
            }
        }
        let found: Vec<Vec<(usize, RowNumber)>> = self
            .shards
            .par_iter_mut()
            .map(|shard| {
                let mut keys = std::mem::take(&mut shard.chunk_keys);
                let found = keys
                    .drain(..)
                    .filter_map(|(i, key, first)| {
                        Some((i, shard.first(key, chunk[i].number, first)?))
                    })
                    .collect();
                shard.chunk_keys = keys;
                found
            })
            .collect();
        let mut earlier = vec![None; count];
        for (i, of) in found.into_iter().flatten() {
            earlier[i] = Some(of);
        }
        earlier
    }
}

/// One part of the duplicate index: a table of entry numbers (5 bytes a slot, the hash's
/// top bits in its control byte) and the entries, in the order first seen. About 30 bytes a
/// row: a million rows fit in about 30 MB.
#[derive(Default)]
struct SeenShard {
    index: hashbrown::HashTable<u32>,
    entries: Vec<SeenEntry>,
    /// This part's keys of the chunk at hand, with their places in it and whether each may
    /// be a first (kept for the next).
    chunk_keys: Vec<(usize, ContentKey, bool)>,
}

struct SeenEntry {
    key: [u64; 2],
    row: RowNumber,
}

impl SeenShard {
    /// Which part a key belongs to: bits the table's own hash (the low half) does not use.
    fn part(key: ContentKey) -> usize {
        ((key.0 >> 64) as usize) % SHARDS
    }

    /// The row that first had `key`, or None (and `row` is remembered as the first, if it
    /// may be one).
    fn first(&mut self, key: ContentKey, row: RowNumber, may_be_first: bool) -> Option<RowNumber> {
        let key = [key.0 as u64, (key.0 >> 64) as u64];
        let entries = &self.entries;
        let entry = self.index.entry(
            key[0],
            |&i| entries[i as usize].key == key,
            |&i| entries[i as usize].key[0],
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(found) => {
                Some(entries[*found.get() as usize].row)
            }
            hashbrown::hash_table::Entry::Vacant(_) if !may_be_first => None,
            hashbrown::hash_table::Entry::Vacant(slot) => {
                // Past four billion keys in one part a key is no longer remembered: only a
                // later copy of it could then go unnoticed.
                if let Ok(next) = u32::try_from(entries.len()) {
                    slot.insert(next);
                    self.entries.push(SeenEntry { key, row });
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_row_of_each_key_is_found_across_chunks_and_parts() {
        let mut seen = Seen::default();
        let rows: Vec<Row> = (2..2 + 3 * SHARDS as u64)
            .map(|n| Row {
                number: RowNumber(n),
                ..Row::default()
            })
            .collect();
        // Keys spread over every part; the second half of the rows repeats the first half's.
        let key = |i: u64| ContentKey(u128::from(i) << 64 | u128::from(i * 7919));
        let half = rows.len() / 2;
        let keys: Vec<Option<(ContentKey, bool)>> = (0..rows.len() as u64)
            .map(|i| (i != 1).then(|| (key(i % half as u64), true)))
            .collect();
        let (first, second) = rows.split_at(half);
        let earlier_first = seen.firsts(first, keys[..half].iter().copied());
        assert!(earlier_first.iter().all(Option::is_none));
        let earlier_second = seen.firsts(second, keys[half..].iter().copied());
        for (i, earlier) in earlier_second.iter().enumerate() {
            // Row 3 (index 1) had no key, so its copy is the first of its key.
            let want = (i != 1).then(|| first[i].number);
            assert_eq!(*earlier, want, "row {}", second[i].number);
        }
        // Within one chunk too: the first copy is the first.
        let new = ContentKey(u128::MAX);
        let again = seen.firsts(
            &rows[..3],
            [Some((new, true)), Some((key(1), true)), Some((new, true))].into_iter(),
        );
        let second_of_one = RowNumber(3 + half as u64);
        assert_eq!(again, vec![None, Some(second_of_one), Some(RowNumber(2))]);
        // A row that may not be a first (a hidden one) finds an earlier copy, and is not
        // remembered: the copy after it is the first.
        let (hidden, shown) = (ContentKey(u128::MAX - 1), ContentKey(u128::MAX - 2));
        let found = seen.firsts(
            &rows[..4],
            [
                Some((hidden, false)),
                Some((hidden, true)),
                Some((new, false)),
                Some((shown, true)),
            ]
            .into_iter(),
        );
        assert_eq!(found, vec![None, None, Some(RowNumber(2)), None]);
    }
}
