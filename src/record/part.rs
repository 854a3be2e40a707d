//! A part of a ledger's cards: `status` works on a big history a part at a time, so that a
//! million sent cards are never in memory at once (docs/delivery.md). Every card (chat and
//! phone) falls in one part, by its identity; a content key the ledger never attempted with
//! a chat and phone, by the key itself.

use crate::contact::{CardKey, ContentKey};

/// One of `of` parts (`index` below `of`), the whole history (one of one), or no card at all
/// ([`Part::NONE`], an index past the last).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Part {
    index: u32,
    of: u32,
}

impl Default for Part {
    fn default() -> Part {
        Part::WHOLE
    }
}

impl Part {
    /// Every card.
    pub(crate) const WHOLE: Part = Part { index: 0, of: 1 };

    /// No card at all: a replay that keeps only what is not a row's (the instances named,
    /// the settings, the beginning).
    pub(crate) const NONE: Part = Part { index: 1, of: 1 };

    /// The parts of a history cut in `of` (at least one).
    pub(crate) fn all(of: u32) -> impl Iterator<Item = Part> {
        let of = of.max(1);
        (0..of).map(move |index| Part { index, of })
    }

    /// Whether a replay of this part reads every ledger line whole: the whole history, and
    /// the first of several parts (the others pass over what is not theirs from a peek).
    pub(crate) fn reads_every_line(self) -> bool {
        self.index == 0
    }

    /// Whether this is the last of its parts.
    pub(crate) fn is_last(self) -> bool {
        self.index + 1 == self.of
    }

    /// The high half of a 128-bit hash decides: the tables that hold a part's cards and keys
    /// hash by the low half, which a part's members share nothing of.
    fn holds(self, hash: u128) -> bool {
        ((hash >> 64) as u64 % u64::from(self.of)) as u32 == self.index
    }

    pub(crate) fn holds_card(self, card: CardKey) -> bool {
        self.holds(card.0)
    }

    pub(crate) fn holds_key(self, key: ContentKey) -> bool {
        self.holds(key.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_card_is_in_one_part_and_the_whole_holds_all() {
        for n in 0..200u128 {
            let card = CardKey::of(format!("7916{n:07}@c.us"), 79030000000 + n as u64);
            assert!(Part::WHOLE.holds_card(card));
            assert!(!Part::NONE.holds_card(card));
            let holding = Part::all(7).filter(|part| part.holds_card(card)).count();
            assert_eq!(holding, 1, "card {n}");
        }
        let counts: Vec<usize> = Part::all(4)
            .map(|part| {
                (0..4000u128)
                    .filter(|&n| {
                        part.holds_key(ContentKey(n.wrapping_mul(0x9E37_79B9_7F4A_7C15) << 64 | n))
                    })
                    .count()
            })
            .collect();
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
    }
}
