//! Which instance a row goes to (docs/instances.md).
//!
//! Rows go to instances by rendezvous hashing of their chat: each instance scores each chat,
//! and the highest score takes it. A chat always hears from the same number, and adding or
//! removing an instance moves only the chats it wins or held. A row attempted before stays
//! with the instance that attempted it; a row whose instance is not in this run (taken out
//! of the `--instances` file) waits for it, unless `--reassign` sends it from the others.

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

/// Why a lane sent no more.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Halted {
    /// GREEN-API stopped the instance (or it could not be asked).
    Stopped(String),
    /// The run held its rows back on purpose (the daily cap, the window).
    Held(String),
}

/// Where a row goes in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route<'r> {
    /// To the run's instance at this place (its lane).
    Lane(usize),
    /// Nowhere now: it waits for this instance, which the run does not have.
    Waiting(&'r str),
}

/// The run's instances, those an earlier run on the same results file had, and what each row
/// of this run is routed to.
#[derive(Debug, Clone, Default)]
pub(crate) struct Routing {
    /// This run's instances (idInstances), in lane order.
    current: Vec<String>,
    /// Every instance a row may be assigned to: this run's, then the earlier runs' that
    /// this one lacks (their rows wait for them).
    pool: Vec<String>,
    /// Why an instance of this run stopped (or never started, or held its rows back), by
    /// lane.
    stopped: Vec<Option<Halted>>,
}

impl Routing {
    /// `current`: this run's instances; `recorded`: those the results file's earlier runs
    /// had; `reassign`: rows of instances this run lacks go to the others.
    pub(crate) fn new(current: Vec<String>, recorded: &[String], reassign: bool) -> Routing {
        let mut pool = current.clone();
        if !reassign {
            pool.extend(recorded.iter().filter(|r| !current.contains(r)).cloned());
        }
        Routing {
            stopped: vec![None; current.len()],
            current,
            pool,
        }
    }

    /// This run's instances, in lane order.
    pub(crate) fn instances(&self) -> &[String] {
        &self.current
    }

    /// The earlier runs' instances that this run lacks.
    pub(crate) fn missing(&self) -> &[String] {
        &self.pool[self.current.len()..]
    }

    /// Where a row with this chat goes; `attempted_on`: the instance an earlier attempt of
    /// it went to, if one did.
    pub(crate) fn route(&self, chat: &ChatId, attempted_on: Option<&str>) -> Route<'_> {
        if self.current.is_empty() || self.pool.len() == 1 {
            return Route::Lane(0);
        }
        if let Some(on) = attempted_on {
            if let Some(lane) = self.current.iter().position(|c| c == on) {
                return Route::Lane(lane);
            }
            // Else reassigned, or attempted on an instance no run recorded (an older
            // ledger): its chat's instance now, like a row never attempted.
            if let Some(waited) = self.pool.iter().find(|p| *p == on) {
                return Route::Waiting(waited);
            }
        }
        match assign(chat, &self.pool) {
            lane if lane < self.current.len() => Route::Lane(lane),
            waiting => Route::Waiting(&self.pool[waiting]),
        }
    }

    /// The idInstance a route names ("" when the run has none).
    pub(crate) fn instance<'a>(&'a self, route: Route<'a>) -> &'a str {
        match route {
            Route::Lane(lane) => self.current.get(lane).map_or("", String::as_str),
            Route::Waiting(instance) => instance,
        }
    }

    /// Notes why the instance in `lane` stopped: its rows that did not go say so.
    pub(crate) fn stop(&mut self, lane: usize, reason: String) {
        if let Some(stopped) = self.stopped.get_mut(lane) {
            stopped.get_or_insert(Halted::Stopped(reason));
        }
    }

    /// Notes why the lane's rows were held back on purpose: they say so.
    pub(crate) fn hold(&mut self, lane: usize, reason: String) {
        if let Some(stopped) = self.stopped.get_mut(lane) {
            stopped.get_or_insert(Halted::Held(reason));
        }
    }

    /// Why the instance in `lane` stopped, if it did.
    pub(crate) fn stop_reason(&self, lane: usize) -> Option<&str> {
        match self.stopped.get(lane)?.as_ref()? {
            Halted::Stopped(reason) | Halted::Held(reason) => Some(reason),
        }
    }

    /// Why a row on this route did not go, when its instance is the reason.
    pub(crate) fn waiting_reason(&self, route: Route) -> Option<String> {
        match route {
            Route::Lane(lane) => match self.stopped.get(lane)?.as_ref()? {
                Halted::Stopped(reason) => Some(format!(
                    "instance {} stopped: {reason}; --resume sends this row from it once it \
                     can send again",
                    self.current[lane]
                )),
                Halted::Held(reason) => Some(format!(
                    "held back from instance {}: {reason}",
                    self.current[lane]
                )),
            },
            Route::Waiting(instance) => Some(format!(
                "waiting for instance {instance}, which an earlier run sent from and this one \
                 does not have: give it again, or add --reassign to send from the others"
            )),
        }
    }
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

    #[test]
    fn a_row_stays_with_its_instance_or_waits_for_it_unless_reassigned() {
        let chat = ChatId::Personal(79_161_234_567);
        let three = instances(3);
        let routing = Routing::new(three[..2].to_vec(), &three, false);
        assert_eq!(routing.missing(), &three[2..]);
        // Attempted on the missing instance: it waits for that one.
        assert_eq!(
            routing.route(&chat, Some(&three[2])),
            Route::Waiting(&three[2])
        );
        assert_eq!(routing.route(&chat, Some(&three[1])), Route::Lane(1));
        // Never attempted: its chat's instance among all three, waiting if that is gone.
        let chats: Vec<ChatId> = (0..3_000)
            .map(|i| ChatId::Personal(79_160_000_000 + i))
            .collect();
        let waiting = chats
            .iter()
            .filter(|c| matches!(routing.route(c, None), Route::Waiting(_)))
            .count();
        assert!((800..1_200).contains(&waiting), "{waiting}");
        let reassigned = Routing::new(three[..2].to_vec(), &three, true);
        assert!(reassigned.missing().is_empty());
        assert!(
            chats
                .iter()
                .all(|c| matches!(reassigned.route(c, Some(&three[2])), Route::Lane(_)))
        );
        let mut stopped = reassigned;
        stopped.stop(1, "yellowCard".into());
        let reason = stopped.waiting_reason(Route::Lane(1)).unwrap();
        assert!(
            reason.contains(&three[1]) && reason.contains("yellowCard"),
            "{reason}"
        );
        assert_eq!(stopped.waiting_reason(Route::Lane(0)), None);
    }
}
