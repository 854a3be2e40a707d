//! The sent-card history: per instance, every card greenbulk sent (or may have sent) from
//! this machine, whatever results file the run wrote — the second fence of "never twice"
//! (docs/never-twice.md). The ledger knows one results file; this knows them all, so a run
//! with a new results file (a cron job naming each day's by date) sends only the new rows.
//!
//! One file per instance in the state directory, `cards-{idInstance}.bin`: a 16-byte header,
//! then fixed 64-byte slots, one per card attempted: the card's identity ([`CardKey`]: chat
//! and phone), when, which results file (a number drawn from its path and its ledger's
//! beginning, see [`ResultsIdentity`]; `cards-{idInstance}.files` gives each number's path,
//! for messages only), what became of it (in flight, sent with its idMessage, unknown, or not
//! sent after all) and a checksum. A run *claims* its cards before their requests leave:
//! under a file lock it reads what other runs appended since it last looked, refuses the
//! cards already sent or in flight elsewhere, and appends a slot for each of the rest; the
//! answer then rewrites that slot in place (under the same lock). So two runs on the same
//! instance, even at the same moment, never both send one card; and since a claim also reads
//! every other instance's history afresh under the machine's claims lock ([`claim_across`]),
//! neither do two runs on two instances (docs/never-twice.md). A million cards take 64 MB on disk and about
//! 40 MB in memory, and a lookup is one hash probe.
//!
//! A slot torn by a crash fails its checksum and is skipped; a slot left "in flight" by a
//! run that died stays in doubt (never resent) until that run's ledger is opened again and
//! says what happened (see [`SentCards::reconcile`]).

mod index;
mod slot;

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::contact::CardKey;
use crate::positioned::{read_exact_at, write_all_at};
use crate::record::Part;
use crate::record::ledger::{Fate, History};
use index::{CardIndex, Read as IndexRead};
pub(crate) use slot::Settled;
use slot::{MAGIC, SLOT, Slot, slot_offset};

/// What this machine sent of a card before, from another run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Earlier {
    /// Sent (with its idMessage, when kept), or in doubt (in flight, or its answer lost).
    pub(crate) sent: Option<Option<String>>,
    /// When it was claimed or sent (Unix ms).
    pub(crate) at: u64,
    /// The results file of the run that sent it.
    pub(crate) results: String,
    /// The instance (idInstance) it was sent from.
    pub(crate) instance: String,
}

/// Which run's results file a slot belongs to: the file's path (resolved) and its ledger's
/// beginning ([`crate::record::Event::Begun`]). The same path with a new ledger (the earlier
/// one deleted or lost) is another file: the cards the earlier one left in doubt stay in
/// doubt, since no ledger can say any more what became of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResultsIdentity {
    pub(crate) path: PathBuf,
    pub(crate) begun: Option<(u64, u64)>,
}

impl ResultsIdentity {
    /// The number slots give it: drawn from its path's bytes and its ledger's beginning,
    /// so that no list of files (which could be lost) decides whose a slot is.
    fn number(&self) -> u32 {
        let mut bytes = self.path.as_os_str().as_encoded_bytes().to_vec();
        if let Some((at, nonce)) = self.begun {
            bytes.push(0);
            bytes.extend_from_slice(&at.to_le_bytes());
            bytes.extend_from_slice(&nonce.to_le_bytes());
        }
        xxhash_rust::xxh3::xxh3_64(&bytes) as u32
    }
}

/// A line of `cards-{idInstance}.files`: a results file's number and its path as shown.
#[derive(serde::Serialize, serde::Deserialize)]
struct FileLine {
    file: u32,
    path: String,
}

/// Why the history cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("the sent-card history {path} cannot be used: {error}")]
pub struct SentCardsError {
    path: String,
    error: std::io::Error,
}

impl SentCardsError {
    /// What kind of failure it was.
    pub(crate) fn kind(&self) -> std::io::ErrorKind {
        self.error.kind()
    }
}

/// One instance's sent-card history, open.
pub(crate) struct SentCards {
    /// The instance whose history this is.
    instance: String,
    path: PathBuf,
    files_path: PathBuf,
    /// Open for reading (and writing, unless only peeked at); none before the first card.
    file: Option<File>,
    writable: bool,
    index: CardIndex,
    /// The results files' paths as shown, by number.
    files: HashMap<u32, String>,
    /// How long `.files` was when it was last read.
    files_read: Option<u64>,
    /// How far the slots were read (bytes).
    read_to: u64,
    /// The index was built (from the first look's slots, all at once; later looks add).
    indexed: bool,
    /// The number of this run's results file, once registered.
    this_file: Option<u32>,
    /// The cards this run claimed: a second row with the same card (chat and phone, other
    /// names) is refused, even with `--again` — one run sends a card once.
    claimed_now: HashSet<CardKey>,
    /// Slots read that failed their checksum: their cards are not known to this history.
    damaged: u64,
    /// The cards known to it: a part's (see [`Part`]), for `status` working on a big
    /// history a part at a time; the slots of other cards are read past.
    part: Part,
}

impl SentCards {
    /// The history's file for an instance.
    pub(crate) fn path(state_dir: &Path, id_instance: &str) -> PathBuf {
        state_dir.join(format!("cards-{id_instance}.bin"))
    }

    /// The file beside a history that keeps how many of its slots were once on disk for
    /// certain (8 bytes, little-endian): a history found holding fewer — cut short by a disk,
    /// or put back from an older copy — has lost cards, and is refused rather than trusted
    /// (it would send them again).
    fn mark_path(&self) -> PathBuf {
        self.path.with_extension("mark")
    }

    /// How many slots the mark says the history has held (0 without one).
    fn marked(&self) -> std::io::Result<u64> {
        let file = match File::open(self.mark_path()) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut bytes = [0u8; 8];
        Ok(match read_exact_at(&file, &mut bytes, 0) {
            Ok(()) => u64::from_le_bytes(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(e),
        })
    }

    /// Raises the mark to the slots read so far, once they are on disk: called right after an
    /// fsync of the file, which makes every run's writes to it durable. Never lowered; two
    /// runs raising it at once may leave it lower than it could be, never higher than the
    /// history. A mark that cannot be raised is left as it is: it guards the history, which
    /// is whole without it, and a lower mark only guards less.
    fn raise_mark(&self) {
        let slots = self.read_to.saturating_sub(MAGIC.len() as u64) / SLOT;
        if slots == 0 || self.marked().is_ok_and(|marked| slots <= marked) {
            return;
        }
        let _ = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.mark_path())
            .and_then(|file| write_all_at(&file, &slots.to_le_bytes(), 0));
    }

    /// The instances whose histories are in `state_dir`.
    pub(crate) fn instances_in(state_dir: &Path) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(state_dir) else {
            return Vec::new();
        };
        let mut instances: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name();
                let id = name
                    .to_str()?
                    .strip_prefix("cards-")?
                    .strip_suffix(".bin")?;
                (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then(|| id.to_string())
            })
            .collect();
        instances.sort();
        instances
    }

    /// Opens (creating it) and reads the history of `id_instance`.
    pub(crate) fn open(state_dir: &Path, id_instance: &str) -> Result<SentCards, SentCardsError> {
        SentCards::open_part(state_dir, id_instance, Part::WHOLE)
    }

    /// [`SentCards::open`], knowing only the cards of `part`.
    pub(crate) fn open_part(
        state_dir: &Path,
        id_instance: &str,
        part: Part,
    ) -> Result<SentCards, SentCardsError> {
        let path = SentCards::path(state_dir, id_instance);
        let failed = |error| SentCardsError {
            path: crate::term::shown_path(&path),
            error,
        };
        std::fs::create_dir_all(state_dir).map_err(failed)?;
        SentCards::create_whole(&path).map_err(failed)?;
        // Not in append mode: a slot is rewritten in place when its answer comes, and Linux
        // appends every write to a file opened for appending, whatever its offset.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(failed)?;
        SentCards::load(id_instance, path.clone(), Some(file), true, part).map_err(failed)
    }

    /// Makes a new history at `path`, when there is none, whole or not at all: its header
    /// written to a file of its own and on disk before it takes the name (never over a file
    /// another run made meanwhile). An empty history is then never one greenbulk began: it
    /// is refused as damaged (see [`SentCards::start`]). On a file system without hard links
    /// the file is made in place, as it was before.
    fn create_whole(path: &Path) -> std::io::Result<()> {
        if path.exists() {
            return Ok(());
        }
        let mut new = path.as_os_str().to_owned();
        new.push(format!(".{:016x}.new", fastrand::u64(..)));
        let new = PathBuf::from(new);
        let made = (|| {
            let mut file = OpenOptions::new().write(true).create_new(true).open(&new)?;
            file.write_all(MAGIC)?;
            file.sync_all()?;
            match std::fs::hard_link(&new, path) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                Err(_) => {
                    // No hard links here: the header written in place, under the lock.
                    let file = OpenOptions::new()
                        .create(true)
                        .truncate(false)
                        .read(true)
                        .write(true)
                        .open(path)?;
                    file.lock()?;
                    if file.metadata()?.len() == 0 {
                        write_all_at(&file, MAGIC, 0)?;
                        file.sync_all()?;
                    }
                    file.unlock()
                }
                Ok(()) => Ok(()),
            }
        })();
        let _ = std::fs::remove_file(&new);
        made
    }

    /// Reads the history of `id_instance` without changing it (none yet: empty).
    pub(crate) fn peek(state_dir: &Path, id_instance: &str) -> Result<SentCards, SentCardsError> {
        let path = SentCards::path(state_dir, id_instance);
        let failed = |error| SentCardsError {
            path: crate::term::shown_path(&path),
            error,
        };
        match File::open(&path) {
            Ok(file) => SentCards::load(id_instance, path.clone(), Some(file), false, Part::WHOLE)
                .map_err(failed),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                SentCards::load(id_instance, path.clone(), None, false, Part::WHOLE).map_err(failed)
            }
            Err(e) => Err(failed(e)),
        }
    }

    /// The history of `id_instance`, found in the directory after the run's first look: every
    /// card in it counts as changed since then (read again by the run's last look).
    fn found(state_dir: &Path, id_instance: &str) -> std::io::Result<SentCards> {
        let path = SentCards::path(state_dir, id_instance);
        let mut cards = SentCards::load(id_instance, path, None, false, Part::WHOLE)?;
        cards.refresh()?;
        Ok(cards)
    }

    fn load(
        instance: &str,
        path: PathBuf,
        file: Option<File>,
        writable: bool,
        part: Part,
    ) -> std::io::Result<SentCards> {
        let mut files_path = path.clone();
        files_path.set_extension("files");
        let mut cards = SentCards {
            instance: instance.to_string(),
            path,
            files_path,
            file,
            writable,
            index: CardIndex::default(),
            files: HashMap::new(),
            files_read: None,
            read_to: 0,
            indexed: false,
            this_file: None,
            claimed_now: HashSet::new(),
            damaged: 0,
            part,
        };
        let Some(file) = &cards.file else {
            // Nothing to build an index from: whatever appears later is a change.
            cards.indexed = true;
            return Ok(cards);
        };
        if writable {
            file.lock()?;
        } else {
            file.lock_shared()?;
        }
        let read = cards.start().and_then(|()| cards.catch_up());
        cards.file().unlock()?;
        read?;
        Ok(cards)
    }

    /// How many of its slots were damaged when read (a power cut in the middle of a write,
    /// or the disk): the cards they held are not known to it.
    pub(crate) fn damaged(&self) -> u64 {
        self.damaged
    }

    /// Its file, as shown.
    pub(crate) fn shown_path(&self) -> String {
        crate::term::shown_path(&self.path)
    }

    /// The open file (there is one whenever a slot can exist).
    fn file(&self) -> &File {
        self.file.as_ref().expect("a history with slots has a file")
    }

    /// Checks the header: a history is made whole (see [`SentCards::create_whole`]), so an
    /// empty one was emptied — by a disk that lost what was written, or by hand — and the
    /// cards it knew are not known any more: taking it for a new one would send them again.
    fn start(&mut self) -> std::io::Result<()> {
        let mut file = self.file();
        let length = file.metadata()?.len();
        if length == 0 {
            return Err(std::io::Error::other(
                "it is empty: a disk or a crash emptied it, and the cards it knew (to send none \
                 twice) are not known any more. Restore it from a backup; or delete it (and the \
                 .mark file beside it) to start a new history, knowing that cards sent before \
                 may then be sent again",
            ));
        }
        let mut magic = [0u8; 16];
        file.seek(SeekFrom::Start(0))?;
        file.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(std::io::Error::other(
                "it is not a greenbulk sent-card history (its first bytes differ); move it \
                 away, with the .mark file beside it, and greenbulk starts a new one",
            ));
        }
        self.read_to = MAGIC.len() as u64;
        let slots = (length - MAGIC.len() as u64) / SLOT;
        let marked = self.marked()?;
        if marked > slots {
            return Err(std::io::Error::other(format!(
                "it holds {slots} entries where it held {marked}: it was cut short or replaced \
                 (by a disk, an older copy put back, or the file deleted), and the cards it lost \
                 (to send none twice) are not known any more. Restore it from the newest backup; or, knowing that cards \
                 sent before may then be sent again, delete {} to go on with it as it is",
                crate::term::shown_path(&self.mark_path())
            )));
        }
        Ok(())
    }

    /// Reads the slots other runs appended since the last look, and the results files
    /// they named. Called with the lock held.
    fn catch_up(&mut self) -> std::io::Result<()> {
        if self.read_to == 0 {
            // An empty file, its header not written yet: nothing to build an index from.
            self.indexed = true;
            return Ok(());
        }
        let mut file = self.file.as_ref().expect("a history with slots has a file");
        let length = file.metadata()?.len();
        let whole = self.read_to + (length.saturating_sub(self.read_to) / SLOT) * SLOT;
        if whole > self.read_to {
            file.seek(SeekFrom::Start(self.read_to))?;
            let mut reader = BufReader::with_capacity(1 << 20, file.take(whole - self.read_to));
            let mut bytes = [0u8; SLOT as usize];
            let mut number = ((self.read_to - MAGIC.len() as u64) / SLOT) as u32;
            // The first look builds the index from every slot at once; later ones add to it.
            let first = !self.indexed;
            let mut read = Vec::new();
            // Every slot, when every card is known to it (a part's grow as they come).
            if first && self.part == Part::WHOLE {
                read.reserve(((whole - self.read_to) / SLOT) as usize);
            }
            loop {
                match reader.read_exact(&mut bytes) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
                let decoded = Slot::decode(&bytes);
                self.damaged += u64::from(decoded.is_none());
                if let Some(slot) = decoded.filter(|slot| self.part.holds_card(slot.card)) {
                    if first {
                        read.push(IndexRead {
                            fingerprint: slot.card.0 as u64,
                            number,
                            file: slot.file,
                            // The index needs what became of the card, not its idMessage.
                            settled: match slot.settled {
                                Settled::Sent(_) => Settled::Sent(None),
                                other => other,
                            },
                        });
                    } else {
                        let fingerprint = slot.card.0 as u64;
                        self.index
                            .apply(fingerprint, number, &slot.settled, slot.file);
                    }
                }
                number += 1;
            }
            if first {
                self.index = CardIndex::build(read);
            }
            self.read_to = whole;
        }
        self.indexed = true;
        self.read_files()
    }

    fn read_files(&mut self) -> std::io::Result<()> {
        let file = match File::open(&self.files_path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        self.files_read = Some(file.metadata()?.len());
        self.files.clear();
        for line in BufReader::new(file).lines() {
            let line = line?;
            // A torn last line (a crash while a name was added) names nothing.
            if let Ok(FileLine { file, path }) = serde_json::from_str(&line) {
                self.files.insert(file, path);
            }
        }
        Ok(())
    }

    fn apply(&mut self, number: u32, slot: &Slot) {
        if !self.part.holds_card(slot.card) {
            return;
        }
        self.index
            .apply(slot.card.0 as u64, number, &slot.settled, slot.file);
    }

    /// The slot `number` if it is `card`'s (a fingerprint shared by two cards is not).
    fn slot_of(&self, number: u32, card: CardKey) -> Option<Slot> {
        self.read_slot(number)
            .ok()
            .flatten()
            .filter(|slot| slot.card == card)
    }

    /// How many cards the history holds (sent or in doubt).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.index.len()
    }

    /// Registers this run's results file; returns its number.
    pub(crate) fn register(&mut self, results: &ResultsIdentity) -> Result<u32, SentCardsError> {
        let number = results.number();
        let shown = crate::term::shown_path(&self.files_path);
        let failed = |error| SentCardsError { path: shown, error };
        let path = results.path.to_string_lossy().into_owned();
        self.locked(|cards| {
            cards.read_files()?;
            if cards.files.get(&number) == Some(&path) {
                return Ok(());
            }
            let line = FileLine {
                file: number,
                path: path.clone(),
            };
            let mut line = serde_json::to_string(&line).map_err(std::io::Error::other)?;
            line.push('\n');
            let mut files = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&cards.files_path)?;
            files.write_all(line.as_bytes())?;
            files.sync_data()?;
            cards.files.insert(number, path);
            Ok(())
        })
        .map_err(failed)?;
        self.this_file = Some(number);
        Ok(number)
    }

    /// [`SentCards::earlier`], for a card known to have been absent when the history was
    /// opened (`absent`): then only what changed since needs a look.
    pub(crate) fn earlier_unless_absent(&self, card: CardKey, absent: bool) -> Option<Earlier> {
        if absent && !self.index.changed_since_built(card.0 as u64) {
            return None;
        }
        self.earlier(card)
    }

    /// What this machine sent of `card` from another run (or, sent, from any run): none
    /// when it may go. A card in doubt for this run's own results file is the ledger's to
    /// decide: the same ledger, begun by the run that left the doubt (see
    /// [`ResultsIdentity`]).
    pub(crate) fn earlier(&self, card: CardKey) -> Option<Earlier> {
        let standing = self.index.get(card.0 as u64)?;
        let (number, sent) = if standing.sent != 0 {
            (standing.sent - 1, true)
        } else if standing.doubt != 0 && Some(standing.doubt_file) != self.this_file {
            (standing.doubt - 1, false)
        } else {
            return None;
        };
        // Read afresh: a slot another run has since made void holds nothing.
        let slot = self
            .slot_of(number, card)
            .filter(|slot| slot.settled != Settled::Void)?;
        let results = self
            .files
            .get(&slot.file)
            .cloned()
            .unwrap_or_else(|| "(a results file whose name was not kept)".into());
        Some(Earlier {
            sent: match slot.settled {
                Settled::Sent(id) if sent => Some(id),
                _ => None,
            },
            at: slot.at,
            results,
            instance: self.instance.clone(),
        })
    }

    /// Reads what other runs appended since the last look, under a shared lock: another
    /// instance's history, looked at again just before this run claims its cards. A history
    /// that did not exist when it was first looked for is looked for again; one removed,
    /// replaced or cut short since is read again from its start.
    fn refresh(&mut self) -> std::io::Result<()> {
        let on_disk = match std::fs::metadata(&self.path) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let replaced = match (&self.file, &on_disk) {
            (Some(file), Some(on_disk)) => {
                let open = file.metadata()?;
                on_disk.len() < self.read_to || !same_file(&open, on_disk)
            }
            (Some(_), None) => true,
            (None, _) => false,
        };
        if replaced && !self.writable {
            self.file = None;
            self.read_to = 0;
            self.index = CardIndex::default();
            self.indexed = true;
            self.files.clear();
            self.files_read = None;
        }
        // Unchanged in length: nothing was appended (a slot rewritten in place since is read
        // when it is looked at), and the lock is not worth taking. Claims, the appends that
        // matter here, are made under the machine's claims lock, which the caller holds.
        if let (Some(_), Some(on_disk)) = (&self.file, &on_disk)
            && self.read_to > 0
            && on_disk.len() == self.read_to
        {
            return Ok(());
        }
        if self.file.is_none() {
            match File::open(&self.path) {
                Ok(file) => self.file = Some(file),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        // Shared even for a history this run writes (another lane's): a claim only reads.
        self.file().lock_shared()?;
        let read = (|| {
            if self.read_to == 0 {
                self.start()?;
            }
            self.catch_up()?;
            // The results files' names, when one was added since.
            let files = std::fs::metadata(&self.files_path).map(|m| m.len()).ok();
            if files.is_some() && files != self.files_read {
                self.read_files()?;
            }
            Ok(())
        })();
        self.file().unlock()?;
        read
    }

    /// Whether this history holds `card` against a run writing results file `run_file`:
    /// claimed by that run already (another of its lanes), sent, or in doubt (in flight, or
    /// its answer lost) for another results file — a doubt of the run's own file is its
    /// ledger's to decide. The slot the index names is read afresh (the caller holds the
    /// file's lock, under which slots are rewritten): one made void since does not hold, and
    /// a damaged one is skipped, as every look at the history skips it.
    fn holds(&self, card: CardKey, run_file: Option<u32>) -> bool {
        if self.claimed_now.contains(&card) {
            return true;
        }
        let Some(standing) = self.index.get(card.0 as u64) else {
            return false;
        };
        let number = if standing.sent != 0 {
            standing.sent - 1
        } else if standing.doubt != 0 && Some(standing.doubt_file) != run_file {
            standing.doubt - 1
        } else {
            return false;
        };
        match self.read_slot(number) {
            // Another card whose key shares the index's fingerprint.
            Ok(Some(slot)) if slot.card != card => false,
            Ok(Some(slot)) => slot.settled != Settled::Void,
            Ok(None) | Err(_) => false,
        }
    }

    fn read_slot(&self, number: u32) -> std::io::Result<Option<Slot>> {
        let mut bytes = [0u8; SLOT as usize];
        read_exact_at(self.file(), &mut bytes, slot_offset(number))?;
        Ok(Slot::decode(&bytes))
    }

    /// Claims cards for requests about to leave, at `at` (Unix ms): each gets a slot, or
    /// none when another run sent it or has it in flight — unless it is to go `again`
    /// (`--again`, or a corrected card) — or this run claimed it already (for another row
    /// with the same chat and phone). A card that already has a slot of this run's (a
    /// retry) keeps it.
    #[cfg(test)]
    pub(crate) fn claim(
        &mut self,
        cards: &[Claim],
        at: u64,
    ) -> Result<Vec<Option<u32>>, SentCardsError> {
        let claimed = self.claim_within(cards, at, None, &Elsewhere::default())?;
        Ok(claimed
            .into_iter()
            .map(|c| match c {
                Claimed::Slot(slot) => Some(slot),
                Claimed::Taken | Claimed::Capped => None,
            })
            .collect())
    }

    /// [`SentCards::claim`], and no more new cards than `cap` leaves room for on its day,
    /// counted under the same lock: two runs at once cannot pass the cap together. The
    /// cards in `elsewhere` (another instance's history holds them) are taken too.
    pub(crate) fn claim_within(
        &mut self,
        cards: &[Claim],
        at: u64,
        cap: Option<DayCap>,
        elsewhere: &Elsewhere,
    ) -> Result<Vec<Claimed>, SentCardsError> {
        let file = self
            .this_file
            .expect("the results file is registered first");
        let shown = crate::term::shown_path(&self.path);
        let failed = |error| SentCardsError { path: shown, error };
        self.locked(|history| {
            history.catch_up()?;
            let mut room = match cap {
                Some(cap) => cap
                    .most
                    .saturating_sub(history.count_between(cap.from, cap.to)?),
                None => u64::MAX,
            };
            let mut bytes = Vec::with_capacity(cards.len() * SLOT as usize);
            let mut next = ((history.read_to - MAGIC.len() as u64) / SLOT) as u32;
            let mut claimed = Vec::with_capacity(cards.len());
            let mut appended = Vec::new();
            for &Claim { card, slot, again } in cards {
                if let Some(own) = slot {
                    claimed.push(Claimed::Slot(own));
                    continue;
                }
                // One run sends a card once, whichever of its lanes, even told to again.
                if history.claimed_now.contains(&card) || elsewhere.claimed.contains(&card) {
                    claimed.push(Claimed::Taken);
                    continue;
                }
                let taken = elsewhere.held.contains(&card) || history.holds(card, Some(file));
                if taken && !again {
                    claimed.push(Claimed::Taken);
                    continue;
                }
                if room == 0 {
                    claimed.push(Claimed::Capped);
                    continue;
                }
                room -= 1;
                let slot = Slot {
                    card,
                    at,
                    file,
                    settled: Settled::InFlight,
                };
                bytes.extend_from_slice(&slot.encode());
                history.claimed_now.insert(card);
                appended.push((next, slot));
                claimed.push(Claimed::Slot(next));
                next += 1;
            }
            if !bytes.is_empty() {
                write_all_at(history.file(), &bytes, history.read_to)?;
                history.read_to += bytes.len() as u64;
                for (number, slot) in appended {
                    history.apply(number, &slot);
                }
            }
            Ok(claimed)
        })
        .map_err(failed)
    }

    /// Writes what became of a claimed card into its slot.
    pub(crate) fn settle(
        &mut self,
        number: u32,
        card: CardKey,
        at: u64,
        settled: Settled,
    ) -> Result<(), SentCardsError> {
        let file = self
            .this_file
            .expect("the results file is registered first");
        let slot = Slot {
            card,
            at,
            file,
            settled,
        };
        // Under the file's lock: on Windows a lock keeps out the writes of those without it,
        // and another run's claim may be reading this history.
        let written = self.file().lock().and_then(|()| {
            let written = write_all_at(self.file(), &slot.encode(), slot_offset(number));
            self.file().unlock().and(written)
        });
        written.map_err(|error| SentCardsError {
            path: crate::term::shown_path(&self.path),
            error,
        })?;
        self.apply(number, &slot);
        Ok(())
    }

    /// Brings the history in line with what a ledger knows of this run's results file:
    /// cards it records as sent are added (a run killed between its ledger and this file),
    /// and cards held in doubt for this results file that the ledger says did not go out
    /// are released. `cards`: (card, sent idMessage or none, may have been sent).
    pub(crate) fn reconcile(
        &mut self,
        cards: impl Iterator<Item = (CardKey, Reconciled)>,
        at: u64,
    ) -> Result<u64, SentCardsError> {
        let file = self
            .this_file
            .expect("the results file is registered first");
        let mut appended = Vec::new();
        for (card, fate) in cards {
            let standing = self.index.get(card.0 as u64).unwrap_or_default();
            let ours_in_doubt = standing.doubt != 0 && standing.doubt_file == file;
            let settled = match fate {
                Reconciled::Sent(_) if standing.sent != 0 => continue,
                Reconciled::Sent(id) => Settled::Sent(Some(id)),
                Reconciled::Unknown if standing.sent != 0 || ours_in_doubt => continue,
                Reconciled::Unknown => Settled::Unknown,
                Reconciled::NotSent if ours_in_doubt => Settled::Void,
                Reconciled::NotSent => continue,
            };
            appended.push(Slot {
                card,
                at,
                file,
                settled,
            });
        }
        if appended.is_empty() {
            return Ok(0);
        }
        let count = appended.len() as u64;
        let shown = crate::term::shown_path(&self.path);
        let failed = |error| SentCardsError { path: shown, error };
        self.locked(|history| {
            history.catch_up()?;
            let first = ((history.read_to - MAGIC.len() as u64) / SLOT) as u32;
            let bytes: Vec<u8> = appended.iter().flat_map(Slot::encode).collect();
            write_all_at(history.file(), &bytes, history.read_to)?;
            history.file().sync_data()?;
            history.read_to += bytes.len() as u64;
            for (number, slot) in (first..).zip(&appended) {
                history.apply(number, slot);
            }
            history.raise_mark();
            Ok(())
        })
        .map_err(failed)?;
        Ok(count)
    }

    /// [`SentCards::reconcile`] with what a ledger records of this run's results file on this
    /// history's instance: its rows' fates, and the rows taken back from the results file.
    /// `unrecorded`: also the rows whose instance the ledger does not say (an older ledger,
    /// or a results file without the `instance` column).
    pub(crate) fn reconcile_with(
        &mut self,
        history: &History,
        at: u64,
        unrecorded: bool,
    ) -> Result<u64, SentCardsError> {
        let our_instance = self.instance.clone();
        let ours = |instance| match history.instance(instance) {
            Some(on) => on == our_instance,
            None => unrecorded,
        };
        let ledger_cards = history.iter().filter_map(|(_, state)| {
            if !ours(state.instance) {
                return None;
            }
            let card = CardKey::of(state.chat.as_ref()?, state.phone?);
            let fate = match &state.fate {
                Fate::Sent(id) => Reconciled::Sent(id.clone()),
                Fate::Unknown(_) => Reconciled::Unknown,
                Fate::Pending(_) | Fate::Failed(_) => Reconciled::NotSent,
            };
            Some((card, fate))
        });
        let restored = history
            .cards()
            .filter(|(_, card)| card.key.is_none() && ours(card.instance))
            .map(|(key, card)| {
                let fate = match &card.sent {
                    Some(id) => Reconciled::Sent(id.to_string()),
                    None => Reconciled::Unknown,
                };
                (key, fate)
            });
        // One card at a time: a million cards' fates are never all in memory at once.
        self.reconcile(ledger_cards.chain(restored), at)
    }

    /// How many cards this machine sent (or may have) from the instance between `from` and
    /// `to` (Unix ms): the slots of that time that were not voided, in this run's and every
    /// other run's. For `--daily-cap`. The slots are read from the end back, as far as that
    /// time (and an hour more: a slot is rewritten with its answer's time).
    pub(crate) fn sent_between(&self, from: u64, to: u64) -> Result<u64, SentCardsError> {
        // Under a shared lock: a slot is read whole, never half rewritten, and on Windows a
        // file another run holds locked cannot be read at all without waiting for it.
        let counted = match &self.file {
            Some(file) => file.lock_shared().and_then(|()| {
                let counted = self.count_between(from, to);
                file.unlock().and(counted)
            }),
            None => Ok(0),
        };
        counted.map_err(|error| SentCardsError {
            path: crate::term::shown_path(&self.path),
            error,
        })
    }

    /// Read from the newest slot back: a card counts by its newest slot, so a claim a
    /// killed run left in flight and the void that settled it later (see
    /// [`SentCards::reconcile`]) are no card, and a lost answer and the sent that found it one.
    fn count_between(&self, from: u64, to: u64) -> std::io::Result<u64> {
        let Some(file) = &self.file else {
            return Ok(0);
        };
        const CHUNK: u64 = 4096;
        let length = file.metadata()?.len();
        let slots = length.saturating_sub(MAGIC.len() as u64) / SLOT;
        let mut end = slots;
        let mut count = 0;
        let mut seen = HashSet::new();
        let mut bytes = vec![0u8; (CHUNK * SLOT) as usize];
        while end > 0 {
            let start = end.saturating_sub(CHUNK);
            let chunk = &mut bytes[..((end - start) * SLOT) as usize];
            read_exact_at(file, chunk, slot_offset(start as u32))?;
            let mut newest = 0;
            for raw in chunk.chunks_exact(SLOT as usize).rev() {
                let Some(slot) = Slot::decode(raw) else {
                    continue;
                };
                newest = newest.max(slot.at);
                if !seen.insert(slot.card) {
                    continue;
                }
                if (from..to).contains(&slot.at) && slot.settled != Settled::Void {
                    count += 1;
                }
            }
            if newest < from.saturating_sub(3_600_000) {
                break;
            }
            end = start;
        }
        Ok(count)
    }

    /// Makes every slot written so far durable, and marks them so (see [`SentCards::marked`]).
    pub(crate) fn sync(&self) -> std::io::Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        file.sync_data()?;
        self.raise_mark();
        Ok(())
    }

    /// Runs `work` with the file locked against other runs, a torn last slot cut off first.
    fn locked<T>(
        &mut self,
        work: impl FnOnce(&mut SentCards) -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        assert!(
            self.writable,
            "only a history opened for writing is written"
        );
        self.file().lock()?;
        let done = (|| {
            let length = self.file().metadata()?.len();
            let torn = length.saturating_sub(MAGIC.len() as u64) % SLOT;
            if torn != 0 {
                // A write cut short by a crash: nothing in it can be read.
                self.file().set_len(length - torn)?;
            }
            work(self)
        })();
        self.file().unlock()?;
        done
    }
}

/// What other histories hold of the cards a claim is about: cards claimed by another lane of
/// this run (refused even `--again`: one run sends a card once), and cards another
/// instance's history holds, sent or in doubt (refused unless `--again`).
#[derive(Debug, Default)]
pub(crate) struct Elsewhere {
    claimed: HashSet<CardKey>,
    held: HashSet<CardKey>,
}

/// The machine's claims lock, `claims.lock` beside the histories: every run takes it around
/// each claim (see [`claim_across`]). Each lane opens its own, so that the lanes of one run
/// exclude each other as two runs do.
pub(crate) struct ClaimsLock {
    file: File,
    path: PathBuf,
}

impl ClaimsLock {
    /// Opens (creating it) the lock beside the histories in `dir`: when the run starts, so
    /// that a directory it cannot be made in stops the run before anything is sent.
    pub(crate) fn open(dir: &Path) -> Result<ClaimsLock, SentCardsError> {
        let path = dir.join("claims.lock");
        let failed = |error: std::io::Error| SentCardsError {
            path: crate::term::shown_path(&path),
            error: std::io::Error::new(
                error.kind(),
                format!(
                    "{error}; every run takes this lock (beside the histories) before it sends \
                     a card: the state directory must be one greenbulk can write in"
                ),
            ),
        };
        std::fs::create_dir_all(dir).map_err(failed)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            // Another user's lock file: reading it is enough to lock it.
            .or_else(|error| File::open(&path).map_err(|_| error))
            .map_err(failed)?;
        Ok(ClaimsLock { file, path })
    }
}

/// The histories a run looks at: its lanes' (in lane order), every other instance's on this
/// machine, and those found in the directory since it started — one list for the run's
/// lanes, and for its last look at what each row became.
pub(crate) type Histories = std::sync::Mutex<Vec<std::sync::Arc<std::sync::RwLock<SentCards>>>>;

/// Claims `cards` in `own` ([`SentCards::claim_within`]), refusing those that another of the
/// run's `histories` holds — another lane's claim of this run, or another instance's card
/// sent or in flight — each read afresh, and any history that appeared in the directory
/// since (added to `histories`). Every run on this machine claims under one lock (`lock`), so
/// two runs on two instances at the same moment never both send one card.
pub(crate) fn claim_across(
    own: &std::sync::Arc<std::sync::RwLock<SentCards>>,
    histories: &Histories,
    lock: &ClaimsLock,
    cards: &[Claim],
    at: u64,
    cap: Option<DayCap>,
) -> Result<Vec<Claimed>, SentCardsError> {
    let (dir, instance, run_file) = {
        let own = crate::read(own);
        let dir = own.path.parent().map(Path::to_path_buf).unwrap_or_default();
        (dir, own.instance.clone(), own.this_file)
    };
    let failed = |path: &Path, error| SentCardsError {
        path: crate::term::shown_path(path),
        error,
    };
    lock.file.lock().map_err(|e| failed(&lock.path, e))?;
    let done = (|| {
        let mut histories = crate::lock(histories);
        for appeared in SentCards::instances_in(&dir) {
            let known = appeared == instance
                || histories
                    .iter()
                    .any(|history| crate::read(history).instance == appeared);
            if !known {
                let found = SentCards::found(&dir, &appeared)
                    .map_err(|e| failed(&SentCards::path(&dir, &appeared), e))?;
                histories.push(std::sync::Arc::new(std::sync::RwLock::new(found)));
            }
        }
        let wanted: Vec<(CardKey, bool)> = cards
            .iter()
            .filter(|claim| claim.slot.is_none())
            .map(|claim| (claim.card, claim.again))
            .collect();
        let mut elsewhere = Elsewhere::default();
        for other in histories.iter().filter(|h| !std::sync::Arc::ptr_eq(h, own)) {
            if wanted.is_empty() {
                break;
            }
            let mut other = crate::write(other);
            if other.instance == instance {
                continue;
            }
            if let Err(e) = other.refresh() {
                return Err(failed(&other.path, e));
            }
            // Its slots are read under its lock, which a settle takes to rewrite one: never
            // half rewritten. Taken only when one of the cards is in its index at all.
            let indexed = wanted
                .iter()
                .any(|(card, _)| other.index.get(card.0 as u64).is_some());
            let locked = indexed && other.file.is_some();
            if locked && let Err(e) = other.file().lock_shared() {
                return Err(failed(&other.path, e));
            }
            for &(card, again) in &wanted {
                if other.claimed_now.contains(&card) {
                    elsewhere.claimed.insert(card);
                } else if !again && other.holds(card, run_file) {
                    elsewhere.held.insert(card);
                }
            }
            if locked {
                let _ = other.file().unlock();
            }
        }
        drop(histories);
        crate::write(own).claim_within(cards, at, cap, &elsewhere)
    })();
    // Closing the file would release the lock as well; an error unlocking changes nothing.
    let _ = lock.file.unlock();
    done
}

/// Whether two metadata, one of an open file and one of a path, are of the same file (on
/// Unix: its device and inode; elsewhere, when each was created and last written, read at
/// the same moment).
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        a.dev() == b.dev() && a.ino() == b.ino()
    }
    #[cfg(not(unix))]
    {
        a.created().ok() == b.created().ok() && a.modified().ok() == b.modified().ok()
    }
}

/// A card to claim: its slot, when a retry of this run's already has one; whether it goes
/// whatever the history says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Claim {
    pub(crate) card: CardKey,
    pub(crate) slot: Option<u32>,
    pub(crate) again: bool,
}

/// What became of a card to claim (see [`SentCards::claim_within`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claimed {
    /// Its slot: the request may leave.
    Slot(u32),
    /// Another run sent it or has it in flight, or this run claimed it for another row.
    Taken,
    /// The day's cap is reached.
    Capped,
}

/// At most `most` cards between `from` and `to` (Unix ms): `--daily-cap`'s day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DayCap {
    pub(crate) from: u64,
    pub(crate) to: u64,
    pub(crate) most: u64,
}

/// What a ledger says of a card, for [`SentCards::reconcile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reconciled {
    Sent(String),
    Unknown,
    NotSent,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(n: u128) -> CardKey {
        CardKey(n.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))
    }

    fn fresh(n: u128) -> Claim {
        Claim {
            card: card(n),
            slot: None,
            again: false,
        }
    }

    fn identity(dir: &Path, results: &str) -> ResultsIdentity {
        ResultsIdentity {
            path: dir.join(results),
            begun: None,
        }
    }

    fn run(dir: &Path, results: &str) -> SentCards {
        let mut cards = SentCards::open(dir, "1101000001").unwrap();
        cards.register(&identity(dir, results)).unwrap();
        cards
    }

    #[test]
    fn a_card_claimed_by_one_run_is_refused_to_another_and_settles_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = run(dir.path(), "a.csv");
        let mut second = run(dir.path(), "b.csv");
        let claimed = first.claim(&[fresh(1), fresh(2)], 1000);
        assert_eq!(claimed.unwrap(), [Some(0), Some(1)]);
        // In flight in the first run: the second may not send it, even now.
        let claimed = second.claim(&[fresh(1), fresh(3)], 1001);
        assert_eq!(claimed.unwrap(), [None, Some(2)]);
        first
            .settle(
                0,
                card(1),
                1002,
                Settled::Sent(Some("3EB0C767D097B7C7C030".into())),
            )
            .unwrap();
        first.settle(1, card(2), 1003, Settled::Void).unwrap();

        let later = run(dir.path(), "c.csv");
        let earlier = later.earlier(card(1)).unwrap();
        assert_eq!(earlier.sent, Some(Some("3EB0C767D097B7C7C030".into())));
        assert!(earlier.results.ends_with("a.csv"), "{earlier:?}");
        assert_eq!(later.earlier(card(2)), None, "refused, so free again");
        // Card 3 is in flight for b.csv: in doubt for anyone else.
        let doubt = later.earlier(card(3)).unwrap();
        assert_eq!(doubt.sent, None);
        assert_eq!(later.len(), 2);
        // With --again a card goes whatever the history says.
        let mut again = run(dir.path(), "d.csv");
        let anyway = Claim {
            again: true,
            ..fresh(1)
        };
        assert_eq!(again.claim(&[anyway], 1004).unwrap(), [Some(3)]);
        // A retry keeps its own slot.
        let retry = Claim {
            slot: Some(3),
            ..fresh(1)
        };
        assert_eq!(again.claim(&[retry], 1005).unwrap(), [Some(3)]);
    }

    #[test]
    fn a_torn_or_damaged_slot_is_skipped_and_the_next_claim_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut cards = run(dir.path(), "a.csv");
        cards.claim(&[fresh(1), fresh(2)], 1).unwrap();
        let path = SentCards::path(dir.path(), "1101000001");
        let mut bytes = std::fs::read(&path).unwrap();
        // Damage the first slot, then add half a slot (a crash mid-write).
        bytes[16 + 3] ^= 0xff;
        bytes.extend_from_slice(&[7u8; 30]);
        std::fs::write(&path, &bytes).unwrap();
        let mut reopened = run(dir.path(), "b.csv");
        assert_eq!(reopened.len(), 1, "the damaged slot is skipped");
        assert_eq!(reopened.damaged(), 1, "and counted, to be said");
        assert!(reopened.earlier(card(2)).is_some());
        let claimed = reopened.claim(&[fresh(4)], 2).unwrap();
        assert_eq!(claimed, [Some(2)], "appended after the whole slots");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 16 + 3 * 64);
    }

    #[test]
    fn a_ledger_settles_what_a_killed_run_left_in_doubt() {
        let dir = tempfile::tempdir().unwrap();
        let mut killed = run(dir.path(), "a.csv");
        killed.claim(&[fresh(1), fresh(2), fresh(3)], 1).unwrap();
        drop(killed);
        // Its ledger, opened again: card 1 was sent, 2 never left, 3 is unknown.
        let mut resumed = run(dir.path(), "a.csv");
        let added = resumed
            .reconcile(
                [
                    (card(1), Reconciled::Sent("ID1".into())),
                    (card(2), Reconciled::NotSent),
                    (card(3), Reconciled::Unknown),
                ]
                .into_iter(),
                5,
            )
            .unwrap();
        assert_eq!(added, 2, "card 3 was already in doubt");
        let other = run(dir.path(), "b.csv");
        assert_eq!(
            other.earlier(card(1)).unwrap().sent,
            Some(Some("ID1".into()))
        );
        assert_eq!(other.earlier(card(2)), None);
        assert_eq!(other.earlier(card(3)).unwrap().sent, None);
        // Its own run's doubt is the ledger's to decide, not the history's.
        assert_eq!(resumed.earlier(card(3)), None);
    }

    #[test]
    fn a_results_file_begun_again_at_the_same_path_does_not_inherit_the_doubts() {
        let dir = tempfile::tempdir().unwrap();
        let begun = |at| ResultsIdentity {
            begun: Some((at, 7)),
            ..identity(dir.path(), "r.csv")
        };
        let mut killed = SentCards::open(dir.path(), "1101000001").unwrap();
        killed.register(&begun(1)).unwrap();
        killed.claim(&[fresh(1)], 1).unwrap();
        drop(killed);
        // The list of files lost too: it names, it does not number.
        std::fs::remove_file(dir.path().join("cards-1101000001.files")).unwrap();
        // Its ledger, continued: the doubt is the ledger's to decide.
        let mut same = SentCards::open(dir.path(), "1101000001").unwrap();
        same.register(&begun(1)).unwrap();
        assert_eq!(same.earlier(card(1)), None);
        // A new ledger at the same path cannot know what the killed run sent.
        let mut again = SentCards::open(dir.path(), "1101000001").unwrap();
        again.register(&begun(2)).unwrap();
        let doubt = again.earlier(card(1)).expect("still in doubt");
        assert_eq!(doubt.sent, None);
        assert_eq!(again.claim(&[fresh(1)], 2).unwrap(), [None]);
    }

    #[test]
    fn one_run_claims_a_card_once_even_when_told_to_send_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut cards = run(dir.path(), "r.csv");
        let again = Claim {
            again: true,
            ..fresh(1)
        };
        assert_eq!(cards.claim(&[again, again], 1).unwrap(), [Some(0), None]);
        assert_eq!(cards.claim(&[again], 2).unwrap(), [None]);
    }

    #[test]
    fn the_cards_of_a_day_are_counted_whichever_run_sent_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = run(dir.path(), "a.csv");
        first.claim(&[fresh(1), fresh(2)], 1_000).unwrap();
        first.claim(&[fresh(3)], 90_000_000).unwrap();
        first.settle(2, card(3), 90_000_500, Settled::Void).unwrap();
        let mut second = run(dir.path(), "b.csv");
        second.claim(&[fresh(4)], 90_000_100).unwrap();
        assert_eq!(second.sent_between(0, 86_400_000).unwrap(), 2);
        assert_eq!(
            second.sent_between(86_400_000, 172_800_000).unwrap(),
            1,
            "the voided card does not count"
        );
    }

    /// A claim a killed run left in flight, settled by the next run's reconciling (a void
    /// appended after it), is no card of the day; a lost answer found sent is one (a hostile
    /// audit's finding: a cron job killed mid-run lost part of each day's cap).
    #[test]
    fn a_card_counts_in_the_day_by_its_newest_slot() {
        let dir = tempfile::tempdir().unwrap();
        let mut killed = run(dir.path(), "r.csv");
        killed
            .claim(&[fresh(1), fresh(2), fresh(3)], 1_000)
            .unwrap();
        drop(killed);
        let mut next = run(dir.path(), "r.csv");
        let fates = [
            (card(1), Reconciled::NotSent),
            (card(2), Reconciled::Unknown),
            (card(3), Reconciled::Sent("ID3".into())),
        ];
        assert_eq!(next.reconcile(fates.into_iter(), 2_000).unwrap(), 2);
        assert_eq!(next.sent_between(0, 86_400_000).unwrap(), 2);
    }

    #[test]
    fn two_runs_at_once_cannot_pass_the_daily_cap_together() {
        let dir = tempfile::tempdir().unwrap();
        let (mut first, mut second) = (run(dir.path(), "a.csv"), run(dir.path(), "b.csv"));
        let cap = Some(DayCap {
            from: 0,
            to: 86_400_000,
            most: 3,
        });
        let claimed = first
            .claim_within(&[fresh(1), fresh(2)], 10, cap, &Elsewhere::default())
            .unwrap();
        assert_eq!(claimed, [Claimed::Slot(0), Claimed::Slot(1)]);
        let claimed = second
            .claim_within(&[fresh(3), fresh(4)], 11, cap, &Elsewhere::default())
            .unwrap();
        assert_eq!(claimed, [Claimed::Slot(2), Claimed::Capped]);
        // A retry keeps its slot; the next day has room again.
        let retry = Claim {
            slot: Some(0),
            ..fresh(1)
        };
        assert_eq!(
            first
                .claim_within(&[retry], 12, cap, &Elsewhere::default())
                .unwrap(),
            [Claimed::Slot(0)]
        );
        let tomorrow = cap.map(|c| DayCap {
            from: c.to,
            to: c.to * 2,
            ..c
        });
        let claimed = second
            .claim_within(&[fresh(4)], 86_400_001, tomorrow, &Elsewhere::default())
            .unwrap();
        assert_eq!(claimed, [Claimed::Slot(3)]);
    }

    /// A run on an instance of this machine, with its own results file.
    fn run_on(dir: &Path, instance: &str, results: &str) -> SentCards {
        let mut cards = SentCards::open(dir, instance).unwrap();
        cards.register(&identity(dir, results)).unwrap();
        cards
    }

    type Shared = std::sync::Arc<std::sync::RwLock<SentCards>>;

    fn shared(cards: SentCards) -> Shared {
        std::sync::Arc::new(std::sync::RwLock::new(cards))
    }

    /// A run's claims: its own history, the histories it looks at, its claims lock.
    struct Claimer {
        own: Shared,
        histories: Histories,
        lock: ClaimsLock,
    }

    impl Claimer {
        fn new(dir: &Path, own: &Shared, others: &[&Shared]) -> Claimer {
            let all = std::iter::once(own).chain(others.iter().copied()).cloned();
            Claimer {
                own: own.clone(),
                histories: Histories::new(all.collect()),
                lock: ClaimsLock::open(dir).unwrap(),
            }
        }

        fn claim(&self, cards: &[Claim], at: u64) -> Vec<Claimed> {
            claim_across(&self.own, &self.histories, &self.lock, cards, at, None).unwrap()
        }
    }

    fn peeked(dir: &Path, instance: &str) -> Shared {
        shared(SentCards::peek(dir, instance).unwrap())
    }

    #[test]
    fn a_card_another_instance_claims_meanwhile_does_not_go_from_this_one() {
        let dir = tempfile::tempdir().unwrap();
        // Run A, on instance 1, looks while instance 2's history does not exist yet.
        let a = shared(run_on(dir.path(), "1101000001", "a.csv"));
        let a_claims = Claimer::new(dir.path(), &a, &[&peeked(dir.path(), "1101000002")]);
        // Run B, on instance 2, starts later: card 1 stays in flight, card 2 is sent.
        let b = shared(run_on(dir.path(), "1101000002", "b.csv"));
        let b_claims = Claimer::new(dir.path(), &b, &[&peeked(dir.path(), "1101000001")]);
        let claimed = b_claims.claim(&[fresh(1), fresh(2)], 10);
        assert_eq!(claimed, [Claimed::Slot(0), Claimed::Slot(1)]);
        crate::write(&b)
            .settle(1, card(2), 11, Settled::Sent(Some("B2".into())))
            .unwrap();
        // A's claim reads instance 2's history afresh: neither card goes; a new one does.
        let claimed = a_claims.claim(&[fresh(1), fresh(2), fresh(3)], 12);
        assert_eq!(claimed, [Claimed::Taken, Claimed::Taken, Claimed::Slot(0)]);
        // B's look at instance 1 is older than A's claim: card 3 is taken all the same.
        assert_eq!(b_claims.claim(&[fresh(3)], 13), [Claimed::Taken]);
        // --again sends it whatever another instance holds.
        let again = Claim {
            again: true,
            ..fresh(2)
        };
        assert_eq!(a_claims.claim(&[again], 14), [Claimed::Slot(1)]);
        // A card B gave up on (void) goes from A.
        b_claims.claim(&[fresh(4)], 15);
        crate::write(&b)
            .settle(2, card(4), 16, Settled::Void)
            .unwrap();
        assert_eq!(a_claims.claim(&[fresh(4)], 17), [Claimed::Slot(2)]);
    }

    #[test]
    fn a_history_that_appears_after_the_run_started_is_looked_at_too_and_counts_as_changed() {
        let dir = tempfile::tempdir().unwrap();
        let a = shared(run_on(dir.path(), "1101000001", "a.csv"));
        let a_claims = Claimer::new(dir.path(), &a, &[]);
        // Instance 3 was never used when A started: its history is not in A's list.
        let c = shared(run_on(dir.path(), "1101000003", "c.csv"));
        Claimer::new(dir.path(), &c, &[]).claim(&[fresh(7)], 10);
        assert_eq!(a_claims.claim(&[fresh(7)], 11), [Claimed::Taken]);
        let histories = a_claims.histories.lock().unwrap();
        assert_eq!(histories.len(), 2, "found in the directory");
        // The run's last look finds the card there, though it was absent at its first.
        let found = crate::read(&histories[1]);
        assert!(found.earlier_unless_absent(card(7), true).is_some());
    }

    #[test]
    fn two_lanes_of_one_run_never_both_send_a_card_even_told_to_again() {
        let dir = tempfile::tempdir().unwrap();
        let lane_a = shared(run_on(dir.path(), "1101000001", "r.csv"));
        let lane_b = shared(run_on(dir.path(), "1101000002", "r.csv"));
        let a_claims = Claimer::new(dir.path(), &lane_a, &[&lane_b]);
        let b_claims = Claimer::new(dir.path(), &lane_b, &[&lane_a]);
        assert_eq!(a_claims.claim(&[fresh(5)], 10), [Claimed::Slot(0)]);
        let again = Claim {
            again: true,
            ..fresh(5)
        };
        assert_eq!(b_claims.claim(&[fresh(5), again], 11), [Claimed::Taken; 2]);
    }

    #[test]
    fn this_results_files_own_doubts_on_a_dropped_instance_are_its_ledgers_to_decide() {
        let dir = tempfile::tempdir().unwrap();
        // An earlier run on r.csv left card 6 in flight on instance 2 (its answer lost).
        let mut earlier = run_on(dir.path(), "1101000002", "r.csv");
        earlier.claim(&[fresh(6)], 10).unwrap();
        drop(earlier);
        // This run on r.csv has only instance 1 (instance 2 dropped, its history peeked).
        let lane = shared(run_on(dir.path(), "1101000001", "r.csv"));
        let claims = Claimer::new(dir.path(), &lane, &[&peeked(dir.path(), "1101000002")]);
        assert_eq!(claims.claim(&[fresh(6)], 11), [Claimed::Slot(0)]);
        // Another results file's doubt on instance 2 holds.
        let mut other = run_on(dir.path(), "1101000002", "other.csv");
        other.claim(&[fresh(8)], 12).unwrap();
        assert_eq!(claims.claim(&[fresh(8)], 13), [Claimed::Taken]);
    }

    #[test]
    fn a_damaged_slot_is_skipped_by_a_claim_as_by_every_look() {
        let dir = tempfile::tempdir().unwrap();
        let b = shared(run_on(dir.path(), "1101000002", "b.csv"));
        Claimer::new(dir.path(), &b, &[]).claim(&[fresh(1), fresh(2)], 10);
        let a = shared(run_on(dir.path(), "1101000001", "a.csv"));
        let a_claims = Claimer::new(dir.path(), &a, &[&peeked(dir.path(), "1101000002")]);
        // Card 1's slot damaged on disk (its checksum no longer matches); card 2's intact.
        let path = SentCards::path(dir.path(), "1101000002");
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        write_all_at(&file, &[0xAA; 8], slot_offset(0) + 16).unwrap();
        // As a later look at the history reads it: card 1 unknown, card 2 there.
        let later = SentCards::peek(dir.path(), "1101000002").unwrap();
        assert_eq!(later.earlier(card(1)), None);
        assert!(later.earlier(card(2)).is_some());
        assert_eq!(
            a_claims.claim(&[fresh(1), fresh(2)], 11),
            [Claimed::Slot(0), Claimed::Taken]
        );
    }

    #[test]
    fn a_history_replaced_while_a_run_looks_is_read_again_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let b = shared(run_on(dir.path(), "1101000002", "b.csv"));
        Claimer::new(dir.path(), &b, &[]).claim(&[fresh(1), fresh(2)], 10);
        drop(b);
        let a = shared(run_on(dir.path(), "1101000001", "a.csv"));
        let a_claims = Claimer::new(dir.path(), &a, &[&peeked(dir.path(), "1101000002")]);
        assert_eq!(a_claims.claim(&[fresh(1)], 11), [Claimed::Taken]);
        // Moved away (as the message for a damaged history says), then a new run on the
        // instance claims card 3 in a new one.
        let path = SentCards::path(dir.path(), "1101000002");
        std::fs::rename(&path, dir.path().join("moved.bin")).unwrap();
        let b = shared(run_on(dir.path(), "1101000002", "b2.csv"));
        Claimer::new(dir.path(), &b, &[]).claim(&[fresh(3)], 12);
        assert_eq!(
            a_claims.claim(&[fresh(3), fresh(2)], 13),
            [Claimed::Taken, Claimed::Slot(0)],
            "the new history's card is held; the moved one's are forgotten"
        );
    }

    #[test]
    fn a_file_that_is_not_a_history_is_refused_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = SentCards::path(dir.path(), "1101000001");
        std::fs::write(&path, "something else entirely\n").unwrap();
        let err = SentCards::open(dir.path(), "1101000001").err().unwrap();
        assert!(
            err.to_string()
                .contains("not a greenbulk sent-card history"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "something else entirely\n"
        );
        // Peeking at a history that does not exist yet finds nothing.
        let empty = SentCards::peek(dir.path(), "7103000001").unwrap();
        assert_eq!(empty.len(), 0);
    }
}
