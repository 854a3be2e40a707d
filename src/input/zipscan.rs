//! A look inside a zipped workbook (XLSX, ODS) before calamine sees it, so that no cell can
//! make it exhaust memory.
//!
//! calamine holds a cell's whole text in memory (and its shared strings all at once), so a
//! 1 MB file whose one cell inflates to a gigabyte — a zip bomb — would take gigabytes. Every
//! part that is not binary (whatever its name: a sheet can be called anything) is streamed
//! through a [`Scanner`] in small blocks, measuring the longest stretch between two `<` (XML
//! allows no raw `<` inside a text or an attribute, so this bounds every text and every tag);
//! a stretch over [`MAX_CELL_BYTES`] is refused, naming the row and column where it can be
//! found. An XLSX is scanned part by part as calamine reads it ([`super::inflated`]); other
//! workbooks whole, before calamine opens them ([`check`]). The shared strings, which calamine keeps all at once, are bounded in size and number
//! too. Workbooks of many ordinary rows pass untouched: it is the size of one text that is
//! bounded, not the size of a sheet.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::hidden::RowsSeen;
use super::tags::{attribute, for_each_tag, tag_parts};
use super::{InputError, MAX_CELL_BYTES, MAX_ROWS, RowNumber};

/// The most shared text calamine is let to hold: far more than any contact list has (a
/// million rows of unique names is about 50 MB), far less than a bomb would make.
const MAX_SHARED_STRINGS_BYTES: u64 = 256 << 20;
/// The most markup in the shared strings: every string takes at least four tags, so about
/// four million strings.
const MAX_SHARED_STRINGS_TAGS: u64 = 16 << 20;
/// The most strings the shared strings may hold, or say they hold: as many as those tags can
/// make as `<si><t>…</t></si>` (calamine keeps each as a text of its own).
const MAX_SHARED_STRINGS: u64 = MAX_SHARED_STRINGS_TAGS / 4;

/// Refuses a workbook one of whose XML parts holds a text (or a tag) over
/// [`MAX_CELL_BYTES`]. A file that is not a readable zip passes: calamine then says what is
/// wrong with it.
pub(super) fn check(path: &Path) -> Result<(), InputError> {
    let Some(mut zip) = archive(path) else {
        return Ok(());
    };
    (0..zip.len()).try_for_each(|index| check_one(path, &mut zip, index))
}

/// [`check`] of one part, the one with this index.
pub(super) fn check_part(path: &Path, index: usize) -> Result<(), InputError> {
    let Some(mut zip) = archive(path) else {
        return Ok(());
    };
    check_one(path, &mut zip, index)
}

/// The workbook at `path` opened as a zip archive, if it is a readable one.
pub(super) fn archive(path: &Path) -> Option<zip::ZipArchive<BufReader<File>>> {
    zip::ZipArchive::new(BufReader::new(File::open(path).ok()?)).ok()
}

fn check_one(
    path: &Path,
    zip: &mut zip::ZipArchive<BufReader<File>>,
    index: usize,
) -> Result<(), InputError> {
    let Ok(entry) = zip.by_index(index) else {
        return Ok(());
    };
    let name = part_name(&entry);
    let mut scanner = Scanner::for_any_part(&name);
    let mut scanned = scan(entry, &mut scanner);
    if scanned.is_ok()
        && scanner.shared
        && let Ok(entry) = zip.by_index(index)
    {
        scanned = declared_strings(entry);
    }
    scanned.map_err(|problem| refusal(path, zip, &name, index, problem))
}

/// Whether a part is the shared strings (calamine holds them all at once).
pub(super) fn is_shared_strings(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with("sharedstrings.xml")
}

/// How many strings the shared strings say they hold (`uniqueCount`: calamine makes room for
/// that many at once), read as calamine reads it — the first `sst` element's attribute, with
/// the same XML reader and settings — and refused when more than any contact list has. The
/// part has passed the scan, so the reader holds nothing large.
fn declared_strings(part: impl Read) -> Result<(), Problem> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(BufReader::new(part));
    let config = reader.config_mut();
    config.check_end_names = false;
    config.trim_text(false);
    config.check_comments = false;
    config.expand_empty_elements = true;
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        match reader.read_event_into(&mut buffer) {
            Ok(Event::Start(element)) if element.local_name().as_ref() == "sst" => {
                let declared = element
                    .attributes()
                    .with_checks(false)
                    .flatten()
                    .find(|attribute| attribute.key.as_ref() == "uniqueCount");
                return match declared.and_then(|a| count_of(a.value.as_bytes())) {
                    Some(count) if count > u128::from(MAX_SHARED_STRINGS) => {
                        Err(Problem::SharedCount(count.min(u128::from(u64::MAX)) as u64))
                    }
                    _ => Ok(()),
                };
            }
            Ok(Event::Eof) | Err(_) => return Ok(()),
            Ok(_) => {}
        }
    }
}

/// A count as calamine reads it: digits, perhaps after a `+` (however many: a count too
/// large for any number is as large as can be).
fn count_of(value: &[u8]) -> Option<u128> {
    let digits = value.strip_prefix(b"+").unwrap_or(value);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u128, |count, digit| {
        count
            .saturating_mul(10)
            .saturating_add(u128::from(digit - b'0'))
    }))
}

/// What is wrong with a part, found while streaming it through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Problem {
    /// A stretch of more than [`MAX_CELL_BYTES`] without a `<` starts here.
    LongText(u64),
    /// The shared strings hold more text or more tags than calamine is let to hold.
    SharedText,
    /// The shared strings say they hold this many strings, more than calamine is let to make
    /// room for.
    SharedCount(u64),
    /// A document type: no workbook part has one, and the XML reader holds it whole.
    DocumentType,
    /// Elements nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// More tags than [`MAX_HELD_TAGS`] in a part calamine holds whole.
    TooMany,
    /// A row numbered, or a cell placed, past Excel's last row ([`MAX_ROWS`]) or column, as
    /// said.
    PastLast(String),
}

/// Streams a part through block by block, as it is inflated: where the current stretch
/// without a `<` started, and how much has gone by. What the XML reader holds whole is
/// bounded: a text, a tag, a comment, a CDATA section or a processing instruction (`<` inside
/// the last three does not end them), and a cell (`c`) or a shared string (`si`) as a whole,
/// which calamine makes one text of, however many runs of rich text it is cut into.
#[derive(Debug)]
pub(super) struct Scanner {
    shared: bool,
    /// A binary part (a NUL in its first 4 KB: an image) passes.
    binary_passes: bool,
    bytes: u64,
    tags: u64,
    run_start: u64,
    first: bool,
    binary: bool,
    /// The last bytes of the previous block: a `<` near its end is looked at with what
    /// follows it, and a comment's end may straddle two blocks.
    carry: Vec<u8>,
    /// Where the scan goes on from (in the part).
    next: u64,
    /// The comment, CDATA section or processing instruction the scan is in, if any.
    special: Option<Special>,
    /// The tag the scan is in, if any.
    tag: Option<Tag>,
    /// Where the cell or shared string the scan is in opened, if it is in one.
    element: Option<u64>,
    /// How many shared strings have opened.
    strings: u64,
    /// How many elements are open (the XML reader keeps each one's name).
    depth: u64,
    /// The most tags the part may hold (for the parts calamine holds whole), if bounded.
    max_tags: Option<u64>,
    /// The rows seen, and which are hidden (a sheet's).
    rows: RowsSeen,
    /// The bytes of an open tag kept whole ([`Tag::kept`]) begun in an earlier block (after
    /// its `<`), and where in the part they reach.
    kept: Vec<u8>,
    kept_to: u64,
}

/// A tag being read: where it opened, the quote it is in, and what it is.
#[derive(Debug, Clone, Copy)]
struct Tag {
    start: u64,
    quote: Option<u8>,
    closing: bool,
    /// A cell or a shared string (or a name too long to tell).
    cell: bool,
    /// A row (`<row>` or `</row>`).
    row: bool,
    /// Its attributes are read ([`RowsSeen`]): a row's opening tag, or the first cell of a
    /// hidden row.
    kept: bool,
}

/// A stretch the XML reader holds whole until its end, whatever `<` it holds.
#[derive(Debug, Clone, Copy)]
struct Special {
    start: u64,
    /// Where its end may begin (after its opener).
    from: u64,
    end: &'static [u8],
}

/// How many bytes after a `<` say what it opens: a tag's name with its prefix (a longer one is
/// taken for a cell's, to be safe).
const LOOKAHEAD: usize = 64;
/// How deep elements may nest: a workbook's parts nest a few levels.
const MAX_DEPTH: u64 = 1000;
/// The most tags in the parts calamine holds whole besides the shared strings: the workbook,
/// its relationships and the styles (Excel allows 64,000 cell formats).
const MAX_HELD_TAGS: u64 = 512 << 10;
/// The most a cell or a shared string may hold in all, markup included.
const MAX_ELEMENT_BYTES: u64 = 2 * MAX_CELL_BYTES;

impl Scanner {
    /// A scanner for the part called `name`, which calamine reads as XML whatever it holds
    /// (the shared strings are bounded as a whole too).
    pub(super) fn new(name: &str) -> Scanner {
        Scanner {
            shared: is_shared_strings(name),
            binary_passes: false,
            bytes: 0,
            tags: 0,
            run_start: 0,
            first: true,
            binary: false,
            carry: Vec::new(),
            next: 0,
            special: None,
            tag: None,
            element: None,
            strings: 0,
            depth: 0,
            max_tags: held_whole(name).then_some(MAX_HELD_TAGS),
            rows: RowsSeen::default(),
            kept: Vec::new(),
            kept_to: 0,
        }
    }

    /// The rows found hidden (with cells) since the last call, in the part's order.
    pub(super) fn hidden_rows(&mut self) -> Vec<u64> {
        self.rows.take()
    }

    /// A scanner for a part that calamine may not read at all: one that is binary, and not
    /// named as XML, passes (an image of one colour may go megabytes without a `<`).
    fn for_any_part(name: &str) -> Scanner {
        let lower = name.to_ascii_lowercase();
        Scanner {
            binary_passes: !lower.ends_with(".xml") && !lower.ends_with(".rels"),
            ..Scanner::new(name)
        }
    }

    /// The next block of the part; the first problem found stops the scan.
    pub(super) fn feed(&mut self, block: &[u8]) -> Result<(), Problem> {
        if self.first && !block.is_empty() {
            self.first = false;
            self.binary =
                self.binary_passes && memchr::memchr(0, &block[..block.len().min(4096)]).is_some();
        }
        if self.binary {
            return Ok(());
        }
        // The block after the carried bytes: `base` is where they start in the part.
        let base = self.bytes - self.carry.len() as u64;
        let mut joined = std::mem::take(&mut self.carry);
        joined.extend_from_slice(block);
        let scanned = self.scan(&joined, base);
        // A tag kept whole that is still open goes on in the next block: its bytes so far
        // are kept.
        if let Some(tag) = self.tag.filter(|tag| tag.kept) {
            let from = if self.kept.is_empty() {
                tag.start + 1
            } else {
                self.kept_to
            };
            self.kept
                .extend_from_slice(&joined[(from - base) as usize..]);
            self.kept_to = base + joined.len() as u64;
        }
        self.bytes += block.len() as u64;
        let kept = joined.len().min(2 * LOOKAHEAD + 2);
        joined.drain(..joined.len() - kept);
        self.carry = joined;
        scanned?;
        // Up to where the scan got (a `<` near the end waits for the next block).
        let reached = self.next;
        let open = match (self.special, self.tag) {
            (Some(special), _) => special.start,
            (None, Some(tag)) => tag.start,
            (None, None) => self.run_start,
        };
        if reached.saturating_sub(open) > MAX_CELL_BYTES {
            return Err(Problem::LongText(open));
        }
        if self
            .element
            .is_some_and(|start| reached.saturating_sub(start) > MAX_ELEMENT_BYTES)
        {
            return Err(Problem::LongText(reached));
        }
        if self.max_tags.is_some_and(|most| self.tags > most) {
            return Err(Problem::TooMany);
        }
        if self.shared
            && (self.bytes > MAX_SHARED_STRINGS_BYTES
                || self.tags > MAX_SHARED_STRINGS_TAGS
                || self.strings > MAX_SHARED_STRINGS)
        {
            return Err(Problem::SharedText);
        }
        Ok(())
    }

    /// Goes through `joined` (which starts at `base` in the part) from where the scan got
    /// to, as the XML reader would: text up to a `<`; a tag up to its `>` outside quotes; a
    /// comment, CDATA section or processing instruction up to its end. A `<` too near the end
    /// to tell what it opens waits for the next block.
    fn scan(&mut self, joined: &[u8], base: u64) -> Result<(), Problem> {
        let mut i = (self.next - base) as usize;
        loop {
            if let Some(special) = self.special {
                let from = i
                    .max(special.from.saturating_sub(base) as usize)
                    .min(joined.len());
                let Some(found) = memchr::memmem::find(&joined[from..], special.end) else {
                    // Its end may begin in the last bytes, and be whole in the next block.
                    let rest = joined.len().saturating_sub(special.end.len() - 1).max(i);
                    self.next = base + rest as u64;
                    return Ok(());
                };
                i = from + found + special.end.len();
                if base + i as u64 - special.start > MAX_CELL_BYTES {
                    return Err(Problem::LongText(special.start));
                }
                self.special = None;
                self.run_start = base + i as u64;
            }
            if let Some(mut tag) = self.tag {
                // Most tags end at their first `>`: when no quote is open and the quotes
                // before it pair up, no `>` before it was quoted (one would be after an odd
                // one).
                let plain = tag.quote.is_none().then(|| {
                    let gt = memchr::memchr(b'>', &joined[i..])?;
                    let inside = &joined[i..i + gt];
                    let paired = memchr::memchr(b'\'', inside).is_none()
                        && memchr::memchr_iter(b'"', inside).count().is_multiple_of(2);
                    paired.then_some(i + gt)
                });
                let end = if let Some(Some(gt)) = plain {
                    i = gt + 1;
                    gt
                } else {
                    loop {
                        let found = match tag.quote {
                            Some(quote) => memchr::memchr(quote, &joined[i..]),
                            None => memchr::memchr3(b'>', b'"', b'\'', &joined[i..]),
                        };
                        let Some(found) = found else {
                            self.tag = Some(tag);
                            self.next = base + joined.len() as u64;
                            return Ok(());
                        };
                        let at = i + found;
                        i = at + 1;
                        match (tag.quote, joined[at]) {
                            (Some(_), _) => tag.quote = None,
                            (None, b'>') => break at,
                            (None, quote) => tag.quote = Some(quote),
                        }
                    }
                };
                self.tag = None;
                let at = base + end as u64;
                if at - tag.start > MAX_CELL_BYTES {
                    return Err(Problem::LongText(tag.start));
                }
                self.run_start = at + 1;
                let empty = end > 0 && joined[end - 1] == b'/';
                if tag.kept {
                    let bytes = if self.kept.is_empty() {
                        &joined[(tag.start + 1 - base) as usize..end]
                    } else {
                        let from = (self.kept_to - base) as usize;
                        self.kept.extend_from_slice(&joined[from..end]);
                        &self.kept[..]
                    };
                    if tag.row {
                        self.rows.row_opened(bytes, empty);
                    } else {
                        self.rows.cell_opened(bytes);
                    }
                    if let Some(what) = self.rows.past_last() {
                        return Err(Problem::PastLast(what.to_string()));
                    }
                    self.kept.clear();
                }
                self.close_tag(tag, empty)?;
            }
            let Some(found) = memchr::memchr(b'<', &joined[i..]) else {
                self.next = base + joined.len() as u64;
                return Ok(());
            };
            let lt = i + found;
            let after = &joined[lt + 1..];
            let (closing, name) = match after.strip_prefix(b"/") {
                Some(name) => (true, name),
                None => (false, after),
            };
            let name_end = name
                .iter()
                .take(LOOKAHEAD)
                .position(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/'));
            if name_end.is_none() && name.len() < LOOKAHEAD {
                self.next = base + lt as u64;
                return Ok(());
            }
            let at = base + lt as u64;
            if at - self.run_start > MAX_CELL_BYTES {
                return Err(Problem::LongText(self.run_start));
            }
            if self
                .element
                .is_some_and(|start| at - start > MAX_ELEMENT_BYTES)
            {
                return Err(Problem::LongText(at));
            }
            self.tags += 1;
            i = lt + 1;
            // As the XML reader tells them, by the bytes after `<!`: `-` a comment (ended by
            // `-->` after `<!--`), `[` a CDATA section, `D` a document type.
            let special = match (after[0], after.get(1)) {
                (b'!', Some(b'-')) => Some((&b"-->"[..], 4)),
                (b'!', Some(b'[')) => Some((&b"]]>"[..], 3)),
                (b'!', Some(b'D' | b'd')) => return Err(Problem::DocumentType),
                (b'?', _) => Some((&b"?>"[..], 1)),
                _ => None,
            };
            if let Some((end, after_opener)) = special {
                self.special = Some(Special {
                    start: at,
                    from: at + after_opener,
                    end,
                });
                continue;
            }
            let local = name_end.map(|end| {
                let name = &name[..end];
                name.rsplit(|b| *b == b':').next().unwrap_or(name)
            });
            let row = local == Some(b"row");
            self.tag = Some(Tag {
                start: at,
                quote: None,
                closing,
                cell: local.is_none_or(|local| local == b"c" || local == b"si"),
                row,
                // A cell's too: its reference is checked (see [`RowsSeen::cell_opened`]).
                kept: !closing && (row || local == Some(b"c")),
            });
        }
    }

    /// What a tag that has ended (`empty`: written `<…/>`) opens or closes.
    fn close_tag(&mut self, tag: Tag, empty: bool) -> Result<(), Problem> {
        if tag.closing {
            self.depth = self.depth.saturating_sub(1);
            if tag.cell {
                self.element = None;
            }
            if tag.row {
                self.rows.row_closed();
            }
            return Ok(());
        }
        if tag.cell {
            self.strings += u64::from(self.shared);
            if !empty && self.element.is_none() {
                self.element = Some(tag.start);
            }
        }
        if !empty {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(Problem::TooDeep);
            }
        }
        Ok(())
    }
}

/// Whether calamine holds a part whole (besides the shared strings): the workbook, its
/// relationships and the styles.
fn held_whole(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with("workbook.xml") || lower.ends_with(".rels") || lower.ends_with("styles.xml")
}

/// The error for a problem found in part `name` (number `index` of the archive).
pub(super) fn refusal(
    path: &Path,
    zip: &mut zip::ZipArchive<BufReader<File>>,
    name: &str,
    index: usize,
    problem: Problem,
) -> InputError {
    match problem {
        Problem::LongText(at) => oversized(path, zip, name, index, at),
        Problem::SharedText => InputError::Workbook {
            path: path.to_path_buf(),
            kind: "Excel",
            detail: format!(
                "its shared text ({name}) inflates to more than {} MB, {MAX_SHARED_STRINGS} \
                 strings or {MAX_SHARED_STRINGS_TAGS} tags, more than any contact list: it is \
                 damaged or built to exhaust memory",
                MAX_SHARED_STRINGS_BYTES >> 20,
            ),
            hint: "Open it in Excel and save it again, or export the sheet as CSV.",
        },
        Problem::SharedCount(count) => InputError::Workbook {
            path: path.to_path_buf(),
            kind: "Excel",
            detail: format!(
                "its shared text ({name}) says it holds {count} strings, more than any contact \
                 list (at most {MAX_SHARED_STRINGS}): it is damaged or built to exhaust memory"
            ),
            hint: "Open it in Excel and save it again, or export the sheet as CSV.",
        },
        Problem::PastLast(what) => InputError::Workbook {
            path: path.to_path_buf(),
            kind: "Excel",
            detail: format!(
                "its sheet {name} puts {what} past Excel's last row or column (the last cell is \
                 XFD{MAX_ROWS}): it is damaged or built to stall the reader"
            ),
            hint: "Open it in Excel and save it again, or export the sheet as CSV.",
        },
        Problem::DocumentType | Problem::TooDeep | Problem::TooMany => InputError::Workbook {
            path: path.to_path_buf(),
            kind: "Excel",
            detail: format!(
                "its part {name} {}, as no workbook does: it is damaged or built to exhaust \
                 memory",
                match problem {
                    Problem::DocumentType => "declares a document type (<!DOCTYPE>)".to_string(),
                    Problem::TooDeep => format!("nests elements more than {MAX_DEPTH} deep"),
                    _ => format!("holds more than {MAX_HELD_TAGS} tags"),
                }
            ),
            hint: "Open it in Excel and save it again, or export the sheet as CSV.",
        },
    }
}

fn part_name(part: &zip::read::ZipFile<'_, BufReader<File>>) -> String {
    part.name()
        .map(|name| name.into_owned())
        .unwrap_or_default()
}

/// Streams a part through a scanner, in blocks; an unreadable part passes (calamine then
/// says what is wrong with it).
fn scan(part: impl Read, scanner: &mut Scanner) -> Result<(), Problem> {
    let mut reader = BufReader::with_capacity(64 * 1024, part);
    loop {
        let Ok(buffer) = reader.fill_buf() else {
            return Ok(());
        };
        if buffer.is_empty() {
            return Ok(());
        }
        let length = buffer.len();
        scanner.feed(buffer)?;
        // Nobody asks a whole scan for hidden rows: they go as they come, not kept.
        drop(scanner.hidden_rows());
        reader.consume(length);
    }
}

/// The error for an oversized text at `at` in part `name`: the cell it is in, for a sheet;
/// a cell that uses it, for the shared strings.
fn oversized(
    path: &Path,
    zip: &mut zip::ZipArchive<BufReader<File>>,
    name: &str,
    index: usize,
    at: u64,
) -> InputError {
    let cell = if name.contains("worksheets/") {
        zip.by_index(index)
            .ok()
            .and_then(|part| cell_containing(part.take(at)))
    } else if name.ends_with("sharedStrings.xml") {
        let string = zip
            .by_index(index)
            .ok()
            .map(|part| count_tags(part.take(at), b"si"));
        string.and_then(|string| cell_using_shared_string(zip, string.checked_sub(1)?))
    } else {
        None
    };
    let message = |place: String| {
        format!(
            "{place} holds more than 1 MB of text, more than any contact field: the workbook \
             is damaged or built to exhaust memory. Open it in Excel, empty that cell and save \
             it again"
        )
    };
    match cell.as_deref().and_then(split_reference) {
        Some((column, row)) => InputError::Text {
            path: path.to_path_buf(),
            row: RowNumber(row),
            message: message(format!("column {column}")),
        },
        None => InputError::Workbook {
            path: path.to_path_buf(),
            kind: "Excel",
            detail: message(format!("its part {name}")),
            hint: "",
        },
    }
}

/// The reference (`B2`) of the last cell opened in this (cut-short) sheet part.
fn cell_containing(part: impl Read) -> Option<String> {
    let mut last = None;
    for_each_tag(part, |_, tag| {
        let (name, attributes) = tag_parts(tag);
        if name == b"c"
            && let Some(reference) = attribute(attributes, b"r")
        {
            last = Some(String::from_utf8_lossy(reference).into_owned());
        }
        true
    });
    last
}

/// How many `<name …>` tags open in this (cut-short) part.
fn count_tags(part: impl Read, wanted: &[u8]) -> usize {
    let mut count = 0;
    for_each_tag(part, |_, tag| {
        count += usize::from(tag_parts(tag).0 == wanted);
        true
    });
    count
}

/// The first cell of any sheet that shows shared string number `string`, looked for among
/// the first [`CELLS_LOOKED_AT`] tags of the sheets (a bomb's sheets may be endless): past
/// them, the error names the part instead.
fn cell_using_shared_string(
    zip: &mut zip::ZipArchive<BufReader<File>>,
    string: usize,
) -> Option<String> {
    let wanted = string.to_string();
    let mut budget = CELLS_LOOKED_AT;
    for index in 0..zip.len() {
        let part = zip.by_index(index).ok()?;
        if !part_name(&part).contains("worksheets/") {
            continue;
        }
        let (mut cell, mut shared, mut in_value, mut found) = (None, false, false, None);
        for_each_tag(part, |text, tag| {
            if in_value && shared && text == wanted.as_bytes() {
                found = cell.clone();
                return false;
            }
            budget = budget.saturating_sub(1);
            if budget == 0 {
                return false;
            }
            let (name, attributes) = tag_parts(tag);
            in_value = name == b"v";
            if name == b"c" {
                cell = attribute(attributes, b"r").map(|r| String::from_utf8_lossy(r).into_owned());
                shared = attribute(attributes, b"t") == Some(b"s");
            }
            true
        });
        if found.is_some() {
            return found;
        }
    }
    None
}

/// How many tags of the sheets are looked through for a cell that shows a shared string:
/// about a million cells, a second or so.
const CELLS_LOOKED_AT: u64 = 4 << 20;

/// `B12` → (`B`, 12).
fn split_reference(reference: &str) -> Option<(String, u64)> {
    let digits = reference.find(|c: char| c.is_ascii_digit())?;
    let (column, row) = reference.split_at(digits);
    let row = row.parse().ok()?;
    (!column.is_empty()).then(|| (column.to_string(), row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_stretches_without_markup_are_found_where_they_start() {
        let scanned = |bytes: &[u8]| scan(bytes, &mut Scanner::new("xl/worksheets/sheet1.xml"));
        let short = b"<a>text</a><b x=\"1\"/>".repeat(1000);
        assert_eq!(scanned(&short[..]), Ok(()));
        let mut long = b"<row><c r=\"B2\"><is><t>".to_vec();
        let start = long.len() as u64;
        // A `>` is allowed in text: it must not reset the count.
        for _ in 0..4 {
            long.extend(std::iter::repeat_n(b'A', (MAX_CELL_BYTES / 3) as usize));
            long.push(b'>');
        }
        long.extend_from_slice(b"</t></is></c></row>");
        // The stretch starts just after the last tag, `<t>`.
        assert_eq!(scanned(&long[..]), Err(Problem::LongText(start)));
        assert_eq!(cell_containing(&long[..start as usize]), Some("B2".into()));
        // Fed in blocks of any size, the same.
        let mut scanner = Scanner::new("xl/worksheets/sheet1.xml");
        let fed = long.chunks(4093).try_for_each(|block| scanner.feed(block));
        assert_eq!(fed, Err(Problem::LongText(start)));
        // A binary part not named as XML may be an image, not markup, when calamine may not
        // read it; a part calamine reads is markup whatever it holds.
        let mut binary = vec![0x89, b'P', b'N', b'G', 0, 0, 0, 13];
        binary.extend(std::iter::repeat_n(b'A', (2 * MAX_CELL_BYTES) as usize));
        assert_eq!(scanned(&binary[..]), Err(Problem::LongText(0)));
        let any = |name: &str| scan(&binary[..], &mut Scanner::for_any_part(name));
        assert_eq!(any("xl/media/image1.png"), Ok(()));
        assert_eq!(any("xl/worksheets/sheet1.xml"), Err(Problem::LongText(0)));
        // The shared strings are bounded as a whole: in tags, here.
        let strings = b"<si><t>a</t></si>".repeat(1 << 16);
        let mut scanner = Scanner::new("xl/SharedStrings.xml");
        let fed = (0..70).try_for_each(|_| scanner.feed(&strings));
        assert_eq!(fed, Err(Problem::SharedText));
        let mut scanner = Scanner::new("xl/worksheets/sheet1.xml");
        assert_eq!((0..70).try_for_each(|_| scanner.feed(&strings)), Ok(()));
        // And in strings: empty ones are one tag each, but still a text each.
        let empty = b"<si/>".repeat(1 << 16);
        let mut scanner = Scanner::new("xl/sharedStrings.xml");
        let fed = (0..65).try_for_each(|_| scanner.feed(&empty));
        assert_eq!(fed, Err(Problem::SharedText));
    }

    /// What scanning `bytes` as a sheet finds, fed in blocks of `size` bytes.
    fn scanned_in(bytes: &[u8], size: usize) -> Result<(), Problem> {
        let mut scanner = Scanner::new("xl/worksheets/sheet1.xml");
        bytes.chunks(size).try_for_each(|block| scanner.feed(block))
    }

    #[test]
    fn what_the_xml_reader_holds_whole_is_bounded_however_it_is_cut() {
        let big = (MAX_CELL_BYTES + 10) as usize;
        // A `<` every few bytes inside a comment, a CDATA section or a processing instruction
        // does not end it: the reader holds it whole.
        for (open, close) in [("<!--", "-->"), ("<![CDATA[", "]]>"), ("<?pi ", "?>")] {
            let mut part = format!("<sheetData><row r=\"1\">{open}").into_bytes();
            let start = part.len() - open.len();
            part.extend(b"a < b ".repeat(big / 6));
            part.extend(close.as_bytes());
            part.extend(b"</row></sheetData>");
            for size in [7, 4096, 1 << 16] {
                assert_eq!(
                    scanned_in(&part, size),
                    Err(Problem::LongText(start as u64)),
                    "{open} in blocks of {size}"
                );
            }
            // A short one, cut anywhere, passes.
            let short = format!("<a>{open}x<y>z{close}</a>").repeat(1000);
            for size in [1, 2, 3, 5, 64, 4096] {
                assert_eq!(
                    scanned_in(short.as_bytes(), size),
                    Ok(()),
                    "{open} / {size}"
                );
            }
        }
        // 40 texts of 64 KB, each between `open` and `close`.
        let texts =
            |open: &[u8], close: &[u8]| [open, &[b'A'; 64 << 10][..], close].concat().repeat(40);
        // A cell of rich text in many runs, each small: calamine makes one text of them.
        let cell = [
            &b"<row r=\"3\"><c r=\"D3\" t=\"inlineStr\"><is>"[..],
            &texts(b"<r><t>", b"</t></r>"),
            b"</is></c></row>",
        ]
        .concat();
        let Err(Problem::LongText(at)) = scanned_in(&cell, 1 << 16) else {
            panic!("a rich text cell over 2 MB passed");
        };
        assert_eq!(cell_containing(&cell[..at as usize]), Some("D3".into()));
        // A row of many such cells (2.5 MB in all), and cells written `<c/>`, pass.
        let row = [
            &b"<row r=\"4\"><c r=\"A4\"/>"[..],
            &texts(b"<c><is><t>", b"</t></is></c><c/>"),
            b"</row><x:row><x:c r=\"B5\"/></x:row>",
            &b"<!-- a note after the rows -->".repeat(1000),
        ]
        .concat();
        assert_eq!(scanned_in(&row, 1 << 16), Ok(()));
        // A shared string of many runs is bounded as a cell is.
        let strings = [
            &b"<sst><si><r><t>a</t></r>"[..],
            &texts(b"<r><t>", b"</t></r>"),
        ]
        .concat();
        let mut scanner = Scanner::new("xl/sharedStrings.xml");
        let fed = strings
            .chunks(1 << 16)
            .try_for_each(|block| scanner.feed(block));
        assert!(matches!(fed, Err(Problem::LongText(_))), "{fed:?}");
    }

    #[test]
    fn the_scan_reads_markup_as_the_xml_reader_does() {
        let sheet = |bytes: &[u8]| scanned_in(bytes, 1 << 16);
        let two_mb = |unit: &[u8]| unit.repeat((2 << 20) / unit.len());
        // `<!-->` is not a whole comment to the reader: it reads on to the next `-->`.
        let comment = [&b"<sheetData><!-->"[..], &two_mb(b"a<b "), b"-->"].concat();
        assert_eq!(sheet(&comment), Err(Problem::LongText(11)));
        // `<!` and one byte: `-` a comment, `[` CDATA, `D` a document type (refused).
        let cdata = [&b"<sheetData><![x"[..], &two_mb(b"a<b "), b"]]>"].concat();
        assert_eq!(sheet(&cdata), Err(Problem::LongText(11)));
        let doctype = b"<!DOCTYPE x [<!ENTITY a 'b'>]><sheetData/>".repeat(2);
        assert_eq!(sheet(&doctype), Err(Problem::DocumentType));
        // A `<` inside a tag does not end it: the reader reads a tag to its `>`.
        let tag = [&b"<sheetData><a x=\""[..], &two_mb(b"<<"), b"\">"].concat();
        assert_eq!(sheet(&tag), Err(Problem::LongText(11)));
        // Runs of `<` are refused as one long tag, in one pass (not a pass for each).
        assert_eq!(sheet(&two_mb(b"<")), Err(Problem::LongText(0)));
        assert_eq!(sheet(&two_mb(b"<a")), Err(Problem::LongText(0)));
        // A cell's bound is not restarted by a `<c/>` or a row inside its text.
        let cell = [
            &b"<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>"[..],
            &[&[b'A'; 60 << 10][..], b"<c/><row/>"].concat().repeat(40),
            b"</t></is></c></row>",
        ]
        .concat();
        assert!(matches!(sheet(&cell), Err(Problem::LongText(_))));
        // Elements nested deeper than any workbook's.
        assert_eq!(sheet(&b"<a>".repeat(2000)), Err(Problem::TooDeep));
        assert_eq!(sheet(&b"<a/>".repeat(2000)), Ok(()));
        // The parts calamine holds whole are bounded in tags.
        let mut workbook = Scanner::new("xl/workbook.xml");
        let sheets = b"<sheet name=\"a\"/>".repeat(1 << 16);
        let fed = (0..10).try_for_each(|_| workbook.feed(&sheets));
        assert_eq!(fed, Err(Problem::TooMany));
    }

    #[test]
    fn a_text_of_1_mb_ending_at_a_block_end_passes() {
        // The `<` that ends it lands 16 bytes before a block's end, where the scan waits for
        // the next block to see what it opens.
        let opening = b"<row r=\"1\"><c r=\"B1\" t=\"inlineStr\"><is><t>";
        let text = (16 << 16) - 16 - opening.len();
        assert!(text as u64 <= MAX_CELL_BYTES);
        let part = [&opening[..], &vec![b'A'; text], b"</t></is></c></row>"].concat();
        assert_eq!(scanned_in(&part, 1 << 16), Ok(()));
    }

    #[test]
    fn the_declared_count_is_read_as_calamine_reads_it() {
        let declared = |text: &str| declared_strings(text.as_bytes());
        // `count` is how many cells use a string, not how many strings there are.
        assert_eq!(
            declared(r#"<sst count="4500006" uniqueCount="3"/>"#),
            Ok(())
        );
        let refused = Err(Problem::SharedCount(10_000_000_000));
        assert_eq!(declared(r#"<sst uniqueCount='10000000000'>"#), refused);
        assert_eq!(declared(r#"<sst uniqueCount = "+10000000000">"#), refused);
        // A tag inside a comment before it is not the element.
        let decoy = r#"<!-- x ><sst uniqueCount="1"> --><x:sst uniqueCount="10000000000">"#;
        assert_eq!(declared(decoy), refused);
        let endless = Err(Problem::SharedCount(u64::MAX));
        assert_eq!(
            declared(&format!(r#"<sst uniqueCount="{}">"#, "9".repeat(60))),
            endless
        );
    }

    #[test]
    fn hidden_rows_are_found_however_the_blocks_cut_their_tags() {
        // Row and cell tags longer than what a block keeps of the one before.
        let long = "x".repeat(300);
        let sheet = format!(
            "<worksheet><sheetData><row r=\"1\"><c r=\"A1\"/></row>\
             <row r=\"2\" hidden=\"1\" spans=\"1:2\" note=\"{long}\"><c r=\"A2\"><v>1</v></c></row>\
             <row r=\"3\" note=\"{long}\"><c r=\"A3\"/></row>\
             <x:row hidden='true' ht=\"15\"><x:c r=\"A4\"/></x:row>\
             <row r=\"6\" hidden=\"1\"/><row r=\"7\" hidden=\"0\"><c/></row>\
             <row note=\"{long}\" hidden=\"1\"><c/></row>\
             <row r=\"9\" hidden=\"1\"><c note=\"{long}\" r=\"A10\"/></row></sheetData></worksheet>"
        );
        for size in (1..200).chain([sheet.len()]) {
            let mut scanner = Scanner::new("xl/worksheets/sheet1.xml");
            let mut found = Vec::new();
            for block in sheet.as_bytes().chunks(size) {
                scanner.feed(block).expect("an ordinary sheet");
                found.extend(scanner.hidden_rows());
            }
            assert_eq!(found, [2, 4, 8, 10], "in blocks of {size}");
        }
    }

    #[test]
    fn a_reference_is_its_column_and_its_row() {
        assert_eq!(split_reference("AB12"), Some(("AB".into(), 12)));
        assert_eq!(split_reference("12"), None);
    }

    #[test]
    fn a_whole_scan_keeps_no_hidden_rows() {
        let rows = "<row hidden=\"1\"><c/></row>".repeat(100_000);
        let sheet = format!("<worksheet><sheetData>{rows}</sheetData></worksheet>");
        let mut scanner = Scanner::new("xl/worksheets/sheet1.xml");
        assert_eq!(scan(sheet.as_bytes(), &mut scanner), Ok(()));
        assert_eq!(scanner.hidden_rows(), Vec::<u64>::new(), "none piled up");
    }
}
