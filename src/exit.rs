//! Exit codes, exactly as SPEC.md lists them.

use std::process::ExitCode;

/// How a run ended, as the shell sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every sendable row is `sent`, or `validate` found no error.
    Success = 0,
    /// The run ended with rows `failed`, `unknown` or `pending`.
    Incomplete = 1,
    /// Usage or input error: bad flags, unreadable or corrupt file, missing column, results file exists.
    Usage = 2,
    /// Validation errors and nothing was sent (`validate`: errors found).
    Invalid = 3,
    /// Stopped by GREEN-API: bad credentials (401/403) or quota (466).
    Stopped = 4,
}

impl Exit {
    /// The exit code for an error that ended the run early. Errors are usage or input errors
    /// (exit 2) unless they say otherwise by being a [`RunFault`].
    pub fn for_error(err: &anyhow::Error) -> Exit {
        match err.downcast_ref::<RunFault>() {
            Some(_) => Exit::Incomplete,
            None => Exit::Usage,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// A fault in the middle of a run (the ledger could not be written, the network vanished):
/// rows may be left `pending`, so it maps to exit 1 rather than to a usage error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RunFault(pub String);
