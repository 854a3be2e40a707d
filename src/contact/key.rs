//! The keys greenbulk knows a card by: its content ([`ContentKey`]: chat, phone and names,
//! for duplicates and the ledger) and its identity ([`CardKey`]: chat and phone, for "never
//! twice" across edits and runs). Both XXH3-128, stable across runs and versions, written as
//! 32 hexadecimal digits.

use std::fmt;

use serde::Serializer;
use xxhash_rust::xxh3::Xxh3Default;

/// A fingerprint of a request's content (chat and contact card): two rows with the same key
/// would deliver the same card to the same chat. Stable across runs and versions (XXH3-128),
/// so the ledger can match rows by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentKey(pub u128);

/// A card's identity, for "never twice": the chat it goes to and the phone on it (XXH3-128 of
/// `chat\x1fphone`). The names and the company are the card's content ([`ContentKey`]): a
/// corrected name, or another `--map`, is still the same card to the same person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CardKey(pub u128);

/// Both keys are written as 32 hexadecimal digits (in the ledger and the sent-card history)
/// and read back the same way; anything else is not a key.
macro_rules! hex_key {
    ($key:ident, $what:literal) => {
        impl fmt::Display for $key {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:032x}", self.0)
            }
        }

        impl std::str::FromStr for $key {
            type Err = String;

            fn from_str(s: &str) -> Result<$key, String> {
                let wrong = || format!("'{s}' is not a {} (32 hexadecimal digits)", $what);
                if s.len() != 32 {
                    return Err(wrong());
                }
                // Read in one pass (a replay reads millions): 32 digits cannot overflow.
                let mut value = 0u128;
                for digit in s.bytes() {
                    let nibble = match digit {
                        b'0'..=b'9' => digit - b'0',
                        b'a'..=b'f' => digit - b'a' + 10,
                        b'A'..=b'F' => digit - b'A' + 10,
                        _ => return Err(wrong()),
                    };
                    value = value << 4 | u128::from(nibble);
                }
                Ok($key(value))
            }
        }

        impl serde::Serialize for $key {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $key {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<$key, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_key!(ContentKey, "content key");
hex_key!(CardKey, "card key");

impl CardKey {
    /// The identity of a card with this phone sent to this chat (as sent: `digits@c.us`).
    pub fn of(chat_id: impl fmt::Display, phone_contact: u64) -> CardKey {
        use fmt::Write as _;
        let mut hasher = Xxh3Default::new();
        let _ = write!(Feed(&mut hasher), "{chat_id}\x1f{phone_contact}");
        CardKey(hasher.digest128())
    }
}

/// Feeds formatted text straight into the hasher: the same bytes as `to_string()`, without
/// an allocation.
pub(super) struct Feed<'h>(&'h mut Xxh3Default);

impl fmt::Write for Feed<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

impl ContentKey {
    /// The key of a card with this chat (as sent: `digits@c.us`), phone and names
    /// (`firstName`, `middleName`, `lastName`, `company`): what [`Request::key`](super::Request::key) gives, for a
    /// card read back from GREEN-API's queue.
    pub fn of(chat_id: impl fmt::Display, phone_contact: u64, names: [&str; 4]) -> ContentKey {
        use fmt::Write as _;
        let mut hasher = Xxh3Default::new();
        let _ = write!(Feed(&mut hasher), "{chat_id}");
        ContentKey::finish(hasher, phone_contact, names)
    }

    /// The rest of the key once the chat id is in: `\x1f`, the phone, `\x1f` before each name.
    pub(super) fn finish(
        mut hasher: Xxh3Default,
        phone_contact: u64,
        names: [&str; 4],
    ) -> ContentKey {
        let mut digits = [0; 20];
        hasher.update(b"\x1f");
        hasher.update(decimal(phone_contact, &mut digits));
        for part in names {
            hasher.update(b"\x1f");
            hasher.update(part.as_bytes());
        }
        ContentKey(hasher.digest128())
    }
}

/// A card's key text (`chat\x1fphone\x1fnames…`) assembled on the stack, when it fits, so
/// it is hashed in one call: XXH3 gives the same digest for the same bytes either way.
pub(super) struct KeyText {
    pub(super) bytes: [u8; 192],
    pub(super) len: usize,
}

impl KeyText {
    pub(super) fn push(&mut self, part: &[u8]) -> Option<()> {
        let end = self
            .len
            .checked_add(part.len())
            .filter(|&e| e <= self.bytes.len())?;
        self.bytes[self.len..end].copy_from_slice(part);
        self.len = end;
        Some(())
    }
}

/// `n` in decimal, as `Display` writes it, in `buffer`: two digits at a time.
pub(super) fn decimal(mut n: u64, buffer: &mut [u8; 20]) -> &[u8] {
    const PAIRS: [u8; 200] = {
        let mut pairs = [0; 200];
        let mut i = 0;
        while i < 100 {
            pairs[2 * i] = b'0' + (i / 10) as u8;
            pairs[2 * i + 1] = b'0' + (i % 10) as u8;
            i += 1;
        }
        pairs
    };
    let mut start = buffer.len();
    while n >= 10 {
        let pair = (n % 100) as usize * 2;
        start -= 2;
        buffer[start..start + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
        n /= 100;
    }
    if n > 0 || start == buffer.len() {
        start -= 1;
        buffer[start] = b'0' + n as u8;
    }
    &buffer[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn numbers_are_written_as_display_writes_them(
            n in proptest::prop_oneof![0..1000u64, proptest::num::u64::ANY],
        ) {
            let mut buffer = [0; 20];
            proptest::prop_assert_eq!(decimal(n, &mut buffer), n.to_string().into_bytes());
        }
    }
}
