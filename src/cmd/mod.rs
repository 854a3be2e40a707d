//! One module per subcommand, each with a `run`.

pub(crate) mod sandbox;
pub(crate) mod send;
pub(crate) mod validate;
