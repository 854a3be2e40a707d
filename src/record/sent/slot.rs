//! The history's file, slot by slot: a 16-byte header, then fixed 64-byte slots — a card's
//! key (16 bytes), when (8), which results file (4), what became of it (1), its idMessage's
//! length (1) and up to 32 bytes of it, and a checksum (2) — read and written in place.

use crate::contact::CardKey;

/// The file's first bytes.
pub(super) const MAGIC: &[u8; 16] = b"greenbulk cards\n";
pub(super) const SLOT: u64 = 64;
/// The longest idMessage kept whole; a longer one is kept as "see the results file".
const ID_BYTES: usize = 32;

/// What became of a claimed card, as its slot says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Its request is about to leave, or in flight (or the run died meanwhile).
    InFlight,
    /// Accepted by GREEN-API with this idMessage (none when it was too long to keep).
    Sent(Option<String>),
    /// The answer was lost: it may have been sent.
    Unknown,
    /// It did not go out after all (refused, or the run stopped first).
    Void,
}

impl Settled {
    fn kind(&self) -> u8 {
        match self {
            Settled::InFlight => 1,
            Settled::Sent(_) => 2,
            Settled::Unknown => 3,
            Settled::Void => 4,
        }
    }
}

/// One slot as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Slot {
    pub(super) card: CardKey,
    pub(super) at: u64,
    pub(super) file: u32,
    pub(super) settled: Settled,
}

impl Slot {
    pub(super) fn encode(&self) -> [u8; SLOT as usize] {
        let mut bytes = [0u8; SLOT as usize];
        bytes[0..16].copy_from_slice(&self.card.0.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.at.to_le_bytes());
        bytes[24..28].copy_from_slice(&self.file.to_le_bytes());
        bytes[28] = self.settled.kind();
        if let Settled::Sent(Some(id)) = &self.settled {
            let id = id.as_bytes();
            // A length over the room kept says "too long to keep": never a cut-off id.
            bytes[29] = id.len().min(255) as u8;
            if id.len() <= ID_BYTES {
                bytes[30..30 + id.len()].copy_from_slice(id);
            }
        }
        let check = checksum(&bytes[..62]);
        bytes[62..64].copy_from_slice(&check.to_le_bytes());
        bytes
    }

    pub(super) fn decode(bytes: &[u8]) -> Option<Slot> {
        if bytes.len() != SLOT as usize || checksum(&bytes[..62]).to_le_bytes() != bytes[62..64] {
            return None;
        }
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8"));
        let card = u128::from(u64_at(0)) | u128::from(u64_at(8)) << 64;
        let length = usize::from(bytes[29]);
        let settled = match bytes[28] {
            1 => Settled::InFlight,
            2 if length <= ID_BYTES => Settled::Sent(Some(
                String::from_utf8_lossy(&bytes[30..30 + length]).into_owned(),
            )),
            2 => Settled::Sent(None),
            3 => Settled::Unknown,
            4 => Settled::Void,
            _ => return None,
        };
        Some(Slot {
            card: CardKey(card),
            at: u64_at(16),
            file: u32::from_le_bytes(bytes[24..28].try_into().expect("4")),
            settled,
        })
    }
}

pub(super) fn checksum(bytes: &[u8]) -> u16 {
    xxhash_rust::xxh3::xxh3_64(bytes) as u16
}

pub(super) fn slot_offset(number: u32) -> u64 {
    MAGIC.len() as u64 + u64::from(number) * SLOT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_too_long_to_keep_is_never_cut() {
        let long = "A".repeat(40);
        let slot = Slot {
            card: CardKey(9),
            at: 7,
            file: 3,
            settled: Settled::Sent(Some(long)),
        };
        assert_eq!(
            Slot::decode(&slot.encode()).unwrap().settled,
            Settled::Sent(None)
        );
        let short = Slot {
            settled: Settled::Sent(Some("BAE5F4886F6F2D05".into())),
            ..slot
        };
        assert_eq!(Slot::decode(&short.encode()), Some(short));
    }
}
