//! `greenbulk sandbox`: the GREEN-API emulator, standalone, until Ctrl-C.

use std::time::Duration;

use anyhow::Context;

use crate::cli::SandboxArgs;
use crate::sandbox::{Config, Faults, Sandbox};
use crate::term::say;
use crate::{Exit, Failure};

pub fn run(args: &SandboxArgs) -> Result<Exit, Failure> {
    serve(args).map_err(Failure::usage)
}

fn serve(args: &SandboxArgs) -> anyhow::Result<Exit> {
    let f = &args.faults;
    for (name, share) in [
        ("--fail-429", f.fail_429),
        ("--fail-5xx", f.fail_5xx),
        ("--drop-after-accept", f.drop_after_accept),
        ("--no-account", f.no_account),
        ("--empty-200", f.empty_200),
        ("--read-share", f.read_share),
    ] {
        if !(0.0..=1.0).contains(&share) {
            anyhow::bail!("{name} {share}: a share is between 0.0 and 1.0");
        }
    }
    let faults = Faults {
        delay: Duration::from_millis(f.delay_ms),
        queue_ttl: Duration::from_secs(f.queue_ttl_s),
        journal_lag: Duration::from_millis(f.journal_lag_ms),
        no_account: f.no_account,
        network_jitter: Duration::from_millis(f.network_jitter_ms),
        latency: Duration::from_millis(f.latency_ms),
        jitter: Duration::from_millis(f.jitter_ms),
        fail_429: f.fail_429,
        fail_5xx: f.fail_5xx,
        drop_after_accept: f.drop_after_accept,
        quota: f.quota,
        empty_200: f.empty_200,
        hide_queue_head: f.hide_queue_head,
        reads: f.read_share,
        garbage_calls: f.garbage_calls,
        state: f.state.parse().map_err(anyhow::Error::msg)?,
        state_after: f.state_after.as_deref().map(state_after).transpose()?,
        seed: f.seed,
        ..Faults::default()
    };
    let count = usize::from(args.instances);
    let configs: Vec<Config> = (0..count)
        .map(|place| match place {
            0 => Config {
                id_instance: args.id_instance.clone(),
                token: args.api_token_instance.clone(),
                faults: faults.clone(),
            },
            _ => crate::sandbox::instance(place, faults.clone()),
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // The first on --port, the next on the ports after it (all free ones for 0).
        let ports = (0..count)
            .map(|place| match args.port {
                0 => Ok(0),
                first => first.checked_add(place as u16).with_context(|| {
                    format!("--port {first} leaves no room for {count} instances")
                }),
            })
            .collect::<anyhow::Result<Vec<u16>>>()?;
        // Marked before anything says it is ready (the instances file, the first line) —
        // and given ports before they listen: a run started the moment after (`greenbulk
        // sandbox --port 7123 &`, then `send`) that finds one listening finds it marked.
        let mut announced = if args.port == 0 {
            Vec::new()
        } else {
            announce(&ports)
        };
        let mut started = Vec::with_capacity(count);
        for (config, port) in configs.into_iter().zip(ports) {
            let sandbox = Sandbox::start(config, port).await.with_context(|| {
                format!("cannot listen on 127.0.0.1:{port} (in use? --port 0 picks free ports)")
            })?;
            started.push(sandbox);
        }
        if args.port == 0 {
            let ports: Vec<u16> = started.iter().map(Sandbox::port).collect();
            announced = announce(&ports);
        }
        let _announced = announced;
        if let Some(path) = &args.write_instances {
            write_instances(path, &started)?;
        }
        let first = &started[0];
        let url = first.url();
        let id = &first.config().id_instance;
        let token = &first.config().token;
        // A closed stdout (`| head -1` to read the URL) must not stop the emulator.
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "greenbulk sandbox listening on {url}\n  GREEN_API_URL={url}\n  \
             GREEN_API_ID_INSTANCE={id}\n  GREEN_API_TOKEN_INSTANCE={token}\n  try: curl -s \
             {url}/waInstance{id}/getStateInstance/{token}"
        );
        for other in &started[1..] {
            let _ = writeln!(
                out,
                "  and instance {} on {}",
                other.config().id_instance,
                other.url()
            );
        }
        if let Some(path) = &args.write_instances {
            let _ = writeln!(
                out,
                "  instances file: {} (greenbulk send … --instances {})",
                crate::term::shown_path(path),
                crate::term::shown_path(path)
            );
        }
        let _ = writeln!(out, "  Ctrl-C stops it");
        let _ = out.flush();
        drop(out);
        tokio::signal::ctrl_c().await?;
        let accepted: usize = started.iter().map(|s| s.outgoing().len()).sum();
        say!("greenbulk sandbox: stopped after accepting {accepted} messages");
        Ok(Exit::Success)
    })
}

/// Marks the emulators' ports as the sandbox's in the state directory, for as long as they
/// serve: runs that send to them keep their sent-card histories apart from the real
/// instances' (docs/sandbox.md). What cannot be marked is said.
fn announce(ports: &[u16]) -> Vec<std::fs::File> {
    let state = match super::common::state_dir() {
        Ok(state) => state,
        Err(error) => {
            say!(
                "greenbulk sandbox: warning: {}; runs that send to it keep their sent-card \
                 history with the real instances'",
                error.error
            );
            return Vec::new();
        }
    };
    let mut held = Vec::with_capacity(ports.len());
    for port in ports {
        match crate::sandbox::announce(&state, *port) {
            Ok(file) => held.push(file),
            Err(error) => say!(
                "greenbulk sandbox: warning: cannot mark port {} as the sandbox's in {} \
                 ({error}): runs that send to it keep their sent-card history with the real \
                 instances'",
                port,
                crate::term::shown_path(&crate::sandbox::history_dir(&state))
            ),
        }
    }
    held
}

/// `N:STATE`.
fn state_after(text: &str) -> anyhow::Result<(u32, crate::sandbox::InstanceState)> {
    let (count, state) = text.split_once(':').ok_or_else(|| {
        anyhow::anyhow!("--state-after {text}: write N:STATE, e.g. 10:yellowCard")
    })?;
    let count = count
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("--state-after {text}: N is a number of messages"))?;
    Ok((count, state.trim().parse().map_err(anyhow::Error::msg)?))
}

/// Writes an `--instances` file for the running instances, readable by its owner alone (it
/// holds their tokens). An existing file is not written over unless greenbulk wrote it.
fn write_instances(path: &std::path::Path, started: &[Sandbox]) -> anyhow::Result<()> {
    let mut text = String::from("apiUrl,idInstance,apiTokenInstance,name\n");
    for (place, sandbox) in started.iter().enumerate() {
        let config = sandbox.config();
        text.push_str(&format!(
            "{},{},{},sandbox-{}\n",
            sandbox.url(),
            config.id_instance,
            config.token,
            place + 1
        ));
    }
    if let Ok(existing) = std::fs::read_to_string(path)
        && !existing.starts_with("apiUrl,idInstance,apiTokenInstance")
        && !existing.is_empty()
    {
        anyhow::bail!(
            "--write-instances {} exists and is not an instances file greenbulk wrote; choose \
             another path",
            crate::term::shown_path(path)
        );
    }
    let mut file = crate::replace::Replacement::of(path)
        .with_context(|| format!("cannot write {}", crate::term::shown_path(path)))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    use std::io::Write;
    file.write_all(text.as_bytes())?;
    file.place_private()
        .with_context(|| format!("cannot write {}", crate::term::shown_path(path)))?;
    Ok(())
}
