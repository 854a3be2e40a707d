//! Where each card of a sent-card history stands, in memory, by the low 64 bits of its key (a
//! fingerprint: the keys are uniformly random, and a hit is checked against the slot's whole
//! key before it counts). The cards read when the history was opened are one sorted array,
//! found through a directory of their top bits: about 28 bytes a card. What changed since
//! (this run's claims, other runs' slots caught up) is a small hash map on top.
//!
//! Most rows of a send are cards never sent, and every row is looked up on each pass over
//! the input; so a 2 MB bitmap of the fingerprints' top 24 bits answers "not there" first,
//! from the processor's cache, for all but a few percent of them (at a million cards).

use std::hash::{BuildHasherDefault, Hasher};

use super::Settled;

/// A card's standing: the slot that says it was sent, and the one that holds it in doubt
/// (and for which results file), each +1 (0: none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Standing {
    pub(super) sent: u32,
    pub(super) doubt: u32,
    pub(super) doubt_file: u32,
}

impl Standing {
    /// Takes slot `number`'s word (`settled`, for results file `file`) for its card, slots
    /// read in order: sent is sent for good; in flight or unknown puts the card in doubt; a
    /// void slot takes back its own results file's doubt.
    pub(super) fn apply(&mut self, number: u32, settled: &Settled, file: u32) {
        match settled {
            Settled::Sent(_) => {
                self.sent = number + 1;
                if self.doubt_file == file {
                    self.doubt = 0;
                }
            }
            Settled::InFlight | Settled::Unknown => {
                self.doubt = number + 1;
                self.doubt_file = file;
            }
            Settled::Void => {
                if self.doubt != 0 && self.doubt_file == file {
                    self.doubt = 0;
                }
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.sent == 0 && self.doubt == 0
    }
}

/// A slot as the index is built from it.
pub(super) struct Read {
    pub(super) fingerprint: u64,
    pub(super) number: u32,
    pub(super) file: u32,
    pub(super) settled: Settled,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    fingerprint: u64,
    standing: Standing,
}

/// Fingerprints are already uniformly random: they are their own hash.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for (i, byte) in bytes.iter().enumerate() {
            self.0 ^= u64::from(*byte) << ((i % 8) * 8);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The bits of a fingerprint the bitmap is indexed by.
const BITMAP_BITS: u32 = 24;

#[derive(Default)]
pub(super) struct CardIndex {
    /// Bit `f >> (64 - BITMAP_BITS)` is set for every fingerprint `f` in the index (empty
    /// while the index is).
    present: Vec<u64>,
    /// Sorted by fingerprint.
    base: Vec<Entry>,
    /// `directory[p]..directory[p + 1]`: the entries whose fingerprint's top bits are `p`.
    directory: Vec<u32>,
    shift: u32,
    recent: hashbrown::HashMap<u64, Standing, BuildHasherDefault<Identity>>,
}

impl CardIndex {
    /// The index of the slots read, in slot order.
    pub(super) fn build(mut read: Vec<Read>) -> CardIndex {
        read.sort_unstable_by_key(|r| (r.fingerprint, r.number));
        let mut base: Vec<Entry> = Vec::with_capacity(read.len());
        for slot in &read {
            let entry = match base.last_mut() {
                Some(last) if last.fingerprint == slot.fingerprint => last,
                _ => {
                    base.push(Entry {
                        fingerprint: slot.fingerprint,
                        standing: Standing::default(),
                    });
                    base.last_mut().expect("just pushed")
                }
            };
            entry.standing.apply(slot.number, &slot.settled, slot.file);
        }
        drop(read);
        base.retain(|entry| !entry.standing.is_empty());
        base.shrink_to_fit();
        // About one entry a directory place: a lookup reads one place and one entry.
        let bits = (usize::BITS - base.len().leading_zeros()).clamp(1, 24);
        let shift = 64 - bits;
        let mut directory = vec![0u32; (1 << bits) + 1];
        let mut at = 0;
        for (place, start) in directory.iter_mut().enumerate() {
            while at < base.len() && ((base[at].fingerprint >> shift) as usize) < place {
                at += 1;
            }
            *start = at as u32;
        }
        let mut index = CardIndex {
            present: Vec::new(),
            base,
            directory,
            shift,
            recent: Default::default(),
        };
        for at in 0..index.base.len() {
            index.mark(index.base[at].fingerprint);
        }
        index
    }

    fn bit(fingerprint: u64) -> (usize, u64) {
        let bit = (fingerprint >> (64 - BITMAP_BITS)) as usize;
        (bit / 64, 1 << (bit % 64))
    }

    fn mark(&mut self, fingerprint: u64) {
        if self.present.is_empty() {
            self.present = vec![0; (1 << BITMAP_BITS) / 64];
        }
        let (word, mask) = CardIndex::bit(fingerprint);
        self.present[word] |= mask;
    }

    pub(super) fn get(&self, fingerprint: u64) -> Option<Standing> {
        let (word, mask) = CardIndex::bit(fingerprint);
        if self.present.get(word).is_none_or(|bits| bits & mask == 0) {
            return None;
        }
        if let Some(standing) = self.recent.get(&fingerprint) {
            return (!standing.is_empty()).then_some(*standing);
        }
        let place = (fingerprint >> self.shift) as usize;
        let range = *self.directory.get(place)? as usize..*self.directory.get(place + 1)? as usize;
        self.base[range]
            .iter()
            .find(|entry| entry.fingerprint == fingerprint)
            .map(|entry| entry.standing)
    }

    /// Whether a card's standing changed since the index was built (claimed, or caught up
    /// from another run); the built part never changes.
    pub(super) fn changed_since_built(&self, fingerprint: u64) -> bool {
        !self.recent.is_empty() && self.recent.contains_key(&fingerprint)
    }

    /// Takes a slot's word for its card, after the index was built.
    pub(super) fn apply(&mut self, fingerprint: u64, number: u32, settled: &Settled, file: u32) {
        let mut standing = self.get(fingerprint).unwrap_or_default();
        standing.apply(number, settled, file);
        self.mark(fingerprint);
        self.recent.insert(fingerprint, standing);
    }

    /// How many cards stand sent or in doubt.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        let base = self
            .base
            .iter()
            .filter(|entry| !self.recent.contains_key(&entry.fingerprint))
            .count();
        base + self.recent.values().filter(|s| !s.is_empty()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_card_is_found_through_the_directory_and_later_slots_win() {
        let mut rng = fastrand::Rng::with_seed(3);
        let fingerprints: Vec<u64> = (0..5000).map(|_| rng.u64(..)).collect();
        let mut read: Vec<Read> = fingerprints
            .iter()
            .enumerate()
            .map(|(number, &fingerprint)| Read {
                fingerprint,
                number: number as u32,
                file: 0,
                settled: Settled::Sent(None),
            })
            .collect();
        // The first card later voided by another file (no effect), the second taken back by
        // its own file's void after being in flight.
        read.push(Read {
            fingerprint: fingerprints[1],
            number: 6000,
            file: 7,
            settled: Settled::InFlight,
        });
        read.push(Read {
            fingerprint: fingerprints[1],
            number: 6001,
            file: 7,
            settled: Settled::Void,
        });
        let index = CardIndex::build(read);
        for (number, fingerprint) in fingerprints.iter().enumerate() {
            let standing = index.get(*fingerprint).expect("found");
            assert_eq!(standing.sent, number as u32 + 1);
            assert_eq!(standing.doubt, 0);
        }
        assert_eq!(index.get(fingerprints[0] ^ 1), None);
        assert_eq!(index.len(), 5000);
        let empty = CardIndex::build(Vec::new());
        assert_eq!(empty.get(42), None);
    }
}
