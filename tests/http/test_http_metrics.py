"""`/metrics` in one process: what a conflict and a refused login add."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.http.harness import Account, Api
from tests.http.wire import SYNC_HEADER, frame, header_value


def _value(api: Api, name: str, **labels: str) -> float:
    text = api.client.http.simulate_get("/metrics").text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_a_sync_interrupted_by_another_device_counts_as_a_conflict(
    sqlite_api: Api, account: Account
) -> None:
    client = sqlite_api.client
    before = _value(sqlite_api, "ankiserv_sync_conflicts_total")
    start = {"minUsn": 0, "lnewer": False}
    first = client.post_json("start", start, key=account.key)
    assert first.status == 200
    # Another device starts: the first one's next step is refused with 409.
    other = client.http.simulate_post(
        "/sync/start", body=frame(b'{"minUsn": 0, "lnewer": false}'),
        headers={SYNC_HEADER: header_value(account.key, session="other")})
    assert other.status_code == 200
    assert client.post_json("applyChanges", {"changes": {}}, key=account.key).status == 409
    assert _value(sqlite_api, "ankiserv_sync_conflicts_total") == before + 1


def test_metrics_answer_in_prometheus_text_format(sqlite_api: Api) -> None:
    result = sqlite_api.client.http.simulate_get("/metrics")
    assert result.status_code == 200
    assert result.headers["content-type"].startswith("text/plain; version=")
    assert "ankiserv_http_requests_total" in result.text
