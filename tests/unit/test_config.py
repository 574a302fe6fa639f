"""Settings: defaults, ANKISERV_* variables, the TOML file, and one clear line per mistake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from entrypoints.config import MIB, ConfigError, Settings

ANKISERV = [sys.executable, "-m", "entrypoints"]


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ankiserv.toml"
    path.write_text(text, encoding="utf-8")
    return path


# Defaults


def test_defaults_are_the_documented_ones() -> None:
    settings = Settings.from_env({})
    assert settings.data_dir == Path("ankiserv-data")
    assert settings.database_url == ""
    assert settings.effective_media_dir == Path("ankiserv-data") / "media"
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    assert settings.workers == 2
    assert settings.log_level == "INFO"
    assert settings.base_path == "/"
    assert settings.user == ""
    assert settings.max_payload_mb == 100
    assert settings.access_log is False  # no per-request log work unless asked for
    assert settings.download_cache is True
    assert settings.threads == 4


def test_default_database_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings.from_env({"ANKISERV_DATA_DIR": str(tmp_path / "data")})
    url = make_url(settings.effective_database_url)
    assert url.get_backend_name() == "sqlite"
    assert url.database is not None
    assert Path(url.database) == (tmp_path / "data" / "ankiserv.db").resolve()


def test_default_data_dir_is_absolute_in_the_database_url() -> None:
    """A relative data dir must not make the database depend on a later chdir."""
    url = make_url(Settings.from_env({}).effective_database_url)
    assert url.database is not None and Path(url.database).is_absolute()
    assert Path(url.database).name == "ankiserv.db"


def test_payload_limits_default_to_100_mb_and_three_times_that_decompressed() -> None:
    settings = Settings.from_env({})
    assert settings.max_body_bytes == 100 * MIB
    assert settings.max_decompressed_bytes == 3 * 100 * MIB


def test_payload_limits_follow_the_setting() -> None:
    settings = Settings.from_env({"ANKISERV_MAX_PAYLOAD_MB": "7"})
    assert settings.max_body_bytes == 7 * MIB
    assert settings.max_decompressed_bytes == 21 * MIB


# Environment and TOML


def test_environment_overrides_every_default(tmp_path: Path) -> None:
    settings = Settings.from_env({
        "ANKISERV_DATABASE_URL": "postgresql://u:p@db/anki",
        "ANKISERV_DATA_DIR": str(tmp_path),
        "ANKISERV_HOST": "127.0.0.1",
        "ANKISERV_PORT": "27701",
        "ANKISERV_WORKERS": "5",
        "ANKISERV_MAX_PAYLOAD_MB": "250",
        "ANKISERV_LOG_LEVEL": "debug",
        "ANKISERV_BASE_PATH": "/anki",
        "ANKISERV_USER": "alice:pa:ss",
    })
    assert settings.database_url == "postgresql://u:p@db/anki"
    assert settings.effective_database_url == "postgresql://u:p@db/anki"
    assert settings.data_dir == tmp_path
    assert settings.host == "127.0.0.1"
    assert settings.port == 27701
    assert settings.workers == 5
    assert settings.max_payload_mb == 250
    assert settings.log_level == "DEBUG"
    assert settings.base_path == "/anki/"
    assert settings.user == "alice:pa:ss"


@pytest.mark.parametrize(("text", "on"), [("1", True), ("true", True), ("Yes", True),
                                          ("on", True), ("0", False), ("false", False),
                                          ("off", False), ("", False)])
def test_access_log_is_a_yes_or_no(text: str, on: bool) -> None:
    assert Settings.from_env({"ANKISERV_ACCESS_LOG": text}).access_log is on


def test_unrelated_environment_is_ignored() -> None:
    settings = Settings.from_env({"PORT": "1", "ANKISERVPORT": "2", "HOME": "/nowhere"})
    assert settings.port == 8080


def test_toml_file_overrides_defaults(tmp_path: Path) -> None:
    path = _toml(tmp_path, """
        port = 9000
        workers = 3
        log_level = "WARNING"
        data_dir = "/srv/anki"
        max_payload_mb = 50
        user = "bob:pw"
    """)
    settings = Settings.from_env({"ANKISERV_CONFIG": str(path)})
    assert (settings.port, settings.workers, settings.log_level) == (9000, 3, "WARNING")
    assert settings.data_dir == Path("/srv/anki")
    assert settings.max_payload_mb == 50
    assert settings.user == "bob:pw"


def test_toml_settings_may_sit_in_an_ankiserv_table(tmp_path: Path) -> None:
    path = _toml(tmp_path, '[ankiserv]\nport = 9001\nhost = "::1"\n')
    settings = Settings.from_env({"ANKISERV_CONFIG": str(path)})
    assert (settings.port, settings.host) == (9001, "::1")


def test_environment_wins_over_toml(tmp_path: Path) -> None:
    path = _toml(tmp_path, 'port = 9000\nworkers = 3\nlog_level = "ERROR"\n')
    settings = Settings.from_env({
        "ANKISERV_CONFIG": str(path), "ANKISERV_PORT": "9100", "ANKISERV_LOG_LEVEL": "info",
    })
    assert settings.port == 9100
    assert settings.log_level == "INFO"
    assert settings.workers == 3  # not overridden: the file's value stays


def test_environment_fixes_an_invalid_toml_value(tmp_path: Path) -> None:
    path = _toml(tmp_path, "port = 0\n")
    assert Settings.from_env({"ANKISERV_CONFIG": str(path), "ANKISERV_PORT": "1"}).port == 1


# Invalid values: ConfigError, one line, naming the setting


def _error(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(environ)
    message = str(raised.value)
    assert message.strip(), "the message says something"
    assert "\n" not in message, "one line"
    return message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ANKISERV_PORT", "abc"),
        ("ANKISERV_PORT", "0"),
        ("ANKISERV_PORT", "65536"),
        ("ANKISERV_PORT", "-1"),
        ("ANKISERV_PORT", ""),
        ("ANKISERV_WORKERS", "0"),
        ("ANKISERV_WORKERS", "two"),
        ("ANKISERV_MAX_PAYLOAD_MB", "0"),
        ("ANKISERV_MAX_PAYLOAD_MB", "1.5"),
        ("ANKISERV_LOG_LEVEL", "LOUD"),
        ("ANKISERV_LOG_LEVEL", ""),
        ("ANKISERV_DATABASE_URL", "oracle://x"),
        ("ANKISERV_DATABASE_URL", "not a url"),
        ("ANKISERV_USER", "alice"),
        ("ANKISERV_USER", "alice:"),
        ("ANKISERV_LOG_FORMAT", "xml"),
        ("ANKISERV_QUOTA_MEDIA_MB", "-1"),
        ("ANKISERV_QUOTA_COLLECTION_MB", "lots"),
        ("ANKISERV_TRUSTED_PROXIES", "10.0.0.0/8,not-an-address"),
        ("ANKISERV_PORT", "¹"),
        ("ANKISERV_USER", ":secret"),
        ("ANKISERV_USER", " :secret"),
        ("ANKISERV_BASE_PATH", "anki"),
        ("ANKISERV_ACCESS_LOG", "maybe"),
        ("ANKISERV_DOWNLOAD_CACHE", "sometimes"),
        ("ANKISERV_THREADS", "0"),
        ("ANKISERV_THREADS", "many"),
        ("ANKISERV_REQUEST_ARRIVAL_TIMEOUT_S", "0"),
        ("ANKISERV_REQUEST_ARRIVAL_TIMEOUT_S", "soon"),
        ("ANKISERV_MAX_ARRIVING_PER_ADDRESS", "-1"),
        ("ANKISERV_PUBLIC_URL", "example.org/anki/"),
        ("ANKISERV_PUBLIC_URL", "ftp://example.org/"),
        ("ANKISERV_PUBLIC_URL", "https://example.org/?x=1"),
    ],
)
def test_invalid_value_is_one_line_naming_the_setting(key: str, value: str) -> None:
    assert key in _error({key: value})


def test_invalid_value_in_toml_names_the_setting(tmp_path: Path) -> None:
    path = _toml(tmp_path, 'port = "abc"\n')
    assert "PORT" in _error({"ANKISERV_CONFIG": str(path)})


def test_unknown_key_in_toml_is_named(tmp_path: Path) -> None:
    path = _toml(tmp_path, "port = 8080\nprot = 8081\n")
    message = _error({"ANKISERV_CONFIG": str(path)})
    assert "prot" in message


def test_unreadable_config_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    assert str(missing) in _error({"ANKISERV_CONFIG": str(missing)})


def test_malformed_toml_is_named(tmp_path: Path) -> None:
    path = _toml(tmp_path, "port = = 3\n[unclosed\n")
    assert str(path) in _error({"ANKISERV_CONFIG": str(path)})


@pytest.mark.parametrize(
    ("text", "setting"),
    [("port = true\n", "PORT"), ("workers = 2.7\n", "WORKERS")],
    ids=["bool-port", "float-workers"],
)
def test_toml_numbers_must_be_integers(tmp_path: Path, text: str, setting: str) -> None:
    path = _toml(tmp_path, text)
    assert setting in _error({"ANKISERV_CONFIG": str(path)})


# Through the command line: exit code 2 and exactly one line on stderr


def _ankiserv(tmp_path: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "ANKISERV_DATA_DIR": str(tmp_path / "data"), **settings}
    return subprocess.run(
        [*ANKISERV, *args], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=60, check=False,
    )


def test_cli_with_invalid_port_exits_2_with_one_line(tmp_path: Path) -> None:
    result = _ankiserv(tmp_path, "user", "list", ANKISERV_PORT="abc")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "ANKISERV_PORT" in lines[0]
    assert not (tmp_path / "data").exists()  # nothing was created


def test_cli_with_unknown_database_driver_exits_2_with_one_line(tmp_path: Path) -> None:
    result = _ankiserv(
        tmp_path, "user", "list", ANKISERV_DATABASE_URL="postgresql+nosuchdriver://h/db"
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "ANKISERV_DATABASE_URL" in result.stderr
