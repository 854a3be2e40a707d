//! Rows a sheet hides — by a filter, or by hand.
//!
//! calamine reads every row of a sheet, shown or not, and says nothing of which are hidden;
//! a user who filtered a sheet down to the customers they mean and saved it would send to
//! all of them. The scan of an inflated XLSX ([`super::zipscan::Scanner`]) reads each `<row>`
//! tag on its way to calamine and notes, with [`RowsSeen`], the rows hidden that hold cells:
//! SpreadsheetML's `row` element (ECMA-376 Part 1) marked `hidden`, or of height 0, which
//! Excel shows as hidden too. The sheet reader asks [`HiddenRows`], row by row, whether the
//! row it builds is one. Such a row is an error (docs/validation.md): shown again and saved,
//! it is sent; with `--skip-invalid` it is left out. An ODS file's sheet, which calamine reads
//! whole, has its hidden rows read beforehand ([`HiddenRanges::of_ods_sheet`]).

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::tags::{attribute, for_each_tag, qualified_parts, tag_parts};

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
    /// The first row numbered, or cell placed, past Excel's last row or column (`r` out of
    /// bounds, or millions of rows without one), as said: calamine would count on, or wrap
    /// its count round, through them.
    past_last: Option<String>,
}

impl Default for RowsSeen {
    fn default() -> RowsSeen {
        RowsSeen {
            next: 1,
            open_hidden: None,
            found: Vec::new(),
            past_last: None,
        }
    }
}

impl RowsSeen {
    /// A `<row …>` tag (its name and attributes, without `<` and `>`); `empty`: written
    /// `<row …/>`, a row without cells. Hidden: `hidden` true (`1` or `true`, as XML Schema
    /// writes a boolean), or a height of 0.
    pub(super) fn row_opened(&mut self, tag: &[u8], empty: bool) {
        let attributes = tag_parts(tag).1;
        let number = row_of(attributes).unwrap_or(self.next);
        self.next = number.saturating_add(1);
        if number > super::MAX_ROWS && self.past_last.is_none() {
            self.past_last = Some(if number == u64::MAX {
                "a row numbered with more digits than any number".to_string()
            } else {
                format!("row {number}")
            });
        }
        let hidden = attribute(attributes, b"hidden")
            .is_some_and(|value| matches!(value.trim_ascii(), b"1" | b"true"))
            || attribute(attributes, b"ht")
                .and_then(|height| std::str::from_utf8(height).ok()?.trim().parse::<f64>().ok())
                .is_some_and(|height| height == 0.0);
        self.open_hidden = (hidden && !empty).then_some(number);
    }

    /// The first row found numbered past Excel's last, if any.
    pub(super) fn past_last(&self) -> Option<&str> {
        self.past_last.as_deref()
    }

    /// A `</row>`: the cells that follow are another row's.
    pub(super) fn row_closed(&mut self) {
        self.open_hidden = None;
    }

    /// Whether the next cell's tag is wanted: it is a hidden row's first.
    #[cfg(test)]
    fn wants_cell(&self) -> bool {
        self.open_hidden.is_some()
    }

    /// A cell's tag (as for [`RowsSeen::row_opened`]). Its `r` places it past the sheet's
    /// last row or column (XFD1048576): calamine's count would overflow, or wrap round and
    /// put the cell in another row. The first cell of a hidden row: the row is where
    /// calamine puts the cell — its `r` (`B7`: row 7) when it has one, else the row's.
    pub(super) fn cell_opened(&mut self, tag: &[u8]) {
        let attributes = tag_parts(tag).1;
        let reference = attribute(attributes, b"r");
        if let Some(r) = reference
            && self.past_last.is_none()
        {
            let letters = r.iter().take_while(|b| b.is_ascii_alphabetic()).count();
            let column = r[..letters].iter().fold(0u64, |n, b| {
                n.saturating_mul(26)
                    .saturating_add(u64::from(b.to_ascii_uppercase() - b'A' + 1))
            });
            let row = row_of(attributes).unwrap_or(0);
            if column > super::excel::MAX_COLUMNS as u64 || row > super::MAX_ROWS {
                let shown: String = String::from_utf8_lossy(&r[..r.len().min(40)])
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '?' })
                    .collect();
                self.past_last = Some(format!("a cell at {shown}"));
            }
        }
        let Some(row) = self.open_hidden.take() else {
            return;
        };
        self.found.push(row_of(attributes).unwrap_or(row));
    }

    /// The hidden rows with cells found since the last call.
    pub(super) fn take(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.found)
    }
}

/// The row a tag's `r` says, as calamine reads it: `7` or `B7` (a column is passed over).
/// Digits too many for a number are the largest one: past any sheet's end.
fn row_of(attributes: &[u8]) -> Option<u64> {
    let r = attribute(attributes, b"r")?;
    let r = std::str::from_utf8(r).ok()?.trim();
    let digits = r.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
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
    /// More numbers came than are kept: some hidden rows would go unnoticed.
    overflowed: AtomicBool,
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
/// hand-made sheet whose cells calamine does not report could leave more untaken: such a
/// sheet is refused ([`HiddenRows::overflowed`]) rather than fill memory or have hidden rows
/// go unnoticed.
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
            for row in found {
                if kept.rows.len() < MAX_KEPT {
                    kept.rows.insert(row);
                } else if !kept.rows.contains(&row) {
                    self.overflowed.store(true, Ordering::Release);
                }
            }
            self.any.store(true, Ordering::Release);
        }
    }

    /// Whether more hidden rows came than are kept (see [`MAX_KEPT`]): the sheet cannot be
    /// read on without missing some.
    pub(super) fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Acquire)
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

/// The rows of an ODS sheet that LibreOffice (or Excel) hides: a `table:table-row` whose
/// `table:visibility` is `collapse` (hidden by hand, or a folded group) or `filter` (a
/// filter's), numbered as calamine numbers them (each row tag with its
/// `table:number-rows-repeated`), as ranges in order: (first row, how many).
#[derive(Debug, Default)]
pub(super) struct HiddenRanges(Vec<(u64, u64)>);

impl HiddenRanges {
    /// Those of sheet `sheet` of the ODS file at `path` (already scanned: no text or tag in it
    /// is over 1 MB); none if it cannot be read (calamine then says why).
    pub(super) fn of_ods_sheet(path: &std::path::Path, sheet: &str) -> HiddenRanges {
        let mut ranges = Vec::new();
        let file = std::fs::File::open(path).map(std::io::BufReader::new);
        let Some(mut zip) = file.ok().and_then(|f| zip::ZipArchive::new(f).ok()) else {
            return HiddenRanges(ranges);
        };
        let Ok(content) = zip.by_name("content.xml") else {
            return HiddenRanges(ranges);
        };
        let (mut in_sheet, mut rows) = (false, 0u64);
        for_each_tag(content, |_, tag| {
            let (closing, tag) = match tag.strip_prefix(b"/") {
                Some(tag) => (true, tag),
                None => (false, tag),
            };
            let (name, attributes) = qualified_parts(tag);
            match name {
                b"table:table" if closing => return !in_sheet,
                b"table:table" => {
                    in_sheet = attribute(attributes, b"table:name")
                        .and_then(|n| {
                            quick_xml::escape::unescape(std::str::from_utf8(n).ok()?).ok()
                        })
                        .is_some_and(|n| n == sheet);
                    rows = 0;
                }
                b"table:table-row" if in_sheet && !closing => {
                    let repeated = repeats(attributes, b"table:number-rows-repeated");
                    let hidden = attribute(attributes, b"table:visibility")
                        .is_some_and(|v| matches!(v.trim_ascii(), b"collapse" | b"filter"));
                    if hidden {
                        ranges.push((rows + 1, repeated));
                    }
                    rows = rows.saturating_add(repeated);
                }
                _ => {}
            }
            true
        });
        HiddenRanges(ranges)
    }

    /// Whether row `number` is among them.
    pub(super) fn contains(&self, number: u64) -> bool {
        let after = self.0.partition_point(|(first, _)| *first <= number);
        after
            .checked_sub(1)
            .is_some_and(|i| number - self.0[i].0 < self.0[i].1)
    }
}

/// Why calamine is not let to open the ODS file at `path`, if it is not: calamine reads every
/// sheet of it whole, each repeated row and cell written out, when it opens it — whichever
/// sheet is then read. A file whose sheets would take more than [`MAX_ODS_CELLS`] cells in
/// all, or put a row with cells past the last row, is refused (a file of a kilobyte can say
/// so). The file was scanned already (no text or tag in it is over 1 MB).
pub(super) fn ods_refusal(path: &std::path::Path) -> Option<String> {
    let file = std::fs::File::open(path)
        .map(std::io::BufReader::new)
        .ok()?;
    let mut zip = zip::ZipArchive::new(file).ok()?;
    let content = zip.by_name("content.xml").ok()?;
    let (mut rows, mut row, mut size) = (0u64, OdsRow::default(), OdsSize::default());
    let mut cells = 0u64;
    let mut refusal = None;
    let mut open = false;
    for_each_tag(content, |_, tag| {
        let (closing, tag) = match tag.strip_prefix(b"/") {
            Some(tag) => (true, tag),
            None => (false, tag),
        };
        let empty = tag.ends_with(b"/");
        let (name, attributes) = qualified_parts(tag);
        match name {
            b"table:table" if closing => {
                refusal = size.refusal(&mut cells);
                size = OdsSize::default();
                (rows, open) = (0, false);
            }
            b"table:table" => open = true,
            b"table:table-row" if !closing => {
                let repeated = repeats(attributes, b"table:number-rows-repeated");
                row = OdsRow {
                    first: rows.saturating_add(1),
                    repeated,
                    ..OdsRow::default()
                };
                rows = rows.saturating_add(repeated);
                if empty {
                    size.add(&row);
                }
            }
            b"table:table-row" => size.add(&row),
            b"table:table-cell" | b"table:covered-table-cell" if !closing => {
                let repeated = repeats(attributes, b"table:number-columns-repeated");
                let filled = attribute(attributes, b"office:value-type").is_some()
                    || attribute(attributes, b"table:formula").is_some();
                row.cell(repeated, filled);
            }
            _ => {}
        }
        refusal.is_none()
    });
    // calamine reads a sheet that never ends on and on, never returning.
    if open && refusal.is_none() {
        refusal = Some(
            "it ends inside a sheet (its content.xml is cut short): it is damaged; open it in \
             LibreOffice and save it again"
                .to_string(),
        );
    }
    refusal
}

/// The most cells greenbulk lets calamine write out for an ODS sheet, which it holds whole
/// (about 125 bytes a cell with the formulas beside them: half a gigabyte). An XLSX or CSV
/// file of any size is read a row at a time.
const MAX_ODS_CELLS: u64 = 4_000_000;

/// A row of an ODS sheet as calamine writes it out: its first number, how many times it
/// repeats, and the columns from its first cell with something in it to its last.
#[derive(Debug, Default)]
struct OdsRow {
    first: u64,
    repeated: u64,
    /// Columns so far, with their repeats (calamine stops a row at Excel's last column).
    columns: u64,
    filled: Option<(u64, u64)>,
}

impl OdsRow {
    fn cell(&mut self, repeated: u64, filled: bool) {
        let end = self
            .columns
            .saturating_add(repeated)
            .min(super::excel::MAX_COLUMNS as u64);
        if filled && end > self.columns {
            let first = self.filled.map_or(self.columns, |(first, _)| first);
            self.filled = Some((first, end));
        }
        self.columns = end;
    }
}

/// What calamine's range of an ODS sheet spans: the rows from the first with something in
/// it to the last, and the columns likewise.
#[derive(Debug, Default)]
struct OdsSize {
    rows: Option<(u64, u64)>,
    columns: Option<(u64, u64)>,
}

impl OdsSize {
    fn add(&mut self, row: &OdsRow) {
        let Some((first, end)) = row.filled else {
            return;
        };
        let last = row.first.saturating_add(row.repeated - 1);
        self.rows = Some((self.rows.map_or(row.first, |(f, _)| f), last));
        self.columns = Some(
            self.columns
                .map_or((first, end), |(f, e)| (f.min(first), e.max(end))),
        );
    }

    /// Why calamine is not let to read the sheet, if it is not; `cells`: the cells of the
    /// sheets before it, to which its own are added.
    fn refusal(&self, cells: &mut u64) -> Option<String> {
        let ((first, last), (left, right)) = (self.rows?, self.columns?);
        if last > super::MAX_ROWS {
            return Some(format!(
                "a sheet of it repeats a row with cells in it past the last row a sheet has \
                 ({}): the file is damaged or built to exhaust memory",
                super::MAX_ROWS
            ));
        }
        let (rows, columns) = (last - first + 1, right - left);
        *cells = cells.saturating_add(rows.saturating_mul(columns));
        (*cells > MAX_ODS_CELLS).then(|| {
            format!(
                "its sheets span {cells} cells once their repeated rows and cells are written \
                 out (this one {rows} rows by {columns} columns), more than greenbulk reads \
                 from an .ods file ({MAX_ODS_CELLS}), which is read whole, every sheet: save \
                 it as .xlsx or CSV, which are read a row at a time (a file of a kilobyte can \
                 ask this much, damaged or built to exhaust memory)"
            )
        })
    }
}

/// A repeat count (`table:number-rows-repeated`, `table:number-columns-repeated`): 1 when
/// absent or unreadable (calamine refuses an unreadable one), the largest when too large.
fn repeats(attributes: &[u8], name: &[u8]) -> u64 {
    let Some(value) = attribute(attributes, name) else {
        return 1;
    };
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return 1;
    }
    digits
        .iter()
        .fold(0u64, |n, b| {
            n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
        })
        .max(1)
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
    fn an_ods_sheets_hidden_rows_are_its_own_counted_with_their_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("book.ods");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        zip.start_file("content.xml", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(
            &mut zip,
            br#"<office:spreadsheet><table:table table:name="Other"><table:table-row table:visibility="collapse"/></table:table><table:table table:name="Q&amp;A"><table:table-header-rows><table:table-row><table:table-cell/></table:table-row></table:table-header-rows><table:table-row table:number-rows-repeated="2"/><table:table-row table:visibility="filter" table:number-rows-repeated="3"><table:table-cell/></table:table-row><table:table-row/><table:table-row-group><table:table-row table:visibility="collapse"/></table:table-row-group><table:table-row table:visibility="visible"/></table:table></office:spreadsheet>"#,
        )
        .unwrap();
        zip.finish().unwrap();
        let hidden = HiddenRanges::of_ods_sheet(&path, "Q&A");
        assert_eq!(hidden.0, [(4, 3), (8, 1)]);
        let found: Vec<u64> = (1..=10).filter(|n| hidden.contains(*n)).collect();
        assert_eq!(found, [4, 5, 6, 8]);
        assert!(HiddenRanges::of_ods_sheet(&path, "Missing").0.is_empty());
    }

    #[test]
    fn a_cell_placed_past_the_last_row_or_column_is_noted() {
        let past = |tag: &[u8]| {
            let mut seen = RowsSeen::default();
            seen.row_opened(b"row r=\"3\"", false);
            seen.cell_opened(tag);
            seen.past_last().map(str::to_string)
        };
        assert_eq!(past(b"c r=\"XFD1048576\" t=\"s\""), None);
        assert_eq!(past(b"c t=\"s\""), None);
        let said = |tag: &[u8]| past(tag).unwrap_or_default();
        assert_eq!(said(b"c r=\"A1048577\""), "a cell at A1048577");
        assert_eq!(said(b"c r=\"A4294967299\""), "a cell at A4294967299");
        assert_eq!(said(b"c r=\"XFE3\""), "a cell at XFE3");
        assert!(past(b"c r=\"AAAAAAAAAAAAAAAAAAAA3\"").is_some());
        let mut seen = RowsSeen::default();
        seen.row_opened(b"row r=\"99999999999999999999999\"", false);
        assert_eq!(
            seen.past_last(),
            Some("a row numbered with more digits than any number")
        );
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
        // Numbers calamine never asks for (cells that name other rows) fill it: said.
        hidden.add(5, (1..=MAX_KEPT as u64).collect());
        hidden.add(5, vec![7]);
        assert!(!hidden.overflowed(), "a number kept already");
        hidden.add(5, vec![MAX_KEPT as u64 + 1]);
        assert!(hidden.overflowed());
    }
}
