//! What the commands share: credentials gathered from flags or the environment, the state
//! directory, the queue's lifetime, and the words for lookups that `send` and `status` both
//! report.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Failure;
use crate::cli::CredentialArgs;
use crate::client::Credentials;
use crate::delivery::lookup::Resolved;
use crate::delivery::status::{StatusInstance, StatusTarget};
use crate::send::{ApiInstance, Target};
use crate::term::say;

/// How long GREEN-API keeps a queued message: 24 hours. `GREENBULK_QUEUE_TTL_SECONDS`
/// shortens it, for tests against an emulator started with a shorter `--queue-ttl-s`.
pub(crate) fn queue_ttl() -> Duration {
    std::env::var("GREENBULK_QUEUE_TTL_SECONDS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map_or(crate::delivery::QUEUE_TTL, Duration::from_secs)
}

/// The credentials from flags or the environment; none when none are given and they are
/// `optional` (a dry run).
pub(crate) fn credentials(
    args: &CredentialArgs,
    optional: bool,
) -> Result<Option<Credentials>, String> {
    fn given(value: &Option<String>) -> Option<&str> {
        value.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }
    let (url, id, token) = (
        given(&args.api_url),
        given(&args.id_instance),
        given(&args.api_token_instance),
    );
    let missing: Vec<&str> = [
        (url.is_none(), "--api-url (GREEN_API_URL)"),
        (id.is_none(), "--id-instance (GREEN_API_ID_INSTANCE)"),
        (
            token.is_none(),
            "--api-token-instance (GREEN_API_TOKEN_INSTANCE)",
        ),
    ]
    .into_iter()
    .filter_map(|(missing, name)| missing.then_some(name))
    .collect();
    match (url, id, token) {
        (Some(url), Some(id), Some(token)) => Credentials::new(url, id, token).map(Some),
        _ if optional => Ok(None),
        _ => Err(format!(
            "no GREEN-API credentials: give {} (from the GREEN-API console), or try the \
             built-in emulator with --sandbox",
            missing.join(", ")
        )),
    }
}

/// Where `send` sends: the built-in sandbox (with `--instances N`, that many instances),
/// the instances of an `--instances` file, or the one instance of the flags or the
/// environment (none for a dry run without them).
pub(crate) fn target(
    args: &CredentialArgs,
    sandbox: bool,
    dry_run: bool,
) -> Result<Target, Failure> {
    let usage = |e: String| Failure::usage(anyhow::Error::msg(e));
    if sandbox {
        return Ok(Target::Sandbox {
            instances: sandbox_instances(args)?,
        });
    }
    let state = state_dir()?;
    if let Some(file) = &args.instances {
        // Flags, not the environment: a profile that exports one instance's credentials
        // must not stand in the way of a run over several.
        let line = super::invocation::Invocation::current();
        if !line.given(&["--api-url", "--id-instance"]).is_empty() || line.dropped_token() {
            return Err(usage(
                "--instances gives each instance's apiUrl, idInstance and token: leave out \
                 --api-url, --id-instance and --api-token-instance (GREEN_API_URL and the \
                 other variables are ignored with --instances)"
                    .into(),
            ));
        }
        let instances = super::instances::read(Path::new(file), &state).map_err(usage)?;
        if let Some(emulated) = instances.iter().find(|i| i.emulated)
            && let Some(real) = instances.iter().find(|i| !i.emulated)
        {
            return Err(usage(format!(
                "{}: instance {} is a standalone greenbulk sandbox and {} is not: what a \
                 sandbox is sent is remembered apart from what real instances are sent, so \
                 one run does not send to both; give each its own instances file",
                crate::term::shown(file),
                emulated.credentials.id_instance(),
                real.credentials.id_instance()
            )));
        }
        return Ok(Target::Api(instances));
    }
    Ok(match credentials(args, dry_run).map_err(usage)? {
        Some(credentials) => {
            crate::sandbox::wait_for_start(&state, credentials.api_url());
            Target::Api(vec![
                ApiInstance::single(credentials, &state).map_err(usage)?,
            ])
        }
        None => Target::Unset,
    })
}

/// Where `status` asks: the built-in sandbox, the instances of an `--instances` file, or the
/// one instance of the flags or the environment.
pub(crate) fn status_target(args: &CredentialArgs, sandbox: bool) -> Result<StatusTarget, Failure> {
    if sandbox {
        return Ok(StatusTarget::Sandbox);
    }
    let target = target(args, false, false)?;
    Ok(asked_by_status(target).expect("credentials are required here"))
}

/// Where `status` asks about what a send to `target` sent (none: no target).
pub(crate) fn asked_by_status(target: Target) -> Option<StatusTarget> {
    Some(match target {
        Target::Sandbox { .. } => StatusTarget::Sandbox,
        Target::Api(instances) => StatusTarget::Api(
            instances
                .into_iter()
                .map(|i| StatusInstance {
                    credentials: i.credentials,
                    shared_calls: i.shared_calls,
                    emulated: i.emulated,
                })
                .collect(),
        ),
        Target::Unset => return None,
    })
}

/// How many instances `--sandbox --instances N` runs (1 without it).
fn sandbox_instances(args: &CredentialArgs) -> Result<usize, Failure> {
    let most = crate::sandbox::MOST_INSTANCES;
    let Some(given) = &args.instances else {
        return Ok(1);
    };
    given
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=most).contains(n))
        .ok_or_else(|| {
            Failure::usage(anyhow::anyhow!(
                "--instances with --sandbox is how many instances the built-in emulator runs: \
                 a number from 1 to {most}, not '{}'",
                crate::term::shown(given)
            ))
        })
}

/// Where runs keep what they share between them: `$XDG_STATE_HOME/greenbulk`, else
/// `~/.local/state/greenbulk` (`%LOCALAPPDATA%\greenbulk` on Windows). A relative path is
/// passed over, as the XDG specification says: it would be another folder in every working
/// directory, each with its own history, and the cards one remembers sent again from
/// another. Without any, the run stops: a temporary folder is emptied at a reboot.
pub(crate) fn state_dir() -> Result<PathBuf, Failure> {
    let absolute = |name| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
    };
    let base = absolute("XDG_STATE_HOME").or_else(|| {
        if cfg!(windows) {
            absolute("LOCALAPPDATA")
        } else {
            absolute("HOME").map(|home| home.join(".local/state"))
        }
    });
    let home = if cfg!(windows) {
        "LOCALAPPDATA"
    } else {
        "HOME"
    };
    base.map(|base| base.join("greenbulk")).ok_or_else(|| {
        Failure::usage(anyhow::anyhow!(
            "greenbulk keeps the cards this machine sent in a state folder, and neither \
             XDG_STATE_HOME nor {home} names one (as an absolute path): set {home} (a cron \
             job or a service may run without it), or XDG_STATE_HOME. A temporary folder \
             would be emptied at the next reboot, and the cards it remembered sent again"
        ))
    })
}

/// What looking up the unknown rows found (`send --resume` and `status` say the same).
/// What looking up the unknown rows found, a line each.
pub(crate) fn looked_up_lines(resolved: &Resolved) -> Vec<String> {
    let mut lines = Vec::new();
    let Resolved {
        found,
        twice,
        not_found,
        unsure,
        too_recent,
        not_looked_up,
        ..
    } = resolved;
    lines.push(format!(
        "greenbulk: looked up the rows whose answer was lost: {found} found in GREEN-API's \
         queue or journal (now sent), {not_found} not found"
    ));
    if !twice.is_empty() {
        let rows: Vec<String> = twice.iter().map(ToString::to_string).collect();
        lines.push(format!(
            "  warning: rows {} went out twice (two messages match each)",
            rows.join(", ")
        ));
    }
    if *unsure > 0 {
        lines.push(format!(
            "  {unsure} of those not found cannot be ruled out (the queue or the journal was \
             cut short, or a message there could be theirs): they stay unknown and are never \
             sent again by greenbulk; check them in the console"
        ));
    }
    if *too_recent > 0 {
        lines.push(format!(
            "  {too_recent} of those not found were attempted less than 5 minutes ago: the \
             journal may not show them yet, so they are not sent again in this run"
        ));
    }
    if *not_looked_up > 0 {
        lines.push(format!(
            "  {not_looked_up} unknown rows were recorded by an earlier greenbulk without the \
             chat and phone to look for: --retry-unknown sends them again without a look (they \
             may then arrive twice)"
        ));
    }
    lines
}

/// [`looked_up_lines`], printed.
pub(crate) fn print_looked_up(resolved: &Resolved) {
    for line in looked_up_lines(resolved) {
        say!("{line}");
    }
}
