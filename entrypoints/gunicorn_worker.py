"""gunicorn's threaded worker, with requests read whole before a thread takes them.

Stock gthread hands a connection to a thread as soon as its first byte arrives, and the
thread then blocks reading the rest: a handful of clients sending a byte every few
seconds hold every thread, and everyone else waits. Here the worker's event loop reads
each request (head and body) itself, without blocking, and a thread gets it only once it
has arrived; bodies beyond 1 MiB wait in a temporary file. A request must arrive in time
(its head within `arrival_timeout_s`, its body within that plus one second per
MIN_RATE_BYTES_PER_S bytes received), and one client address may have only
`max_arriving_per_address` slow ones (arriving for over SLOW_AFTER_S) at once: slow senders
are cut off, not served.
"""

from __future__ import annotations

import contextlib
import errno
import io
import ipaddress
import logging
import os
import queue
import select
import selectors
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any

from gunicorn.workers.gthread import (
    STOP_KEEPALIVE_LINGER,
    PollableMethodQueue,
    TConn,
    ThreadWorker,
)

from adapters.http.arrival import ChunkedEnd, Framing, Head, parse_head, without_expect
from adapters.http.client_address import Network

MIN_RATE_BYTES_PER_S = 1024
SLOW_AFTER_S = 1.0  # an arriving request older than this counts against its address
MEMORY_BYTES = 1 << 20  # per arriving body; beyond it, a temporary file
READ_BYTES = 256 * 1024
TIMEOUT_ANSWER = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
BUSY_ANSWER = (b"HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nRetry-After: 1\r\n"
               b"Content-Length: 0\r\n\r\n")
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
UNAVAILABLE_ANSWER = (b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                      b"Retry-After: 1\r\nContent-Length: 0\r\n\r\n")
HEAD_TOO_LARGE_ANSWER = (b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n"
                         b"Content-Length: 0\r\n\r\n")
MALFORMED_ANSWER = (b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain"
                    b"\r\nContent-Length: 22\r\n\r\nmalformed chunked body")
BODY_TOO_LARGE_ANSWER = (b"HTTP/1.1 413 Content Too Large\r\nConnection: close\r\n"
                         b"Content-Length: 0\r\n\r\n")
SEND_BLOCK = 64 * 1024
HELD_HEAD_BYTES = 16 * 1024  # an answer's head up to this size waits for its body
HEARTBEAT_S = 1.0
# A worker that already has a connection stops accepting for this long after taking
# another, so that connections opened together are shared among the workers (see accept).
ACCEPT_PAUSE_S = 0.002
# How long a thread that answered a request waits on its connection for the next one
# when the worker is otherwise idle: a syncing client sends its next request within about
# a millisecond, and reading it here saves the round trip through the event loop.
LINGER_S = 0.003
_log = logging.getLogger("ankiserv.http")


def _peer(sock: socket.socket) -> str:
    try:
        return str(sock.getpeername()[0])
    except OSError:
        return "a client"


class SettingsReadOnce:
    """gunicorn's settings as a worker reads them: each setting's value is looked up once,
    then read as a plain attribute. gunicorn's `Config` finds a setting through
    `__getattr__` and the setting's `get()` on every read, about 25 reads per request
    (3 % of a worker's CPU for a `meta` request). A worker's settings never change: a
    reload starts new workers. Everything that is not a setting (methods, derived
    properties) is read from the real config each time."""

    def __init__(self, cfg: Any) -> None:
        self.__dict__["_cfg"] = cfg

    def __getattr__(self, name: str) -> Any:
        cfg = self.__dict__["_cfg"]
        value = getattr(cfg, name)
        if name in cfg.settings:
            self.__dict__[name] = value
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"gunicorn settings are read-only in a worker: {name}")


@dataclass(frozen=True)
class ArrivalLimits:
    arrival_timeout_s: float
    max_arriving_per_address: int  # 0: no limit
    max_body_bytes: int  # larger declared bodies go on at once, to be refused
    spool_dir: Path
    exempt: tuple[Network, ...] = ()  # trusted reverse proxies: they buffer, and speak for many


class ReplaySocket:
    """A connection's socket that first gives back the request read ahead of the parser."""

    def __init__(self, sock: socket.socket, send_timeout_s: float, peer: str = "") -> None:
        self._sock = sock
        self.peer = peer  # the client's address
        self.address = _address_key(peer)  # whom the connection counts against
        self._head = b""
        self._body: IO[bytes] | None = None
        self._send_timeout_s = send_timeout_s
        self.whole = False  # the request being replayed is all here, body included
        self._answer_started = True
        self._held = b""

    def replay(self, head: bytes, body: IO[bytes] | None, *, whole: bool) -> None:
        self._head, self._body, self.whole = head, body, whole
        self._answer_started = False

    def recv(self, size: int, flags: int = 0) -> bytes:
        if self._head:
            data, self._head = self._head[:size], self._head[size:]
            return data
        if self._body is not None:
            if data := self._body.read(size):
                return data
            self._forget_body()
        return self._sock.recv(size, flags)

    def sendall(self, data: bytes | memoryview) -> None:
        """Send like `socket.sendall`, but give up on a client that stops reading: each
        SEND_BLOCK must leave within the timeout (so at least SEND_BLOCK per timeout).

        gunicorn sends an answer's head and its body apart: the head is held and goes out
        with the body's first bytes (or at `flush`), one system call and one segment for a
        small answer instead of two."""
        if not self._answer_started:
            self._answer_started = True
            if len(data) <= HELD_HEAD_BYTES and bytes(data[:5]) == b"HTTP/" and bytes(
                    data[-4:]) == b"\r\n\r\n":
                self._held = bytes(data)
                return
        if self._held:
            data, self._held = self._held + bytes(data), b""
        self._send(data)

    def flush(self) -> None:
        """Send a held head: the answer has no body, or no more is coming now."""
        if self._held:
            data, self._held = self._held, b""
            self._send(data)

    def sendfile(self, file: IO[bytes], offset: int = 0, count: int | None = None) -> int:
        self.flush()
        with self._cut_off_slow_readers():
            return self._sock.sendfile(file, offset, count)

    def shutdown(self, how: int) -> None:
        with contextlib.suppress(OSError):
            self.flush()
        self._sock.shutdown(how)

    def _send(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        self.settimeout(self._send_timeout_s)
        with self._cut_off_slow_readers():
            for at in range(0, len(view), SEND_BLOCK):
                self._sock.sendall(view[at:at + SEND_BLOCK])

    @contextlib.contextmanager
    def _cut_off_slow_readers(self) -> Iterator[None]:
        try:
            yield
        except TimeoutError:
            _log.info("cut off an answer to %s reading too slowly", _peer(self._sock))
            # gunicorn drops the connection quietly on EPIPE, as when a client goes away
            raise BrokenPipeError(errno.EPIPE, "client reads too slowly") from None

    def receive_by(self, deadline: float) -> bytes:
        """What the client sends by `deadline` (time.monotonic), without blocking past it;
        b"" for nothing, an error or the end of the stream (which the event loop sees)."""
        wait_ms = (deadline - time.monotonic()) * 1000
        poll = select.poll()
        poll.register(self._sock, select.POLLIN)
        if wait_ms <= 0 or not poll.poll(wait_ms):
            return b""
        try:
            return self._sock.recv(READ_BYTES, socket.MSG_DONTWAIT)
        except OSError:
            return b""

    def settimeout(self, value: float | None) -> None:
        """Each change is a system call that lets go of the GIL: gunicorn asks for the mode
        a socket is already in several times per request."""
        if self._sock.gettimeout() != value:
            self._sock.settimeout(value)

    def setblocking(self, flag: bool) -> None:
        # Blocking, for a thread, means blocking with the send timeout: a read of a request
        # handed on unread, or a sendfile, gives up on a stalled client too.
        self.settimeout(self._send_timeout_s if flag else 0.0)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.flush()
        self._forget_body()
        self._sock.close()

    def _forget_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


@dataclass
class Arrival:
    """One request being read by the event loop."""

    conn: Any
    address: str
    deadline: float
    head: bytearray = field(default_factory=bytearray)
    framing: Head | None = None
    body: IO[bytes] | None = None
    body_bytes: int = 0
    chunks: ChunkedEnd | None = None
    started: float = field(default_factory=time.monotonic)


class CoalescedWakeQueue(PollableMethodQueue):  # type: ignore[misc]
    """gunicorn's queue of work for the event loop, woken once for all the work queued
    before it runs: each finished request queues its connection, and under load many
    finish while the loop is busy (each wake is a pipe write and two thread switches)."""

    def init(self) -> None:
        super().init()
        self._wake_pending = False

    def defer(self, callback: Callable[..., Any], *args: Any) -> None:
        self._queue.put(partial(callback, *args))
        if not self._wake_pending:
            self._wake_pending = True
            with contextlib.suppress(OSError):  # a full pipe wakes the loop anyway
                os.write(self._write_fd, b"\0")

    def run_callbacks(self, _fileobj: Any, max_callbacks: int = 50) -> None:
        with contextlib.suppress(OSError):
            os.read(self._read_fd, max_callbacks)
        # Cleared before draining: work queued from here on wakes the loop again.
        self._wake_pending = False
        while True:
            try:
                callback = self._queue.get_nowait()
            except queue.Empty:
                return
            callback()


class ArrivalGuardedWorker(ThreadWorker):  # type: ignore[misc]
    limits: ArrivalLimits  # set by `worker_class`

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cfg: Any = SettingsReadOnce(self.cfg)
        self.method_queue = CoalescedWakeQueue()
        self.arrivals: dict[int, Arrival] = {}
        self.stopping_since: float | None = None
        self.arriving_per_address: dict[str, dict[int, Arrival]] = {}
        self.last_heartbeat = float("-inf")
        self.busy_threads = 0  # in `handle`, serving or waiting for a next request
        self.queued = 0  # requests handed to the thread pool that no thread has taken yet
        self.busy_lock = threading.Lock()
        self.accept_paused_until = 0.0

    def notify(self) -> None:
        """gunicorn's heartbeat to the master, at most once per HEARTBEAT_S: the event loop
        calls it on every wake (twice per request), and each is a file-time update on disk;
        the master only looks for one per `timeout`."""
        now = time.monotonic()
        if now - self.last_heartbeat >= HEARTBEAT_S:
            self.last_heartbeat = now
            super().notify()

    def accept(self, listener: socket.socket) -> None:
        """Take a connection. The workers share one listening socket, and the one that
        wakes first takes every connection waiting: ten clients connecting at once all
        landed on one worker (which then did all their work while the other idled, for
        as long as they kept their connections). So a worker that already has one pauses
        after taking another, and the others get their turn."""
        before = self.nr_conns
        self._accept(listener)
        if self.nr_conns > before and self.nr_conns > 1 and self.cfg.workers > 1:
            self.accept_paused_until = time.monotonic() + ACCEPT_PAUSE_S
            self.set_accept_enabled(False)

    def _accept(self, listener: socket.socket) -> None:
        if self.cfg.is_ssl:  # TLS wraps the socket in the thread: stock behaviour
            super().accept(listener)
            return
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                return
            raise
        self.nr_conns += 1
        peer = str(client_addr[0]) if isinstance(client_addr, tuple) else str(client_addr)
        sock = ReplaySocket(client_sock, self.limits.arrival_timeout_s, peer)
        conn = TConn(self.cfg, sock, client_addr, listener.getsockname())
        self.enqueue_req(conn)

    def set_accept_enabled(self, enabled: bool) -> None:
        if enabled and time.monotonic() < self.accept_paused_until:
            return  # the event loop asks again at its next turn (see below)
        super().set_accept_enabled(enabled)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        if not self._accepting and self.accept_paused_until > time.monotonic():
            timeout = min(timeout, self.accept_paused_until - time.monotonic())
        super().wait_for_and_dispatch_events(max(timeout, 0.0))

    def enqueue_req(self, conn: Any) -> None:
        """gunicorn calls this when a request may be coming: read it before a thread does."""
        if not isinstance(conn.sock, ReplaySocket):
            self._submit(conn)
            return
        peer, address = conn.sock.peer, conn.sock.address
        if self._over_limit(peer, address):
            _count_refused("too_many")
            self._refuse(conn, BUSY_ANSWER)
            return
        arrival = Arrival(conn, address, time.monotonic() + self.limits.arrival_timeout_s)
        if conn.parser is not None:  # a kept-alive connection: what the parser read ahead
            arrival.head += conn.parser.unreader.take_buffered()
        self.arriving_per_address.setdefault(address, {})[id(conn)] = arrival
        self.arrivals[id(conn)] = arrival
        conn.sock.setblocking(False)
        if arrival.head and self._advance(arrival, b""):
            return
        # A kept-alive connection comes here once it is readable: its request has most
        # likely arrived whole, so read it before asking the poller.
        if self._receive(arrival):
            return
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._readable, arrival))

    def _over_limit(self, peer: str, address: str) -> bool:
        cap = self.limits.max_arriving_per_address
        if not cap:
            return False
        arriving = self.arriving_per_address.get(address, {})
        if len(arriving) < cap or self._exempt(peer):
            return False
        # Only slow ones count: under load, many requests from one busy address (a NAT, a
        # proxy not declared trusted) may be waiting a moment for the event loop.
        since = time.monotonic() - SLOW_AFTER_S
        return sum(a.started < since for a in arriving.values()) >= cap

    def _exempt(self, peer: str) -> bool:
        try:
            ip = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(ip in network for network in self.limits.exempt)

    def _readable(self, arrival: Arrival, _sock: Any) -> None:
        self._receive(arrival)

    def _receive(self, arrival: Arrival) -> bool:
        """Take in what has arrived; True when the arrival is over (handed on or dropped)."""
        try:
            data = arrival.conn.sock.recv(READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            self._drop(arrival, None)
            return True
        if not data:  # the client went away
            self._drop(arrival, None)
            return True
        return self._advance(arrival, data)

    def _advance(self, arrival: Arrival, data: bytes) -> bool:
        """Take in `data`; True when the arrival is over (handed on or dropped)."""
        if arrival.framing is None:
            arrival.head += data
            head = parse_head(arrival.head)
            if head is Framing.NEED_MORE:
                return False
            if head is Framing.HAND_ON:
                self._hand_on(arrival, whole=False)
                return True
            if head is Framing.TOO_LARGE:
                self._drop(arrival, HEAD_TOO_LARGE_ANSWER)
                return True
            assert isinstance(head, Head)
            return self._head_arrived(arrival, head)
        return self._body_data(arrival, data)

    def _head_arrived(self, arrival: Arrival, head: Head) -> bool:
        arrival.framing = head
        rest = bytes(arrival.head[head.length:])
        head_bytes = bytes(arrival.head[:head.length])
        expects_body = head.chunked or bool(head.content_length)
        too_big = (head.content_length or 0) > self.limits.max_body_bytes
        if not expects_body or too_big:  # too big: the application refuses it unread
            self._hand_on(arrival, whole=not too_big)
            return True
        if head.expects_continue:
            head_bytes = without_expect(head_bytes)
            with contextlib.suppress(OSError):
                arrival.conn.sock.send(CONTINUE)
        arrival.head = bytearray(head_bytes)
        arrival.chunks = ChunkedEnd() if head.chunked else None
        arrival.body = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed by the replay
            max_size=MEMORY_BYTES, mode="w+b", dir=str(self.limits.spool_dir))
        return self._body_data(arrival, rest)

    def _body_data(self, arrival: Arrival, data: bytes) -> bool:
        assert arrival.body is not None and arrival.framing is not None
        arrival.body.write(data)
        arrival.body_bytes += len(data)
        if arrival.chunks is not None:
            outcome = arrival.chunks.feed(data) if data else Framing.NEED_MORE
            if outcome is Framing.MALFORMED:
                self._drop(arrival, MALFORMED_ANSWER)
            elif arrival.body_bytes > self.limits.max_body_bytes:
                # Refused here: its decoded size may be under the limit, and the
                # application would wait for more.
                self._drop(arrival, BODY_TOO_LARGE_ANSWER)
            elif outcome is Framing.NEED_MORE:
                return False
            else:
                self._hand_on(arrival, whole=True)
            return True
        if arrival.body_bytes < (arrival.framing.content_length or 0):
            return False
        self._hand_on(arrival, whole=True)
        return True

    def _hand_on(self, arrival: Arrival, *, whole: bool) -> None:
        """The request has arrived (`whole`), or the parser must judge it: a thread takes it."""
        conn = self._end(arrival)
        if arrival.body is not None:
            arrival.body.seek(0)
        conn.sock.replay(bytes(arrival.head), arrival.body, whole=whole)
        conn.data_ready = True  # the bytes are here, not on the socket
        self._submit(conn)

    def _submit(self, conn: Any) -> None:
        with self.busy_lock:
            self.queued += 1
        super().enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        """Serve a request, then (see LINGER_S) the connection's next ones that arrive
        whole while this thread waits for them."""
        with self.busy_lock:
            self.queued -= 1
            self.busy_threads += 1
        try:
            while True:
                keep = super().handle(conn)
                if keep is not True or not self._next_request_here(conn):
                    return keep
        finally:
            with self.busy_lock:
                self.busy_threads -= 1

    def _next_request_here(self, conn: Any) -> bool:
        """Whether the connection's next request arrived whole within LINGER_S and is
        ready for this thread. Anything else (nothing in time, a request still arriving or
        one to refuse, the client gone) goes on to the event loop, with what was read."""
        sock = conn.sock
        if (not isinstance(sock, ReplaySocket) or not self.alive or not self._idle_but_this()
                or conn.parser.unreader.buf.getvalue()):
            return False
        deadline = time.monotonic() + LINGER_S
        data = b""
        while len(data) <= MEMORY_BYTES and (more := sock.receive_by(deadline)):
            data += more
            head, end = _framed(data, self.limits.max_body_bytes)
            if end == len(data) and isinstance(head, Head):
                body = data[head.length:]
                sock.replay(data[:head.length], io.BytesIO(body) if body else None, whole=True)
                return True
            if end is not None:
                break
        if data:
            conn.parser.unreader.unread(data)
        return False

    def _idle_but_this(self) -> bool:
        """Whether this thread is the worker's only one at work, with nothing waiting for
        a thread, and another thread is there for what arrives meanwhile. Under load a
        thread never waits: the connections it would favour would leave others queued."""
        return self.busy_threads == 1 and not self.queued and self.cfg.threads > 1

    def _keepalive_after(self, conn: Any, keepalive: bool) -> bool:
        """Whether the connection serves another request. gunicorn first drains what the
        application left of the body, bounding each socket read by a deadline (two socket
        timeout changes per request); a request read whole is drained from memory."""
        sock = conn.sock
        if isinstance(sock, ReplaySocket):
            sock.flush()  # the answer is complete
            if keepalive and sock.whole:
                return bool(conn.parser.finish_body())
        return bool(super()._keepalive_after(conn, keepalive))

    def _end(self, arrival: Arrival) -> Any:
        conn = arrival.conn
        self.arrivals.pop(id(conn), None)
        with contextlib.suppress(OSError, KeyError, ValueError):
            self.poller.unregister(conn.sock)
        arriving = self.arriving_per_address.get(arrival.address, {})
        arriving.pop(id(conn), None)
        if not arriving:
            self.arriving_per_address.pop(arrival.address, None)
        return conn

    def _drop(self, arrival: Arrival, answer: bytes | None) -> None:
        self._end(arrival)
        if arrival.body is not None:
            arrival.body.close()
        self._refuse(arrival.conn, answer)

    def _refuse(self, conn: Any, answer: bytes | None) -> None:
        if answer is not None:
            with contextlib.suppress(OSError):
                conn.sock.setblocking(False)
                conn.sock.send(answer)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        if not self.alive and self.stopping_since is None:
            self.stopping_since = now
        for arrival in list(self.arrivals.values()):
            if self.stopping_since is not None and (
                    not arrival.head or now - self.stopping_since > STOP_KEEPALIVE_LINGER):
                # Stopping: a connection that sent nothing is closed at once, a request
                # still arriving gets as long as a kept-alive connection would.
                self._drop(arrival, UNAVAILABLE_ANSWER if arrival.head else None)
            elif now > self._deadline(arrival):
                _log.info("cut off a request from %s arriving too slowly (%d bytes in %.0f s)",
                          arrival.address, len(arrival.head) + arrival.body_bytes,
                          now - arrival.started)
                _count_refused("too_slow")
                self._drop(arrival, TIMEOUT_ANSWER)

    def _deadline(self, arrival: Arrival) -> float:
        if arrival.framing is None:
            return arrival.deadline
        return arrival.deadline + arrival.body_bytes / MIN_RATE_BYTES_PER_S


def request_end(data: bytes, max_body_bytes: int) -> int | None:
    """Where the request at the start of `data` ends; None while it is still arriving,
    -1 for one the event loop must take (to refuse it, or to answer "100 Continue")."""
    return _framed(data, max_body_bytes)[1]


def _framed(data: bytes, max_body_bytes: int) -> tuple[Head | Framing, int | None]:
    """The head at the start of `data` and where its request ends (see `request_end`)."""
    head = parse_head(data)
    if head is Framing.NEED_MORE:
        return head, None
    if not isinstance(head, Head) or head.expects_continue:
        return head, -1
    body = data[head.length:]
    if head.chunked:
        if len(body) > max_body_bytes:
            return head, -1
        outcome = ChunkedEnd().feed(body)
        if outcome is Framing.NEED_MORE:
            return head, None
        return head, head.length + outcome if isinstance(outcome, int) else -1
    size = head.content_length or 0
    if size > max_body_bytes:
        return head, -1
    return head, head.length + size if len(body) >= size else None


def _address_key(peer: str) -> str:
    """Whom a connection counts against: its IPv4 address, or its IPv6 /64 (one host is
    commonly given a whole /64)."""
    try:
        ip = ipaddress.ip_address(peer)
    except ValueError:
        return peer
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return peer


def _count_refused(reason: str) -> None:
    # Imported here: prometheus-client picks its multiprocess mode at import, and this
    # module is imported before `serve` sets that mode up.
    from adapters.http.metrics import REFUSED_ON_ARRIVAL

    REFUSED_ON_ARRIVAL.labels(reason).inc()


def worker_class(limits: ArrivalLimits) -> Callable[..., ArrivalGuardedWorker]:
    """gunicorn's `worker_class` setting: the guarded worker with these limits."""
    limits.spool_dir.mkdir(parents=True, exist_ok=True)
    return type("ArrivalGuardedWorker", (ArrivalGuardedWorker,), {"limits": limits})
