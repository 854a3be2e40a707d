//! The validation pass: every row of a table checked, in parallel chunks, with exact
//! duplicates found in input order. `validate`, `send` and the results writer all walk the
//! input through this one pass, so they always agree on what a row is.

use std::collections::HashMap;

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
pub fn walk<E>(
    table: &mut Table,
    mut visit: impl FnMut(&Row, &Checked, Verdict) -> Result<(), E>,
) -> Result<Tally, E>
where
    E: From<InputError>,
{
    let mut first_of: HashMap<ContentKey, RowNumber> = HashMap::new();
    let mut tally = Tally::default();
    let mut chunk = Vec::with_capacity(CHUNK_ROWS);
    let header_len = table.headers.len();
    let columns = table.columns.clone();
    while table.next_chunk(&mut chunk, CHUNK_ROWS)? {
        let checked: Vec<(Checked, Option<ContentKey>)> = chunk
            .par_iter()
            .with_min_len(256)
            .map(|row| {
                let checked = contact::check(row, &columns, header_len);
                let key = checked.request.as_ref().map(|r| r.key());
                (checked, key)
            })
            .collect();
        for (row, (mut checked, key)) in chunk.iter().zip(checked) {
            let verdict = match key {
                None => Verdict::Invalid,
                Some(key) => match first_of.get(&key) {
                    Some(&of) => {
                        checked.findings.push(Finding {
                            severity: Severity::Warning,
                            field: "row",
                            value: String::new(),
                            problem: format!(
                                "duplicate of row {of} (same chatId and contact): sent once, \
                                 this copy gets status duplicate"
                            ),
                        });
                        Verdict::Duplicate { of, key }
                    }
                    None => {
                        first_of.insert(key, row.number);
                        Verdict::Sendable(key)
                    }
                },
            };
            tally.count(verdict, &checked.findings);
            visit(row, &checked, verdict)?;
        }
    }
    Ok(tally)
}
