//! The validation pass: every row of a table checked, in parallel chunks, with exact
//! duplicates found in input order. `validate`, `send` and the results writer all walk the
//! input through this one pass, so they always agree on what a row is.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use rayon::prelude::*;

use crate::contact::{self, Checked, ContentKey, Finding, Severity};
use crate::input::{InputError, Row, RowNumber, Table};

/// Rows checked per parallel batch: large enough to keep both cores busy, small enough to
/// keep memory flat.
const CHUNK_ROWS: usize = 8 * 1024;

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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub rows: u64,
    pub sendable: u64,
    pub invalid: u64,
    pub duplicates: u64,
    pub errors: u64,
    pub warnings: u64,
}

impl Tally {
    fn count(&mut self, verdict: Verdict, findings: &[Finding]) {
        self.rows += 1;
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
    let mut seen = Seen::default();
    let mut tally = Tally::default();
    let header_len = table.headers.len();
    let columns = table.columns.clone();
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Vec<Row>>(1);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<Row>>();
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || -> Result<(), InputError> {
            let mut chunk = Vec::with_capacity(CHUNK_ROWS);
            while table.next_chunk(&mut chunk, CHUNK_ROWS)? {
                if full_tx.send(chunk).is_err() {
                    break;
                }
                chunk = empty_rx.try_recv().unwrap_or_default();
            }
            Ok(())
        });
        let mut outcome = Ok(());
        for chunk in full_rx.iter() {
            outcome = visit_chunk(
                &chunk, &columns, header_len, &mut seen, &mut tally, &mut visit,
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

fn visit_chunk<E>(
    chunk: &[Row],
    columns: &crate::input::ColumnMap,
    header_len: usize,
    seen: &mut Seen,
    tally: &mut Tally,
    visit: &mut impl FnMut(&Row, &Checked, Verdict) -> Result<(), E>,
) -> Result<(), E> {
    let mut checked: Vec<(Checked, Option<ContentKey>)> = chunk
        .par_iter()
        .with_min_len(256)
        .map(|row| {
            let checked = contact::check(row, columns, header_len);
            let key = checked.request.as_ref().map(|r| r.key());
            (checked, key)
        })
        .collect();
    // By reference: moving each check out of the vector costs a copy of it.
    for (row, (checked, key)) in chunk.iter().zip(checked.iter_mut()) {
        let verdict = match *key {
            None => Verdict::Invalid,
            Some(key) => match seen.first(key, row.number) {
                Some(of) => {
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
                None => Verdict::Sendable(key),
            },
        };
        tally.count(verdict, &checked.findings);
        visit(row, checked, verdict)?;
    }
    Ok(())
}

/// The first row of each content key: the low half of the key indexes, the high half
/// confirms. 33 bytes a row when full, about 50 with the table's and vector's room to grow; a
/// million rows fit in well under 100 MB.
#[derive(Default)]
struct Seen {
    index: HashMap<u64, u32, BuildHasherDefault<KeyHasher>>,
    entries: Vec<(u64, RowNumber)>,
}

impl Seen {
    /// The row that first had `key`, or None (and `row` is remembered as the first).
    fn first(&mut self, key: ContentKey, row: RowNumber) -> Option<RowNumber> {
        let (low, high) = (key.0 as u64, (key.0 >> 64) as u64);
        match self.index.get(&low) {
            Some(&i) if self.entries[i as usize].0 == high => Some(self.entries[i as usize].1),
            // Same low half, different key: astronomically rare; the row is simply not
            // remembered, so only a later copy of it could go unnoticed.
            Some(_) => None,
            None => {
                self.index.insert(low, self.entries.len() as u32);
                self.entries.push((high, row));
                None
            }
        }
    }
}

/// The keys are already uniform hashes: use their bits as they are.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
