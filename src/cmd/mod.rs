//! One module per subcommand, each with a `run`.

mod invocation;
pub(crate) mod sandbox;
pub(crate) mod send;
pub(crate) mod status;
pub(crate) mod validate;
