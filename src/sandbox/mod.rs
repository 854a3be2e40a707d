//! The built-in GREEN-API emulator: a real HTTP server on loopback that answers like
//! GREEN-API, bad days included (latency, 429s, 5xx, connections dropped after a message was
//! accepted, quota 466, instance states). `greenbulk sandbox` runs it standalone, `send
//! --sandbox` in-process, and the tests use it to see exactly what a run sent.

mod api;
mod card;
mod instance;
mod message;
mod reads;
mod saved;
mod state;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tower::ServiceExt;

pub use message::{Contact, OutgoingMessage, Received};

pub const DEFAULT_ID_INSTANCE: &str = "1101000001";
/// Hexadecimal, like the tokens GREEN-API issues.
pub const DEFAULT_TOKEN: &str = "5a4db0c2d4e6f8a0b1c3d5e7f9a1b3c5d7e9f0a2b4c6d8e0f1";

/// A moment on the emulator's clock: time since the Unix epoch, so that a queue saved to
/// disk reads back right in a later process (an `Instant` means nothing outside its own).
pub(crate) type Moment = Duration;

/// Now, on the emulator's clock.
pub(crate) fn now() -> Moment {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// GREEN-API's `stateInstance` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    Authorized,
    NotAuthorized,
    /// Answers 400 `instance in starting process` to sends for the first seconds, then
    /// becomes authorized, as a rebooting instance does.
    Starting,
    Blocked,
    SleepMode,
    YellowCard,
}

impl InstanceState {
    pub const ALL: [InstanceState; 6] = [
        InstanceState::Authorized,
        InstanceState::NotAuthorized,
        InstanceState::Starting,
        InstanceState::Blocked,
        InstanceState::SleepMode,
        InstanceState::YellowCard,
    ];

    pub fn name(self) -> &'static str {
        match self {
            InstanceState::Authorized => "authorized",
            InstanceState::NotAuthorized => "notAuthorized",
            InstanceState::Starting => "starting",
            InstanceState::Blocked => "blocked",
            InstanceState::SleepMode => "sleepMode",
            InstanceState::YellowCard => "yellowCard",
        }
    }
}

impl std::str::FromStr for InstanceState {
    type Err = String;
    fn from_str(s: &str) -> Result<InstanceState, String> {
        InstanceState::ALL
            .into_iter()
            .find(|state| state.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<&str> = InstanceState::ALL.iter().map(|s| s.name()).collect();
                format!("unknown state '{s}'; states: {}", names.join(", "))
            })
    }
}

/// Faults switched on per server; every random choice comes from `seed`.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Added to every sendContact answer (the other methods answer at once).
    pub latency: Duration,
    pub jitter: Duration,
    /// Up to this much delay on the way in, at random, before a sendContact request counts
    /// as arrived: the network's jitter, as a server that counts arrivals sees it.
    pub network_jitter: Duration,
    /// Share of sendContact requests answered 429.
    pub fail_429: f64,
    /// Share of sendContact requests answered 500 or 502.
    pub fail_5xx: f64,
    /// Share of accepted messages whose connection is dropped without an answer.
    pub drop_after_accept: f64,
    /// 466 once this many distinct chats were written to.
    pub quota: Option<u32>,
    pub state: InstanceState,
    /// How long `Starting` lasts.
    pub starting_for: Duration,
    /// The instance sends one queued message per this long (`delaySendMessagesMilliseconds`).
    pub delay: Duration,
    /// A message still queued this long after it was accepted is dropped without a trace.
    pub queue_ttl: Duration,
    /// A message shows up in `lastOutgoingMessages` this long after it left the queue.
    pub journal_lag: Duration,
    /// Share of (possible) numbers that have no WhatsApp account, chosen by a seeded hash of
    /// the number: messages to them end `noAccount`, and `checkWhatsapp` says false.
    pub no_account: f64,
    /// `showMessagesQueue` leaves out the head of the queue, as a known GREEN-API bug does
    /// (`getMessagesCount` still counts it).
    pub hide_queue_head: bool,
    /// The next this many calls of methods other than sendContact are answered 429, as
    /// GREEN-API does when another program just called them.
    pub busy_calls: u32,
    /// The next this many calls of methods other than sendContact are answered 200 with a
    /// body that is not JSON, as a proxy's maintenance page would be.
    pub garbage_calls: u32,
    /// The next this many `getMessage` calls are answered 200 with `{}`: JSON, but not a
    /// message (a proxy's, or an API's, odd answer).
    pub odd_messages: u32,
    /// The next this many `getMessage` answers about a message that left the queue hold it
    /// without its `statusMessage` (a state the API has no name for yet).
    pub statusless_messages: u32,
    /// `getMessage` answers this long after it is asked (each answer in time, all of them
    /// slow: a server under load).
    pub slow_messages: Duration,
    /// `lastOutgoingMessages` lists each message twice, the second time as `sent` (a
    /// journal that repeats a message, its older state after the newer).
    pub journal_twice: bool,
    /// `getSettings` answers 200 with a page that is not JSON.
    pub garbage_settings: bool,
    /// The next this many `getMessagesCount` calls are answered 200 with a page that is not
    /// JSON (the other methods answer as they should).
    pub garbage_counts: u32,
    /// Share of chats that read their messages (a seeded choice by chat).
    pub reads: f64,
    /// The first this many accepted messages stay `pending` after they leave the queue, as
    /// when WhatsApp never acknowledges them (the phone lost its connection).
    pub stuck_pending: u32,
    /// Share of sendContact requests answered 200 with a body that has no idMessage, and
    /// never queued (a proxy answering garbage): they can be found nowhere.
    pub empty_200: f64,
    /// Once it has accepted this many messages, the instance turns to this state (as a
    /// number WhatsApp flags mid-mailing turns yellowCard).
    pub state_after: Option<(u32, InstanceState)>,
    pub seed: u64,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            network_jitter: Duration::ZERO,
            fail_429: 0.0,
            fail_5xx: 0.0,
            drop_after_accept: 0.0,
            quota: None,
            state: InstanceState::Authorized,
            starting_for: Duration::from_secs(2),
            delay: Duration::from_millis(500),
            queue_ttl: Duration::from_secs(86_400),
            journal_lag: Duration::ZERO,
            no_account: 0.0,
            hide_queue_head: false,
            busy_calls: 0,
            garbage_calls: 0,
            odd_messages: 0,
            statusless_messages: 0,
            slow_messages: Duration::ZERO,
            journal_twice: false,
            garbage_settings: false,
            garbage_counts: 0,
            reads: 0.5,
            stuck_pending: 0,
            empty_200: 0.0,
            state_after: None,
            seed: 1,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub id_instance: String,
    pub token: String,
    pub faults: Faults,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            id_instance: DEFAULT_ID_INSTANCE.into(),
            token: DEFAULT_TOKEN.into(),
            faults: Faults::default(),
        }
    }
}

/// A running emulator. Dropping it stops accepting connections (and saves its messages,
/// when it keeps them between runs).
pub struct Sandbox {
    addr: SocketAddr,
    config: Config,
    shared: Arc<state::Shared>,
    /// Where its messages are kept between runs, if they are.
    saved: Option<PathBuf>,
    _stop: oneshot::Sender<()>,
}

impl Sandbox {
    /// Starts the emulator on 127.0.0.1:`port` (0 = a free port) on the current tokio runtime.
    pub async fn start(config: Config, port: u16) -> std::io::Result<Sandbox> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(state::Shared::new(config.clone(), now()));
        let app = api::router(shared.clone());
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(accept_loop(listener, app, stopped));
        Ok(Sandbox {
            addr,
            config,
            shared,
            saved: None,
            _stop: stop,
        })
    }

    /// Starts the emulator with the messages an earlier run kept in `file` and, when
    /// `write_back` (not for a dry run), keeps them there again, with its own, when it is
    /// dropped: the built-in sandbox of `send --sandbox` and `status --sandbox`.
    pub async fn start_kept(
        config: Config,
        file: PathBuf,
        write_back: bool,
    ) -> std::io::Result<Sandbox> {
        let saved = saved::load(&file)?;
        let mut sandbox = Sandbox::start(config, 0).await?;
        sandbox.shared.restore(saved);
        if write_back {
            // Without it, what it was sent is still saved when it stops (or said not to be).
            sandbox.shared.lock().journal = saved::Journal::open(&file).ok();
            sandbox.saved = Some(file);
        }
        Ok(sandbox)
    }

    /// Saves its messages now (when it keeps them between runs).
    pub fn save(&self) -> std::io::Result<()> {
        match &self.saved {
            Some(file) => saved::save(file, self.shared.to_save()),
            None => Ok(()),
        }
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The base URL (`apiUrl`), e.g. `http://127.0.0.1:7123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Every sendContact request that reached the emulator, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().received.clone()
    }

    /// Every message it accepted (answered 200, or accepted and then dropped).
    pub fn outgoing(&self) -> Vec<OutgoingMessage> {
        self.shared.lock().outgoing.clone()
    }

    /// Calls that came faster than their method's rate limit allows (`method at 1.234s`):
    /// GREEN-API would have answered them 429.
    pub fn over_limit_calls(&self) -> Vec<String> {
        self.shared.lock().over_limit.clone()
    }

    /// A message's status now: `queued`, `expired`, or what GREEN-API would report (`sent`,
    /// `delivered`, `read`, `noAccount`); none for an id the emulator never gave.
    pub fn status_of(&self, id_message: &str) -> Option<String> {
        let (state, now) = self.shared.now();
        let index = state
            .outgoing
            .iter()
            .position(|m| m.id_message == id_message)?;
        Some(state.status_of(index, now).to_string())
    }

    /// Whether `checkWhatsapp` says this chat (`digits@c.us`) has WhatsApp.
    pub fn has_whatsapp(&self, chat: &str) -> bool {
        self.shared.lock().has_whatsapp(chat)
    }

    /// How many messages are still in the instance's queue.
    pub fn queue_len(&self) -> usize {
        self.shared.now().0.instance.queue_len()
    }

    /// Changes the faults from now on (the random sequence goes on from where it was).
    pub fn set_faults(&self, faults: Faults) {
        self.shared.lock().set_faults(faults);
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // The run's own results and ledger hold the truth about what it sent; what the
        // sandbox keeps is for `status --sandbox`. (Each message was added as it came: a
        // save that fails leaves those, unless adding them failed too.)
        if let (Some(file), Err(error)) = (&self.saved, self.save()) {
            eprintln!(
                "greenbulk: warning: the sandbox could not keep what it was sent in {} \
                 ({error}): `status --sandbox` may not find those cards",
                crate::term::shown_path(file)
            );
        }
    }
}

/// The idInstance of an emulated instance by its place (0: [`DEFAULT_ID_INSTANCE`], then
/// 1101000002, 1101000003 …).
pub fn instance_id(place: usize) -> String {
    let first: u64 = DEFAULT_ID_INSTANCE.parse().expect("digits");
    (first + place as u64).to_string()
}

/// The token of an emulated instance by its place (0: [`DEFAULT_TOKEN`]); hexadecimal, each
/// its own.
pub fn instance_token(place: usize) -> String {
    if place == 0 {
        return DEFAULT_TOKEN.to_string();
    }
    let tail = format!("{:08x}", place);
    format!(
        "{}{tail}",
        &DEFAULT_TOKEN[..DEFAULT_TOKEN.len() - tail.len()]
    )
}

/// An emulated instance by its place, with these faults (each its own random sequence).
pub fn instance(place: usize, faults: Faults) -> Config {
    Config {
        id_instance: instance_id(place),
        token: instance_token(place),
        faults: Faults {
            seed: faults.seed.wrapping_add(place as u64),
            ..faults
        },
    }
}

/// Instance `place` of the built-in sandbox of `send --sandbox` and `status --sandbox`:
/// GREEN-API on a good day, answers taking 20 to 50 ms.
pub fn built_in(place: usize) -> Config {
    instance(
        place,
        Faults {
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(30),
            ..Faults::default()
        },
    )
}

/// Where the sent-card histories of runs on the built-in sandbox are kept: apart from the
/// real instances' (docs/sandbox.md).
pub fn history_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("sandbox")
}

/// The file a standalone emulator (`greenbulk sandbox`) holds locked while it listens on
/// `port` of loopback: a run that sends to it keeps its sent-card histories with the built-in
/// sandbox's, apart from the real instances' (docs/sandbox.md) — a card tried out there is
/// still sent for real, once.
fn serving_file(state_dir: &Path, port: u16) -> PathBuf {
    history_dir(state_dir).join(format!("serving-{port}.lock"))
}

/// Marks `port` as served by this process's emulator for as long as the file returned is
/// open: the lock, not the file, says so, so a sandbox killed with -9 leaves nothing that
/// counts.
pub(crate) fn announce(state_dir: &Path, port: u16) -> std::io::Result<std::fs::File> {
    std::fs::create_dir_all(history_dir(state_dir))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(serving_file(state_dir, port))?;
    // Waits out a run that looks at it this moment ([`serves`]): no other sandbox can hold
    // it, the port being this one's.
    file.lock()?;
    Ok(file)
}

/// How long a run waits for something to listen at a loopback address nothing listens at
/// yet (see [`wait_for_start`]).
const SANDBOX_START_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether a standalone emulator holds the mark of `port` (see [`announce`]).
fn marked(state_dir: &Path, port: u16) -> bool {
    std::fs::File::open(serving_file(state_dir, port)).is_ok_and(|file| {
        matches!(
            file.try_lock_shared(),
            Err(std::fs::TryLockError::WouldBlock)
        )
    })
}

/// Waits, a few seconds at most, while nothing listens at `api_url` on 127.0.0.1 and no
/// sandbox marks its port: a sandbox started the moment before (`greenbulk sandbox --port N
/// &`, then `send`) may not have run yet, and it marks a given port before it listens — so
/// that [`serves`], asked after, can tell. Blocking: for the command line, before a run.
pub(crate) fn wait_for_start(state_dir: &Path, api_url: &str) {
    let Ok(url) = reqwest::Url::parse(api_url) else {
        return;
    };
    let loopback = url
        .host_str()
        .and_then(|host| host.parse::<std::net::IpAddr>().ok())
        .is_some_and(|ip| ip == std::net::Ipv4Addr::LOCALHOST);
    let Some(port) = url.port_or_known_default().filter(|_| loopback) else {
        return;
    };
    let address = std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port));
    let listens = || {
        std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_millis(200))
            .is_ok()
    };
    let until = std::time::Instant::now() + SANDBOX_START_WAIT;
    while !marked(state_dir, port) && !listens() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Whether `api_url` reaches a standalone emulator serving on this machine now, with this
/// state directory (see [`announce`]). It listens on 127.0.0.1 alone, so only that address
/// is taken for it: another program may hold the same port on `::1` or another loopback
/// address (a tunnel to the real GREEN-API), and `localhost` may lead there — `localhost` on
/// a port the emulator serves is refused as unclear, naming the address that is.
pub(crate) fn serves(state_dir: &Path, api_url: &str) -> Result<bool, String> {
    let Ok(url) = reqwest::Url::parse(api_url) else {
        return Ok(false);
    };
    let host = url.host_str().unwrap_or_default();
    let (ours, local) = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => (ip == std::net::Ipv4Addr::LOCALHOST, false),
        Err(_) => (false, host.eq_ignore_ascii_case("localhost")),
    };
    let Some(port) = url.port_or_known_default().filter(|_| ours || local) else {
        return Ok(false);
    };
    let serving = marked(state_dir, port);
    if serving && local {
        return Err(format!(
            "{api_url}: the standalone sandbox (greenbulk sandbox) listens on \
             http://127.0.0.1:{port}, and localhost may lead to another program on that port \
             (over IPv6): give http://127.0.0.1:{port} for the sandbox, whose cards are kept \
             apart from real instances', or the address of the real instance"
        ));
    }
    Ok(serving)
}

/// The file in which the built-in sandbox keeps an instance's messages between runs.
pub fn kept_file(state_dir: &Path, id_instance: &str) -> PathBuf {
    state_dir.join(format!("sandbox-{id_instance}.jsonl"))
}

/// The place of a built-in sandbox instance, from its idInstance (none for another).
pub fn built_in_place(id_instance: &str) -> Option<usize> {
    let first: u64 = DEFAULT_ID_INSTANCE.parse().expect("digits");
    let id: u64 = id_instance.parse().ok()?;
    let place = id.checked_sub(first)?;
    (place < MOST_INSTANCES as u64).then_some(place as usize)
}

/// The most instances the emulator serves at once.
pub const MOST_INSTANCES: usize = 100;

/// Runs the emulator on its own thread and runtime: for synchronous callers (tests).
pub struct SandboxThread {
    sandbox: Option<Sandbox>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl SandboxThread {
    pub fn start(config: Config) -> std::io::Result<SandboxThread> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let sandbox = runtime.block_on(Sandbox::start(config, 0))?;
        Ok(SandboxThread {
            sandbox: Some(sandbox),
            runtime: Some(runtime),
        })
    }
}

impl std::ops::Deref for SandboxThread {
    type Target = Sandbox;
    fn deref(&self) -> &Sandbox {
        self.sandbox.as_ref().expect("running")
    }
}

impl Drop for SandboxThread {
    fn drop(&mut self) {
        self.sandbox.take();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Lets a handler close its connection without answering.
#[derive(Clone)]
pub(crate) struct Hangup(Arc<Notify>);

async fn accept_loop(listener: TcpListener, app: axum::Router, mut stopped: oneshot::Receiver<()>) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = &mut stopped => return,
        };
        let app = app.clone();
        tokio::spawn(async move {
            let hangup = Hangup(Arc::new(Notify::new()));
            let notified = hangup.0.clone();
            let service = app.map_request(move |mut request: axum::extract::Request<_>| {
                request.extensions_mut().insert(hangup.clone());
                request
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            // Dropping the connection future closes the socket mid-request.
            tokio::select! {
                _ = connection => {}
                _ = notified.notified() => {}
            }
        });
    }
}

/// An error as GREEN-API answers it: the status, and `{"statusCode": …, "message": …}`.
pub(super) fn answer(status: u16, message: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        Json(json!({ "statusCode": status, "message": message })),
    )
        .into_response()
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
