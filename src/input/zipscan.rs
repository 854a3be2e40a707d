//! A look inside a zipped workbook (XLSX, ODS) before calamine opens it, so that no cell can
//! make it exhaust memory.
//!
//! calamine holds a cell's whole text in memory (and its shared strings all at once), so a
//! 1 MB file whose one cell inflates to a gigabyte — a zip bomb — would take gigabytes. Every
//! XML part is streamed through once here, in small buffers, measuring the longest stretch
//! between two markup characters; a stretch over [`MAX_CELL_BYTES`] is refused, naming the
//! row and column where it can be found. Workbooks of many ordinary rows pass untouched: it is
//! the size of one text that is bounded, not the size of the sheet.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::{InputError, RowNumber};

/// No cell may hold more text than this; a contact card's request is at most 100 KB.
pub(super) const MAX_CELL_BYTES: u64 = 1 << 20;

/// Refuses a workbook one of whose XML parts holds a text (or a tag) over
/// [`MAX_CELL_BYTES`]. A file that is not a readable zip passes: calamine then says what is
/// wrong with it.
pub(super) fn check(path: &Path) -> Result<(), InputError> {
    let opened = File::open(path).ok().map(BufReader::new);
    let Some(mut zip) = opened.and_then(|file| zip::ZipArchive::new(file).ok()) else {
        return Ok(());
    };
    for index in 0..zip.len() {
        let Ok(entry) = zip.by_index(index) else {
            continue;
        };
        let name = part_name(&entry);
        if !name.to_ascii_lowercase().ends_with(".xml") {
            continue;
        }
        let Some(at) = longest_text_over_limit(entry).unwrap_or(None) else {
            continue;
        };
        return Err(oversized(path, &mut zip, &name, index, at));
    }
    Ok(())
}

fn part_name(part: &zip::read::ZipFile<'_, BufReader<File>>) -> String {
    part.name()
        .map(|name| name.into_owned())
        .unwrap_or_default()
}

/// Where the first stretch of more than [`MAX_CELL_BYTES`] without `<` or `>` starts.
fn longest_text_over_limit(part: impl Read) -> std::io::Result<Option<u64>> {
    let mut reader = BufReader::with_capacity(64 * 1024, part);
    let mut offset = 0u64;
    let mut run_start = 0u64;
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(None);
        }
        let length = buffer.len();
        let mut last = None;
        for position in memchr::memchr2_iter(b'<', b'>', buffer) {
            let at = offset + position as u64;
            if at - run_start > MAX_CELL_BYTES {
                return Ok(Some(run_start));
            }
            last = Some(at + 1);
        }
        if let Some(next) = last {
            run_start = next;
        }
        offset += length as u64;
        if offset - run_start > MAX_CELL_BYTES {
            return Ok(Some(run_start));
        }
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

/// Reads an XML part tag by tag: for each tag, its text (name and attributes) and the text
/// before it. The part must hold no text over [`MAX_CELL_BYTES`] (see [`check`]), or be cut
/// short before one.
fn for_each_tag(part: impl Read, mut visit: impl FnMut(&[u8], &[u8]) -> bool) {
    let mut reader = BufReader::new(part);
    let (mut text, mut tag) = (Vec::new(), Vec::new());
    loop {
        text.clear();
        tag.clear();
        if reader.read_until(b'<', &mut text).unwrap_or(0) == 0
            || reader.read_until(b'>', &mut tag).unwrap_or(0) == 0
        {
            return;
        }
        let text = text.strip_suffix(b"<").unwrap_or(&text);
        let tag = tag.strip_suffix(b">").unwrap_or(&tag);
        if !visit(text, tag) {
            return;
        }
    }
}

/// A tag's local name (without a namespace prefix) and its attributes.
fn tag_parts(tag: &[u8]) -> (&[u8], &[u8]) {
    let end = tag
        .iter()
        .position(|b| b.is_ascii_whitespace() || *b == b'/')
        .unwrap_or(tag.len());
    let name = &tag[..end];
    let local = name.rsplit(|b| *b == b':').next().unwrap_or(name);
    (local, &tag[end..])
}

/// The value of attribute `name` in a tag's attributes.
fn attribute<'t>(attributes: &'t [u8], name: &[u8]) -> Option<&'t [u8]> {
    let mut rest = attributes;
    loop {
        let at = memchr::memmem::find(rest, name)?;
        let before_ok = at == 0 || rest[at - 1].is_ascii_whitespace();
        let after = &rest[at + name.len()..];
        if before_ok && after.starts_with(b"=\"") {
            let value = &after[2..];
            let end = memchr::memchr(b'"', value)?;
            return Some(&value[..end]);
        }
        rest = after;
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

/// The first cell of any sheet that shows shared string number `string`.
fn cell_using_shared_string(
    zip: &mut zip::ZipArchive<BufReader<File>>,
    string: usize,
) -> Option<String> {
    let wanted = string.to_string();
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
    fn long_stretches_between_markup_are_found_where_they_start() {
        let short = b"<a>text</a><b x=\"1\"/>".repeat(1000);
        assert_eq!(longest_text_over_limit(&short[..]).unwrap(), None);
        let mut long = b"<row><c r=\"B2\"><is><t>".to_vec();
        let start = long.len() as u64;
        long.extend(std::iter::repeat_n(b'A', (MAX_CELL_BYTES + 10) as usize));
        long.extend_from_slice(b"</t></is></c></row>");
        assert_eq!(longest_text_over_limit(&long[..]).unwrap(), Some(start));
        assert_eq!(cell_containing(&long[..start as usize]), Some("B2".into()));
    }

    #[test]
    fn tags_and_attributes_are_read_with_or_without_a_namespace() {
        assert_eq!(
            tag_parts(b"x:c r=\"A1\" t=\"s\""),
            (&b"c"[..], &b" r=\"A1\" t=\"s\""[..])
        );
        assert_eq!(attribute(b" tr=\"9\" r=\"C7\"", b"r"), Some(&b"C7"[..]));
        assert_eq!(split_reference("AB12"), Some(("AB".into(), 12)));
        let sheet = b"<c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\" t=\"s\"><v>3</v></c>";
        let mut found = None;
        let (mut cell, mut value) = (None, false);
        for_each_tag(&sheet[..], |text, tag| {
            if value && text == b"3" {
                found = cell.clone();
            }
            let (name, attributes) = tag_parts(tag);
            value = name == b"v";
            if name == b"c" {
                cell = attribute(attributes, b"r").map(|r| r.to_vec());
            }
            true
        });
        assert_eq!(found, Some(b"B1".to_vec()));
    }
}
