"""`/metrics` after real clients synced with a server of two gunicorn workers: every
worker's requests are counted (prometheus-client's multiprocess mode), and the counts
match what the clients did."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from anki.errors import SyncError
from prometheus_client.parser import text_string_to_metric_families

from tests.media.devices import sync_media
from tests.support.anki_client import Profile, add_basic_note
from tests.support.server import RunningServer, add_user_in_process, start_server

pytestmark = pytest.mark.e2e
TOKEN = "metrics-token-" + uuid.uuid4().hex


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[RunningServer]:
    running = start_server(tmp_path / "server", db_url, workers=2,
                           ANKISERV_METRICS_TOKEN=TOKEN)
    yield running
    running.stop()


def _scrape(server: RunningServer, token: str | None = TOKEN) -> dict[tuple[str, tuple], float]:
    request = urllib.request.Request(f"{server.url}/metrics")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as answer:
        text = answer.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _sum(samples: dict[tuple[str, tuple], float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name
               and all((k, v2) in ls for k, v2 in labels.items()))


def test_metrics_count_what_real_clients_did(server: RunningServer, tmp_path: Path) -> None:
    name, password = f"user-{uuid.uuid4().hex[:8]}", "pw-" + uuid.uuid4().hex[:8]
    add_user_in_process(server, name, password)
    device = Profile.create(tmp_path / "device")
    with pytest.raises(SyncError):
        device.login(name, "wrong", server.endpoint)
    device.login(name, password, server.endpoint)
    add_basic_note(device.col, "metrics")
    assert device.col.media.write_data("m.txt", b"media bytes") == "m.txt"
    device.sync()  # a full upload
    sync_media(device)
    for i in range(3):
        add_basic_note(device.col, f"more {i}")
        device.sync()  # normal syncs
    device.close()
    time.sleep(0.5)  # the access lines of the last answers

    samples = _scrape(server)
    log = server.log()
    sync_calls = len(re.findall(r'"POST /sync/\w+ HTTP', log))
    counted = sum(v for (n, ls), v in samples.items() if n == "ankiserv_http_requests_total"
                  and dict(ls)["endpoint"].startswith(("/sync/", "/msync/")))
    media_calls = len(re.findall(r'"POST /msync/\w+ HTTP', log))
    assert counted == sync_calls + media_calls > 0  # every worker's requests, summed
    assert _sum(samples, "ankiserv_logins_total", result="ok") == 1
    assert _sum(samples, "ankiserv_logins_total", result="failed") == 1
    assert _sum(samples, "ankiserv_http_requests_total", endpoint="/sync/{method}:hostKey",
                status="403") == 1
    finished = len(re.findall(r'"POST /sync/finish HTTP', log))
    assert _sum(samples, "ankiserv_sync_step_seconds_count", step="finish") == finished == 3
    assert _sum(samples, "ankiserv_sync_step_seconds_count", step="upload") == 1
    assert _sum(samples, "ankiserv_full_sync_bytes_total", direction="upload") > 10_000
    assert _sum(samples, "ankiserv_media_bytes_total", direction="upload") > 0
    clients = {dict(ls)["client"] for (n, ls), v in samples.items()
               if n == "ankiserv_syncs_total" and v > 0}
    assert clients == {"26.09.3"}, clients  # the release, not its build or platform
    assert "ankiserv_db_connections_in_use" in {n for n, _ in samples}


def test_metrics_need_the_token_when_one_is_set(server: RunningServer) -> None:
    for token in (None, "wrong"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            _scrape(server, token)
        assert refused.value.code == 401
        refused.value.close()
    assert _scrape(server)
