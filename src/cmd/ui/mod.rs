//! `greenbulk ui`: the same run from a local web page, for people who do not live in a
//! terminal (docs/ui.md). A small server on 127.0.0.1 with the CLI's engine, files and
//! guarantees: upload → columns → check (the rows with problems, in place) → plan → send
//! (live progress, Stop) → results and what became of them.

mod guard;
mod handlers;
mod jobs;
mod pages;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::cli::UiArgs;
use crate::client::Credentials;
use crate::delivery::status::StatusTarget;
use crate::lock;
use crate::send::{ApiInstance, Target};
use crate::term::{say, shown_path};
use crate::{Exit, Failure};
use jobs::Job;

/// The largest upload taken: a million-row CRM export is about 100 MB.
const UPLOAD_LIMIT: usize = 256 << 20;

/// The largest form taken (the columns chosen, an instance typed in): its fields are short.
const FORM_LIMIT: usize = 64 << 10;

/// The most connections served at once: a browser opens a few. Later ones wait to be
/// taken, so that no local process can use up the file handles a run needs.
const CONNECTIONS_AT_MOST: usize = 64;

/// How long a connection may take to send a request's headers, or stay idle between
/// requests, before it is closed.
const HEADERS_WITHIN: Duration = Duration::from_secs(10);

/// After Ctrl-C and the runs' ends, how long the connections still open have to finish.
const CLOSING_WITHIN: Duration = Duration::from_secs(3);

/// The files the page offers and takes.
const EXTENSIONS: [&str; 8] = ["csv", "tsv", "txt", "xlsx", "xlsm", "xls", "xlsb", "ods"];

/// The page's server: its secrets, its folder, where it sends, the files it works on.
pub(super) struct App {
    /// In the printed address, then in the cookie: every request needs it.
    secret: String,
    /// In every form: every POST needs it.
    csrf: String,
    port: u16,
    /// The largest upload taken ([`UPLOAD_LIMIT`]; the tests take less).
    upload_limit: usize,
    /// [`CONNECTIONS_AT_MOST`] and [`HEADERS_WITHIN`] (the tests take less).
    connections_at_most: usize,
    headers_within: Duration,
    dir: PathBuf,
    state_dir: PathBuf,
    sandbox: bool,
    /// Where runs send: the sandbox, the flags' or environment's instance, or one typed into
    /// the page (kept here only, never written, never sent back to the page).
    target: Mutex<Option<Target>>,
    /// The instance is typed into the page (none was given at the start): it may be typed
    /// again, a mistyped token corrected.
    typed_in: bool,
    jobs: Mutex<Vec<Arc<Job>>>,
    /// The page the browser was opened on, which holds the address with the secret: removed
    /// once the secret has been used (or when the page stops).
    opened_from: Mutex<Option<PathBuf>>,
    /// A message for the next page (an upload refused, columns to choose).
    notice: Mutex<Option<String>>,
    /// Held while an upload is given its name: two at once never take names that would
    /// share a results file.
    placing: tokio::sync::Mutex<()>,
}

impl App {
    fn new(
        port: u16,
        dir: PathBuf,
        state_dir: PathBuf,
        sandbox: bool,
        target: Option<Target>,
    ) -> App {
        App {
            secret: guard::secret(),
            csrf: guard::secret(),
            port,
            upload_limit: UPLOAD_LIMIT,
            connections_at_most: CONNECTIONS_AT_MOST,
            headers_within: HEADERS_WITHIN,
            dir,
            state_dir,
            sandbox,
            typed_in: target.is_none() && !sandbox,
            target: Mutex::new(target),
            jobs: Mutex::new(Vec::new()),
            opened_from: Mutex::new(None),
            notice: Mutex::new(None),
            placing: tokio::sync::Mutex::new(()),
        }
    }

    /// The address to open: with the secret, once.
    fn address(&self) -> String {
        format!("http://127.0.0.1:{}/?token={}", self.port, self.secret)
    }

    /// Removes the page the browser was opened on, if it is still there.
    fn forget_opened_from(&self) {
        if let Some(path) = lock(&self.opened_from).take() {
            let _ = std::fs::remove_file(path);
        }
    }

    fn job(&self, id: &str) -> Option<Arc<Job>> {
        lock(&self.jobs).iter().find(|j| j.id == id).cloned()
    }

    /// The job of an input file: the same for the same file, so every tab sees one run.
    fn job_for(&self, input: PathBuf) -> Arc<Job> {
        let mut jobs = lock(&self.jobs);
        if let Some(job) = jobs.iter().find(|j| j.input == input) {
            return job.clone();
        }
        let job = Arc::new(Job::new(guard::secret()[..12].to_string(), input));
        jobs.push(job.clone());
        job
    }

    /// The input files in the folder, newest first.
    fn inputs(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut files: Vec<(std::time::SystemTime, String)> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_string();
                // A name the page writes is never an upload's (safe_name renames it).
                let wanted = handlers::safe_name(&name).as_deref() == Some(name.as_str());
                let modified = e.metadata().ok()?.modified().ok()?;
                wanted.then_some((modified, name))
            })
            .collect();
        files.sort_by(|a, b| b.cmp(a));
        files.into_iter().map(|(_, name)| name).collect()
    }

    /// Removes the uploads a stopped page or a crash left half-written (see
    /// `handlers::keep`): those untouched for an hour, so that another page's upload into the
    /// same folder goes on.
    fn sweep_parts(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let stale = entry.metadata().and_then(|m| m.modified()).is_ok_and(|at| {
                at.elapsed()
                    .is_ok_and(|age| age > Duration::from_secs(3600))
            });
            if name.starts_with(handlers::PART_PREFIX) && name.ends_with(".part") && stale {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Another input file in the folder whose results file would be `name`'s (`list.csv`
    /// and `list.CSV`), if there is one: compared without regard to case, as Windows and
    /// macOS name files.
    fn sharing_results(&self, name: &str) -> Option<String> {
        let results = |name: &str| {
            jobs::beside(&self.dir.join(name), jobs::RESULTS, "csv")
                .to_string_lossy()
                .to_lowercase()
        };
        let own = results(name);
        self.inputs()
            .into_iter()
            .find(|other| other != name && results(other) == own)
    }

    fn target(&self) -> Option<Target> {
        lock(&self.target).clone()
    }

    fn status_target(&self) -> Option<StatusTarget> {
        super::common::asked_by_status(self.target()?)
    }

    /// Where runs send, as the page says it (never with the token).
    fn target_name(&self) -> Option<String> {
        Some(match self.target()? {
            Target::Sandbox { .. } => {
                "the built-in GREEN-API sandbox (nothing leaves this machine)".into()
            }
            Target::Api(instances) => match instances.as_slice() {
                [one] => format!(
                    "instance {} at {}",
                    one.credentials.id_instance(),
                    one.credentials.api_url()
                ),
                many => format!("{} instances", many.len()),
            },
            Target::Unset => return None,
        })
    }

    /// The instance typed into the page, from now on (each file's plan is asked again); an
    /// address that is unclear (`localhost` where the standalone sandbox listens) is the
    /// error.
    fn use_credentials(&self, credentials: Credentials) -> Result<(), String> {
        let instance = ApiInstance::single(credentials, &self.state_dir)?;
        *lock(&self.target) = Some(Target::Api(vec![instance]));
        for job in lock(&self.jobs).iter() {
            *lock(&job.checked) = None;
        }
        Ok(())
    }
}

/// The page's routes, every one behind the guard.
fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(handlers::home))
        .route(
            "/upload",
            post(handlers::upload).layer(DefaultBodyLimit::max(app.upload_limit)),
        )
        .route("/open", post(handlers::open))
        .route("/credentials", post(handlers::credentials))
        .route("/jobs/{id}", get(handlers::check))
        .route(
            "/jobs/{id}/columns",
            get(handlers::columns).post(handlers::set_columns),
        )
        .route("/jobs/{id}/report.xlsx", get(handlers::report))
        .route("/jobs/{id}/send", post(handlers::send))
        .route("/jobs/{id}/run", get(handlers::run_page))
        .route("/jobs/{id}/events", get(handlers::events))
        .route("/jobs/{id}/stop", post(handlers::stop))
        .route("/jobs/{id}/status", post(handlers::status))
        .route("/jobs/{id}/results.csv", get(handlers::results_csv))
        .route("/jobs/{id}/results.xlsx", get(handlers::results_xlsx))
        .route("/assets/{name}", get(handlers::asset))
        // A form is a few fields: only an upload is big.
        .layer(DefaultBodyLimit::max(FORM_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            guard::guard,
        ))
        .with_state(app)
}

pub fn run(args: &UiArgs) -> Result<Exit, Failure> {
    let usage = |e: String| Failure::usage(anyhow::Error::msg(e));
    let dir = dunce::canonicalize(&args.dir).map_err(|e| {
        usage(format!(
            "--dir {}: {e}; give a folder that exists",
            shown_path(&args.dir)
        ))
    })?;
    if !dir.is_dir() {
        return Err(usage(format!(
            "--dir {} is not a folder",
            shown_path(&args.dir)
        )));
    }
    let state_dir = super::common::state_dir()?;
    // As `send` takes them (`--instances` too); none yet: the page asks for one.
    let target = match super::common::target(&args.credentials, args.sandbox, true)? {
        Target::Unset => None,
        target => Some(target),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Failure::usage)?;
    runtime.block_on(serve(args, dir, state_dir, target))
}

async fn serve(
    args: &UiArgs,
    dir: PathBuf,
    state_dir: PathBuf,
    target: Option<Target>,
) -> Result<Exit, Failure> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .map_err(|e| {
            Failure::usage(anyhow::anyhow!(
                "cannot listen on 127.0.0.1:{} ({e}); --port 0 picks a free port",
                args.port
            ))
        })?;
    let port = listener.local_addr().map_err(Failure::usage)?.port();
    let app = Arc::new(App::new(port, dir, state_dir, args.sandbox, target));
    app.sweep_parts();
    let address = app.address();
    {
        // The first stdout line is the address; a closed stdout must not stop the page.
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{address}");
        let _ = out.flush();
    }
    say!(
        "greenbulk ui: open {address} (it holds a secret: share it with no one); files are kept \
         in {}; Ctrl-C stops",
        shown_path(&app.dir)
    );
    if !args.no_open && has_display() {
        // Best effort: the address is printed for when no browser opens. The browser is
        // given a page that leads to the address, not the address itself: a command line
        // is seen by every user of the machine, the page only by its owner.
        if let Ok(page) = opening_page(&app.dir, port, &address) {
            *lock(&app.opened_from) = Some(page.clone());
            if opener::open_browser(&page).is_err() {
                app.forget_opened_from();
            }
        }
    }
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
        say!("greenbulk ui: stopping (what is in flight is recorded); Ctrl-C again leaves at once");
        tokio::spawn(async {
            let _ = tokio::signal::ctrl_c().await;
            say!(
                "greenbulk ui: left at once; `greenbulk send … --resume` looks up what was in flight"
            );
            std::process::exit(130);
        });
    };
    serve_until(listener, app.clone(), stop).await;
    app.forget_opened_from();
    say!("greenbulk ui: stopped");
    Ok(Exit::Success)
}

/// The connections that have not sent a request yet, oldest first, each with what closes it.
#[derive(Default)]
struct Silent(Mutex<VecDeque<(u64, tokio::sync::oneshot::Sender<()>)>>);

impl Silent {
    fn add(&self, id: u64) -> tokio::sync::oneshot::Receiver<()> {
        let (close, closed) = tokio::sync::oneshot::channel();
        lock(&self.0).push_back((id, close));
        closed
    }

    /// Connection `id` sent a request (or ended).
    fn spoke(&self, id: u64) {
        lock(&self.0).retain(|(held, _)| *held != id);
    }

    /// Closes the connection silent longest, if there is one.
    fn close_oldest(&self) {
        if let Some((_, close)) = lock(&self.0).pop_front() {
            let _ = close.send(());
        }
    }
}

/// Serves the page until `stop`; then stops the runs still going (as Ctrl-C stops a
/// terminal run: what is in flight is recorded), waits for their ends, and gives the
/// connections still open [`CLOSING_WITHIN`] to finish. No connection holds the page open:
/// one that does not send its request's headers within [`App::headers_within`] is closed,
/// and at most [`App::connections_at_most`] are served at once; when every one is taken, a
/// new connection closes the one that has been silent longest (one that never sent a
/// request), so that a program opening connections and sending nothing cannot keep the
/// browser out.
async fn serve_until(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    stop: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let router = router(app.clone());
    let slots = Arc::new(tokio::sync::Semaphore::new(app.connections_at_most));
    let silent = Arc::new(Silent::default());
    let (closing, _) = tokio::sync::watch::channel(false);
    tokio::pin!(stop);
    for id in 0u64.. {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file handles, say: a moment for some to be given back.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                silent.close_oldest();
                tokio::select! {
                    slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                    () = &mut stop => break,
                }
            }
        };
        let mut evicted = silent.add(id);
        let speaking = silent.clone();
        let inner = TowerToHyperService::new(router.clone());
        let service = hyper::service::service_fn(move |request| {
            speaking.spoke(id);
            hyper::service::Service::call(&inner, request)
        });
        let mut closed = closing.subscribe();
        let within = app.headers_within;
        let gone = silent.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(within)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let closing = tokio::select! {
                _ = connection.as_mut() => false,
                // Silent longest when the slots ran out: it makes room.
                Ok(()) = &mut evicted => false,
                _ = closed.wait_for(|closed| *closed) => true,
            };
            if closing {
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
            }
            gone.spoke(id);
        });
    }
    drop(listener);
    let running: Vec<_> = lock(&app.jobs)
        .iter()
        .filter_map(|job| lock(&job.run).clone())
        .collect();
    for run in &running {
        run.cancel.cancel();
    }
    for run in running {
        let mut ended = run.ended.subscribe();
        let _ = ended.wait_for(|ended| *ended).await;
    }
    let _ = closing.send(true);
    let every = app.connections_at_most as u32;
    let _ = tokio::time::timeout(CLOSING_WITHIN, slots.acquire_many(every)).await;
}

/// Writes the page the browser is opened on, in `dir` (where a sandboxed browser may read
/// it), readable by its owner only: it leads to `address`, secret and all.
fn opening_page(dir: &std::path::Path, port: u16, address: &str) -> std::io::Result<PathBuf> {
    use std::io::Write;
    let path = dir.join(format!("greenbulk-ui-{port}.html"));
    // A file left by a page that did not stop (the name has its port): made anew, never
    // written through (a link there is removed, not followed).
    let _ = std::fs::remove_file(&path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path)?;
    writeln!(
        file,
        "<!doctype html><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" \
         content=\"0;url={address}\"><title>greenbulk</title>\
         <p><a href=\"{address}\">Open greenbulk</a></p>"
    )?;
    Ok(path)
}

/// Whether a browser could be shown: on Linux and the BSDs, an X or Wayland display.
fn has_display() -> bool {
    if cfg!(any(target_os = "windows", target_os = "macos")) {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}
