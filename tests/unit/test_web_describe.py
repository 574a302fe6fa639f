"""How the account page names clients and times."""

from __future__ import annotations

import pytest

from adapters.web.describe import ago, browser, sync_client


@pytest.mark.parametrize(("version", "shown"), [
    ("26.09.3,29bb700b,linux", "Anki 26.09.3 on Linux"),
    ("2.1.54,b6a7760c,win:10", "Anki 2.1.54 on Windows"),
    ("25.02,abc,mac:14.1", "Anki 25.02 on macOS"),
    ("ankidroid,2.16.5,android:14", "AnkiDroid 2.16.5"),
    ("ankimobile,23.10 (1),ios", "AnkiMobile 23.10"),
    ("ankidesktop,2.1.28,lin:debian:12", "Anki 2.1.28 on Linux"),
    ("", "Anki client"),
    (",,,", "Anki client"),
    ("weird", "weird"),
    ("x" * 500, "x" * 30),
])
def test_sync_clients_are_named_as_people_know_them(version: str, shown: str) -> None:
    assert sync_client(version) == shown


@pytest.mark.parametrize(("agent", "shown"), [
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/156.0.0.0 Safari/537.36", "Chrome on Linux"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", "Safari on iOS"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:130.0) Gecko/20100101 Firefox/130.0",
     "Firefox on Windows"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/130.0 Safari/537.36 Edg/130.0", "Edge on Windows"),
    ("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/130 Mobile Safari/537.36",
     "Chrome on Android"),
    ("curl/8.5.0", "A browser"),
    ("", "A browser"),
])
def test_browsers_are_named_by_program_and_system(agent: str, shown: str) -> None:
    assert browser(agent) == shown


@pytest.mark.parametrize(("seconds", "shown"), [
    (0, "just now"), (59, "just now"), (60, "1 minute ago"), (119, "1 minute ago"),
    (3600 * 5, "5 hours ago"), (86400, "1 day ago"), (86400 * 45, "1 month ago"),
    (86400 * 800, "2 years ago"), (-10, "just now"),
])
def test_times_are_said_in_the_largest_whole_unit(seconds: int, shown: str) -> None:
    assert ago(1_000_000_000_000, 1_000_000_000_000 + seconds * 1000) == shown
