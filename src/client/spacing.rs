//! Keeping to the per-method rate limits of GREEN-API's other methods (`getStateInstance`
//! once a second, `getMessage` ten times …), across back-to-back runs too.
//!
//! A cron job and its `--resume`, or a shell loop over several files, start within the same
//! second and call `getStateInstance` each: the second call would be answered 429. So the
//! time of each method's last call is kept in a small file per instance (in the user's state
//! directory), locked while a run reserves its slot; a run then waits for its slot instead of
//! being refused. Without a usable file (a read-only home), spacing holds within the run only.
//!
//! `sendContact` is paced by each run ([`crate::send::pacer`]); two runs on one instance at
//! once would together go past GREEN-API's 50 a second, and their rows end `failed` after
//! five 429s. So runs also share the instants of their last 50 requests ([`SendWindow`]): a
//! request leaves only when no second (and a margin) holds 50 already, whichever run sent
//! them.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use crate::lock;
use crate::record::ledger::unix_millis;
use crate::send::pacer::MAX_PER_SECOND;

/// GREEN-API's documented rate limit of a method other than the `send*` ones, as the
/// shortest gap between two calls on one instance (the emulator enforces the same table).
pub fn documented_interval(method: &str) -> Option<Duration> {
    match method {
        "getStateInstance"
        | "getSettings"
        | "showMessagesQueue"
        | "getMessagesCount"
        | "lastOutgoingMessages"
        | "clearMessagesQueue" => Some(Duration::from_secs(1)),
        "getMessage" | "checkWhatsapp" => Some(Duration::from_millis(100)),
        _ => None,
    }
}

/// The gap greenbulk keeps: the documented one and a tenth more for the network's jitter,
/// so a server counting arrivals never sees two calls inside its interval.
fn min_interval(method: &str) -> Option<Duration> {
    documented_interval(method).map(|d| d + d / 10)
}

/// When each method was last called (Unix milliseconds), in this process and, through
/// `file`, in others on the same instance.
pub(crate) struct Spacing {
    file: Option<PathBuf>,
    last: Mutex<HashMap<String, u64>>,
    /// When each method's last call really left (Unix milliseconds): a call that woke later
    /// than its slot (a busy machine's timers run late) keeps the next its whole gap.
    left: Mutex<HashMap<String, u64>>,
}

impl Spacing {
    /// `file`: where runs on the same instance share their call times; none for a private
    /// instance (the built-in sandbox).
    pub(crate) fn new(file: Option<PathBuf>) -> Spacing {
        Spacing {
            file,
            last: Mutex::new(HashMap::new()),
            left: Mutex::new(HashMap::new()),
        }
    }

    /// Reserves the next slot for `method` and returns how long to wait for it.
    pub(crate) fn reserve(&self, method: &str) -> Duration {
        match min_interval(method) {
            Some(interval) => self.reserve_after(method, interval),
            None => Duration::ZERO,
        }
    }

    /// Reserves the next slot of `key`, `interval` after the last one any run took (or now),
    /// and returns how long to wait for it: a method's calls, or `--pace`'s cards.
    pub(crate) fn reserve_after(&self, key: &str, interval: Duration) -> Duration {
        let now = unix_millis();
        let mut last = lock(&self.last);
        let shared = self.file.as_ref().and_then(|path| {
            reserve_in_file(path, key, now, interval, last.get(key).copied()).ok()
        });
        let slot = shared.unwrap_or_else(|| {
            last.get(key)
                .map_or(now, |t| (t + interval.as_millis() as u64).max(now))
        });
        last.insert(key.to_string(), slot);
        Duration::from_millis(slot.saturating_sub(now))
    }

    /// Called when a call's slot has come, just before it leaves: zero when it may go (and it
    /// is noted as gone now), else how much longer to wait — when the previous call of the
    /// method left later than its own slot, the gap counts from when it really left.
    pub(crate) fn leave(&self, method: &str) -> Duration {
        self.leave_at(method, unix_millis())
    }

    fn leave_at(&self, method: &str, now: u64) -> Duration {
        let Some(interval) = min_interval(method) else {
            return Duration::ZERO;
        };
        let gap = interval.as_millis() as u64;
        let mut left = lock(&self.left);
        if let Some(&previous) = left.get(method)
            && now < previous + gap
        {
            return Duration::from_millis(previous + gap - now);
        }
        left.insert(method.to_string(), now);
        // Later reservations count from this departure too.
        let mut last = lock(&self.last);
        let slot = last.entry(method.to_string()).or_insert(now);
        *slot = (*slot).max(now);
        Duration::ZERO
    }
}

/// A file runs share, created (with its folder) if need be.
fn open_shared(path: &PathBuf) -> std::io::Result<std::fs::File> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)?;
    }
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
}

/// [`open_shared`], locked until it is closed.
fn open_locked(path: &PathBuf) -> std::io::Result<std::fs::File> {
    let file = open_shared(path)?;
    file.lock()?;
    Ok(file)
}

/// Takes the next slot from the shared file: after the last call any run made, and after
/// this run's own. The file is locked while it is read and rewritten.
fn reserve_in_file(
    path: &PathBuf,
    method: &str,
    now: u64,
    interval: Duration,
    own_last: Option<u64>,
) -> std::io::Result<u64> {
    let mut file = open_locked(path)?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    let mut times: HashMap<String, u64> = serde_json::from_str(&text).unwrap_or_default();
    // A clock set back, or garbage in the file: never wait more than a minute of slots.
    let step = interval.as_millis() as u64;
    let after = |t: Option<u64>| t.map_or(now, |t| (t + step).clamp(now, now + 60 * step));
    let slot = after(times.get(method).copied()).max(after(own_last));
    times.insert(method.to_string(), slot);
    // Old entries of methods no longer called are dropped.
    times.retain(|_, t| *t + 3_600_000 > now);
    let text = serde_json::to_string(&times).map_err(std::io::Error::other)?;
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(text.as_bytes())?;
    Ok(slot)
}

/// The instants (Unix ms) of the last [`MAX_PER_SECOND`] `sendContact` requests on an
/// instance, whichever run sent them, in a file of their own (8 bytes each, oldest first),
/// locked while a run takes its share.
pub(crate) struct SendWindow {
    path: PathBuf,
    /// Opened at the first request and kept: a batch costs a lock, a read and a write.
    file: Mutex<Option<std::fs::File>>,
    /// Since when another run has held the file's lock, while it does, and when this run
    /// last sent one request without it.
    busy_since: Mutex<Option<(std::time::Instant, Option<std::time::Instant>)>>,
    /// [`BUSY_AT_MOST`] (the tests wait less).
    patience: Duration,
}

/// How long a run waits for another that holds the window's lock (a lock is held for
/// microseconds: one held longer is a run stopped with SIGSTOP, or starved by a loaded
/// machine) before it goes on without it — at one request a second, which no number of runs
/// short of fifty can take past GREEN-API's limit.
const BUSY_AT_MOST: Duration = Duration::from_secs(30);

/// The window GREEN-API counts in, and the margin the pacer keeps for the network's jitter.
const SEND_WINDOW: Duration =
    Duration::from_secs(1).saturating_add(crate::send::pacer::JITTER_MARGIN);

impl SendWindow {
    pub(crate) fn new(path: PathBuf) -> SendWindow {
        SendWindow {
            path,
            file: Mutex::new(None),
            busy_since: Mutex::new(None),
            patience: BUSY_AT_MOST,
        }
    }

    /// Takes room for up to `count` requests leaving now: how many may go, or how long until
    /// one may. A file that cannot be used leaves the pacing to the run.
    pub(crate) fn reserve(&self, count: usize) -> Result<usize, Duration> {
        let mut kept = lock(&self.file);
        let file = match kept.take() {
            Some(file) => Ok(file),
            None => open_shared(&self.path),
        };
        let Ok(mut file) = file else {
            return Ok(count);
        };
        // A lock is held for microseconds; one held longer is waited for (nothing goes
        // meanwhile: the other run's requests may be using the second), up to
        // [`BUSY_AT_MOST`], then this run keeps to its own pace. The first look spins a
        // little; while the lock stays held, the caller sleeps between looks instead.
        let mut busy = lock(&self.busy_since);
        let mut locked = file.try_lock();
        for _ in 0..if busy.is_some() { 0 } else { 20 } {
            if !matches!(locked, Err(std::fs::TryLockError::WouldBlock)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
            locked = file.try_lock();
        }
        match locked {
            Ok(()) => *busy = None,
            Err(std::fs::TryLockError::WouldBlock) => {
                *kept = Some(file);
                let (since, alone) = busy.get_or_insert_with(|| (std::time::Instant::now(), None));
                if since.elapsed() < self.patience {
                    return Err(Duration::from_millis(10));
                }
                let second = Duration::from_secs(1);
                return match alone.map(|at| at.elapsed()) {
                    Some(gone) if gone < second => Err(second - gone),
                    _ => {
                        *alone = Some(std::time::Instant::now());
                        Ok(count.min(1))
                    }
                };
            }
            // A file system without locks: the run's own pace.
            Err(std::fs::TryLockError::Error(_)) => {
                *kept = Some(file);
                return Ok(count);
            }
        }
        drop(busy);
        let taken = reserve_in(&mut file, count, unix_millis());
        let taken = file.unlock().and(taken);
        match taken {
            Ok(taken) => {
                *kept = Some(file);
                taken
            }
            // Opened again at the next request.
            Err(_) => Ok(count),
        }
    }
}

/// [`SendWindow::reserve`] on the file at `path`, at `now`.
#[cfg(test)]
fn reserve_sends(
    path: &PathBuf,
    count: usize,
    now: u64,
) -> std::io::Result<Result<usize, Duration>> {
    reserve_in(&mut open_locked(path)?, count, now)
}

/// Takes room in the window `file` holds (locked by the caller).
fn reserve_in(
    file: &mut std::fs::File,
    count: usize,
    now: u64,
) -> std::io::Result<Result<usize, Duration>> {
    const MOST: usize = MAX_PER_SECOND as usize;
    let mut bytes = Vec::with_capacity(MOST * 8);
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut bytes)?;
    let window = SEND_WINDOW.as_millis() as u64;
    // The instants within the window. One past now by more than a window is garbage or a
    // clock set far back, and goes (it would hold every run back until then); one less far
    // ahead (a clock set back a little) counts as now.
    let mut recent: Vec<u64> = bytes
        .chunks_exact(8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .filter(|&at| at <= now.saturating_add(window))
        .map(|at| at.min(now))
        .filter(|&at| at + window > now)
        .collect();
    recent.sort_unstable();
    recent.drain(..recent.len().saturating_sub(MOST));
    let granted = count.min(MOST - recent.len());
    recent.extend(std::iter::repeat_n(now, granted));
    // Written back even when nothing is granted: what went stays gone.
    let bytes: Vec<u8> = recent.iter().flat_map(|at| at.to_le_bytes()).collect();
    file.seek(SeekFrom::Start(0))?;
    file.write_all(&bytes)?;
    file.set_len(bytes.len() as u64)?;
    Ok(match granted {
        0 => Err(Duration::from_millis((recent[0] + window - now).max(1))),
        granted => Ok(granted),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_on_one_instance_share_fifty_requests_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state/sends");
        let now = 1_000_000;
        assert_eq!(reserve_sends(&file, 30, now).unwrap(), Ok(30));
        // Another run, the same second: only what is left of the 50.
        assert_eq!(reserve_sends(&file, 30, now + 100).unwrap(), Ok(20));
        assert_eq!(
            reserve_sends(&file, 5, now + 200).unwrap(),
            Err(Duration::from_millis(815))
        );
        // Once the first 30 are out of the window, there is room again.
        assert_eq!(reserve_sends(&file, 5, now + 1015).unwrap(), Ok(5));
        // Garbage (a torn write, a clock far ahead) never blocks for longer than a window:
        // a whole file of instants far in the future is dropped, and so are they on disk.
        std::fs::write(&file, [0xFF; 400]).unwrap();
        assert_eq!(reserve_sends(&file, 5, now + 2000).unwrap(), Ok(5));
        let ahead: Vec<u8> = (0..50u64)
            .flat_map(|_| (now + 120_000).to_le_bytes())
            .collect();
        std::fs::write(&file, ahead).unwrap();
        assert_eq!(reserve_sends(&file, 5, now + 3000).unwrap(), Ok(5));
        assert_eq!(std::fs::read(&file).unwrap().len(), 5 * 8);
        // A full window: nothing granted, the wait until its oldest leaves.
        assert_eq!(reserve_sends(&file, 45, now + 3000).unwrap(), Ok(45));
        assert_eq!(
            reserve_sends(&file, 1, now + 3100).unwrap(),
            Err(Duration::from_millis(915))
        );
    }

    #[test]
    fn calls_of_one_method_are_spaced_across_instances_sharing_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state/calls.json");
        let first = Spacing::new(Some(file.clone()));
        let second = Spacing::new(Some(file));
        assert_eq!(first.reserve("getStateInstance"), Duration::ZERO);
        let wait = second.reserve("getStateInstance");
        assert!(wait > Duration::from_millis(1000), "{wait:?}");
        assert!(wait <= Duration::from_millis(1100), "{wait:?}");
        // Other methods have their own slots; sendContact is paced elsewhere.
        assert_eq!(second.reserve("getSettings"), Duration::ZERO);
        assert_eq!(second.reserve("sendContact"), Duration::ZERO);
        let third = first.reserve("getMessage");
        assert_eq!(third, Duration::ZERO);
        assert!(first.reserve("getMessage") >= Duration::from_millis(100));
    }

    /// A call that leaves late (its timer woke after its slot) pushes the next one back: the
    /// gap between two calls is counted between their departures, not their slots.
    #[test]
    fn a_call_that_left_late_keeps_the_next_its_whole_gap() {
        let spacing = Spacing::new(None);
        let gap = min_interval("getMessage").unwrap().as_millis() as u64;
        let t = 1_000_000;
        assert_eq!(spacing.leave_at("getMessage", t + 40), Duration::ZERO);
        // The next call's slot (gap after the first's) has come, but not gap after the first
        // really left.
        let early = spacing.leave_at("getMessage", t + gap);
        assert_eq!(early, Duration::from_millis(40));
        assert_eq!(spacing.leave_at("getMessage", t + gap + 40), Duration::ZERO);
        // Methods without a documented limit never wait.
        assert_eq!(spacing.leave_at("sendContact", t), Duration::ZERO);
        assert_eq!(spacing.leave_at("sendContact", t), Duration::ZERO);
    }

    /// Another run holding the window's lock longer than a moment (stopped, or starved by
    /// a loaded machine): this run waits rather than send as if alone (a hostile audit's
    /// finding: two runs at 50 a second then sent 100 in one).
    #[test]
    fn a_run_waits_while_another_holds_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sends-1101000001.bin");
        let window = SendWindow::new(path.clone());
        assert_eq!(window.reserve(10), Ok(10));
        let holder = open_shared(&path).unwrap();
        holder.lock().unwrap();
        assert!(window.reserve(10).is_err(), "waits while the lock is held");
        holder.unlock().unwrap();
        assert_eq!(window.reserve(10), Ok(10));
        // Held for longer than it waits: then one request a second, no more.
        let window = SendWindow {
            patience: Duration::ZERO,
            ..SendWindow::new(path.clone())
        };
        holder.lock().unwrap();
        assert_eq!(window.reserve(10), Ok(1));
        let wait = window.reserve(10).expect_err("a second after the last");
        assert!(wait > Duration::from_millis(900), "{wait:?}");
    }

    #[test]
    fn without_a_file_spacing_holds_within_the_run() {
        let spacing = Spacing::new(None);
        assert_eq!(spacing.reserve("getSettings"), Duration::ZERO);
        assert!(spacing.reserve("getSettings") > Duration::from_secs(1));
    }
}
