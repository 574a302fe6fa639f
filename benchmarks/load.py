"""Load test: N simulated users doing back-to-back normal syncs, ankiserv against the official
Anki sync server.

    .venv/bin/python -m benchmarks.load --users 1,10,50,200 --duration 20 \\
        --servers official,postgres [--workers 4] [--out docs/benchmarks.md]

Each server is started once with max(--users) accounts; every account gets the same
200-note collection by a full upload. Then, for each N, N users (one asyncio task and one
keep-alive connection each, driver in benchmarks/load_driver.py) sync for --duration
seconds; each sync uploads 2 edited notes and 2 cards. A final short phase fires a few
concurrent logins to see whether they stall the syncs. Afterwards the real client library
(anki 26.9.3) downloads a few accounts and checks the driver's last edits arrived.
Writes the results into the 'load' section of a Markdown file (--out) and a PNG plot
(--plot, default docs/load.png); `--section load-citus` into the Citus section and
docs/load-citus.png. The `citus` and `lb-citus:NxW` servers run on the Citus coordinator
BENCH_CITUS_URL names, in a schema of their own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import sqlalchemy
from sqlalchemy import Engine, NullPool, create_engine, text
from sqlalchemy.engine import URL, make_url

from benchmarks import load_driver, servers
from benchmarks.collections import generate
from benchmarks.load_driver import Account, Connection, Seed
from benchmarks.report import write_section
from tests.support.anki_client import Profile
from tests.support.processes import pss_mb

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".bench-cache"
NOTES = 200
TICKS = os.sysconf("SC_CLK_TCK")
GRACE_S = 30  # a phase is cut off this long after --duration, whatever is in flight
SECTIONS = {  # --section: the title of the docs section a run rewrites
    "load": "Load test: concurrent normal syncs",
    "load-citus": "Load test on Citus: the same syncs on a distributed database",
}


@dataclass
class Phase:
    server: str
    users: int
    seconds: float
    latencies: list[float]  # ms, successful syncs
    errors: Counter[str]
    server_cpu: float  # % of one core
    db_cpu: float | None
    memory: list[tuple[float, float, float]]  # (s since the server's first phase, MB, DB MB)
    driver_ms: float  # driver CPU per completed sync
    methods: dict[str, float] = field(default_factory=dict)  # mean ms per request
    stall: dict[str, float] = field(default_factory=dict)
    db_parts: dict[str, float] = field(default_factory=dict)  # db_cpu by role (`Database`)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def pct(self, q: int) -> float:
        return percentile(self.latencies, q)


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


# --- processes: CPU from /proc/<pid>/stat, PSS from /proc/<pid>/smaps_rollup ---------------

def _stat(pid: int) -> tuple[str, list[str]]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()


def cpu_ticks(pids: list[int], reaper: int | None = None) -> int:
    """utime+stime of `pids`; for `reaper` also of its exited children it has waited for."""
    total = 0
    for pid in pids:
        try:
            f = _stat(pid)[1]
        except OSError:
            continue
        total += int(f[11]) + int(f[12]) + (int(f[13]) + int(f[14]) if pid == reaper else 0)
    return total


class Database:
    """The PostgreSQL processes serving a benchmark's database, by role ("PostgreSQL", or
    on Citus "coordinator" and "workers"), found in each node's `pg_stat_activity`: every
    node's postmaster and auxiliary processes (checkpointer, WAL writer, autovacuum,
    Citus's maintenance daemon), and the backends serving the benchmark. On one server
    those are the backends of its database; on Citus the coordinator's backends of
    ankiserv's connections (named after the benchmark's schema) and, on every node, the
    backends the coordinator opened for them (`citus_internal gpid=<node id * 10^10 +
    pid>` of the coordinator's backend)."""

    def __init__(self, url: str) -> None:
        self.schema = servers.citus_schema(url)
        self.database = make_url(url).database
        admin = make_url(url).difference_update_query(["options", "application_name"])
        self.lock = threading.Lock()
        self.engines: list[Engine] = []
        # role, a connection to the node, its postmaster
        self.nodes: list[tuple[str, sqlalchemy.Connection, int]] = []
        first = self._connect(admin)
        if not self.schema:
            self.nodes.append(("PostgreSQL", *first))
            return
        rows = first[0].execute(text(
            "SELECT groupid, nodeid, nodename, nodeport FROM pg_dist_node"
            " WHERE isactive AND noderole = 'primary' ORDER BY groupid")).all()
        first[0].close()
        self.coordinator = next(int(nodeid) for group, nodeid, _, _ in rows if group == 0)
        for group, _, host, port in rows:
            node = self._connect(admin.set(host=host, port=port))
            self.nodes.append(("coordinator" if group == 0 else "workers", *node))

    def _connect(self, url: URL) -> tuple[sqlalchemy.Connection, int]:
        engine = create_engine(url.update_query_dict({"application_name": "bench-monitor"}),
                               isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self.engines.append(engine)
        conn = engine.connect()
        pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        return conn, int(_stat(pid)[1][1])  # and its parent, the postmaster

    def pids(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        gpids: set[str] = set()
        with self.lock:
            for role, conn, postmaster in self.nodes:  # the coordinator first
                rows = conn.execute(text(
                    "SELECT pid, backend_type, datname, application_name"
                    " FROM pg_stat_activity WHERE pid <> pg_backend_pid()")).all()
                if role == "coordinator":
                    gpids |= {f"citus_internal gpid={self.coordinator * 10**10 + pid}"
                              for pid, kind, _, name in rows if name == self.schema}
                pids = found.setdefault(role, [])
                pids.append(postmaster)
                pids += [int(pid) for pid, kind, database, name in rows
                         if kind != "client backend" or (
                             name == self.schema or name in gpids if self.schema
                             else database == self.database)]
        return found

    def checkpoint(self) -> None:
        with self.lock:
            for _, conn, _ in self.nodes:
                conn.execute(text("CHECKPOINT"))

    def close(self) -> None:
        with self.lock:
            for _, conn, _ in self.nodes:
                conn.close()
            for engine in self.engines:
                engine.dispose()


class Processes:
    """The server's processes and, for PostgreSQL and Citus, the database's (`Database`)."""

    def __init__(self, server: servers.Server) -> None:
        self.server = server
        self.db = Database(server.cleanup[0]) if server.cleanup else None

    def db_pids(self) -> dict[str, list[int]]:
        return self.db.pids() if self.db else {}

    def settle(self) -> None:
        """Write out what seeding left dirty (every account's upload), so that the first
        phase does not pay for it: durable commits wait behind a checkpoint's writes."""
        if self.db:
            self.db.checkpoint()
        os.sync()

    def cpu(self) -> tuple[int, dict[str, dict[int, int]]]:
        """The server's CPU ticks, and the database's by role and process (a backend gone
        by the end of a phase is left out of it, not counted negative)."""
        return (cpu_ticks(self.server.pids(), self.server.process.pid),
                {role: {pid: cpu_ticks([pid]) for pid in pids}
                 for role, pids in self.db_pids().items()})

    def memory(self) -> tuple[float, float]:
        return (pss_mb(self.server.pids()),
                pss_mb([pid for pids in self.db_pids().values() for pid in pids]))

    def close(self) -> None:
        if self.db:
            self.db.close()


class Sampler(threading.Thread):
    def __init__(self, procs: Processes, t0: float) -> None:
        super().__init__(daemon=True)
        self.procs, self.t0 = procs, t0
        self.samples: list[tuple[float, float, float]] = []
        self.done = threading.Event()
        self.cpu = 0.0  # this thread's CPU seconds: not the driver's

    def sample(self) -> None:
        self.samples.append((time.perf_counter() - self.t0, *self.procs.memory()))

    def run(self) -> None:
        while not self.done.wait(0.5):
            self.sample()
        self.cpu = time.thread_time()


# --- phases -------------------------------------------------------------------------------

def _address(server: servers.Server) -> tuple[str, int]:
    parts = urlsplit(server.url)
    return parts.hostname or "127.0.0.1", parts.port or 80


async def seed_accounts(server: servers.Server, seed: Seed, n: int) -> list[Account]:
    host, port = _address(server)
    limit = asyncio.Semaphore(4)

    async def one(user: str) -> Account:
        account = Account(user, Connection(host, port))
        async with limit:
            await account.login(servers.PASSWORD)
            await account.upload(seed)
        account.conn.close()
        return account

    return list(await asyncio.gather(*(one(u) for u in server.users[:n])))


async def login_burst(server: servers.Server, n: int, delay: float) -> dict[str, float]:
    await asyncio.sleep(delay)
    host, port = _address(server)

    async def one(user: str) -> float:
        account, t = Account(user, Connection(host, port)), time.perf_counter()
        await account.login(servers.PASSWORD)
        account.conn.close()
        return time.perf_counter() - t

    start = time.perf_counter()
    took = await asyncio.gather(*(one(u) for u in server.users[:n]))
    return {"from": start, "to": time.perf_counter(), "logins": n,
            "login_ms": 1000 * max(took)}


async def run_phase(procs: Processes, accounts: list[Account], seed: Seed, duration: float,
                    t0: float, logins: int = 0) -> Phase:
    for account in accounts:
        account.conn.close()  # a fresh keep-alive connection per user and phase
    spans: list[tuple[float, float]] = []
    errors: Counter[str] = Counter()
    start = time.perf_counter()
    deadline = start + duration

    async def user(account: Account) -> None:
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            try:
                await account.sync(seed)
                spans.append((t, time.perf_counter()))
            except Exception as e:
                errors[f"{type(e).__name__}: {e}"[:160]] += 1
                await asyncio.sleep(0.05)

    sampler = Sampler(procs, t0)
    sampler.sample()
    sampler.start()
    load_driver.SPENT.clear()
    load_driver.CALLS.clear()
    cpu0 = procs.cpu()
    driver0 = time.process_time()
    try:
        tasks = [asyncio.create_task(user(a)) for a in accounts]
        burst = asyncio.create_task(login_burst(procs.server, logins, duration / 3)) \
            if logins else None
        _, late = await asyncio.wait([*tasks, *([burst] if burst else [])],
                                     timeout=duration + GRACE_S)
        for task in late:
            task.cancel()
            errors["still running at the hard stop"] += 1
        await asyncio.gather(*late, return_exceptions=True)
        elapsed = time.perf_counter() - start
        driver1 = time.process_time()
        cpu1 = procs.cpu()
    finally:
        sampler.done.set()
        sampler.join()
    sampler.sample()
    driver1 -= sampler.cpu
    db_parts = {role: 100 * sum(t - cpu0[1].get(role, {}).get(pid, 0)
                                for pid, t in ticks.items()) / TICKS / elapsed
                for role, ticks in cpu1[1].items()}
    phase = Phase(
        procs.server.name, len(accounts), elapsed, [1000 * (b - a) for a, b in spans], errors,
        100 * (cpu1[0] - cpu0[0]) / TICKS / elapsed,
        sum(db_parts.values()) if procs.db else None,
        sampler.samples, 1000 * (driver1 - driver0) / max(1, len(spans)),
        {m: 1000 * t / load_driver.CALLS[m] for m, t in load_driver.SPENT.items()},
        db_parts=db_parts)
    if burst is not None and burst.done() and not burst.cancelled() and not burst.exception():
        window = burst.result()
        during: list[float] = []
        outside: list[float] = []
        for a, b in spans:
            (during if a < window["to"] and b > window["from"] else outside).append(
                1000 * (b - a))
        phase.stall = {**window, "during_n": len(during),
                       "during_max": max(during, default=float("nan")),
                       "during_p99": percentile(during, 99),
                       "outside_p99": percentile(outside, 99)}
    return phase


async def drive(server: servers.Server, seed: Seed, users: list[int], duration: float,
                stall: tuple[int, int]) -> tuple[list[Phase], list[Account]]:
    print(f"{server.name}: seeding {max(users)} accounts", flush=True)
    accounts = await seed_accounts(server, seed, max(*users, stall[0]))
    procs, t0, phases = Processes(server), time.perf_counter(), []
    try:
        procs.settle()
        for n in users:
            phases.append(await run_phase(procs, accounts[:n], seed, duration, t0))
            p = phases[-1]
            cpu_ms = (p.server_cpu + (p.db_cpu or 0)) * 10 / max(p.rate, 1e-9)
            print(f"{server.name}: {n} users: {p.rate:.0f} syncs/s, {cpu_ms:.1f} ms CPU/sync "
                  f"({_split(p)}), p50 {p.pct(50):.1f} ms, "
                  f"p99 {p.pct(99):.1f} ms, {sum(p.errors.values())} errors", flush=True)
        if stall[1]:
            phases.append(await run_phase(procs, accounts[:stall[0]], seed,
                                          max(6.0, duration / 2), t0, logins=stall[1]))
            print(f"{server.name}: login stall check: {phases[-1].stall}", flush=True)
    finally:
        procs.close()
    return phases, accounts


def _split(p: Phase) -> str:
    parts = {"server": p.server_cpu, **p.db_parts}
    return ", ".join(f"{role} {cpu * 10 / max(p.rate, 1e-9):.1f}" for role, cpu in parts.items())


# --- seeding and verification with the real client ----------------------------------------

def upload_file(server: servers.Server, work: Path) -> Path:
    """A collection exactly as the real client uploads it (after its `before_upload`):
    uploaded once with anki 26.9.3 and kept, byte for byte, in the cache."""
    path = CACHE / f"load-upload-{NOTES}.anki2"
    if path.exists():
        return path
    source = generate(CACHE / f"collection-{NOTES}", NOTES) / "collection.anki2"
    (work / "seed").mkdir()
    shutil.copy(source, work / "seed" / "collection.anki2")
    profile = Profile.create(work / "seed")
    profile.login(server.users[0], servers.PASSWORD, server.endpoint)
    assert profile.auth is not None
    out = profile.col.sync_collection(profile.auth, sync_media=False)
    profile.col.close_for_full_sync()
    profile.col.full_upload_or_download(auth=profile.auth, server_usn=out.server_media_usn,
                                        upload=True)
    shutil.copy(profile.path, path.with_suffix(".tmp"))
    path.with_suffix(".tmp").rename(path)
    profile.col.reopen(after_full_sync=True)
    profile.close()
    return path


def verify(server: servers.Server, accounts: list[Account], work: Path) -> list[str]:
    """Full-download two accounts with the real client; the driver's last edits must be there."""
    sure = [a for a in accounts if a.expected and not a.uncertain]
    if not sure:
        return [f"{server.name}: no account to verify"]
    problems, checked = [], 0
    for account in {id(a): a for a in (sure[0], sure[-1])}.values():
        profile = Profile.create(work / f"verify-{server.name}-{account.user}")
        try:
            profile.login(account.user, servers.PASSWORD, server.endpoint)
            profile.sync(upload=False)
            for nid, fields in account.expected.items():
                got = "\x1f".join(profile.col.get_note(nid).fields)  # type: ignore[arg-type]
                checked += 1
                if got != fields:
                    problems.append(f"{server.name} {account.user} note {nid}: "
                                    f"expected {fields!r}, got {got!r}")
        except Exception as e:
            problems.append(f"{server.name} {account.user}: {type(e).__name__}: {e}")
        finally:
            profile.close()
    print(f"{server.name}: verified {checked} edited notes, {len(problems)} problems",
          flush=True)
    return problems


# --- report ---------------------------------------------------------------------------------

def _mem(samples: list[float]) -> str:
    return f"{samples[0]:.0f} / {max(samples):.0f} / {samples[-1]:.0f}" if samples else "-"


def render(phases: list[Phase], problems: list[str], command: str,
           title: str = "Load test: concurrent normal syncs") -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine())
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    lines = [
        f"## {title}", "",
        f"Run on {time.strftime('%Y-%m-%d')}: {os.cpu_count()} cores ({cpu}), "
        f"{mem_gb:.0f} GiB RAM, Python {platform.python_version()}; driver, servers and "
        "PostgreSQL share the machine, on loopback.", "",
        f"Command: `{command}`", "",
        "Each user runs back-to-back complete normal syncs (meta, start, applyChanges, chunk, "
        f"applyChunk with 2 edited notes and 2 cards, sanityCheck2, finish) on a {NOTES}-note "
        "collection. Latency is per complete sync. CPU is in % of one core over the phase "
        "(server = all its processes; DB = PostgreSQL backends of the benchmark database "
        "plus its shared auxiliary processes; on Citus, the coordinator's backends serving "
        "ankiserv and the workers' backends the coordinator opened for them, plus every "
        "node's auxiliary processes). Memory is PSS in MB: start / peak / end, "
        "sampled every 0.5 s.", "",
        "The ratio columns compare with the official server at the same number of users; "
        "CPU ms/sync is server plus DB CPU divided by completed syncs (the driver's own CPU "
        "is in the last column, apart).", "",
        "| server | users | syncs/s | x official | p50 ms | p50 x official | p95 ms | p99 ms "
        "| errors | server CPU % | DB CPU % | CPU ms/sync | server MB | DB MB "
        "| driver CPU ms/sync |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|",
    ]
    official = {p.users: p for p in phases if p.server == "official" and not p.stall}
    for p in (p for p in phases if not p.stall):
        db_cpu = f"{p.db_cpu:.0f}" if p.db_cpu is not None else "-"
        db_mem = _mem([m[2] for m in p.memory]) if p.db_cpu is not None else "-"
        per_sync = (p.server_cpu + (p.db_cpu or 0)) * 10 / p.rate if p.rate else float("nan")
        ref = official.get(p.users)
        rate_x = f"{p.rate / ref.rate:.2f}" if ref and ref.rate else "-"
        p50_x = f"{p.pct(50) / ref.pct(50):.1f}" if ref and ref.latencies else "-"
        lines.append(
            f"| {p.server} | {p.users} | {p.rate:.0f} | {rate_x} | {p.pct(50):.1f} | {p50_x} "
            f"| {p.pct(95):.1f} | {p.pct(99):.1f} | {sum(p.errors.values())} "
            f"| {p.server_cpu:.0f} | {db_cpu} | {per_sync:.1f} "
            f"| {_mem([m[1] for m in p.memory])} | {db_mem} | {p.driver_ms:.2f} |")
    lines += ["", "Where the CPU of a sync goes (ms per completed sync; on Citus the database "
              "is the coordinator, and the workers are every worker node together):", "",
              "| server | users | syncs/s | ankiserv (or official) | database | Citus workers "
              "| total | driver |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for p in (p for p in phases if not p.stall and p.rate):
        ms = {role: cpu * 10 / p.rate for role, cpu in p.db_parts.items()}
        db = ms.get("PostgreSQL", ms.get("coordinator"))
        workers = ms.get("workers")
        total = p.server_cpu * 10 / p.rate + sum(ms.values())
        lines.append(f"| {p.server} | {p.users} | {p.rate:.0f} | {p.server_cpu * 10 / p.rate:.1f} "
                     f"| {'-' if db is None else f'{db:.1f}'} "
                     f"| {'-' if workers is None else f'{workers:.1f}'} | {total:.1f} "
                     f"| {p.driver_ms:.2f} |")
    methods = ("meta", "start", "applyChanges", "chunk", "applyChunk", "sanityCheck2", "finish")
    lines += ["", "Mean latency of each request (ms, as the driver sees it):", "",
              "| server | users | " + " | ".join(methods) + " |",
              "|---|---:|" + "---:|" * len(methods)]
    for p in (p for p in phases if not p.stall):
        lines.append(f"| {p.server} | {p.users} | "
                     + " | ".join(f"{p.methods.get(m, float('nan')):.1f}" for m in methods)
                     + " |")
    stalls = [p for p in phases if p.stall]
    if stalls:
        lines += ["", "Login stall check: a few concurrent `hostKey` logins fired a third of "
                  "the way into a phase; sync latency while they ran against the rest.", "",
                  "| server | users | logins | slowest login ms | syncs during | p99 during ms "
                  "| max during ms | p99 outside ms | syncs/s |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for p in stalls:
            s = p.stall
            lines.append(f"| {p.server} | {p.users} | {s['logins']:.0f} | {s['login_ms']:.0f} "
                         f"| {s['during_n']:.0f} | {s['during_p99']:.1f} "
                         f"| {s['during_max']:.1f} | {s['outside_p99']:.1f} | {p.rate:.0f} |")
    errors = [f"- {p.server}, {p.users} users: {n} x `{msg}`"
              for p in phases for msg, n in p.errors.most_common(3)]
    if errors:
        lines += ["", "Errors (most frequent per phase):", "", *errors]
    lines += ["", "Verification with anki 26.9.3 (full download of two accounts per server): "
              + ("all edited notes carry the driver's last value." if not problems
                 else "FAILED:"), *[f"- {p}" for p in problems]]
    return "\n".join(lines) + "\n"


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def start(kind: str, work: Path, workers: int, n_users: int) -> servers.Server:
    """`official`, `floor`, `sqlite`, `postgres`, `citus`; `KIND:W` with W gunicorn workers
    (`KIND:WxT`: and T threads each);
    `lb:NxW`: N ankiserv instances of W workers on one PostgreSQL database behind HAProxy,
    `lb-citus:NxW` on one Citus database."""
    kind, _, spec = kind.partition(":")
    if kind in ("lb", "lb-citus"):
        instances, _, each = spec.partition("x")
        return servers.balanced(work, int(instances), int(each or workers), n_users,
                                backend="citus" if kind == "lb-citus" else "postgres")
    count, _, threads = spec.partition("x")
    n = int(count) if count else workers
    if kind == "official":
        return servers.official(work, n_users=n_users)
    if kind == "floor":
        return servers.floor(work, workers=n, n_users=n_users)
    return servers.ankiserv(work, kind, workers=n, n_users=n_users,
                            env={"ANKISERV_THREADS": threads} if threads else None,
                            name=f"ankiserv-{kind} {spec}" if spec else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", default="1,10,50,200")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--servers", default="official,postgres",
                        help="comma-separated: official, floor, sqlite, postgres, citus "
                        "(on the coordinator BENCH_CITUS_URL names); KIND:W for W gunicorn "
                        "workers (KIND:WxT: T threads each); lb:NxW (lb-citus:NxW) for N "
                        "ankiserv instances behind HAProxy")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (ankiserv)")
    parser.add_argument("--stall-users", type=int, default=10)
    parser.add_argument("--stall-logins", type=int, default=5, help="0 skips the check")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"),
                        help="Markdown file; the results replace its --section section")
    parser.add_argument("--section", default="load", choices=SECTIONS)
    parser.add_argument("--plot", help="default: docs/SECTION.png")
    args = parser.parse_args()
    users = [int(n) for n in args.users.split(",")]
    if "citus" in args.servers:
        try:
            servers.citus_admin_url()
        except RuntimeError as e:
            sys.exit(f"benchmarks.load: {e}")
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started in background
    work = Path(tempfile.mkdtemp(prefix="ankiserv-load-"))
    phases: list[Phase] = []
    problems: list[str] = []
    started = time.perf_counter()
    try:
        for kind in args.servers.split(","):
            n_max = max(*users, args.stall_users)
            server = start(kind, work, args.workers, n_max)
            try:
                seed = Seed.load(upload_file(server, work))
                done, accounts = asyncio.run(drive(server, seed, users, args.duration,
                                                   (args.stall_users, args.stall_logins)))
                phases += done
                if not kind.startswith("floor"):  # it stores nothing a client could download
                    problems += verify(server, accounts, work)
            finally:
                server.stop()
    except KeyboardInterrupt:
        print("interrupted: servers stopped", file=sys.stderr)
        sys.exit(130)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    command = (f".venv/bin/python -m benchmarks.load --users {args.users} --duration "
               f"{args.duration:g} --servers {args.servers} --workers {args.workers}"
               + (f" --section {args.section}" if args.section != "load" else ""))
    report = render(phases, problems, command, SECTIONS[args.section])
    print(report)
    out = Path(args.out)
    png = Path(args.plot or ROOT / "docs" / f"{args.section}.png")
    write_section(out, args.section, report)
    from benchmarks.plot import plot
    plot(phases, png)
    print(f"wrote {out} and {png} in {time.perf_counter() - started:.0f} s")
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
