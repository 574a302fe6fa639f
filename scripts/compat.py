"""Which `anki` releases from PyPI sync with ankiserv: a compatibility matrix.

Starts ankiserv (gunicorn, SQLite in a temporary directory) on a free loopback port and,
for each release, installs `anki==<version>` into a cached venv under
`.venv-compat/<version>` and runs the core scenario with two profiles of a new account:
login, full upload, full download on the second profile, a normal sync each way, and
media added on each side and synced. Prints a Markdown table: version -> pass/fail.

    .venv/bin/python scripts/compat.py                       # a representative selection
    .venv/bin/python scripts/compat.py --versions 2.1.54,23.10
    .venv/bin/python scripts/compat.py --all --jobs 6        # every release on PyPI

Not part of the test suite: installing releases needs network access and takes ~30 s each.
"""

from __future__ import annotations

import argparse
import datetime
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.legacy.clients import (  # noqa: E402
    FULL_DOWNLOAD,
    FULL_UPLOAD,
    NO_CHANGES,
    ClientUnavailable,
    DriverError,
    LegacyProfile,
    ensure_venv,
    version_tuple,
)
from tests.support.server import RunningServer, start_server  # noqa: E402

COMPAT_VENVS = ROOT / ".venv-compat"
# One or two releases of each API generation and sync transport (protocol doc §9.1);
# 2.1.24-2.1.35 need `ankirspy` wheels that PyPI has only for old interpreters.
DEFAULT_VERSIONS = [
    "2.1.36", "2.1.40", "2.1.41", "2.1.44", "2.1.45", "2.1.49",
    "2.1.50", "2.1.54", "2.1.56", "2.1.58", "2.1.66", "23.10", "23.12.1", "24.4.1",
    "24.6.3", "24.11", "25.2", "25.2.7", "25.7.5", "25.9.5", "26.5", "26.9.3",
]


PASS, FAIL, UNAVAILABLE = "pass", "FAIL", "n/a"


@dataclass
class Outcome:
    version: str
    result: str  # PASS, FAIL, or UNAVAILABLE when the release cannot run on this Python
    reason: str
    seconds: float


def transport(version: str) -> str:
    if version_tuple(version) < (2, 1, 28):
        return "v10, Python sync code"
    if version_tuple(version) < (2, 1, 57):
        return "v10, legacy multipart + gzip"
    if version_tuple(version) < (23, 10):
        return "v11, no media_usn"
    return "v11"


def pypi_versions() -> list[str]:
    """Every `anki` release PyPI lists, oldest first."""
    out = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "anki"],
                         capture_output=True, text=True, check=True, timeout=300).stdout
    match = re.search(r"Available versions: (.*)", out)
    if match is None:
        raise SystemExit(f"cannot parse `pip index versions anki`:\n{out}")
    return sorted((v.strip() for v in match.group(1).split(",")), key=version_tuple)


class Scenario:
    """The core scenario for one release, against one running server."""

    def __init__(self, server: RunningServer, version: str, python: Path, work: Path) -> None:
        self.server, self.version = server, version
        self.user, self.password = f"compat-{uuid.uuid4().hex[:8]}", "pw-" + uuid.uuid4().hex[:8]
        self.a = LegacyProfile(python, version, work / "a", server.endpoint)
        self.b = LegacyProfile(python, version, work / "b", server.endpoint)

    def run(self) -> None:
        self.server.add_user(self.user, self.password)
        try:
            self.step("wrong password refused", self.wrong_password)
            self.step("full upload", self.full_upload)
            self.step("full download", self.full_download)
            self.step("normal sync A -> B", lambda: self.normal_sync(self.a, self.b, "from a"))
            self.step("normal sync B -> A", lambda: self.normal_sync(self.b, self.a, "from b"))
            self.step("media B -> A", self.media_back)
            self.step("converged", self.converged)
        finally:
            self.a.close()
            self.b.close()

    def step(self, name: str, action: Callable[[], None]) -> None:
        try:
            action()
        except DriverError as e:
            raise StepFailed(f"{name}: {e.error['type']}: {_short(e.error['message'])}") from e
        except AssertionError as e:
            raise StepFailed(f"{name}: {_short(str(e))}") from e

    def wrong_password(self) -> None:
        try:
            self.a.login(self.user, "not the password")
        except DriverError as e:
            assert e.kind == "AUTH" or "password" in e.error["message"], e.error["message"]
            return
        raise AssertionError("login with a wrong password succeeded")

    def full_upload(self) -> None:
        results = self.a.run(
            {"op": "add_note", "front": "compat one", "back": "ünï 漢字"},
            {"op": "add_media", "name": "from-a.txt", "text": f"media of {self.version}"},
            {"op": "login", "user": self.user, "password": self.password},
            {"op": "sync"},
        )
        assert results[-1]["required"] == FULL_UPLOAD, f"expected full upload: {results[-1]}"
        self.a.run({"op": "full_upload"}, {"op": "sync_media"})
        assert self.a.sync() == NO_CHANGES, "sync after the upload was not a no-op"

    def full_download(self) -> None:
        results = self.b.run({"op": "login", "user": self.user, "password": self.password},
                             {"op": "sync"})
        assert results[-1]["required"] == FULL_DOWNLOAD, f"expected download: {results[-1]}"
        self.b.run({"op": "full_download"}, {"op": "sync_media"})
        assert self.b.dump() == self.a.dump(), "downloaded content differs from the upload"

    def normal_sync(self, sender: LegacyProfile, receiver: LegacyProfile, text: str) -> None:
        sender.run({"op": "add_note", "front": text}, {"op": "sync"})
        assert receiver.sync() == NO_CHANGES, "receiver was asked for a full sync"
        fronts = [n[5].split("\x1f")[0] for n in receiver.dump()["notes"]]
        assert text in fronts, f"{text!r} did not arrive: {fronts}"

    def media_back(self) -> None:
        self.b.run({"op": "add_media", "name": "from-b.txt", "text": "b"}, {"op": "sync_media"})
        self.a.run({"op": "sync_media"})
        media = self.a.dump()["media"]
        assert "from-b.txt" in media, f"media did not arrive: {sorted(media)}"

    def converged(self) -> None:
        self.b.run({"op": "sync"}, {"op": "sync_media"})
        a, b = self.a.dump(), self.b.dump()
        differ = [k for k in a if a[k] != b[k]]
        assert not differ, f"profiles differ in {differ}"


class StepFailed(Exception):
    pass


def _short(text: str, limit: int = 160) -> str:
    first = " ".join(text.strip().splitlines()[:1])
    return first if len(first) <= limit else first[: limit - 1] + "…"


def check_version(server: RunningServer, version: str, work: Path, log: Path) -> Outcome:
    start = time.monotonic()
    try:
        python = ensure_venv(version, COMPAT_VENVS)
        Scenario(server, version, python, work / version).run()
    except ClientUnavailable as e:
        return Outcome(version, UNAVAILABLE, f"does not run here: {_short(str(e))}",
                       time.monotonic() - start)
    except StepFailed as e:
        _write_log(log, version, e)
        return Outcome(version, FAIL, str(e), time.monotonic() - start)
    except Exception as e:  # a crash of the driver or the harness: report, keep going
        _write_log(log, version, e)
        return Outcome(version, FAIL, f"error: {_short(str(e))}", time.monotonic() - start)
    return Outcome(version, PASS, "", time.monotonic() - start)


def _write_log(log: Path, version: str, error: BaseException) -> None:
    with log.open("a") as f:
        f.write(f"==== anki {version}\n")
        f.write("".join(traceback.format_exception(error)))


def table(outcomes: list[Outcome]) -> str:
    lines = ["| anki | transport | result | notes |", "| --- | --- | --- | --- |"]
    for o in sorted(outcomes, key=lambda o: version_tuple(o.version)):
        lines.append(f"| {o.version} | {transport(o.version)} | {o.result} | "
                     f"{o.reason.replace('|', '/')} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", help="comma-separated anki versions to test")
    parser.add_argument("--all", action="store_true", help="every release PyPI lists")
    parser.add_argument("--jobs", type=int, default=4, help="releases tested in parallel")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.all:
        versions = pypi_versions()
    elif args.versions:
        versions = [v.strip() for v in args.versions.split(",") if v.strip()]
    else:
        versions = DEFAULT_VERSIONS
    work = Path(tempfile.mkdtemp(prefix="ankiserv-compat-"))
    log = work / "failures.log"
    server = start_server(work / "server", f"sqlite:///{work / 'ankiserv.db'}", workers=4)
    try:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            outcomes = list(pool.map(lambda v: _report(check_version(server, v, work, log)),
                                     versions))
    finally:
        server.stop()
    command = "scripts/compat.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"\nankiserv compatibility, {datetime.date.today().isoformat()}, Python "
          f"{sys.version.split()[0]}: `{command.strip()}`\n")
    print(table(outcomes))
    if log.exists():
        print(f"\nDetails of failures: {log}  (server log: {server.log_path})")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _report(outcome: Outcome) -> Outcome:
    print(f"anki {outcome.version}: {outcome.result} {outcome.reason} "
          f"({outcome.seconds:.0f} s)", file=sys.stderr, flush=True)
    return outcome


if __name__ == "__main__":
    sys.exit(main())
