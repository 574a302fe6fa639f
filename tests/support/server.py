"""Run a real ankiserv (CLI + gunicorn) on a free loopback port for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import sql_capture

# `python -m entrypoints`, which also checks the SQL it sends when the session captures it.
ANKISERV = [sys.executable, "-m", "tests.support.run_ankiserv"]


@dataclass
class RunningServer:
    url: str
    data_dir: Path
    database_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return self.url + "/"

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """Run an `ankiserv` command against the same database."""
        return subprocess.run(
            [*ANKISERV, *args], input=stdin, env=self.env, capture_output=True, text=True,
            timeout=120, check=False,
        )

    def add_user(self, name: str, password: str) -> None:
        result = self.cli("user", "add", name, stdin=password + "\n")
        assert result.returncode == 0, result.stderr

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a graceful gunicorn shutdown), then SIGKILL after 20 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def server_env(data_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANKISERV_")}
    env.update({
        "ANKISERV_DATA_DIR": str(data_dir),
        "ANKISERV_DATABASE_URL": database_url,
        "ANKISERV_LOG_LEVEL": "INFO",
        "ANKISERV_ACCESS_LOG": "1",  # tests watch the requests a client makes
        # Servers of many tests share a database and 127.0.0.1: failed logins of one test
        # would throttle the next. Tests of throttling turn it on for their own server.
        "ANKISERV_LOGIN_THROTTLE": "0",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        **sql_capture.server_env(),
    })
    env.update(extra)
    return env


def start_server(
    data_dir: Path, database_url: str, *, workers: int = 2, **extra_env: str
) -> RunningServer:
    """Start `ankiserv serve` on a socket we bound to port 0, and wait until it answers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    env = server_env(data_dir, database_url, **extra_env)
    log_path = data_dir / "server.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*ANKISERV, "serve", "--bind", f"fd://{sock.fileno()}", "--workers", str(workers)],
            env=env, stdout=log, stderr=subprocess.STDOUT, pass_fds=(sock.fileno(),),
        )
    sock.close()
    server = RunningServer(f"http://127.0.0.1:{port}", data_dir, database_url, process,
                           log_path, env)
    _wait_healthy(server)
    return server


def _wait_healthy(server: RunningServer, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"ankiserv exited early:\n{server.log()}")
        try:
            base = server.env.get("ANKISERV_BASE_PATH", "/").rstrip("/")
            with urllib.request.urlopen(f"{server.url}{base}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"ankiserv did not become healthy:\n{server.log()}")


def restart_server(old: RunningServer, *, workers: int = 2) -> RunningServer:
    """Stop `old` and start a new `ankiserv serve` on the same port, data dir and database."""
    old.stop()
    port = int(old.url.rsplit(":", 1)[1])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
        with old.log_path.open("ab") as log:
            process = subprocess.Popen(
                [*ANKISERV, "serve", "--bind", f"fd://{sock.fileno()}", "--workers",
                 str(workers)],
                env=old.env, stdout=log, stderr=subprocess.STDOUT, pass_fds=(sock.fileno(),),
            )
    server = RunningServer(old.url, old.data_dir, old.database_url, process, old.log_path,
                           old.env)
    _wait_healthy(server)
    return server


def worker_pids(server: RunningServer) -> list[int]:
    """The pids of the gunicorn workers: the children of the master process."""
    master = server.process.pid
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses; the fields after it do not.
        fields = text[text.rindex(")") + 2:].split()
        if int(fields[1]) == master and fields[0] != "Z":
            children.append(int(stat.parent.name))
    return sorted(children)


def add_user_in_process(server: RunningServer, name: str, password: str) -> None:
    """Create a user like `ankiserv user add`, without the cost of starting a process."""
    from entrypoints.config import Settings
    from entrypoints.services import build_services

    services = build_services(Settings.from_env(server.env))
    try:
        services.accounts.add_user(name, password)
    finally:
        services.close()
