//! `greenbulk completions SHELL` and `greenbulk man`: what the README's install section sets up.

use crate::util::Workdir;

#[cfg(unix)] // the commands run through a POSIX shell
#[test]
fn bash_completes_commands_and_flags_from_the_script() {
    let dir = Workdir::new();
    let run = dir.run(&["completions", "bash"]);
    assert_eq!(run.code, 0, "{run:?}");
    dir.write("greenbulk.bash", &run.stdout);
    // The script loaded as ~/.bashrc would load it, then asked as bash asks on Tab.
    let complete = |words: &str, current: usize| {
        let script = format!(
            "source greenbulk.bash; COMP_WORDS=({words}); COMP_CWORD={current}; \
             _greenbulk greenbulk \"${{COMP_WORDS[$COMP_CWORD]}}\" \"${{COMP_WORDS[$COMP_CWORD-1]}}\"; \
             echo \"${{COMPREPLY[@]}}\""
        );
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(script)
            .current_dir(dir.path(""))
            .output()
            .expect("bash runs");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert_eq!(complete("greenbulk se", 1), "send");
    assert_eq!(complete("greenbulk send --cou", 2), "--country");
    assert_eq!(complete("greenbulk completions p", 2), "powershell");
}

#[test]
fn every_shell_gets_its_own_script() {
    let dir = Workdir::new();
    for (shell, marker) in [
        ("bash", "complete -F _greenbulk"),
        ("zsh", "#compdef greenbulk"),
        ("fish", "complete -c greenbulk"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let run = dir.run(&["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {run:?}");
        assert!(run.stdout.contains(marker), "{shell}: {}", run.stdout);
        assert!(run.stdout.contains("instances"), "{shell}");
    }
    let run = dir.run(&["completions", "tcsh"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("bash, zsh, fish, powershell"),
        "{run:?}"
    );
}

#[test]
fn the_manual_page_has_every_command_and_flag() {
    let dir = Workdir::new();
    let run = dir.run(&["man"]);
    assert_eq!(run.code, 0, "{run:?}");
    let page = &run.stdout;
    assert!(page.contains(".TH greenbulk 1"), "{page}");
    for command in [
        "VALIDATE",
        "SEND",
        "STATUS",
        "SANDBOX",
        "UI",
        "COMPLETIONS",
        "MAN",
    ] {
        assert!(
            page.contains(&format!(".SH \"GREENBULK {command}\"")),
            "{command}"
        );
    }
    for flag in ["country", "resume", "daily\\-cap", "instances", "watch"] {
        assert!(page.contains(&format!("\\-\\-{flag}")), "--{flag}");
    }
    // No page of its own is promised for a command: they are sections here.
    assert!(!page.contains("greenbulk\\-send(1)"), "{page}");
    // A closed pipe (`| head -1`) is the reader's choice: no error, exit 0.
    let mut child = dir
        .command(&["man"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
}

/// Help, the manual and completions written to a full disk are an error (exit 2, said), and
/// to a pipe closed early (`| head -1`) are not (a hostile audit's finding: `--help` to a
/// full disk exited 0 in silence, where `man` said why and exited 2).
#[cfg(target_os = "linux")] // /dev/full
#[test]
fn help_and_the_manual_to_a_full_disk_fail_and_to_a_closed_pipe_do_not() {
    let dir = Workdir::new();
    for args in [
        &["status", "--help"][..],
        &["--version"],
        &["man"],
        &["completions", "bash"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = dir.command(args).stdout(full).output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {said}");
        assert!(said.contains("cannot write to stdout"), "{args:?}: {said}");

        let mut child = dir
            .command(args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        assert_eq!(child.wait().unwrap().code(), Some(0), "{args:?}");
    }
}
