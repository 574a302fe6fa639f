"""The `meta` step: tell the client what the server holds, or refuse to sync."""

from __future__ import annotations

import json
from dataclasses import dataclass

from domain.errors import UnsupportedVersion
from domain.model import (
    SYNC_VERSION_MAX,
    SYNC_VERSION_MIN,
    SYNC_VERSION_V2_SCHEDULER,
    SYNC_VERSION_V2_TIMEZONE,
    CollectionMeta,
)

V2_SCHEDULER_REFUSAL = "Your client does not support the v2 scheduler"
V2_TIMEZONE_REFUSAL = "Your client does not support the new timezone handling."


@dataclass(frozen=True, slots=True)
class MetaRequest:
    version: int
    client_version: str


@dataclass(frozen=True, slots=True)
class SchedulingFlags:
    """The two config keys that decide which sync versions may touch a collection."""

    sched_ver: int
    has_creation_offset: bool

    @classmethod
    def from_config(cls, sched_ver_json: str | None, offset_json: str | None) -> SchedulingFlags:
        sched_ver = _int_or(sched_ver_json, 1)
        has_offset = offset_json is not None and json.loads(offset_json) is not None
        return cls(sched_ver=sched_ver, has_creation_offset=has_offset)


@dataclass(frozen=True, slots=True)
class ServerMeta:
    mod: int
    scm: int
    usn: int
    ts: int
    msg: str
    cont: bool
    empty: bool
    media_usn: int
    host_num: int = 0


def check_version(version: int) -> None:
    """Raise `UnsupportedVersion` outside the sync versions this server speaks."""
    if not SYNC_VERSION_MIN <= version <= SYNC_VERSION_MAX:
        raise UnsupportedVersion(f"sync version {version} is not supported")


def server_meta(
    request: MetaRequest,
    col: CollectionMeta,
    flags: SchedulingFlags,
    *,
    empty: bool,
    media_usn: int,
    now_ms: int,
) -> ServerMeta:
    """Answer `meta`, refusing clients too old for the collection's scheduler."""
    check_version(request.version)
    msg = _refusal(request.version, flags)
    return ServerMeta(
        mod=col.mod,
        scm=col.scm,
        usn=col.usn,
        ts=now_ms // 1000,
        msg=msg,
        cont=not msg,
        empty=empty,
        media_usn=media_usn,
    )


def _refusal(version: int, flags: SchedulingFlags) -> str:
    if flags.sched_ver == 2 and version < SYNC_VERSION_V2_SCHEDULER:
        return V2_SCHEDULER_REFUSAL
    if flags.has_creation_offset and version < SYNC_VERSION_V2_TIMEZONE:
        return V2_TIMEZONE_REFUSAL
    return ""


def _int_or(text: str | None, default: int) -> int:
    if text is None:
        return default
    try:
        value = json.loads(text)
    except ValueError:
        return default
    return value if isinstance(value, int) and not isinstance(value, bool) else default
