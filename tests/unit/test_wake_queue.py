"""The reading worker's queue of work for its event loop: one wake for all the work queued
before the loop runs it, and no work ever left behind."""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Iterator

import pytest

from entrypoints.gunicorn_worker import CoalescedWakeQueue


@pytest.fixture
def wakes() -> Iterator[CoalescedWakeQueue]:
    q = CoalescedWakeQueue()
    q.init()
    yield q
    q.close()


def _pending_bytes(q: CoalescedWakeQueue) -> int:
    if not select.select([q.fileno()], [], [], 0)[0]:
        return 0
    data = os.read(q.fileno(), 1024)
    os.write(q._write_fd, data)  # put them back for the loop
    return len(data)


def test_work_queued_before_the_loop_runs_shares_one_wake(wakes: CoalescedWakeQueue) -> None:
    done: list[int] = []
    for i in range(5):
        wakes.defer(done.append, i)
    assert _pending_bytes(wakes) == 1
    wakes.run_callbacks(None)
    assert done == [0, 1, 2, 3, 4]
    assert _pending_bytes(wakes) == 0
    wakes.defer(done.append, 5)  # after the loop ran: a new wake
    assert _pending_bytes(wakes) == 1
    wakes.run_callbacks(None)
    assert done[-1] == 5


def test_work_from_many_threads_is_all_run(wakes: CoalescedWakeQueue) -> None:
    done: list[int] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set() or _pending_bytes(wakes):
            if select.select([wakes.fileno()], [], [], 0.05)[0]:
                wakes.run_callbacks(None)

    def send(base: int) -> None:
        for i in range(2000):
            wakes.defer(done.append, base + i)

    runner = threading.Thread(target=loop)
    runner.start()
    senders = [threading.Thread(target=send, args=(base,)) for base in range(0, 8000, 2000)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    stop.set()
    runner.join()
    assert sorted(done) == list(range(8000))
