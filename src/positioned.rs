//! Reads and writes at a given place in a file: the same on Unix (`pread`, `pwrite`, which
//! leave the file's cursor where it was) and Windows (`ReadFile` at an offset, which moves
//! it). A file shared between threads, or read through the one handle that holds its lock
//! (on Windows a lock keeps out every other handle, in this process too), is read and written
//! this way — and never through its cursor as well.

use std::fs::File;
use std::io::Read;

/// Reads what is at `offset`, up to `buf`'s length (0 at the end).
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    #[cfg(unix)]
    return std::os::unix::fs::FileExt::read_at(file, buf, offset);
    #[cfg(windows)]
    return std::os::windows::fs::FileExt::seek_read(file, buf, offset);
}

/// Fills `buf` from `offset`; the file ending first is an error.
pub(crate) fn read_exact_at(
    file: &File,
    mut buf: &mut [u8],
    mut offset: u64,
) -> std::io::Result<()> {
    while !buf.is_empty() {
        match read_at(file, buf, offset) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes all of `buf` at `offset`.
pub(crate) fn write_all_at(file: &File, mut buf: &[u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        #[cfg(unix)]
        let written = std::os::unix::fs::FileExt::write_at(file, buf, offset);
        #[cfg(windows)]
        let written = std::os::windows::fs::FileExt::seek_write(file, buf, offset);
        match written {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = &buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A file read from its start onward at offsets of its own: whatever else moves the file's
/// cursor does not move this.
pub(crate) struct ReadFrom<'f> {
    file: &'f File,
    at: u64,
}

impl<'f> ReadFrom<'f> {
    pub(crate) fn start(file: &'f File) -> ReadFrom<'f> {
        ReadFrom { file, at: 0 }
    }
}

impl Read for ReadFrom<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = read_at(self.file, buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Seek, SeekFrom, Write};

    use super::*;

    #[test]
    fn reading_from_the_start_ignores_the_cursor_and_writes_land_where_told() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"first line\n").unwrap();
        write_all_at(&file, b"second\n", 11).unwrap();
        // The cursor is at the end of what `write_all` wrote; reading starts at 0 anyway.
        file.seek(SeekFrom::Start(5)).unwrap();
        let mut text = String::new();
        ReadFrom::start(&file).read_to_string(&mut text).unwrap();
        assert_eq!(text, "first line\nsecond\n");
        let mut word = [0u8; 6];
        read_exact_at(&file, &mut word, 11).unwrap();
        assert_eq!(&word, b"second");
        let past = read_exact_at(&file, &mut word, 15).unwrap_err();
        assert_eq!(past.kind(), std::io::ErrorKind::UnexpectedEof);
    }
}
