//! The feed: the input walked again, each row this run sends handed to its instance's lane,
//! in input order, at most `--limit` in all. A lane that stopped (Ctrl-C, GREEN-API refused
//! its instance) takes no more rows — they stay pending — while the others go on; the feed
//! ends when the input does or every lane has stopped. A read error is an error, never an
//! early end.

use std::sync::RwLock;

use tokio::sync::mpsc;

use crate::contact::Checked;
use crate::input::{InputError, InputOptions, Row, Table};
use crate::read;
use crate::record::ledger::History;
use crate::record::sent::SentCards;
use crate::record::standing::{FirstLook, Judge, Policy, Standing};
use crate::route::{Route, Routing};
use crate::send::dispatch::Attempt;
use crate::send::engine::Job;
use crate::validation::{self, Verdict};

/// Why the feed stopped before the end of the input.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FeedError {
    #[error("cannot read the input again ({0}); the rows not sent yet stay pending")]
    Input(#[from] InputError),
    #[error("the input reader stopped unexpectedly ({0}); the rows not sent yet stay pending")]
    Stopped(String),
}

/// What the feed needs of the run: the ledger's history, where rows go, the sent-card
/// histories, the lanes' job queues (in lane order), what goes, how many at most.
pub(crate) struct Feed<'a> {
    pub(crate) input: &'a InputOptions,
    pub(crate) history: &'a History,
    pub(crate) routing: &'a Routing,
    pub(crate) cards: &'a [&'a RwLock<SentCards>],
    pub(crate) lanes: Vec<mpsc::Sender<Job>>,
    pub(crate) first_look: &'a FirstLook,
    pub(crate) policy: Policy<'a>,
    pub(crate) limit: u64,
}

/// Walks the input again and hands each row this run sends to its lane.
pub(crate) fn feed(mut feed: Feed) -> Result<(), FeedError> {
    let mut table = Table::open(feed.input)?;
    let judge = Judge {
        history: feed.history,
        routing: feed.routing,
        first_look: Some(feed.first_look),
        again: feed.policy.again,
    };
    // Looked up beside the other rows, in each history as it stands: a card another run
    // claims meanwhile is refused when its own claim is made.
    let cards = feed.cards;
    let lookup = move |card, absent| {
        cards
            .iter()
            .find_map(|cards| read(cards).earlier_unless_absent(card, absent))
    };
    let prepare = |row: &Row, checked: &Checked| judge.prepare(row, checked, &lookup);
    let mut fed = 0u64;
    let walked = validation::walk_with(&mut table, prepare, |row, checked, verdict, prepared| {
        let (Verdict::Sendable(key), Some(request), Some(prepared)) =
            (verdict, &checked.request, prepared)
        else {
            return Ok(());
        };
        if fed >= feed.limit {
            return Err(Ended::Done);
        }
        let card = prepared.card;
        let standing = judge.standing(key, prepared);
        if !standing.goes(key, feed.policy) {
            return Ok(());
        }
        let Route::Lane(lane) = judge.route(key, &request.chat_id) else {
            return Ok(());
        };
        if feed.lanes[lane].is_closed() {
            return Ok(());
        }
        let changed = matches!(standing, Standing::Changed(_));
        let job = Job {
            attempt: Attempt {
                key,
                row: row.number,
                chat_id: request.chat_id.to_string(),
                phone_contact: request.phone_contact.get(),
                card,
                names: Box::new(request.names().map(str::to_string)),
                slot: None,
                // A corrected card replaces its earlier self, which the history holds.
                again: feed.policy.again || changed,
            },
            body: request.body(),
        };
        match feed.lanes[lane].blocking_send(job) {
            Ok(()) => fed += 1,
            // That lane stopped meanwhile: its rows stay pending, the others go on.
            Err(_) if feed.lanes.iter().all(|lane| lane.is_closed()) => return Err(Ended::Done),
            Err(_) => {}
        }
        Ok(())
    });
    feed.lanes.clear();
    match walked {
        Ok(_) | Err(Ended::Done) => Ok(()),
        Err(Ended::Input(e)) => Err(FeedError::Input(e)),
    }
}

/// Why the walk ended early.
enum Ended {
    /// Nothing more to feed: the limit is reached, or every lane stopped.
    Done,
    Input(InputError),
}

impl From<InputError> for Ended {
    fn from(e: InputError) -> Ended {
        Ended::Input(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_error_in_the_feed_is_an_error_not_an_early_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        let mut csv = String::from("chatId,phoneContact,firstName\n");
        csv.push_str("79001234567,79011234567,Ann\n79001234568,79011234568,Bob\n");
        // A record over the size bound, met only after the first rows.
        csv.push_str(&format!(
            "79001234569,79011234569,\"{}\"\n",
            "x".repeat(2 << 20)
        ));
        std::fs::write(&path, csv).unwrap();
        let input = InputOptions {
            path,
            sheet: None,
            mappings: Vec::new(),
            settings: Vec::new(),
            encoding: None,
            country: None,
        };
        let (jobs, _queued) = mpsc::channel(16);
        let mut cards = SentCards::open(dir.path(), "1101000001").unwrap();
        let results = crate::record::sent::ResultsIdentity {
            path: dir.path().join("r.csv"),
            begun: None,
        };
        cards.register(&results).unwrap();
        let cards = RwLock::new(cards);
        let fed = feed(Feed {
            input: &input,
            history: &History::default(),
            routing: &Routing::new(vec!["1101000001".to_string()], &[], false),
            cards: &[&cards],
            lanes: vec![jobs],
            first_look: &FirstLook::default(),
            policy: Policy::default(),
            limit: u64::MAX,
        });
        assert!(matches!(fed, Err(FeedError::Input(_))), "{fed:?}");
    }
}
