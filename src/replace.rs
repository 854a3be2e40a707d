//! A file replaced whole or not at all: written to a new temporary file beside it, made
//! durable, and renamed over it. The temporary file gets a fresh random name and is created
//! exclusively, so nothing already there — an earlier run's leftover, a symlink someone put
//! in its place — is ever truncated or written through; dropped before [`Replacement::place`],
//! it is removed and the file it was to replace is left as it was.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// How many random characters a temporary file's name has (`.NAME.XXXXXX.tmp`).
pub(crate) const RANDOM_CHARS: usize = 6;

/// The folder a file is in (`.` for a bare name): where its temporary files go.
pub(crate) fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    }
}

/// The new content of `path`, being written.
pub(crate) struct Replacement {
    temporary: NamedTempFile,
    path: PathBuf,
}

impl Replacement {
    /// Starts the replacement of `path` (which need not exist yet), in its folder.
    pub(crate) fn of(path: &Path) -> std::io::Result<Replacement> {
        let folder = folder_of(path);
        let name = path.file_name().unwrap_or_default();
        let mut prefix = std::ffi::OsString::from(".");
        prefix.push(name);
        prefix.push(".");
        let mut builder = tempfile::Builder::new();
        builder
            .prefix(&prefix)
            .suffix(".tmp")
            .rand_bytes(RANDOM_CHARS);
        // As a new file would be made (the umask decides), not the owner-only default of a
        // temporary file; a file replaced keeps its own permissions (set in `place`).
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let temporary = builder.tempfile_in(folder)?;
        Ok(Replacement {
            temporary,
            path: path.to_path_buf(),
        })
    }

    /// The temporary file, to write to.
    pub(crate) fn file(&self) -> &File {
        self.temporary.as_file()
    }

    /// Where the temporary file is, for messages about a failed write.
    pub(crate) fn temporary_path(&self) -> &Path {
        self.temporary.path()
    }

    /// Makes the new content durable and puts it in place of the old (which lends it its
    /// permissions).
    pub(crate) fn place(self) -> std::io::Result<()> {
        if let Ok(old) = std::fs::metadata(&self.path)
            && old.is_file()
        {
            self.temporary
                .as_file()
                .set_permissions(old.permissions())?;
        }
        self.put()
    }

    /// [`Replacement::place`], keeping the new file's own permissions, whatever the old
    /// file's were (a file of secrets).
    pub(crate) fn place_private(self) -> std::io::Result<()> {
        self.put()
    }

    fn put(self) -> std::io::Result<()> {
        self.temporary.as_file().sync_all()?;
        self.temporary.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }
}

impl Write for Replacement {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        self.temporary.write(buffer)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.temporary.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_symlink_or_leftover_beside_the_file_is_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        let precious = dir.path().join("precious.txt");
        std::fs::write(&precious, "keep me").unwrap();
        // What a plain `results.csv.tmp` would have been: a trap.
        std::os::unix::fs::symlink(&precious, dir.path().join("results.csv.tmp")).unwrap();
        let mut replacement = Replacement::of(&path).unwrap();
        replacement.write_all(b"row,status\n").unwrap();
        replacement.place().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "row,status\n");
        assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep me");
    }

    #[test]
    fn dropped_unplaced_it_leaves_the_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.csv");
        std::fs::write(&path, "before").unwrap();
        let mut replacement = Replacement::of(&path).unwrap();
        replacement.write_all(b"half").unwrap();
        drop(replacement);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "before");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
