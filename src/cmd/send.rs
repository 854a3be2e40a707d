//! `greenbulk send`: validate, then send every sendable row once, and write the results.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::sync::mpsc;

use crate::cli::SendArgs;
use crate::client::{Answer, Client, Credentials};
use crate::input::{InputOptions, Table};
use crate::ledger::{self, Fate, History, Ledger};
use crate::report::{self, Findings};
use crate::results::{self, StatusCounts};
use crate::sandbox::{self, Sandbox};
use crate::send::progress::{Display, Progress};
use crate::send::{self, Counters, Job, Settings, Stop};
use crate::validation::{self, Verdict};
use crate::{Exit, RunFault};

/// How many request bodies a dry run shows.
const DRY_RUN_SHOWN: usize = 3;

/// The flags, checked and resolved once.
struct Plan {
    input: InputOptions,
    results: PathBuf,
    ledger: PathBuf,
    credentials: Option<Credentials>,
    sandbox: bool,
    settings: Settings,
    timeout: Duration,
    resume: bool,
    retry_unknown: bool,
    skip_invalid: bool,
    dry_run: bool,
    display: Display,
}

impl Plan {
    fn resolve(args: &SendArgs) -> anyhow::Result<Plan> {
        let input = crate::input_options(&args.input);
        if same_file(&input.path, &args.results) {
            bail!(
                "--results {} is the input file itself; choose another path",
                args.results.display()
            );
        }
        let credentials = if args.sandbox {
            None
        } else {
            resolve_credentials(args, args.dry_run)?
        };
        let forced_tty = std::env::var_os("GREENBULK_FORCE_TTY").is_some_and(|v| v == "1");
        let display = if forced_tty || std::io::stderr().is_terminal() {
            Display::Bar {
                color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            }
        } else {
            Display::Lines {
                every: Duration::from_secs(5),
            }
        };
        Ok(Plan {
            input,
            ledger: ledger::path_for(&args.results),
            results: args.results.clone(),
            credentials,
            sandbox: args.sandbox,
            settings: Settings {
                rate: args.rate,
                concurrency: args.concurrency,
                max_attempts: 5,
                backoff: Duration::from_millis(500),
            },
            timeout: Duration::from_secs(args.timeout),
            resume: args.resume,
            retry_unknown: args.retry_unknown,
            skip_invalid: args.skip_invalid,
            dry_run: args.dry_run,
            display,
        })
    }
}

/// Whether a row with this history goes out in this run: `--resume` re-attempts pending and
/// failed rows, and unknown ones only with `--retry-unknown`.
fn wanted(fate: Option<&Fate>, retry_unknown: bool) -> bool {
    match fate {
        None | Some(Fate::Pending(_)) | Some(Fate::Failed(_)) => true,
        Some(Fate::Unknown(_)) => retry_unknown,
        Some(Fate::Sent(_)) => false,
    }
}

fn resolve_credentials(args: &SendArgs, dry_run: bool) -> anyhow::Result<Option<Credentials>> {
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
    if !missing.is_empty() {
        if dry_run {
            return Ok(None);
        }
        bail!(
            "no GREEN-API credentials: give {} (from the GREEN-API console), or try \
             the built-in emulator with --sandbox",
            missing.join(", ")
        );
    }
    let (url, id, token) = (url.unwrap_or(""), id.unwrap_or(""), token.unwrap_or(""));
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        bail!("--api-url '{url}' is not a URL; it looks like https://7103.api.greenapi.com");
    }
    if !id.bytes().all(|b| b.is_ascii_digit()) {
        bail!("--id-instance '{id}' is not an idInstance; it is all digits, e.g. 7103000001");
    }
    Ok(Some(Credentials {
        api_url: url.to_string(),
        id_instance: id.to_string(),
        token: token.to_string(),
    }))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

pub fn run(args: &SendArgs) -> anyhow::Result<Exit> {
    let plan = Plan::resolve(args)?;
    let results_exist = plan.results.exists();
    let ledger_exists = plan.ledger.exists();
    if !plan.resume && !plan.dry_run && (results_exist || ledger_exists) {
        let which = if results_exist {
            &plan.results
        } else {
            &plan.ledger
        };
        bail!(
            "{} exists from an earlier run and is never overwritten. Add --resume to continue \
             that run (rows already sent are not sent again), or choose another --results path",
            which.display()
        );
    }
    if plan.resume && results_exist && !ledger_exists {
        bail!(
            "cannot resume: the ledger {} that records what was sent is missing (it must stay \
             beside {}). Without it a resumed run could send twice",
            plan.ledger.display(),
            plan.results.display()
        );
    }
    if plan.resume && !results_exist && !ledger_exists {
        eprintln!(
            "greenbulk: {} does not exist yet: starting a new run",
            plan.results.display()
        );
    }

    // One thread is plenty for 50 requests a second and wakes the CPU least; validation and
    // the ledger have threads of their own.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(send(plan, ledger_exists))
}

async fn send(plan: Plan, ledger_existed: bool) -> anyhow::Result<Exit> {
    // Lock first, then read: another run cannot slip in between.
    let ledger = if plan.dry_run {
        None
    } else {
        Some(Ledger::open(&plan.ledger)?)
    };
    let history = Arc::new(ledger::replay(&plan.ledger)?);
    let discard = |ledger: Option<Ledger>| {
        drop(ledger);
        if !ledger_existed && !plan.dry_run {
            let _ = std::fs::remove_file(&plan.ledger);
        }
    };

    let mut table = Table::open(&plan.input)?;
    report::print_source(&table);
    let mut findings = Findings::new(None)?;
    let mut to_send = 0u64;
    let mut shown = Vec::new();
    let tally = validation::walk(&mut table, |row, checked, verdict| {
        if let Verdict::Sendable(key) = verdict
            && wanted(history.get(key).map(|s| &s.fate), plan.retry_unknown)
        {
            to_send += 1;
            if plan.dry_run && shown.len() < DRY_RUN_SHOWN {
                let body = checked
                    .request
                    .as_ref()
                    .map(|r| r.body())
                    .unwrap_or_default();
                shown.push((row.number, String::from_utf8_lossy(&body).into_owned()));
            }
        }
        findings.add(row.number, &checked.findings)
    })?;
    report::print_summary(&tally, &findings.finish()?, None);

    if tally.invalid > 0 && !plan.skip_invalid {
        discard(ledger);
        eprintln!(
            "greenbulk: nothing was sent: {} rows have errors. Fix them (`greenbulk validate \
             --report problems.csv` lists each), or add --skip-invalid to send the other {}",
            tally.invalid, tally.sendable
        );
        return Ok(Exit::Invalid);
    }
    if plan.dry_run {
        discard(ledger);
        print_dry_run(&plan, to_send, &shown)?;
        return Ok(Exit::Success);
    }
    let ledger = ledger.expect("a real run has a ledger");

    // The results file exists from the start, so a crash leaves it (and --resume) in place.
    results::write(&plan.results, &mut Table::open(&plan.input)?, &history)?;

    let _sandbox;
    let credentials = match &plan.credentials {
        Some(credentials) => credentials.clone(),
        None => {
            let config = sandbox::Config {
                faults: sandbox::Faults {
                    latency: Duration::from_millis(20),
                    jitter: Duration::from_millis(30),
                    ..Default::default()
                },
                ..Default::default()
            };
            let started = Sandbox::start(config, 0)
                .await
                .context("cannot start the built-in sandbox")?;
            eprintln!(
                "greenbulk: sending to the built-in GREEN-API sandbox at {} (nothing leaves \
                 this machine)",
                started.url()
            );
            let credentials = Credentials {
                api_url: started.url(),
                id_instance: started.config().id_instance.clone(),
                token: started.config().token.clone(),
            };
            _sandbox = started;
            credentials
        }
    };
    let client = Client::new(&credentials, plan.timeout)?;

    if let Some(exit) = check_instance(&client, &plan).await {
        return finish(&plan, &ledger::replay(&plan.ledger)?, None, Some(exit));
    }

    if to_send == 0 {
        eprintln!("greenbulk: nothing left to send");
    } else {
        eprintln!(
            "greenbulk: sending {to_send} rows at up to {} with up to {} in flight",
            plan.settings.rate, plan.settings.concurrency
        );
    }
    let counters = Arc::new(Counters::default());
    let progress = Progress::start(to_send, counters.clone(), plan.display);
    let (jobs, receiver) = mpsc::channel::<Job>(1024);
    let walker = {
        let input = plan.input.clone();
        let history = history.clone();
        let retry_unknown = plan.retry_unknown;
        tokio::task::spawn_blocking(move || feed_jobs(&input, &history, retry_unknown, jobs))
    };
    let outcome = send::run(
        client,
        ledger,
        receiver,
        plan.settings.clone(),
        counters.clone(),
        interrupted(),
    )
    .await;
    progress.finish();
    walker.await??;
    if let Some(rate) = outcome.achieved_rate {
        eprintln!(
            "greenbulk: requests left at {rate:.2}/s (limit {}, {:.1}% of it); {}",
            plan.settings.rate,
            rate / plan.settings.rate.per_second() * 100.0,
            counters.summary()
        );
    }
    let stop = outcome.stop;

    let exit = match &stop {
        Stop::Finished => None,
        Stop::Interrupted => {
            eprintln!("greenbulk: interrupted: requests in flight were finished and recorded");
            Some(Exit::Incomplete)
        }
        Stop::Fatal(reason) => {
            eprintln!("greenbulk: GREEN-API stopped the run: {reason}");
            Some(Exit::Stopped)
        }
        Stop::Fault(reason) => {
            eprintln!("greenbulk: stopped: {reason}");
            Some(Exit::Incomplete)
        }
    };
    // The ledger now holds this run's outcomes too.
    let history = ledger::replay(&plan.ledger)?;
    finish(&plan, &history, Some(&stop), exit)
}

/// `getStateInstance` before sending: 401/403 stop the run, other states get a warning.
async fn check_instance(client: &Client, plan: &Plan) -> Option<Exit> {
    match client.state().await {
        Ok(state) if state == "authorized" => None,
        Ok(state) => {
            let why = match state.as_str() {
                "notAuthorized" => {
                    "no phone is linked: messages wait in GREEN-API's queue for up \
                                    to 24 hours until you scan the QR code in the console"
                }
                "starting" => "it is starting: sends are retried until it is up",
                "blocked" => "the number is blocked by WhatsApp: messages will not be delivered",
                "sleepMode" => "the phone is offline: messages wait until it is back",
                "yellowCard" => {
                    "WhatsApp suspects spam: slow down (--rate) or messages may be lost"
                }
                _ => "messages may not go out until it is authorized",
            };
            eprintln!("greenbulk: warning: the instance is '{state}': {why}");
            None
        }
        Err(Answer::Fatal { reason }) => {
            eprintln!("greenbulk: GREEN-API refused the credentials: {reason}");
            Some(Exit::Stopped)
        }
        Err(Answer::Retry { reason } | Answer::Unknown { reason })
        | Err(Answer::Rejected { error: reason }) => {
            let url = client.masked_url("getStateInstance");
            let hint = if plan.sandbox {
                ""
            } else {
                " Check --api-url and the network"
            };
            eprintln!("greenbulk: cannot reach GREEN-API at {url}: {reason}.{hint}");
            Some(Exit::Incomplete)
        }
        Err(Answer::Sent { .. }) => None,
    }
}

/// Walks the input again and queues the rows this run sends, in input order.
fn feed_jobs(
    input: &InputOptions,
    history: &History,
    retry_unknown: bool,
    jobs: mpsc::Sender<Job>,
) -> anyhow::Result<()> {
    struct Closed;
    impl From<crate::input::InputError> for Closed {
        fn from(_: crate::input::InputError) -> Closed {
            Closed
        }
    }
    let mut table = Table::open(input)?;
    let _ = validation::walk(&mut table, |row, checked, verdict| {
        let Verdict::Sendable(key) = verdict else {
            return Ok(());
        };
        let Some(request) = &checked.request else {
            return Ok(());
        };
        if wanted(history.get(key).map(|s| &s.fate), retry_unknown) {
            let job = Job {
                row: row.number,
                key,
                body: request.body(),
            };
            // The sender stopped (Ctrl-C, fatal answer): the rest stays pending.
            jobs.blocking_send(job).map_err(|_| Closed)?;
        }
        Ok::<(), Closed>(())
    });
    Ok(())
}

/// Resolves on the first Ctrl-C (or SIGTERM, as from systemd or a container stop); a second
/// one ends the process at once.
async fn interrupted() {
    if stop_signal().await.is_err() {
        return std::future::pending().await;
    }
    eprintln!(
        "\ngreenbulk: stopping: no new requests; waiting for those in flight (Ctrl-C again to \
         quit now; they then show as unknown)"
    );
    tokio::spawn(async {
        if stop_signal().await.is_ok() {
            std::process::exit(Exit::Incomplete as i32);
        }
    });
}

#[cfg(unix)]
async fn stop_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
async fn stop_signal() -> std::io::Result<()> {
    tokio::signal::ctrl_c().await
}

/// Writes the final results, prints the summary and what to do next, and picks the exit code.
fn finish(
    plan: &Plan,
    history: &History,
    stop: Option<&Stop>,
    stopped: Option<Exit>,
) -> anyhow::Result<Exit> {
    let counts = results::write(&plan.results, &mut Table::open(&plan.input)?, history)
        .map_err(|e| RunFault(format!("{e:#}")))?;
    eprintln!("greenbulk: {counts}");
    eprintln!("  results: {}", plan.results.display());
    print_next_steps(&counts, stop);
    Ok(match stopped {
        Some(exit) => exit,
        None if counts.unfinished() > 0 => Exit::Incomplete,
        None => Exit::Success,
    })
}

fn print_next_steps(counts: &StatusCounts, stop: Option<&Stop>) {
    if counts.failed + counts.pending > 0 {
        let when = match stop {
            Some(Stop::Fatal(_)) => "once the problem above is fixed, ",
            _ => "",
        };
        eprintln!(
            "  {when}run the same command with --resume to send the {} failed and pending rows \
             (nothing already sent goes out again)",
            counts.failed + counts.pending
        );
    }
    if counts.unknown > 0 {
        eprintln!(
            "  {} rows are unknown: the request left but no answer came back. Check them in \
             GREEN-API's lastOutgoingMessages (console journal); to send them anyway, use \
             --resume --retry-unknown (they may then arrive twice)",
            counts.unknown
        );
    }
}

fn print_dry_run(
    plan: &Plan,
    to_send: u64,
    shown: &[(crate::input::RowNumber, String)],
) -> anyhow::Result<()> {
    let target = match &plan.credentials {
        Some(credentials) => Client::new(credentials, plan.timeout)?.masked_url("sendContact"),
        None if plan.sandbox => "the built-in sandbox".to_string(),
        None => "(no credentials given yet)".to_string(),
    };
    eprintln!(
        "greenbulk: dry run: {to_send} requests would go to POST {target} at up to {}; nothing \
         was sent or written",
        plan.settings.rate
    );
    for (row, body) in shown {
        eprintln!("  row {row}: {body}");
    }
    Ok(())
}
