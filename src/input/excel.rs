//! Workbooks (xlsx, xlsm, xlsb, xls, ods) through `calamine`, cells turned into exact text.
//!
//! Numbers are written as a person would type them: a phone stored as the number
//! 79001234568.0 becomes `79001234568`, never `7.9e10`. Dates become ISO dates, booleans
//! `TRUE`/`FALSE`, error cells their Excel text (`#N/A`).

use std::path::Path;

use std::fs::File;
use std::io::BufReader;

use calamine::{Data, Range, Reader, Xlsx};
use csv::StringRecord;

use super::{InputError, Row, RowNumber, RowSource};

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
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
}

pub(super) fn open(
    path: &Path,
    kind: Kind,
    sheet: Option<&str>,
) -> Result<(String, Box<dyn RowSource>), InputError> {
    let ext_says = Kind::from_extension(&super::extension(path));
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
    let workbook = match kind {
        Kind::Xlsx => calamine::open_workbook(path)
            .map(calamine::Sheets::Xlsx)
            .map_err(|e| e.to_string()),
        Kind::Xlsb => calamine::open_workbook(path)
            .map(calamine::Sheets::Xlsb)
            .map_err(|e| e.to_string()),
        Kind::Xls => calamine::open_workbook(path)
            .map(calamine::Sheets::Xls)
            .map_err(|e| e.to_string()),
        Kind::Ods => calamine::open_workbook(path)
            .map(calamine::Sheets::Ods)
            .map_err(|e| e.to_string()),
        Kind::UnknownZip => calamine::open_workbook_auto(path).map_err(|e| e.to_string()),
    }
    .map_err(fail)?;

    let names = workbook.sheet_names();
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
        None => names
            .first()
            .cloned()
            .ok_or_else(|| fail("it has no sheets".into()))?,
    };
    let mut workbook = match workbook {
        // XLSX sheets are streamed cell by cell: memory stays flat whatever the sheet's size.
        calamine::Sheets::Xlsx(xlsx) => {
            return Ok((
                name.clone(),
                Box::new(StreamedRows::start(xlsx, name, path)),
            ));
        }
        other => other,
    };
    let range = workbook
        .worksheet_range(&name)
        .map_err(|e| fail(e.to_string()))?;
    let first_row = range.start().map_or(0, |(row, _)| u64::from(row));
    Ok((
        name,
        Box::new(SheetRows {
            range,
            first_row,
            next: 0,
        }),
    ))
}

type Chunk = Vec<(u64, StringRecord)>;

/// Rows of an XLSX sheet, read on a thread of their own with calamine's cell reader.
struct StreamedRows {
    chunks: std::sync::mpsc::Receiver<Result<Chunk, InputError>>,
    pending: std::vec::IntoIter<(u64, StringRecord)>,
}

impl StreamedRows {
    fn start(mut workbook: Xlsx<BufReader<File>>, sheet: String, path: &Path) -> StreamedRows {
        let (sender, chunks) = std::sync::mpsc::sync_channel(4);
        let path = path.to_path_buf();
        std::thread::spawn(move || {
            let streamed = stream_cells(&mut workbook, &sheet, &sender);
            if let Err(detail) = streamed {
                let _ = sender.send(Err(InputError::Workbook {
                    path,
                    kind: "XLSX",
                    detail,
                    hint: "It may be damaged: open it in Excel and save it again, or export the \
                           sheet as CSV.",
                }));
            }
        });
        StreamedRows {
            chunks,
            pending: Vec::new().into_iter(),
        }
    }
}

/// Sends the sheet's rows in chunks; cells arrive row by row, left to right.
fn stream_cells(
    workbook: &mut Xlsx<BufReader<File>>,
    sheet: &str,
    sender: &std::sync::mpsc::SyncSender<Result<Chunk, InputError>>,
) -> Result<(), String> {
    const CHUNK_ROWS: usize = 1024;
    let mut cells = workbook
        .worksheet_cells_reader(sheet)
        .map_err(|e| e.to_string())?;
    let mut chunk: Chunk = Vec::with_capacity(CHUNK_ROWS);
    let mut current: Option<(u32, Vec<String>)> = None;
    let flush = |row: Option<(u32, Vec<String>)>, chunk: &mut Chunk| {
        if let Some((number, texts)) = row {
            let mut record: StringRecord = texts.iter().collect();
            trim_trailing_empty(&mut record);
            chunk.push((u64::from(number) + 1, record));
        }
    };
    while let Some(cell) = cells.next_cell().map_err(|e| e.to_string())? {
        let (row, column) = cell.get_position();
        if current.as_ref().is_none_or(|(r, _)| *r != row) {
            flush(current.take(), &mut chunk);
            if chunk.len() >= CHUNK_ROWS {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_ROWS));
                if sender.send(Ok(full)).is_err() {
                    return Ok(()); // the reader stopped listening
                }
            }
            current = Some((row, Vec::new()));
        }
        let (_, texts) = current.as_mut().expect("set above");
        let column = column as usize;
        if texts.len() <= column {
            texts.resize(column + 1, String::new());
        }
        cell_text(&Data::from(cell.get_value().clone()), &mut texts[column]);
    }
    flush(current.take(), &mut chunk);
    if !chunk.is_empty() {
        let _ = sender.send(Ok(chunk));
    }
    Ok(())
}

impl RowSource for StreamedRows {
    fn next_record(&mut self, row: &mut Row) -> Result<bool, InputError> {
        loop {
            if let Some((number, cells)) = self.pending.next() {
                row.number = RowNumber(number);
                row.cells = cells;
                return Ok(true);
            }
            match self.chunks.recv() {
                Ok(Ok(chunk)) => self.pending = chunk.into_iter(),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(false),
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
        self.next += 1;
        let mut record = std::mem::take(&mut row.cells);
        record.clear();
        let mut text = String::new();
        for column in 0..self.range.width() {
            text.clear();
            if let Some(cell) = self.range.get((self.next - 1, column)) {
                cell_text(cell, &mut text);
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

/// Writes a cell as the text a person sees in it (phones as exact digits).
fn cell_text(cell: &Data, out: &mut String) {
    use std::fmt::Write;
    match cell {
        Data::Empty => {}
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => out.push_str(s),
        Data::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Data::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e17 {
                let _ = write!(out, "{f:.0}");
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
    fn numbers_become_exact_digits() {
        assert_eq!(text(Data::Float(79001234568.0)), "79001234568");
        assert_eq!(text(Data::Float(1.5)), "1.5");
        assert_eq!(text(Data::Int(79001234568)), "79001234568");
        assert_eq!(text(Data::Bool(true)), "TRUE");
        assert_eq!(text(Data::Empty), "");
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
