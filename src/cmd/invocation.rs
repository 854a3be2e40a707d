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
    /// The token was given as a flag, and left out.
    dropped_token: bool,
}

/// The flag whose value is never repeated back.
const SECRET: &str = "--api-token-instance";

/// The flags that say how to read the input, carried into a suggested command on the same
/// file.
pub(crate) const INPUT_FLAGS: [&str; 5] = ["--sheet", "--map", "--set", "--encoding", "--country"];

/// The flags that say which instance, carried into a suggested command for the same one.
pub(crate) const INSTANCE_FLAGS: [&str; 3] = ["--api-url", "--id-instance", "--instances"];

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
        let mut dropped_token = false;
        for arg in args {
            if std::mem::take(&mut skip_value) {
                continue;
            }
            if arg == SECRET {
                (skip_value, dropped_token) = (true, true);
                continue;
            }
            if arg.starts_with(&format!("{SECRET}=")) {
                dropped_token = true;
                continue;
            }
            words.push(arg);
        }
        Invocation {
            words,
            dropped_token,
        }
    }

    /// A new command: `greenbulk` and these words.
    pub(crate) fn new<'a>(words: impl IntoIterator<Item = &'a str>) -> Invocation {
        let mut all = vec!["greenbulk".to_string()];
        all.extend(words.into_iter().map(str::to_string));
        Invocation {
            words: all,
            dropped_token: false,
        }
    }

    /// Whether the token was given as a flag: a suggested command then needs it in
    /// `GREEN_API_TOKEN_INSTANCE`.
    pub(crate) fn dropped_token(&self) -> bool {
        self.dropped_token
    }

    /// The words of this command line that give one of `flags`, each with its value
    /// (`--flag value` or `--flag=value`), in order; nothing after `--`.
    pub(crate) fn given(&self, flags: &[&str]) -> Vec<String> {
        let mut picked = Vec::new();
        let mut words = self.words.iter().skip(1);
        while let Some(word) = words.next() {
            if word == "--" {
                break;
            }
            if flags.contains(&word.as_str()) {
                picked.push(word.clone());
                picked.extend(words.next().cloned());
            } else if flags
                .iter()
                .any(|flag| word.strip_prefix(flag).is_some_and(|v| v.starts_with('=')))
            {
                picked.push(word.clone());
            }
        }
        picked
    }

    /// The same command with these words added (before a `--`, if there is one).
    pub(crate) fn and(mut self, words: impl IntoIterator<Item = String>) -> Invocation {
        let at = self.end_of_flags();
        self.words.splice(at..at, words);
        self
    }

    /// Where flags can still be added: before `--`, or at the end.
    fn end_of_flags(&self) -> usize {
        self.words
            .iter()
            .position(|w| w == "--")
            .unwrap_or(self.words.len())
    }

    /// The same command with `flag` (once).
    pub(crate) fn with(self, flag: &str) -> Invocation {
        if self.words.iter().any(|w| w == flag) {
            return self;
        }
        self.and([flag.to_string()])
    }

    /// The same command without `flag` (a flag that takes no value).
    pub(crate) fn without(mut self, flag: &str) -> Invocation {
        let end = self.end_of_flags();
        let mut at = 0;
        self.words.retain(|word| {
            at += 1;
            at > end || word != flag
        });
        self
    }

    /// The same command with `flag value`, replacing any value it had (`--flag=value` too).
    pub(crate) fn with_value(self, flag: &str, value: &str) -> Invocation {
        let dropped_token = self.dropped_token;
        let mut words = Vec::with_capacity(self.words.len() + 2);
        let mut iter = self.words.into_iter();
        while let Some(word) = iter.next() {
            if word == "--" {
                words.push(word);
                words.extend(iter.by_ref());
            } else if word == flag {
                iter.next();
            } else if !word.starts_with(&format!("{flag}=")) {
                words.push(word);
            }
        }
        Invocation {
            words,
            dropped_token,
        }
        .and([flag.to_string(), value.to_string()])
    }
}

impl fmt::Display for Invocation {
    /// The words, quoted for a POSIX shell ([`shell_word`]): the line runs as it reads, and
    /// printing it cannot drive the terminal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted: Vec<String> = self
            .words
            .iter()
            // No word of a command line holds a NUL; were one to, it is shown escaped.
            .map(|word| shell_word(word).unwrap_or_else(|| crate::term::shown(word).into_owned()))
            .collect();
        f.write_str(&quoted.join(" "))
    }
}

/// A word for a shell command line: as `shlex` quotes it, or, when it holds control or
/// direction characters, as `$'…'` with those escaped (bash, zsh) — so that the line runs as
/// it reads and cannot drive a terminal. None for a word with a NUL: no command can take it.
pub(crate) fn shell_word(word: &str) -> Option<String> {
    if word.contains('\0') {
        return None;
    }
    if !word.chars().any(crate::term::needs_escape) {
        return shlex::try_quote(word).ok().map(|q| q.into_owned());
    }
    let mut out = String::from("$'");
    for c in word.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if crate::term::needs_escape(c) && (c as u32) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if crate::term::needs_escape(c) => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    Some(out)
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
        // Escaped as the shell reads it back: the line runs as shown.
        assert_eq!(of(&["a\u{1b}b"]).to_string(), "greenbulk $'a\\x1bb'");
    }

    #[test]
    fn flags_go_before_a_double_dash_and_are_picked_out_for_other_commands() {
        let line = of(&[
            "send",
            "--map",
            "chatId=Mobile",
            "--sheet=Лист 2",
            "--api-token-instance",
            "secret",
            "--results",
            "r.csv",
            "--",
            "--odd name.csv",
        ]);
        assert!(line.dropped_token());
        assert_eq!(
            line.clone()
                .with("--resume")
                .with_value("--limit", "5")
                .to_string(),
            "greenbulk send --map 'chatId=Mobile' '--sheet=Лист 2' --results r.csv --resume \
             --limit 5 -- '--odd name.csv'"
        );
        assert_eq!(
            line.given(&INPUT_FLAGS),
            ["--map", "chatId=Mobile", "--sheet=Лист 2"]
        );
        let validate = Invocation::new(["validate", "x.csv"]).and(line.given(&INPUT_FLAGS));
        assert_eq!(
            validate.to_string(),
            "greenbulk validate x.csv --map 'chatId=Mobile' '--sheet=Лист 2'"
        );
    }
}
