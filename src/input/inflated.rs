//! An XLSX archive as calamine reads it: the same parts, but stored rather than deflated,
//! each inflated on a thread of its own while calamine reads it, and scanned on the way.
//!
//! calamine reads a sheet on one thread, and inflating it was a tenth of that thread's work;
//! the scan for zip bombs ([`zipscan`]) inflated every part once more before calamine could
//! begin. Here the archive calamine opens is laid out in memory — its headers and directory,
//! every part marked stored at its inflated size, with its own CRC — and a part's bytes are
//! made as calamine reads them: a thread inflates the part from the workbook, runs each block
//! through [`zipscan::Scanner`], and hands it over. A block reaches calamine only once it has
//! passed the scan, so no cell can make calamine hold more than the scan allows, as before.
//! A problem found stops the part with an error, and [`FoundSlot::refusal`] says what it was
//! (the cell, as [`zipscan`] says it). The shared strings, which calamine holds whole, are
//! scanned whole before it opens the archive.
//!
//! Archives this layout cannot copy (ZIP64 sizes, other compression methods, encryption, more
//! than 65,535 parts or 1 MB of names) are not laid out: the caller scans them whole and lets
//! calamine read the file itself.

use crate::positioned::read_at;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use super::InputError;
use super::hidden::HiddenRows;
use super::zipscan::{self, Problem, Scanner};

/// How much of a part a thread inflates ahead of calamine: blocks of this size, a few of them.
const BLOCK: usize = 64 * 1024;
const BLOCKS_AHEAD: usize = 4;

/// The most bytes of part names laid out: a workbook's names are a few kilobytes; an archive
/// with more is read as it is (after a whole scan).
const MAX_NAMES_BYTES: usize = 1 << 20;

/// The stack of a thread inflating a part: the inflater's state and window are on the heap.
const INFLATE_STACK: usize = 256 * 1024;

/// How far back from its end a zip reader looks for the end of an archive's directory: the
/// record (22 bytes) and the longest comment it may have.
const LOOKED_AT_FOR_THE_END: u64 = 22 + 4 + (1 << 16);

/// The archive calamine reads (see the module's documentation).
pub(super) struct Inflated {
    workbook: Arc<Path>,
    /// The workbook's own archive, its directory read once: each part's thread reads it
    /// through a clone (the directory shared, the file read at a place of its own).
    zip: zip::ZipArchive<At>,
    /// The headers and the directory, where [`Piece::Meta`] points.
    meta: Vec<u8>,
    /// What the archive holds from each place on, in order.
    pieces: Vec<Piece>,
    length: u64,
    position: u64,
    /// The part being inflated for calamine, if any.
    stream: Option<Stream>,
    /// The first problem a scan found.
    found: Arc<Mutex<Option<Found>>>,
    /// The hidden rows the scan of the part being read found.
    hidden: Arc<HiddenRows>,
}

#[derive(Debug, Clone, Copy)]
struct Piece {
    /// Where it starts in the archive.
    start: u64,
    length: u64,
    what: What,
}

#[derive(Debug, Clone, Copy)]
enum What {
    /// Bytes of [`Inflated::meta`], from this place.
    Meta(usize),
    /// The inflated bytes of the workbook's part with this index.
    Part(usize),
    /// Zeros between the last part and the directory.
    Zeros,
}

/// A problem a scan found in a part.
#[derive(Debug, Clone)]
struct Found {
    index: usize,
    name: String,
    problem: Problem,
}

/// One part, inflated for calamine by a thread of its own.
struct Stream {
    index: usize,
    /// How far into the part calamine has read.
    at: u64,
    blocks: Receiver<std::io::Result<Vec<u8>>>,
    block: Vec<u8>,
    used: usize,
}

/// One part of the workbook, as its directory describes it.
struct Entry {
    name: String,
    crc: u32,
    size: u32,
}

impl Inflated {
    /// Lays out the archive of the workbook at `path`; none when it cannot be laid out (not a
    /// readable zip, or one this layout cannot copy). Its shared strings, which calamine holds
    /// all at once, are scanned whole first, as [`zipscan::check`] scans every part: a bomb
    /// there is refused before calamine holds any of it.
    pub(super) fn open(path: &Path) -> Result<Option<Inflated>, InputError> {
        let Ok(file) = File::open(path) else {
            return Ok(None);
        };
        let at = At {
            file: Arc::new(file),
            position: 0,
        };
        let Ok(mut zip) = zip::ZipArchive::new(at) else {
            return Ok(None);
        };
        let Some(entries) = Inflated::entries(&mut zip) else {
            return Ok(None);
        };
        for (index, entry) in entries.iter().enumerate() {
            if zipscan::is_shared_strings(&entry.name) {
                zipscan::check_part(path, index)?;
            }
        }
        Ok(Inflated::lay_out(path, zip, &entries))
    }

    /// What the layout needs of each part; none when a part cannot be copied (another
    /// compression method, encryption, a size of 4 GB or more) or the names are too long to
    /// be a workbook's.
    fn entries(zip: &mut zip::ZipArchive<At>) -> Option<Vec<Entry>> {
        if zip.len() > usize::from(u16::MAX) {
            return None;
        }
        let mut entries = Vec::with_capacity(zip.len());
        let mut names = 0;
        for index in 0..zip.len() {
            let part = zip.by_index_raw(index).ok()?;
            let method = part.compression();
            let copied = matches!(
                method,
                zip::CompressionMethod::Stored | zip::CompressionMethod::Deflated
            );
            let name = part.name().ok()?.into_owned();
            names += name.len();
            if !copied || part.encrypted() || names > MAX_NAMES_BYTES {
                return None;
            }
            entries.push(Entry {
                name,
                crc: part.crc32(),
                size: u32::try_from(part.size()).ok().filter(|s| *s < u32::MAX)?,
            });
        }
        Some(entries)
    }

    /// The headers, the parts and the directory of a stored archive of `entries`.
    fn lay_out(path: &Path, zip: zip::ZipArchive<At>, entries: &[Entry]) -> Option<Inflated> {
        let mut meta = Vec::new();
        let mut pieces = Vec::with_capacity(2 * entries.len() + 1);
        let mut at = 0u64;
        let mut offsets = Vec::with_capacity(entries.len());
        // The bytes of `meta` from `from` on, as the next piece.
        let add_meta = |meta: &[u8], pieces: &mut Vec<Piece>, at: &mut u64, from: usize| {
            let length = (meta.len() - from) as u64;
            pieces.push(Piece {
                start: *at,
                length,
                what: What::Meta(from),
            });
            *at += length;
        };
        for (index, entry) in entries.iter().enumerate() {
            offsets.push(u32::try_from(at).ok()?);
            let before = meta.len();
            local_header(&mut meta, entry);
            add_meta(&meta, &mut pieces, &mut at, before);
            if entry.size > 0 {
                pieces.push(Piece {
                    start: at,
                    length: u64::from(entry.size),
                    what: What::Part(index),
                });
                at += u64::from(entry.size);
            }
        }
        // The zip reader looks for the directory's end in the archive's last 64 KB: zeros
        // there, rather than a part it would have to inflate to get there.
        pieces.push(Piece {
            start: at,
            length: LOOKED_AT_FOR_THE_END,
            what: What::Zeros,
        });
        at += LOOKED_AT_FOR_THE_END;
        let directory_at = u32::try_from(at).ok()?;
        let before = meta.len();
        for (entry, offset) in entries.iter().zip(&offsets) {
            directory_header(&mut meta, entry, *offset);
        }
        let directory_size = (meta.len() - before) as u32;
        let count = entries.len() as u16;
        meta.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        meta.extend_from_slice(&[0; 4]); // this disk, the directory's disk
        meta.extend_from_slice(&count.to_le_bytes());
        meta.extend_from_slice(&count.to_le_bytes());
        meta.extend_from_slice(&directory_size.to_le_bytes());
        meta.extend_from_slice(&directory_at.to_le_bytes());
        meta.extend_from_slice(&[0; 2]); // no comment
        add_meta(&meta, &mut pieces, &mut at, before);
        u32::try_from(at).ok()?;
        Some(Inflated {
            workbook: Arc::from(path),
            zip,
            meta,
            pieces,
            length: at,
            position: 0,
            stream: None,
            found: Arc::default(),
            hidden: Arc::default(),
        })
    }

    /// Where a scan's problem will be found once calamine stops on it.
    pub(super) fn found_slot(&self) -> FoundSlot {
        FoundSlot {
            workbook: self.workbook.to_path_buf(),
            found: self.found.clone(),
            hidden: self.hidden.clone(),
        }
    }

    fn piece_at(&self, position: u64) -> Option<Piece> {
        let after = self.pieces.partition_point(|piece| piece.start <= position);
        let piece = *self.pieces.get(after.checked_sub(1)?)?;
        (position < piece.start + piece.length).then_some(piece)
    }

    /// The stream of part `index`, `at` bytes in: the one going on if it is there (or
    /// before it), else a new one, read up to there.
    fn stream_at(&mut self, index: usize, at: u64) -> std::io::Result<&mut Stream> {
        let going_on = self
            .stream
            .as_ref()
            .is_some_and(|stream| stream.index == index && stream.at <= at);
        if !going_on {
            // A problem found in a part calamine has moved on from is not the reason for
            // anything that goes wrong from here: calamine passed over it (a theme it does
            // not need, say), and the scan had stopped it holding the part.
            if let Ok(mut found) = self.found.lock() {
                *found = None;
            }
            // Nor are its hidden rows this part's.
            self.hidden.reading(index);
            self.stream = Some(Stream::start(
                self.zip.clone(),
                index,
                self.found.clone(),
                self.hidden.clone(),
            ));
        }
        let stream = self.stream.as_mut().expect("set above");
        let mut skipped = [0u8; 4096];
        while stream.at < at {
            let wanted = (at - stream.at).min(skipped.len() as u64) as usize;
            if stream.read(&mut skipped[..wanted])? == 0 {
                return Err(ended_early());
            }
        }
        Ok(stream)
    }
}

/// What a scan found, kept where the reader of calamine's errors can ask for it (the archive
/// itself moves to calamine's thread), and the hidden rows it found.
#[derive(Debug, Clone)]
pub(super) struct FoundSlot {
    workbook: PathBuf,
    found: Arc<Mutex<Option<Found>>>,
    hidden: Arc<HiddenRows>,
}

impl FoundSlot {
    /// The rows the part calamine reads hides (see [`HiddenRows`]).
    pub(super) fn hidden_rows(&self) -> &HiddenRows {
        &self.hidden
    }

    /// What a scan found, as the error for the user, if it found anything.
    pub(super) fn refusal(&self) -> Option<InputError> {
        let Found {
            index,
            name,
            problem,
        } = self.found.lock().ok()?.clone()?;
        let mut zip = zipscan::archive(&self.workbook)?;
        Some(zipscan::refusal(
            &self.workbook,
            &mut zip,
            &name,
            index,
            problem,
        ))
    }
}

fn ended_early() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "a part of the workbook is shorter than its directory says",
    )
}

/// A local file header: version 2.0, names in UTF-8, stored, no time, no extra field.
fn local_header(out: &mut Vec<u8>, entry: &Entry) {
    out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    common_fields(out, entry);
    out.extend_from_slice(&[0; 2]); // no extra field
    out.extend_from_slice(entry.name.as_bytes());
}

/// A directory's header of a part whose local header is at `offset`.
fn directory_header(out: &mut Vec<u8>, entry: &Entry, offset: u32) {
    out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    out.extend_from_slice(&20u16.to_le_bytes()); // made by version 2.0
    common_fields(out, entry);
    out.extend_from_slice(&[0; 2]); // no extra field
    out.extend_from_slice(&[0; 2]); // no comment
    out.extend_from_slice(&[0; 2]); // disk 0
    out.extend_from_slice(&[0; 2]); // internal attributes
    out.extend_from_slice(&[0; 4]); // external attributes
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(entry.name.as_bytes());
}

/// The fields both headers share, from the version needed to the name's length.
fn common_fields(out: &mut Vec<u8>, entry: &Entry) {
    out.extend_from_slice(&20u16.to_le_bytes()); // version needed: 2.0
    out.extend_from_slice(&(1u16 << 11).to_le_bytes()); // the name is UTF-8
    out.extend_from_slice(&0u16.to_le_bytes()); // stored
    out.extend_from_slice(&0u16.to_le_bytes()); // 00:00:00
    out.extend_from_slice(&0x21u16.to_le_bytes()); // 1980-01-01
    out.extend_from_slice(&entry.crc.to_le_bytes());
    out.extend_from_slice(&entry.size.to_le_bytes());
    out.extend_from_slice(&entry.size.to_le_bytes());
    out.extend_from_slice(&(entry.name.len() as u16).to_le_bytes());
}

impl Read for Inflated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let Some(piece) = self.piece_at(self.position) else {
            return Ok(0);
        };
        let into = (piece.start + piece.length - self.position).min(buf.len() as u64) as usize;
        let buf = &mut buf[..into];
        let read = match piece.what {
            What::Meta(from) => {
                let from = from + (self.position - piece.start) as usize;
                buf.copy_from_slice(&self.meta[from..from + buf.len()]);
                buf.len()
            }
            What::Zeros => {
                buf.fill(0);
                buf.len()
            }
            What::Part(index) => {
                let stream = self.stream_at(index, self.position - piece.start)?;
                match stream.read(buf)? {
                    0 => return Err(ended_early()),
                    read => read,
                }
            }
        };
        self.position += read as u64;
        Ok(read)
    }
}

impl Seek for Inflated {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.position = sought(to, self.position, self.length)?;
        Ok(self.position)
    }
}

/// Where a seek from `position` in `length` bytes lands.
fn sought(to: SeekFrom, position: u64, length: u64) -> std::io::Result<u64> {
    let landed = match to {
        SeekFrom::Start(at) => Some(at),
        SeekFrom::End(by) => length.checked_add_signed(by),
        SeekFrom::Current(by) => position.checked_add_signed(by),
    };
    landed.ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "a seek before the start of the workbook",
        )
    })
}

impl Stream {
    /// Starts a thread inflating part `index` of the workbook.
    fn start(
        mut zip: zip::ZipArchive<At>,
        index: usize,
        found: Arc<Mutex<Option<Found>>>,
        hidden: Arc<HiddenRows>,
    ) -> Stream {
        let (sender, blocks) = std::sync::mpsc::sync_channel(BLOCKS_AHEAD);
        let spawned = std::thread::Builder::new()
            .name("inflate".into())
            .stack_size(INFLATE_STACK)
            .spawn(move || {
                if let Err(error) = inflate(&mut zip, index, &sender, &found, &hidden) {
                    let _ = sender.send(Err(error));
                }
            });
        if let Err(error) = spawned {
            // No thread: the stream ends with the reason.
            let (sender, failed) = std::sync::mpsc::sync_channel(1);
            let error = std::io::Error::new(
                error.kind(),
                format!("no thread could be started to inflate the workbook ({error})"),
            );
            let _ = sender.send(Err(error));
            return Stream::over(index, failed);
        }
        Stream::over(index, blocks)
    }

    fn over(index: usize, blocks: Receiver<std::io::Result<Vec<u8>>>) -> Stream {
        Stream {
            index,
            at: 0,
            blocks,
            block: Vec::new(),
            used: 0,
        }
    }

    /// The next bytes of the part; none at its end.
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.used == self.block.len() {
            match self.blocks.recv() {
                Ok(Ok(block)) => {
                    self.block = block;
                    self.used = 0;
                }
                Ok(Err(error)) => return Err(error),
                Err(_) => return Ok(0),
            }
        }
        let read = (self.block.len() - self.used).min(buf.len());
        buf[..read].copy_from_slice(&self.block[self.used..self.used + read]);
        self.used += read;
        self.at += read as u64;
        Ok(read)
    }
}

/// Inflates part `index` of the workbook into blocks, each scanned before it is sent; stops
/// when the reader goes. The part must be as long as its directory says.
fn inflate(
    zip: &mut zip::ZipArchive<At>,
    index: usize,
    sender: &SyncSender<std::io::Result<Vec<u8>>>,
    found: &Mutex<Option<Found>>,
    hidden: &HiddenRows,
) -> std::io::Result<()> {
    let part = zip.by_index(index)?;
    let name = part.name().map(|n| n.into_owned()).unwrap_or_default();
    let size = part.size();
    let mut scanner = Scanner::new(&name);
    // One byte more than the directory says: a part that inflates further is refused.
    let mut part = part.take(size + 1);
    let mut sent = 0u64;
    loop {
        let mut block = vec![0u8; BLOCK];
        let mut filled = 0;
        let mut failed = None;
        while filled < BLOCK {
            match part.read(&mut block[filled..]) {
                Ok(0) => break,
                Ok(read) => filled += read,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                // What was read before goes first: calamine meets the error only if it
                // reads that far (a wrong checksum is found at the part's very end, which
                // calamine may never read, as when it reads the workbook itself).
                Err(error) => {
                    failed = Some(std::io::Error::new(
                        error.kind(),
                        format!("the part {name}: {error}"),
                    ));
                    break;
                }
            }
        }
        block.truncate(filled);
        sent += filled as u64;
        if sent > size {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the part {name} inflates to more than its directory says"),
            ));
        }
        if let Err(problem) = scanner.feed(&block) {
            if let Ok(mut slot) = found.lock() {
                slot.get_or_insert(Found {
                    index,
                    name: name.clone(),
                    problem,
                });
            }
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the part {name} was refused (see the error above)"),
            ));
        }
        // Before the block goes: calamine cannot reach a row before its number is here.
        hidden.add(index, scanner.hidden_rows());
        if filled > 0 && sender.send(Ok(block)).is_err() {
            return Ok(()); // calamine read no further
        }
        if let Some(error) = failed {
            return Err(error);
        }
        if filled < BLOCK {
            break;
        }
    }
    if sent < size {
        return Err(ended_early());
    }
    Ok(())
}

/// The workbook file, read at a place of its own: clones share the file (and the archive's
/// directory, read once), each reading where it is.
#[derive(Debug, Clone)]
pub(super) struct At {
    file: Arc<File>,
    position: u64,
}

impl Read for At {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = read_at(&self.file, buf, self.position)?;
        self.position += read as u64;
        Ok(read)
    }
}

impl Seek for At {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let length = match to {
            SeekFrom::End(_) => self.file.metadata()?.len(),
            _ => 0,
        };
        self.position = sought(to, self.position, length)?;
        Ok(self.position)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A workbook-like archive of these parts, deflated (`true`) or stored.
    fn archive(path: &Path, parts: &[(&str, &[u8], bool)]) {
        let mut zip = zip::ZipWriter::new(File::create(path).unwrap());
        for (name, bytes, deflated) in parts {
            let method = if *deflated {
                zip::CompressionMethod::Deflated
            } else {
                zip::CompressionMethod::Stored
            };
            let options = zip::write::SimpleFileOptions::default().compression_method(method);
            zip.start_file(*name, options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }

    fn read_part(zip: &mut zip::ZipArchive<Inflated>, name: &str) -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        zip.by_name(name)?.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    #[test]
    fn every_part_reads_back_as_it_was_in_any_order_and_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("book.xlsx");
        let sheet: Vec<u8> = (0..40_000)
            .flat_map(|i| format!("<row r=\"{i}\"><c><v>{i}</v></c></row>").into_bytes())
            .collect();
        archive(
            &path,
            &[
                ("[Content_Types].xml", b"<Types/>", true),
                ("xl/empty.xml", b"", true),
                ("xl/worksheets/sheet1.xml", &sheet, true),
                ("xl/média/stored.bin", &[0, 1, 2, 3, 255], false),
            ],
        );
        let inflated = Inflated::open(&path).unwrap().expect("laid out");
        let mut zip = zip::ZipArchive::new(inflated).unwrap();
        assert_eq!(zip.len(), 4);
        assert_eq!(
            read_part(&mut zip, "xl/worksheets/sheet1.xml").unwrap(),
            sheet
        );
        assert_eq!(
            read_part(&mut zip, "[Content_Types].xml").unwrap(),
            b"<Types/>"
        );
        assert_eq!(read_part(&mut zip, "xl/empty.xml").unwrap(), b"");
        let stored = read_part(&mut zip, "xl/média/stored.bin").unwrap();
        assert_eq!(stored, [0, 1, 2, 3, 255]);
        // A part read again, and one read from its middle, start over where they must.
        assert_eq!(
            read_part(&mut zip, "xl/worksheets/sheet1.xml").unwrap(),
            sheet
        );
        let mut middle = vec![0u8; 100];
        let mut part = zip.by_name("xl/worksheets/sheet1.xml").unwrap();
        let mut skipped = vec![0u8; 300_000];
        part.read_exact(&mut skipped).unwrap();
        part.read_exact(&mut middle).unwrap();
        assert_eq!(middle, sheet[300_000..300_100]);
    }

    #[test]
    fn a_cell_too_long_stops_the_part_before_calamine_holds_it_and_says_where() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb.xlsx");
        let mut sheet = b"<sheetData><row r=\"1\"><c r=\"A1\"/></row><row r=\"7\"><c r=\"C7\" t=\"inlineStr\"><is><t>".to_vec();
        sheet.extend(std::iter::repeat_n(b'A', 3 << 20));
        sheet.extend_from_slice(b"</t></is></c></row></sheetData>");
        archive(&path, &[("xl/worksheets/sheet1.xml", &sheet, true)]);
        let inflated = Inflated::open(&path).unwrap().unwrap();
        let found = inflated.found_slot();
        assert!(found.refusal().is_none(), "nothing found before reading");
        let mut zip = zip::ZipArchive::new(inflated).unwrap();
        let mut part = zip.by_name("xl/worksheets/sheet1.xml").unwrap();
        let mut read = 0u64;
        let mut buffer = vec![0u8; 8192];
        let error = loop {
            match part.read(&mut buffer) {
                Ok(0) => panic!("the whole part was read"),
                Ok(n) => read += n as u64,
                Err(error) => break error,
            }
        };
        assert!(
            read <= super::super::MAX_CELL_BYTES + BLOCK as u64 * 2,
            "read {read}"
        );
        assert!(error.to_string().contains("refused"), "{error}");
        let refusal = found.refusal().expect("the scan's problem").to_string();
        assert!(refusal.contains("row 7"), "{refusal}");
        assert!(refusal.contains("column C"), "{refusal}");
    }

    /// The archive at `path` with the inflated size of its one part said to be `size`, in its
    /// local header and its directory alike.
    fn misstate_size(path: &Path, size: u32) {
        let mut bytes = std::fs::read(path).unwrap();
        let at = |signature: u32, bytes: &[u8]| {
            bytes
                .windows(4)
                .position(|w| w == signature.to_le_bytes())
                .unwrap()
        };
        let local = at(0x0403_4b50, &bytes);
        bytes[local + 22..local + 26].copy_from_slice(&size.to_le_bytes());
        let central = at(0x0201_4b50, &bytes);
        bytes[central + 24..central + 28].copy_from_slice(&size.to_le_bytes());
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn a_part_longer_or_shorter_than_its_directory_says_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"<a>text</a>".repeat(20_000);
        for size in [100, 400_000] {
            let path = dir.path().join(format!("{size}.xlsx"));
            archive(&path, &[("xl/a.xml", &text, true)]);
            misstate_size(&path, size);
            let mut zip = zip::ZipArchive::new(Inflated::open(&path).unwrap().unwrap()).unwrap();
            let error = read_part(&mut zip, "xl/a.xml").unwrap_err().to_string();
            // The zip reader refuses more bytes than said, as it goes; fewer, the layout does.
            let said = if size == 100 {
                "larger than"
            } else {
                "shorter"
            };
            assert!(error.contains(said), "{size}: {error}");
        }
    }

    /// The archive at `path` with the checksum of part `name` made wrong, in its local
    /// header and its directory alike.
    fn spoil_checksum(path: &Path, name: &str) {
        let mut bytes = std::fs::read(path).unwrap();
        for (signature, crc_at, name_at) in [(0x0403_4b50u32, 14, 30), (0x0201_4b50, 16, 46)] {
            let mut from = 0;
            while let Some(found) = bytes[from..]
                .windows(4)
                .position(|w| w == signature.to_le_bytes())
            {
                let at = from + found;
                if bytes[at + name_at..].starts_with(name.as_bytes()) {
                    bytes[at + crc_at] ^= 1;
                }
                from = at + 4;
            }
        }
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn a_wrong_checksum_is_found_only_by_reading_to_the_part_end_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crc.xlsx");
        let text = b"<styleSheet><fonts/></styleSheet>\n".repeat(10);
        archive(&path, &[("xl/styles.xml", &text, true)]);
        spoil_checksum(&path, "xl/styles.xml");
        let mut zip = zip::ZipArchive::new(Inflated::open(&path).unwrap().unwrap()).unwrap();
        // calamine stops at the end of the element: everything before the end arrives.
        let mut part = zip.by_name("xl/styles.xml").unwrap();
        let mut start = vec![0u8; text.len() - 1];
        part.read_exact(&mut start).unwrap();
        assert_eq!(start, text[..text.len() - 1]);
        drop(part);
        // Reading to the end finds it, naming the part.
        let error = read_part(&mut zip, "xl/styles.xml")
            .unwrap_err()
            .to_string();
        assert!(error.contains("checksum"), "{error}");
    }

    #[test]
    fn a_problem_in_a_part_calamine_moved_on_from_is_not_blamed_for_a_later_stop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("theme.xlsx");
        let mut theme = b"<a:theme><a:clrScheme name=\"".to_vec();
        theme.extend(std::iter::repeat_n(b'A', 2 << 20));
        theme.extend_from_slice(b"\"/></a:theme>");
        archive(
            &path,
            &[
                ("xl/theme/theme1.xml", &theme, true),
                ("xl/worksheets/sheet1.xml", b"<sheetData/>", true),
            ],
        );
        let inflated = Inflated::open(&path).unwrap().unwrap();
        let found = inflated.found_slot();
        let mut zip = zip::ZipArchive::new(inflated).unwrap();
        assert!(read_part(&mut zip, "xl/theme/theme1.xml").is_err());
        assert!(
            found.refusal().is_some(),
            "the theme's problem, while on it"
        );
        // calamine passes over a theme it cannot read, and reads on.
        assert_eq!(
            read_part(&mut zip, "xl/worksheets/sheet1.xml").unwrap(),
            b"<sheetData/>"
        );
        assert!(found.refusal().is_none(), "not the reason for what follows");
    }

    #[test]
    fn shared_strings_are_scanned_whole_before_calamine_holds_any() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sst.xlsx");
        let strings = b"<sst><si/><si/><si/><si/></sst>".repeat(1 << 22);
        archive(&path, &[("xl/sharedStrings.xml", &strings, true)]);
        let Err(error) = Inflated::open(&path) else {
            panic!("opened");
        };
        assert!(error.to_string().contains("shared text"), "{error}");
        // A count that would make calamine reserve room for ten billion strings.
        let path = dir.path().join("count.xlsx");
        let counted = br#"<?xml version="1.0"?><!-- a note --><sst count="1" uniqueCount="10000000000"><si><t>a</t></si></sst>"#;
        archive(&path, &[("xl/sharedStrings.xml", counted, true)]);
        let Err(error) = Inflated::open(&path) else {
            panic!("opened");
        };
        assert!(error.to_string().contains("10000000000 strings"), "{error}");
    }
}
