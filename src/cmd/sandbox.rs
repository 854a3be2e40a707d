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
    let config = Config {
        id_instance: args.id_instance.clone(),
        token: args.api_token_instance.clone(),
        faults: Faults {
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
            seed: f.seed,
            ..Faults::default()
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let sandbox = Sandbox::start(config, args.port).await.with_context(|| {
            format!(
                "cannot listen on 127.0.0.1:{} (in use? --port 0 picks a free port)",
                args.port
            )
        })?;
        let url = sandbox.url();
        let id = &sandbox.config().id_instance;
        let token = &sandbox.config().token;
        // A closed stdout (`| head -1` to read the URL) must not stop the emulator.
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "greenbulk sandbox listening on {url}\n  GREEN_API_URL={url}\n  \
             GREEN_API_ID_INSTANCE={id}\n  GREEN_API_TOKEN_INSTANCE={token}\n  try: curl -s \
             {url}/waInstance{id}/getStateInstance/{token}\n  Ctrl-C stops it"
        );
        let _ = out.flush();
        drop(out);
        tokio::signal::ctrl_c().await?;
        let accepted = sandbox.outgoing().len();
        say!("greenbulk sandbox: stopped after accepting {accepted} messages");
        Ok(Exit::Success)
    })
}
