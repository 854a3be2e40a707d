//! CSV/TSV/TXT: encoding detection, delimiter sniffing and record reading.
//!
//! The text is decoded while streaming (`encoding_rs_io`), so a file of any size is read in
//! bounded memory. The encoding comes from `--encoding`, else a BOM, else valid UTF-8, else
//! `chardetng`'s guess (Windows-1251 for a Russian Excel/1C export, Windows-1252 for a Western
//! one). The delimiter is the one of `, ; TAB |` that splits the first lines most consistently;
//! Excel's `sep=;` first line is honoured and skipped.
//!
//! A quote that opens and never closes (or closes rows later) makes every line after it part
//! of one cell: those rows would vanish, and their data go out inside someone else's card. So
//! a cell whose lines look like rows of the file (as many delimiters as a row has) stops the
//! read with an error naming the row, and no record may grow past [`MAX_RECORD_BYTES`]: the
//! parser is never fed more, so memory stays bounded whatever the file holds.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use csv::StringRecord;
use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};
use encoding_rs_io::{DecodeReaderBytes, DecodeReaderBytesBuilder};

use super::{InputError, OpenQuote, Row, RowNumber, RowSource};

/// How much of the file is looked at to guess the encoding and the delimiter.
const SAMPLE_BYTES: usize = 64 * 1024;
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// The longest a record may be. A contact row is a few hundred bytes and GREEN-API takes no
/// request over 100 KB; a longer record is a quote left open, or a file built to exhaust
/// memory.
pub(super) const MAX_RECORD_BYTES: u64 = 1 << 20;

/// How much the CSV parser reads ahead of the record it is in.
const READ_AHEAD: usize = 256 * 1024;

pub(super) struct TextRows {
    path: PathBuf,
    reader: csv::Reader<RecordGuard<DecodeReaderBytes<BufReader<File>, Vec<u8>>>>,
    /// The file's size, when it is UTF-8: to tell how far along the read is.
    raw_len: Option<u64>,
    delimiter: u8,
    /// Where the record being read starts, in decoded bytes, shared with the guard.
    record_start: Arc<AtomicU64>,
    /// The number the next record gets; the first record (the header, normally) is row 1.
    next_number: u64,
    skip_sep_line: bool,
    /// The first non-blank record (the header): its names, for messages.
    header: Option<Vec<String>>,
    /// How many cells the last record on a single line had: what a row of this file looks
    /// like (rows may be shorter than the header).
    row_cells: usize,
}

/// Feeds the CSV parser, but never more than [`MAX_RECORD_BYTES`] past the start of the
/// record it is reading; keeps what it fed since that start (so at most that much), for the
/// last record's quotes (see [`ends_inside_quote`]).
struct RecordGuard<R> {
    inner: R,
    delivered: u64,
    record_start: Arc<AtomicU64>,
    /// The bytes fed since the start of the record being read (and the read that started
    /// it), the last of them at `delivered`.
    since_start: VecDeque<u8>,
    /// The file has no more to feed.
    at_end: bool,
}

/// The error [`RecordGuard`] stops the parser with.
#[derive(Debug)]
struct RecordTooLong;

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("record too long")
    }
}

impl std::error::Error for RecordTooLong {}

impl<R: Read> Read for RecordGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let start = self.record_start.load(Ordering::Relaxed);
        if self.delivered.saturating_sub(start) > MAX_RECORD_BYTES + READ_AHEAD as u64 {
            return Err(std::io::Error::other(RecordTooLong));
        }
        let read = self.inner.read(buf)?;
        self.at_end = read == 0 && !buf.is_empty();
        let kept_from = self.delivered - self.since_start.len() as u64;
        let done_with = start
            .saturating_sub(kept_from)
            .min(self.since_start.len() as u64);
        self.since_start.drain(..done_with as usize);
        self.since_start.extend(&buf[..read]);
        self.delivered += read as u64;
        Ok(read)
    }
}

impl<R> RecordGuard<R> {
    /// The bytes fed from decoded offset `start` on, if they are all still kept.
    fn fed_since(&self, start: u64) -> Option<impl Iterator<Item = u8> + '_> {
        let kept_from = self.delivered - self.since_start.len() as u64;
        let skip = start.checked_sub(kept_from)?;
        Some(self.since_start.iter().skip(skip as usize).copied())
    }
}

/// Where the file ends inside a quoted cell of its last record, read as the CSV parser reads
/// it (a quote opens a cell only at its start; `""` inside is one quote): the cell's number
/// and how many line breaks come before its quote. `record` starts where the parser started
/// looking for the record (line breaks before it are skipped).
fn ends_inside_quote(record: impl Iterator<Item = u8>, delimiter: u8) -> Option<(usize, u64)> {
    #[derive(Clone, Copy, PartialEq)]
    enum At {
        CellStart,
        InCell,
        Quoted,
        QuoteInQuoted,
    }
    let (mut at, mut cell, mut breaks, mut opened) = (At::CellStart, 0usize, 0u64, (0, 0));
    let mut after_cr = false;
    for byte in record {
        let newline = matches!(byte, b'\n' | b'\r');
        // A line ends at CR LF, LF, or a CR alone (a classic Mac file).
        breaks += u64::from(byte == b'\r' || (byte == b'\n' && !after_cr));
        after_cr = byte == b'\r';
        at = match at {
            At::Quoted if byte == b'"' => At::QuoteInQuoted,
            At::Quoted => At::Quoted,
            At::QuoteInQuoted if byte == b'"' => At::Quoted,
            At::CellStart if byte == b'"' => {
                opened = (cell, breaks);
                At::Quoted
            }
            _ if byte == delimiter => {
                cell += 1;
                At::CellStart
            }
            _ if newline => {
                cell = 0;
                At::CellStart
            }
            _ => At::InCell,
        };
    }
    (at == At::Quoted).then_some(opened)
}

/// Opens a text file: returns the encoding's name, the delimiter and the record stream.
pub(super) fn open(
    path: &Path,
    mut file: File,
    forced: Option<&'static Encoding>,
) -> Result<(&'static str, u8, TextRows), InputError> {
    let open_err = |error| InputError::Open {
        path: path.to_path_buf(),
        error,
    };
    let mut sample = Vec::with_capacity(SAMPLE_BYTES);
    (&mut file)
        .take(SAMPLE_BYTES as u64)
        .read_to_end(&mut sample)
        .map_err(open_err)?;
    let complete = sample.len() < SAMPLE_BYTES;
    let encoding = forced.unwrap_or_else(|| detect_encoding(&sample, complete));
    let text = decode_sample(&sample, encoding);
    if is_binary(&text) {
        return Err(InputError::NotText {
            path: path.to_path_buf(),
        });
    }
    let (delimiter, skip_sep_line) = match sep_directive(&text) {
        Some(d) => (d, true),
        None => (sniff_delimiter(&text), false),
    };

    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(0)).map_err(open_err)?;
    // Decoded even when it is UTF-8: bytes that are not valid UTF-8 become U+FFFD before the
    // CSV parser sees them, so quotes between them can never join them into a character.
    let decoded = DecodeReaderBytesBuilder::new()
        .encoding(Some(encoding))
        .bom_override(forced.is_none())
        .strip_bom(true)
        .utf8_passthru(true)
        .build(BufReader::with_capacity(256 * 1024, file));
    // For UTF-8 the decoded bytes are the file's (past a BOM): how far along the read is.
    let raw_len = (encoding == UTF_8)
        .then(|| std::fs::metadata(path).ok().map(|m| m.len()))
        .flatten();
    let record_start = Arc::new(AtomicU64::new(0));
    let guarded = RecordGuard {
        inner: decoded,
        delivered: 0,
        record_start: record_start.clone(),
        since_start: VecDeque::new(),
        at_end: false,
    };
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .buffer_capacity(READ_AHEAD)
        .from_reader(guarded);
    let name = if encoding == UTF_8 && sample.starts_with(b"\xEF\xBB\xBF") {
        "UTF-8 with BOM"
    } else {
        encoding.name()
    };
    Ok((
        name,
        delimiter,
        TextRows {
            path: path.to_path_buf(),
            reader,
            raw_len,
            delimiter,
            record_start,
            next_number: 1,
            skip_sep_line,
            header: None,
            row_cells: 0,
        },
    ))
}

impl RowSource for TextRows {
    fn progress(&self) -> Option<(u64, u64)> {
        Some((self.reader.position().byte(), self.raw_len?))
    }

    fn next_record(&mut self, row: &mut Row) -> Result<bool, InputError> {
        let mut buffer = std::mem::take(&mut row.cells).into_byte_record();
        let line = loop {
            let position = self.reader.position();
            let line = position.line();
            self.record_start.store(position.byte(), Ordering::Relaxed);
            let more = self.reader.read_byte_record(&mut buffer).map_err(|err| {
                let message = match err.kind() {
                    csv::ErrorKind::Io(io)
                        if io.get_ref().is_some_and(|e| e.is::<RecordTooLong>()) =>
                    {
                        format!(
                            "the record starting on line {line} runs on for more than 1 MB, \
                             longer than any row of contacts: a quote opened there and never \
                             closed would make the rows after it one cell. Close or remove \
                             that quote (or, if there is none, check that this is the export \
                             you meant), then run again"
                        )
                    }
                    csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
                        format!(
                            "the text cannot be decoded ({io}); name the encoding with \
                             --encoding (e.g. --encoding windows-1251)"
                        )
                    }
                    _ => format!("cannot read CSV: {err}"),
                };
                InputError::Text {
                    path: self.path.clone(),
                    row: RowNumber(self.next_number),
                    message,
                }
            })?;
            if !more {
                row.cells = StringRecord::new();
                return Ok(false);
            }
            if self.skip_sep_line {
                self.skip_sep_line = false;
                continue;
            }
            break line;
        };
        // The cell whose quote the file ends inside, if the record ran to the end in one.
        let unclosed = if self.at_the_end() {
            self.unclosed_cell()
        } else {
            None
        };
        row.open_quote = None;
        if memchr::memchr2(b'\n', b'\r', buffer.as_slice()).is_some() {
            row.open_quote = self
                .refuse_swallowed_rows(&buffer, line, unclosed.is_some())?
                .map(|column| OpenQuote::Swallowed { column });
        } else {
            self.row_cells = buffer.len();
        }
        if let Some((column, breaks)) = unclosed
            && row.open_quote.is_none()
        {
            // What follows a line break in that cell was the rest of the file: rows, maybe.
            let further_lines = buffer.get(column).is_some_and(|cell| {
                cell.split(|b| matches!(b, b'\n' | b'\r'))
                    .skip(1)
                    .any(|part| !part.trim_ascii().is_empty())
            });
            row.open_quote = Some(OpenQuote::Unclosed {
                column: self.column_name(column),
                line: line + breaks,
                further_lines,
            });
        }
        if self.header.is_none() && buffer.iter().any(|f| !f.trim_ascii().is_empty()) {
            self.header = Some(
                buffer
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect(),
            );
        }
        row.number = RowNumber(self.next_number);
        row.unsaved_formulas = 0;
        row.dated_numbers = 0;
        self.next_number += 1;
        // Undecodable UTF-8 bytes become U+FFFD; validation warns about the cells concerned.
        row.cells = StringRecord::from_byte_record(buffer)
            .unwrap_or_else(|err| StringRecord::from_byte_record_lossy(err.into_byte_record()));
        Ok(true)
    }
}

impl TextRows {
    /// Whether the record just read runs to the end of the file: the parser took all it was
    /// fed, and there is no more. (`csv::Reader::is_done` says so only a read later.)
    fn at_the_end(&self) -> bool {
        let guard = self.reader.get_ref();
        guard.at_end && self.reader.position().byte() == guard.delivered
    }

    /// The last record's cell whose quote the file ends inside (the CSV parser closes it
    /// there, silently): its column, and the line breaks before its quote.
    fn unclosed_cell(&self) -> Option<(usize, u64)> {
        let start = self.record_start.load(Ordering::Relaxed);
        let fed = self.reader.get_ref().fed_since(start)?;
        ends_inside_quote(fed, self.delimiter)
    }

    /// A column's header as messages show it, or its number when it has none.
    fn column_name(&self, column: usize) -> String {
        let header = self.header.as_deref().unwrap_or_default();
        header.get(column).map_or_else(
            || format!("{}", column + 1),
            |h| crate::term::shown(h.trim()).into_owned(),
        )
    }

    /// A cell whose lines look like rows of this file (as many delimiters as a row of it
    /// holds, and at least two) is a quote that swallowed them: an error naming the row, the
    /// column and the line. Two such lines are needed, or one when the quote ran to the end
    /// of the file: a cell may hold a line such as an address with commas on purpose, but
    /// not two of them that look like rows. A cell with one such line is named in the row
    /// (the column of the first), which validation makes the row's error: the row inside it
    /// would otherwise be neither sent nor listed.
    fn refuse_swallowed_rows(
        &self,
        record: &csv::ByteRecord,
        line: u64,
        to_the_end: bool,
    ) -> Result<Option<String>, InputError> {
        let row_delimiters = self.row_cells.saturating_sub(1).max(2);
        let mut one = None;
        for (column, cell) in record.iter().enumerate() {
            let swallowed = cell
                .split(|b| matches!(b, b'\n' | b'\r'))
                .skip(1)
                .filter(|part| memchr::memchr_iter(self.delimiter, part).count() >= row_delimiters)
                .count();
            if swallowed == 0 {
                continue;
            }
            let name = self.column_name(column);
            if swallowed == 1 && !to_the_end {
                one = one.or(Some(name));
                continue;
            }
            let closed = if to_the_end {
                "is never closed"
            } else {
                "closes only further down"
            };
            return Err(InputError::Text {
                path: self.path.clone(),
                row: RowNumber(self.next_number),
                message: format!(
                    "column '{name}' holds {swallowed} more line(s) that look like rows of the \
                     file: a quote opened in that cell (line {line} of the file) {closed}, so \
                     the rows after it were read as part of one cell. Close or remove the stray \
                     quote, then run again"
                ),
            });
        }
        Ok(one)
    }
}

/// Text no spreadsheet exports: NUL characters, or control characters in more than 1% of it.
fn is_binary(text: &str) -> bool {
    let mut chars = 0usize;
    let mut controls = 0usize;
    for c in text.chars() {
        chars += 1;
        if c == '\0' {
            return true;
        }
        if c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0c') {
            controls += 1;
        }
    }
    controls >= 8 && controls * 100 > chars
}

fn detect_encoding(sample: &[u8], complete: bool) -> &'static Encoding {
    if let Some((encoding, _)) = Encoding::for_bom(sample) {
        return encoding;
    }
    if looks_utf16(sample) {
        // UTF-16 without a BOM: the NULs tell which half of each unit is zero.
        let even_nuls = sample.iter().step_by(2).filter(|b| **b == 0).count();
        let odd_nuls = sample
            .iter()
            .skip(1)
            .step_by(2)
            .filter(|b| **b == 0)
            .count();
        return if odd_nuls > even_nuls {
            UTF_16LE
        } else {
            UTF_16BE
        };
    }
    match std::str::from_utf8(sample) {
        Ok(_) => return UTF_8,
        // A sample cut inside a multi-byte character is still UTF-8.
        Err(e) if e.error_len().is_none() && !complete => return UTF_8,
        Err(_) if mostly_utf8(sample) => return UTF_8,
        Err(_) => {}
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(sample, complete);
    detector.guess(None, chardetng::Utf8Detection::Allow)
}

/// Whether text that is not all UTF-8 is UTF-8 with a few pieces that are not: a row pasted
/// in from a file of another encoding. Its characters past ASCII outnumber the undecodable
/// pieces; in a file of a one-byte encoding (Windows-1251, say) nearly every letter past
/// ASCII is undecodable, and those that decode are chance pairs. Read as UTF-8, the other
/// rows keep their names and the odd row's cells are warned about; read in the one-byte
/// encoding, every name would be garbled.
fn mostly_utf8(sample: &[u8]) -> bool {
    let (mut characters, mut undecodable) = (0usize, 0usize);
    for chunk in sample.utf8_chunks() {
        characters += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        undecodable += usize::from(!chunk.invalid().is_empty());
    }
    characters > undecodable
}

fn looks_utf16(sample: &[u8]) -> bool {
    let nuls = sample.iter().filter(|b| **b == 0).count();
    sample.len() >= 4 && nuls * 4 >= sample.len()
}

fn decode_sample(sample: &[u8], encoding: &'static Encoding) -> String {
    let (text, _, _) = encoding.decode(sample);
    text.into_owned()
}

/// Excel writes `sep=;` as the first line to name the delimiter.
fn sep_directive(text: &str) -> Option<u8> {
    let first = text.lines().next()?.trim_end_matches('\r');
    let rest = first.strip_prefix("sep=")?;
    match rest.as_bytes() {
        [d] if DELIMITERS.contains(d) => Some(*d),
        _ => None,
    }
}

/// Picks the delimiter that gives the same non-zero number of splits on most of the first
/// lines, preferring more columns on a tie. One-column files get a comma.
fn sniff_delimiter(text: &str) -> u8 {
    let lines = logical_lines(text, 50);
    let mut best = (b',', 0usize, 0usize);
    for delimiter in DELIMITERS {
        let counts: Vec<usize> = lines
            .iter()
            .map(|line| count_outside_quotes(line, delimiter))
            .collect();
        let Some(mode) = mode(&counts) else { continue };
        if mode == 0 {
            continue;
        }
        let agreeing = counts.iter().filter(|c| **c == mode).count();
        if (agreeing, mode) > (best.1, best.2) {
            best = (delimiter, agreeing, mode);
        }
    }
    best.0
}

/// The first `max` records of the sample, joining lines broken inside quotes.
fn logical_lines(text: &str, max: usize) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    for (i, ch) in text.char_indices() {
        match ch {
            '"' => in_quotes = !in_quotes,
            '\n' if !in_quotes => {
                let line = text[start..i].trim_end_matches('\r');
                if !line.trim().is_empty() {
                    lines.push(line);
                }
                start = i + 1;
                if lines.len() == max {
                    return lines;
                }
            }
            _ => {}
        }
    }
    // The last line may be cut off by the end of the sample; use it only if nothing else.
    if lines.is_empty() && start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

fn count_outside_quotes(line: &str, delimiter: u8) -> usize {
    let mut in_quotes = false;
    let mut count = 0;
    for b in line.bytes() {
        if b == b'"' {
            in_quotes = !in_quotes;
        } else if b == delimiter && !in_quotes {
            count += 1;
        }
    }
    count
}

fn mode(values: &[usize]) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for v in values {
        let n = values.iter().filter(|x| *x == v).count();
        if best.is_none_or(|(bn, bv)| (n, *v) > (bn, bv)) {
            best = Some((n, *v));
        }
    }
    best.map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_each_delimiter() {
        assert_eq!(sniff_delimiter("a,b,c\n1,2,3\n"), b',');
        assert_eq!(sniff_delimiter("a;b;c\n\"1,5\";2;3\n"), b';');
        assert_eq!(sniff_delimiter("a\tb\n1\t2\n"), b'\t');
        assert_eq!(sniff_delimiter("a|b\n1|2\n"), b'|');
        assert_eq!(sniff_delimiter("just one column\n"), b',');
        // Commas inside names do not fool it.
        assert_eq!(
            sniff_delimiter("chatId;name\n1;Smith, John\n2;Doe, Jane\n"),
            b';'
        );
    }

    #[test]
    fn tells_a_file_that_ends_inside_a_quote() {
        let ends = |text: &str| ends_inside_quote(text.bytes(), b',');
        assert_eq!(ends("1,\"Bob,Smith"), Some((1, 0)));
        assert_eq!(ends("1,\"Bob\nSmith\n"), Some((1, 0)));
        assert_eq!(
            ends("\r\n\r2,\"Bob"),
            Some((1, 2)),
            "CR LF, then a CR alone"
        );
        assert_eq!(
            ends("\n1,x,\"B\"\"ob"),
            Some((2, 1)),
            "\"\" is a quote inside"
        );
        assert_eq!(
            ends("1,\"Bob\"x,\"Ann"),
            Some((2, 0)),
            "text after a closed quote"
        );
        assert_eq!(ends("1,\"B\"\"ob\"\"\""), None);
        assert_eq!(ends("1,\"Bob\"\r\n"), None);
        assert_eq!(
            ends("1,5\" pipe,Bob"),
            None,
            "a quote inside a cell is text"
        );
        assert_eq!(ends("1,\"\""), None, "an empty quoted cell");
        assert_eq!(
            ends("1;\"Bob,Smith"),
            None,
            "under ',' that quote is inside a cell"
        );
    }

    #[test]
    fn quoted_newlines_do_not_split_lines() {
        let lines = logical_lines("a;b\n\"x\ny\";2\n", 10);
        assert_eq!(lines, vec!["a;b", "\"x\ny\";2"]);
    }

    #[test]
    fn detects_encodings() {
        assert_eq!(detect_encoding(b"\xEF\xBB\xBFchatId", true), UTF_8);
        assert_eq!(detect_encoding(b"\xFF\xFEc\0h\0", true), UTF_16LE);
        assert_eq!(detect_encoding("Имя;Фамилия".as_bytes(), true), UTF_8);
        let (cp1251, _, _) = encoding_rs::WINDOWS_1251
            .encode("Имя;Фамилия;Телефон\nИван;Петров;79001234567\nОльга;Смирнова;79001234568\n");
        assert_eq!(detect_encoding(&cp1251, true), encoding_rs::WINDOWS_1251);
        // A UTF-8 file with one row pasted in from a Windows-1251 one is still UTF-8.
        let mut mixed = "Имя;Телефон\nИван;79001234567\nПётр;79001234569\n"
            .as_bytes()
            .to_vec();
        mixed.extend_from_slice(&encoding_rs::WINDOWS_1251.encode("Ольга;79001234568\n").0);
        assert_eq!(detect_encoding(&mixed, true), UTF_8);
        let (latin1, _, _) =
            encoding_rs::WINDOWS_1252.encode("Prénom;Téléphone\nHélène;79001234567\n");
        assert_ne!(detect_encoding(&latin1, true), UTF_8);
        // Two names in UTF-8, one stray byte: UTF-8 still (José went out as "JosÃ©").
        assert_eq!(
            detect_encoding(b"n\nJos\xC3\xA9\nZo\xC3\xAB\nRen\xE9\n", true),
            UTF_8
        );
        assert_eq!(sep_directive("sep=;\na;b"), Some(b';'));
    }
}
