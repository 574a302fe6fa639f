"""Settings: read once from ANKISERV_* environment variables and an optional TOML file."""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from adapters.http.client_address import networks

PREFIX = "ANKISERV_"
MIB = 1024 * 1024
LOG_FORMATS = ("human", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """A setting is invalid; the message is one line fit for an operator."""


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path = Path("./ankiserv-data")
    database_url: str = ""
    media_dir: Path | None = None
    host: str = "0.0.0.0"
    port: int = 8080
    workers: int = 2
    threads: int = 4  # per worker process
    max_payload_mb: int = 100
    media_max_file_mb: int = 100
    log_level: str = "INFO"
    log_format: str = "human"  # or "json": one JSON object per line
    # One line per HTTP request (eight per sync) on stderr; off, it costs nothing.
    access_log: bool = False
    # Keep each user's last uploaded or built collection file for the next full download.
    download_cache: bool = True
    base_path: str = "/"
    # The address clients are told to use (the web pages' setup instructions); empty: the
    # one the browser used, through trusted proxies' X-Forwarded-Proto/Host.
    public_url: str = ""
    # "name:password": created (or its password updated) when `serve` starts.
    user: str = ""
    # Reverse proxies whose X-Forwarded-For names the client (comma-separated addresses
    # or CIDR ranges); from anyone else the header is ignored.
    trusted_proxies: str = ""
    # Delay logins after failed ones, per user name and per client address.
    login_throttle: bool = True
    # With a token, `/metrics` answers only `Authorization: Bearer <token>`.
    metrics_token: str = ""
    # Default quotas per user in MB (0: no limit); `ankiserv user quota` sets a user's own.
    quota_collection_mb: int = 0
    quota_media_mb: int = 0
    # A request's head must arrive within this many seconds, its body within that plus a
    # second per KiB; slower senders are cut off (408) rather than served.
    request_arrival_timeout_s: int = 20
    # Slow requests (arriving for over a second) one client address may have at once, per
    # worker (0: no limit); trusted proxies are exempt.
    max_arriving_per_address: int = 16
    # AnkiConnect: the web origins allowed to call it (comma-separated, as the add-on's
    # webCorsOriginList; "http://localhost" also admits browser extensions; "*": any),
    # and whether storeMediaFile may fetch a URL the caller names (off: no fetching), also
    # from private addresses (off: public ones only, not the server's own network).
    ankiconnect_origins: str = "http://localhost"
    ankiconnect_fetch_urls: bool = False
    ankiconnect_fetch_private: bool = False

    @property
    def max_body_bytes(self) -> int:
        """Largest compressed request body, like the official server's limit."""
        return self.max_payload_mb * MIB

    @property
    def max_decompressed_bytes(self) -> int:
        return 3 * self.max_payload_mb * MIB

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ankiserv.db').resolve()}"

    @property
    def effective_media_dir(self) -> Path:
        return self.media_dir if self.media_dir is not None else self.data_dir / "media"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    @property
    def downloads_dir(self) -> Path:
        """Collection files kept for full downloads (on the file system of `tmp_dir`)."""
        return self.data_dir / "downloads"

    @property
    def ankiconnect_origin_list(self) -> tuple[str, ...]:
        return tuple(o.strip() for o in self.ankiconnect_origins.split(",") if o.strip())

    @property
    def study_dir(self) -> Path:
        """The collections studied in the browser, one folder per user (a copy of what
        the database holds, synced with it; safe to delete)."""
        return self.data_dir / "study"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from a TOML file (ANKISERV_CONFIG) overlaid by ANKISERV_* variables."""
        raw: dict[str, Any] = {}
        config_file = environ.get(f"{PREFIX}CONFIG")
        if config_file:
            raw.update(_read_toml(Path(config_file)))
        names = {f"{PREFIX}{f.name.upper()}": f.name for f in fields(cls)}
        for key, value in environ.items():
            if not key.startswith(PREFIX) or key == f"{PREFIX}CONFIG":
                continue
            if key not in names:
                raise ConfigError(f"unknown setting {key} (known: {', '.join(sorted(names))})")
            raw[names[key]] = value
        return cls.from_mapping(raw)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> Settings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        settings = cls()
        for name, value in raw.items():
            settings = replace(settings, **{name: _convert(name, value)})
        settings.validate()
        return settings

    def validate(self) -> None:
        for env, value, low, high in (
            ("ANKISERV_PORT", self.port, 1, 65535),
            ("ANKISERV_THREADS", self.threads, 1, 256),
            ("ANKISERV_MAX_PAYLOAD_MB", self.max_payload_mb, 1, 4096),
            ("ANKISERV_MEDIA_MAX_FILE_MB", self.media_max_file_mb, 1, 4096),
            ("ANKISERV_QUOTA_COLLECTION_MB", self.quota_collection_mb, 0, 10**9),
            ("ANKISERV_QUOTA_MEDIA_MB", self.quota_media_mb, 0, 10**9),
            ("ANKISERV_WORKERS", self.workers, 1, 1024),
            ("ANKISERV_REQUEST_ARRIVAL_TIMEOUT_S", self.request_arrival_timeout_s, 1, 3600),
            ("ANKISERV_MAX_ARRIVING_PER_ADDRESS", self.max_arriving_per_address, 0, 10**6),
        ):
            if not low <= value <= high:
                raise ConfigError(f"{env} must be {low}-{high}, got {value}")
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(
                f"ANKISERV_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {self.log_level}"
            )
        if not self.base_path.startswith("/"):
            raise ConfigError(f"ANKISERV_BASE_PATH must start with '/', got {self.base_path!r}")
        if self.database_url:
            _check_database_url(self.database_url)
        _check_initial_user(self.user)
        _check_public_url(self.public_url)
        _check_trusted_proxies(self.trusted_proxies)
        for origin in self.ankiconnect_origin_list:
            if origin != "*" and not urlsplit(origin).scheme:
                raise ConfigError(f"ANKISERV_ANKICONNECT_ORIGINS: {origin!r} is not an origin"
                                  " like http://localhost or chrome-extension://ID, nor *")
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(f"ANKISERV_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)},"
                              f" got {self.log_format!r}")

    def log_level_number(self) -> int:
        return int(logging.getLevelName(self.log_level))


def _check_trusted_proxies(spec: str) -> None:
    try:
        networks(spec.split(",") if spec else ())
    except ValueError as e:
        raise ConfigError(f"ANKISERV_TRUSTED_PROXIES: {e}") from None


def _check_public_url(url: str) -> None:
    if not url:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query \
            or parts.fragment:
        raise ConfigError(f"ANKISERV_PUBLIC_URL must be an http:// or https:// address like"
                          f" https://example.org/anki/, got {url!r}")


def _check_initial_user(spec: str) -> None:
    if spec:
        name, colon, password = spec.partition(":")
        if not colon or not name.strip() or not password:
            raise ConfigError("ANKISERV_USER must look like NAME:PASSWORD, with a name and a"
                              " password that are not empty")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    section = data.get("ankiserv", data)
    if not isinstance(section, dict):
        raise ConfigError(f"config file {path}: [ankiserv] must be a table")
    return section


def _convert(name: str, value: Any) -> Any:
    env = f"{PREFIX}{name.upper()}"
    if name in ("port", "workers", "threads", "max_payload_mb", "media_max_file_mb",
                "quota_collection_mb", "quota_media_mb", "request_arrival_timeout_s",
                "max_arriving_per_address"):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.isascii() and value.strip().lstrip("-").isdigit():
            return int(value)
        raise ConfigError(f"{env} must be an integer, got {value!r}")
    if name in ("access_log", "download_cache", "login_throttle", "ankiconnect_fetch_urls",
                "ankiconnect_fetch_private"):
        return _boolean(env, value)
    if name in ("data_dir", "media_dir"):
        return Path(str(value)).expanduser()
    if name == "log_level":
        return str(value).upper()
    if name == "log_format":
        return str(value).strip().lower()
    if name == "base_path":
        text = str(value)
        return text if text.endswith("/") else text + "/"
    return str(value)


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def _boolean(env: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ConfigError(f"{env} must be true or false, got {value!r}")


def _check_database_url(url: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from adapters.sql.dialects import normalise_url

    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError:
        raise ConfigError(f"ANKISERV_DATABASE_URL is not a database URL: {url!r}") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql", "mysql", "mariadb"):
        raise ConfigError(
            f"ANKISERV_DATABASE_URL: unsupported database {backend!r} "
            "(use sqlite, postgresql or mysql/mariadb)"
        )
    try:
        parsed.get_dialect()
    except NoSuchModuleError:
        raise ConfigError(
            f"ANKISERV_DATABASE_URL: unknown database driver {parsed.drivername!r}"
        ) from None


def settings_from_environment() -> Settings:
    return Settings.from_env(os.environ)
