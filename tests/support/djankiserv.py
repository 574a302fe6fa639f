"""A real djankiserv 0.0.9 (PyPI) on a free loopback port: a source of genuine djankiserv
data for the `ankiserv import djankiserv` tests.

djankiserv is a Django app; PyPI ships the app only, not the Django project its repository
runs it with (`djankiservproj`), so this module writes a minimal project of its own into
the run's work directory: settings (both of djankiserv's database connections, `default`
for Django's tables and `userdata` for the per-user collections, on one fresh database),
urls (djankiserv under `/djs/`, as upstream mounts it) and a WSGI entry point. gunicorn
(as upstream runs it) serves that. The app itself is unmodified.

One deviation, documented upstream: clients send full-sync uploads with a chunked body,
which reaches Django without a Content-Length and is read as empty (the upload is then
refused with 403). djankiserv's Installation.md requires a buffering proxy (nginx) in
front for that reason; the WSGI entry point here buffers such bodies instead.

djankiserv speaks the legacy sync protocol (v10, multipart + gzip). Clients that work with
it: anki 2.1.28-2.1.40 fully (login, full sync, normal sync, media sync). From 2.1.41 on
the client parses the body of `applyChunk`/`applyGraves` as JSON `null`, and djankiserv
answers `{}`, so 2.1.41-2.1.56 (e.g. the suite's 2.1.54) can log in, full-sync and
media-sync but every normal sync that has something to exchange fails. 2.1.57+ (protocol
v11, e.g. 26.9.3) cannot even log in (415 from hostKey).

Its venv (`.venv-djankiserv/<version>` at the repository root) is created on first use
under a file lock, like the legacy clients' venvs, and reused while it still imports.

    with run_djankiserv(tmp, "postgresql://postgres@127.0.0.1:5432/test",
                        {"alice": "pw"}) as djk:
        djk.endpoint          # http://127.0.0.1:PORT/djs/ (sync/ and msync/ below it)
        djk.database_url      # the fresh djk_<hex> database (auth_user, django_session, ...)
        djk.user_schema("alice"), djk.media_dir("alice")

No pytest here: the importer's tests and scripts can use it alike.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Connection, make_url

from tests.legacy.clients import REPO_ROOT, ClientUnavailable, _last_line, _locked, base_python

DJANKISERV_VERSION = "0.0.9"
DJANKISERV_VENVS = REPO_ROOT / ".venv-djankiserv"
# djankiserv's own pins (its requirements.txt at 0.0.9), except psycopg2-binary (2.8.6 has
# no wheel for Python 3.11 and does not build there) and gunicorn (20.1.0, still within
# djankiserv's <21). PyMySQL stands in for mysqlclient, which needs C headers to build.
REQUIREMENTS = [
    f"djankiserv=={DJANKISERV_VERSION}",
    "Django==3.1.7",
    "djangorestframework==3.12.2",
    "djangorestframework-simplejwt==4.6.0",
    "PyJWT==2.0.1",
    "django-k8s==0.2.9",
    "asgiref==3.3.1",
    "pytz==2021.1",
    "sqlparse==0.4.1",
    "gunicorn==20.1.0",
    "psycopg2-binary==2.9.5",
    "PyMySQL==1.1.1",
]
URL_BASE = "djs/"  # where upstream's djankiservproj mounts djankiserv.urls
USERNAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class DjankiservUnavailable(ClientUnavailable):
    """djankiserv could not be installed or started; the message says why."""


# ---- the venv -----------------------------------------------------------------------------


def _venv_python() -> str:
    """3.11 where there is one: Django 3.1 predates 3.12 (no distutils)."""
    return (os.environ.get("ANKISERV_DJANKISERV_PYTHON") or shutil.which("python3.11")
            or base_python())


def _probe(python: Path) -> bool:
    if not python.exists():
        return False
    done = subprocess.run(
        [str(python), "-c", "import djankiserv.sync, django, psycopg2, pymysql, gunicorn;"
         " print(django.get_version())"],
        capture_output=True, text=True, timeout=120, check=False, env=_clean_env(),
    )
    return done.returncode == 0 and done.stdout.strip() == "3.1.7"


def ensure_djankiserv_venv(root: Path = DJANKISERV_VENVS, *, timeout: float = 900) -> Path:
    """The python of a venv holding djankiserv and its pinned dependencies.

    Created under `root` on first use (pip needs the network once), reused while its
    requirement stamp matches and it imports. Raises `DjankiservUnavailable`.
    """
    root.mkdir(parents=True, exist_ok=True)
    ignore = root / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    venv = root / DJANKISERV_VERSION
    python = venv / "bin" / "python"
    stamp = venv / ".requirements"
    wanted = "\n".join(REQUIREMENTS) + "\n"
    with _locked(root / f"{DJANKISERV_VERSION}.lock"):
        if stamp.exists() and stamp.read_text() == wanted and _probe(python):
            return python
        shutil.rmtree(venv, ignore_errors=True)
        try:
            _run([_venv_python(), "-m", "venv", str(venv)], "python -m venv", timeout)
            _run([str(python), "-m", "pip", "install", "--quiet", *REQUIREMENTS],
                 "pip install djankiserv", timeout)
        except DjankiservUnavailable:
            shutil.rmtree(venv, ignore_errors=True)
            raise
        if not _probe(python):
            shutil.rmtree(venv, ignore_errors=True)
            raise DjankiservUnavailable("djankiserv installed but does not import")
        stamp.write_text(wanted)
        return python


def _run(cmd: list[str], what: str, timeout: float) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              check=False, env=_clean_env())
    except (OSError, subprocess.TimeoutExpired) as e:
        raise DjankiservUnavailable(f"{what}: {e}") from None
    if done.returncode != 0:
        raise DjankiservUnavailable(f"{what} failed: {_last_line(done.stderr or done.stdout)}")


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
            and not k.startswith(("DJANGO_", "DJK_", "DJANKISERV_"))}


# ---- the Django project -----------------------------------------------------------------

SETTINGS = '''\
"""Settings for djankiserv under test; mirrors upstream's djankiservproj where it matters."""
import os

import djankiserv.unki
from djankiserv.unki.database import MariadbAnkiDataModel, PostgresAnkiDataModel

SECRET_KEY = os.environ["DJK_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "rest_framework",
    "djankiserv.apps.DjankiservConfig",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "djk_urls"
WSGI_APPLICATION = "djk_wsgi.application"

if os.environ["DJK_ENGINE"] == "mysql":
    import pymysql
    from pymysql.constants import CLIENT

    pymysql.install_as_MySQLdb()  # instead of mysqlclient, which needs C headers to build
    djankiserv.unki.AnkiDataModel = MariadbAnkiDataModel
    _DB = {
        "ENGINE": "django.db.backends.mysql",
        # upstream's options; MULTI_STATEMENTS is mysqlclient's default, not PyMySQL's, and
        # djankiserv's MariaDB full upload sends "DROP DATABASE ..; CREATE DATABASE .."
        "OPTIONS": {"autocommit": True, "init_command": "SET default_storage_engine=INNODB",
                    "sql_mode": "traditional,NO_BACKSLASH_ESCAPES",
                    "client_flag": CLIENT.MULTI_STATEMENTS},
    }
else:
    djankiserv.unki.AnkiDataModel = PostgresAnkiDataModel
    _DB = {"ENGINE": "django.db.backends.postgresql"}
_DB.update(NAME=os.environ["DJK_DB_NAME"], USER=os.environ["DJK_DB_USER"],
           PASSWORD=os.environ.get("DJK_DB_PASSWORD", ""), HOST=os.environ["DJK_DB_HOST"],
           PORT=os.environ["DJK_DB_PORT"])
DATABASES = {"default": dict(_DB), "userdata": dict(_DB)}

REST_FRAMEWORK = {
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
}
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_L10N = True
USE_TZ = True
APPEND_SLASH = False  # clients do not follow the redirect

DJANKISERV_SYNC_URLBASE = "sync/"
DJANKISERV_SYNC_MEDIA_URLBASE = "msync/"
DJANKISERV_API_URLBASE = "dapi/"
DJANKISERV_DATA_ROOT = os.environ["DJK_DATA_ROOT"]
DJANKISERV_DEBUG = False
DJANKISERV_GENERATE_TEST_ASSETS = False
DJANKISERV_GENERATE_TEST_ASSETS_DIR = os.path.join(DJANKISERV_DATA_ROOT, "_test_assets")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
}
'''

URLS = f'''\
from django.http import HttpResponse
from django.urls import include, path

urlpatterns = [
    path("{URL_BASE}", include("djankiserv.urls")),
    path("health", lambda request: HttpResponse("ok\\n")),
]
'''

WSGI = '''\
"""djankiserv's WSGI app behind what upstream requires a proxy for: buffered request bodies."""
import io
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djk_settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

_django = get_wsgi_application()


def application(environ, start_response):
    # A chunked body (anki's full-sync upload) has no CONTENT_LENGTH, and Django reads such
    # a request as empty; nginx in front would buffer it and set the length. Do the same.
    if (not environ.get("CONTENT_LENGTH")
            and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()):
        body = environ["wsgi.input"].read()
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
    return _django(environ, start_response)
'''

SETUP = '''\
"""migrate; then create the users read as JSON {name: password} from stdin."""
import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djk_settings")
import django  # noqa: E402

django.setup()
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402

if "--migrate" in sys.argv:
    call_command("migrate", verbosity=0, interactive=False)
for name, password in json.load(sys.stdin).items():
    # create_user hashes with Django's default hasher (PBKDF2-SHA256); the post_save signal
    # of djankiserv creates the user's schema (PostgreSQL) or database (MySQL).
    User.objects.create_user(name, password=password)
'''


def _write_project(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in (("djk_settings.py", SETTINGS), ("djk_urls.py", URLS),
                          ("djk_wsgi.py", WSGI), ("djk_setup.py", SETUP)):
        (directory / name).write_text(content)


# ---- databases ----------------------------------------------------------------------------


def _backend(url: URL) -> str:
    name = url.get_backend_name()
    if name in ("postgresql", "postgres"):
        return "postgres"
    if name in ("mysql", "mariadb"):
        return "mysql"
    raise ValueError(f"djankiserv supports PostgreSQL and MySQL/MariaDB only, not {name}")


def _sqlalchemy_url(url: URL, backend: str, database: str) -> URL:
    driver = "postgresql+psycopg2" if backend == "postgres" else "mysql+pymysql"
    return url.set(drivername=driver, database=database)


@contextlib.contextmanager
def _admin(url: URL, backend: str) -> Iterator[Connection]:
    """An autocommit connection to the database server behind `url`."""
    engine = create_engine(_sqlalchemy_url(url, backend, url.database or ""),
                           isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _mysql_databases(admin_url: URL) -> set[str]:
    with _admin(admin_url, "mysql") as conn:
        return {row[0] for row in conn.execute(text("SHOW DATABASES"))}


# ---- the server ---------------------------------------------------------------------------


@dataclass
class Djankiserv:
    """A running djankiserv and where it keeps its data."""

    url: str                    # http://127.0.0.1:PORT
    backend: str                # "postgres" or "mysql"
    database_url: str           # SQLAlchemy URL of the run's djk_<hex> database
    database_name: str
    admin_url: str              # the URL run_djankiserv was given (the database server)
    data_root: Path             # DJANKISERV_DATA_ROOT: user U's media files in data_root/U
    secret_key: str             # Django's SECRET_KEY (signs django_session.session_data)
    log_path: Path
    python: Path                # the venv's python
    project: Path               # the generated Django project (PYTHONPATH)
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    users: dict[str, str] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        """The custom sync server address a client is given (SYNC_ENDPOINT = this + sync/,
        SYNC_ENDPOINT_MEDIA = this + msync/)."""
        return f"{self.url}/{URL_BASE}"

    def user_schema(self, name: str) -> str:
        """Where `name`'s collection lives: a schema of `database_name` (PostgreSQL) or a
        database of that name on the server (MySQL), named after the user, unquoted."""
        return name

    def user_database_url(self, name: str) -> str:
        """SQLAlchemy URL of the database holding `name`'s tables."""
        url = make_url(self.database_url)
        if self.backend == "mysql":
            url = url.set(database=name)
        return url.render_as_string(hide_password=False)

    def media_dir(self, name: str) -> Path:
        return self.data_root / name

    def add_user(self, name: str, password: str) -> None:
        """Create a user with Django's own `create_user` (PBKDF2 hash, schema by signal)."""
        _check_username(name, self.backend, self.admin_url)
        self._setup({name: password}, migrate=False)
        self.users[name] = password

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def manage_python(self, code: str) -> str:
        """Run Python `code` with Django set up in the djankiserv venv; return stdout."""
        prelude = ("import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'djk_settings');"
                   " import django; django.setup()\n")
        done = subprocess.run([str(self.python), "-c", prelude + code], env=self.env,
                              capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"djankiserv python failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def _setup(self, users: Mapping[str, str], *, migrate: bool) -> None:
        args = [str(self.python), str(self.project / "djk_setup.py")]
        done = subprocess.run(args + (["--migrate"] if migrate else []),
                              input=json.dumps(dict(users)), env=self.env,
                              capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise DjankiservUnavailable(
                f"djankiserv setup failed: {_last_line(done.stderr)}\n{done.stderr[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _check_username(name: str, backend: str, admin_url: str) -> None:
    # djankiserv interpolates the name unquoted into SQL as a schema/database name
    # (`{username}.notes`) and asserts str.isidentifier(); PostgreSQL folds it to lower case
    # but djankiserv looks the schema up with the original spelling, so anything but
    # lower-case identifiers breaks it.
    if not USERNAME.fullmatch(name):
        raise ValueError(f"djankiserv needs a lower-case SQL identifier as user name: {name!r}")
    if backend == "mysql" and name in _mysql_databases(make_url(admin_url)):
        # The user's data would be that existing database: djankiserv reuses it silently.
        raise ValueError(f"a MySQL database named {name!r} already exists on the server")


@contextlib.contextmanager
def run_djankiserv(
    workdir: Path,
    database_url: str,
    users: Mapping[str, str] | None = None,
    *,
    workers: int = 1,
    keep_database: bool = False,
) -> Iterator[Djankiserv]:
    """Start djankiserv on a fresh database `djk_<hex>` of the server behind `database_url`
    (PostgreSQL or MySQL/MariaDB, e.g. TEST_POSTGRES_URL), with `users` created, and yield it.

    On exit the server stops and the database is dropped (with the users' MySQL databases)
    unless `keep_database`. Raises `DjankiservUnavailable` if the venv cannot be made.
    """
    users = dict(users or {})
    admin = make_url(database_url)
    backend = _backend(admin)
    for name in users:
        _check_username(name, backend, database_url)
    python = ensure_djankiserv_venv()

    workdir.mkdir(parents=True, exist_ok=True)
    project, data_root = workdir / "djkproj", workdir / "data"
    _write_project(project)
    data_root.mkdir(exist_ok=True)
    db_name = f"djk_{secrets.token_hex(6)}"
    secret_key = secrets.token_urlsafe(40)
    env = _clean_env()
    env.update({
        "PYTHONPATH": str(project),
        "DJANGO_SETTINGS_MODULE": "djk_settings",
        "DJK_SECRET_KEY": secret_key,
        "DJK_ENGINE": backend,
        "DJK_DB_NAME": db_name,
        "DJK_DB_USER": admin.username or ("postgres" if backend == "postgres" else "root"),
        "DJK_DB_PASSWORD": admin.password or "",
        "DJK_DB_HOST": admin.host or "127.0.0.1",
        "DJK_DB_PORT": str(admin.port or (5432 if backend == "postgres" else 3306)),
        "DJK_DATA_ROOT": str(data_root),
    })

    with _admin(admin, backend) as conn:
        if backend == "postgres":
            conn.execute(text(f'CREATE DATABASE "{db_name}"'))
        else:
            # utf8mb4 for Django's tables; djankiserv makes each user's database utf8 (3-byte)
            conn.execute(text(f"CREATE DATABASE `{db_name}` CHARACTER SET utf8mb4"))
    log_path = workdir / "djankiserv.log"
    server: Djankiserv | None = None
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        port = sock.getsockname()[1]
        with log_path.open("ab") as log:
            # migrate before gunicorn starts serving; users too (their schemas come with them)
            setup = subprocess.run(
                [str(python), str(project / "djk_setup.py"), "--migrate"],
                input=json.dumps(users).encode(), env=env, stdout=log, stderr=subprocess.STDOUT,
                timeout=300, check=False)
            if setup.returncode != 0:
                sock.close()
                raise DjankiservUnavailable(
                    f"djankiserv migrate/createuser failed:\n{log_path.read_text()[-3000:]}")
            process = subprocess.Popen(
                [str(python), "-m", "gunicorn", "--bind", f"fd://{sock.fileno()}",
                 "--workers", str(workers), "--timeout", "120", "--graceful-timeout", "5",
                 "--access-logfile", "-", "--error-logfile", "-", "djk_wsgi:application"],
                env=env, cwd=project, stdout=log, stderr=subprocess.STDOUT,
                pass_fds=(sock.fileno(),),
            )
        sock.close()
        server = Djankiserv(
            url=f"http://127.0.0.1:{port}", backend=backend,
            database_url=_sqlalchemy_url(admin, backend, db_name).render_as_string(
                hide_password=False),
            database_name=db_name, admin_url=database_url, data_root=data_root,
            secret_key=secret_key, log_path=log_path, python=python, project=project,
            env=env, process=process, users=dict(users),
        )
        _wait_healthy(server)
        yield server
    finally:
        if server is not None:
            server.stop()
        if not keep_database:
            _drop(admin, backend, db_name, list(server.users if server else users))


def _wait_healthy(server: Djankiserv, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise DjankiservUnavailable(f"djankiserv exited early:\n{server.log()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise DjankiservUnavailable(f"djankiserv did not answer:\n{server.log()[-3000:]}")


def _drop(admin: URL, backend: str, db_name: str, users: list[str]) -> None:
    with _admin(admin, backend) as conn:
        if backend == "postgres":
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
            return
        conn.execute(text(f"DROP DATABASE IF EXISTS `{db_name}`"))
        existing = {row[0] for row in conn.execute(text("SHOW DATABASES"))}
        for name in users:
            # the user's database, and the `<user>_<secs>_<frac>` one a failed upload leaves
            leftovers = [d for d in existing
                         if d == name or re.fullmatch(re.escape(name) + r"_\d+_\d+", d)]
            for database in leftovers:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{database}`"))
