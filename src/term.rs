//! What a person sees on stderr: lines that never fail the run, and input text shown with its
//! control characters escaped.
//!
//! A closed stderr (`greenbulk send … 2>&1 | head -5`) is not an error: the run goes on, writes
//! its results and exits with its own code, so every human line goes through [`say!`], which
//! ignores a failed write where `eprintln!` would panic. And text from the input (headers,
//! cells, sheet names) may hold escape sequences (`\x1b]0;…\x07`) that would drive the
//! terminal: [`shown`] escapes them before they are printed.

use std::borrow::Cow;
use std::fmt;
use std::io::Write;

/// Prints one line on stderr; a failed write (a closed pipe) is ignored.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::term::line(format_args!($($arg)*))
    };
}
pub(crate) use say;

#[doc(hidden)]
pub fn line(args: fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{args}");
}

/// Text from the input, safe to print: control characters (C0, DEL, C1) and the Unicode
/// direction overrides become `\x1b`-style escapes; everything else is kept as it is.
pub fn shown(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            let code = u32::from(c);
            if code < 0x100 {
                out.push_str(&format!("\\x{code:02x}"));
            } else {
                out.push_str(&format!("\\u{{{code:x}}}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A path as text, escaped like any input.
pub fn shown_path(path: &std::path::Path) -> String {
    shown(&path.to_string_lossy()).into_owned()
}

/// Whether a character is shown escaped: control characters, and those that change the
/// direction of the text around them.
pub(crate) fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Whether `stream` is a person's terminal — or the tests pretend it is
/// (`GREENBULK_FORCE_TTY=1`, so that the terminal's path is tested too).
pub(crate) fn is_terminal(stream: &impl std::io::IsTerminal) -> bool {
    std::env::var_os("GREENBULK_FORCE_TTY").is_some_and(|v| v == "1") || stream.is_terminal()
}

/// Whether an error is, at its root, a closed pipe: not an error, as ripgrep treats it.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(shown("Иван, O'Neil"), "Иван, O'Neil");
        assert_eq!(shown("\x1b]0;PWNED\x07"), "\\x1b]0;PWNED\\x07");
        assert_eq!(shown("a\u{9b}b\u{202e}c"), "a\\x9bb\\u{202e}c");
        assert_eq!(shown("two\nlines\t"), "two\\x0alines\\x09");
    }
}
