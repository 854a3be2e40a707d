#!/usr/bin/env python3
"""greenbulk's benchmark: greenbulk against what a user would run instead, in one run.

    python3 benches/bench.py            # everything (about 55 minutes on 2 cores, 35 of
                                        # them sending 100,000 cards for the status part)
    python3 benches/bench.py --quick    # smaller inputs, one repetition
    python3 benches/bench.py --only csv --only small   # parts: csv small xlsx scaling passes send
                                                       # status history instances

Inputs are generated deterministically (seeded) into benches/data/ (not committed). Each
comparison runs greenbulk and its baseline alternately, REPEAT times, and reports medians, the
ratio baseline/greenbulk, wall time and peak RSS (from wait4's rusage). Needs Python 3 and
openpyxl (installed with pip if missing) and a release build (built here).
"""
import argparse
import os
import random
import re
import resource
import signal
import statistics
import subprocess
import tempfile
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benches" / "data"
BINARY = ROOT / "target" / "release" / "greenbulk"
BASELINE = ROOT / "benches" / "baseline_validate.py"
PLAIN = ROOT / "benches" / "baseline_plain.py"
SANDBOX_ID, SANDBOX_TOKEN = "1101000001", "5a4db0c2d4e6f8a0b1c3d5e7f9a1b3c5d7e9f0a2b4c6d8e0f1"
# The SHA-256 of validate's report on the generated files, as the build before the speed work
# wrote it: a faster validate must find exactly the same.
PINNED_REPORTS = {
    100_000: "ee6cbaaabca5caa293be9b21ddaf9bad7dc90213e8e6b4b64725b985c60928d1",
    1_000_000: "c329e044f686c42a9bbf7a54d1c7948a6bf646ff0359adf8b4d135886b13805d",
}

FIRST = ["Ivan", "Maria", "John", "Anna", "Olga", "Peter", "Camille", "Jonas", "Fatima", "Chen"]
LAST = ["Petrov", "Smirnova", "Doe", "Schmidt", "Martin", "Weber", "Garcia", "Rossi", "Novak"]
COMPANY = ["Acme Inc.", "Bicycle", "Romashka LLC", "Weber GmbH", "", "", "Cafe Central"]
HEADER = "chatId,phoneContact,firstName,middleName,lastName,company,email,city,notes\n"


def ensure_openpyxl():
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "openpyxl"], check=True)


def crm_csv(rows, seed=42):
    """A CRM-like export: about 95 bytes a row, 1% rows with mistakes, some duplicates."""
    path = DATA / f"crm-{rows}-v2.csv"  # v2: bump when the rows change, so stale files go unused
    if path.exists() and path.stat().st_size > 0:
        return path
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        f.write(HEADER)
        for i in range(rows):
            phone = f"+7 903 {rng.randrange(1000):03d}-{rng.randrange(100):02d}-{rng.randrange(100):02d}"
            if i % 100 == 0:
                phone = "7.90312E+10"
            first, last = rng.choice(FIRST), rng.choice(LAST)
            f.write(
                f"7916{rng.randrange(10**7):07d},{phone},{first},,{last},{rng.choice(COMPANY)},"
                f"{first.lower()}.{last.lower()}{i}@example.com,Moscow,tier {i % 5}\n"
            )
    return path


def crm_xlsx(path, rows, seed=7):
    if path.exists() and path.stat().st_size > 0:
        return path
    import openpyxl

    rng = random.Random(seed)
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Contacts")
    sheet.append(HEADER.strip().split(","))
    for i in range(rows):
        sheet.append([
            79160000000 + rng.randrange(10**7), 79030000000 + rng.randrange(10**7),
            rng.choice(FIRST), "", rng.choice(LAST), rng.choice(COMPANY),
            f"u{i}@example.com", "Moscow", f"tier {i % 5}",
        ])
    workbook.save(path)
    return path


# The peak RSS `wait4` reports for a child of this Python process is at least this process's own
# size when it forked (Linux carries the high-water mark across exec), so a small command's peak
# read that way is Python's. GNU time, a small process, measures the command instead.
TIME = Path("/usr/bin/time")


def measure(command, env=None, stop_after=None):
    """Runs a command; returns (wall seconds, cpu seconds, peak RSS in MB, exit code, stderr)."""
    peak_file = None
    if TIME.exists():
        peak_file = tempfile.NamedTemporaryFile(prefix="bench-peak-", delete=False)
        peak_file.close()
        command = [str(TIME), "-q", "-f", "%M", "-o", peak_file.name, *command]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=env, text=True, start_new_session=True)
    stderr = []
    reader = threading.Thread(target=lambda: stderr.append(process.stderr.read()))
    reader.start()
    if stop_after:
        time.sleep(stop_after)
        # To the command (GNU time ignores it while it waits); not send_signal: it would reap
        # an early exit.
        os.killpg(process.pid, signal.SIGINT)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    reader.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    peak = usage.ru_maxrss / 1024
    if peak_file:
        lines = Path(peak_file.name).read_text().split()
        os.unlink(peak_file.name)
        if lines and lines[-1].isdigit():
            peak = int(lines[-1]) / 1024
    return wall, usage.ru_utime + usage.ru_stime, peak, process.returncode, "".join(stderr)


def compare(title, ours, baselines, repeat):
    """Runs greenbulk and each baseline alternately; prints and returns
    ({baseline: ratio}, our median, our peak RSS)."""
    names = ["greenbulk", *baselines]
    commands = {"greenbulk": ours, **baselines}
    times = {name: [] for name in names}
    rss = {name: 0.0 for name in names}
    for _ in range(repeat):
        for name in names:
            wall, _, peak, code, err = measure(commands[name])
            if code not in (0, 3):
                sys.exit(f"{name} failed ({code}): {err[-500:]}")
            times[name].append(wall)
            rss[name] = max(rss[name], peak)
    medians = {name: statistics.median(times[name]) for name in names}
    ours_s = medians["greenbulk"]
    print(f"\n## {title}\n")
    print(f"- greenbulk: {ours_s:.2f} s wall (median of {repeat}, run alternately), "
          f"peak RSS {rss['greenbulk']:.0f} MB")
    ratios = {}
    for name in baselines:
        ratios[name] = medians[name] / ours_s
        print(f"- {name}: {medians[name]:.2f} s wall, peak RSS {rss[name]:.0f} MB; greenbulk is "
              f"**{ratios[name]:.1f}x** faster")
    return ratios, ours_s, rss["greenbulk"]


def same_findings(path, rows):
    """Checks greenbulk's report on a generated file against the pinned one."""
    import hashlib

    pinned = PINNED_REPORTS.get(rows)
    if pinned is None:
        return
    report = DATA / f"report-{rows}.csv"
    _, _, _, code, err = measure([str(BINARY), "validate", str(path), "--report", str(report)])
    digest = hashlib.sha256(report.read_bytes()).hexdigest()
    if digest != pinned:
        sys.exit(f"the report on {path.name} changed: sha256 {digest}, pinned {pinned}")
    print(f"- findings: the report is byte-for-byte the pinned one (sha256 {digest[:12]}…)")


def small_file(runs):
    """Start to exit on a 10-row file: the fixed cost of every run."""
    path = crm_csv(10)
    ours = [measure([str(BINARY), "validate", str(path), "--report", os.devnull])[0] for _ in range(runs)]
    plain = [measure([sys.executable, str(PLAIN), str(path), os.devnull])[0] for _ in range(runs)]
    print(f"\n## validate, a 10-row file (start to exit, median of {runs})\n")
    print(f"- greenbulk: **{statistics.median(ours) * 1000:.1f} ms** (slowest {max(ours) * 1000:.1f} ms)")
    print(f"- plain Python checker: {statistics.median(plain) * 1000:.1f} ms (mostly the interpreter's start)")


def scaling(sizes, repeat):
    print("\n## How validate grows with rows (CSV)\n")
    print("| rows | wall (median) | rows/s | peak RSS |")
    print("|---:|---:|---:|---:|")
    base = None
    for rows in sizes:
        path = crm_csv(rows)
        results = [measure([str(BINARY), "validate", str(path), "--report", os.devnull]) for _ in range(repeat)]
        wall = statistics.median(r[0] for r in results)
        peak = max(r[2] for r in results)
        base = base or wall / rows
        print(f"| {rows:,} | {wall:.2f} s | {rows / wall:,.0f} | {peak:.0f} MB |")


def sandbox_env(url):
    return dict(os.environ, GREEN_API_URL=url, GREEN_API_ID_INSTANCE=SANDBOX_ID,
                GREEN_API_TOKEN_INSTANCE=SANDBOX_TOKEN)


def start_sandbox(latency_ms, *extra):
    process = subprocess.Popen([str(BINARY), "sandbox", "--port", "0", "--latency-ms", str(latency_ms),
                                *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    first = process.stdout.readline()
    url = re.search(r"http://127\.0\.0\.1:\d+", first).group(0)
    return process, url


def python_sender(url, rows, rate, workers=16):
    """The baseline sender: a paced thread pool POSTing with urllib, as an SDK user might."""
    import concurrent.futures
    import json

    endpoint = f"{url}/waInstance{SANDBOX_ID}/sendContact/{SANDBOX_TOKEN}"

    def post(i):
        body = json.dumps({"chatId": f"7916{1000000 + i:07d}@c.us",
                           "contact": {"phoneContact": 79030000000 + i, "firstName": "Ann"}}).encode()
        request = urllib.request.Request(endpoint, body, {"Content-Type": "application/json"})
        for _ in range(5):
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    return json.load(answer)["idMessage"]
            except urllib.error.HTTPError as error:
                if error.code != 429:
                    raise
                time.sleep(1)
        raise RuntimeError("429 five times")

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        start = time.perf_counter()
        futures = []
        for i in range(rows):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(post, i))
        for f in futures:
            f.result()


def ledger_rate(ledger):
    """Requests per second from the first dispatch to the last, by the `sent_at` stamps of a
    ledger (requests that leave together share a stamp, so those of the first do not count)."""
    import json

    stamps = sorted(event["sent_at"] for event in map(json.loads, open(ledger))
                    if event["event"] == "sent")
    after_first = sum(1 for t in stamps if t > stamps[0])
    return after_first / ((stamps[-1] - stamps[0]) / 1000)


def send_cards(source, chats, results, rate, env):
    """Writes one card per number in CHATS to SOURCE and sends them all at RATE a second, to a
    fresh RESULTS; returns (wall, cpu, peak RSS, stderr)."""
    with open(source, "w") as f:
        f.write("chatId,phoneContact,firstName\n")
        for i in chats:
            f.write(f"7916{i:07d},7903{i % 10**7:07d},Ann\n")
    for leftover in (results, Path(f"{results}.ledger")):
        leftover.unlink(missing_ok=True)
    wall, cpu, peak, code, err = measure(
        [str(BINARY), "send", str(source), "--results", str(results), "--rate", f"{rate}/s"], env)
    if code != 0:
        sys.exit(f"send failed ({code}): {err[-800:]}")
    return wall, cpu, peak, err


def send_benchmarks(rows, rate, memory_rows, repeat):
    print(f"\n## send: CPU per row and pacing ({rows} rows at {rate}/s, 250 ms latency)\n")
    # A queue that lets a card go every 20 ms: with the default 500 ms, the memory run's
    # 990,000 cards would not leave within GREEN-API's 24 hours, and send refuses such a batch.
    sandbox, url = start_sandbox(250, "--delay-ms", "20")
    env = sandbox_env(url)
    small = max(rows // 10, 20)

    def ours(count, offset):
        results = DATA / "send-results.csv"
        wall, cpu, peak, err = send_cards(DATA / f"send-{count}.csv", range(offset, offset + count),
                                          results, rate, env)
        time.sleep(1.5)  # let the emulator's 1-second window empty before the next run
        return wall, cpu, peak, err, ledger_rate(Path(f"{results}.ledger"))

    def theirs(count):
        script = (f"import sys; sys.path.insert(0, {str(ROOT / 'benches')!r}); import bench; "
                  f"bench.python_sender({url!r}, {count}, {rate})")
        wall, cpu, peak, code, err = measure([sys.executable, "-c", script])
        if code != 0:
            sys.exit(f"baseline sender failed: {err[-800:]}")
        time.sleep(1.5)
        return wall, cpu, peak

    try:
        # Per-row CPU: a short and a long run differenced, so startup and validation cancel
        # out; greenbulk and the baseline alternately, REPEAT times, medians reported.
        marginals, b_marginals, achieved, reported, retries, usage = [], [], [], [], 0, []
        for r in range(repeat):
            _, small_cpu, _, _, _ = ours(small, 1000000 + r * 10000)
            wall, cpu, peak, err, throughput = ours(rows, 2000000 + r * 10000)
            _, b_small_cpu, _ = theirs(small)
            _, b_cpu, b_peak = theirs(rows)
            marginals.append((cpu - small_cpu) / (rows - small))
            b_marginals.append((b_cpu - b_small_cpu) / (rows - small))
            achieved.append(throughput)
            reported.append(float(re.search(r"requests left at ([\d.]+)/s", err).group(1)))
            retries += int(re.search(r"retries (\d+)", err).group(1))
            usage.append((cpu / wall, peak))
        marginal, b_marginal = statistics.median(marginals), statistics.median(b_marginals)
        pace = statistics.median(achieved)
        whole, peak = max(usage)
        print(f"- greenbulk: **{marginal * 1000:.2f} ms CPU per row** (median of {repeat}; runs of "
              f"{small} and {rows} rows differenced, so startup and validation cancel out): at {rate} "
              f"rows/s that is **{marginal * rate * 100:.1f}% of one core**; a whole {rows}-row run "
              f"used at most {whole * 100:.1f}% of a core, peak RSS {peak:.0f} MB")
        print(f"- baseline (Python thread pool + urllib, no ledger, no fsync): {b_marginal * 1000:.2f} ms "
              f"per row, {b_marginal * rate * 100:.1f}% of one core; peak RSS {b_peak:.0f} MB")
        print(f"- CPU per row, baseline/greenbulk: **{b_marginal / marginal:.1f}x**")
        print(f"- pacing: requests left at **{pace:.2f}/s** of {rate}/s = **{pace / rate * 100:.1f}%** "
              f"(median of {repeat}, first to last dispatch by the ledger's `sent_at`; lowest "
              f"{min(achieved):.2f}/s); greenbulk itself reported {statistics.median(reported):.2f}/s "
              f"(requests per whole second of the run, which never reads above the limit); "
              f"429 retries: {retries}")

        # Memory for a long send: 1M rows, stopped with Ctrl-C after 25 s.
        big = crm_csv(memory_rows)
        results = DATA / "send-big-results.csv"
        for leftover in (results, Path(f"{results}.ledger")):
            leftover.unlink(missing_ok=True)
        wall, cpu, peak, code, err = measure(
            [str(BINARY), "send", str(big), "--results", str(results), "--rate", f"{rate}/s",
             "--skip-invalid"], env, stop_after=25)
        if code != 1:  # Ctrl-C ends a run with rows pending: exit 1
            sys.exit(f"send on {memory_rows:,} rows failed ({code}): {err[-800:]}")
        print(f"\n## send: memory on a {memory_rows:,}-row file\n")
        print(f"- validated all rows, wrote the results file, sent for a while, stopped with Ctrl-C "
              f"(exit {code}), rewrote the results: peak RSS **{peak:.0f} MB**")
    finally:
        sandbox.send_signal(signal.SIGINT)
        sandbox.wait()


def instance_rates(ledger):
    """Requests per second of each instance, as `ledger_rate` measures a whole run, by the
    instance each attempt names."""
    import json

    instance_of, stamps = {}, {}
    for event in map(json.loads, open(ledger)):
        if event["event"] == "attempt":
            instance_of[event["key"]] = event.get("instance")
        elif event["event"] == "sent":
            stamps.setdefault(instance_of.get(event["key"]), []).append(event["sent_at"])
    rates = {}
    for instance, times in stamps.items():
        times.sort()
        after_first = sum(1 for t in times if t > times[0])
        rates[instance] = after_first / ((times[-1] - times[0]) / 1000)
    return rates


def instances_benchmark(per_instance, count, rate, repeat):
    """One process sending from COUNT emulated instances at RATE a second each, against the
    same run from one instance: CPU per row, each instance's pace, memory."""
    import shutil

    print(f"\n## send: {count} instances at {rate}/s each ({count * rate} requests/s), against one\n")
    listing = DATA / f"instances-{count}.csv"
    listing.unlink(missing_ok=True)
    sandbox = subprocess.Popen(
        [str(BINARY), "sandbox", "--port", "0", "--instances", str(count), "--latency-ms", "250",
         "--delay-ms", "20", "--write-instances", str(listing)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    while "Ctrl-C stops it" not in sandbox.stdout.readline():
        pass
    one = DATA / "instances-1.csv"
    lines = listing.read_text().splitlines()
    one.write_text("\n".join(lines[:2]) + "\n")
    os.chmod(one, 0o600)

    def run(listing, rows, offset):
        source, results = DATA / f"instances-{rows}.csv.in", DATA / "instances-results.csv"
        with open(source, "w") as f:
            f.write("chatId,phoneContact,firstName\n")
            for i in range(offset, offset + rows):
                f.write(f"7916{i:07d},7903{i % 10**7:07d},Ann\n")
        for leftover in (results, Path(f"{results}.ledger")):
            leftover.unlink(missing_ok=True)
        # A sent-card history of its own: the cards of an earlier benchmark are not
        # already-sent here.
        state = DATA / "instances-state"
        shutil.rmtree(state, ignore_errors=True)
        wall, cpu, peak, code, err = measure(
            [str(BINARY), "send", str(source), "--results", str(results), "--instances",
             str(listing), "--rate", f"{rate}/s"], dict(os.environ, XDG_STATE_HOME=str(state)))
        if code != 0:
            sys.exit(f"send failed ({code}): {err[-800:]}")
        time.sleep(1.5)  # let the emulator's 1-second windows empty before the next run
        return cpu, peak, instance_rates(Path(f"{results}.ledger"))

    try:
        rows, small = per_instance, max(per_instance // 10, 20)
        singles, manys, paces, peaks = [], [], [], []
        for r in range(repeat):
            base = 3_000_000 + r * 200_000
            small_cpu, _, _ = run(one, small, base)
            cpu, _, _ = run(one, rows, base + 10_000)
            singles.append((cpu - small_cpu) / (rows - small))
            small_cpu, _, _ = run(listing, small * count, base + 50_000)
            cpu, peak, rates = run(listing, rows * count, base + 100_000)
            manys.append((cpu - small_cpu) / ((rows - small) * count))
            paces.extend(rates.values())
            peaks.append(peak)
        single, many = statistics.median(singles), statistics.median(manys)
        print(f"- one instance: {single * 1000:.3f} ms CPU per row (runs of {small} and {rows} rows "
              f"differenced, median of {repeat})")
        print(f"- {count} instances: **{many * 1000:.3f} ms CPU per row** (runs of {small * count} and "
              f"{rows * count} rows differenced): **{many / single:.2f}x** one instance's; at "
              f"{count * rate} rows/s that is {many * count * rate * 100:.0f}% of one core")
        print(f"- each instance's pace (first to last dispatch by the ledger): min "
              f"{min(paces):.2f}/s, median {statistics.median(paces):.2f}/s, max {max(paces):.2f}/s "
              f"of {rate}/s ({len(paces)} instance-runs); together "
              f"{statistics.median(paces) * count:.0f} requests/s")
        print(f"- peak RSS of the {rows * count:,}-row run: {max(peaks):.0f} MB")
    finally:
        sandbox.send_signal(signal.SIGINT)
        sandbox.wait()


def send_passes(path, rows, repeat):
    """`send --limit 1` on the whole file: every pass over the input (validate and write the
    results, feed, rewrite the results) with one card sent, to the built-in sandbox; the
    results as CSV and as a workbook."""
    print(f"\n## send: its passes over a {rows:,}-row file (--limit 1, built-in sandbox)\n")
    env = dict(os.environ, XDG_STATE_HOME=str(DATA / "state"))
    for suffix in ("csv", "xlsx"):
        walls, cpus, peak = [], [], 0.0
        for _ in range(repeat):
            results = DATA / f"passes-results.{suffix}"
            for leftover in (results, Path(f"{results}.ledger")):
                leftover.unlink(missing_ok=True)
            wall, cpu, rss, code, err = measure(
                [str(BINARY), "send", str(path), "--sandbox", "--skip-invalid", "--limit", "1",
                 "--results", str(results)], env)
            if code != 0:
                sys.exit(f"send --limit 1 failed ({code}): {err[-800:]}")
            walls.append(wall)
            cpus.append(cpu)
            peak = max(peak, rss)
        print(f"- results as .{suffix}: {statistics.median(walls):.2f} s wall, "
              f"{statistics.median(cpus):.2f} s CPU (median of {repeat}), peak RSS **{peak:.0f} MB**")


def ensure_xxhash():
    try:
        import xxhash  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "xxhash"], check=True)


def card_history(path, cards, seed=11):
    """A sent-card history of CARDS cards (none of them in the generated CRM files), written
    as greenbulk writes it: a 16-byte header, then a 64-byte slot a card (its key, when, the
    results file, `sent` and its idMessage, a checksum)."""
    import struct
    import xxhash

    if path.exists() and path.stat().st_size == 16 + 64 * cards:
        return path
    rng = random.Random(seed)
    with open(path, "wb") as f:
        f.write(b"greenbulk cards\n")
        for i in range(cards):
            chat, phone = f"7999{i:07d}@c.us", 79990000000 + i
            key = xxhash.xxh3_128_intdigest(f"{chat}\x1f{phone}".encode())
            ident = f"{rng.getrandbits(80):020X}".encode()
            slot = struct.pack("<QQQIBB", key & (2**64 - 1), key >> 64, 1_790_000_000_000 + i, 0, 2,
                               len(ident)) + ident.ljust(32, b"\0")
            check = xxhash.xxh3_64_intdigest(slot) & 0xFFFF
            f.write(slot + struct.pack("<H", check))
    path.with_suffix(".files").write_text('"/srv/crm/sent-earlier.csv"\n')
    return path


def history_benchmark(path, rows, cards, repeat):
    """`send --limit 1` on the whole file with an empty sent-card history and with one of
    CARDS cards (none in the file, so every row is still looked up and sent as before), and
    `validate`, which does not read the history, both ways."""
    import shutil

    ensure_xxhash()
    print(f"\n## The sent-card history: {rows:,} rows against {cards:,} cards sent before\n")
    history = card_history(DATA / f"history-{cards}.bin", cards)
    print(f"- the history: {history.stat().st_size / 1e6:.0f} MB on disk ({cards:,} cards)")
    timings = {}
    for label, with_history in (("empty history", False), (f"{cards:,}-card history", True)):
        state = DATA / "history-state" / "greenbulk"
        env = dict(os.environ, XDG_STATE_HOME=str(state.parent))
        for name in ("send", "validate"):
            walls, peak = [], 0.0
            for _ in range(repeat):
                shutil.rmtree(state.parent, ignore_errors=True)
                state.mkdir(parents=True)
                if with_history:
                    shutil.copy(history, state / f"cards-{SANDBOX_ID}.bin")
                    shutil.copy(history.with_suffix(".files"), state / f"cards-{SANDBOX_ID}.files")
                # On disk before the run: the copy's dirty pages are not the run's to write.
                os.sync()
                results = DATA / "history-results.csv"
                for leftover in (results, Path(f"{results}.ledger")):
                    leftover.unlink(missing_ok=True)
                command = ([str(BINARY), "send", str(path), "--sandbox", "--skip-invalid",
                            "--limit", "1", "--results", str(results)] if name == "send" else
                           [str(BINARY), "validate", str(path), "--report", os.devnull])
                wall, _, rss, code, err = measure(command, env)
                if code not in (0, 3):
                    sys.exit(f"{name} failed ({code}): {err[-800:]}")
                walls.append(wall)
                peak = max(peak, rss)
            timings[(name, with_history)] = statistics.median(walls)
            print(f"- {name}, {label}: {statistics.median(walls):.2f} s wall (median of {repeat}), "
                  f"peak RSS {peak:.0f} MB")
    for name in ("send", "validate"):
        ratio = timings[(name, True)] / timings[(name, False)]
        print(f"- {name}: with the history / without: **{ratio:.3f}**")


def status_benchmark(rows):
    """What `status` costs for ROWS sent cards: calls, time, memory. Sending them takes
    ROWS/50 seconds (GREEN-API's rate limit); the sandbox's queue lets a card go every 20 ms,
    so by the time status runs every card has left it. The journal lists only the last 10,000,
    so the rest are looked up one by one, 600 a round: the first two rounds are measured."""
    print(f"\n## status: {rows:,} sent cards\n")
    sandbox, url = start_sandbox(0, "--delay-ms", "20")
    env = dict(sandbox_env(url), XDG_STATE_HOME=str(DATA / "state"))
    try:
        results = DATA / "status-results.csv"
        wall, _, _, _ = send_cards(DATA / f"status-{rows}.csv", range(rows), results, 50, env)
        print(f"- sent {rows:,} cards at 50/s in {wall:.0f} s")
        for round_ in ("first", "second"):
            wall, cpu, peak, code, err = measure([str(BINARY), "status", str(results)], env)
            if code not in (0, 1):
                sys.exit(f"status failed ({code}): {err[-800:]}")
            calls = re.search(r"\((\d+) calls?\)", err)
            table = re.findall(r"^  ([a-zA-Z][a-zA-Z ]*?) +([\d,]+)\b", err, re.M)
            summary = ", ".join(f"{count} {state}" for state, count in table)
            print(f"- status, {round_} round: **{calls.group(1) if calls else '?'} calls**, "
                  f"{wall:.2f} s wall, {cpu:.2f} s CPU, peak RSS **{peak:.0f} MB** ({summary})")
    finally:
        sandbox.send_signal(signal.SIGINT)
        sandbox.wait()


def sent_record(rows, seed=5):
    """A results file of ROWS sent cards, its ledger and the instance's sent-card history,
    written as a `send` writes them (not sent: 1,000,000 cards take 5.5 hours at GREEN-API's
    50/s). A tenth were accepted over a day ago, so a round records them expired."""
    import struct
    import xxhash

    folder = DATA / f"sent-{rows}"
    results = folder / "results.csv"
    if results.exists():
        return results
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    state = folder / "state" / "greenbulk"
    state.mkdir(parents=True, exist_ok=True)
    with open(results, "w") as out, open(f"{results}.ledger", "w") as ledger, \
            open(state / f"cards-{SANDBOX_ID}.bin", "wb") as cards:
        out.write("row,status,idMessage,error,attempts,chatId,phoneContact,delivery,deliveryAt,"
                  "instance,chatId (input),phoneContact (input),firstName,lastName,company\n")
        ledger.write(f'{{"event":"begun","at":{now - 90_000_000},"nonce":{rng.getrandbits(63)}}}\n')
        ledger.write(f'{{"event":"instances","ids":["{SANDBOX_ID}"],"at":{now - 90_000_000}}}\n')
        cards.write(b"greenbulk cards\n")
        for i in range(rows):
            row = i + 2
            chat, phone = f"7916{i:07d}@c.us", 79030000000 + i
            first, last = rng.choice(FIRST), rng.choice(LAST)
            ident = f"{rng.getrandbits(80):020X}"
            key = f"{rng.getrandbits(128):032x}"
            at = now - (86_500_000 if i % 10 == 0 else 3_600_000) + i
            out.write(f"{row},sent,{ident},,1,{chat},{phone},,,{SANDBOX_ID},{chat[:-5]},{phone},"
                      f"{first},{last},\n")
            ledger.write(f'{{"event":"attempt","key":"{key}","row":{row},"at":{at},"chat":"{chat}",'
                         f'"phone":{phone},"names":["{first}","","{last}",""],'
                         f'"instance":"{SANDBOX_ID}"}}\n')
            ledger.write(f'{{"event":"sent","key":"{key}","row":{row},"id_message":"{ident}",'
                         f'"sent_at":{at}}}\n')
            card = xxhash.xxh3_128_intdigest(f"{chat}\x1f{phone}".encode())
            slot = struct.pack("<QQQIBB", card & (2**64 - 1), card >> 64, at, 0, 2,
                               len(ident)) + ident.encode().ljust(32, b"\0")
            cards.write(slot + struct.pack("<H", xxhash.xxh3_64_intdigest(slot) & 0xFFFF))
    (state / f"cards-{SANDBOX_ID}.files").write_text(f'"{results}"\n')
    return results


def status_memory_benchmark(sizes, binaries):
    """`status` on results files of SIZES sent cards (written, not sent: see sent_record),
    against a standalone emulator that knows none of them (each is asked about, answers
    404, and stays queued or, accepted over a day ago, is recorded expired). A round asks 60
    cards one by one, not 600, to keep the wall time short; the memory is the history's,
    not the calls'. Each binary runs on a fresh copy of the same files."""
    import shutil

    ensure_xxhash()
    print("\n## status: memory against the number of sent cards\n")
    sandbox, url = start_sandbox(0)
    try:
        for rows in sizes:
            source = sent_record(rows)
            for label, binary in binaries:
                work = DATA / f"status-copy-{rows}"
                shutil.rmtree(work, ignore_errors=True)
                shutil.copytree(source.parent, work)
                env = dict(sandbox_env(url), XDG_STATE_HOME=str(work / "state"),
                           GREENBULK_LOOKUPS_PER_ROUND="60")
                wall, cpu, peak, code, err = measure([str(binary), "status", str(work / "results.csv")],
                                                     env)
                if code not in (0, 1):
                    sys.exit(f"status failed ({code}): {err[-800:]}")
                print(f"- {rows:,} cards, {label}: peak RSS **{peak:.0f} MB**, {wall:.2f} s wall, "
                      f"{cpu:.2f} s CPU")
                shutil.rmtree(work, ignore_errors=True)
    finally:
        sandbox.send_signal(signal.SIGINT)
        sandbox.wait()


def country_benchmark(rows, repeat):
    """`validate --country RU` on numbers written the Russian way (`8 903 …`, read in the
    numbering plan by libphonenumber), against the same numbers written internationally
    without the flag, run alternately."""
    print(f"\n## --country: {rows:,} national numbers read in a numbering plan\n")
    rng = random.Random(3)
    national, international = DATA / f"national-{rows}.csv", DATA / f"international-{rows}.csv"
    if not national.exists():
        with open(national, "w") as n, open(international, "w") as i:
            n.write("chatId,phoneContact,firstName\n")
            i.write("chatId,phoneContact,firstName\n")
            for k in range(rows):
                a, b = rng.randrange(10**7), rng.randrange(10**7)
                n.write(f"8 916 {a:07d},8 (903) {b:07d},N{k}\n")
                i.write(f"+7 916 {a:07d},+7 (903) {b:07d},N{k}\n")
    compare(f"validate --country RU, {rows:,} rows of national numbers",
            [str(BINARY), "validate", str(national), "--country", "RU", "--report", os.devnull],
            {"the same numbers written internationally, no --country":
             [str(BINARY), "validate", str(international), "--report", os.devnull]},
            repeat)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small inputs, one repetition")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["csv", "small", "xlsx", "scaling", "passes", "send", "status",
                                           "status-memory", "country", "history", "instances"],
                        action="append",
                        help="run only these parts (repeatable)")
    parser.add_argument("--baseline-binary", type=Path,
                        help="status-memory: also run this (an earlier build) on the same files")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    csv_rows = 100_000 if args.quick else 1_000_000
    xlsx_rows = 20_000 if args.quick else 100_000
    sizes = [10_000, 100_000] if args.quick else [100_000, 1_000_000, 5_000_000]

    DATA.mkdir(parents=True, exist_ok=True)
    ensure_openpyxl()
    subprocess.run(["cargo", "build", "--release", "--locked", "-q"], cwd=ROOT, check=True)
    print("# greenbulk benchmark\n")
    print(f"- machine: {os.cpu_count()} cores, {platform_line()}")
    print(f"- {time.strftime('%Y-%m-%d %H:%M')}, repeat {repeat}")

    wanted = set(args.only or ["csv", "small", "xlsx", "scaling", "send", "passes", "status",
                               "status-memory", "country", "history", "instances"])
    csv_path = crm_csv(csv_rows)
    size_mb = csv_path.stat().st_size / 1e6
    if "csv" in wanted:
        compare(f"validate, {csv_rows:,}-row CSV ({size_mb:.0f} MB)",
                [str(BINARY), "validate", str(csv_path), "--report", os.devnull],
                {"plain Python (csv + regex)": [sys.executable, str(PLAIN), str(csv_path), os.devnull],
                 "Python building each JSON body": [sys.executable, str(BASELINE), str(csv_path), os.devnull]},
                repeat)
        same_findings(csv_path, csv_rows)
    if "small" in wanted:
        small_file(5 if args.quick else 21)
    if "xlsx" in wanted:
        xlsx_path = crm_xlsx(DATA / f"crm-{xlsx_rows}.xlsx", xlsx_rows)
        compare(f"validate, {xlsx_rows:,}-row XLSX",
                [str(BINARY), "validate", str(xlsx_path), "--report", os.devnull],
                {"openpyxl (read-only mode)": [sys.executable, str(BASELINE), str(xlsx_path), os.devnull]},
                repeat)
    if "scaling" in wanted:
        scaling(sizes, repeat)
    if "passes" in wanted:
        send_passes(csv_path, csv_rows, repeat)
    if "send" in wanted:
        send_benchmarks(100 if args.quick else 1000, 50, csv_rows, repeat)
    if "status" in wanted:
        status_benchmark(2_000 if args.quick else 100_000)
    if "status-memory" in wanted:
        binaries = [("this build", BINARY)]
        if args.baseline_binary:
            binaries.insert(0, ("baseline build", args.baseline_binary))
        status_memory_benchmark([10_000] if args.quick else [100_000, 1_000_000], binaries)
    if "country" in wanted:
        country_benchmark(10_000 if args.quick else 100_000, repeat)
    if "history" in wanted:
        history_benchmark(csv_path, csv_rows, 100_000 if args.quick else 1_000_000, repeat)
    if "instances" in wanted:
        instances_benchmark(100 if args.quick else 1000, 10, 50, repeat)


def platform_line():
    try:
        model = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        model = "unknown CPU"
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {memory:.0f} GiB"


if __name__ == "__main__":
    main()
