//! The built-in sandbox's memory between runs: the messages it accepted, and what became of
//! them, kept in the state directory. So `greenbulk status --sandbox` finds the cards a
//! `send --sandbox` put in the queue, as it would on GREEN-API, and the queue goes on
//! emptying while no greenbulk runs (its clock is the wall clock).
//!
//! One JSON line a message, newest last, at most [`KEPT`] of them. Two runs saving at once
//! merge their messages under a lock, by idMessage. Each message is also added to the file
//! as it is accepted ([`Journal`]), so a run killed before it saved (`kill -9`) still leaves
//! what it was sent: a later line for an idMessage stands for it.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::instance::{Fate, Queued};
use super::message::{Contact, OutgoingMessage};

/// The most messages kept: GREEN-API's journal lists the last 10,000, and a status lookup
/// older than that many cards is rare; a file of this many lines is a few tens of MB.
pub(super) const KEPT: usize = 100_000;

/// One saved message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Saved {
    id: String,
    chat: String,
    phone: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quoted: Option<String>,
    card: serde_json::Value,
    name: String,
    vcard: String,
    /// Unix milliseconds.
    accepted: u64,
    /// Unix milliseconds when it left the queue; none while queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    left: Option<u64>,
    #[serde(default)]
    expired: bool,
    #[serde(default)]
    no_account: bool,
    #[serde(default)]
    reads: bool,
    #[serde(default)]
    stuck: bool,
}

fn millis(moment: Duration) -> u64 {
    moment.as_millis() as u64
}

impl Saved {
    pub(super) fn of(message: &OutgoingMessage, queued: &Queued) -> Saved {
        Saved {
            id: message.id_message.clone(),
            chat: message.chat_id.clone(),
            phone: message.phone_contact,
            quoted: message.quoted_message_id.clone(),
            card: message.card.clone(),
            name: message.contact.display_name.clone(),
            vcard: message.contact.vcard.clone(),
            accepted: millis(queued.accepted),
            left: match queued.fate {
                Fate::Left(at) => Some(millis(at)),
                _ => None,
            },
            expired: queued.fate == Fate::Expired,
            no_account: queued.no_account,
            reads: queued.reads,
            stuck: queued.stuck,
        }
    }

    /// The message and its place in the queue again; `started`: when this emulator started
    /// (a message accepted before it shows as accepted at its start).
    pub(super) fn restore(self, started: Duration) -> (OutgoingMessage, Queued) {
        let accepted = Duration::from_millis(self.accepted);
        let fate = match (self.left, self.expired) {
            (Some(left), _) => Fate::Left(Duration::from_millis(left)),
            (None, true) => Fate::Expired,
            (None, false) => Fate::Queued,
        };
        let message = OutgoingMessage {
            id_message: self.id,
            chat_id: self.chat,
            phone_contact: self.phone,
            quoted_message_id: self.quoted,
            card: self.card,
            contact: Contact {
                display_name: self.name,
                vcard: self.vcard,
            },
            accepted_at: accepted.saturating_sub(started),
            dropped: false,
        };
        let queued = Queued {
            accepted,
            fate,
            no_account: self.no_account,
            reads: self.reads,
            stuck: self.stuck,
        };
        (message, queued)
    }
}

/// Reads the saved messages, oldest first (none when there is no file yet), the last line of
/// each idMessage standing for it. Lines that do not read (a torn last line) are left out.
pub(super) fn load(path: &Path) -> std::io::Result<Vec<Saved>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut saved: HashMap<String, Saved> = HashMap::new();
    for line in BufReader::new(file).lines() {
        if let Ok(message) = serde_json::from_str::<Saved>(&line?) {
            saved.insert(message.id.clone(), message);
        }
    }
    let mut saved: Vec<Saved> = saved.into_values().collect();
    saved.sort_by(|a, b| (a.accepted, &a.id).cmp(&(b.accepted, &b.id)));
    Ok(saved)
}

/// Adds each message to the file as it is accepted, under the same lock as [`save`]. The
/// file is opened for each: another run's save renames a new one over it (a handle kept
/// open would write to the replaced file, and a crash then loses those lines). The first
/// failure (a full disk) stops it; the save at the end says so if it fails too.
pub(super) struct Journal {
    path: PathBuf,
    lock: File,
    failed: bool,
}

impl Journal {
    pub(super) fn open(path: &Path) -> std::io::Result<Journal> {
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder)?;
        }
        Ok(Journal {
            path: path.to_path_buf(),
            lock: lock_file(path)?,
            failed: false,
        })
    }

    /// Adds a message's line, in one write, unless an earlier one failed. A line left torn
    /// (a full disk, a crash) is ended first, so this one reads.
    pub(super) fn add(&mut self, message: &Saved) {
        if self.failed {
            return;
        }
        let added = (|| {
            let mut line = serde_json::to_vec(message).map_err(std::io::Error::other)?;
            line.push(b'\n');
            self.lock.lock()?;
            let written = (|| {
                let mut file = OpenOptions::new()
                    .create(true)
                    .read(true)
                    .append(true)
                    .open(&self.path)?;
                let length = file.metadata()?.len();
                if length > 0 {
                    let mut last = [0u8];
                    file.seek(SeekFrom::Start(length - 1))?;
                    file.read_exact(&mut last)?;
                    if last[0] != b'\n' {
                        line.insert(0, b'\n');
                    }
                }
                file.write_all(&line)
            })();
            self.lock.unlock()?;
            written
        })();
        self.failed = added.is_err();
    }
}

fn lock_file(path: &Path) -> std::io::Result<File> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
}

/// Saves `messages`, merged with what another run saved meanwhile (ours win), keeping the
/// newest [`KEPT`]: written beside the file and renamed over it, under a lock.
pub(super) fn save(path: &Path, messages: Vec<Saved>) -> std::io::Result<()> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)?;
    }
    let lock = lock_file(path)?;
    lock.lock()?;
    let mut all: HashMap<String, Saved> =
        load(path)?.into_iter().map(|m| (m.id.clone(), m)).collect();
    for message in messages {
        all.insert(message.id.clone(), message);
    }
    let mut all: Vec<Saved> = all.into_values().collect();
    all.sort_by(|a, b| (a.accepted, &a.id).cmp(&(b.accepted, &b.id)));
    let drop = all.len().saturating_sub(KEPT);
    let mut out = std::io::BufWriter::new(crate::replace::Replacement::of(path)?);
    for message in &all[drop..] {
        serde_json::to_writer(&mut out, message).map_err(std::io::Error::other)?;
        out.write_all(b"\n")?;
    }
    out.into_inner().map_err(|e| e.into_error())?.place()?;
    lock.unlock()
}
