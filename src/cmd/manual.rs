//! `greenbulk completions SHELL` and `greenbulk man`: the command line's own description,
//! as a shell completion script (clap_complete) and a manual page (clap_mangen), on stdout.
//! How to install them: README, "Install".

use std::io::Write;

use clap::CommandFactory;

use crate::cli::{Cli, Shell};
use crate::{Exit, Failure};

/// Writes the completion script for `shell` to stdout.
pub(crate) fn completions(shell: Shell) -> Result<Exit, Failure> {
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
        Shell::Powershell => clap_complete::Shell::PowerShell,
    };
    let mut script = Vec::new();
    clap_complete::generate(generator, &mut Cli::command(), "greenbulk", &mut script);
    print(&script)
}

/// One page: `greenbulk`, then a section per command (its synopsis, description and
/// options as subsections), so that `man greenbulk` shows everything.
pub(crate) fn man() -> Result<Exit, Failure> {
    let command = Cli::command();
    let mut page = Vec::new();
    let render = |page: &mut Vec<u8>| -> std::io::Result<()> {
        let mut top = Vec::new();
        clap_mangen::Man::new(command.clone()).render(&mut top)?;
        // The commands are sections of this page, not pages of their own.
        let mut top = String::from_utf8_lossy(&top).into_owned();
        for sub in command.get_subcommands() {
            let name = sub.get_name();
            top = top.replace(
                &format!("greenbulk\\-{name}(1)"),
                &format!("greenbulk {name} (below)"),
            );
        }
        page.extend_from_slice(top.as_bytes());
        for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = sub.get_name();
            writeln!(page, ".SH \"GREENBULK {}\"", name.to_uppercase())?;
            let man = clap_mangen::Man::new(sub.clone().bin_name(format!("greenbulk {name}")));
            let mut section = Vec::new();
            man.render_synopsis_section(&mut section)?;
            man.render_description_section(&mut section)?;
            man.render_options_section(&mut section)?;
            let section = String::from_utf8_lossy(&section).replace("\n.SH ", "\n.SS ");
            let section = section
                .strip_prefix(".SH ")
                .map_or(section.clone(), |rest| format!(".SS {rest}"));
            page.extend_from_slice(section.as_bytes());
        }
        Ok(())
    };
    render(&mut page).map_err(|e| Failure::usage(anyhow::Error::new(e)))?;
    print(&page)
}

/// Writes to stdout; a closed pipe (`| head`) is the reader's choice, not an error.
fn print(bytes: &[u8]) -> Result<Exit, Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(Exit::Success),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Exit::Success),
        Err(e) => Err(Failure::usage(
            anyhow::Error::new(e).context("cannot write to stdout"),
        )),
    }
}
