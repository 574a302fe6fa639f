"""Processes that run the `anki` library on a user's time zone.

Anki's scheduler starts each day at the rollover hour in the local time of the process it
runs in (on a device, the device's own), and a process has one time zone. A user whose
devices recorded another zone than the server's gets their study collection opened in a
process set to that zone: a few such processes per zone and worker, started when first
needed (a second or two) and stopped after ten idle minutes. The worker holds the
collection's file lock; the process opens the collection, runs `AnkiStudyCollection`
methods on it and closes it, on messages over a pipe. It ends when its worker does (the
pipe closes).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ports.study import CardChanged, NoSuchCard

log = logging.getLogger("ankiserv.study")

PER_ZONE = 4  # processes per time zone and worker: users of one zone studying at once
IDLE_S = 600.0  # a process unused this long is stopped (zones change with daylight saving)
ANSWER_TIMEOUT_S = 900.0  # a first download of a large collection takes a while
MAX_MINUTES = 18 * 60  # the widest offset a time zone has ever had is under 15 hours


class HostFailed(Exception):
    """A study process did not answer (it is stopped and replaced)."""


def posix_zone(minutes_west: int) -> str:
    """A POSIX TZ value for a fixed offset, as Anki records one (minutes west of UTC)."""
    sign = "+" if minutes_west >= 0 else "-"
    hours, minutes = divmod(abs(minutes_west), 60)
    return f"ANKI{sign}{hours:02d}:{minutes:02d}"


def valid_zone(value: Any) -> int | None:
    """A recorded time zone (config `localOffset`) if it is a plausible one."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_MINUTES:
        return value
    return None


class ZoneHost:
    """One process on one time zone."""

    def __init__(self, minutes_west: int) -> None:
        # A fresh interpreter (no fork of a threaded worker). It imports the worker's main
        # module again unless that is a package's __main__; every launcher of ankiserv
        # (its command, `python -m entrypoints`, gunicorn's) guards its start-up code.
        context = multiprocessing.get_context("spawn")
        self._conn, theirs = context.Pipe()
        self._process = context.Process(
            target=serve, args=(theirs, posix_zone(minutes_west)), daemon=True,
            name=f"ankiserv-study-{posix_zone(minutes_west)}")
        self._process.start()
        theirs.close()
        self.broken = False
        self.idle_since = time.monotonic()

    @property
    def alive(self) -> bool:
        return not self.broken and self._process.is_alive()

    def _ask(self, message: tuple[Any, ...]) -> Any:
        try:
            self._conn.send(message)
            if not self._conn.poll(ANSWER_TIMEOUT_S):
                raise HostFailed("the study process did not answer in time")
            kind, value = self._conn.recv()
        except (OSError, EOFError, HostFailed) as e:
            self.stop()
            raise HostFailed(str(e) or type(e).__name__) from None
        if kind == "error":
            raise value
        return value

    def open(self, folder: Path) -> None:
        self._ask(("open", str(folder)))

    def call(self, name: str, *args: Any) -> Any:
        return self._ask(("call", name, args))

    def close(self) -> None:
        self._ask(("close",))

    def stop(self) -> None:
        self.broken = True
        self._process.kill()
        self._conn.close()


class ZoneHosts:
    """The worker's study processes, by time zone."""

    def __init__(self, per_zone: int = PER_ZONE, idle_s: float = IDLE_S) -> None:
        self._per_zone, self._idle_s = per_zone, idle_s
        self._idle: dict[int, list[ZoneHost]] = {}
        self._started: dict[int, int] = {}
        self._changed = threading.Condition()

    @contextmanager
    def opened(self, minutes_west: int, folder: Path) -> Iterator[ZoneHost]:
        """A process of that zone with the collection in `folder` open in it."""
        host = self._take(minutes_west)
        try:
            host.open(folder)
            try:
                yield host
            finally:
                host.close()
        finally:
            self._give(minutes_west, host)

    def _take(self, zone: int) -> ZoneHost:
        self._reap()
        with self._changed:
            while True:
                idle = self._idle.get(zone)
                if idle:
                    return idle.pop()
                if self._started.get(zone, 0) < self._per_zone:
                    self._started[zone] = self._started.get(zone, 0) + 1
                    break
                self._changed.wait()
        try:
            return ZoneHost(zone)
        except BaseException:
            self._forget(zone)
            raise

    def _give(self, zone: int, host: ZoneHost) -> None:
        if not host.alive:
            self._forget(zone)
            return
        host.idle_since = time.monotonic()
        with self._changed:
            self._idle.setdefault(zone, []).append(host)
            self._changed.notify()

    def _reap(self) -> None:
        """Stop the processes that have been idle too long."""
        old = time.monotonic() - self._idle_s
        with self._changed:
            stale = [(zone, host) for zone, hosts in self._idle.items() for host in hosts
                     if host.idle_since < old]
            for zone, host in stale:
                self._idle[zone].remove(host)
                self._started[zone] -= 1
            if stale:
                self._changed.notify_all()
        for _zone, host in stale:
            host.stop()

    @property
    def running(self) -> int:
        with self._changed:
            return sum(self._started.values())

    def _forget(self, zone: int) -> None:
        with self._changed:
            self._started[zone] -= 1
            self._changed.notify()


def _portable(error: Exception) -> Exception:
    """`error` as it can cross the pipe: the port's own errors as they are, others by
    their type and message (the library's do not all survive pickling)."""
    from adapters.study.anki_collection import OldScheduler

    if isinstance(error, CardChanged | NoSuchCard | OldScheduler):
        return error
    return RuntimeError(f"{type(error).__name__}: {error}")


def serve(conn: Connection, zone: str) -> None:
    """The study process: on `zone`'s clock, open, call and close as the worker asks."""
    os.environ["TZ"] = zone
    time.tzset()
    from anki.collection import Collection

    from adapters.study.anki_collection import AnkiStudyCollection

    col: Collection | None = None
    study: AnkiStudyCollection | None = None
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the worker is gone
        try:
            value: Any = None
            if message[0] == "open":
                folder = Path(message[1])
                col = Collection(str(folder / "collection.anki2"))
                study = AnkiStudyCollection(col, folder)
            elif message[0] == "close":
                if col is not None:
                    col.close()
                col = study = None
            elif study is not None:
                value = getattr(study, message[1])(*message[2])
            else:
                raise RuntimeError("no collection is open")
            conn.send(("ok", value))
        except Exception as e:
            conn.send(("error", _portable(e)))
