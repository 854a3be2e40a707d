//! What greenbulk may write over: nothing it did not write itself (docs/never-twice.md).
//!
//! Before a report (or any other file a command writes) replaces a path, the path is looked
//! at: the input, a results file (its ledger beside it, or its header), a ledger, or an
//! existing file greenbulk did not write are refused, naming the file, which stays as it is.
//! An earlier report may be replaced; so may an empty file (as `mktemp` makes) and what is
//! not a regular file (`/dev/stdout`, a pipe), since nothing there can be lost.

use std::path::Path;

use crate::record::{ResultsHeader, ledger_path};
use crate::term::shown_path;

/// What a path holds, as far as writing over it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Held {
    /// Nothing yet, an empty file, or not a regular file: free to write.
    Free,
    Folder,
    /// A results file of `greenbulk send`.
    Results,
    /// A ledger beside a results file.
    Ledger,
    /// A report of `greenbulk validate`.
    Report,
    /// Something else.
    Other,
}

/// The columns of a report, in order (docs/validation.md).
pub(crate) const REPORT_COLUMNS: [&str; 5] = ["row", "severity", "field", "value", "problem"];

/// Looks at what `path` holds.
pub(crate) fn held(path: &Path) -> Held {
    let Ok(meta) = std::fs::metadata(path) else {
        return Held::Free;
    };
    if meta.is_dir() {
        return Held::Folder;
    }
    if !meta.is_file() {
        return Held::Free;
    }
    // An empty results file with its ledger beside it is still a run's (killed before its
    // first write): its ledger decides, not its size.
    if ledger_path(path).exists() {
        return Held::Results;
    }
    if is_ledger(path) {
        return Held::Ledger;
    }
    if meta.len() == 0 {
        return Held::Free;
    }
    if let Some(first) = crate::input::first_row(path, "Results")
        && ResultsHeader::find(&first).is_some()
    {
        return Held::Results;
    }
    match crate::input::first_row(path, "Findings") {
        Some(first) if first.iter().map(String::as_str).eq(REPORT_COLUMNS) => Held::Report,
        _ => Held::Other,
    }
}

/// A ledger: its first line is a ledger event, or its name is a results file's plus
/// `.ledger` and that results file is there.
fn is_ledger(path: &Path) -> bool {
    let name = path.as_os_str().to_string_lossy();
    if let Some(results) = name.strip_suffix(".ledger")
        && Path::new(results).is_file()
    {
        return true;
    }
    use std::io::Read;
    let mut start = [0u8; 10];
    let read = std::fs::File::open(path).and_then(|mut f| f.read(&mut start));
    read.is_ok_and(|n| start[..n].starts_with(b"{\"event\":"))
}

/// Why an output path was refused.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{flag} {path} is the input file itself; nothing was written. Choose another path")]
    Input { flag: &'static str, path: String },
    #[error(
        "{flag} {path} is a results file of `greenbulk send`: writing there would destroy the \
         record of what was sent, so nothing was written. Choose another path"
    )]
    Results { flag: &'static str, path: String },
    #[error(
        "{flag} {path} is the ledger of a results file (what was sent, kept for --resume): \
         writing there would make that run impossible to continue, so nothing was written. \
         Choose another path"
    )]
    Ledger { flag: &'static str, path: String },
    #[error("{flag} {path} is a folder; give the path of a file in it")]
    Folder { flag: &'static str, path: String },
    #[error(
        "{flag} {path} exists and was not written by greenbulk, so it is left as it is and \
         nothing was written. Choose another path (or delete that file first if it may go)"
    )]
    Other { flag: &'static str, path: String },
}

/// Checks that `flag`'s `path` may be written with a report: not the input, a results file,
/// a ledger, or a file greenbulk did not write; an earlier report may be replaced.
pub(crate) fn check_report(
    flag: &'static str,
    path: &Path,
    input: &Path,
) -> Result<(), OutputError> {
    let shown = shown_path(path);
    if same_file(path, input) {
        return Err(OutputError::Input { flag, path: shown });
    }
    match held(path) {
        Held::Free | Held::Report => Ok(()),
        Held::Folder => Err(OutputError::Folder { flag, path: shown }),
        Held::Results => Err(OutputError::Results { flag, path: shown }),
        Held::Ledger => Err(OutputError::Ledger { flag, path: shown }),
        Held::Other => Err(OutputError::Other { flag, path: shown }),
    }
}

/// Whether two paths name one file (both must exist).
pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_file_is_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str| dir.path().join(name);
        std::fs::write(
            at("r.csv"),
            "row,status,idMessage,error,attempts,chatId,phoneContact\n",
        )
        .unwrap();
        std::fs::write(at("r.csv.ledger"), "{\"event\":\"attempt\"}\n").unwrap();
        std::fs::write(at("lone.ledger"), "{\"event\":\"sent\"}\n").unwrap();
        std::fs::write(
            at("p.csv"),
            "row,severity,field,value,problem\n2,error,chatId,,x\n",
        )
        .unwrap();
        std::fs::write(at("notes.csv"), "mine\n").unwrap();
        std::fs::write(at("empty.csv"), "").unwrap();
        std::fs::write(at("killed.csv"), "").unwrap();
        std::fs::write(at("killed.csv.ledger"), "").unwrap();
        assert_eq!(held(&at("r.csv")), Held::Results);
        assert_eq!(held(&at("r.csv.ledger")), Held::Ledger);
        assert_eq!(held(&at("lone.ledger")), Held::Ledger);
        assert_eq!(held(&at("p.csv")), Held::Report);
        assert_eq!(held(&at("notes.csv")), Held::Other);
        assert_eq!(held(&at("empty.csv")), Held::Free);
        assert_eq!(held(&at("killed.csv")), Held::Results);
        assert_eq!(held(&at("killed.csv.ledger")), Held::Ledger);
        assert_eq!(held(&at("new.csv")), Held::Free);
        assert_eq!(held(dir.path()), Held::Folder);
        #[cfg(unix)]
        assert_eq!(held(Path::new("/dev/null")), Held::Free);
        // A results file whose ledger is gone is still one, by its header.
        std::fs::remove_file(at("r.csv.ledger")).unwrap();
        assert_eq!(held(&at("r.csv")), Held::Results);
        let err = check_report("--report", &at("notes.csv"), &at("in.csv")).unwrap_err();
        assert!(
            err.to_string().contains("not written by greenbulk"),
            "{err}"
        );
        assert!(check_report("--report", &at("p.csv"), &at("in.csv")).is_ok());
    }
}
