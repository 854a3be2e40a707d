//! Rows hidden in Excel — by a filter, or by hand.
//!
//! calamine reads every row of a sheet, shown or not, and says nothing of which are hidden;
//! a user who filtered a sheet down to the customers they mean and saved it would send to
//! all of them. The scan of an inflated XLSX ([`super::zipscan::Scanner`]) reads each `<row>`
//! tag on its way to calamine and notes, with [`RowsSeen`], the rows marked `hidden` that
//! hold cells; the sheet reader asks [`HiddenRows`], row by row, whether the row it builds is
//! one. Such a row is an error (docs/validation.md): shown again in Excel and saved, it is
//! sent; with `--skip-invalid` it is left out.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the scan of a part notes of its rows: their numbers as calamine counts them, and
/// which hidden ones hold a cell.
#[derive(Debug)]
pub(super) struct RowsSeen {
    /// The number of a row without an `r` (the one after the last row, as calamine counts).
    next: u64,
    /// A hidden row opened whose first cell has not come yet: its number.
    open_hidden: Option<u64>,
    /// Hidden rows with cells, not yet taken.
    found: Vec<u64>,
}

impl Default for RowsSeen {
    fn default() -> RowsSeen {
        RowsSeen {
            next: 1,
            open_hidden: None,
            found: Vec::new(),
        }
    }
}

impl RowsSeen {
    /// A `<row …>` tag (its name and attributes, without `<` and `>`); `empty`: written
    /// `<row …/>`, a row without cells. Hidden: `hidden` true (`1` or `true`, as XML Schema
    /// writes a boolean), or a height of 0.
    pub(super) fn row_opened(&mut self, tag: &[u8], empty: bool) {
        let attributes = super::zipscan::tag_parts(tag).1;
        let number = row_of(attributes).unwrap_or(self.next);
        self.next = number.saturating_add(1);
        let hidden = super::zipscan::attribute(attributes, b"hidden")
            .is_some_and(|value| matches!(value.trim_ascii(), b"1" | b"true"))
            || super::zipscan::attribute(attributes, b"ht")
                .and_then(|height| std::str::from_utf8(height).ok()?.trim().parse::<f64>().ok())
                .is_some_and(|height| height == 0.0);
        self.open_hidden = (hidden && !empty).then_some(number);
    }

    pub(super) fn row_closed(&mut self) {
        self.open_hidden = None;
    }

    /// Whether the next cell's tag is wanted: it is a hidden row's first.
    pub(super) fn wants_cell(&self) -> bool {
        self.open_hidden.is_some()
    }

    /// The first cell of a hidden row (its tag, as for [`RowsSeen::row_opened`]): the row is
    /// where calamine puts the cell — its `r` (`B7`: row 7) when it has one, else the row's.
    pub(super) fn cell_opened(&mut self, tag: &[u8]) {
        let Some(row) = self.open_hidden.take() else {
            return;
        };
        let attributes = super::zipscan::tag_parts(tag).1;
        self.found.push(row_of(attributes).unwrap_or(row));
    }

    /// The hidden rows with cells found since the last call.
    pub(super) fn take(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.found)
    }
}

/// The row a tag's `r` says, as calamine reads it: `7` or `B7` (a column is passed over).
fn row_of(attributes: &[u8]) -> Option<u64> {
    let r = super::zipscan::attribute(attributes, b"r")?;
    let r = std::str::from_utf8(r).ok()?.trim();
    r.trim_start_matches(|c: char| c.is_ascii_alphabetic())
        .parse()
        .ok()
}

/// The hidden rows of the part being read, from the scan (on the thread inflating it) to
/// the sheet reader. A block reaches calamine only after its scan, so a row's number is here
/// before calamine hands over the row's first cell; the reader takes each number as it
/// builds that row (in whatever order the sheet has its rows), so what is kept is what the
/// scan is ahead by: a few blocks.
#[derive(Debug, Default)]
pub(super) struct HiddenRows {
    /// Whether any row was found hidden: a sheet without one costs a read a row, no lock.
    any: AtomicBool,
    kept: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    /// The part being read (its index in the archive): a thread still inflating another
    /// one, about to stop, adds nothing.
    part: Option<usize>,
    rows: HashSet<u64>,
}

/// The most numbers kept. The scan is a few 64 KB blocks ahead of calamine, and a hidden row
/// with a cell takes at least 25 bytes: some 16,000 numbers at most are ever waiting. Only a
/// hand-made sheet whose cells calamine does not report could leave more untaken; past this,
/// its hidden rows go unnoticed rather than fill memory.
const MAX_KEPT: usize = 1 << 16;

impl HiddenRows {
    /// Part `index` is read from here on: what was kept of another goes.
    pub(super) fn reading(&self, index: usize) {
        if let Ok(mut kept) = self.kept.lock() {
            kept.part = Some(index);
            kept.rows.clear();
        }
    }

    /// Rows the scan of part `index` found hidden.
    pub(super) fn add(&self, index: usize, found: Vec<u64>) {
        if found.is_empty() {
            return;
        }
        if let Ok(mut kept) = self.kept.lock()
            && kept.part == Some(index)
        {
            let room = MAX_KEPT.saturating_sub(kept.rows.len());
            kept.rows.extend(found.into_iter().take(room));
            self.any.store(true, Ordering::Release);
        }
    }

    /// Whether row `number` is hidden (taken: a number is asked once, as its row is built).
    pub(super) fn is_hidden(&self, number: u64) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        self.kept
            .lock()
            .is_ok_and(|mut kept| kept.rows.remove(&number))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_numbered_as_calamine_numbers_them_and_hidden_ones_with_cells_noted() {
        let mut seen = RowsSeen::default();
        // No `r`: the first row is 1.
        seen.row_opened(b"row hidden=\"1\"", false);
        assert!(seen.wants_cell());
        seen.cell_opened(b"c");
        assert!(!seen.wants_cell(), "the first cell is enough");
        seen.row_closed();
        // `r` says where it is; `true` is hidden too, with single quotes and spaces.
        seen.row_opened(b"row r='5' hidden = 'true' spans=\"1:3\"", false);
        seen.cell_opened(b"c t=\"s\"");
        seen.row_closed();
        // The row after 5, no `r`: 6, hidden but without a cell.
        seen.row_opened(b"row hidden=\"1\"", false);
        seen.row_closed();
        seen.row_opened(b"row r=\"7\" hidden=\"1\"", true);
        assert!(!seen.wants_cell(), "written <row/>: no cell");
        seen.row_opened(b"x:row r=\"8\" hidden=\"0\"", false);
        assert!(!seen.wants_cell());
        // An attribute ending in `hidden`, or a value holding it, is not it.
        seen.row_opened(b"row r=\"9\" x14ac:hidden=\"1\"", false);
        seen.row_opened(b"row r=\"10\" note='a hidden=\"1\"'", false);
        assert!(!seen.wants_cell());
        // A height of 0 hides a row as well.
        seen.row_opened(b"row r=\"11\" customHeight=\"1\" ht=\"0\"", false);
        seen.cell_opened(b"c r=\"A11\"");
        seen.row_opened(b"row r=\"12\" ht=\"0.5\"", false);
        assert!(!seen.wants_cell());
        // A row's `r` with a column, as calamine reads it.
        seen.row_opened(b"row r=\"C12\" hidden=\"1\"", false);
        seen.cell_opened(b"c");
        // The cell says where calamine puts it, whatever its row tag says.
        seen.row_opened(b"row r=\"13\" hidden=\"1\"", false);
        seen.cell_opened(b"c r=\"AB20\" t=\"inlineStr\"");
        assert_eq!(seen.take(), vec![1, 5, 11, 12, 20]);
        assert_eq!(seen.take(), Vec::<u64>::new());
    }

    #[test]
    fn the_reader_takes_each_hidden_row_once_in_any_order() {
        let hidden = HiddenRows::default();
        assert!(!hidden.is_hidden(3));
        hidden.reading(4);
        hidden.add(2, vec![3]);
        assert!(!hidden.is_hidden(3), "another part's rows are not kept");
        hidden.add(4, vec![9, 3, 5]);
        assert!(!hidden.is_hidden(2));
        assert!(hidden.is_hidden(9), "a row written before lower ones");
        assert!(hidden.is_hidden(3));
        assert!(!hidden.is_hidden(3), "taken");
        assert!(hidden.is_hidden(5));
        hidden.add(4, vec![14]);
        hidden.reading(5);
        assert!(!hidden.is_hidden(14), "the part read before");
    }
}
