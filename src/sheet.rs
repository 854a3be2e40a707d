//! Workbooks for people who live in Excel: the results file and the validation report as
//! `.xlsx`, opened with a double click — no import dialog, no `7.9E+10`, no mangled Cyrillic.
//!
//! Every cell is written as text except row numbers, counts and a summary's plain numbers, so
//! a phone keeps its digits and its leading zeros. The header is bold and frozen with an autofilter on it; columns are
//! as wide as the content of the first [`SIZED_ROWS`] rows (within bounds); a status cell is
//! coloured by what it says.
//!
//! The workbook is written here, part by part, rather than through a general workbook
//! library: a results file of a million rows is a gigabyte of sheet XML, and a general writer
//! formats every cell through a table of cells and formats. Here a row is a few byte copies
//! into a buffer, and a second thread compresses the buffers into the ZIP archive while the
//! next rows are written. Memory stays bounded: the first rows (at most [`SIZED_ROWS`], at
//! most 8 MB of XML) wait until the column widths are known, then a few 256 KB buffers go
//! round. The archive is written front to back (ZIP data descriptors), so it may go to a pipe
//! as well as to a file; the caller writes to a temporary path and renames it into place. The
//! sheet names no `<dimension>` (it would come before the rows): Excel, LibreOffice and
//! calamine do not need it; openpyxl's read-only mode then counts the rows as it reads.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use zip::write::{SimpleFileOptions, StreamWriter};
use zip::{CompressionMethod, ZipWriter};

/// The most rows a worksheet holds, header included.
const MAX_ROWS: u32 = 1_048_576;
/// The most columns a worksheet holds.
const MAX_COLUMNS: usize = 16_384;
/// The most characters a cell holds (UTF-16 units, as Excel counts them).
const MAX_CELL_UNITS: usize = 32_767;
/// The most sheet XML a workbook part may hold: a ZIP entry without the ZIP64 extension, which
/// Excel refuses where it is not needed (and a margin for the sheet's end).
const MAX_SHEET_BYTES: u64 = u32::MAX as u64 - (1 << 20);
/// The largest number a cell holds.
const MAX_NUMBER: f64 = 9.999_999_999_999_99e307;
/// Column widths stay within these (in characters).
const WIDTH: (usize, usize) = (6, 60);
/// The rows, header included, whose content sizes the columns: a worksheet names its
/// columns' widths before its rows, and the rows after these are on their way into the
/// archive by then.
const SIZED_ROWS: u32 = 1_000;
/// ... or as many of them as fit in this much XML, whichever is less.
const SIZED_BYTES: usize = 8 << 20;
/// How much sheet XML is handed to the compressing thread at a time.
const CHUNK: usize = 256 * 1024;

/// How a cell is coloured: Excel's own "Good", "Bad", "Neutral" cell styles, and grey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    Good,
    Bad,
    Neutral,
    Muted,
}

impl Tone {
    /// Its cell style in [`STYLES`].
    fn style(self) -> u8 {
        match self {
            Tone::Good => 2,
            Tone::Bad => 3,
            Tone::Neutral => 4,
            Tone::Muted => 5,
        }
    }
}

/// The header row's cell style in [`STYLES`].
const HEADER_STYLE: u8 = 1;
/// Bold, for the labels of a key/value sheet.
const BOLD_STYLE: u8 = 6;

/// One cell of a row.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cell<'a> {
    Text(&'a str),
    /// Text coloured by its tone.
    Toned(&'a str, Option<Tone>),
    Number(f64),
}

/// Why a workbook could not be written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SheetError {
    #[error(
        "more than {} rows: more than a worksheet holds; use a .csv file instead",
        MAX_ROWS - 1
    )]
    TooManyRows,
    #[error(
        "more than {MAX_COLUMNS} columns: more than a worksheet holds; use a .csv file instead"
    )]
    TooManyColumns,
    #[error("more than 4 GB of cells: more than a workbook holds; use a .csv file instead")]
    TooLarge,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl SheetError {
    /// As an I/O error, for writers whose errors are.
    pub(crate) fn into_io(self) -> std::io::Error {
        match self {
            SheetError::Io(io) => io,
            other => std::io::Error::other(other.to_string()),
        }
    }
}

fn zip_io(error: zip::result::ZipError) -> std::io::Error {
    match error {
        zip::result::ZipError::Io(io) => io,
        other => std::io::Error::other(other.to_string()),
    }
}

/// A workbook being written: one data sheet, row by row, and any small sheets after it.
pub(crate) struct SheetWriter {
    /// The data sheet's name.
    name: String,
    next_row: u32,
    widths: Vec<usize>,
    /// Column letters, `A` onwards, as far as a row has reached.
    letters: Vec<Box<str>>,
    /// Sheet XML not yet handed to the compressing thread.
    xml: Vec<u8>,
    /// Whether the sheet's start (with the column widths) has been written into `xml`.
    started: bool,
    /// The compressing thread; `None` once it has ended.
    archive: Option<Archive>,
    /// Why the thread ended early, said again to a caller that goes on writing.
    stopped: Option<(std::io::ErrorKind, String)>,
    /// The sheet XML handed to the thread so far, and the most it may be ([`MAX_SHEET_BYTES`];
    /// less in a test).
    handed: u64,
    most: u64,
    /// The small sheets after the data sheet: name and whole XML.
    more: Vec<(String, Vec<u8>)>,
}

/// The thread that compresses the sheet XML into the archive, and the way to it.
struct Archive {
    chunks: SyncSender<Vec<u8>>,
    /// Set when the workbook is dropped unsaved: the rest is not written.
    discard: Arc<AtomicBool>,
    /// Emptied buffers coming back, so that a million rows reuse a handful.
    spare: Receiver<Vec<u8>>,
    thread: JoinHandle<std::io::Result<Zip>>,
}

type Zip = ZipWriter<StreamWriter<Latch>>;

impl Archive {
    fn start(out: std::fs::File) -> std::io::Result<Archive> {
        let (chunks, incoming) = sync_channel::<Vec<u8>>(4);
        let (give_back, spare) = sync_channel(8);
        let discard = Arc::new(AtomicBool::new(false));
        let latch = Latch::new(out, discard.clone());
        let thread = std::thread::Builder::new()
            .name("workbook".into())
            .spawn(move || {
                let mut zip = ZipWriter::new_stream(latch);
                zip.start_file("xl/worksheets/sheet1.xml", options())
                    .map_err(zip_io)?;
                for mut chunk in incoming {
                    zip.write_all(&chunk)?;
                    if let Some(error) = zip.get_ref().and_then(|w| w.get_ref().error()) {
                        // Stop early (a full disk): the writer hears it at its next chunk.
                        return Err(std::io::Error::new(error.kind(), error.to_string()));
                    }
                    chunk.clear();
                    chunk.shrink_to(CHUNK + 64 * 1024);
                    let _ = give_back.try_send(chunk);
                }
                Ok(zip)
            })?;
        Ok(Archive {
            chunks,
            discard,
            spare,
            thread,
        })
    }

    /// Ends the thread without writing the rest of the archive.
    fn abandon(self) {
        self.discard.store(true, Ordering::Relaxed);
        let _ = self.end();
    }

    /// Waits for the thread, and gives back the archive it wrote into.
    fn end(self) -> std::io::Result<Zip> {
        drop(self.chunks);
        self.thread
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the workbook's writer failed")))
    }
}

fn options() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(1))
}

impl SheetWriter {
    /// Starts a workbook, written to `out`, whose first sheet, `name`, gets this header row.
    pub(crate) fn new(
        out: std::fs::File,
        name: &str,
        header: &[&str],
    ) -> Result<SheetWriter, SheetError> {
        debug_assert!(is_sheet_name(name), "{name}");
        let mut writer = SheetWriter {
            name: name.to_string(),
            next_row: 0,
            widths: Vec::new(),
            letters: Vec::new(),
            xml: Vec::with_capacity(CHUNK + 64 * 1024),
            started: false,
            archive: Some(Archive::start(out)?),
            stopped: None,
            handed: 0,
            most: MAX_SHEET_BYTES,
            more: Vec::new(),
        };
        let cells: Vec<Cell> = header.iter().map(|h| Cell::Text(h)).collect();
        writer.write(&cells, true)?;
        Ok(writer)
    }

    /// Adds a data row.
    pub(crate) fn row(&mut self, cells: &[Cell]) -> Result<(), SheetError> {
        if self.archive.is_none() {
            return Err(self.stopped());
        }
        self.write(cells, false)?;
        if !self.started && (self.next_row >= SIZED_ROWS || self.xml.len() >= SIZED_BYTES) {
            self.start_sheet();
        }
        if self.started && self.xml.len() >= CHUNK {
            self.hand_on()?;
        }
        Ok(())
    }

    fn write(&mut self, cells: &[Cell], header: bool) -> Result<(), SheetError> {
        if self.next_row >= MAX_ROWS {
            return Err(SheetError::TooManyRows);
        }
        if cells.len() > MAX_COLUMNS {
            return Err(SheetError::TooManyColumns);
        }
        self.next_row += 1;
        let row = self.next_row;
        while self.letters.len() < cells.len() {
            self.letters
                .push(column_letters(self.letters.len()).into_boxed_str());
        }
        // Columns are sized by the rows before the sheet's start is written.
        let sizing = !self.started;
        if sizing && self.widths.len() < cells.len() {
            self.widths.resize(cells.len(), WIDTH.0);
        }
        let mut number = itoa::Buffer::new();
        let row_text = number.format(row).as_bytes();
        let xml = &mut self.xml;
        xml.extend_from_slice(b"<row r=\"");
        xml.extend_from_slice(row_text);
        xml.extend_from_slice(b"\">");
        for (column, cell) in cells.iter().enumerate() {
            let (text, tone) = match *cell {
                Cell::Number(n) if is_cell_number(n) => {
                    if let Some(width) = self.widths.get_mut(column).filter(|_| sizing) {
                        *width = (*width).max(number_width(n));
                    }
                    cell_start(xml, &self.letters[column], row_text, None);
                    xml.extend_from_slice(b"><v>");
                    write_number(xml, n);
                    xml.extend_from_slice(b"</v></c>");
                    continue;
                }
                // Not a number a cell holds: as written.
                Cell::Number(n) => {
                    let text = n.to_string();
                    cell_start(xml, &self.letters[column], row_text, None);
                    text_cell(xml, &text);
                    continue;
                }
                Cell::Text(text) => (text, None),
                Cell::Toned(text, tone) => (text, tone),
            };
            if text.is_empty() && !header {
                continue;
            }
            let text = fit(text);
            // Characters, counted only when they may widen the column (a byte is at most a
            // character) and only as far as the widest column allowed.
            if let Some(width) = self.widths.get_mut(column).filter(|_| sizing)
                && text.len() > *width
            {
                *width = (*width).max(text.chars().take(WIDTH.1).count());
            }
            let style = match (header, tone) {
                (true, _) => Some(HEADER_STYLE),
                (false, tone) => tone.map(Tone::style),
            };
            cell_start(xml, &self.letters[column], row_text, style);
            text_cell(xml, text);
        }
        xml.extend_from_slice(b"</row>");
        Ok(())
    }

    /// Writes the sheet's start, whose column widths are those of the rows so far, before
    /// those rows.
    fn start_sheet(&mut self) {
        let mut head = Vec::with_capacity(1024 + self.xml.len());
        head.extend_from_slice(XML_DECLARATION);
        head.extend_from_slice(
            b"<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" \
              xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">\
              <sheetViews><sheetView tabSelected=\"1\" workbookViewId=\"0\">\
              <pane ySplit=\"1\" topLeftCell=\"A2\" activePane=\"bottomLeft\" state=\"frozen\"/>\
              <selection pane=\"bottomLeft\"/></sheetView></sheetViews>\
              <sheetFormatPr defaultRowHeight=\"15\"/>",
        );
        columns(&mut head, &self.widths);
        head.extend_from_slice(b"<sheetData>");
        head.append(&mut self.xml);
        self.xml = head;
        self.started = true;
    }

    /// Hands the XML so far to the compressing thread.
    fn hand_on(&mut self) -> Result<(), SheetError> {
        let Some(archive) = self.archive.as_ref() else {
            return Err(self.stopped());
        };
        let next = archive
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK + 64 * 1024));
        let chunk = std::mem::replace(&mut self.xml, next);
        self.handed += chunk.len() as u64;
        if self.handed > self.most {
            let archive = self.archive.take().expect("checked above");
            archive.abandon();
            let error = SheetError::TooLarge;
            self.stopped = Some((std::io::ErrorKind::Other, error.to_string()));
            return Err(error);
        }
        if archive.chunks.send(chunk).is_err() {
            // The thread has stopped: its error says why.
            let archive = self.archive.take().expect("checked above");
            let error = archive
                .end()
                .err()
                .unwrap_or_else(|| std::io::Error::other("the workbook's writer stopped"));
            self.stopped = Some((error.kind(), error.to_string()));
            return Err(error.into());
        }
        Ok(())
    }

    /// The error that ended the compressing thread, again.
    fn stopped(&self) -> SheetError {
        let (kind, message) = self
            .stopped
            .clone()
            .expect("the thread ends early only with an error (saving takes the writer)");
        std::io::Error::new(kind, message).into()
    }

    /// Adds a small sheet of label/value pairs after the data sheet.
    pub(crate) fn key_values(
        &mut self,
        name: &str,
        pairs: &[(String, String)],
    ) -> Result<(), SheetError> {
        debug_assert!(is_sheet_name(name), "{name}");
        let mut width = (10, 10);
        let mut rows = Vec::new();
        for (row, (key, value)) in pairs.iter().enumerate() {
            let mut number = itoa::Buffer::new();
            let row_text = number.format(row + 1).as_bytes();
            rows.extend_from_slice(b"<row r=\"");
            rows.extend_from_slice(row_text);
            rows.extend_from_slice(b"\">");
            if !key.is_empty() {
                cell_start(&mut rows, "A", row_text, Some(BOLD_STYLE));
                text_cell(&mut rows, fit(key));
            }
            match value.parse::<f64>() {
                Ok(number) if is_plain_number(value, number) => {
                    cell_start(&mut rows, "B", row_text, None);
                    rows.extend_from_slice(b"><v>");
                    write_number(&mut rows, number);
                    rows.extend_from_slice(b"</v></c>");
                }
                _ if value.is_empty() => {}
                _ => {
                    cell_start(&mut rows, "B", row_text, None);
                    text_cell(&mut rows, fit(value));
                }
            }
            rows.extend_from_slice(b"</row>");
            width = (
                width.0.max(key.chars().count()),
                width.1.max(value.chars().count()),
            );
        }
        let mut xml = Vec::with_capacity(1024 + rows.len());
        xml.extend_from_slice(XML_DECLARATION);
        xml.extend_from_slice(
            b"<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" \
              xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">\
              <sheetViews><sheetView workbookViewId=\"0\"/></sheetViews>\
              <sheetFormatPr defaultRowHeight=\"15\"/>",
        );
        columns(&mut xml, &[width.0, width.1]);
        xml.extend_from_slice(b"<sheetData>");
        xml.append(&mut rows);
        xml.extend_from_slice(b"</sheetData>");
        xml.extend_from_slice(PAGE_MARGINS);
        xml.extend_from_slice(b"</worksheet>");
        self.more.push((name.to_string(), xml));
        Ok(())
    }

    /// Freezes the header, puts an autofilter on it and writes the rest of the workbook.
    pub(crate) fn save(mut self) -> Result<(), SheetError> {
        if !self.started {
            self.start_sheet();
        }
        self.xml.extend_from_slice(b"</sheetData>");
        // The header row and the rows under it, as far as the widest row: `A1:P11`.
        let filter = self
            .letters
            .last()
            .cloned()
            .map(|last| (last, self.next_row.max(1)));
        if let Some((column, row)) = &filter {
            self.xml
                .extend_from_slice(format!("<autoFilter ref=\"A1:{column}{row}\"/>").as_bytes());
        }
        self.xml.extend_from_slice(PAGE_MARGINS);
        self.xml.extend_from_slice(b"</worksheet>");
        self.hand_on()?;
        let Some(archive) = self.archive.take() else {
            return Err(self.stopped());
        };
        let mut zip = archive.end()?;
        let mut part = |name: &str, bytes: &[u8]| -> std::io::Result<()> {
            zip.start_file(name, options()).map_err(zip_io)?;
            zip.write_all(bytes)
        };
        for (number, (_, xml)) in self.more.iter().enumerate() {
            part(&format!("xl/worksheets/sheet{}.xml", number + 2), xml)?;
        }
        let names: Vec<&str> = std::iter::once(self.name.as_str())
            .chain(self.more.iter().map(|(name, _)| name.as_str()))
            .collect();
        part("xl/workbook.xml", &workbook_xml(&names, filter.as_ref()))?;
        part("xl/_rels/workbook.xml.rels", &workbook_rels(names.len()))?;
        part("xl/styles.xml", STYLES)?;
        part("[Content_Types].xml", &content_types(names.len()))?;
        part("_rels/.rels", ROOT_RELS)?;
        let mut out = zip.finish().map_err(zip_io)?.into_inner();
        out.finish()?;
        Ok(())
    }
}

impl Drop for SheetWriter {
    /// A workbook not saved (an error on the way): its thread is waited for, so that
    /// nothing writes into the temporary file once its owner has removed it.
    fn drop(&mut self) {
        if let Some(archive) = self.archive.take() {
            archive.abandon();
        }
    }
}

const XML_DECLARATION: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n";

const PAGE_MARGINS: &[u8] = b"<pageMargins left=\"0.7\" right=\"0.7\" top=\"0.75\" \
    bottom=\"0.75\" header=\"0.3\" footer=\"0.3\"/>";

/// The cell styles: 0 plain, 1 the header (bold on light blue), 2–5 the tones (Excel's
/// "Good", "Bad", "Neutral" and a grey), 6 bold.
const STYLES: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
<styleSheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">\
<fonts count=\"6\">\
<font><sz val=\"11\"/><color rgb=\"FF000000\"/><name val=\"Calibri\"/><family val=\"2\"/></font>\
<font><b/><sz val=\"11\"/><color rgb=\"FF000000\"/><name val=\"Calibri\"/><family val=\"2\"/></font>\
<font><sz val=\"11\"/><color rgb=\"FF006100\"/><name val=\"Calibri\"/><family val=\"2\"/></font>\
<font><sz val=\"11\"/><color rgb=\"FF9C0006\"/><name val=\"Calibri\"/><family val=\"2\"/></font>\
<font><sz val=\"11\"/><color rgb=\"FF9C5700\"/><name val=\"Calibri\"/><family val=\"2\"/></font>\
<font><sz val=\"11\"/><color rgb=\"FF595959\"/><name val=\"Calibri\"/><family val=\"2\"/></font>\
</fonts>\
<fills count=\"7\">\
<fill><patternFill patternType=\"none\"/></fill>\
<fill><patternFill patternType=\"gray125\"/></fill>\
<fill><patternFill patternType=\"solid\"><fgColor rgb=\"FFDDEBF7\"/><bgColor indexed=\"64\"/></patternFill></fill>\
<fill><patternFill patternType=\"solid\"><fgColor rgb=\"FFC6EFCE\"/><bgColor indexed=\"64\"/></patternFill></fill>\
<fill><patternFill patternType=\"solid\"><fgColor rgb=\"FFFFC7CE\"/><bgColor indexed=\"64\"/></patternFill></fill>\
<fill><patternFill patternType=\"solid\"><fgColor rgb=\"FFFFEB9C\"/><bgColor indexed=\"64\"/></patternFill></fill>\
<fill><patternFill patternType=\"solid\"><fgColor rgb=\"FFEDEDED\"/><bgColor indexed=\"64\"/></patternFill></fill>\
</fills>\
<borders count=\"1\"><border><left/><right/><top/><bottom/><diagonal/></border></borders>\
<cellStyleXfs count=\"1\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\"/></cellStyleXfs>\
<cellXfs count=\"7\">\
<xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\"/>\
<xf numFmtId=\"0\" fontId=\"1\" fillId=\"2\" borderId=\"0\" xfId=\"0\" applyFont=\"1\" applyFill=\"1\"/>\
<xf numFmtId=\"0\" fontId=\"2\" fillId=\"3\" borderId=\"0\" xfId=\"0\" applyFont=\"1\" applyFill=\"1\"/>\
<xf numFmtId=\"0\" fontId=\"3\" fillId=\"4\" borderId=\"0\" xfId=\"0\" applyFont=\"1\" applyFill=\"1\"/>\
<xf numFmtId=\"0\" fontId=\"4\" fillId=\"5\" borderId=\"0\" xfId=\"0\" applyFont=\"1\" applyFill=\"1\"/>\
<xf numFmtId=\"0\" fontId=\"5\" fillId=\"6\" borderId=\"0\" xfId=\"0\" applyFont=\"1\" applyFill=\"1\"/>\
<xf numFmtId=\"0\" fontId=\"1\" fillId=\"0\" borderId=\"0\" xfId=\"0\" applyFont=\"1\"/>\
</cellXfs>\
<cellStyles count=\"1\"><cellStyle name=\"Normal\" xfId=\"0\" builtinId=\"0\"/></cellStyles>\
<dxfs count=\"0\"/><tableStyles count=\"0\"/>\
</styleSheet>";

const ROOT_RELS: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
<Relationship Id=\"rId1\" \
Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" \
Target=\"xl/workbook.xml\"/></Relationships>";

/// `xl/workbook.xml`: the sheets, and the data sheet's autofilter (its last column and row).
fn workbook_xml(names: &[&str], filter: Option<&(Box<str>, u32)>) -> Vec<u8> {
    let mut xml = Vec::new();
    xml.extend_from_slice(XML_DECLARATION);
    xml.extend_from_slice(
        b"<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" \
          xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">\
          <bookViews><workbookView xWindow=\"240\" yWindow=\"15\" windowWidth=\"16095\" \
          windowHeight=\"9660\"/></bookViews><sheets>",
    );
    for (index, name) in names.iter().enumerate() {
        let id = index + 1;
        xml.extend_from_slice(b"<sheet name=\"");
        escape_attribute(&mut xml, name);
        xml.extend_from_slice(format!("\" sheetId=\"{id}\" r:id=\"rId{id}\"/>").as_bytes());
    }
    xml.extend_from_slice(b"</sheets>");
    if let Some((column, row)) = filter {
        // The autofilter's range, as Excel itself names it.
        let reference = format!("'{}'!$A$1:${column}${row}", names[0].replace('\'', "''"));
        xml.extend_from_slice(
            b"<definedNames><definedName name=\"_xlnm._FilterDatabase\" localSheetId=\"0\" \
              hidden=\"1\">",
        );
        escape_attribute(&mut xml, &reference);
        xml.extend_from_slice(b"</definedName></definedNames>");
    }
    xml.extend_from_slice(b"</workbook>");
    xml
}

fn workbook_rels(sheets: usize) -> Vec<u8> {
    let mut xml = Vec::new();
    xml.extend_from_slice(XML_DECLARATION);
    xml.extend_from_slice(
        b"<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">",
    );
    for sheet in 1..=sheets {
        xml.extend_from_slice(
            format!(
                "<Relationship Id=\"rId{sheet}\" Type=\"http://schemas.openxmlformats.org/\
                 officeDocument/2006/relationships/worksheet\" \
                 Target=\"worksheets/sheet{sheet}.xml\"/>"
            )
            .as_bytes(),
        );
    }
    xml.extend_from_slice(
        format!(
            "<Relationship Id=\"rId{}\" Type=\"http://schemas.openxmlformats.org/\
             officeDocument/2006/relationships/styles\" Target=\"styles.xml\"/>\
             </Relationships>",
            sheets + 1
        )
        .as_bytes(),
    );
    xml
}

fn content_types(sheets: usize) -> Vec<u8> {
    let mut xml = Vec::new();
    xml.extend_from_slice(XML_DECLARATION);
    xml.extend_from_slice(
        b"<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
          <Default Extension=\"rels\" \
          ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
          <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
          <Override PartName=\"/xl/workbook.xml\" ContentType=\"application/\
          vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>\
          <Override PartName=\"/xl/styles.xml\" ContentType=\"application/\
          vnd.openxmlformats-officedocument.spreadsheetml.styles+xml\"/>",
    );
    for sheet in 1..=sheets {
        xml.extend_from_slice(
            format!(
                "<Override PartName=\"/xl/worksheets/sheet{sheet}.xml\" \
                 ContentType=\"application/\
                 vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>"
            )
            .as_bytes(),
        );
    }
    xml.extend_from_slice(b"</Types>");
    xml
}

/// `<cols>` with each column's width (its characters and a margin).
fn columns(xml: &mut Vec<u8>, widths: &[usize]) {
    if widths.is_empty() {
        return;
    }
    xml.extend_from_slice(b"<cols>");
    for (column, width) in widths.iter().enumerate() {
        let width = width.min(&WIDTH.1) + 2;
        xml.extend_from_slice(
            format!(
                "<col min=\"{n}\" max=\"{n}\" width=\"{width}.7109375\" customWidth=\"1\"/>",
                n = column + 1
            )
            .as_bytes(),
        );
    }
    xml.extend_from_slice(b"</cols>");
}

/// `<c r="B7"` and its style, if any: the rest of the cell follows.
fn cell_start(xml: &mut Vec<u8>, letters: &str, row: &[u8], style: Option<u8>) {
    xml.extend_from_slice(b"<c r=\"");
    xml.extend_from_slice(letters.as_bytes());
    xml.extend_from_slice(row);
    xml.push(b'"');
    if let Some(style) = style {
        xml.extend_from_slice(b" s=\"");
        xml.push(b'0' + style);
        xml.push(b'"');
    }
}

/// The rest of a text cell: an inline string, its spaces kept at the ends.
fn text_cell(xml: &mut Vec<u8>, text: &str) {
    let whitespace = ['\t', '\n', ' '];
    if text.starts_with(whitespace) || text.ends_with(whitespace) {
        xml.extend_from_slice(b" t=\"inlineStr\"><is><t xml:space=\"preserve\">");
    } else {
        xml.extend_from_slice(b" t=\"inlineStr\"><is><t>");
    }
    escape_text(xml, text);
    xml.extend_from_slice(b"</t></is></c>");
}

/// A number as a cell's value: whole numbers by their digits, others as Rust writes them
/// (the shortest form that reads back the same).
fn write_number(xml: &mut Vec<u8>, n: f64) {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        xml.extend_from_slice(itoa::Buffer::new().format(n as i64).as_bytes());
    } else {
        let _ = write!(xml, "{n}");
    }
}

/// Text as XML character data, as Excel writes it: `&`, `<` and `>` escaped, the control
/// characters XML cannot hold and the two non-characters as `_xHHHH_`, and an underscore
/// that would start such an escape itself escaped (`_x005F_`), so that text reads back as
/// written.
fn escape_text(xml: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    // 0xEF: the first byte of U+FFFE and U+FFFF (and of the rest of U+F000..U+FFFF).
    let special = |b: u8| {
        matches!(b, b'&' | b'<' | b'>' | b'_' | 0xEF) || (b < 0x20 && b != b'\t' && b != b'\n')
    };
    if !bytes.iter().any(|&b| special(b)) {
        xml.extend_from_slice(bytes);
        return;
    }
    for (at, ch) in text.char_indices() {
        match ch {
            '&' => xml.extend_from_slice(b"&amp;"),
            '<' => xml.extend_from_slice(b"&lt;"),
            '>' => xml.extend_from_slice(b"&gt;"),
            '_' if is_escape(&text[at..]) => xml.extend_from_slice(b"_x005F_"),
            '\t' | '\n' => xml.push(ch as u8),
            '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => {
                let _ = write!(xml, "_x{:04X}_", ch as u32);
            }
            _ => {
                let mut utf8 = [0; 4];
                xml.extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
}

/// Whether text starts with an escape of the `_xHHHH_` form.
fn is_escape(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 7
        && bytes[1] == b'x'
        && bytes[2..6].iter().all(u8::is_ascii_hexdigit)
        && bytes[6] == b'_'
}

/// Text as an XML attribute's value.
fn escape_attribute(xml: &mut Vec<u8>, text: &str) {
    for ch in text.chars() {
        match ch {
            '&' => xml.extend_from_slice(b"&amp;"),
            '<' => xml.extend_from_slice(b"&lt;"),
            '>' => xml.extend_from_slice(b"&gt;"),
            '"' => xml.extend_from_slice(b"&quot;"),
            '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => xml.push(b' '),
            _ => {
                let mut utf8 = [0; 4];
                xml.extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
}

/// A column's letters: 0 is `A`, 25 `Z`, 26 `AA`.
fn column_letters(column: usize) -> String {
    let mut letters = Vec::new();
    let mut n = column + 1;
    while n > 0 {
        let rest = (n - 1) % 26;
        letters.push(b'A' + rest as u8);
        n = (n - 1) / 26;
    }
    letters.reverse();
    String::from_utf8(letters).expect("ASCII letters")
}

/// Whether a summary value is a number written as a cell writes it back (`7`, `2.5`), and
/// not, say, a phone number written with `+`, `007`, an exponent or `inf`.
fn is_plain_number(value: &str, number: f64) -> bool {
    let mut written = Vec::new();
    is_cell_number(number) && {
        write_number(&mut written, number);
        written == value.as_bytes()
    }
}

/// Whether a cell holds this number as a number: finite, not too small to be written
/// plainly, not over Excel's largest, not `-0`.
fn is_cell_number(n: f64) -> bool {
    (n.is_normal() || (n == 0.0 && n.is_sign_positive())) && n.abs() <= MAX_NUMBER
}

/// Whether Excel takes this as a sheet's name: 1 to 31 characters, none of `[]:*?/\`, not
/// starting or ending with `'`.
fn is_sheet_name(name: &str) -> bool {
    (1..=31).contains(&name.chars().count())
        && !name.contains(['[', ']', ':', '*', '?', '/', '\\'])
        && !name.starts_with('\'')
        && !name.ends_with('\'')
}

/// Writes to a file, keeping the first error and passing over what comes after it: a full
/// disk then surfaces once, from greenbulk, and not also as a line the ZIP library prints
/// on stderr when it drops an archive it could not finish.
struct Latch {
    file: std::io::BufWriter<std::fs::File>,
    error: Option<std::io::Error>,
    /// Set: nothing more is written (a workbook dropped unsaved is not finished).
    discard: Arc<AtomicBool>,
}

impl Latch {
    fn new(file: std::fs::File, discard: Arc<AtomicBool>) -> Latch {
        Latch {
            file: std::io::BufWriter::with_capacity(256 * 1024, file),
            error: None,
            discard,
        }
    }

    fn error(&self) -> Option<&std::io::Error> {
        self.error.as_ref()
    }

    /// Flushes what is buffered; the first error met on the way, if any.
    fn finish(&mut self) -> std::io::Result<()> {
        let flushed = self.file.flush();
        match (self.error.take(), flushed) {
            (Some(error), _) | (None, Err(error)) => Err(error),
            (None, Ok(())) => Ok(()),
        }
    }
}

impl std::io::Write for Latch {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        if self.error.is_none()
            && !self.discard.load(Ordering::Relaxed)
            && let Err(e) = self.file.write_all(buffer)
        {
            self.error = Some(e);
        }
        Ok(buffer.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How many characters a number takes as a cell shows it (whole numbers: their digits).
fn number_width(n: f64) -> usize {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        let digits = (n.abs() as u64)
            .checked_ilog10()
            .map_or(1, |log| log as usize + 1);
        digits + usize::from(n < 0.0)
    } else {
        n.to_string().len()
    }
}

/// A cell's text within what a cell holds (longer text is cut).
fn fit(text: &str) -> &str {
    // A character is at least as many bytes as UTF-16 units.
    if text.len() <= MAX_CELL_UNITS {
        return text;
    }
    let mut units = 0;
    for (at, ch) in text.char_indices() {
        units += ch.len_utf16();
        if units > MAX_CELL_UNITS {
            return &text[..at];
        }
    }
    text
}

/// Whether a path names a workbook (`.xlsx`), a format greenbulk does not write (`.xls`,
/// `.xlsb`, `.xlsm`, `.ods`: an error saying so), or anything else (CSV).
pub(crate) fn workbook_path(path: &Path) -> Result<bool, String> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match extension.as_str() {
        "xlsx" => Ok(true),
        "xls" | "xlsb" | "xlsm" | "ods" | "xltx" => {
            let stem = path.with_extension("");
            Err(format!(
                "greenbulk writes .xlsx workbooks or .csv files, not .{extension}: choose {} or \
                 {}",
                crate::term::shown_path(&stem.with_extension("xlsx")),
                crate::term::shown_path(&stem.with_extension("csv"))
            ))
        }
        _ => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use calamine::{Data, Reader, Xlsx};

    use super::*;

    /// Writes a workbook with these data rows (and a summary sheet) and gives back its path.
    fn workbook(dir: &tempfile::TempDir, rows: &[Vec<Cell>]) -> std::path::PathBuf {
        let path = dir.path().join("book.xlsx");
        let file = std::fs::File::create(&path).unwrap();
        let mut sheet = SheetWriter::new(file, "Results", &["row", "text"]).unwrap();
        for row in rows {
            sheet.row(row).unwrap();
        }
        sheet
            .key_values(
                "Summary",
                &[
                    ("rows sent".into(), "7".into()),
                    ("input file".into(), "nan".into()),
                    ("<&>\"".into(), "+79031234567".into()),
                    (String::new(), String::new()),
                ],
            )
            .unwrap();
        sheet.save().unwrap();
        path
    }

    fn read(path: &Path, name: &str) -> Vec<Vec<Data>> {
        let mut book: Xlsx<_> = calamine::open_workbook(path).unwrap();
        let range = book.worksheet_range(name).unwrap();
        range.rows().map(|row| row.to_vec()).collect()
    }

    #[test]
    fn hostile_text_reads_back_as_written_and_every_part_is_xml() {
        let texts = [
            "plain",
            "a & b < c > d \" ' ]]>",
            " spaces at the ends ",
            "\ttab and\nnewline",
            "bell\u{7} escape\u{1b}[31m cr\r nul\u{0}",
            "_x0041_ is not A, _x00 is short, __x1234_",
            "non-characters \u{FFFE}\u{FFFF}, emoji 📇, Кириллица",
            "=HYPERLINK(\"http://x\")",
        ];
        let rows: Vec<Vec<Cell>> = texts
            .iter()
            .enumerate()
            .map(|(i, text)| vec![Cell::Number(i as f64 + 2.0), Cell::Text(text)])
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = workbook(&dir, &rows);
        let read = read(&path, "Results");
        assert_eq!(read.len(), texts.len() + 1);
        for (row, text) in read[1..].iter().zip(texts) {
            assert_eq!(row[1], Data::String(text.to_string()));
        }
        assert_eq!(read[1][0], Data::Float(2.0));

        let mut zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
        let names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
        for name in &names {
            let mut text = String::new();
            zip.by_name(name)
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            let mut reader = quick_xml::Reader::from_str(&text);
            reader.config_mut().check_end_names = true;
            loop {
                match reader.read_event() {
                    Ok(quick_xml::events::Event::Eof) => break,
                    Ok(_) => {}
                    Err(e) => panic!("{name}: {e}\n{text}"),
                }
            }
            assert!(
                !text.contains(|c: char| c.is_control() && c != '\n' && c != '\t'),
                "{name}: no control characters"
            );
        }
        for part in [
            "[Content_Types].xml",
            "_rels/.rels",
            "xl/workbook.xml",
            "xl/_rels/workbook.xml.rels",
            "xl/styles.xml",
            "xl/worksheets/sheet1.xml",
            "xl/worksheets/sheet2.xml",
        ] {
            assert!(names.iter().any(|n| n == part), "{part} in {names:?}");
        }
    }

    #[test]
    fn summary_values_are_numbers_only_when_plainly_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = workbook(&dir, &[]);
        let summary = read(&path, "Summary");
        assert_eq!(summary[0][1], Data::Float(7.0));
        assert_eq!(summary[1][1], Data::String("nan".into()));
        assert_eq!(summary[2][0], Data::String("<&>\"".into()));
        assert_eq!(summary[2][1], Data::String("+79031234567".into()));
        // A header-only data sheet still has its header, and the filter on it.
        assert_eq!(read(&path, "Results").len(), 1);
    }

    #[test]
    fn many_rows_go_through_the_compressing_thread_whole_and_in_order() {
        let long = "x".repeat(500);
        let count = 3 * SIZED_ROWS as usize;
        let numbers: Vec<String> = (0..count).map(|i| format!("{i}-{long}")).collect();
        let rows: Vec<Vec<Cell>> = numbers
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let tone = (i % 2 == 0).then_some(Tone::Good);
                vec![Cell::Number(i as f64), Cell::Toned(text, tone)]
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = workbook(&dir, &rows);
        let read = read(&path, "Results");
        assert_eq!(read.len(), count + 1);
        for (i, row) in read[1..].iter().enumerate() {
            assert_eq!(row[0], Data::Float(i as f64));
            assert_eq!(row[1], Data::String(numbers[i].clone()));
        }
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
        let mut xml = String::new();
        zip.by_name("xl/workbook.xml")
            .unwrap()
            .read_to_string(&mut xml)
            .unwrap();
        assert!(
            xml.contains(&format!("'Results'!$A$1:$B${}", count + 1)),
            "{xml}"
        );
        let mut xml = String::new();
        zip.by_name("xl/worksheets/sheet1.xml")
            .unwrap()
            .read_to_string(&mut xml)
            .unwrap();
        assert!(xml.contains(&format!("<autoFilter ref=\"A1:B{}\"/>", count + 1)));
        // Sized by the first rows: the widest allowed, and a margin.
        assert!(
            xml.contains("<col min=\"2\" max=\"2\" width=\"62.7109375\""),
            "{}",
            &xml[..800]
        );
    }

    #[test]
    fn a_number_no_cell_holds_is_written_as_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = workbook(&dir, &[vec![Cell::Number(f64::NAN), Cell::Number(1.5)]]);
        let read = read(&path, "Results");
        assert_eq!(read[1][0], Data::String("NaN".into()));
        assert_eq!(read[1][1], Data::Float(1.5));
    }

    #[test]
    fn text_is_cut_at_what_a_cell_holds_counted_as_excel_counts() {
        let cyrillic = "Ж".repeat(40_000);
        let fits = "Ж".repeat(MAX_CELL_UNITS);
        // Two UTF-16 units each: the last whole one before the limit.
        let cards = "📇".repeat(20_000);
        assert_eq!(
            fit(&fits),
            fits,
            "32,767 Cyrillic letters fit (65,534 bytes)"
        );
        assert_eq!(fit(&cyrillic).chars().count(), MAX_CELL_UNITS);
        assert_eq!(fit(&cards).chars().count(), MAX_CELL_UNITS / 2);
        let dir = tempfile::tempdir().unwrap();
        let path = workbook(&dir, &[vec![Cell::Number(2.0), Cell::Text(&fits)]]);
        assert_eq!(read(&path, "Results")[1][1], Data::String(fits.clone()));
    }

    #[test]
    fn rows_wider_than_the_sized_ones_and_numbers_a_cell_cannot_hold() {
        let dir = tempfile::tempdir().unwrap();
        let mut rows: Vec<Vec<Cell>> = (0..SIZED_ROWS + 5)
            .map(|i| vec![Cell::Number(f64::from(i)), Cell::Text("x")])
            .collect();
        rows.push(vec![
            Cell::Number(-0.0),
            Cell::Number(f64::MAX),
            Cell::Number(f64::MIN_POSITIVE / 4.0),
            Cell::Text("a column no sized row had"),
        ]);
        let path = workbook(&dir, &rows);
        let read = read(&path, "Results");
        let last = read.last().unwrap();
        assert_eq!(last[0], Data::String("-0".into()));
        assert!(matches!(&last[1], Data::String(s) if s.len() > 300));
        assert!(matches!(&last[2], Data::String(_)));
        assert_eq!(last[3], Data::String("a column no sized row had".into()));
    }

    #[test]
    fn summary_values_keep_their_digits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("book.xlsx");
        let file = std::fs::File::create(&path).unwrap();
        let mut sheet = SheetWriter::new(file, "Results", &["row"]).unwrap();
        let values = ["0042", "1.50", "-0", "5.", "2.5", "-3", "1e3"];
        let pairs: Vec<(String, String)> = values
            .iter()
            .map(|v| (format!("value {v}"), v.to_string()))
            .collect();
        sheet.key_values("Summary", &pairs).unwrap();
        sheet.save().unwrap();
        let read = read(&path, "Summary");
        let numbers: Vec<bool> = read
            .iter()
            .map(|r| matches!(r[1], Data::Float(_)))
            .collect();
        assert_eq!(numbers, [false, false, false, false, true, true, false]);
        for (row, value) in read.iter().zip(values) {
            assert_eq!(row[1].to_string(), value);
        }
    }

    #[test]
    fn a_full_disk_is_an_error_at_the_next_row_or_at_save() {
        let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
            return; // not a Linux machine
        };
        let mut sheet = SheetWriter::new(full, "Results", &["row", "text"]).unwrap();
        let text = "y".repeat(1000);
        let mut failed = None;
        for i in 0..20_000 {
            if let Err(e) = sheet.row(&[Cell::Number(f64::from(i)), Cell::Text(&text)]) {
                failed = Some(e);
                break;
            }
        }
        let error = match failed {
            Some(error) => error,
            None => sheet.save().expect_err("the save fails"),
        }
        .into_io();
        assert_eq!(error.kind(), std::io::ErrorKind::StorageFull, "{error}");
    }

    #[test]
    fn after_the_archive_stops_rows_and_the_save_say_why() {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full");
        let Ok(full) = full else { return };
        let mut sheet = SheetWriter::new(full, "Results", &["row"]).unwrap();
        let text = "z".repeat(4000);
        while sheet.row(&[Cell::Text(&text)]).is_ok() {}
        let again = sheet.row(&[Cell::Text("more")]).err().unwrap().into_io();
        assert_eq!(again.kind(), std::io::ErrorKind::StorageFull, "{again}");
        let saved = sheet.save().err().unwrap().into_io();
        assert_eq!(saved.kind(), std::io::ErrorKind::StorageFull, "{saved}");
    }

    #[test]
    fn a_workbook_dropped_unsaved_is_not_finished_into_a_readable_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dropped.xlsx");
        let file = std::fs::File::create(&path).unwrap();
        let mut sheet = SheetWriter::new(file, "Results", &["row", "text"]).unwrap();
        let text = "w".repeat(500);
        for i in 0..3 * SIZED_ROWS {
            sheet
                .row(&[Cell::Number(f64::from(i)), Cell::Text(&text)])
                .unwrap();
        }
        drop(sheet);
        let opened = zip::ZipArchive::new(std::fs::File::open(&path).unwrap());
        assert!(
            opened.is_err(),
            "no central directory: no archive that looks whole"
        );
    }

    #[test]
    fn a_sheet_over_what_a_zip_entry_holds_is_refused_not_half_written() {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::create(dir.path().join("big.xlsx")).unwrap();
        let mut sheet = SheetWriter::new(file, "Results", &["text"]).unwrap();
        // As if 4 GB: the same check, on a smaller size.
        sheet.most = 4 << 20;
        let text = "v".repeat(10_000);
        let refused = (0..1_000).find_map(|_| sheet.row(&[Cell::Text(&text)]).err());
        assert!(matches!(refused, Some(SheetError::TooLarge)), "{refused:?}");
        let saved = sheet.save().err().unwrap();
        assert!(
            saved.to_string().contains("use a .csv file instead"),
            "{saved}"
        );
    }

    #[test]
    fn columns_are_lettered_as_excel_letters_them() {
        for (column, letters) in [(0, "A"), (25, "Z"), (26, "AA"), (701, "ZZ"), (702, "AAA")] {
            assert_eq!(column_letters(column), letters);
        }
        assert_eq!(column_letters(MAX_COLUMNS - 1), "XFD");
    }

    #[test]
    fn a_row_wider_than_a_worksheet_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::create(dir.path().join("wide.xlsx")).unwrap();
        let mut sheet = SheetWriter::new(file, "Results", &["a"]).unwrap();
        let cells = vec![Cell::Text("x"); MAX_COLUMNS + 1];
        assert!(matches!(sheet.row(&cells), Err(SheetError::TooManyColumns)));
    }
}
