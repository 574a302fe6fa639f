"""`ankiserv user ...` and `ankiserv db upgrade`, run as real processes on SQLite in temp dirs."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import socket
import sqlite3
import subprocess
import sys
import termios
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import URL, func, inspect, make_url
from sqlalchemy import select as sql_select

from adapters.sql import schema, tables
from adapters.sql.dialects import build_engine
from domain.errors import AuthFailed
from entrypoints.cli import main
from entrypoints.config import Settings
from entrypoints.wsgi import Services, build_services

ANKISERV = [sys.executable, "-m", "entrypoints"]
TIMEOUT = 60


def _env(data_dir: Path) -> dict[str, str]:
    """A clean environment: no ANKISERV_* setting of the developer's leaks in."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "ANKISERV_DATA_DIR": str(data_dir),
    }


def run(data_dir: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ANKISERV, *args], input=stdin, env={**_env(data_dir), **(env or {})},
        cwd=data_dir.parent, capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )


def listed(data_dir: Path) -> list[str]:
    result = run(data_dir, "user", "list")
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir shared by the tests of this module, its database created as the
    README says; each test uses its own user names."""
    data = tmp_path_factory.mktemp("cli") / "data"
    result = run(data, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    return data


@pytest.fixture
def services(data_dir: Path) -> Iterator[Services]:
    """The same database, opened in this process as the server would open it."""
    found = build_services(Settings.from_env({"ANKISERV_DATA_DIR": str(data_dir)}), migrate=True)
    yield found
    found.engine.dispose()


@pytest.fixture
def name() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


def add(data_dir: Path, name: str, password: str = "secret") -> None:
    result = run(data_dir, "user", "add", name, stdin=password + "\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"user {name} added\n"
    assert result.stderr == ""


def _rows_of(services: Services, user_id: int) -> dict[str, int]:
    with services.engine.connect() as conn:
        return {
            table.name: conn.execute(
                sql_select(func.count()).select_from(table).where(table.c.user_id == user_id)
            ).scalar_one()
            for table in tables.metadata.sorted_tables if "user_id" in table.c
        }


def test_added_users_are_listed(data_dir: Path, services: Services) -> None:
    """`user add` reads the password from stdin; `user list` prints one name a line."""
    plain, fancy = f"user-{uuid.uuid4().hex[:8]}", f"Zoë 漢字 🙂 {uuid.uuid4().hex[:6]}"
    add(data_dir, plain)
    services.accounts.add_user(fancy, "pw")
    names = listed(data_dir)
    assert plain in names and fancy in names
    assert names == [u.name for u in services.accounts.users()]
    assert services.accounts.check_password(plain, "secret")


def test_password_is_the_first_line_of_stdin(
    data_dir: Path, name: str, services: Services
) -> None:
    result = run(data_dir, "user", "add", name, stdin=" pä ss 🙂 \r\nsecond line\n")
    assert result.returncode == 0, result.stderr
    assert services.accounts.check_password(name, " pä ss 🙂 ")
    assert not services.accounts.check_password(name, "second line")


def test_adding_an_existing_user_fails_and_keeps_the_password(
    data_dir: Path, name: str, services: Services
) -> None:
    services.accounts.add_user(name, "first")
    result = run(data_dir, "user", "add", name, stdin="second\n")
    assert result.returncode == 1
    assert result.stderr == f"ankiserv: user {name} already exists\n"
    assert result.stdout == ""
    assert services.accounts.check_password(name, "first")
    assert [u.name for u in services.accounts.users()].count(name) == 1


def test_passwd_changes_the_password_and_logs_out_every_device(
    data_dir: Path, name: str, services: Services
) -> None:
    services.accounts.add_user(name, "old")
    keys = [services.accounts.login(name, "old") for _ in range(2)]
    for key in keys:
        services.accounts.authenticate(key)
    result = run(data_dir, "user", "passwd", name, stdin="new\n")
    assert result.returncode == 0, result.stderr
    for key in keys:
        with pytest.raises(AuthFailed):
            services.accounts.authenticate(key)
    with pytest.raises(AuthFailed):
        services.accounts.login(name, "old")
    services.accounts.authenticate(services.accounts.login(name, "new"))


def test_remove_deletes_the_user_and_all_their_data_only(
    data_dir: Path, name: str, services: Services
) -> None:
    other = name + "-other"
    user_id = services.accounts.add_user(name, "secret")
    other_id = services.accounts.add_user(other, "secret")
    for who in (name, other):
        services.accounts.login(who, "secret")
    before = _rows_of(services, user_id)
    assert before["users"] == before["host_keys"] == before["collections"] == 1
    assert before["notetypes"] and before["decks"] and before["config"]
    other_before = _rows_of(services, other_id)

    refused = run(data_dir, "user", "remove", name)  # not a terminal, no --yes
    assert refused.returncode == 1
    assert refused.stderr == (f"ankiserv: not removing {name}: confirm on a terminal,"
                              " or pass --yes\n")
    assert _rows_of(services, user_id) == before

    result = run(data_dir, "user", "remove", name, "--yes")
    assert result.returncode == 0, result.stderr
    assert name not in [u.name for u in services.accounts.users()]
    assert _rows_of(services, user_id) == dict.fromkeys(before, 0)
    assert _rows_of(services, other_id) == other_before
    with pytest.raises(AuthFailed):
        services.accounts.login(name, "secret")


def test_remove_of_an_unknown_user_fails(data_dir: Path, name: str) -> None:
    result = run(data_dir, "user", "remove", name, "--yes")
    assert result.returncode == 1
    assert result.stderr == f"ankiserv: no user named {name}\n"


def test_empty_password_is_rejected(data_dir: Path, name: str, services: Services) -> None:
    result = run(data_dir, "user", "add", name, stdin="\r\n")
    assert result.returncode == 1
    assert result.stderr == "ankiserv: the password must not be empty\n"
    assert name not in [u.name for u in services.accounts.users()]


def test_password_in_argv_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = run(data_dir, "user", "add", "bob", "hunter2", stdin="pw\n")
    assert result.returncode == 2
    assert "unrecognized arguments: hunter2" in result.stderr
    assert not data_dir.exists()  # refused before touching anything


@pytest.mark.parametrize(
    "args",
    [
        ["user", "add", "bob", "hunter2"],
        ["user", "passwd", "bob", "hunter2"],
        ["user", "add", "bob", "--password", "hunter2"],
        ["user", "add", "--password=hunter2", "bob"],
        ["user", "passwd", "-p", "hunter2", "bob"],
    ],
    ids=["add-positional", "passwd-positional", "add-option", "add-option-equals", "short"],
)
def test_no_argument_takes_a_password(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_missing_action_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["user"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.startswith("usage: ankiserv")


def test_user_commands_never_create_a_database(tmp_path: Path) -> None:
    """Run in the wrong place, a command says there is no database; it creates nothing."""
    data_dir = tmp_path / "data"
    for args, stdin in ((("user", "list"), ""), (("user", "add", "bob"), "pw\n"),
                        (("user", "passwd", "bob"), "pw\n"),
                        (("user", "remove", "bob", "--yes"), "")):
        result = run(data_dir, *args, stdin=stdin)
        assert result.returncode == 1, args
        assert result.stderr == (
            f"ankiserv: there is no ankiserv database at {data_dir}/ankiserv.db: check"
            " ANKISERV_DATA_DIR or ANKISERV_DATABASE_URL, or create it with"
            " `ankiserv db upgrade`\n"), args
        assert not data_dir.exists()


def test_user_commands_never_create_a_schema(tmp_path: Path) -> None:
    """Another application's database (here an SQLite file of its own) is left alone."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    other = data_dir / "ankiserv.db"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE invoices (id integer)")
    result = run(data_dir, "user", "list")
    assert result.returncode == 1
    assert result.stderr == (f"ankiserv: the database sqlite:///{other} has no ankiserv"
                             " schema: check ANKISERV_DATABASE_URL, or create it with"
                             " `ankiserv db upgrade`\n")
    with sqlite3.connect(other) as con:
        tables_now = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
    assert tables_now == {"invoices"}


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"ANKISERV_DATABASE_URL": f"postgresql://ankiserv:s3cret@127.0.0.1:{port}/nope"}
    for args in (("user", "list"), ("db", "upgrade")):
        result = run(tmp_path / "data", *args, env=env)
        assert result.returncode == 1
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(
            f"ankiserv: cannot use the database postgresql://ankiserv:***@127.0.0.1:{port}/nope:")
        assert "(check ANKISERV_DATABASE_URL)" in lines[0]
        assert "s3cret" not in result.stderr


def test_version(tmp_path: Path) -> None:
    result = run(tmp_path / "data", "--version")
    assert result.returncode == 0
    assert re.fullmatch(r"ankiserv \d+\.\d+\S*\n", result.stdout), result.stdout


def test_db_upgrade_on_a_fresh_directory_says_what_it_did(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = run(data_dir, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    newest = schema.newest(build_engine(f"sqlite:///{data_dir}/ankiserv.db"))
    assert result.stdout == (f"database sqlite:///{data_dir}/ankiserv.db: created the"
                             f" ankiserv schema (revision {newest})\n")
    again = run(data_dir, "db", "upgrade")
    assert again.stdout == (f"database sqlite:///{data_dir}/ankiserv.db: the schema is up"
                            f" to date (revision {newest})\n")
    engine = build_services(Settings(data_dir=data_dir)).engine
    try:
        assert schema.is_current(engine)
        assert set(tables.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


# A real terminal: the password is asked twice and never echoed.


def _run_on_tty(data_dir: Path, args: list[str], answers: list[str],
                prompt: bytes = b"assword: ") -> tuple[int, str]:
    """Run ankiserv with a pseudo-terminal as its controlling terminal; answer each
    prompt in turn. Return the exit code and everything written to the terminal."""
    master, slave = pty.openpty()

    def take_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    # preexec_fn is the only way to give the child a controlling terminal.
    process = subprocess.Popen(
        [*ANKISERV, *args], stdin=slave, stdout=slave, stderr=slave, env=_env(data_dir),
        cwd=data_dir.parent, start_new_session=True, preexec_fn=take_terminal,
    )
    os.close(slave)
    output, pending = b"", list(answers)
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
                if pending and output.count(prompt) > len(answers) - len(pending):
                    os.write(master, pending.pop(0).encode() + b"\n")
            elif process.poll() is not None:
                break
        code = process.wait(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    return code, output.decode("utf-8", "replace")


def test_terminal_prompts_twice_without_echo(
    data_dir: Path, name: str, services: Services
) -> None:
    code, output = _run_on_tty(data_dir, ["user", "add", name], ["tty-secret", "tty-secret"])
    assert code == 0, output
    assert "Password:" in output and "Repeat password:" in output
    assert "tty-secret" not in output
    assert f"user {name} added" in output
    assert services.accounts.check_password(name, "tty-secret")


def test_terminal_passwords_must_match(data_dir: Path, name: str, services: Services) -> None:
    code, output = _run_on_tty(data_dir, ["user", "add", name], ["one", "two"])
    assert code == 1, output
    assert "ankiserv: passwords do not match" in output
    assert name not in [u.name for u in services.accounts.users()]


@pytest.mark.parametrize("answer", ["yes", "no", ""])
def test_remove_on_a_terminal_asks_first(
    data_dir: Path, name: str, services: Services, answer: str
) -> None:
    services.accounts.add_user(name, "secret")
    code, output = _run_on_tty(data_dir, ["user", "remove", name], [answer],
                               prompt=b"Type yes to confirm: ")
    assert f"Remove user {name} and all their data" in output
    removed = name not in [u.name for u in services.accounts.users()]
    assert removed == (answer == "yes")
    assert code == (0 if removed else 1), output
    assert (f"user {name} removed" in output) == removed


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_with_a_directory_it_cannot_write_is_one_line(tmp_path: Path) -> None:
    """Found at start (a file where a directory should be: root may write anywhere else)."""
    (tmp_path / "a-file").write_text("")
    media = tmp_path / "a-file" / "media"
    result = run(tmp_path / "data", "serve", "--bind", f"127.0.0.1:{_free_port()}",
                 env={"ANKISERV_MEDIA_DIR": str(media)})
    assert result.returncode == 1
    assert result.stderr == (f"ankiserv: cannot write to {media}: Not a directory"
                             " (check ANKISERV_MEDIA_DIR)\n")


def test_serve_on_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(tmp_path / "data", "serve", "--bind", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert result.stderr == (f"ankiserv: cannot listen on 127.0.0.1:{port}: Address already"
                             " in use (check ANKISERV_HOST and ANKISERV_PORT, or --bind)\n")


def _server_url(env: str) -> URL:
    url = os.environ.get(env)
    if not url:
        pytest.skip(f"{env} is not set")
    return make_url(url)


@pytest.mark.parametrize(("server", "change", "expected"), [
    ("TEST_POSTGRES_URL", {"username": "no_such_role"}, 'role "no_such_role" does not exist'),
    ("TEST_POSTGRES_URL", {"database": "no_such_db"}, 'database "no_such_db" does not exist'),
    ("TEST_POSTGRES_URL", {"host": "no-such-host.invalid"}, "could not translate host name"),
    ("TEST_MYSQL_URL", {"password": "wrong-password"}, "Access denied"),
    ("TEST_MYSQL_URL", {"database": "no_such_db"}, "Unknown database"),
], ids=["pg-role", "pg-database", "pg-host", "mysql-password", "mysql-database"])
def test_database_failures_are_one_line(
    tmp_path: Path, server: str, change: dict[str, str], expected: str
) -> None:
    url = _server_url(server).set(**change)  # type: ignore[arg-type]
    env = {"ANKISERV_DATABASE_URL": url.render_as_string(hide_password=False)}
    for args in (("db", "upgrade"), ("user", "list"),
                 ("serve", "--bind", f"127.0.0.1:{_free_port()}")):
        result = run(tmp_path / "data", *args, env=env)
        assert result.returncode == 1, args
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and expected in lines[0], result.stderr
        assert lines[0].endswith("(check ANKISERV_DATABASE_URL)")
        assert "wrong-password" not in result.stderr


def test_serve_says_which_database_it_uses_and_what_it_did(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    process = subprocess.Popen(
        [*ANKISERV, "serve", "--bind", f"127.0.0.1:{_free_port()}", "--workers", "1"],
        env=_env(data_dir), stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert process.stderr is not None
        deadline, seen = time.monotonic() + TIMEOUT, ""
        while "database sqlite:///" not in seen and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            seen += line
        assert (f"database sqlite:///{data_dir}/ankiserv.db: created the ankiserv schema"
                in seen), seen
    finally:
        process.terminate()
        process.wait(timeout=TIMEOUT)
        if process.stderr is not None:
            process.stderr.close()


def test_gunicorn_run_by_hand_gets_the_settings_serve_uses(tmp_path: Path) -> None:
    """The README's manual command: gunicorn with `entrypoints.gunicorn_conf` serves,
    logs in ankiserv's format and shares metrics between workers like `serve`."""
    data_dir = tmp_path / "data"
    assert run(data_dir, "db", "upgrade").returncode == 0
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:entrypoints.gunicorn_conf",
         "--bind", f"127.0.0.1:{port}", "--workers", "2", "entrypoints.wsgi:create_app()"],
        env={**_env(data_dir), "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            assert b"ankiserv_http_requests_total" in r.read()
        assert list((data_dir / "tmp").glob("metrics-*"))  # workers share their counts
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=TIMEOUT)
    first = stderr.splitlines()[0]
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO gunicorn.error: ", first), first


def test_list_details_shows_what_each_user_stores(data_dir: Path, name: str) -> None:
    add(data_dir, name)
    result = run(data_dir, "user", "list", "--details")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split("\t") == ["name", "notes", "cards", "reviews", "note_text_mb",
                                  "media_mb", "devices", "last_sync_utc", "admin"]
    mine = next(r.split("\t") for r in rows if r.startswith(name + "\t"))
    assert mine[1:7] == ["0", "0", "0", "0.0", "0.0", "0"]
    assert mine[8] == "no"


def test_administrators_are_made_with_add_or_admin_and_listed(data_dir: Path) -> None:
    boss, helper = f"boss-{uuid.uuid4().hex[:6]}", f"helper-{uuid.uuid4().hex[:6]}"
    result = run(data_dir, "user", "add", boss, "--admin", stdin="pw\n")
    assert result.returncode == 0 and result.stdout == f"user {boss} added as an administrator\n"
    add(data_dir, helper)
    assert f"{boss} (admin)" in listed(data_dir) and helper in listed(data_dir)
    result = run(data_dir, "user", "admin", helper)
    assert (result.returncode, result.stdout) == (0, f"user {helper} is an administrator\n")
    assert f"{helper} (admin)" in listed(data_dir)
    result = run(data_dir, "user", "admin", boss, "--off")
    assert (result.returncode, result.stdout) == (0, f"user {boss} is no longer an administrator\n")
    assert boss in listed(data_dir)
    result = run(data_dir, "user", "admin", "nobody-" + uuid.uuid4().hex)
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1
    assert "no user named nobody-" in result.stderr
