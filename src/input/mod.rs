//! Input: a CSV or Excel file turned into numbered rows of text cells.
//!
//! The format is decided by the file's first bytes (a ZIP or OLE workbook, or text) and its
//! extension; text is decoded to UTF-8 and its delimiter sniffed. Whatever the format, the
//! rest of the program sees the same thing: a header record and then [`Row`]s, each with the
//! row number a spreadsheet would show. Rows whose cells are all empty never come out.

mod columns;
mod excel;
mod hidden;
mod inflated;
mod tags;
mod text;
mod zipscan;

use std::fmt;
use std::path::{Path, PathBuf};

use csv::StringRecord;

use crate::term::{shown, shown_path};
pub use columns::{ColumnMap, Field, FieldMapping, FieldSetting, NAME_FIELDS};

/// No cell of a workbook may hold more text than this (nor a tag): a contact card's request
/// is at most 100 KB (see [`zipscan`]).
const MAX_CELL_BYTES: u64 = 1 << 20;
/// Excel's last row: a sheet numbered past it is damaged, or built to stall the reader.
const MAX_ROWS: u64 = 1_048_576;

/// A row number as a spreadsheet shows it: the header is row 1 (for CSV, the record's number
/// counting the header as 1; for a workbook, the sheet's own row number).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct RowNumber(pub u64);

impl fmt::Display for RowNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One data row: its number and its cells as text, exactly as read.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub number: RowNumber,
    pub cells: StringRecord,
    /// Cells (by column, the first 64) that hold a formula whose value the workbook never
    /// saved: they read as empty, but are not.
    pub unsaved_formulas: u64,
    /// Cells (by column, the first 64) that hold a number formatted as a date, too large to
    /// be one (a phone number in a date column): their text is the number.
    pub dated_numbers: u64,
    /// A quote left open in one of its cells (CSV only).
    pub open_quote: Option<OpenQuote>,
    /// Excel hides the row, by a filter or by hand (found in XLSX files read through the
    /// scan: see docs/input.md).
    pub hidden: bool,
}

/// A quote left open in a cell of a CSV row, as the reader found it; `column` is the cell's
/// header (or its number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenQuote {
    /// The cell holds a line break followed by what looks like another row of the file: a
    /// quote opened there swallowed that row.
    Swallowed { column: String },
    /// The file ends inside the quote the cell opens, on line `line`: the rest of the file
    /// was read as that one cell, and `further_lines` when it runs past that line (what
    /// follows may be rows: such a row is never skipped).
    Unclosed {
        column: String,
        line: u64,
        further_lines: bool,
    },
}

impl Row {
    /// The cell at `index`, or "" when the row is shorter than the header.
    pub fn cell(&self, index: Option<usize>) -> &str {
        index.and_then(|i| self.cells.get(i)).unwrap_or("")
    }

    /// Whether the cell at `index` is a formula with no saved value.
    pub fn unsaved_formula(&self, index: Option<usize>) -> bool {
        index.is_some_and(|i| i < 64 && self.unsaved_formulas & (1 << i) != 0)
    }

    /// Whether the cell at `index` is a number in a date format (see
    /// [`Row::dated_numbers`]).
    pub fn dated_number(&self, index: Option<usize>) -> bool {
        index.is_some_and(|i| i < 64 && self.dated_numbers & (1 << i) != 0)
    }

    fn is_blank(&self) -> bool {
        self.cells.iter().all(|c| c.trim().is_empty())
    }
}

/// How to read the input: the flags `validate` and `send` share.
#[derive(Debug, Clone)]
pub struct InputOptions {
    pub path: PathBuf,
    pub sheet: Option<String>,
    pub mappings: Vec<FieldMapping>,
    /// `--set FIELD=VALUE`, each value already checked.
    pub settings: Vec<FieldSetting>,
    /// An encoding label (`windows-1251`, `utf-16le` …) that overrides detection.
    pub encoding: Option<&'static encoding_rs::Encoding>,
    /// `--country`: numbers without a country code are read in this country's plan.
    pub country: Option<crate::country::Country>,
}

/// What the file turned out to be, for the summary line.
#[derive(Debug, Clone)]
pub enum Format {
    Text {
        encoding: &'static str,
        delimiter: u8,
    },
    Workbook {
        kind: &'static str,
        sheet: String,
        /// Every sheet of the workbook, in order.
        sheets: Vec<String>,
    },
}

impl Format {
    /// For a workbook read from a sheet that holds no data (an empty first sheet, a sheet of
    /// instructions), its other sheets and how to read one: `. Read sheet 'Sheet1'; the
    /// workbook also has 'Data': --sheet NAME reads another`. Empty for a CSV file or a
    /// workbook of one sheet.
    fn other_sheets(&self) -> String {
        let Format::Workbook { sheet, sheets, .. } = self else {
            return String::new();
        };
        let others: Vec<&str> = sheets
            .iter()
            .filter(|s| *s != sheet)
            .map(String::as_str)
            .collect();
        if others.is_empty() {
            return String::new();
        }
        format!(
            ". Read sheet '{}'; the workbook also has {}: --sheet NAME reads another",
            shown(sheet),
            quote_list(others.into_iter())
        )
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Format::Text {
                encoding,
                delimiter,
            } => {
                let name = match delimiter {
                    b',' => "comma",
                    b';' => "semicolon",
                    b'\t' => "tab",
                    b'|' => "pipe",
                    _ => "other",
                };
                write!(f, "CSV, {encoding}, {name}-separated")
            }
            Format::Workbook { kind, sheet, .. } => {
                write!(f, "{kind} workbook, sheet '{}'", shown(sheet))
            }
        }
    }
}

/// A problem with the input file as a whole: each is a usage/input error (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {}: {error}", shown_path(path))]
    Open {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "{} is standard input, a pipe or a device, not a file: greenbulk reads its input more than once (every \
         row is checked before anything is sent), so save it to a file first (`… > \
         contacts.csv`) and give that file",
        shown_path(path)
    )]
    NotAFile { path: PathBuf },
    #[error("{}{sheet} is empty: there is no header row{others}", shown_path(path))]
    Empty {
        path: PathBuf,
        /// `, sheet 'NAME',` for a workbook.
        sheet: String,
        /// The workbook's other sheets, and how to read one (see `Format::other_sheets`).
        others: String,
    },
    #[error(
        "{} is not a text file (it holds binary data); give a CSV or TSV export, or an Excel \
         workbook (.xlsx, .xls, .ods)",
        shown_path(path)
    )]
    NotText { path: PathBuf },
    #[error("{}, row {row}: {message}", shown_path(path))]
    Text {
        path: PathBuf,
        row: RowNumber,
        message: String,
    },
    #[error(
        "{} is not a readable {kind} workbook ({detail}). {hint}",
        shown_path(path)
    )]
    Workbook {
        path: PathBuf,
        kind: &'static str,
        detail: String,
        hint: &'static str,
    },
    /// A web page, an Excel 2003 XML spreadsheet, a vCard file, or an XML or JSON document
    /// where an export was expected.
    #[error("{} is {what}: {hint}", shown_path(path))]
    NotAnExport {
        path: PathBuf,
        what: &'static str,
        hint: &'static str,
    },
    #[error(
        "{} has no sheet named '{}'; its sheets are: {available}",
        shown_path(path),
        shown(sheet)
    )]
    NoSheet {
        path: PathBuf,
        sheet: String,
        available: String,
    },
    #[error(
        "{}: {message}{}{others}",
        shown_path(path),
        if message.contains('\n') {
            format!("\n  its headers (row {header_row}): {headers}")
        } else {
            format!(". Its headers (row {header_row}) are: {headers}")
        }
    )]
    Columns {
        path: PathBuf,
        header_row: RowNumber,
        message: String,
        headers: String,
        /// The workbook's other sheets, and how to read one (see `Format::other_sheets`).
        others: String,
    },
}

/// An opened input: headers, column mapping and a stream of rows.
pub struct Table {
    pub path: PathBuf,
    pub format: Format,
    pub header_row: RowNumber,
    pub headers: StringRecord,
    pub columns: ColumnMap,
    /// Things about reading the file worth a warning (a flag that does not apply to it).
    pub warnings: Vec<String>,
    rows: Box<dyn RowSource>,
    /// Subtracted from record numbers so that a CSV header is row 1 even after blank records.
    renumber: u64,
}

/// Where rows come from; each implementation yields every record, blank ones included.
trait RowSource: Send {
    /// Reads the next record into `row`; false at the end.
    fn next_record(&mut self, row: &mut Row) -> Result<bool, InputError>;

    /// (bytes read, bytes in all), where the source can tell.
    fn progress(&self) -> Option<(u64, u64)> {
        None
    }
}

/// A file's shape whatever its columns say: its format, header row and headers (to choose
/// the columns by hand, as the local page's Columns step does).
#[derive(Debug, Clone)]
pub struct Outline {
    pub format: Format,
    pub header_row: RowNumber,
    pub headers: Vec<String>,
}

impl Outline {
    pub fn of(options: &InputOptions) -> Result<Outline, InputError> {
        let (format, mut rows, _) = open_source(options)?;
        let (header, _) = header_row(&options.path, &format, rows.as_mut())?;
        Ok(Outline {
            format,
            header_row: header.number,
            headers: header.cells.iter().map(|h| h.trim().to_string()).collect(),
        })
    }
}

/// The first non-blank record: the header row, numbered as a spreadsheet shows it; and what
/// is taken off record numbers for that.
fn header_row(
    path: &Path,
    format: &Format,
    rows: &mut dyn RowSource,
) -> Result<(Row, u64), InputError> {
    let mut header = Row::default();
    loop {
        if !rows.next_record(&mut header)? {
            return Err(InputError::Empty {
                path: path.to_path_buf(),
                sheet: match format {
                    Format::Workbook { sheet, .. } => format!(", sheet '{}',", shown(sheet)),
                    Format::Text { .. } => String::new(),
                },
                others: format.other_sheets(),
            });
        }
        if !header.is_blank() {
            break;
        }
    }
    let renumber = match format {
        Format::Text { .. } => header.number.0 - 1,
        Format::Workbook { .. } => 0,
    };
    header.number.0 -= renumber;
    Ok((header, renumber))
}

impl Table {
    /// Opens the input, finds the header row and maps the columns.
    pub fn open(options: &InputOptions) -> Result<Table, InputError> {
        let path = options.path.clone();
        let (format, mut rows, mut warnings) = open_source(options)?;
        let (header, renumber) = header_row(&path, &format, rows.as_mut())?;
        let headers: StringRecord = header.cells.iter().map(str::trim).collect();
        let columns = ColumnMap::resolve(&headers, &options.mappings, &options.settings, &path)
            .map(|columns| columns.with_country(options.country))
            .map_err(|message| InputError::Columns {
                path: path.clone(),
                header_row: header.number,
                message,
                headers: quote_list(headers.iter()),
                others: format.other_sheets(),
            })?;
        if let (Format::Text { .. }, Some(sheet)) = (&format, &options.sheet) {
            warnings.push(format!(
                "--sheet '{}' is ignored: a CSV file has no sheets",
                crate::term::shown(sheet)
            ));
        }
        Ok(Table {
            path,
            format,
            header_row: header.number,
            headers,
            columns,
            warnings,
            rows,
            renumber,
        })
    }

    /// Reads the next non-blank data row into `row`; false at the end of the input.
    pub fn next_row(&mut self, row: &mut Row) -> Result<bool, InputError> {
        while self.rows.next_record(row)? {
            if !row.is_blank() {
                row.number.0 -= self.renumber;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// How many rows the whole input holds, guessed from the `rows_read` so far and how far
    /// into the file they reach; None where the source cannot tell (a workbook).
    pub fn expected_rows(&self, rows_read: u64) -> Option<u64> {
        let (read, total) = self.rows.progress()?;
        (read > 0).then(|| (rows_read as u128 * u128::from(total) / u128::from(read)) as u64)
    }

    /// Fills `chunk` with up to `max` rows, reusing its buffers; false when nothing was read.
    /// On an error, `chunk` holds the rows read before it.
    pub fn next_chunk(&mut self, chunk: &mut Vec<Row>, max: usize) -> Result<bool, InputError> {
        let mut filled = 0;
        let read = loop {
            if filled == max {
                break Ok(());
            }
            if filled == chunk.len() {
                chunk.push(Row::default());
            }
            match self.next_row(&mut chunk[filled]) {
                Ok(true) => filled += 1,
                Ok(false) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        chunk.truncate(filled);
        read.map(|()| filled > 0)
    }
}

/// Every row of a workbook's sheet as it stands, header first, without mapping columns (for
/// a results workbook read back); empty rows are skipped.
pub(crate) fn sheet_rows(
    path: &Path,
    sheet: &str,
    mut visit: impl FnMut(Vec<String>),
) -> Result<(), InputError> {
    let mut rows = excel::open(path, excel::Kind::Xlsx, Some(sheet))?.rows;
    let mut row = Row::default();
    while rows.next_record(&mut row)? {
        if !row.is_blank() {
            visit(row.cells.iter().map(str::to_string).collect());
        }
    }
    Ok(())
}

/// The first non-empty row of a file greenbulk may have written (a results file or a
/// report: CSV, or a workbook's `sheet`), to tell what it is; none when it has none or is
/// not readable as one.
pub(crate) fn first_row(path: &Path, sheet: &str) -> Option<Vec<String>> {
    let mut magic = [0u8; 8];
    let mut file = std::fs::File::open(path).ok()?;
    let read = read_prefix(&mut file, &mut magic).ok()?;
    let mut row = Row::default();
    if excel::Kind::detect(&magic[..read], &extension(path)) == Some(excel::Kind::Xlsx) {
        let mut rows = excel::open(path, excel::Kind::Xlsx, Some(sheet)).ok()?.rows;
        while rows.next_record(&mut row).ok()? {
            if !row.is_blank() {
                return Some(row.cells.iter().map(str::to_string).collect());
            }
        }
        return None;
    }
    // Files greenbulk writes are UTF-8 CSV; a line of a megabyte is not one of them.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(std::io::Read::take(file, 1 << 20));
    let mut record = StringRecord::new();
    while reader.read_record(&mut record).ok()? {
        if record.iter().any(|c| !c.trim().is_empty()) {
            return Some(record.iter().map(str::to_string).collect());
        }
    }
    None
}

/// Names in quotes, comma-separated, for messages that list what exists.
pub fn quote_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let list: Vec<String> = names.map(|n| format!("'{}'", shown(n))).collect();
    if list.is_empty() {
        "(none)".to_string()
    } else {
        list.join(", ")
    }
}

/// The opened source, and what is worth a warning about how it was opened.
type Opened = (Format, Box<dyn RowSource>, Vec<String>);

fn open_source(options: &InputOptions) -> Result<Opened, InputError> {
    let path = &options.path;
    let open_err = |error| InputError::Open {
        path: path.clone(),
        error,
    };
    // `-` is standard input to many tools: a pipe here too.
    if path.as_os_str() == "-" && !path.exists() {
        return Err(InputError::NotAFile { path: path.clone() });
    }
    let mut file = std::fs::File::open(path).map_err(open_err)?;
    // A pipe (`<(…)`, `/dev/stdin` from a command) cannot be read twice, nor a device.
    let kind = file.metadata().map_err(open_err)?.file_type();
    if !kind.is_file() && !kind.is_dir() {
        return Err(InputError::NotAFile { path: path.clone() });
    }
    let mut prefix = [0u8; 1024];
    let read = read_prefix(&mut file, &mut prefix).map_err(open_err)?;
    let prefix = &prefix[..read];
    let magic = &prefix[..read.min(8)];
    let ext = extension(path);
    let workbook_named = excel::Kind::from_extension(&ext).is_some();
    if let Some((what, hint)) = not_an_export(prefix, workbook_named) {
        return Err(InputError::NotAnExport {
            path: path.clone(),
            what,
            hint,
        });
    }
    match excel::Kind::detect(magic, &ext) {
        Some(kind) => {
            let opened = excel::open(path, kind, options.sheet.as_deref())?;
            Ok((
                Format::Workbook {
                    kind: kind.name(),
                    sheet: opened.sheet,
                    sheets: opened.sheets,
                },
                opened.rows,
                opened.warnings,
            ))
        }
        None if excel::Kind::from_extension(&ext).is_some() => Err(InputError::Workbook {
            path: path.clone(),
            kind: excel::Kind::from_extension(&ext).map_or("Excel", excel::Kind::name),
            detail: "the file does not start like a workbook".into(),
            hint: if magic.is_empty() {
                "The file is empty: export it again from Excel."
            } else {
                "If it is really a CSV file, rename it to .csv; otherwise export it again from Excel."
            },
        }),
        None => {
            let (encoding, delimiter, source) = text::open(path, file, options.encoding)?;
            Ok((
                Format::Text {
                    encoding,
                    delimiter,
                },
                Box::new(source),
                Vec::new(),
            ))
        }
    }
}

/// What a file is when its first bytes show a web page (HTML), an Excel 2003 XML spreadsheet,
/// a vCard file or another XML or JSON document rather than an export, and what to do: none
/// for anything else. Web apps
/// (Bitrix24's "Export to Excel" among them) write an HTML table under a `.xls` name, and a
/// download that needed a login saves the login page under the export's name.
fn not_an_export(prefix: &[u8], workbook_named: bool) -> Option<(&'static str, &'static str)> {
    // A UTF-16 file (a web page some servers write so, a vCard) is sniffed by its ASCII.
    let text: Vec<u8> = match prefix {
        [0xFF, 0xFE, rest @ ..] => rest.iter().step_by(2).copied().collect(),
        [0xFE, 0xFF, rest @ ..] => rest.iter().skip(1).step_by(2).copied().collect(),
        _ => prefix
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(prefix)
            .to_vec(),
    };
    let start = text.iter().position(|b| !b.is_ascii_whitespace())?;
    let text = text[start..].to_ascii_lowercase();
    let has = |needle: &[u8]| text.windows(needle.len()).any(|w| w == needle);
    if text.starts_with(b"begin:vcard") {
        return Some((
            "a vCard file (contacts as a phone, iCloud or Outlook export them), not a table",
            "greenbulk reads CSV and Excel files. Export the contacts as CSV instead (Google \
             Contacts: Export > Google CSV; Outlook: File > Open & Export > Export to a file > \
             CSV), or import this file into Google Contacts and export that",
        ));
    }
    let document = |what| {
        Some((
            what,
            "a download's error answer, or another program's file? Open it in a text editor to \
             see what it holds, then export the contacts as CSV again",
        ))
    };
    // `{"error": …}`, `[{"id": …}]`; a header such as `{{first_name}}` is a CSV's.
    let json = text.strip_prefix(b"[").unwrap_or(&text);
    let json = &json[json
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0)..];
    if json.starts_with(b"{") && json[1..].trim_ascii_start().starts_with(b"\"") {
        return document("a JSON document, not a table");
    }
    if !text.starts_with(b"<") {
        return None;
    }
    if has(b"urn:schemas-microsoft-com:office:spreadsheet") && !has(b"<html") {
        return Some((
            "an Excel 2003 XML spreadsheet, which greenbulk does not read",
            "open it in Excel and save it as an Excel workbook (.xlsx), or export the \
             contacts as CSV",
        ));
    }
    // A page closes a tag somewhere; a CSV header such as `<Title>,<Name>` does not.
    let closes = has(b"</") || has(b"/>");
    let page = closes
        && (PAGE_STARTS.iter().any(|tag| text.starts_with(tag))
            && (!text.starts_with(b"<!--") || has(b"<html") || has(b"<table"))
            || (text.starts_with(b"<?xml") && has(b"<html")));
    if !page {
        return if text.starts_with(b"<?xml") {
            document("an XML document, not a table")
        } else {
            None
        };
    }
    Some(if workbook_named {
        (
            "a web page (an HTML table) under a workbook's name, not a workbook",
            "web apps' \"Export to Excel\" (Bitrix24's among them) write these. Export the \
             contacts as CSV instead, or open this file in Excel and save it as an Excel \
             workbook (.xlsx)",
        )
    } else {
        (
            "a web page (HTML), not an export",
            "a login or error page downloaded in the export's place, or a table saved as a web \
             page? Open it in a browser to see what it holds, then export the contacts as CSV \
             again",
        )
    })
}

/// How a web page's first tag begins (after `<!--`, a page only if `<html` or `<table` comes).
const PAGE_STARTS: [&[u8]; 15] = [
    b"<!doctype html",
    b"<html",
    b"<head",
    b"<body",
    b"<table",
    b"<meta",
    b"<style",
    b"<title",
    b"<div",
    b"<script",
    b"<link",
    b"<form",
    b"<p>",
    b"<h1",
    b"<!--",
];

fn read_prefix(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::io::{Read, Seek, SeekFrom};
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    file.seek(SeekFrom::Start(0))?;
    Ok(filled)
}

fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// The input as it was opened, for the summary's first lines.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Source {
    pub path: PathBuf,
    /// `CSV, UTF-8, comma-separated`, `XLSX workbook, sheet 'Contacts'`.
    pub format: String,
    pub header_row: RowNumber,
    /// How each field was mapped: `chatId ← 'Phone'` …
    pub columns: Vec<String>,
    /// With `--set` the same card on every row: its names and phone.
    pub constant_card: Option<(String, String)>,
    /// `--country`: the plan the phone is read in, when it has no country code.
    #[serde(skip)]
    pub country: Option<crate::country::Country>,
    pub warnings: Vec<String>,
}

impl Source {
    pub fn of(table: &Table) -> Source {
        Source {
            path: table.path.clone(),
            format: table.format.to_string(),
            header_row: table.header_row,
            columns: table.columns.notes.clone(),
            constant_card: table
                .columns
                .constant_card()
                .map(|(names, phone)| (names, phone.to_string())),
            country: table.columns.country(),
            warnings: table.warnings.clone(),
        }
    }
}
