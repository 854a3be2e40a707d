//! The commands greenbulk suggests, written so that they run exactly as printed (README,
//! "Exit codes"): the user's own command line with a flag added, or a new one, each word
//! quoted as a POSIX shell needs it.
//!
//! The token never appears: `--api-token-instance` and its value are left out of a
//! command line repeated back (the token belongs in `GREEN_API_TOKEN_INSTANCE`).

use std::fmt;

/// A command line, word by word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invocation {
    words: Vec<String>,
}

/// The flag whose value is never repeated back.
const SECRET: &str = "--api-token-instance";

impl Invocation {
    /// The command line this process was started with, as `greenbulk …`.
    pub(crate) fn current() -> Invocation {
        Invocation::from_args(
            std::env::args_os()
                .skip(1)
                .map(|a| a.to_string_lossy().into_owned()),
        )
    }

    fn from_args(args: impl Iterator<Item = String>) -> Invocation {
        let mut words = vec!["greenbulk".to_string()];
        let mut skip_value = false;
        for arg in args {
            if std::mem::take(&mut skip_value) {
                continue;
            }
            if arg == SECRET {
                skip_value = true;
                continue;
            }
            if arg.starts_with(&format!("{SECRET}=")) {
                continue;
            }
            words.push(arg);
        }
        Invocation { words }
    }

    /// A new command: `greenbulk` and these words.
    pub(crate) fn new<'a>(words: impl IntoIterator<Item = &'a str>) -> Invocation {
        let mut all = vec!["greenbulk".to_string()];
        all.extend(words.into_iter().map(str::to_string));
        Invocation { words: all }
    }

    /// The same command with `flag` (once).
    pub(crate) fn with(mut self, flag: &str) -> Invocation {
        if !self.words.iter().any(|w| w == flag) {
            self.words.push(flag.to_string());
        }
        self
    }

    /// The same command with `flag value`, replacing any value it had (`--flag=value` too).
    pub(crate) fn with_value(self, flag: &str, value: &str) -> Invocation {
        let mut words = Vec::with_capacity(self.words.len() + 2);
        let mut iter = self.words.into_iter();
        while let Some(word) = iter.next() {
            if word == flag {
                iter.next();
            } else if !word.starts_with(&format!("{flag}=")) {
                words.push(word);
            }
        }
        words.push(flag.to_string());
        words.push(value.to_string());
        Invocation { words }
    }
}

impl fmt::Display for Invocation {
    /// The words, quoted for a POSIX shell; control characters escaped so that printing the
    /// line cannot drive the terminal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted: Vec<String> = self
            .words
            .iter()
            .map(|word| match shlex::try_quote(word) {
                Ok(quoted) => crate::term::shown(&quoted).into_owned(),
                Err(_) => crate::term::shown(word).into_owned(),
            })
            .collect();
        f.write_str(&quoted.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(args: &[&str]) -> Invocation {
        Invocation::from_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn a_command_is_repeated_back_quoted_and_without_the_token() {
        let line = of(&[
            "send",
            "my contacts.csv",
            "--api-token-instance",
            "5ec7e70ce123",
            "--results",
            "out.csv",
            "--api-token-instance=5ec7e70ce123",
            "--limit",
            "7",
        ]);
        let shown = line
            .clone()
            .with("--resume")
            .with_value("--limit", "24")
            .to_string();
        assert_eq!(
            shown,
            "greenbulk send 'my contacts.csv' --results out.csv --resume --limit 24"
        );
        assert!(!shown.contains("5ec7"));
        assert_eq!(
            line.clone().with("--resume").with("--resume"),
            line.with("--resume")
        );
        assert_eq!(
            Invocation::new(["status", "out.csv", "--sandbox"]).to_string(),
            "greenbulk status out.csv --sandbox"
        );
        assert_eq!(of(&["a\u{1b}b"]).to_string(), "greenbulk 'a\\x1bb'");
    }
}
