//! Stopping a run from outside: Ctrl-C in a terminal, the Stop button on the page. One handle,
//! cloned to whoever may stop the run; the session waits on it. What stopping means is the
//! session's: before the first request, the run ends and leaves nothing behind; while
//! sending, no new request starts and those in flight are finished and recorded.

use std::sync::Arc;

use tokio::sync::watch;

/// A run's stop switch, as its drivers hold it.
#[derive(Debug, Clone)]
pub struct Cancel(Arc<watch::Sender<bool>>);

impl Default for Cancel {
    fn default() -> Cancel {
        Cancel::new()
    }
}

impl Cancel {
    pub fn new() -> Cancel {
        Cancel(Arc::new(watch::channel(false).0))
    }

    /// Asks the run to stop (again: nothing more).
    pub fn cancel(&self) {
        self.0.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the run is asked to stop.
    pub async fn cancelled(&self) {
        let mut receiver = self.0.subscribe();
        let _ = receiver.wait_for(|cancelled| *cancelled).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn whoever_waits_hears_the_cancel_once_it_comes() {
        let cancel = Cancel::new();
        let waiting = tokio::spawn({
            let cancel = cancel.clone();
            async move { cancel.cancelled().await }
        });
        assert!(!cancel.is_cancelled());
        cancel.cancel();
        waiting.await.unwrap();
        // Cancelled before anyone waits: waiting ends at once.
        cancel.cancelled().await;
        assert!(cancel.is_cancelled());
    }
}
