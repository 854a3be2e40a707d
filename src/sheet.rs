//! Workbooks for people who live in Excel: the results file and the validation report as
//! `.xlsx`, opened with a double click — no import dialog, no `7.9E+10`, no mangled Cyrillic.
//!
//! Every cell is written as text except row numbers and counts, so a phone keeps its digits
//! and its leading zeros. The header is bold and frozen with an autofilter on it; columns are
//! as wide as their content (within bounds); a status cell is coloured by what it says. Rows
//! are written one by one in rust_xlsxwriter's constant-memory mode: a million rows take no
//! more memory than ten. The caller writes to a temporary path and renames it into place.

use std::io::Write as _;
use std::path::Path;

use rust_xlsxwriter::{Color, Format, FormatPattern, Workbook, Worksheet, XlsxError};

/// The most rows a worksheet holds, header included.
const MAX_ROWS: u32 = 1_048_576;
/// The most characters a cell holds.
const MAX_CELL_CHARS: usize = 32_767;
/// Column widths stay within these (in characters).
const WIDTH: (usize, usize) = (6, 60);

/// How a cell is coloured: Excel's own "Good", "Bad", "Neutral" cell styles, and grey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    Good,
    Bad,
    Neutral,
    Muted,
}

/// One cell of a row.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cell<'a> {
    Text(&'a str),
    /// Text coloured by its tone.
    Toned(&'a str, Option<Tone>),
    Number(f64),
}

/// A workbook being written: one data sheet, row by row, and any small sheets after it.
pub(crate) struct SheetWriter {
    workbook: Workbook,
    next_row: u32,
    widths: Vec<usize>,
    header: Format,
    tones: [Format; 4],
}

/// Why a workbook could not be written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SheetError {
    #[error(
        "more than {} rows: more than a worksheet holds; use a .csv file instead",
        MAX_ROWS - 1
    )]
    TooManyRows,
    #[error(transparent)]
    Xlsx(#[from] XlsxError),
}

impl SheetError {
    /// As an I/O error, for writers whose errors are.
    pub(crate) fn into_io(self) -> std::io::Error {
        match self {
            SheetError::Xlsx(XlsxError::IoError(io)) => io,
            other => std::io::Error::other(other.to_string()),
        }
    }
}

fn tone_format(tone: Tone) -> Format {
    let (fill, font) = match tone {
        Tone::Good => (0xC6EFCE, 0x006100),
        Tone::Bad => (0xFFC7CE, 0x9C0006),
        Tone::Neutral => (0xFFEB9C, 0x9C5700),
        Tone::Muted => (0xEDEDED, 0x595959),
    };
    Format::new()
        .set_pattern(FormatPattern::Solid)
        .set_background_color(Color::RGB(fill))
        .set_font_color(Color::RGB(font))
}

impl SheetWriter {
    /// Starts a workbook whose first sheet, `name`, gets this header row.
    pub(crate) fn new(name: &str, header: &[&str]) -> Result<SheetWriter, SheetError> {
        let mut workbook = Workbook::new();
        workbook.set_zip_compression_level(1);
        let sheet = workbook.add_worksheet_with_constant_memory()?;
        sheet.set_name(name)?;
        let mut writer = SheetWriter {
            workbook,
            next_row: 0,
            widths: Vec::new(),
            header: Format::new()
                .set_bold()
                .set_pattern(FormatPattern::Solid)
                .set_background_color(Color::RGB(0xDDEBF7)),
            tones: [Tone::Good, Tone::Bad, Tone::Neutral, Tone::Muted].map(tone_format),
        };
        let cells: Vec<Cell> = header.iter().map(|h| Cell::Text(h)).collect();
        writer.write(&cells, true)?;
        Ok(writer)
    }

    fn sheet(&mut self) -> Result<&mut Worksheet, SheetError> {
        Ok(self.workbook.worksheet_from_index(0)?)
    }

    /// Adds a data row.
    pub(crate) fn row(&mut self, cells: &[Cell]) -> Result<(), SheetError> {
        self.write(cells, false)
    }

    fn write(&mut self, cells: &[Cell], header: bool) -> Result<(), SheetError> {
        if self.next_row >= MAX_ROWS {
            return Err(SheetError::TooManyRows);
        }
        let row = self.next_row;
        self.next_row += 1;
        if self.widths.len() < cells.len() {
            self.widths.resize(cells.len(), WIDTH.0);
        }
        // The fields apart, so that the sheet and the formats are borrowed together (a
        // million rows: no format cloned, no sheet looked up, per cell).
        let SheetWriter {
            workbook,
            widths,
            header: header_format,
            tones,
            ..
        } = self;
        let sheet = workbook.worksheet_from_index(0)?;
        for (column, cell) in cells.iter().enumerate() {
            let col = u16::try_from(column).map_err(|_| XlsxError::RowColumnLimitError)?;
            let (text, tone) = match *cell {
                Cell::Number(n) => {
                    widths[column] = widths[column].max(number_width(n));
                    sheet.write_number(row, col, n)?;
                    continue;
                }
                Cell::Text(text) => (text, None),
                Cell::Toned(text, tone) => (text, tone),
            };
            if text.is_empty() && !header {
                continue;
            }
            let text = fit(text);
            // Characters, counted only as far as the widest column allowed.
            let width = text.chars().take(WIDTH.1).count();
            widths[column] = widths[column].max(width);
            let format = match (header, tone) {
                (true, _) => Some(&*header_format),
                (false, Some(tone)) => Some(&tones[tone as usize]),
                (false, None) => None,
            };
            match format {
                Some(format) => sheet.write_string_with_format(row, col, text, format)?,
                None => sheet.write_string(row, col, text)?,
            };
        }
        Ok(())
    }

    /// Adds a small sheet of label/value pairs after the data sheet.
    pub(crate) fn key_values(
        &mut self,
        name: &str,
        pairs: &[(String, String)],
    ) -> Result<(), SheetError> {
        let bold = Format::new().set_bold();
        let sheet = self.workbook.add_worksheet();
        sheet.set_name(name)?;
        let mut width = (10, 10);
        for (row, (key, value)) in pairs.iter().enumerate() {
            let row = row as u32;
            sheet.write_string_with_format(row, 0, fit(key), &bold)?;
            match value.parse::<f64>() {
                Ok(number) if !value.starts_with('+') && !value.contains('e') => {
                    sheet.write_number(row, 1, number)?
                }
                _ => sheet.write_string(row, 1, fit(value))?,
            };
            width = (
                width.0.max(key.chars().count()),
                width.1.max(value.chars().count()),
            );
        }
        sheet.set_column_width(0, (width.0.min(WIDTH.1) + 2) as f64)?;
        sheet.set_column_width(1, (width.1.min(WIDTH.1) + 2) as f64)?;
        Ok(())
    }

    /// Freezes the header, puts an autofilter on it, sizes the columns and writes the
    /// workbook to `file`.
    pub(crate) fn save(mut self, file: &std::fs::File) -> Result<(), SheetError> {
        let (rows, columns) = (self.next_row, self.widths.len());
        let widths = std::mem::take(&mut self.widths);
        let sheet = self.sheet()?;
        sheet.set_freeze_panes(1, 0)?;
        if columns > 0 {
            sheet.autofilter(0, 0, rows.saturating_sub(1), (columns - 1) as u16)?;
        }
        for (column, width) in widths.iter().enumerate() {
            sheet.set_column_width(column as u16, (*width + 2) as f64)?;
        }
        let mut file = Latch {
            file: std::io::BufWriter::new(file),
            error: None,
        };
        let saved = self.workbook.save_to_writer(&mut file);
        let flushed = file.file.flush();
        match (file.error.take(), saved, flushed) {
            (Some(error), ..) | (None, Ok(()), Err(error)) => Err(XlsxError::from(error).into()),
            (None, saved, _) => Ok(saved?),
        }
    }
}

/// Writes to a file, keeping the first error and passing over what comes after it: a full
/// disk then surfaces once, from greenbulk, and not also as a line the ZIP library prints
/// on stderr when it drops an archive it could not finish.
struct Latch<'f> {
    file: std::io::BufWriter<&'f std::fs::File>,
    error: Option<std::io::Error>,
}

impl std::io::Write for Latch<'_> {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        if self.error.is_none()
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

/// A cell's text within what a cell holds (longer text is cut, with `…`).
fn fit(text: &str) -> &str {
    if text.len() <= MAX_CELL_CHARS {
        return text;
    }
    let mut end = MAX_CELL_CHARS;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
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
