//! One module per subcommand, each with a `run`.

pub mod sandbox;
pub mod send;
pub mod validate;
