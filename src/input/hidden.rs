//! Rows hidden in Excel — by a filter, or by hand.
//!
//! calamine reads every row of a sheet, shown or not, and says nothing of which are hidden;
//! a user who filtered a sheet down to the customers they mean and saved it would send to
//! all of them. The scan of an inflated XLSX ([`super::zipscan::Scanner`]) reads each `<row>`
//! tag on its way to calamine and notes, with [`RowsSeen`], the rows marked `hidden` that
//! hold cells; the sheet reader asks [`HiddenRows`], row by row, whether the row it builds is
//! one. Such a row is an error (docs/validation.md): shown again in Excel and saved, it is
//! sent; with `--skip-invalid` it is left out.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the scan of a part notes of its rows: their numbers as calamine counts them (a
/// row's `r`, else the one after the last), and which hidden ones hold a cell.
#[derive(Debug)]
pub(super) struct RowsSeen {
    /// The number a row without an `r` gets.
    next: u64,
    /// A hidden row opened whose first cell has not come yet.
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
    /// `<row …/>`, a row without cells.
    pub(super) fn row_opened(&mut self, tag: &[u8], empty: bool) {
        let attributes = super::zipscan::tag_parts(tag).1;
        let number = super::zipscan::attribute(attributes, b"r")
            .and_then(|r| std::str::from_utf8(r).ok()?.trim().parse::<u64>().ok())
            .unwrap_or(self.next);
        self.next = number.saturating_add(1);
        // xsd:boolean, as the standard writes the attribute: `1` or `true`.
        let hidden = super::zipscan::attribute(attributes, b"hidden")
            .is_some_and(|value| matches!(value.trim_ascii(), b"1" | b"true"));
        self.open_hidden = (hidden && !empty).then_some(number);
    }

    pub(super) fn row_closed(&mut self) {
        self.open_hidden = None;
    }

    /// A cell opened: the hidden row it is in, if any, holds one.
    pub(super) fn cell_opened(&mut self) {
        self.found.extend(self.open_hidden.take());
    }

    /// The hidden rows with cells found since the last call.
    pub(super) fn take(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.found)
    }
}

/// The hidden rows of the part being read, from the scan (on the thread inflating it) to
/// the sheet reader, in order. A block reaches calamine only after its scan, so a row's
/// number is here before calamine hands over the row's first cell; the reader takes each
/// number as it passes it, so what is kept is what the scan is ahead by (a few blocks).
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
    rows: VecDeque<u64>,
}

/// The most numbers kept. The scan is a few 64 KB blocks ahead of calamine, and a hidden row
/// with a cell takes at least 25 bytes: some 16,000 numbers at most are ever waiting. Only a
/// hand-made sheet whose cells name earlier rows than their `<row>` tags could leave more
/// untaken; past this, its hidden rows go unnoticed rather than fill memory.
const MAX_KEPT: usize = 1 << 16;

impl HiddenRows {
    /// Part `index` is read from here on: what was kept of another goes.
    pub(super) fn reading(&self, index: usize) {
        if let Ok(mut kept) = self.kept.lock() {
            kept.part = Some(index);
            kept.rows.clear();
        }
    }

    /// Rows the scan of part `index` found hidden, in the order of the part.
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

    /// Whether row `number` is hidden; the numbers before it are passed over for good (the
    /// reader asks in the order of the sheet).
    pub(super) fn is_hidden(&self, number: u64) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        let Ok(mut kept) = self.kept.lock() else {
            return false;
        };
        let rows = &mut kept.rows;
        while rows.front().is_some_and(|row| *row < number) {
            rows.pop_front();
        }
        rows.front() == Some(&number) && rows.pop_front().is_some()
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
        seen.cell_opened();
        seen.cell_opened();
        seen.row_closed();
        // `r` says where it is; `true` is hidden too, with single quotes and spaces.
        seen.row_opened(b"row r='5' hidden = 'true' spans=\"1:3\"", false);
        seen.cell_opened();
        seen.row_closed();
        // The row after 5, no `r`: 6, hidden but without a cell.
        seen.row_opened(b"row hidden=\"1\"", false);
        seen.row_closed();
        seen.row_opened(b"row r=\"7\" hidden=\"1\"", true);
        seen.row_opened(b"x:row r=\"8\" hidden=\"0\"", false);
        seen.cell_opened();
        // An attribute ending in `hidden`, or a value holding it, is not it.
        seen.row_opened(b"row r=\"9\" x14ac:hidden=\"1\"", false);
        seen.cell_opened();
        seen.row_opened(b"row r=\"10\" note='a hidden=\"1\"'", false);
        seen.cell_opened();
        seen.row_opened(b"row r=\"11\" customHeight=\"1\" hidden=\"1\"", false);
        seen.cell_opened();
        assert_eq!(seen.take(), vec![1, 5, 11]);
        assert_eq!(seen.take(), Vec::<u64>::new());
    }

    #[test]
    fn the_reader_takes_each_hidden_row_once_in_order() {
        let hidden = HiddenRows::default();
        assert!(!hidden.is_hidden(3));
        hidden.reading(4);
        hidden.add(2, vec![3]);
        assert!(!hidden.is_hidden(3), "another part's rows are not kept");
        hidden.add(4, vec![3, 5, 9]);
        assert!(!hidden.is_hidden(2));
        assert!(hidden.is_hidden(3));
        assert!(!hidden.is_hidden(3), "taken");
        // Row 5 had no cell calamine reported: passed over.
        assert!(!hidden.is_hidden(6));
        hidden.add(4, vec![12]);
        assert!(hidden.is_hidden(9));
        assert!(hidden.is_hidden(12));
        hidden.add(4, vec![14]);
        hidden.reading(5);
        assert!(!hidden.is_hidden(14), "the part read before");
    }
}
