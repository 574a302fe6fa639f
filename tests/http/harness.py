"""An in-process ankiserv app for HTTP tests, plus fresh accounts on it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from entrypoints.config import Settings
from entrypoints.wsgi import Services, build_app, build_services
from tests.http.wire import SyncClient

# Small, so the size-limit tests stay cheap: bodies > 1 MiB, payloads > 3 MiB are refused.
MAX_PAYLOAD_MB = 1
MIB = 1024 * 1024


@dataclass(frozen=True)
class Account:
    name: str
    password: str
    id: int
    key: str


@dataclass
class Api:
    """The Falcon app built by `entrypoints.wsgi`, its services and a v11 client for it."""

    client: SyncClient
    services: Services
    settings: Settings

    def new_account(self, *, login: bool = True) -> Account:
        """Create a user with a unique name; log in over HTTP unless `login` is false."""
        name = f"user-{uuid.uuid4().hex}"
        password = f"pw-{uuid.uuid4().hex[:10]}"
        user_id = self.services.accounts.add_user(name, password)
        key = self.client.login(name, password) if login else ""
        return Account(name=name, password=password, id=int(user_id), key=key)

    def close(self) -> None:
        self.services.close()


def start_api(data_dir: Path, database_url: str = "", **settings_: object) -> Api:
    """Build the app as `create_app` does, on `database_url` (default: SQLite in data_dir),
    with any other `settings_`."""
    # Many tests log in wrongly from one address: throttling is on only where asked.
    raw: dict[str, object] = {"data_dir": str(data_dir), "max_payload_mb": MAX_PAYLOAD_MB,
                              "login_throttle": False, **settings_}
    if database_url:
        raw["database_url"] = database_url
    settings = Settings.from_mapping(raw)
    services = build_services(settings, migrate=True)
    return Api(SyncClient(build_app(settings, services)), services, settings)
