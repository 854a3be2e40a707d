//! XML tags read as calamine's XML reader (quick-xml) reads them, for what greenbulk looks
//! at itself: a part read tag by tag ([`for_each_tag`]), a tag's name and attributes
//! ([`tag_parts`], [`attribute`]). Used by the zip-bomb scan ([`super::zipscan`]) and the
//! search for hidden rows ([`super::hidden`]).

use std::io::{BufRead, BufReader, Read};

use super::MAX_CELL_BYTES;

/// Reads an XML part tag by tag: for each tag, its text (name and attributes) and the text
/// before it. Stops at a text or tag over [`MAX_CELL_BYTES`], so memory stays bounded on a
/// part not scanned yet.
pub(super) fn for_each_tag(part: impl Read, mut visit: impl FnMut(&[u8], &[u8]) -> bool) {
    let mut reader = BufReader::new(part);
    let (mut text, mut tag) = (Vec::new(), Vec::new());
    let mut read_until = |delimiter: u8, out: &mut Vec<u8>| {
        let read = (&mut reader)
            .take(MAX_CELL_BYTES)
            .read_until(delimiter, out)
            .unwrap_or(0);
        read > 0 && out.last() == Some(&delimiter)
    };
    loop {
        text.clear();
        tag.clear();
        if !read_until(b'<', &mut text) || !read_until(b'>', &mut tag) {
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
pub(super) fn tag_parts(tag: &[u8]) -> (&[u8], &[u8]) {
    let (name, attributes) = qualified_parts(tag);
    let local = name.rsplit(|b| *b == b':').next().unwrap_or(name);
    (local, attributes)
}

/// A tag's name with its prefix (`table:table-row`), and its attributes.
pub(super) fn qualified_parts(tag: &[u8]) -> (&[u8], &[u8]) {
    let end = tag
        .iter()
        .position(|b| b.is_ascii_whitespace() || *b == b'/')
        .unwrap_or(tag.len());
    tag.split_at(end)
}

/// The value of attribute `name` (as written, prefix and all) among a tag's attributes,
/// read one after the other as the XML reader reads them: in either quotes, with spaces
/// around the `=`, and never out of another attribute's value.
pub(super) fn attribute<'t>(attributes: &'t [u8], name: &[u8]) -> Option<&'t [u8]> {
    let mut rest = attributes;
    loop {
        rest = rest.trim_ascii_start();
        let equals = memchr::memchr(b'=', rest)?;
        let key = rest[..equals].trim_ascii_end();
        let after = rest[equals + 1..].trim_ascii_start();
        let quote = *after.first().filter(|q| matches!(q, b'"' | b'\''))?;
        let length = memchr::memchr(quote, &after[1..])?;
        if key == name {
            return Some(&after[1..1 + length]);
        }
        rest = &after[length + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_attributes_are_read_with_or_without_a_namespace() {
        assert_eq!(
            tag_parts(b"x:c r=\"A1\" t=\"s\""),
            (&b"c"[..], &b" r=\"A1\" t=\"s\""[..])
        );
        assert_eq!(attribute(b" tr=\"9\" r=\"C7\"", b"r"), Some(&b"C7"[..]));
        assert_eq!(attribute(b" t = 's' r='C7' /", b"r"), Some(&b"C7"[..]));
        assert_eq!(attribute(b" n='a r=\"C7\"'", b"r"), None, "inside a value");
        assert_eq!(attribute(b" x:r=\"C7\"", b"r"), None);
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
