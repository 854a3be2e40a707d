//! The ledger: an append-only journal of every attempt and outcome, made durable (fsync)
//! before the run moves on. It lives beside the results file (`results.csv.ledger`) and is
//! the truth the results file is derived from.
//!
//! An attempt is written and fsync'd before its request leaves (the requests that leave
//! together share one fsync); its outcome is written when the answer comes. So after a
//! `kill -9` an attempt without an outcome means "may have been sent": `unknown`, never resent
//! unless asked. Outcomes are handed to the kernel at once (they survive `kill -9`) and reach
//! the disk with the next fsync, at the next dispatch; a power cut in between leaves such a row
//! `unknown`, never `pending`, so it is not resent. Rows are keyed by content
//! ([`ContentKey`](crate::contact::ContentKey)), not position, so a resumed run on an edited
//! or re-sorted file does not resend what went out.
//!
//! Every line is typed when read back: a line that does not parse — a key that is not a key,
//! an event that does not exist — is damage, never skipped, since skipping a `sent` line
//! would resend its row. Only the last line may be torn (a crash or a full disk in the middle
//! of a write): torn means cut short, so it has no line break; [`load`] finds it so the owner
//! can cut it off before appending. A whole last line (with its line break) that does not
//! parse was not torn: it is damage like any other.
//!
//! Why a JSON-lines journal rather than SQLite: an fsync'd append per dispatch is all the
//! durability needed, a torn last line is easy to recognise and cut, and a person can read
//! the file with `less` when something went wrong.

use crate::positioned::ReadFrom;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::lock;
pub(crate) use crate::record::event::Event;
pub(crate) use crate::record::history::{CardState, Fate, History, KeyState};
use crate::record::part::Part;

/// Now, in Unix milliseconds, as the ledger stamps events.
pub(crate) fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A journal as read: every key's fate, and the state of its end.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) history: History,
    pub(crate) tail: Tail,
}

/// How the journal ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tail {
    /// Every line whole and terminated (or the file empty).
    Clean,
    /// The last line is whole but has no line break yet.
    Unterminated,
    /// The last line, from this byte on, is torn: a write cut short by a crash or a full disk.
    Torn { at: u64, line: u64 },
}

/// A line that is not an event, before the last line: the journal cannot be trusted.
#[derive(Debug)]
pub(crate) struct Damage {
    pub(crate) line: u64,
    pub(crate) detail: String,
}

/// Why a journal could not be loaded.
#[derive(Debug)]
pub(crate) enum LoadError {
    Io(std::io::Error),
    Damaged(Damage),
}

/// Whether a replayed history keeps the cards' names (`send` compares them; `status` does
/// not need them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Names {
    Keep,
    Omit,
}

/// Reads a journal from its start. Any line that is not an event is damage, except a torn
/// last line, which is reported in [`Loaded::tail`] for the owner to cut off.
pub(crate) fn load(file: &File, names: Names, part: Part) -> Result<Loaded, LoadError> {
    let mut history = History::keeping(names == Names::Keep, part);
    let mut reader = BufReader::with_capacity(256 * 1024, ReadFrom::start(file));
    let mut line = Vec::new();
    let mut offset = 0u64;
    let mut number = 0u64;
    // A bad line is forgiven only if nothing follows it.
    let mut bad: Option<(u64, u64, String)> = None;
    let mut tail = Tail::Clean;
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line).map_err(LoadError::Io)?;
        if read == 0 {
            break;
        }
        number += 1;
        let start = offset;
        offset += read as u64;
        let terminated = line.last() == Some(&b'\n');
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        if let Some((line, _, detail)) = bad.take() {
            return Err(LoadError::Damaged(Damage { line, detail }));
        }
        // The first of several parts reads every line whole, so that damage anywhere is
        // found before anything is appended; a last line without its line break too (torn,
        // or whole).
        if terminated && !part.reads_every_line() && history.passes_over(text) {
            tail = Tail::Clean;
            continue;
        }
        match serde_json::from_slice::<Event>(text) {
            Ok(event) => {
                history.apply(&event);
                tail = if terminated {
                    Tail::Clean
                } else {
                    Tail::Unterminated
                };
            }
            // Whole but unreadable: damage, wherever it is.
            Err(e) if terminated => {
                return Err(LoadError::Damaged(Damage {
                    line: number,
                    detail: e.to_string(),
                }));
            }
            Err(e) => bad = Some((number, start, e.to_string())),
        }
    }
    if let Some((line, at, _)) = bad {
        tail = Tail::Torn { at, line };
    }
    history.settle_in_flight();
    history.index_cards();
    Ok(Loaded { history, tail })
}

/// Which of `ids` a journal records as a card's idMessage (sent, or found sent after its
/// answer was lost), read from its start; a line that is not an event is passed over.
pub(crate) fn ids_among(
    file: &File,
    ids: &std::collections::HashSet<&str>,
) -> std::io::Result<std::collections::HashSet<String>> {
    let mut found = std::collections::HashSet::new();
    let mut reader = BufReader::with_capacity(256 * 1024, ReadFrom::start(file));
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(found);
        }
        if let Ok(Event::Sent { id_message, .. } | Event::Recovered { id_message, .. }) =
            serde_json::from_slice::<Event>(line.trim_ascii())
            && ids.contains(id_message.as_str())
        {
            found.insert(id_message);
        }
    }
}

/// Appends events. Lines are written inline, which costs less than handing them to a writer
/// thread (every hand-off is a wake-up); only [`Ledger::sync`] may be slow, and it can run on
/// another thread while writing goes on.
pub(crate) struct Ledger {
    path: std::path::PathBuf,
    file: Mutex<File>,
    /// The same file, for fsync without holding up writers.
    sync: File,
    buffer: Mutex<Vec<u8>>,
    /// Whether a request has left since the ledger was opened: a run in which none did may
    /// remove files it created.
    departed: AtomicBool,
    /// The length of what was written whole, and whether a write failed: after a failed
    /// write the file is cut back to that length and nothing more is appended, so a torn
    /// line can only ever be the last one.
    written: Mutex<(u64, bool)>,
}

impl Ledger {
    /// Wraps an open, locked journal (open for reading and writing, not appending: Windows
    /// lets a file opened to append grow but not be cut back). Lines are written at its end,
    /// at offsets of their own.
    pub(crate) fn new(file: File, path: &std::path::Path) -> std::io::Result<Ledger> {
        let length = file.metadata()?.len();
        Ok(Ledger {
            written: Mutex::new((length, false)),
            path: path.to_path_buf(),
            sync: file.try_clone()?,
            file: Mutex::new(file),
            buffer: Mutex::new(Vec::with_capacity(256)),
            departed: AtomicBool::new(false),
        })
    }

    /// Appends one event: written at once, and fsync'd too when it is an attempt.
    pub(crate) fn record(&self, event: &Event) -> std::io::Result<()> {
        self.append(std::slice::from_ref(event))?;
        if matches!(event, Event::Attempt { .. }) {
            self.sync()?;
        }
        Ok(())
    }

    /// Appends events with one write, handing them to the kernel (they survive `kill -9`) but
    /// not waiting for the disk.
    pub(crate) fn append(&self, events: &[Event]) -> std::io::Result<()> {
        let mut buffer = lock(&self.buffer);
        buffer.clear();
        for event in events {
            serde_json::to_writer(&mut *buffer, event).expect("events always serialise");
            buffer.push(b'\n');
        }
        let file = lock(&self.file);
        let mut written = lock(&self.written);
        if written.1 {
            return Err(std::io::Error::other(
                "an earlier write to the ledger failed; nothing more is written",
            ));
        }
        match crate::positioned::write_all_at(&file, &buffer, written.0) {
            Ok(()) => {
                written.0 += buffer.len() as u64;
                Ok(())
            }
            Err(e) => {
                written.1 = true;
                // Best effort: a line cut short must not stay for later lines to follow.
                let _ = file.set_len(written.0);
                Err(e)
            }
        }
    }

    /// The journal, to read from its start (with [`crate::positioned::ReadFrom`]): through
    /// the handle that holds its lock, since on Windows the lock keeps every other handle
    /// out, in this process too.
    pub(crate) fn file(&self) -> &File {
        &self.sync
    }

    /// Waits until everything appended so far is on disk. Appends may go on meanwhile.
    pub(crate) fn sync(&self) -> std::io::Result<()> {
        self.sync.sync_data()
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Notes that a request is about to leave.
    pub(crate) fn depart(&self) {
        self.departed.store(true, Ordering::Relaxed);
    }

    pub(crate) fn departed(&self) -> bool {
        self.departed.load(Ordering::Relaxed)
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        let _ = self.sync();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact::ContentKey;
    use crate::input::RowNumber;

    fn key(n: u128) -> ContentKey {
        ContentKey(n)
    }

    fn load_whole(file: &File, names: Names) -> Result<Loaded, LoadError> {
        load(file, names, Part::WHOLE)
    }

    fn journal(lines: &str) -> File {
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, lines.as_bytes()).unwrap();
        // Left at its end, as an appending writer leaves it: reading starts at 0 anyway.
        file
    }

    fn line(event: &Event) -> String {
        serde_json::to_string(event).unwrap() + "\n"
    }

    #[test]
    fn replay_gives_each_key_its_fate() {
        let row = RowNumber(2);
        let events = [
            Event::Attempt {
                key: key(1),
                row,
                at: Some(1),
                chat: Some("79001234567@c.us".into()),
                phone: Some(79011234567),
                names: None,
                instance: None,
            },
            Event::Sent {
                key: key(1),
                row,
                id_message: "ID1".into(),
                sent_at: Some(1_795_688_094_000),
            },
            Event::bare_attempt(key(2), row),
            Event::NotSent {
                key: key(2),
                row,
                reason: "429".into(),
            },
            Event::bare_attempt(key(2), row),
            Event::Failed {
                key: key(2),
                row,
                error: "400 bad".into(),
            },
            Event::bare_attempt(key(3), row),
        ];
        let text: String = events.iter().map(line).collect();
        let loaded = load_whole(&journal(&text), Names::Keep).unwrap();
        let fate = |n| loaded.history.get(key(n)).unwrap().fate.clone();
        assert_eq!(fate(1), Fate::Sent("ID1".into()));
        assert_eq!(fate(2), Fate::Failed("400 bad".into()));
        assert_eq!(loaded.history.get(key(2)).unwrap().attempts, 2);
        assert!(matches!(fate(3), Fate::Unknown(_)));
        assert!(loaded.history.get(key(4)).is_none());
        assert_eq!(loaded.tail, Tail::Clean);
    }

    #[test]
    fn a_torn_last_line_is_found_and_damage_before_it_is_refused() {
        let attempt = line(&Event::bare_attempt(key(7), RowNumber(3)));
        let torn = format!("{attempt}{{\"event\":\"sen");
        let loaded = load_whole(&journal(&torn), Names::Keep).unwrap();
        assert_eq!(
            loaded.tail,
            Tail::Torn {
                at: attempt.len() as u64,
                line: 2
            }
        );
        assert!(matches!(
            loaded.history.get(key(7)).unwrap().fate,
            Fate::Unknown(_)
        ));

        let unterminated = attempt.trim_end().to_string();
        assert_eq!(
            load_whole(&journal(&unterminated), Names::Keep)
                .unwrap()
                .tail,
            Tail::Unterminated
        );

        // A whole last line that does not read is not torn: it may be a sent event.
        let whole = format!("{attempt}{{\"event\":\"sent\",\"key\":7}}\n");
        assert!(matches!(
            load_whole(&journal(&whole), Names::Keep),
            Err(LoadError::Damaged(_))
        ));

        let damaged = format!("{{\"event\":\"sen\n{attempt}");
        let Err(LoadError::Damaged(damage)) = load_whole(&journal(&damaged), Names::Keep) else {
            panic!("damage before the last line is refused");
        };
        assert_eq!(damage.line, 1);
    }

    #[test]
    fn a_key_that_is_not_a_key_is_damage_not_a_skipped_line() {
        let text = "{\"event\":\"sent\",\"key\":\"xyz\",\"row\":2,\"id_message\":\"A\"}\n\
                    {\"event\":\"attempt\",\"key\":\"0000000000000000000000000000000a\",\"row\":3}\n";
        assert!(matches!(
            load_whole(&journal(text), Names::Keep),
            Err(LoadError::Damaged(_))
        ));
        let short_key = "{\"event\":\"attempt\",\"key\":\"ab\",\"row\":2}\n\n";
        let loaded = load_whole(&journal(&format!("{short_key}{short_key}")), Names::Keep);
        assert!(matches!(loaded, Err(LoadError::Damaged(_))));
    }

    #[test]
    fn events_written_by_earlier_versions_still_read() {
        let text = "{\"event\":\"attempt\",\"key\":\"0000000000000000000000000000000a\",\"row\":2}\n\
                    {\"event\":\"notsent\",\"key\":\"0000000000000000000000000000000a\",\"row\":2,\"reason\":\"429\"}\n";
        let loaded = load_whole(&journal(text), Names::Keep).unwrap();
        assert_eq!(
            loaded.history.get(key(10)).unwrap().fate,
            Fate::Pending(Some("429".into()))
        );
    }

    /// A ledger with what a real one holds for many cards: sent at once; a 429 retried
    /// (attempt, not sent, attempt, sent); an answer lost; a row never attempted; two rows
    /// of one card with other names; an older greenbulk's attempt without chat, then a
    /// newer one with it; delivery states and lookups; a row taken back.
    fn ledger_of_many() -> String {
        // Keys spread over the parts, as content keys (hashes) are.
        let spread = |n: u128| key((n + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835));
        let mut text = line(&Event::Instances {
            ids: vec!["1101000001".into()],
            replaced: false,
            at: 1,
        });
        let attempt = |n: u128, chat: bool| {
            line(&Event::Attempt {
                key: spread(n),
                row: RowNumber(n as u64 + 2),
                at: Some(1_000 + n as u64),
                chat: chat.then(|| format!("7916{:07}@c.us", n % 40)),
                phone: chat.then_some(79030000000 + (n % 40) as u64),
                names: None,
                instance: Some("1101000001".into()),
            })
        };
        let sent = |n: u128| {
            line(&Event::Sent {
                key: spread(n),
                row: RowNumber(n as u64 + 2),
                id_message: format!("ID{n}"),
                sent_at: Some(2_000 + n as u64),
            })
        };
        let not_sent = |n: u128| {
            line(&Event::NotSent {
                key: spread(n),
                row: RowNumber(n as u64 + 2),
                reason: "429".into(),
            })
        };
        for n in 0..60u128 {
            match n % 6 {
                0 => text += &(attempt(n, true) + &sent(n)),
                1 => text += &(attempt(n, true) + &not_sent(n) + &attempt(n, true) + &sent(n)),
                2 => {
                    text += &(attempt(n, true)
                        + &line(&Event::Unknown {
                            key: spread(n),
                            row: RowNumber(n as u64 + 2),
                            reason: "lost".into(),
                        }))
                }
                3 => text += &not_sent(n),
                4 => {
                    text += &(attempt(n, false)
                        + &line(&Event::Failed {
                            key: spread(n),
                            row: RowNumber(n as u64 + 2),
                            error: "old".into(),
                        })
                        + &attempt(n, true)
                        + &sent(n))
                }
                _ => {
                    text += &(attempt(n, true)
                        + &sent(n)
                        + &line(&Event::Delivery {
                            key: spread(n),
                            row: RowNumber(n as u64 + 2),
                            state: crate::record::Delivery::Delivered,
                            at: 3_000,
                        })
                        + &line(&Event::LookedUp {
                            key: spread(n),
                            row: RowNumber(n as u64 + 2),
                            at: 3_000,
                        }))
                }
            }
        }
        // Rows 40–59 name the cards of rows 0–19 again (n % 40), with other names.
        text += &line(&Event::Restored {
            card: crate::contact::CardKey::of("79169999999@c.us", 79039999999),
            row: RowNumber(99),
            chat: "79169999999@c.us".into(),
            phone: 79039999999,
            id_message: Some("IDR".into()),
            instance: None,
            delivery: None,
            at: 5,
        });
        // What `status` learned of it later.
        text += &line(&Event::Followed {
            card: crate::contact::CardKey::of("79169999999@c.us", 79039999999),
            state: Some(crate::record::Delivery::Read),
            looked_up: true,
            at: 6,
        });
        text
    }

    #[test]
    fn a_ledger_replayed_in_parts_keeps_every_card_in_one_part_as_replayed_whole() {
        let text = ledger_of_many();
        let whole = load_whole(&journal(&text), Names::Omit).unwrap().history;
        // What a card's state says that `status` reads: its key, fate, chat, delivery.
        let seen = |history: &History| {
            let mut states: Vec<String> = history
                .iter()
                .filter(|(_, state)| {
                    state.chat.is_some() || !matches!(state.fate, Fate::Pending(_))
                })
                .map(|(key, state)| {
                    format!(
                        "{:?} {:?} {:?} {:?} {:?} {:?}",
                        key,
                        state.fate,
                        state.chat,
                        state.delivery,
                        state.looked_up,
                        state.instance.and_then(|i| history.instance(Some(i)))
                    )
                })
                .collect();
            states.sort();
            states
        };
        let cards = |history: &History| {
            let mut cards: Vec<String> = history
                .cards()
                .map(|(card, state)| {
                    format!(
                        "{card:?} {:?} {:?} {:?} {:?}",
                        state.sent, state.key, state.delivery, state.looked_up
                    )
                })
                .collect();
            cards.sort();
            cards
        };
        for of in [2, 3, 5] {
            let mut states = Vec::new();
            let mut every_card = Vec::new();
            for part in Part::all(of) {
                let history = load(&journal(&text), Names::Omit, part).unwrap().history;
                assert_eq!(
                    history.named_instances().collect::<Vec<_>>(),
                    whole.named_instances().collect::<Vec<_>>()
                );
                states.extend(seen(&history));
                every_card.extend(cards(&history));
            }
            states.sort();
            every_card.sort();
            assert_eq!(states, seen(&whole), "{of} parts");
            assert_eq!(every_card, cards(&whole), "{of} parts");
        }
        let taken_back = whole
            .card(crate::contact::CardKey::of("79169999999@c.us", 79039999999))
            .unwrap();
        assert_eq!(
            (taken_back.delivery, taken_back.looked_up),
            (Some((crate::record::Delivery::Read, 6)), Some(6))
        );
        // No part at all: the instances named, no card.
        let none = load(&journal(&text), Names::Omit, Part::NONE)
            .unwrap()
            .history;
        assert_eq!(
            none.named_instances().collect::<Vec<_>>(),
            whole.named_instances().collect::<Vec<_>>()
        );
        assert_eq!(none.card_count(), 0);
    }

    #[test]
    fn in_parts_damage_anywhere_is_found_by_the_first_and_a_torn_tail_by_any() {
        let mut text = ledger_of_many();
        // An answer without its idMessage: a whole line, but not an event.
        text += "{\"event\":\"sent\",\"key\":\"000000000000000000000000000000aa\",\"row\":2}\n";
        text += &line(&Event::Begun { at: 1, nonce: 2 });
        let first = Part::all(4).next().unwrap();
        assert!(matches!(
            load(&journal(&text), Names::Omit, first),
            Err(LoadError::Damaged(_))
        ));
        // The same as a last line without its line break: cut off as torn, whatever part.
        let torn = ledger_of_many()
            + "{\"event\":\"sent\",\"key\":\"000000000000000000000000000000aa\",\"row\":2}";
        for part in Part::all(4).chain([Part::NONE]) {
            let loaded = load(&journal(&torn), Names::Omit, part).unwrap();
            assert!(matches!(loaded.tail, Tail::Torn { .. }), "{part:?}");
        }
    }
}
