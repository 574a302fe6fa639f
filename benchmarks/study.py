"""How fast studying in the browser is: the time from an answer to the next card on the
server, for a large collection, with and without a device syncing the same account
meanwhile; the first opening of a deck (the study collection's download); memory.

    .venv/bin/python -m benchmarks.study [--notes 20000] [--answers 60]
        [--backend sqlite|postgres] [--write]

A browser's requests are replayed over HTTP on loopback (log in, open the deck, show the
answer, answer and follow the redirect to the next card), so the times are the server's
plus loopback; a real device (anki 26.9.3) syncs meanwhile in the second run.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import re
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from benchmarks import servers
from benchmarks.collections import generate
from benchmarks.report import write_section
from tests.support.anki_client import Profile, add_basic_note

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".bench-cache"
RATINGS = (3, 3, 1, 3, 4, 3, 2, 3)


class Browser:
    """Cookies and forms, as a browser sends them."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=120) as answer:
            return str(answer.read().decode())

    def post(self, path: str, form: dict[str, str]) -> str:
        data = urllib.parse.urlencode(form).encode()
        with self.opener.open(self.base + path, data=data, timeout=120) as answer:
            return str(answer.read().decode())

    def log_in(self, name: str, password: str) -> None:
        page = self.get("login")
        csrf = _value(page, "csrf")
        self.post("login", {"csrf": csrf, "username": name, "password": password})


def _value(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no {name} on the page"
    return found.group(1)


def _answers(browser: Browser, deck: int, count: int) -> list[float]:
    """Seconds from sending each answer to having the next card's page."""
    times = []
    page = browser.get(f"study/{deck}?then=1")
    for i in range(count):
        card = _value(page, "answer")
        shown = _value(page, "shown")
        page = browser.get(f"study/{deck}?then=1&answer={card}&shown={shown}")
        form = {"csrf": _value(page, "csrf"), "card": card, "shown": shown,
                "rating": str(RATINGS[i % len(RATINGS)])}
        started = time.perf_counter()
        page = browser.post(f"study/{deck}/answer", form)  # the next card, no redirect
        times.append(time.perf_counter() - started)
        assert 'name="answer"' in page, "the deck ran out of cards"
    return times


def _syncing_device(server: servers.Server, directory: Path, stop: threading.Event,
                    done: list[int]) -> None:
    device = Profile.create(directory)
    device.login(server.users[0], servers.PASSWORD, server.endpoint)
    device.sync(upload=False)
    while not stop.is_set():
        add_basic_note(device.col, f"added while studying {len(done)}", "x")
        device.sync()
        done.append(1)
    device.close()


def _ms(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000


def run(notes: int, answers: int, backend: str) -> str:
    work = Path(tempfile.mkdtemp(prefix="bench-study-"))
    collection = generate(CACHE / f"collection-{notes}.anki2", notes)
    server = servers.ankiserv(work, backend, workers=2, n_users=1)
    try:
        device = Profile.create(work / "device")
        device.col.close()
        device.path.write_bytes((collection / "collection.anki2").read_bytes()
                                if collection.is_dir() else collection.read_bytes())
        device.col.reopen()
        deck = int(device.col.decks.id("Vocabulary") or 0)
        preset = device.col.decks.config_dict_for_deck_id(deck)  # type: ignore[arg-type]
        preset["new"]["perDay"] = preset["rev"]["perDay"] = 9999  # cards for every answer
        device.col.decks.update_config(preset)
        device.login(server.users[0], servers.PASSWORD, server.endpoint)
        device.sync(upload=True)
        device.close()
        browser = Browser(server.endpoint)
        browser.log_in(server.users[0], servers.PASSWORD)
        rss_before = server.rss_bytes()
        started = time.perf_counter()
        while 'id="preparing"' in browser.get(f"study/{deck}"):
            time.sleep(0.2)
        first_open = time.perf_counter() - started
        entered = time.perf_counter()
        browser.get(f"study/{deck}")  # entering again: a normal sync first
        enter_again = time.perf_counter() - entered
        quiet = _answers(browser, deck, answers)
        rss_after = server.rss_bytes()
        stop, synced = threading.Event(), []
        syncer = threading.Thread(target=_syncing_device,
                                  args=(server, work / "device2", stop, synced))
        syncer.start()
        time.sleep(2)  # the device downloads the collection first
        busy = _answers(browser, deck, answers)
        stop.set()
        syncer.join()
        study_file = next((work).glob("ankiserv-*/study/*/collection.anki2"))
        lines = [
            f"Studying in the browser ({backend}, {notes} notes, {2 * notes} cards;"
            f" 2 workers; {answers} answers per run):",
            "",
            "| measure | p50 | p95 | max |",
            "|---|---|---|---|",
            f"| answer → next card | {_ms(quiet, .5):.0f} ms | {_ms(quiet, .95):.0f} ms"
            f" | {max(quiet) * 1000:.0f} ms |",
            f"| answer → next card, a device syncing meanwhile ({len(synced)} syncs) |"
            f" {_ms(busy, .5):.0f} ms | {_ms(busy, .95):.0f} ms | {max(busy) * 1000:.0f} ms |",
            "",
            f"- First opening of the deck (the study collection downloaded):"
            f" {first_open:.1f} s; entering it again (a normal sync first):"
            f" {enter_again * 1000:.0f} ms.",
            f"- Server memory (all processes): {rss_before / 2**20:.0f} MB before,"
            f" {rss_after / 2**20:.0f} MB after studying; the study collection on disk:"
            f" {study_file.stat().st_size / 2**20:.1f} MB.",
        ]
        return "\n".join(lines)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notes", type=int, default=20000)
    parser.add_argument("--answers", type=int, default=60)
    parser.add_argument("--backend", default="sqlite")
    parser.add_argument("--write", action="store_true", help="into docs/benchmarks.md")
    args = parser.parse_args()
    text = run(args.notes, args.answers, args.backend)
    print(text)
    if args.write:
        write_section(ROOT / "docs" / "benchmarks.md", f"study-{args.backend}", text)


if __name__ == "__main__":
    main()
