"""Other `anki` releases in their own venvs, driven through `driver.py` in a subprocess.

A release older than the one in the test venv cannot be imported next to it, so each
release gets a venv under the repository (`.venv-legacy/<version>`, or another root),
created once with `python3 -m venv` and pip, and reused while it still holds that release.
No pytest here: `scripts/compat.py` uses this module too.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
LEGACY_VENVS = REPO_ROOT / ".venv-legacy"
DRIVER = Path(__file__).resolve().with_name("driver.py")
RESULT_PREFIX = "RESULT "
NO_CHANGES, NORMAL_SYNC, FULL_SYNC, FULL_DOWNLOAD, FULL_UPLOAD = 0, 1, 2, 3, 4


class ClientUnavailable(Exception):
    """The release could not be installed or imported; the message says why."""


class DriverError(Exception):
    """A driver command failed; `error` holds the driver's description of it."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error['op']} failed: {error['type']}"
                         f"({error.get('kind')}): {error['message']}\n{error['traceback']}")
        self.error = error

    @property
    def kind(self) -> str | None:
        return self.error.get("kind")


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("+")[0].split(".") if p.isdigit())


def client_env(version: str) -> dict[str, str]:
    """Environment for importing `anki` `version` (old releases need pure-Python protobuf)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNC_", "ANKI"))}
    env.pop("PYTHONPATH", None)
    if version_tuple(version) < (2, 1, 50):
        # NOTE: the generated *_pb2 modules of 2.1.28-2.1.49 predate protobuf 4's C
        # implementation and only import with the pure-Python one.
        env["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = "python"
    return env


def base_python() -> str:
    """The interpreter new venvs are made from: $ANKISERV_CLIENT_PYTHON or python3."""
    return os.environ.get("ANKISERV_CLIENT_PYTHON") or shutil.which("python3") or sys.executable


def _installed_version(python: Path, version: str) -> str | None:
    if not python.exists():
        return None
    probe = subprocess.run(
        [str(python), "-c", "import anki.buildinfo as b; print(b.version)"],
        capture_output=True, text=True, env=client_env(version), timeout=120, check=False,
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise venv creation between concurrent test runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_venv(version: str, root: Path = LEGACY_VENVS, *, timeout: float = 900) -> Path:
    """The python of a venv holding `anki==version`, creating the venv if needed.

    Raises `ClientUnavailable` when pip cannot install the release or it does not import.
    """
    root.mkdir(parents=True, exist_ok=True)
    ignore = root / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")  # keep the venvs out of `git status`
    venv = root / version
    python = venv / "bin" / "python"
    with _locked(root / f"{version}.lock"):
        installed = _installed_version(python, version)
        if installed is not None and version_tuple(installed) == version_tuple(version):
            return python
        shutil.rmtree(venv, ignore_errors=True)
        try:
            _run([base_python(), "-m", "venv", str(venv)], "python3 -m venv", timeout)
            _run([str(python), "-m", "pip", "install", "--quiet", f"anki=={version}"],
                 f"pip install anki=={version}", timeout)
        except ClientUnavailable:
            shutil.rmtree(venv, ignore_errors=True)
            raise
        installed = _installed_version(python, version)
        if installed is None:
            probe = subprocess.run([str(python), "-c", "import anki.collection"],
                                   capture_output=True, text=True, env=client_env(version),
                                   timeout=120, check=False)
            shutil.rmtree(venv, ignore_errors=True)
            raise ClientUnavailable(f"anki {version} installed but does not import: "
                                    + _last_line(probe.stderr))
        return python


def _run(cmd: list[str], what: str, timeout: float) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ClientUnavailable(f"{what}: {e}") from None
    if done.returncode != 0:
        raise ClientUnavailable(f"{what} failed: {_last_line(done.stderr or done.stdout)}")


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines()
             if line.strip() and "is ignored: it is neither" not in line]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["(no output)"])[-1].strip()


@dataclass
class LegacyProfile:
    """One device running another `anki` release: a `driver.py` process with its
    collection open, started on first use and ended by `close()`."""

    python: Path
    version: str
    directory: Path
    endpoint: str
    _process: subprocess.Popen[str] | None = field(default=None, repr=False)
    _lines: queue.Queue[str | None] = field(default_factory=queue.Queue, repr=False)
    _pump: threading.Thread | None = field(default=None, repr=False)

    def run(self, *commands: dict[str, Any], timeout: float = 180) -> list[Any]:
        """Run commands in order; raise `DriverError` at the first that fails."""
        return [self._send(command, timeout) for command in commands]

    def one(self, op: str, **args: Any) -> Any:
        return self.run({"op": op, **args})[0]

    def login(self, user: str, password: str) -> str:
        return str(self.one("login", user=user, password=password)["hkey"])

    def sync(self) -> int:
        return int(self.one("sync")["required"])

    def dump(self) -> dict[str, Any]:
        return dict(self.one("dump"))

    def close(self, timeout: float = 60) -> None:
        """Close the collection (EOF on stdin) and wait for the driver to exit."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            assert process.stdin is not None
            process.stdin.close()
            process.wait(timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
        if self._pump is not None:
            self._pump.join(timeout=10)
        if process.stdout is not None:
            process.stdout.close()

    @property
    def driver_log(self) -> Path:
        return self.directory.with_name(self.directory.name + ".driver.log")

    def _start(self, timeout: float) -> subprocess.Popen[str]:
        if self._process is not None:
            return self._process
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.driver_log.open("a") as log:
            self._process = subprocess.Popen(
                [str(self.python), str(DRIVER), str(self.directory), self.endpoint],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
                env=client_env(self.version),
            )
        self._lines = queue.Queue()
        self._pump = threading.Thread(target=_pump, args=(self._process, self._lines),
                                      daemon=True)
        self._pump.start()
        self._receive({"op": "(start)"}, timeout)
        return self._process

    def _send(self, command: dict[str, Any], timeout: float) -> Any:
        process = self._start(timeout)
        assert process.stdin is not None
        process.stdin.write(json.dumps(command) + "\n")
        process.stdin.flush()
        return self._receive(command, timeout)

    def _receive(self, command: dict[str, Any], timeout: float) -> Any:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.close(timeout=1)
            raise TimeoutError(f"driver gave no answer to {command} in {timeout} s") from None
        if line is None:
            self._process = None
            raise RuntimeError(f"driver exited during {command}; its stderr is in "
                               f"{self.driver_log}:\n{self.driver_log.read_text()[-3000:]}")
        outcome = json.loads(line)
        if outcome["error"] is not None:
            raise DriverError(outcome["error"])
        return outcome["result"]


def _pump(process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    """Forward the driver's RESULT lines; None when it exits."""
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(RESULT_PREFIX):
            lines.put(line[len(RESULT_PREFIX):])
    lines.put(None)
