//! Exit codes, as the README's table lists them, and the error that carries one.

use std::process::ExitCode;

/// How a run ended, as the shell sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every sendable row is `sent` (or: `validate` found no error; `status`: every sent row
    /// is delivered or read).
    Success = 0,
    /// The run ended with rows `failed`, `unknown` or `pending` (`status`: rows not yet
    /// delivered).
    Incomplete = 1,
    /// Usage or input error: bad flags, unreadable or corrupt file, missing column, results
    /// file exists, a batch too big for the queue's 24 hours.
    Usage = 2,
    /// Validation errors and nothing was sent (`validate`: errors found).
    Invalid = 3,
    /// Stopped by GREEN-API: bad credentials (401/403), quota (466), or an instance that
    /// cannot send (yellowCard, blocked, suspended).
    Stopped = 4,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// An error that ended a command early, with the exit code it means. The phase that failed
/// decides the code (its error type says which), never the text of the message.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn new(exit: Exit, error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            exit,
            error: error.into(),
        }
    }

    /// A usage or input error (exit 2).
    pub fn usage(error: impl Into<anyhow::Error>) -> Failure {
        Failure::new(Exit::Usage, error)
    }
}

impl From<crate::input::InputError> for Failure {
    fn from(error: crate::input::InputError) -> Failure {
        Failure::usage(error)
    }
}
