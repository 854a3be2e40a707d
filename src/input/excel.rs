//! Workbooks (xlsx, xlsm, xlsb, xls, ods) through `calamine`, cells turned into exact text.
//!
//! Numbers are written as a person would type them: a phone stored as the number
//! 79001234568.0 becomes `79001234568`, never `7.9e10`. Dates become ISO dates, booleans
//! `TRUE`/`FALSE`, error cells their Excel text (`#N/A`).

use std::io::{Read, Seek};
use std::path::Path;

use calamine::{Data, DataRef, Range, Reader, Sheets, Xlsx};
use csv::StringRecord;

use super::hidden::{HiddenRanges, HiddenRows};
use super::inflated::{FoundSlot, Inflated};
use super::{InputError, Row, RowNumber, RowSource, zipscan};

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
/// Excel's last column is XFD, the 16,384th.
pub(super) const MAX_COLUMNS: usize = 16_384;
const OLE_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Xlsx,
    Xlsb,
    Xls,
    Ods,
    /// A ZIP file with no telling extension: let calamine try each format.
    UnknownZip,
}

impl Kind {
    pub(super) fn from_extension(ext: &str) -> Option<Kind> {
        match ext {
            "xlsx" | "xlsm" | "xltx" | "xltm" => Some(Kind::Xlsx),
            "xlsb" => Some(Kind::Xlsb),
            "xls" | "xlt" => Some(Kind::Xls),
            "ods" => Some(Kind::Ods),
            _ => None,
        }
    }

    /// The workbook kind the first bytes prove, if any; the extension picks among ZIP formats.
    pub(super) fn detect(magic: &[u8], ext: &str) -> Option<Kind> {
        if magic.starts_with(ZIP_MAGIC) {
            return Some(match Kind::from_extension(ext) {
                Some(Kind::Xls) | None => Kind::UnknownZip,
                Some(kind) => kind,
            });
        }
        // An OLE file is a legacy .xls, or an encrypted (password-protected) modern workbook.
        magic.starts_with(OLE_MAGIC).then_some(Kind::Xls)
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Xlsx => "XLSX",
            Kind::Xlsb => "XLSB",
            Kind::Xls => "XLS",
            Kind::Ods => "ODS",
            Kind::UnknownZip => "Excel",
        }
    }
}

pub(super) struct SheetRows {
    range: Range<Data>,
    first_row: u64,
    next: usize,
    /// The rows hidden in the sheet (found for ODS files only).
    hidden: HiddenRanges,
}

/// An opened sheet: its name, its rows, and what is worth a warning (a hidden first sheet
/// passed over).
pub(super) struct Opened {
    pub(super) sheet: String,
    /// Every sheet of the workbook, in order.
    pub(super) sheets: Vec<String>,
    pub(super) rows: Box<dyn RowSource>,
    pub(super) warnings: Vec<String>,
}

pub(super) fn open(path: &Path, kind: Kind, sheet: Option<&str>) -> Result<Opened, InputError> {
    let ext_says = Kind::from_extension(&super::extension(path));
    // A workbook saved under another name (`export`, `list.zip`) is still an XLSX when it
    // holds one's workbook part, and is read as one: scanned part by part, hidden rows found.
    let kind = match kind {
        Kind::UnknownZip
            if zipscan::archive(path)
                .is_some_and(|zip| zip.index_for_name("xl/workbook.xml").is_some()) =>
        {
            Kind::Xlsx
        }
        kind => kind,
    };
    let fail = |detail: String| {
        let encrypted = kind == Kind::Xls && matches!(ext_says, Some(k) if k != Kind::Xls);
        InputError::Workbook {
            path: path.to_path_buf(),
            kind: kind.name(),
            detail,
            hint: if encrypted {
                "It looks password-protected: open it in Excel, remove the password \
                 (File > Info > Protect Workbook) and save it again."
            } else {
                "It may be damaged or password-protected: open it in Excel and save it again, \
                 or export the sheet as CSV."
            },
        }
    };
    // An XLSX is read through an archive of its parts inflated on other threads and scanned
    // on the way; any other zipped workbook is scanned whole first.
    if kind == Kind::Xlsx
        && let Some(archive) = Inflated::open(path)?
    {
        let found = archive.found_slot();
        let refused =
            |error: calamine::XlsxError| found.refusal().unwrap_or_else(|| fail(error.to_string()));
        let workbook = Xlsx::new(archive).map_err(refused)?;
        return choose_sheet(path, Sheets::Xlsx(workbook), sheet, fail, Some(found));
    }
    if matches!(kind, Kind::Xlsx | Kind::Ods | Kind::UnknownZip) {
        zipscan::check(path)?;
    }
    if matches!(kind, Kind::Ods | Kind::UnknownZip)
        && let Some(refusal) = super::hidden::ods_refusal(path)
    {
        return Err(fail(refusal));
    }
    let workbook = match kind {
        Kind::Xlsx => calamine::open_workbook(path)
            .map(Sheets::Xlsx)
            .map_err(|e| e.to_string()),
        Kind::Xlsb => calamine::open_workbook(path)
            .map(Sheets::Xlsb)
            .map_err(|e| e.to_string()),
        Kind::Xls => calamine::open_workbook(path)
            .map(Sheets::Xls)
            .map_err(|e| e.to_string()),
        Kind::Ods => calamine::open_workbook(path)
            .map(Sheets::Ods)
            .map_err(|e| e.to_string()),
        Kind::UnknownZip => calamine::open_workbook_auto(path).map_err(|e| e.to_string()),
    }
    .map_err(fail)?;
    let mut opened = choose_sheet(path, workbook, sheet, fail, None)?;
    // Said, not passed over: a filtered sheet's hidden rows are read like the others here.
    let why = match kind {
        Kind::Xlsx | Kind::UnknownZip => {
            "could not be looked for in this workbook, whose archive is read whole".to_string()
        }
        Kind::Xls | Kind::Xlsb => format!("cannot be looked for in {} files", kind.name()),
        Kind::Ods => return Ok(opened),
    };
    opened.warnings.push(format!(
        "rows hidden in the sheet (by a filter, or by hand) {why}: every row is read, shown or \
         not; save the file as .xlsx in Excel to have them caught"
    ));
    Ok(opened)
}

/// Picks the sheet to read (the one named, else the first visible one) and starts reading
/// it. `found`: where the scan of an inflated XLSX leaves what it refused.
fn choose_sheet<RS: Read + Seek + Send + 'static>(
    path: &Path,
    workbook: Sheets<RS>,
    sheet: Option<&str>,
    fail: impl Fn(String) -> InputError,
    found: Option<FoundSlot>,
) -> Result<Opened, InputError> {
    let names = workbook.sheet_names();
    let mut warnings = Vec::new();
    let name = match sheet {
        Some(wanted) => names
            .iter()
            .find(|n| n.as_str() == wanted)
            .or_else(|| {
                names
                    .iter()
                    .find(|n| n.trim().eq_ignore_ascii_case(wanted.trim()))
            })
            .cloned()
            .ok_or_else(|| InputError::NoSheet {
                path: path.to_path_buf(),
                sheet: wanted.to_string(),
                available: super::quote_list(names.iter().map(String::as_str)),
            })?,
        None => {
            let sheets = workbook.sheets_metadata();
            let first = sheets
                .first()
                .ok_or_else(|| fail("it has no sheets".into()))?;
            // A sheet the user cannot see in Excel is not the one they mean.
            match sheets
                .iter()
                .find(|s| s.visible == calamine::SheetVisible::Visible)
            {
                Some(visible) if visible.name != first.name => {
                    warnings.push(format!(
                        "the first sheet, '{}', is hidden: reading the first visible one, '{}' \
                         (--sheet '{}' reads the hidden one)",
                        crate::term::shown(&first.name),
                        crate::term::shown(&visible.name),
                        crate::term::shown(&first.name)
                    ));
                    visible.name.clone()
                }
                Some(_) => first.name.clone(),
                None => {
                    warnings.push(format!(
                        "every sheet is hidden: reading the first, '{}' (--sheet picks another)",
                        crate::term::shown(&first.name)
                    ));
                    first.name.clone()
                }
            }
        }
    };
    let mut workbook = match workbook {
        // XLSX sheets are streamed cell by cell: memory stays flat whatever the sheet's size.
        Sheets::Xlsx(xlsx) => {
            return Ok(Opened {
                sheet: name.clone(),
                sheets: names.clone(),
                rows: Box::new(StreamedRows::start(xlsx, name, path, found)),
                warnings,
            });
        }
        other => other,
    };
    let hidden = match workbook {
        Sheets::Ods(_) => HiddenRanges::of_ods_sheet(path, &name),
        _ => HiddenRanges::default(),
    };
    let range = workbook
        .worksheet_range(&name)
        .map_err(|e| fail(e.to_string()))?;
    let first_row = range.start().map_or(0, |(row, _)| u64::from(row));
    Ok(Opened {
        sheet: name,
        sheets: names,
        rows: Box::new(SheetRows {
            range,
            first_row,
            next: 0,
            hidden,
        }),
        warnings,
    })
}

/// A sheet row as the reader thread hands it over: its number, cells, which cells (by
/// column, the first 64) hold a formula whose value was never saved or a number in a date
/// format, and whether Excel hides it.
struct SheetRow {
    number: u64,
    cells: StringRecord,
    unsaved_formulas: u64,
    dated_numbers: u64,
    hidden: bool,
}

type Chunk = Vec<SheetRow>;

/// What the reader thread sends: rows, then `Done` — or the error that stopped it. A channel
/// that closes without either means the thread died.
enum Streamed {
    Rows(Chunk),
    Done,
    Failed(InputError),
}

/// Rows of an XLSX sheet, read on a thread of their own with calamine's cell reader.
struct StreamedRows {
    chunks: std::sync::mpsc::Receiver<Streamed>,
    pending: std::vec::IntoIter<SheetRow>,
    /// Records read, going back to the reader thread to be filled again (see [`Spares`]).
    spares: Vec<StringRecord>,
    returns: Option<std::sync::mpsc::Sender<Vec<StringRecord>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    path: std::path::PathBuf,
    done: bool,
}

const DAMAGED_HINT: &str =
    "It may be damaged: open it in Excel and save it again, or export the sheet as CSV.";

impl StreamedRows {
    /// `found`: where the scan of an inflated workbook leaves what it refused (the error
    /// then, not calamine's stop).
    fn start<RS: Read + Seek + Send + 'static>(
        mut workbook: Xlsx<RS>,
        sheet: String,
        path: &Path,
        found: Option<FoundSlot>,
    ) -> StreamedRows {
        let (sender, chunks) = std::sync::mpsc::sync_channel(4);
        let (returns, returned) = std::sync::mpsc::channel();
        let path = path.to_path_buf();
        let failed_path = path.clone();
        let thread = std::thread::spawn(move || {
            let mut spares = Spares {
                returned,
                kept: Vec::new(),
            };
            let hidden = found.as_ref().map(FoundSlot::hidden_rows);
            let end = match stream_cells(&mut workbook, &sheet, hidden, &sender, &mut spares) {
                Ok(()) => Streamed::Done,
                Err(Stop::LongRow(number)) => Streamed::Failed(InputError::Text {
                    path: failed_path,
                    row: RowNumber(number),
                    message: "holds more than 1 MB of text in all, more than any contact: the \
                              workbook is damaged or built to exhaust memory. Open it in Excel, \
                              shorten that row and save it again"
                        .into(),
                }),
                Err(Stop::Damaged(detail)) => {
                    Streamed::Failed(found.as_ref().and_then(FoundSlot::refusal).unwrap_or(
                        InputError::Workbook {
                            path: failed_path,
                            kind: "XLSX",
                            detail,
                            hint: DAMAGED_HINT,
                        },
                    ))
                }
            };
            let _ = sender.send(end);
        });
        StreamedRows {
            chunks,
            pending: Vec::new().into_iter(),
            spares: Vec::new(),
            returns: Some(returns),
            thread: Some(thread),
            path,
            done: false,
        }
    }

    /// The channel closed without a last word: the thread panicked (or stopped early).
    fn died(&mut self) -> InputError {
        let why = match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Err(panic)) => panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into()),
            _ => "it stopped before the end of the sheet".into(),
        };
        InputError::Workbook {
            path: self.path.clone(),
            kind: "XLSX",
            detail: format!("the sheet reader failed: {why}"),
            hint: DAMAGED_HINT,
        }
    }
}

/// Why reading a sheet stopped before its end.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    /// The sheet cannot be read on: calamine's words, or ours.
    Damaged(String),
    /// The row with this number holds more text than a row may.
    LongRow(u64),
}

/// Sends the sheet's rows in chunks; cells arrive row by row, left to right. `hidden`: the
/// rows the scan finds hidden, when the workbook is read through [`Inflated`].
fn stream_cells<RS: Read + Seek>(
    workbook: &mut Xlsx<RS>,
    sheet: &str,
    hidden: Option<&HiddenRows>,
    sender: &std::sync::mpsc::SyncSender<Streamed>,
    spares: &mut Spares,
) -> Result<(), Stop> {
    let damaged = |error: calamine::XlsxError| Stop::Damaged(error.to_string());
    let mut cells = workbook.worksheet_cells_reader(sheet).map_err(damaged)?;
    let mut chunk = ChunkBuilder::default();
    let mut current: Option<RowBuilder> = None;
    let mut scratch = String::new();
    while let Some(cell) = cells.next_cell_with_formula_metadata().map_err(damaged)? {
        let (row, column) = cell.pos;
        let number = u64::from(row) + 1;
        if current.as_ref().is_none_or(|r| r.number != number) {
            if let Some(done) = current.take() {
                chunk.push(done.finish());
            }
            if chunk.is_full() && sender.send(Streamed::Rows(chunk.take())).is_err() {
                return Ok(()); // the reader stopped listening
            }
            if hidden.is_some_and(HiddenRows::overflowed) {
                return Err(Stop::Damaged(
                    "more of its rows are hidden, with cells calamine does not place in them, \
                     than any sheet holds: the workbook is damaged or built to mislead. Open it \
                     in Excel and save it again"
                        .into(),
                ));
            }
            let mut row = RowBuilder::new(number, spares.take(chunk.sizes));
            row.hidden = hidden.is_some_and(|hidden| hidden.is_hidden(number));
            current = Some(row);
        }
        let current = current.as_mut().expect("set above");
        let column = column as usize;
        if column >= MAX_COLUMNS {
            return Err(Stop::Damaged(format!(
                "row {number} has a cell past Excel's last column (XFD): the file is damaged or \
                 built to exhaust memory"
            )));
        }
        let unsaved = cell.value == DataRef::Empty && cell.formula.is_some();
        let (text, dated) = cell_str(&cell.value, &mut scratch);
        current.set(column, text, unsaved, dated)?;
    }
    if let Some(done) = current.take() {
        chunk.push(done.finish());
    }
    if !chunk.rows.is_empty() {
        let _ = sender.send(Streamed::Rows(chunk.take()));
    }
    Ok(())
}

/// Records the reader has read, given back to be filled again: a row costs no allocation once
/// the first chunks have gone round. Only ordinary rows' records come back (see
/// [`Spares::give_back`]), so what is kept stays small whatever the sheet.
struct Spares {
    returned: std::sync::mpsc::Receiver<Vec<StringRecord>>,
    kept: Vec<StringRecord>,
}

impl Spares {
    /// The largest record given back, in text and in fields.
    const MAX_BYTES: usize = 4096;
    const MAX_FIELDS: usize = 256;

    /// An empty record: one given back, else a new one with room for `(bytes, fields)`.
    fn take(&mut self, (bytes, fields): (usize, usize)) -> StringRecord {
        if self.kept.is_empty()
            && let Ok(returned) = self.returned.try_recv()
        {
            self.kept = returned;
        }
        match self.kept.pop() {
            Some(mut record) => {
                record.clear();
                record
            }
            None => StringRecord::with_capacity(bytes, fields),
        }
    }

    /// Gives `record` back through `returns` (with others: `spares` collects them), if it is
    /// an ordinary row's.
    fn give_back(
        record: StringRecord,
        spares: &mut Vec<StringRecord>,
        returns: Option<&std::sync::mpsc::Sender<Vec<StringRecord>>>,
    ) {
        let ordinary = record.as_byte_record().as_slice().len() <= Self::MAX_BYTES
            && record.len() <= Self::MAX_FIELDS;
        let Some(returns) = returns.filter(|_| ordinary) else {
            return;
        };
        spares.push(record);
        if spares.len() >= ChunkBuilder::ROWS {
            let _ = returns.send(std::mem::take(spares));
        }
    }
}

/// The rows on their way to the next send. A chunk goes when it has [`ChunkBuilder::ROWS`]
/// rows or [`ChunkBuilder::BYTES`] of text and fields, whichever comes first, so that a sheet
/// of very wide rows cannot fill memory while the checks catch up.
#[derive(Default)]
struct ChunkBuilder {
    rows: Chunk,
    bytes: usize,
    /// The last row's text length and field count, capped: the next row's room.
    sizes: (usize, usize),
}

impl ChunkBuilder {
    const ROWS: usize = 1024;
    const BYTES: usize = 8 << 20;

    fn push(&mut self, row: SheetRow) {
        let text = row.cells.as_byte_record().as_slice().len();
        self.bytes += text + 8 * row.cells.len();
        self.sizes = (text.min(4096), row.cells.len().min(256));
        self.rows.push(row);
    }

    fn is_full(&self) -> bool {
        self.rows.len() >= Self::ROWS || self.bytes >= Self::BYTES
    }

    fn take(&mut self) -> Chunk {
        self.bytes = 0;
        std::mem::replace(&mut self.rows, Vec::with_capacity(Self::ROWS))
    }
}

/// A sheet row as its cells arrive. Excel writes them left to right, once each, so a cell
/// is appended to the record; a hand-made or damaged file that repeats or reorders cells
/// switches the row to one string per column (still linear), and the last value given for
/// a cell wins, as in calamine's own sheet reader.
struct RowBuilder {
    number: u64,
    /// The text of the row's cells so far.
    bytes: u64,
    cells: StringRecord,
    scattered: Option<Vec<String>>,
    unsaved_formulas: u64,
    dated_numbers: u64,
    hidden: bool,
}

impl RowBuilder {
    /// A row numbered `number`, its cells written into `cells` (empty).
    fn new(number: u64, cells: StringRecord) -> RowBuilder {
        RowBuilder {
            number,
            bytes: 0,
            cells,
            scattered: None,
            unsaved_formulas: 0,
            dated_numbers: 0,
            hidden: false,
        }
    }

    /// Puts a cell's text in its column; `unsaved` when it is a formula whose value was
    /// never saved, `dated` when it is a number in a date format too large to be a date. A
    /// row may hold at most 1 MB of text, as a CSV record may: each cell is bounded by the
    /// scan, but a row of thousands of them would not be.
    fn set(&mut self, column: usize, text: &str, unsaved: bool, dated: bool) -> Result<(), Stop> {
        if column < 64 {
            let bit = 1 << column;
            let flag = |mask: &mut u64, on: bool| {
                if on {
                    *mask |= bit;
                } else {
                    *mask &= !bit;
                }
            };
            flag(&mut self.unsaved_formulas, unsaved);
            flag(&mut self.dated_numbers, dated);
        }
        self.bytes += text.len() as u64;
        if self.bytes > super::text::MAX_RECORD_BYTES {
            return Err(Stop::LongRow(self.number));
        }
        if self.scattered.is_none() && column < self.cells.len() {
            self.scattered = Some(self.cells.iter().map(str::to_string).collect());
        }
        match &mut self.scattered {
            // An empty cell past the last one adds nothing (trailing empty cells are dropped):
            // a row of empty cells out to column XFD costs no room.
            None if text.is_empty() => {}
            None => {
                for _ in self.cells.len()..column {
                    self.cells.push_field("");
                }
                self.cells.push_field(text);
            }
            Some(texts) => {
                if texts.len() <= column {
                    texts.resize(column + 1, String::new());
                }
                texts[column].clear();
                texts[column].push_str(text);
            }
        }
        Ok(())
    }

    fn finish(self) -> SheetRow {
        let mut cells = match self.scattered {
            Some(texts) => texts.iter().collect(),
            None => self.cells,
        };
        trim_trailing_empty(&mut cells);
        SheetRow {
            number: self.number,
            cells,
            unsaved_formulas: self.unsaved_formulas,
            dated_numbers: self.dated_numbers,
            hidden: self.hidden,
        }
    }
}

impl RowSource for StreamedRows {
    fn next_record(&mut self, row: &mut Row) -> Result<bool, InputError> {
        loop {
            if let Some(next) = self.pending.next() {
                row.number = RowNumber(next.number);
                let read = std::mem::replace(&mut row.cells, next.cells);
                Spares::give_back(read, &mut self.spares, self.returns.as_ref());
                row.unsaved_formulas = next.unsaved_formulas;
                row.dated_numbers = next.dated_numbers;
                row.hidden = next.hidden;
                return Ok(true);
            }
            if self.done {
                return Ok(false);
            }
            match self.chunks.recv() {
                Ok(Streamed::Rows(chunk)) => self.pending = chunk.into_iter(),
                Ok(Streamed::Done) => {
                    self.done = true;
                    return Ok(false);
                }
                Ok(Streamed::Failed(e)) => return Err(e),
                Err(_) => return Err(self.died()),
            }
        }
    }
}

impl RowSource for SheetRows {
    fn next_record(&mut self, row: &mut Row) -> Result<bool, InputError> {
        if self.next >= self.range.height() {
            return Ok(false);
        }
        row.number = RowNumber(self.first_row + self.next as u64 + 1);
        row.unsaved_formulas = 0;
        row.dated_numbers = 0;
        row.hidden = self.hidden.contains(row.number.0);
        self.next += 1;
        let mut record = std::mem::take(&mut row.cells);
        record.clear();
        let mut text = String::new();
        for column in 0..self.range.width() {
            text.clear();
            if let Some(cell) = self.range.get((self.next - 1, column))
                && cell_text(cell, &mut text)
                && column < 64
            {
                row.dated_numbers |= 1 << column;
            }
            record.push_field(&text);
        }
        trim_trailing_empty(&mut record);
        row.cells = record;
        Ok(true)
    }
}

/// Trailing empty cells carry nothing and would only make rows look ragged.
fn trim_trailing_empty(record: &mut StringRecord) {
    while record.len() > 1 && record.get(record.len() - 1) == Some("") {
        record.truncate(record.len() - 1);
    }
}

/// [`cell_text`] for a cell as the streaming reader gives it: text as it is, without
/// copying; anything else written into `scratch`.
fn cell_str<'a>(cell: &'a DataRef, scratch: &'a mut String) -> (&'a str, bool) {
    let other = match cell {
        DataRef::SharedString(s) => return (s, false),
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => {
            return (s, false);
        }
        DataRef::Empty => return ("", false),
        DataRef::Int(i) => Data::Int(*i),
        DataRef::Float(f) => Data::Float(*f),
        DataRef::Bool(b) => Data::Bool(*b),
        DataRef::DateTime(dt) => Data::DateTime(*dt),
        DataRef::Error(e) => Data::Error(e.clone()),
    };
    scratch.clear();
    let dated = cell_text(&other, scratch);
    (scratch, dated)
}

/// The largest Excel date serial: 9999-12-31.
const LAST_DATE: f64 = 2_958_465.999_99;

/// Writes a cell as the text a person sees in it (phones as exact digits). True when the
/// cell is a number in a date format, too large to be a date: its digits are written (a
/// phone number in a column formatted as dates shows as `#####` in Excel).
fn cell_text(cell: &Data, out: &mut String) -> bool {
    use std::fmt::Write;
    if let Data::DateTime(dt) = cell
        && dt.as_f64().abs() > LAST_DATE
    {
        cell_text(&Data::Float(dt.as_f64()), out);
        return true;
    }
    match cell {
        Data::Empty => {}
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => out.push_str(s),
        Data::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Data::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e17 {
                // A whole number (a phone stored as a number): its digits, as `{f:.0}` writes
                // them, without formatting a float.
                if *f == 0.0 && f.is_sign_negative() {
                    out.push_str("-0");
                } else {
                    out.push_str(itoa::Buffer::new().format(*f as i64));
                }
            } else {
                let _ = write!(out, "{f}");
            }
        }
        Data::Bool(b) => out.push_str(if *b { "TRUE" } else { "FALSE" }),
        Data::DateTime(dt) => {
            if dt.is_datetime() {
                let (y, mo, d, h, mi, s, _) = dt.to_ymd_hms_milli();
                let _ = write!(out, "{y:04}-{mo:02}-{d:02}");
                if (h, mi, s) != (0, 0, 0) {
                    let _ = write!(out, " {h:02}:{mi:02}:{s:02}");
                }
            } else {
                let _ = write!(out, "{}", dt.as_f64());
            }
        }
        Data::Error(e) => {
            let _ = write!(out, "{e}");
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(cell: Data) -> String {
        let mut out = String::new();
        cell_text(&cell, &mut out);
        out
    }

    #[test]
    fn whole_numbers_are_written_as_formatting_them_would() {
        let mut f = 1.0f64;
        let mut values = vec![
            0.0,
            -0.0,
            79_031_234_567.0,
            -5.0,
            1e16,
            99_999_999_999_999_984.0,
        ];
        while f < 1e17 {
            values.extend([f, -f, f + 1.0, f * 7.0]);
            f *= 3.0;
        }
        for value in values
            .into_iter()
            .filter(|v| v.fract() == 0.0 && v.abs() < 1e17)
        {
            assert_eq!(text(Data::Float(value)), format!("{value:.0}"), "{value}");
        }
    }

    #[test]
    fn cells_land_in_their_columns_in_any_order() {
        let fields =
            |row: SheetRow| -> Vec<String> { row.cells.iter().map(String::from).collect() };

        let mut row = RowBuilder::new(2, StringRecord::new());
        row.set(1, "b", false, false).unwrap();
        row.set(3, "d", true, false).unwrap();
        let row = row.finish();
        assert_eq!(row.unsaved_formulas, 0b1000);
        assert_eq!(fields(row), ["", "b", "", "d"]);

        // Right to left across the whole width, then a repeat: linear, and the last value
        // wins (with its formula mark).
        let mut row = RowBuilder::new(3, StringRecord::with_capacity(4096, 256));
        for column in (0..MAX_COLUMNS).rev() {
            row.set(
                column,
                if column % 2 == 0 { "x" } else { "" },
                column == 2,
                false,
            )
            .unwrap();
        }
        row.set(2, "y", false, false).unwrap();
        row.set(0, "", false, false).unwrap();
        let row = row.finish();
        assert_eq!(row.unsaved_formulas, 0);
        assert_eq!(
            row.cells.len(),
            MAX_COLUMNS - 1,
            "the trailing empty cell dropped"
        );
        assert_eq!(fields(row)[..4], ["", "", "y", ""]);

        // Empty cells out to column XFD take no room.
        let mut row = RowBuilder::new(4, StringRecord::new());
        row.set(0, "a", false, false).unwrap();
        for column in 1..MAX_COLUMNS {
            row.set(column, "", false, false).unwrap();
        }
        assert_eq!(row.cells.len(), 1);
        assert_eq!(fields(row.finish()), ["a"]);

        // A row's text is bounded as a CSV record's is: cells under 1 MB each, not together.
        let mut row = RowBuilder::new(5, StringRecord::new());
        let cell = "A".repeat(300 << 10);
        let set: Result<Vec<()>, Stop> = (0..4).map(|c| row.set(c, &cell, false, false)).collect();
        assert_eq!(set, Err(Stop::LongRow(5)));
    }

    #[test]
    fn numbers_become_exact_digits() {
        assert_eq!(text(Data::Float(79001234568.0)), "79001234568");
        assert_eq!(text(Data::Float(1.5)), "1.5");
        assert_eq!(text(Data::Int(79001234568)), "79001234568");
        assert_eq!(text(Data::Bool(true)), "TRUE");
        assert_eq!(text(Data::Empty), "");
    }

    #[test]
    fn a_reader_thread_that_dies_is_an_error_not_the_end_of_the_sheet() {
        let (sender, chunks) = std::sync::mpsc::sync_channel(4);
        let thread = std::thread::spawn(move || {
            let _ = sender.send(Streamed::Rows(vec![SheetRow {
                number: 2,
                cells: ["79001234567"].iter().collect(),
                unsaved_formulas: 0,
                dated_numbers: 0,
                hidden: false,
            }]));
            panic!("calamine could not go on");
        });
        let mut rows = StreamedRows {
            chunks,
            pending: Vec::new().into_iter(),
            spares: Vec::new(),
            returns: None,
            thread: Some(thread),
            path: "book.xlsx".into(),
            done: false,
        };
        let mut row = Row::default();
        assert!(rows.next_record(&mut row).unwrap());
        let err = rows.next_record(&mut row).unwrap_err().to_string();
        assert!(err.contains("calamine could not go on"), "{err}");
    }

    #[test]
    fn magic_decides_the_kind() {
        assert_eq!(Kind::detect(b"PK\x03\x04rest", "xlsx"), Some(Kind::Xlsx));
        assert_eq!(
            Kind::detect(b"PK\x03\x04rest", "csv"),
            Some(Kind::UnknownZip)
        );
        assert_eq!(Kind::detect(OLE_MAGIC, "xls"), Some(Kind::Xls));
        assert_eq!(Kind::detect(b"chatId,phone", "xlsx"), None);
    }
}
