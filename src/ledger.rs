//! The ledger: an append-only journal of every attempt and outcome, made durable (fsync)
//! before the run moves on. It lives beside the results file (`results.csv.ledger`) and is
//! the truth the results file is derived from.
//!
//! An attempt is written and fsync'd before its request leaves (the requests that leave
//! together share one fsync); its outcome is written when the answer comes. So after a
//! `kill -9` an attempt without an outcome means "may have been sent": `unknown`, never resent
//! unless asked. Outcomes are handed to the kernel at once (they survive `kill -9`) and reach
//! the disk with the next fsync, at the next dispatch; a power cut in between leaves such a row
//! `unknown`, never `pending`, so it is not resent. Rows are keyed by content ([`ContentKey`]),
//! not position, so a resumed run on an edited or re-sorted file does not resend what went out.
//!
//! Why a JSON-lines journal rather than SQLite: an fsync'd append per dispatch is all the
//! durability needed, a torn last line is easy to recognise and ignore, and a person can read
//! the file with `less` when something went wrong.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::contact::ContentKey;

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Event {
    /// A request is about to leave.
    Attempt { key: String, row: u64 },
    /// 200 with this idMessage; `sent_at` is when the request left (Unix milliseconds).
    Sent {
        key: String,
        row: u64,
        id_message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sent_at: Option<u64>,
    },
    /// Refused for good (a 400, say); `--resume` tries it again.
    Failed {
        key: String,
        row: u64,
        error: String,
    },
    /// May or may not have been queued.
    Unknown {
        key: String,
        row: u64,
        reason: String,
    },
    /// Answered without being accepted (429, 5xx …), or the run stopped before it left.
    NotSent {
        key: String,
        row: u64,
        reason: String,
    },
}

impl Event {
    /// Whether the run must wait for this event to be on disk, not just in the kernel.
    fn must_sync(&self) -> bool {
        matches!(self, Event::Attempt { .. })
    }

    fn key(&self) -> &str {
        match self {
            Event::Attempt { key, .. }
            | Event::Sent { key, .. }
            | Event::Failed { key, .. }
            | Event::Unknown { key, .. }
            | Event::NotSent { key, .. } => key,
        }
    }
}

/// What the journal says about one content key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Never attempted, or answered without being accepted; the text says why, if anything.
    Pending(Option<String>),
    Sent(String),
    Failed(String),
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    pub fate: Fate,
    pub attempts: u32,
    in_flight: bool,
}

/// Every key's fate, replayed from the journal.
#[derive(Debug, Default)]
pub struct History {
    keys: HashMap<ContentKey, KeyState>,
}

impl History {
    pub fn get(&self, key: ContentKey) -> Option<&KeyState> {
        self.keys.get(&key)
    }

    pub fn apply(&mut self, event: &Event) {
        let Ok(key) = event.key().parse::<ContentKey>() else {
            return;
        };
        let state = self.keys.entry(key).or_insert(KeyState {
            fate: Fate::Pending(None),
            attempts: 0,
            in_flight: false,
        });
        // A sent message stays sent, whatever a later confused event says.
        if matches!(state.fate, Fate::Sent(_)) {
            return;
        }
        match event {
            Event::Attempt { .. } => {
                state.attempts += 1;
                state.in_flight = true;
            }
            Event::Sent { id_message, .. } => {
                state.fate = Fate::Sent(id_message.clone());
                state.in_flight = false;
            }
            Event::Failed { error, .. } => {
                state.fate = Fate::Failed(error.clone());
                state.in_flight = false;
            }
            Event::Unknown { reason, .. } => {
                state.fate = Fate::Unknown(reason.clone());
                state.in_flight = false;
            }
            Event::NotSent { reason, .. } => {
                state.fate = Fate::Pending(Some(reason.clone()));
                state.in_flight = false;
            }
        }
    }

    /// After replay: an attempt with no outcome was caught in flight by a crash.
    fn settle_in_flight(&mut self) {
        for state in self.keys.values_mut() {
            if state.in_flight {
                state.in_flight = false;
                state.fate = Fate::Unknown(
                    "the run stopped while this request was in flight; it may have been sent"
                        .into(),
                );
            }
        }
    }
}

/// The journal's path for a results file.
pub fn path_for(results: &Path) -> PathBuf {
    let mut name = results.as_os_str().to_owned();
    name.push(".ledger");
    PathBuf::from(name)
}

/// Reads a journal. A torn last line (a crash mid-write) is ignored; damage elsewhere is an
/// error, since guessing could send twice.
pub fn replay(path: &Path) -> anyhow::Result<History> {
    let mut history = History::default();
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(history),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read {}", path.display()))?;
    let last = lines.len().saturating_sub(1);
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Event>(line) {
            Ok(event) => history.apply(&event),
            Err(_) if i == last => {}
            Err(e) => anyhow::bail!(
                "{}, line {}: the ledger is damaged ({e}); it cannot be trusted to avoid \
                 double sends. Restore it, or move it away and the results file with it",
                path.display(),
                i + 1
            ),
        }
    }
    history.settle_in_flight();
    Ok(history)
}

/// Appends events. Lines are written inline, which costs less than handing them to a writer
/// thread (every hand-off is a wake-up); only [`Ledger::sync`] may be slow, and it can run on
/// another thread while writing goes on.
pub struct Ledger {
    file: Mutex<File>,
    /// The same file, for fsync without holding up writers.
    sync: File,
    buffer: Mutex<Vec<u8>>,
}

impl Ledger {
    /// Opens (or creates) the journal and locks it, so a second run on the same results file
    /// is refused while this one lives.
    pub fn open(path: &Path) -> anyhow::Result<Ledger> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open the ledger {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "another greenbulk run is using {} right now; wait for it to finish",
                path.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        // A torn line from a crash must not glue itself to the next event.
        if file.metadata()?.len() > 0 && !ends_with_newline(path)? {
            file.write_all(b"\n")?;
        }
        Ok(Ledger {
            sync: file.try_clone()?,
            file: Mutex::new(file),
            buffer: Mutex::new(Vec::with_capacity(256)),
        })
    }

    /// Appends one event: written at once, and fsync'd too when it is an attempt.
    pub fn record(&self, event: &Event) -> std::io::Result<()> {
        self.append(std::slice::from_ref(event))?;
        if event.must_sync() {
            self.sync()?;
        }
        Ok(())
    }

    /// Appends events with one write, handing them to the kernel (they survive `kill -9`) but
    /// not waiting for the disk.
    pub fn append(&self, events: &[Event]) -> std::io::Result<()> {
        let mut buffer = lock(&self.buffer);
        buffer.clear();
        for event in events {
            serde_json::to_writer(&mut *buffer, event).expect("events always serialise");
            buffer.push(b'\n');
        }
        lock(&self.file).write_all(&buffer)
    }

    /// Waits until everything appended so far is on disk. Appends may go on meanwhile.
    pub fn sync(&self) -> std::io::Result<()> {
        self.sync.sync_data()
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        let _ = self.sync();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn ends_with_newline(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path)?;
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u128) -> String {
        ContentKey(n).to_string()
    }

    #[test]
    fn replay_gives_each_key_its_fate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv.ledger");
        {
            let ledger = Ledger::open(&path).unwrap();
            for event in [
                Event::Attempt {
                    key: key(1),
                    row: 2,
                },
                Event::Sent {
                    key: key(1),
                    row: 2,
                    id_message: "ID1".into(),
                    sent_at: Some(1_795_688_094_000),
                },
                Event::Attempt {
                    key: key(2),
                    row: 3,
                },
                Event::NotSent {
                    key: key(2),
                    row: 3,
                    reason: "429".into(),
                },
                Event::Attempt {
                    key: key(2),
                    row: 3,
                },
                Event::Failed {
                    key: key(2),
                    row: 3,
                    error: "400 bad".into(),
                },
                Event::Attempt {
                    key: key(3),
                    row: 4,
                },
            ] {
                ledger.record(&event).unwrap();
            }
        }
        // A crash mid-write leaves a torn line.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"event\":\"sen")
            .unwrap();
        let history = replay(&path).unwrap();
        let fate = |n| history.get(ContentKey(n)).unwrap().fate.clone();
        assert_eq!(fate(1), Fate::Sent("ID1".into()));
        assert_eq!(fate(2), Fate::Failed("400 bad".into()));
        assert_eq!(history.get(ContentKey(2)).unwrap().attempts, 2);
        assert!(matches!(fate(3), Fate::Unknown(_)));
        assert!(history.get(ContentKey(4)).is_none());
    }

    #[test]
    fn a_second_writer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv.ledger");
        let _first = Ledger::open(&path).unwrap();
        let err = Ledger::open(&path).err().unwrap().to_string();
        assert!(err.contains("another greenbulk run"), "{err}");
    }
}
