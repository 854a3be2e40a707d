//! The emulator's memory, shared by its methods: the configuration, the messages and the
//! queue, brought up to the clock whenever it is read.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::instance::{self, Fate, Instance, Pace};
use super::message::{OutgoingMessage, Received};
use super::{Config, Faults, InstanceState, Moment};

pub(super) struct Shared {
    pub(super) config: Config,
    pub(super) started: Moment,
    pub(super) state: Mutex<EmulatorState>,
}

pub(super) struct EmulatorState {
    pub(super) faults: Faults,
    pub(super) rng: fastrand::Rng,
    /// For idMessages: seeded by the system, so ids are unique across runs (a saved
    /// sandbox must never give one twice), whatever the faults' seed.
    pub(super) ids: fastrand::Rng,
    pub(super) received: Vec<Received>,
    pub(super) outgoing: Vec<OutgoingMessage>,
    pub(super) arrivals: VecDeque<Moment>,
    /// The outgoing queue and what left it; its messages are `outgoing`'s, in order.
    pub(super) instance: Instance,
    /// The last call of each rate-limited method, and the calls that came too soon.
    pub(super) last_calls: HashMap<String, Moment>,
    pub(super) over_limit: Vec<String>,
    pub(super) chats: HashSet<String>,
    pub(super) starting_until: Moment,
    /// Where each accepted message is added as it comes, when it keeps them between runs.
    pub(super) journal: Option<super::saved::Journal>,
}

impl EmulatorState {
    /// Adds the message just accepted to the journal, if it keeps one.
    pub(super) fn journal_last(&mut self) {
        let EmulatorState {
            journal: Some(journal),
            outgoing,
            instance,
            ..
        } = self
        else {
            return;
        };
        if let (Some(message), Some(queued)) = (outgoing.last(), instance.messages.last()) {
            journal.add(&super::saved::Saved::of(message, queued));
        }
    }

    pub(super) fn set_faults(&mut self, faults: Faults) {
        let now = super::now();
        self.catch_up(now);
        self.starting_until = now + faults.starting_for;
        self.faults = faults;
        self.catch_up(now);
    }

    pub(super) fn state(&self) -> InstanceState {
        match self.faults.state {
            InstanceState::Starting if super::now() >= self.starting_until => {
                InstanceState::Authorized
            }
            state => state,
        }
    }

    /// Brings the queue up to `now`: what would have left (or expired) by then has.
    pub(super) fn catch_up(&mut self, now: Moment) {
        let since = match self.faults.state {
            InstanceState::Authorized => Some(now),
            InstanceState::Starting => Some(self.starting_until).filter(|t| *t <= now),
            _ => None,
        };
        match since {
            Some(since) => self.instance.set_sending(true, since),
            None => self.instance.set_sending(false, now),
        }
        let pace = Pace {
            delay: self.faults.delay,
            ttl: self.faults.queue_ttl,
        };
        self.instance.advance(now, pace);
    }

    /// Whether a chat has WhatsApp: a number possible in its numbering plan, and not in the
    /// seeded share of numbers that have no account (`Faults::no_account`).
    pub(super) fn has_whatsapp(&self, chat: &str) -> bool {
        let digits = chat.split('@').next().unwrap_or_default();
        if chat.ends_with("@g.us") {
            return true;
        }
        let possible = crate::contact::phone::parse(digits)
            .is_ok_and(|p| p.plausibility() == crate::contact::Plausibility::Possible);
        possible && share(self.faults.seed, digits, 1) >= self.faults.no_account
    }

    /// A message's status now: `queued`, `expired`, or what GREEN-API reports once it left.
    pub(super) fn status_of(&self, index: usize, now: Moment) -> &'static str {
        let message = &self.instance.messages[index];
        match message.fate {
            Fate::Queued => "queued",
            Fate::Expired => "expired",
            Fate::Left(_) => instance::status(message, now).unwrap_or("sent"),
        }
    }
}

/// Where `text` falls in [0, 1) for a seeded rule (`salt` keeps different rules apart).
pub(super) fn share(seed: u64, text: &str, salt: u64) -> f64 {
    (xxh3_64_with_seed(text.as_bytes(), seed ^ salt) >> 11) as f64 / (1u64 << 53) as f64
}

impl Shared {
    pub(super) fn new(config: Config, started: Moment) -> Shared {
        let faults = config.faults.clone();
        Shared {
            state: Mutex::new(EmulatorState {
                rng: fastrand::Rng::with_seed(faults.seed),
                ids: fastrand::Rng::new(),
                starting_until: started + faults.starting_for,
                faults,
                received: Vec::new(),
                outgoing: Vec::new(),
                arrivals: VecDeque::new(),
                instance: Instance::default(),
                last_calls: HashMap::new(),
                over_limit: Vec::new(),
                chats: HashSet::new(),
                journal: None,
            }),
            config,
            started,
        }
    }

    /// Puts back the messages an earlier run saved.
    pub(super) fn restore(&self, saved: Vec<super::saved::Saved>) {
        let mut state = self.lock();
        for message in saved {
            let (outgoing, queued) = message.restore(self.started);
            state.chats.insert(outgoing.chat_id.clone());
            state.outgoing.push(outgoing);
            state.instance.restore(queued);
        }
    }

    /// Every message, as it is to be saved.
    pub(super) fn to_save(&self) -> Vec<super::saved::Saved> {
        let (state, _) = self.now();
        state
            .outgoing
            .iter()
            .zip(&state.instance.messages)
            .map(|(message, queued)| super::saved::Saved::of(message, queued))
            .collect()
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, EmulatorState> {
        super::lock(&self.state)
    }

    /// The state, with the queue brought up to now.
    pub(super) fn now(&self) -> (std::sync::MutexGuard<'_, EmulatorState>, Moment) {
        let mut state = self.lock();
        let now = super::now();
        state.catch_up(now);
        (state, now)
    }

    /// An instant as the Unix seconds GREEN-API's records carry.
    pub(super) fn unix(&self, at: Moment) -> u64 {
        at.as_secs()
    }
}
