//! What the ledger says, replayed: every content key's fate ([`KeyState`]) and, by identity,
//! every card that went out or may have ([`CardState`]). The results file and the resume
//! policy are derived from it.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::contact::{CardKey, ContentKey};
use crate::input::RowNumber;
use crate::record::Delivery;
use crate::record::event::Event;
use crate::record::part::Part;

/// The setting in which a ledger's first run records whether it sent to an emulator (the
/// built-in sandbox or `greenbulk sandbox`): `yes` or `no`, beside the `--set` values. A
/// sandbox's cards reached no one, and neither kind of run goes on with the other's file
/// (docs/sandbox.md).
pub(crate) const SANDBOX_SETTING: &str = "--sandbox";

/// What the journal says about one content key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Never attempted, or answered without being accepted; the text says why, if anything.
    Pending(Option<String>),
    Sent(String),
    Failed(String),
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct KeyState {
    pub(crate) fate: Fate,
    /// The row the latest event was about.
    pub(crate) row: RowNumber,
    pub(crate) attempts: u32,
    pub(super) in_flight: bool,
    /// Working on a part of the cards: this key's attempts went without the chat and phone
    /// (an older greenbulk) and then with them, of a card in another part — the key is that
    /// part's now (which counts only the attempts made with them), and this state is
    /// nobody's.
    pub(super) moved_out: bool,
    /// The chat and phone of the last attempt, when the ledger recorded them.
    pub(crate) chat: Option<String>,
    pub(crate) phone: Option<u64>,
    /// The names on the card of the last attempt, when the ledger recorded them.
    pub(crate) names: Option<Box<[String; 4]>>,
    /// The instance of the last attempt (see [`History::instance`]), when recorded.
    pub(crate) instance: Option<InstanceId>,
    /// When the last attempt was made, and when the request that was accepted left
    /// (Unix ms).
    pub(crate) attempt_at: Option<u64>,
    pub(crate) sent_at: Option<u64>,
    /// How many times it was found accepted, when a lost answer was looked up (2: twice).
    pub(crate) copies: u32,
    /// The latest delivery state seen, and since when.
    pub(crate) delivery: Option<(Delivery, u64)>,
    /// When it was last asked about one by one (Unix ms).
    pub(crate) looked_up: Option<u64>,
}

impl KeyState {
    /// Which of two attempts at one card (or one row) stands: the one sent, then the later.
    pub(crate) fn standing(&self) -> (bool, Option<u64>) {
        (matches!(self.fate, Fate::Sent(_)), self.attempt_at)
    }
}

impl Default for Fate {
    fn default() -> Fate {
        Fate::Pending(None)
    }
}

/// A row's event, as far as which part of the cards keeps it: an attempt (of its card, when
/// it names the chat and phone), a "not sent", or an answer or a delivery state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Attempt(Option<CardKey>),
    NotSent,
    Answer,
}

impl Kind {
    /// The kind of a ledger line by its `event` name (as [`Event`] writes it) and its card,
    /// when it names one; none for an event that is not a row's.
    fn named(event: &str, card: Option<CardKey>) -> Option<Kind> {
        Some(match event {
            "attempt" => Kind::Attempt(card),
            "notsent" => Kind::NotSent,
            "sent" | "failed" | "unknown" | "recovered" | "delivery" | "lookedup" => Kind::Answer,
            _ => return None,
        })
    }

    fn of(event: &Event) -> Kind {
        match event {
            Event::Attempt {
                chat: Some(chat),
                phone: Some(phone),
                ..
            } => Kind::Attempt(Some(CardKey::of(chat, *phone))),
            Event::Attempt { .. } => Kind::Attempt(None),
            Event::NotSent { .. } => Kind::NotSent,
            _ => Kind::Answer,
        }
    }
}

/// An instance named in the ledger: its place in [`History`]'s list of them (a key's state
/// holds two bytes, not a copy of the idInstance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InstanceId(u16);

/// Every key's fate, replayed from the journal.
#[derive(Debug, Default)]
pub(crate) struct History {
    keys: Keys,
    /// The cards (chat and phone) that went out, or may have: by identity, whatever their
    /// names were, each where its state is kept (a key's, or a row taken back). Built after
    /// the replay.
    cards: Cards,
    /// Rows taken back from the results file (see [`Event::Restored`]).
    restored: Vec<RestoredCard>,
    /// Where each card taken back is in `restored`: what `status` learns of it later
    /// ([`Event::Followed`]) is found by its card.
    restored_places: HashMap<CardKey, u32>,
    /// The `--set` values (and `--country`, under that key) recorded when the ledger was
    /// started, if any were.
    pub(crate) settings: Option<BTreeMap<String, String>>,
    /// Which ledger this is: its [`Event::Begun`] (none in a ledger begun by an earlier
    /// greenbulk).
    pub(crate) begun: Option<(u64, u64)>,
    /// Every idInstance the ledger names, by [`InstanceId`].
    instance_names: Vec<String>,
    /// The instances the runs on this ledger had (see [`Event::Instances`]), in order.
    pub(crate) instances: Vec<String>,
    /// The cards' names are not kept (`status` never reads them: a million cards' names
    /// are a few hundred MB).
    without_names: bool,
    /// The part of the cards kept (see [`Part`]); the rest of the ledger's rows are passed
    /// over.
    part: Part,
    /// This part keeps a key attempted without chat and phone (an older greenbulk): such a
    /// key may move out (see [`KeyState::moved_out`]).
    bare_attempts: bool,
}

/// Every key's state: the states in a list, in the order first seen, found through a table
/// of their places (4 bytes a slot). A hash map of states would size its slots, each a
/// whole state, to the next power of two; the list is cut to its length once replayed.
#[derive(Debug, Default)]
struct Keys {
    places: hashbrown::HashTable<u32>,
    states: Vec<(ContentKey, KeyState)>,
}

impl Keys {
    /// The table's hash of a key: its low half (a key is itself a 128-bit hash).
    fn hash(key: ContentKey) -> u64 {
        key.0 as u64
    }

    fn get(&self, key: &ContentKey) -> Option<&KeyState> {
        let states = &self.states;
        self.places
            .find(Keys::hash(*key), |&at| states[at as usize].0 == *key)
            .map(|&at| &states[at as usize].1)
    }

    fn get_mut(&mut self, key: &ContentKey) -> Option<&mut KeyState> {
        let states = &self.states;
        let at = self
            .places
            .find(Keys::hash(*key), |&at| states[at as usize].0 == *key)
            .copied()?;
        Some(&mut self.states[at as usize].1)
    }

    fn get_or_default(&mut self, key: ContentKey) -> &mut KeyState {
        let states = &self.states;
        let found = self
            .places
            .find(Keys::hash(key), |&at| states[at as usize].0 == key)
            .copied();
        let at = match found {
            Some(at) => at as usize,
            None => {
                let at = self.states.len();
                self.states.push((key, KeyState::default()));
                let states = &self.states;
                self.places
                    .insert_unique(Keys::hash(key), at as u32, |&at| {
                        Keys::hash(states[at as usize].0)
                    });
                at
            }
        };
        &mut self.states[at].1
    }

    fn iter(&self) -> impl Iterator<Item = (ContentKey, &KeyState)> {
        self.states.iter().map(|(key, state)| (*key, state))
    }

    fn values_mut(&mut self) -> impl Iterator<Item = &mut KeyState> {
        self.states.iter_mut().map(|(_, state)| state)
    }

    fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Gives back the room the list grew into beyond its length.
    fn shrink(&mut self) {
        self.states.shrink_to_fit();
    }
}

/// A card that went out (or may have), known by its chat and phone: a view of the state
/// kept for it (a key's, or a row's taken back from the results file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CardState<'h> {
    /// The content that went: none for a row taken back from the results file.
    pub(crate) key: Option<ContentKey>,
    /// Sent (with its idMessage) or unknown.
    pub(crate) sent: Option<&'h str>,
    pub(crate) row: RowNumber,
    pub(crate) chat: &'h str,
    pub(crate) phone: u64,
    pub(crate) names: Option<&'h [String; 4]>,
    pub(crate) attempts: u32,
    pub(crate) delivery: Option<(Delivery, u64)>,
    /// When it was attempted (Unix ms), if known; for a row taken back, when it was taken
    /// back (it was attempted before that).
    pub(crate) at: Option<u64>,
    pub(crate) instance: Option<InstanceId>,
    /// When `status` last asked about it one by one (Unix ms).
    pub(crate) looked_up: Option<u64>,
}

/// Where a card's state is kept: no copy of it (a million cards are a million chats and
/// idMessages, once). A key's place in [`Keys`]'s list, or a row taken back (its place in
/// the list of them, with [`CardRef::RESTORED`] set): 4 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CardRef(u32);

impl CardRef {
    const RESTORED: u32 = 1 << 31;

    fn key(at: usize) -> CardRef {
        CardRef(at as u32)
    }

    fn restored(at: usize) -> CardRef {
        CardRef(at as u32 | CardRef::RESTORED)
    }
}

/// The cards by identity: a table of [`CardRef`]s (4 bytes a slot), each found by the
/// identity of the chat and phone it leads to. A hash map of identities (16 bytes) to where
/// their states are would take 48 bytes a slot, 100 MB at a million cards.
#[derive(Debug, Default)]
struct Cards(hashbrown::HashTable<CardRef>);

impl Cards {
    fn hash(card: CardKey) -> u64 {
        card.0 as u64
    }

    /// The identity of the card `at` leads to: none for a key whose chat and phone the
    /// ledger did not record (never indexed).
    fn identity(at: CardRef, keys: &Keys, restored: &[RestoredCard]) -> Option<CardKey> {
        if at.0 & CardRef::RESTORED != 0 {
            let card = restored.get((at.0 & !CardRef::RESTORED) as usize)?;
            Some(CardKey::of(&card.chat, card.phone))
        } else {
            let (_, state) = keys.states.get(at.0 as usize)?;
            Some(CardKey::of(state.chat.as_deref()?, state.phone?))
        }
    }

    fn find(&self, card: CardKey, keys: &Keys, restored: &[RestoredCard]) -> Option<CardRef> {
        self.0
            .find(Cards::hash(card), |&at| {
                Cards::identity(at, keys, restored) == Some(card)
            })
            .copied()
    }
}

/// A row taken back from the results file (see [`Event::Restored`]).
#[derive(Debug, Clone, PartialEq, Eq)]
struct RestoredCard {
    sent: Option<String>,
    delivery: Option<(Delivery, u64)>,
    row: RowNumber,
    chat: String,
    phone: u64,
    at: u64,
    instance: Option<InstanceId>,
    looked_up: Option<u64>,
}

impl History {
    /// An empty history that will not keep the cards' names (see [`KeyState::names`]), or
    /// only a part of the cards.
    pub(crate) fn keeping(names: bool, part: Part) -> History {
        History {
            without_names: !names,
            part,
            ..History::default()
        }
    }

    /// Whether a ledger line is of another part of the cards, seen from the few fields that
    /// say (much cheaper than reading the whole event): false when in doubt, and always for
    /// the whole history. The instance an attempt names is noted either way (see
    /// [`History::named_instances`]). The decision is [`History::keeps`]'.
    pub(super) fn passes_over(&mut self, line: &[u8]) -> bool {
        /// What a line says of its part.
        #[derive(serde::Deserialize)]
        struct Peek<'a> {
            event: &'a str,
            #[serde(default)]
            key: Option<&'a str>,
            #[serde(default)]
            chat: Option<&'a str>,
            #[serde(default)]
            phone: Option<u64>,
            #[serde(default)]
            instance: Option<&'a str>,
        }
        if self.part == Part::WHOLE {
            return false;
        }
        let Ok(Peek {
            event,
            key: Some(key),
            chat,
            phone,
            instance,
        }) = serde_json::from_slice::<Peek>(line)
        else {
            return false;
        };
        // Another part's card, when no key here can move out: passed over without its key.
        if let ("attempt", Some(chat), Some(phone)) = (event, chat, phone)
            && !self.bare_attempts
            && !self.part.holds_card(CardKey::of(chat, phone))
        {
            if let Some(instance) = instance {
                self.instance_id(instance);
            }
            return true;
        }
        let Ok(key) = key.parse::<ContentKey>() else {
            return false;
        };
        let card = chat
            .zip(phone)
            .map(|(chat, phone)| CardKey::of(chat, phone));
        let Some(kind) = Kind::named(event, card) else {
            return false;
        };
        if let Some(instance) = instance.filter(|_| event == "attempt") {
            self.instance_id(instance);
        }
        // An attempt of another part's card whose key this part holds is read whole: the
        // key moves out (see `apply`).
        let moves_out = matches!(kind, Kind::Attempt(Some(_)))
            && matches!(self.keys.get(&key), Some(state) if !state.moved_out);
        let kept = self.keeps(kind, key) || moves_out;
        !kept
    }

    /// Whether this history's part keeps a row's event. Every key is kept in one part: an
    /// attempt by its card (by its key when it names no chat and phone, as an older
    /// greenbulk wrote it); an answer, a delivery state or a "not sent" only when the key's
    /// attempt was kept here (it comes first; a row never attempted is nobody's card, and
    /// `status`, which works in parts, has nothing to say of it).
    fn keeps(&self, kind: Kind, key: ContentKey) -> bool {
        if self.part == Part::WHOLE {
            return true;
        }
        let held = self.keys.get(&key);
        let attempted = held.is_some_and(|state| !state.moved_out);
        match kind {
            Kind::Attempt(Some(card)) => self.part.holds_card(card),
            Kind::Attempt(None) => attempted || (held.is_none() && self.part.holds_key(key)),
            Kind::NotSent | Kind::Answer => attempted,
        }
    }

    pub(crate) fn get(&self, key: ContentKey) -> Option<&KeyState> {
        self.keys.get(&key)
    }

    /// The idInstance the ledger names by `id`.
    pub(crate) fn instance(&self, id: Option<InstanceId>) -> Option<&str> {
        id.and_then(|id| self.instance_names.get(usize::from(id.0)))
            .map(String::as_str)
    }

    /// Every idInstance the ledger names (attempts, rows taken back, the runs' instances).
    pub(crate) fn named_instances(&self) -> impl Iterator<Item = &String> {
        self.instance_names.iter().chain(&self.instances)
    }

    /// The id of an idInstance, adding it to the list.
    fn instance_id(&mut self, name: &str) -> InstanceId {
        match self.instance_names.iter().position(|n| n == name) {
            Some(at) => InstanceId(at as u16),
            None => {
                self.instance_names.push(name.to_string());
                InstanceId((self.instance_names.len() - 1) as u16)
            }
        }
    }

    /// Which of `cards` the ledger has attempts of, whatever became of them (failed, or
    /// answered without being accepted, as well as sent or in doubt).
    pub(crate) fn attempted(&self, cards: &HashSet<CardKey>) -> HashSet<CardKey> {
        self.keys
            .states
            .iter()
            .filter(|(_, state)| state.attempts > 0)
            .filter_map(|(_, state)| Some(CardKey::of(state.chat.as_deref()?, state.phone?)))
            .filter(|card| cards.contains(card))
            .collect()
    }

    /// The card with this chat and phone that went out (or may have), whatever its names.
    pub(crate) fn card(&self, card: CardKey) -> Option<CardState<'_>> {
        let at = self.cards.find(card, &self.keys, &self.restored)?;
        self.card_at(at)
    }

    /// Where the card with this chat and phone is kept, as a number below
    /// [`History::card_places`]: two lookups of the same card give the same number.
    pub(crate) fn card_place(&self, card: CardKey) -> Option<usize> {
        let at = self.cards.find(card, &self.keys, &self.restored)?;
        Some(if at.0 & CardRef::RESTORED != 0 {
            self.keys.states.len() + (at.0 & !CardRef::RESTORED) as usize
        } else {
            at.0 as usize
        })
    }

    /// How many numbers [`History::card_place`] may give.
    pub(crate) fn card_places(&self) -> usize {
        self.keys.states.len() + self.restored.len()
    }

    /// How many cards went out or may have.
    pub(crate) fn card_count(&self) -> usize {
        self.cards.0.len()
    }

    /// Every card that went out or may have, by identity, in no particular order.
    pub(crate) fn cards(&self) -> impl Iterator<Item = (CardKey, CardState<'_>)> {
        self.cards.0.iter().filter_map(|&at| {
            let card = Cards::identity(at, &self.keys, &self.restored)?;
            Some((card, self.card_at(at)?))
        })
    }

    fn card_at(&self, at: CardRef) -> Option<CardState<'_>> {
        if at.0 & CardRef::RESTORED != 0 {
            let card = self.restored.get((at.0 & !CardRef::RESTORED) as usize)?;
            return Some(CardState {
                key: None,
                sent: card.sent.as_deref(),
                row: card.row,
                chat: &card.chat,
                phone: card.phone,
                names: None,
                attempts: 1,
                delivery: card.delivery,
                at: Some(card.at),
                instance: card.instance,
                looked_up: card.looked_up,
            });
        }
        let (key, state) = self.keys.states.get(at.0 as usize)?;
        Some(CardState {
            key: Some(*key),
            sent: match &state.fate {
                Fate::Sent(id) => Some(id),
                _ => None,
            },
            row: state.row,
            chat: state.chat.as_deref()?,
            phone: state.phone?,
            names: state.names.as_deref(),
            attempts: state.attempts,
            delivery: state.delivery,
            at: state.attempt_at,
            instance: state.instance,
            looked_up: state.looked_up,
        })
    }

    /// The rows taken back from the results file that `status` follows, by their place
    /// (for [`History::restored_at`]): those recorded as sent, where the card's state is
    /// kept (the ledger knows nothing else of the card).
    pub(crate) fn restored_sent(&self) -> impl Iterator<Item = u32> {
        (0..self.restored.len()).filter_map(|at| {
            let card = &self.restored[at];
            card.sent.as_ref()?;
            let held = self.cards.find(
                CardKey::of(&card.chat, card.phone),
                &self.keys,
                &self.restored,
            )?;
            (held == CardRef::restored(at)).then_some(at as u32)
        })
    }

    /// The row taken back at `place`, and its card.
    pub(crate) fn restored_at(&self, place: u32) -> Option<(CardKey, CardState<'_>)> {
        let card = self.restored.get(place as usize)?;
        let state = self.card_at(CardRef::restored(place as usize))?;
        Some((CardKey::of(&card.chat, card.phone), state))
    }

    /// Changes the row taken back at `place` as [`Event::Followed`] says.
    pub(crate) fn follow_restored(
        &mut self,
        place: u32,
        state: Option<Delivery>,
        looked_up: bool,
        at: u64,
    ) {
        let Some(card) = self.restored.get_mut(place as usize) else {
            return;
        };
        if let Some(state) = state {
            card.delivery = Some((state, at));
        }
        if looked_up {
            card.looked_up = Some(at);
        }
    }

    /// Every key and its state, in the order the ledger first named them.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (ContentKey, &KeyState)> {
        self.keys.iter()
    }

    /// The idMessage of every card the ledger records as sent.
    pub(crate) fn sent_ids(&self) -> std::collections::HashSet<&str> {
        self.iter()
            .filter_map(|(_, state)| match &state.fate {
                Fate::Sent(id) => Some(id.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The key at `place` in [`History::iter`]'s order, and its state.
    pub(crate) fn at(&self, place: u32) -> Option<(ContentKey, &KeyState)> {
        self.keys
            .states
            .get(place as usize)
            .map(|(key, state)| (*key, state))
    }

    /// The state at `place` in [`History::iter`]'s order, to change it as an event the
    /// caller appended says.
    pub(crate) fn state_at_mut(&mut self, place: u32) -> Option<&mut KeyState> {
        self.keys
            .states
            .get_mut(place as usize)
            .map(|(_, state)| state)
    }

    /// Whether the runs on this ledger sent to an emulator, as its first run recorded
    /// ([`SANDBOX_SETTING`]: `yes` or `no`): `(sandbox, recorded)`. A ledger of an older
    /// greenbulk records nothing: its requests are taken for real ones (`recorded` false);
    /// none when nothing is known (no request yet, or only rows taken back from the results
    /// file).
    pub(crate) fn sent_to_sandbox(&self) -> Option<(bool, bool)> {
        let recorded = self
            .settings
            .as_ref()
            .and_then(|sets| sets.get(SANDBOX_SETTING));
        match recorded {
            Some(word) => Some((word == "yes", true)),
            None if self.keys.is_empty() => None,
            None => Some((false, false)),
        }
    }

    /// Whether an earlier run wrote anything here.
    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.settings.is_none() && self.restored.is_empty()
    }

    pub(super) fn apply(&mut self, event: &Event) {
        let Some((key, row)) = event.row() else {
            match event {
                Event::Settings { sets, .. } => self.settings = Some(sets.clone()),
                Event::Begun { at, nonce } => self.begun = Some((*at, *nonce)),
                Event::Instances { ids, replaced, .. } => {
                    if *replaced {
                        self.instances.clear();
                    }
                    for id in ids {
                        if !self.instances.contains(id) {
                            self.instances.push(id.clone());
                        }
                    }
                }
                Event::Restored {
                    row,
                    chat,
                    phone,
                    id_message,
                    instance,
                    delivery,
                    at,
                    ..
                } => {
                    let instance = instance.as_deref().map(|i| self.instance_id(i));
                    let card = CardKey::of(chat, *phone);
                    if !self.part.holds_card(card) {
                        return;
                    }
                    self.restored_places
                        .insert(card, self.restored.len() as u32);
                    self.restored.push(RestoredCard {
                        sent: id_message.clone(),
                        delivery: *delivery,
                        row: *row,
                        chat: chat.clone(),
                        phone: *phone,
                        at: *at,
                        instance,
                        looked_up: None,
                    })
                }
                Event::Followed {
                    card,
                    state,
                    looked_up,
                    at,
                } => {
                    if let Some(&place) = self.restored_places.get(card) {
                        self.follow_restored(place, *state, *looked_up, *at);
                    }
                }
                _ => {}
            }
            return;
        };
        let instance = match event {
            Event::Attempt {
                instance: Some(instance),
                ..
            } => Some(self.instance_id(instance)),
            _ => None,
        };
        let kind = Kind::of(event);
        if !self.keeps(kind, key) {
            if let Kind::Attempt(Some(_)) = kind
                && let Some(state) = self.keys.get_mut(&key)
                && !state.moved_out
            {
                *state = KeyState {
                    moved_out: true,
                    ..KeyState::default()
                };
            }
            return;
        }
        self.bare_attempts |= matches!(kind, Kind::Attempt(None));
        let state = self.keys.get_or_default(key);
        state.row = row;
        if let Event::Delivery {
            state: delivery,
            at,
            ..
        } = event
        {
            state.delivery = Some((*delivery, *at));
            return;
        }
        if let Event::LookedUp { at, .. } = event {
            state.looked_up = Some(*at);
            return;
        }
        // A sent message stays sent, whatever a later confused event says.
        if matches!(state.fate, Fate::Sent(_)) {
            return;
        }
        let fate = match event {
            Event::Attempt {
                at,
                chat,
                phone,
                names,
                ..
            } => {
                state.attempts += 1;
                state.in_flight = true;
                state.attempt_at = *at;
                if chat.is_some() {
                    state.chat.clone_from(chat);
                    state.phone = *phone;
                }
                if names.is_some() && !self.without_names {
                    state.names.clone_from(names);
                }
                if instance.is_some() {
                    state.instance = instance;
                }
                return;
            }
            Event::Sent {
                id_message,
                sent_at,
                ..
            } => {
                state.sent_at = *sent_at;
                Fate::Sent(id_message.clone())
            }
            Event::Recovered {
                id_message, copies, ..
            } => {
                state.sent_at = state.attempt_at;
                state.copies = *copies;
                Fate::Sent(id_message.clone())
            }
            Event::Delivery { .. }
            | Event::LookedUp { .. }
            | Event::Begun { .. }
            | Event::Instances { .. }
            | Event::Settings { .. }
            | Event::Restored { .. }
            | Event::Followed { .. } => {
                unreachable!("handled above")
            }
            Event::Failed { error, .. } => Fate::Failed(error.clone()),
            Event::Unknown { reason, .. } => Fate::Unknown(reason.clone()),
            Event::NotSent { reason, .. } => Fate::Pending(Some(reason.clone())),
        };
        state.fate = fate;
        state.in_flight = false;
    }

    /// After replay: an attempt with no outcome was caught in flight by a crash.
    pub(super) fn settle_in_flight(&mut self) {
        for state in self.keys.values_mut() {
            if state.in_flight {
                state.in_flight = false;
                state.fate = Fate::Unknown(
                    "the run stopped while this request was in flight; it may have been sent"
                        .into(),
                );
            }
        }
    }

    /// After replay: every card that went out (or may have), by its chat and phone. A card
    /// sent beats one in doubt, and a later attempt an earlier one; a row taken back from
    /// the results file counts only where the ledger knows nothing of its card.
    pub(super) fn index_cards(&mut self) {
        self.keys.shrink();
        let History {
            keys,
            cards,
            restored,
            ..
        } = self;
        let identity = |at: &CardRef| Cards::identity(*at, keys, restored).map_or(0, Cards::hash);
        cards.0 = hashbrown::HashTable::with_capacity(keys.states.len() + restored.len());
        for (at, (_, state)) in keys.states.iter().enumerate() {
            let (Some(chat), Some(phone)) = (&state.chat, state.phone) else {
                continue;
            };
            if matches!(state.fate, Fate::Pending(_) | Fate::Failed(_)) {
                continue;
            }
            let card = CardKey::of(chat, phone);
            match cards.0.entry(
                Cards::hash(card),
                |&held| Cards::identity(held, keys, restored) == Some(card),
                identity,
            ) {
                hashbrown::hash_table::Entry::Occupied(mut held) => {
                    // Only keys are indexed yet: the rows taken back come after.
                    let before = keys
                        .states
                        .get(held.get().0 as usize)
                        .map(|(_, s)| s.standing());
                    if Some(state.standing()) > before {
                        *held.get_mut() = CardRef::key(at);
                    }
                }
                hashbrown::hash_table::Entry::Vacant(slot) => {
                    slot.insert(CardRef::key(at));
                }
            }
        }
        for (at, card) in restored.iter().enumerate() {
            let card = CardKey::of(&card.chat, card.phone);
            if let hashbrown::hash_table::Entry::Vacant(slot) = cards.0.entry(
                Cards::hash(card),
                |&held| Cards::identity(held, keys, restored) == Some(card),
                identity,
            ) {
                slot.insert(CardRef::restored(at));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event a row has, as the ledger writes it, is of the kind its peeked name says:
    /// the cheap peek and the whole reading decide its part alike.
    #[test]
    fn a_peeked_event_is_of_the_kind_its_reading_says() {
        let key = ContentKey(7);
        let row = RowNumber(2);
        let events = [
            Event::Attempt {
                key,
                row,
                at: Some(1),
                chat: Some("79161234567@c.us".into()),
                phone: Some(79031234567),
                names: None,
                instance: None,
            },
            Event::bare_attempt(key, row),
            Event::Sent {
                key,
                row,
                id_message: "A".into(),
                sent_at: None,
            },
            Event::Failed {
                key,
                row,
                error: "e".into(),
            },
            Event::Unknown {
                key,
                row,
                reason: "r".into(),
            },
            Event::NotSent {
                key,
                row,
                reason: "r".into(),
            },
            Event::Recovered {
                key,
                row,
                id_message: "A".into(),
                copies: 1,
                at: 1,
            },
            Event::Delivery {
                key,
                row,
                state: Delivery::Read,
                at: 1,
            },
            Event::LookedUp { key, row, at: 1 },
        ];
        for event in events {
            let json: serde_json::Value = serde_json::to_value(&event).unwrap();
            let card = match (json.get("chat"), json.get("phone")) {
                (Some(chat), Some(phone)) => {
                    Some(CardKey::of(chat.as_str().unwrap(), phone.as_u64().unwrap()))
                }
                _ => None,
            };
            let name = json["event"].as_str().unwrap();
            assert_eq!(Kind::named(name, card), Some(Kind::of(&event)), "{name}");
        }
        assert_eq!(Kind::named("begun", None), None);
    }
}
