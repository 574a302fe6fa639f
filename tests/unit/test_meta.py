"""The `meta` rules: version checks and refusals for clients too old for a collection."""

from __future__ import annotations

import pytest

from domain.errors import UnsupportedVersion
from domain.model import CollectionMeta
from domain.sync.meta import (
    V2_SCHEDULER_REFUSAL,
    V2_TIMEZONE_REFUSAL,
    MetaRequest,
    SchedulingFlags,
    server_meta,
)

COL = CollectionMeta(crt=1, mod=1795671261022, scm=1795671260973, ver=11, dty=0, usn=7, ls=0)


def meta(version: int, flags: SchedulingFlags) -> object:
    return server_meta(MetaRequest(version, "test"), COL, flags, empty=False, media_usn=3,
                       now_ms=1795671262999)


V1 = SchedulingFlags(sched_ver=1, has_creation_offset=False)


@pytest.mark.parametrize("version", [0, 7, 12, 99])
def test_versions_outside_8_to_11_are_unsupported(version: int) -> None:
    with pytest.raises(UnsupportedVersion):
        meta(version, V1)


def test_meta_reports_stored_values_and_server_time_in_seconds() -> None:
    answer = server_meta(MetaRequest(11, ""), COL, V1, empty=True, media_usn=3,
                         now_ms=1795671262999)
    assert (answer.mod, answer.scm, answer.usn) == (COL.mod, COL.scm, COL.usn)
    assert answer.ts == 1795671262
    assert answer.cont and answer.msg == ""
    assert answer.empty and answer.media_usn == 3 and answer.host_num == 0


def test_v2_scheduler_collection_refuses_version_8() -> None:
    flags = SchedulingFlags(sched_ver=2, has_creation_offset=False)
    answer = server_meta(MetaRequest(8, ""), COL, flags, empty=False, media_usn=0, now_ms=0)
    assert not answer.cont and answer.msg == V2_SCHEDULER_REFUSAL
    ok = server_meta(MetaRequest(9, ""), COL, flags, empty=False, media_usn=0, now_ms=0)
    assert ok.cont


def test_v2_timezone_collection_refuses_version_9() -> None:
    flags = SchedulingFlags(sched_ver=2, has_creation_offset=True)
    answer = server_meta(MetaRequest(9, ""), COL, flags, empty=False, media_usn=0, now_ms=0)
    assert not answer.cont and answer.msg == V2_TIMEZONE_REFUSAL
    assert server_meta(MetaRequest(10, ""), COL, flags, empty=False, media_usn=0, now_ms=0).cont


@pytest.mark.parametrize(
    ("sched", "offset", "expected"),
    [
        (None, None, SchedulingFlags(1, False)),
        ("2", None, SchedulingFlags(2, False)),
        ("2", "null", SchedulingFlags(2, False)),
        ("2", "-60", SchedulingFlags(2, True)),
        ("not json", "0", SchedulingFlags(1, True)),
        ("true", None, SchedulingFlags(1, False)),
    ],
)
def test_scheduling_flags_read_from_config_json(
    sched: str | None, offset: str | None, expected: SchedulingFlags
) -> None:
    assert SchedulingFlags.from_config(sched, offset) == expected
