//! An instance's queue and journal as one `status` round saw them: a round working on a big
//! history a part at a time ([`crate::record::Part`]) asks for them once, whichever part
//! needs them; a later part that needs the journal further back asks again.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::client::{Answer, Call, CallError, Gateway, QueueLength, QueuedMessage, SentMessage};

/// A gateway that keeps the answers of `showMessagesQueue`, `getMessagesCount` and
/// `lastOutgoingMessages` for the round; every other call goes through.
pub(crate) struct Asked<'g> {
    client: &'g dyn Gateway,
    queue: Mutex<Option<Vec<QueuedMessage>>>,
    length: Mutex<Option<QueueLength>>,
    /// The journal, and how many minutes back it was asked for.
    journal: Mutex<Option<(u64, Vec<SentMessage>)>>,
    /// The journal and queue calls really made.
    journal_calls: AtomicU32,
    queue_calls: AtomicU32,
}

impl<'g> Asked<'g> {
    pub(crate) fn new(client: &'g dyn Gateway) -> Asked<'g> {
        Asked {
            client,
            queue: Mutex::new(None),
            length: Mutex::new(None),
            journal: Mutex::new(None),
            journal_calls: AtomicU32::new(0),
            queue_calls: AtomicU32::new(0),
        }
    }

    /// The `lastOutgoingMessages` and `showMessagesQueue` calls made through it.
    pub(crate) fn calls(&self) -> (u32, u32) {
        (
            self.journal_calls.load(Ordering::Relaxed),
            self.queue_calls.load(Ordering::Relaxed),
        )
    }
}

/// What a lock guards stays whole whatever panicked while it was held: an answer is put in
/// at once.
fn kept<T: Clone>(slot: &Mutex<T>) -> T {
    slot.lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

fn keep<T>(slot: &Mutex<T>, value: T) {
    *slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = value;
}

impl Gateway for Asked<'_> {
    fn id_instance(&self) -> &str {
        self.client.id_instance()
    }

    fn masked_url(&self, method: &str) -> String {
        self.client.masked_url(method)
    }

    fn send_contact(&self, body: Vec<u8>) -> Call<'_, Answer> {
        self.client.send_contact(body)
    }

    fn reserve_sends(&self, count: usize) -> Result<usize, Duration> {
        self.client.reserve_sends(count)
    }

    fn state(&self) -> Call<'_, Result<String, CallError>> {
        self.client.state()
    }

    fn delay(&self) -> Call<'_, Result<Duration, CallError>> {
        self.client.delay()
    }

    fn queue_length(&self) -> Call<'_, Result<QueueLength, CallError>> {
        Box::pin(async move {
            if let Some(length) = kept(&self.length) {
                return Ok(length);
            }
            let length = self.client.queue_length().await?;
            keep(&self.length, Some(length));
            Ok(length)
        })
    }

    fn queue(&self) -> Call<'_, Result<Vec<QueuedMessage>, CallError>> {
        Box::pin(async move {
            if let Some(queue) = kept(&self.queue) {
                return Ok(queue);
            }
            let queue = self.client.queue().await?;
            self.queue_calls.fetch_add(1, Ordering::Relaxed);
            keep(&self.queue, Some(queue.clone()));
            Ok(queue)
        })
    }

    fn journal(&self, minutes: u64) -> Call<'_, Result<Vec<SentMessage>, CallError>> {
        Box::pin(async move {
            // Asked further back, it holds what a shorter look would (and more).
            if let Some((reach, journal)) = kept(&self.journal)
                && reach >= minutes
            {
                return Ok(journal);
            }
            let journal = self.client.journal(minutes).await?;
            self.journal_calls.fetch_add(1, Ordering::Relaxed);
            keep(&self.journal, Some((minutes, journal.clone())));
            Ok(journal)
        })
    }

    fn message<'a>(
        &'a self,
        chat_id: &'a str,
        id_message: &'a str,
    ) -> Call<'a, Result<Option<SentMessage>, CallError>> {
        self.client.message(chat_id, id_message)
    }
}
