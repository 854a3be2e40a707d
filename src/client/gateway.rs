//! The GREEN-API calls a run makes, as a trait: the HTTP [`Client`](super::Client) answers
//! them for real; a test's fake answers them in-process, on a paused clock.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::{Answer, CallError, Client, QueueLength, QueuedMessage, SentMessage};

/// A call in flight.
pub type Call<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One instance's GREEN-API, as far as a run uses it.
pub trait Gateway: Send + Sync {
    /// The instance it calls (its idInstance).
    fn id_instance(&self) -> &str;
    /// A method's URL with the token masked, for showing.
    fn masked_url(&self, method: &str) -> String;
    /// `sendContact`: one card, and what its answer means.
    fn send_contact(&self, body: Vec<u8>) -> Call<'_, Answer>;
    /// Room for `count` `sendContact` requests leaving now, in what every run on the
    /// instance sent in the last second: how many may go, or how long until one may.
    fn reserve_sends(&self, count: usize) -> Result<usize, Duration> {
        Ok(count)
    }
    /// Takes the next `--pace` slot on the instance, `interval` after the last one any run
    /// on this machine took: how long to wait for it (a pace holds for the number, not only
    /// for each run).
    fn pace_slot(&self, _interval: Duration) -> Duration {
        Duration::ZERO
    }
    /// `getStateInstance`.
    fn state(&self) -> Call<'_, Result<String, CallError>>;
    /// `getSettings`' `delaySendMessagesMilliseconds`.
    fn delay(&self) -> Call<'_, Result<Duration, CallError>>;
    /// `getMessagesCount`, else the queue view's length.
    fn queue_length(&self) -> Call<'_, Result<QueueLength, CallError>>;
    /// `showMessagesQueue`: the first 500 queued messages.
    fn queue(&self) -> Call<'_, Result<Vec<QueuedMessage>, CallError>>;
    /// `lastOutgoingMessages?minutes=N`.
    fn journal(&self, minutes: u64) -> Call<'_, Result<Vec<SentMessage>, CallError>>;
    /// `getMessage`: none when GREEN-API does not have it.
    fn message<'a>(
        &'a self,
        chat_id: &'a str,
        id_message: &'a str,
    ) -> Call<'a, Result<Option<SentMessage>, CallError>>;
}

impl Gateway for Client {
    fn id_instance(&self) -> &str {
        &self.id_instance
    }

    fn masked_url(&self, method: &str) -> String {
        Client::masked_url(self, method)
    }

    fn send_contact(&self, body: Vec<u8>) -> Call<'_, Answer> {
        Box::pin(Client::send_contact(self, body))
    }

    fn reserve_sends(&self, count: usize) -> Result<usize, Duration> {
        Client::reserve_sends(self, count)
    }

    fn pace_slot(&self, interval: Duration) -> Duration {
        Client::pace_slot(self, interval)
    }

    fn state(&self) -> Call<'_, Result<String, CallError>> {
        Box::pin(Client::state(self))
    }

    fn delay(&self) -> Call<'_, Result<Duration, CallError>> {
        Box::pin(Client::delay(self))
    }

    fn queue_length(&self) -> Call<'_, Result<QueueLength, CallError>> {
        Box::pin(Client::queue_length(self))
    }

    fn queue(&self) -> Call<'_, Result<Vec<QueuedMessage>, CallError>> {
        Box::pin(Client::queue(self))
    }

    fn journal(&self, minutes: u64) -> Call<'_, Result<Vec<SentMessage>, CallError>> {
        Box::pin(Client::journal(self, minutes))
    }

    fn message<'a>(
        &'a self,
        chat_id: &'a str,
        id_message: &'a str,
    ) -> Call<'a, Result<Option<SentMessage>, CallError>> {
        Box::pin(Client::message(self, chat_id, id_message))
    }
}
