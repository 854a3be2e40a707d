//! One module per subcommand, each with a `run`.

mod common;
mod instances;
mod invocation;
pub(crate) mod manual;
mod progress;
pub(crate) mod sandbox;
pub(crate) mod send;
pub(crate) mod status;
pub(crate) mod ui;
pub(crate) mod validate;
mod words;
