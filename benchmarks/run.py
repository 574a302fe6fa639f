"""Benchmark ankiserv against the official Anki sync server, side by side in one run.

    .venv/bin/python -m benchmarks.run [--sizes 1000,20000,100000]
        [--servers official,sqlite,postgres]

Every measurement drives the real client library (anki 26.9.3) against each server in
turn on this machine. Results are printed as Markdown and written to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import servers
from benchmarks.collections import generate
from benchmarks.report import write_section
from tests.support.anki_client import Profile

ROOT = Path(__file__).resolve().parents[1]
# Normal syncs last a few milliseconds, which this machine's noise moves by a third.
SMALL_ROUNDS = 9
CACHE = ROOT / ".bench-cache"


@dataclass
class Measure:
    seconds: float
    peak_rss_mb: float = 0.0


@dataclass
class Results:
    rows: dict[tuple[str, str], dict[str, Measure]] = field(default_factory=dict)

    def put(self, server: str, case: str, metric: str, value: Measure) -> None:
        self.rows.setdefault((case, metric), {})[server] = value


@contextmanager
def peak_rss(server: servers.Server) -> Iterator[list[float]]:
    """Sample the server's summed RSS every 20 ms; yields a list holding the peak in MB."""
    peak = [server.rss_bytes() / 2**20]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], server.rss_bytes() / 2**20)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()


def timed(server: servers.Server, action: Callable[[], object]) -> Measure:
    with peak_rss(server) as peak:
        start = time.perf_counter()
        try:
            action()
        except Exception as e:
            print(f"{server.name}: failed: {e}", flush=True)
            return Measure(float("nan"), peak[0])
        elapsed = time.perf_counter() - start
    return Measure(elapsed, peak[0])


def wait_media(profile: Profile) -> None:
    while profile.col.media_sync_status().active:
        time.sleep(0.05)


class Users:
    def __init__(self, server: servers.Server) -> None:
        self._names = iter(server.users)

    def next(self) -> str:
        return next(self._names)


def full_sync_case(server: servers.Server, users: Users, size: int, work: Path,
                   results: Results) -> None:
    source = generate(CACHE / f"collection-{size}", size) / "collection.anki2"
    a_dir, b_dir = work / f"{server.name}-{size}-a", work / f"{server.name}-{size}-b"
    a_dir.mkdir(parents=True)
    shutil.copy(source, a_dir / "collection.anki2")
    user = users.next()
    a, b = Profile.create(a_dir), Profile.create(b_dir)
    a.login(user, servers.PASSWORD, server.endpoint)
    b.login(user, servers.PASSWORD, server.endpoint)
    out = a.col.sync_collection(a.auth, sync_media=False)
    a.col.close_for_full_sync()
    results.put(server.name, f"{size} notes", "full upload", timed(server, lambda: (
        a.col.full_upload_or_download(auth=a.auth, server_usn=out.server_media_usn,
                                      upload=True))))
    a.col.reopen(after_full_sync=True)
    out = b.col.sync_collection(b.auth, sync_media=False)
    b.col.close_for_full_sync()
    results.put(server.name, f"{size} notes", "full download", timed(server, lambda: (
        b.col.full_upload_or_download(auth=b.auth, server_usn=out.server_media_usn,
                                      upload=False))))
    b.col.reopen(after_full_sync=True)
    small, none = [], []
    for round_ in range(SMALL_ROUNDS):
        for nid in a.col.find_notes("")[round_ * 10:round_ * 10 + 10]:
            note = a.col.get_note(nid)
            note["Back"] += f" edit {round_}"
            a.col.update_note(note)
        small.append(timed(server, lambda: a.col.sync_collection(a.auth, sync_media=False)))
        b.col.sync_collection(b.auth, sync_media=False)
        none.append(timed(server, lambda: b.col.sync_collection(b.auth, sync_media=False)))
    results.put(server.name, f"{size} notes",
                f"normal sync, 10 notes changed (median of {SMALL_ROUNDS})",
                Measure(statistics.median(m.seconds for m in small)))
    results.put(server.name, f"{size} notes", f"no-change sync (median of {SMALL_ROUNDS})",
                Measure(statistics.median(m.seconds for m in none)))
    # The collection changed since the upload: ankiserv builds this file from its database.
    c = Profile.create(work / f"{server.name}-{size}-c")
    c.login(user, servers.PASSWORD, server.endpoint)
    out = c.col.sync_collection(c.auth, sync_media=False)
    c.col.close_for_full_sync()
    results.put(server.name, f"{size} notes", "full download after normal syncs",
                timed(server, lambda: c.col.full_upload_or_download(
                    auth=c.auth, server_usn=out.server_media_usn, upload=False)))
    c.col.reopen(after_full_sync=True)
    a.close()
    b.close()
    c.close()


def media_case(server: servers.Server, users: Users, work: Path, results: Results) -> None:
    user = users.next()
    a = Profile.create(work / f"{server.name}-media-a")
    b = Profile.create(work / f"{server.name}-media-b")
    for p in (a, b):
        p.login(user, servers.PASSWORD, server.endpoint)
    a.sync(upload=True)
    b.sync(upload=False)
    for i in range(500):
        a.col.media.write_data(f"small-{i}.txt", os.urandom(2048))

    def run(profile: Profile) -> None:
        assert profile.auth is not None
        profile.col.sync_media(profile.auth)
        wait_media(profile)

    results.put(server.name, "media", "upload 500 small files", timed(server, lambda: run(a)))
    results.put(server.name, "media", "download 500 small files", timed(server, lambda: run(b)))
    a.col.media.write_data("big.bin", os.urandom(50 * 2**20))
    results.put(server.name, "media", "upload one 50 MB file", timed(server, lambda: run(a)))
    results.put(server.name, "media", "download one 50 MB file", timed(server, lambda: run(b)))
    a.close()
    b.close()


def render(results: Results, names: list[str], command: str) -> str:
    lines = [
        "## One client at a time: full sync, normal sync, media", "",
        f"Run on {time.strftime('%Y-%m-%d')} on {platform.node() or 'this machine'}: "
        f"{os.cpu_count()} cores, {_memory_gb():.0f} GiB, Python {platform.python_version()}, "
        "client anki 26.9.3 (real client library, in-process), servers on loopback.", "",
        f"Command: `{command}`", "",
        "Times in seconds, or milliseconds below 0.1 s (lower is better); `x` is the ratio "
        "to the official server in the same run (below 1.0 is faster). Peak RSS is the "
        "server's (all its processes).", "",
        "| case | measure | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for (case, metric), by_server in results.rows.items():
        official = by_server.get("official")
        cells = []
        for name in names:
            m = by_server.get(name)
            if m is None:
                cells.append("-")
                continue
            text = f"{m.seconds:.3f} s" if m.seconds >= 0.1 else f"{m.seconds * 1000:.2f} ms"
            if official is not None and name != "official" and official.seconds > 0:
                text += f" ({m.seconds / official.seconds:.2f}x)"
            if m.peak_rss_mb:
                text += f", {m.peak_rss_mb:.0f} MB"
            cells.append(text)
        lines.append(f"| {case} | {metric} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _memory_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,20000,100000")
    parser.add_argument("--servers", default="official,sqlite,postgres")
    parser.add_argument("--no-media", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="ankiserv-bench-"))
    results = Results()
    names = []
    for name in args.servers.split(","):
        server = servers.official(work) if name == "official" else servers.ankiserv(work, name)
        names.append(server.name)
        users = Users(server)
        try:
            for size in sizes:
                print(f"{server.name}: {size} notes", flush=True)
                full_sync_case(server, users, size, work, results)
            if not args.no_media:
                print(f"{server.name}: media", flush=True)
                media_case(server, users, work, results)
        finally:
            server.stop()
    command = "python -m benchmarks.run " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
        if k not in ("out", "no_media")) + (" --no-media" if args.no_media else "")
    report = render(results, names, command)
    print(report)
    write_section(Path(args.out), "single-client", report)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
