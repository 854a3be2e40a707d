//! Which instance a row goes to (each instance's part of a run is a lane: see `engine`).
//!
//! Rows go to instances by rendezvous hashing of their chat: each instance scores each chat,
//! and the highest score takes it. A chat always hears from the same number, and adding or
//! removing an instance moves only the chats it wins or held (docs/instances.md).

use crate::contact::ChatId;

/// The instance (by its place in `instances`, their idInstances) that a chat goes to.
pub(crate) fn assign(chat: &ChatId, instances: &[String]) -> usize {
    let chat = chat.stable_hash();
    (0..instances.len())
        .max_by_key(|&i| score(chat, &instances[i]))
        .unwrap_or(0)
}

/// An instance's score for a chat: a hash of both, stable everywhere.
fn score(chat: u64, instance: &str) -> u64 {
    let mut bytes = Vec::with_capacity(8 + instance.len());
    bytes.extend_from_slice(&chat.to_le_bytes());
    bytes.extend_from_slice(instance.as_bytes());
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instances(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("110100000{i}")).collect()
    }

    #[test]
    fn a_fourth_instance_takes_about_a_quarter_and_moves_nothing_else() {
        let three = instances(3);
        let four = instances(4);
        let chats: Vec<ChatId> = (0..10_000)
            .map(|i| ChatId::Personal(79_160_000_000 + i))
            .collect();
        let mut moved = 0;
        let mut per = [0usize; 3];
        for chat in &chats {
            let before = assign(chat, &three);
            let after = assign(chat, &four);
            per[before] += 1;
            if before != after {
                moved += 1;
                assert_eq!(after, 3, "a chat only ever moves to the new instance");
            }
        }
        // About a quarter move (2,500 of 10,000), give or take the hash's luck.
        assert!((2_200..2_800).contains(&moved), "{moved} moved");
        assert!(per.iter().all(|n| (3_000..3_700).contains(n)), "{per:?}");
        // Removing one moves only its own chats.
        let two = vec![three[0].clone(), three[2].clone()];
        for chat in &chats {
            match assign(chat, &three) {
                1 => {}
                kept => assert_eq!(two[assign(chat, &two)], three[kept]),
            }
        }
        assert_eq!(assign(&chats[0], &instances(1)), 0);
    }
}
