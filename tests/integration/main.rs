//! Integration tests, one binary (it links once): the real `greenbulk` binary and the real
//! emulator over loopback HTTP. Grouped by purpose, as ripgrep's `tests/` are.

#![allow(dead_code)]

mod util;

mod country;
mod delivery;
#[cfg(unix)] // the README's commands run through a POSIX shell
mod docs;
mod exports;
mod hardening;
mod hostile_input;

mod input;
mod instances;
mod manual;
mod never_twice;
mod pacing;
mod pinned;
mod resume;
mod safety;
mod sandbox;
mod send;
mod ui;

mod validate;
mod workbooks;
