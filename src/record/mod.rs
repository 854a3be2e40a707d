//! What happened to every row, on disk: the results file and its ledger, a pair with one
//! owner, [`Record`].
//!
//! The owner decides whether a run may use the pair at all (never overwrite an earlier run
//! without `--resume`; never resume without the ledger), locks it against a second run,
//! repairs a torn last ledger line before anything is appended, rewrites the results file
//! atomically, and removes the pair again if the run that created it never sent a request —
//! so a run that failed early leaves nothing that would refuse the next one.

mod delivery;
mod event;
mod history;
pub(crate) mod ledger;
pub(crate) mod outputs;
mod part;
pub(crate) mod results;
mod rewrite;
pub(crate) mod sent;
pub(crate) mod standing;

use std::fs::{File, OpenOptions};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::contact::CardKey;
use crate::term::shown_path;
pub use delivery::{Delivery, iso_utc};
pub(crate) use history::SANDBOX_SETTING;
use ledger::Names;
pub(crate) use ledger::{Event, Fate, History, Ledger};
pub(crate) use part::Part;
pub(crate) use results::About;
pub(crate) use rewrite::keeping_removed_note;

pub(crate) use results::{Column, Layout, ResultsHeader};
use results::{ResultsWriter, WriteError};
pub use results::{Status, StatusCounts};
use std::collections::HashSet;

/// Why the results file and its ledger cannot be used, or could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("the folder {folder} for --results does not exist; create it, or choose another path")]
    NoFolder { folder: String },
    #[error(
        "{path} exists from an earlier run and is never overwritten. Add --resume to continue \
         that run (rows already sent are not sent again), or choose another --results path"
    )]
    Exists { path: String },
    #[error("--results {path} is a folder; give the path of a file in it, e.g. {path}/results.csv")]
    IsFolder { path: String },
    #[error(
        "{path} is not a results file of `greenbulk send` (its header is not \
         row,status,idMessage,…), so there is no run to continue on it and it is left as it \
         is. Choose another --results path"
    )]
    NotResults { path: String },
    #[error("another greenbulk run is using {path} right now; wait for it to finish")]
    Busy { path: String },
    #[error(
        "{missing} does not exist: there is no send run to look at here. `greenbulk status` \
         takes the results file of a `greenbulk send`, with its ledger beside it{rebuild}"
    )]
    NoRun { missing: String, rebuild: String },
    #[error(
        "{results} is empty, its ledger beside it: `greenbulk send INPUT --results {results} \
         --resume`, with the input and flags of the run that wrote it, rebuilds it from the \
         ledger and sends nothing again; then `greenbulk status` can look"
    )]
    Emptied { results: String },
    #[error(
        "{results} is a workbook, written when its run ends, and its run stopped before its \
         end (its ledger is there): `greenbulk send INPUT --results {results} --resume` \
         finishes it and writes the workbook; then `greenbulk status` can look"
    )]
    Unfinished { results: String },
    #[error(
        "{path}, line {line}: the ledger is damaged ({detail}), so greenbulk cannot tell what \
         was sent and sends nothing. Restore the ledger from a backup, or repair that one line \
         by hand (each line is one JSON event, like its neighbours). Do not delete the ledger \
         or the results file: a new run would then send every row again"
    )]
    Damaged {
        path: String,
        line: u64,
        detail: String,
    },
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("cannot write {path}: {error}{hint}", hint = space_hint(error))]
    Write { path: String, error: std::io::Error },
}

impl RecordError {
    pub(crate) fn write(path: &Path, error: std::io::Error) -> RecordError {
        RecordError::Write {
            path: shown_path(path),
            error: without_path(error),
        }
    }

    /// Whether the disk (or a quota) is full: freeing space is the fix.
    pub fn is_out_of_space(&self) -> bool {
        matches!(self, RecordError::Write { error, .. } if out_of_space(error))
    }
}

impl From<WriteError> for RecordError {
    fn from(e: WriteError) -> RecordError {
        RecordError::write(&e.path, e.error)
    }
}

/// A temporary file's error without the path it adds ("… at path …", `tempfile`'s words):
/// the message names the path already.
fn without_path(error: std::io::Error) -> std::io::Error {
    if error.raw_os_error().is_some() {
        return error;
    }
    let text = error.to_string();
    match text.rfind(" at path \"") {
        Some(cut) => std::io::Error::new(error.kind(), &text[..cut]),
        None => error,
    }
}

fn out_of_space(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

fn space_hint(error: &std::io::Error) -> &'static str {
    /// Windows' `ERROR_SHARING_VIOLATION`: another program has the file open.
    const SHARING_VIOLATION: i32 = 32;
    if out_of_space(error) {
        "; free space on that disk"
    } else if cfg!(windows)
        && (error.kind() == std::io::ErrorKind::PermissionDenied
            || error.raw_os_error() == Some(SHARING_VIOLATION))
    {
        // Windows replaces no file another program holds open: a results file open in Excel.
        "; if another program (Excel) has it open, close it there and run again (`send` with \
         --resume: nothing sent goes out again)"
    } else {
        ""
    }
}

/// The results file and its ledger, opened (and locked) for one run.
pub(crate) struct Record {
    results: PathBuf,
    ledger_path: PathBuf,
    ledger: Arc<Ledger>,
    history: Arc<History>,
    /// Neither file existed before this run: if no request leaves, both go again.
    created: bool,
    /// The ledger's torn last line was cut off when it was opened (its line number).
    repaired: Option<u64>,
    /// Rows the results file records as sent or unknown that the ledger did not know, taken
    /// back from the results file when the run was resumed.
    restored: Option<Restored>,
    /// What a results workbook's summary says about the run.
    about: About,
    /// The run decided every row, though it sent nothing: the files stay.
    keep: bool,
    /// Whether the history keeps the cards' names (`status` does without).
    names: Names,
    /// The part of the cards the history holds (`status` works a part at a time).
    part: Part,
}

/// What resuming found missing from the ledger and took back from the results file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Restored {
    /// The ledger did not exist at all (else it was emptied or replaced).
    pub ledger_was_missing: bool,
    pub rows: u64,
}

/// Removes what a run killed while it replaced the results file left beside it: files named
/// as [`crate::replace::Replacement`] names its temporary files (`.NAME.XXXXXX.tmp`). Called
/// with the ledger locked, so no other run is writing one; links and folders stay.
fn remove_leftovers(results: &Path) {
    let folder = crate::replace::folder_of(results);
    let Some(name) = results.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let prefix = format!(".{name}.");
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(random) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|n| n.strip_suffix(".tmp"))
        else {
            continue;
        };
        let ours = random.len() == crate::replace::RANDOM_CHARS
            && random.bytes().all(|b| b.is_ascii_alphanumeric())
            && entry.file_type().is_ok_and(|t| t.is_file());
        if ours {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether a file is a results file of `greenbulk send`, by its header.
fn is_results_file(path: &Path) -> bool {
    crate::input::first_row(path, "Results").is_some_and(|row| ResultsHeader::find(&row).is_some())
}

/// The ledger's path for a results file.
pub(crate) fn ledger_path(results: &Path) -> PathBuf {
    let mut name = results.as_os_str().to_owned();
    name.push(".ledger");
    PathBuf::from(name)
}

impl Record {
    /// Opens the pair for a run: checks that it may be used (`resume` says whether an
    /// earlier run may be continued), locks the ledger, cuts off a torn last line, and
    /// replays it.
    pub(crate) fn open(results: &Path, resume: bool) -> Result<Record, RecordError> {
        Record::open_as(results, resume, Names::Keep, Part::WHOLE)
    }

    /// [`Record::open`], the history keeping the cards' names or not, and a part of the
    /// cards (taking back that part's lines of the results file the ledger lacks).
    fn open_as(
        results: &Path,
        resume: bool,
        names: Names,
        part: Part,
    ) -> Result<Record, RecordError> {
        let ledger_path = ledger_path(results);
        if let Some(folder) = results.parent().filter(|p| !p.as_os_str().is_empty())
            && !folder.is_dir()
        {
            return Err(RecordError::NoFolder {
                folder: shown_path(folder),
            });
        }
        if results.is_dir() {
            return Err(RecordError::IsFolder {
                path: shown_path(results),
            });
        }
        let ledger_exists = ledger_path.exists();
        // An emptied results file beside its ledger (a disk, an editor) is rebuilt from the
        // ledger, which holds the truth (docs/results.md), as a lost one is.
        let emptied = ledger_exists && std::fs::metadata(results).is_ok_and(|m| m.len() == 0);
        let results_exist = results.exists() && !emptied;
        // A file greenbulk did not write has no run to continue: --resume would not help.
        if !resume && results_exist && !ledger_exists && !is_results_file(results) {
            return Err(RecordError::NotResults {
                path: shown_path(results),
            });
        }
        if !resume && (results_exist || ledger_exists) {
            let which = if results_exist { results } else { &ledger_path };
            return Err(RecordError::Exists {
                path: shown_path(which),
            });
        }
        // A results file without its ledger is continued only if it is one: its lines are
        // then taken back into a new ledger (below), so nothing they record goes out again.
        if resume && results_exist && !is_results_file(results) {
            return Err(RecordError::NotResults {
                path: shown_path(results),
            });
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&ledger_path)
            .map_err(|e| RecordError::write(&ledger_path, e))?;
        // From here on, a failure must not leave a ledger this run created.
        let mut opened = Opening {
            path: ledger_path.clone(),
            created: !ledger_exists,
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                opened.created = false;
                return Err(RecordError::Busy {
                    path: shown_path(&ledger_path),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(RecordError::write(&ledger_path, e));
            }
        }
        remove_leftovers(results);
        let (history, repaired) = load_and_repair(&file, &ledger_path, names, part)?;
        let ledger =
            Ledger::new(file, &ledger_path).map_err(|e| RecordError::write(&ledger_path, e))?;
        if !ledger_exists {
            let begun = Event::Begun {
                at: ledger::unix_millis(),
                nonce: fastrand::Rng::new().u64(..),
            };
            ledger
                .append(&[begun])
                .and_then(|()| ledger.sync())
                .map_err(|e| RecordError::write(&ledger_path, e))?;
        }
        opened.created = false;
        let mut record = Record {
            results: results.to_path_buf(),
            ledger_path,
            ledger: Arc::new(ledger),
            history: Arc::new(history),
            created: !results_exist && !ledger_exists,
            repaired,
            restored: None,
            about: About::default(),
            keep: false,
            names,
            part,
        };
        if !ledger_exists {
            record.reload()?;
        }
        if resume && results_exist && part != Part::NONE {
            let rows = record.take_back_from_results()?;
            if rows > 0 || !ledger_exists {
                record.restored = Some(Restored {
                    ledger_was_missing: !ledger_exists,
                    rows,
                });
            }
        }
        Ok(record)
    }

    /// Takes back into the ledger every line of the results file that records a card as
    /// sent or unknown when the ledger knows nothing of that card (chat and phone): an
    /// emptied, lost or replaced ledger must never mean a resend. Returns how many.
    fn take_back_from_results(&mut self) -> Result<u64, RecordError> {
        let mut header: Option<ResultsHeader> = None;
        let mut missing: Vec<Event> = Vec::new();
        let mut seen = HashSet::new();
        let at = ledger::unix_millis();
        let history = self.history.clone();
        let part = self.part;
        self.read_results(|line| {
            let Some(columns) = &header else {
                header = ResultsHeader::find(&line);
                return;
            };
            let field = |index: usize| line.get(index).map_or("", String::as_str);
            let status = field(columns.status);
            if status != "sent" && status != "unknown" {
                return;
            }
            // Unknown and never attempted from this file: its card is in doubt in another
            // run (another results file settles it), not a card this file may have sent.
            if status == "unknown" && columns.attempts.is_some_and(|at| field(at) == "0") {
                return;
            }
            let (chat, Ok(phone)) = (field(columns.chat_id), field(columns.phone_contact).parse())
            else {
                return;
            };
            let card = CardKey::of(chat, phone);
            if chat.is_empty()
                || !part.holds_card(card)
                || history.card(card).is_some()
                || !seen.insert(card)
            {
                return;
            }
            missing.push(Event::Restored {
                card,
                row: crate::input::RowNumber(field(columns.row).parse().unwrap_or(0)),
                chat: chat.to_string(),
                phone,
                id_message: (status == "sent" && !field(columns.id_message).is_empty())
                    .then(|| field(columns.id_message).to_string()),
                instance: columns
                    .instance
                    .map(field)
                    .filter(|i| !i.is_empty())
                    .map(str::to_string),
                delivery: columns.delivery.and_then(|column| {
                    let state = Delivery::named(field(column))?;
                    let since = columns
                        .delivery_at
                        .and_then(|column| field(column).parse::<jiff::Timestamp>().ok())
                        .map_or(at, |t| t.as_millisecond().max(0) as u64);
                    Some((state, since))
                }),
                at,
            });
        })?;
        // A card the ledger has attempts of is the ledger's, whatever the line says: a line
        // edited to `sent` by hand takes back nothing the ledger knows went otherwise.
        if !missing.is_empty() {
            let cards: HashSet<CardKey> = missing
                .iter()
                .filter_map(|event| match event {
                    Event::Restored { card, .. } => Some(*card),
                    _ => None,
                })
                .collect();
            let attempted = history.attempted(&cards);
            missing.retain(|event| match event {
                Event::Restored { card, .. } => !attempted.contains(card),
                _ => true,
            });
        }
        // A line whose idMessage the ledger records for another card was edited by hand
        // (its chat or phone changed): it records no card of its own, and taking it back
        // would mark a card that never went as sent. That card may be in another part of
        // the history (see `sent_ids_of`).
        let ids: HashSet<&str> = missing
            .iter()
            .filter_map(|event| match event {
                Event::Restored {
                    id_message: Some(id),
                    ..
                } => Some(id.as_str()),
                _ => None,
            })
            .collect();
        if !ids.is_empty() {
            drop(history);
            let known = self.sent_ids_of(&ids)?;
            drop(ids);
            missing.retain(|event| match event {
                Event::Restored {
                    id_message: Some(id),
                    ..
                } => !known.contains(id),
                _ => true,
            });
        }
        if !missing.is_empty() {
            self.append(&missing)?;
        }
        Ok(missing.len() as u64)
    }

    /// What resuming took back from the results file, if the ledger lacked anything.
    pub(crate) fn restored(&self) -> Option<Restored> {
        self.restored
    }

    /// Opens the pair of an earlier run, which must exist (for `greenbulk status`): locked,
    /// a torn last line cut off, no card in its history until a part of them is loaded
    /// ([`Record::load_part`]).
    pub(crate) fn open_existing(results: &Path) -> Result<Record, RecordError> {
        let ledger = ledger_path(results);
        let workbook = crate::sheet::workbook_path(results).unwrap_or(false);
        if workbook && !results.exists() && ledger.exists() {
            // A workbook comes when its run ends: a run still sending holds the ledger
            // (busy, and `status --watch` waits for it); else the run stopped short.
            drop(Record::open_as(results, true, Names::Omit, Part::NONE)?);
            return Err(RecordError::Unfinished {
                results: shown_path(results),
            });
        }
        if ledger.exists() && std::fs::metadata(results).is_ok_and(|m| m.len() == 0) {
            return Err(RecordError::Emptied {
                results: shown_path(results),
            });
        }
        for path in [results.to_path_buf(), ledger] {
            if !path.exists() {
                // A results file whose ledger was lost: the send that wrote it takes its rows
                // back into a new ledger, sending none of them again.
                let rebuild = if results.exists() && is_results_file(results) {
                    format!(
                        " (the ledger was lost: `greenbulk send INPUT --results {} --resume`, \
                         with the input and flags of the run that wrote it, rebuilds it from \
                         the results file and sends none of its rows again)",
                        shown_path(results)
                    )
                } else {
                    String::new()
                };
                return Err(RecordError::NoRun {
                    missing: shown_path(&path),
                    rebuild,
                });
            }
        }
        Record::open_as(results, true, Names::Omit, Part::NONE)
    }

    /// The parts `status` works on this ledger in, one after the other ([`Record::load_part`]):
    /// `of` when given, else as many as keep a part's history near 100,000 cards
    /// (docs/delivery.md).
    pub(crate) fn parts(&self, of: Option<u32>) -> Vec<Part> {
        // A sent card takes about 330 bytes of ledger (its attempt and its answer), and a
        // part's history about 400 bytes of memory a card.
        const PART_BYTES: u64 = 32 << 20;
        let length = std::fs::metadata(&self.ledger_path).map_or(0, |m| m.len());
        let of = of.unwrap_or_else(|| length.div_ceil(PART_BYTES).clamp(1, 4096) as u32);
        Part::all(of).collect()
    }

    /// Replays `part` of the ledger's cards in place of the part the history held, and
    /// takes back that part's lines of the results file that the ledger lacks.
    pub(crate) fn load_part(&mut self, part: Part) -> Result<(), RecordError> {
        self.part = part;
        self.reload()?;
        let rows = self.take_back_from_results()?;
        if rows > 0 {
            let before = self.restored.map_or(0, |restored| restored.rows);
            self.restored = Some(Restored {
                ledger_was_missing: false,
                rows: before + rows,
            });
        }
        Ok(())
    }

    /// Which of `ids` the ledger records as a card's idMessage (sent, or found sent): from
    /// the history when it holds every card, else read from the ledger.
    pub(crate) fn sent_ids_of(&self, ids: &HashSet<&str>) -> Result<HashSet<String>, RecordError> {
        if self.part == Part::WHOLE {
            let sent = self.history.sent_ids();
            return Ok(ids
                .iter()
                .filter(|id| sent.contains(*id))
                .map(|id| id.to_string())
                .collect());
        }
        ledger::ids_among(self.ledger.file(), ids).map_err(|error| RecordError::Read {
            path: shown_path(&self.ledger_path),
            error,
        })
    }

    /// An earlier run's history without opening it for writing (for `--dry-run`): a torn
    /// last line is ignored, damage is still refused.
    pub(crate) fn peek(results: &Path) -> Result<History, RecordError> {
        Record::peek_part(results, Part::WHOLE)
    }

    /// [`Record::peek`], keeping only `part` of the cards.
    pub(crate) fn peek_part(results: &Path, part: Part) -> Result<History, RecordError> {
        let path = ledger_path(results);
        let busy = || RecordError::Busy {
            path: shown_path(&path),
        };
        match File::open(&path) {
            Ok(file) => match read(&file, &path, Names::Keep, part) {
                Ok(loaded) => Ok(loaded.history),
                Err(RecordError::Read { error, .. }) if locked_elsewhere(&error) => Err(busy()),
                Err(e) => Err(e),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(History::default()),
            Err(error) if locked_elsewhere(&error) => Err(busy()),
            Err(error) => Err(RecordError::Read {
                path: shown_path(&path),
                error,
            }),
        }
    }

    pub(crate) fn history(&self) -> &Arc<History> {
        &self.history
    }

    /// Which run's results file this is, for the sent-card history: the results file's
    /// path (its folder resolved, so two spellings of one path are one file) and its
    /// ledger's beginning. A results file deleted with its ledger, or whose ledger was
    /// lost, and written again at the same path is another file.
    pub(crate) fn identity(&self) -> crate::record::sent::ResultsIdentity {
        let folder = self
            .results
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let folder = dunce::canonicalize(folder)
            .or_else(|_| std::path::absolute(folder))
            .unwrap_or_else(|_| folder.to_path_buf());
        let path = match self.results.file_name() {
            Some(name) => folder.join(name),
            None => folder,
        };
        crate::record::sent::ResultsIdentity {
            path,
            begun: self.history.begun,
        }
    }

    /// Keeps the files even if no request left: the run ran to its end and they say what
    /// became of each row (already sent by another run, say).
    pub(crate) fn keep(&mut self) {
        self.keep = true;
    }

    /// Whether the files stay when the run ends.
    pub(crate) fn kept(&self) -> bool {
        !self.created || self.keep || self.ledger.departed()
    }

    /// Whether this run created the pair (neither file existed before it).
    pub(crate) fn is_new(&self) -> bool {
        self.created
    }

    pub(crate) fn ledger(&self) -> Arc<Ledger> {
        self.ledger.clone()
    }

    pub(crate) fn results_path(&self) -> &Path {
        &self.results
    }

    pub(crate) fn ledger_path(&self) -> &Path {
        &self.ledger_path
    }

    /// The line number of a torn last line that was cut off on opening, if there was one.
    pub(crate) fn repaired(&self) -> Option<u64> {
        self.repaired
    }

    /// What the results file's summary (a workbook's) says about the run.
    pub(crate) fn set_about(&mut self, about: About) {
        self.about = about;
    }

    /// Whether the results file is a workbook (`.xlsx`).
    pub(crate) fn results_is_workbook(&self) -> bool {
        crate::sheet::workbook_path(&self.results).unwrap_or(false)
    }

    /// Starts a results file from the history as it stands (the caller adds every row).
    pub(crate) fn results_writer(
        &self,
        headers: &csv::StringRecord,
    ) -> Result<ResultsWriter, RecordError> {
        Ok(ResultsWriter::create(
            &self.results,
            headers,
            self.about.clone(),
        )?)
    }

    /// Every line of the results file as it stands, header first (CSV or workbook).
    pub(crate) fn read_results(
        &self,
        mut visit: impl FnMut(Vec<String>),
    ) -> Result<(), RecordError> {
        let unreadable = |error: String| RecordError::Read {
            path: shown_path(&self.results),
            error: std::io::Error::other(error),
        };
        if self.results_is_workbook() {
            return crate::input::sheet_rows(&self.results, "Results", visit)
                .map_err(|e| unreadable(e.to_string()));
        }
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(false)
            .from_path(&self.results)
            .map_err(|e| unreadable(e.to_string()))?;
        for record in reader.records() {
            let record = record.map_err(|e| unreadable(e.to_string()))?;
            visit(record.iter().map(str::to_string).collect());
        }
        Ok(())
    }

    /// A results workbook's summary of the run, as it stands (empty for CSV).
    fn read_about(&self) -> About {
        let mut pairs = Vec::new();
        if self.results_is_workbook() {
            let _ = crate::input::sheet_rows(&self.results, "Summary", |row| {
                if let [key, value, ..] = row.as_slice() {
                    pairs.push((key.clone(), value.clone()));
                }
            });
        }
        // The run's own lines: everything before the version and the counts.
        let end = pairs
            .iter()
            .position(|(key, _)| key == "greenbulk version")
            .unwrap_or(pairs.len());
        pairs.truncate(end);
        pairs.retain(|(key, _)| key != "written" && key != "looked at by greenbulk status");
        About { pairs }
    }

    /// Appends events and waits until they are on disk, then reads the ledger again so the
    /// history holds them.
    pub(crate) fn append(&mut self, events: &[Event]) -> Result<(), RecordError> {
        let written = |e| RecordError::write(&self.ledger_path, e);
        self.ledger.append(events).map_err(written)?;
        self.ledger.sync().map_err(written)?;
        self.reload()
    }

    /// Appends events a batch at a time as they come (a round's million changes are hundreds
    /// of MB held whole), and waits until they are on disk. The history holds them after the
    /// next [`Record::reload`]: the caller lets go of its copy first.
    pub(crate) fn append_unread(
        &mut self,
        events: impl IntoIterator<Item = Event>,
    ) -> Result<(), RecordError> {
        const BATCH: usize = 4096;
        let written = |e| RecordError::write(&self.ledger_path, e);
        let mut batch = Vec::with_capacity(BATCH);
        for event in events {
            batch.push(event);
            if batch.len() == BATCH {
                self.ledger.append(&batch).map_err(written)?;
                batch.clear();
            }
        }
        self.ledger.append(&batch).map_err(written)?;
        self.ledger.sync().map_err(written)
    }

    /// Changes the history held as events just appended say, without reading the ledger
    /// again (`status`'s delivery states and lookups); read again if another holds it.
    pub(crate) fn update_history(
        &mut self,
        update: impl FnOnce(&mut History),
    ) -> Result<(), RecordError> {
        match Arc::get_mut(&mut self.history) {
            Some(history) => {
                update(history);
                Ok(())
            }
            None => self.reload(),
        }
    }

    /// Reads the ledger again: the history then holds everything appended so far.
    pub(crate) fn reload(&mut self) -> Result<(), RecordError> {
        self.ledger
            .sync()
            .map_err(|e| RecordError::write(&self.ledger_path, e))?;
        // The old history goes before the new one is read (when no one else holds it), so
        // that two are never in memory at once.
        self.history = Arc::default();
        let file = self.ledger.file();
        self.history = Arc::new(read(file, &self.ledger_path, self.names, self.part)?.history);
        Ok(())
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        if self.created && !self.ledger.departed() && !self.keep {
            let _ = std::fs::remove_file(&self.results);
            let _ = std::fs::remove_file(&self.ledger_path);
        }
    }
}

/// Removes a ledger that [`Record::open`] created but could not finish opening.
struct Opening {
    path: PathBuf,
    created: bool,
}

impl Drop for Opening {
    fn drop(&mut self) {
        if self.created {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Whether reading failed because another process holds the file's lock: on Windows a lock
/// keeps other handles from reading (on Unix it does not, and nothing fails).
fn locked_elsewhere(error: &std::io::Error) -> bool {
    /// `ERROR_LOCK_VIOLATION`.
    const LOCK_VIOLATION: i32 = 33;
    cfg!(windows) && error.raw_os_error() == Some(LOCK_VIOLATION)
}

fn read(file: &File, path: &Path, names: Names, part: Part) -> Result<ledger::Loaded, RecordError> {
    ledger::load(file, names, part).map_err(|e| match e {
        ledger::LoadError::Io(error) => RecordError::Read {
            path: shown_path(path),
            error,
        },
        ledger::LoadError::Damaged(damage) => RecordError::Damaged {
            path: shown_path(path),
            line: damage.line,
            detail: damage.detail,
        },
    })
}

/// Replays the ledger and leaves its end clean for appending: a torn last line is cut off,
/// a whole one without a line break gets one; either change is made durable first.
fn load_and_repair(
    file: &File,
    path: &Path,
    names: Names,
    part: Part,
) -> Result<(History, Option<u64>), RecordError> {
    let loaded = read(file, path, names, part)?;
    let written = |e| RecordError::write(path, e);
    let repaired = match loaded.tail {
        ledger::Tail::Clean => None,
        ledger::Tail::Unterminated => {
            let end = file.metadata().map_err(written)?.len();
            crate::positioned::write_all_at(file, b"\n", end).map_err(written)?;
            file.sync_data().map_err(written)?;
            None
        }
        ledger::Tail::Torn { at, line } => {
            file.set_len(at).map_err(written)?;
            file.sync_data().map_err(written)?;
            Some(line)
        }
    };
    Ok((loaded.history, repaired))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_file_error_names_its_path_once() {
        let wrapped = tempfile::Builder::new()
            .tempfile_in("/nonexistent-greenbulk-dir")
            .unwrap_err();
        assert!(wrapped.to_string().contains("at path"), "{wrapped}");
        let error = RecordError::write(Path::new("/nonexistent-greenbulk-dir/r.csv"), wrapped);
        assert!(!error.to_string().contains("at path"), "{error}");
        assert!(error.to_string().contains("os error"), "{error}");
    }
    use crate::contact::ContentKey;

    #[test]
    fn a_second_writer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path().join("r.csv");
        let _first = Record::open(&results, false).unwrap();
        let err = Record::open(&results, true).err().unwrap();
        assert!(matches!(err, RecordError::Busy { .. }), "{err}");
    }

    #[test]
    fn a_torn_tail_is_cut_before_anything_is_appended() {
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path().join("r.csv");
        let key = ContentKey(5);
        let row = crate::input::RowNumber(2);
        {
            let record = Record::open(&results, false).unwrap();
            record.ledger().depart();
            let attempt = Event::bare_attempt(key, row);
            record.ledger().record(&attempt).unwrap();
        }
        let path = ledger_path(&results);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"event\":\"sent\",\"ke");
        std::fs::write(&path, &text).unwrap();

        let record = Record::open(&results, true).unwrap();
        assert_eq!(record.repaired(), Some(3));
        assert!(matches!(
            record.history().get(key).unwrap().fate,
            Fate::Unknown(_)
        ));
        let failed = Event::Failed {
            key,
            row,
            error: "400".into(),
        };
        record.ledger().record(&failed).unwrap();
        drop(record);
        let record = Record::open(&results, true).unwrap();
        assert_eq!(record.repaired(), None);
        assert_eq!(
            record.history().get(key).unwrap().fate,
            Fate::Failed("400".into())
        );
    }

    #[test]
    fn a_run_that_sent_nothing_leaves_no_files_and_one_that_did_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path().join("r.csv");
        drop(Record::open(&results, false).unwrap());
        assert!(!ledger_path(&results).exists());
        let record = Record::open(&results, false).unwrap();
        record.ledger().depart();
        drop(record);
        assert!(ledger_path(&results).exists());
        // A resumed run that sends nothing leaves what an earlier run made.
        drop(Record::open(&results, true).unwrap());
        assert!(ledger_path(&results).exists());
    }
}
