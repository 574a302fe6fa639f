"""The collection files kept for full downloads: one per user, found only by its version."""

from __future__ import annotations

from pathlib import Path

from adapters.ankifile.download_cache import MAX_WRITES_BEHIND, DownloadCache
from domain.model import UserId

ALICE, BOB = UserId(1), UserId(2)


def _file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / f"upload-{len(list(tmp_path.iterdir()))}.anki2"
    path.write_bytes(data)
    return path


def _read(cache: DownloadCache, user: UserId, version: int, legacy: bool = False) -> bytes | None:
    found = cache.open(user, version, legacy_client=legacy)
    if found is None:
        return None
    with found:
        return found.read()


def test_a_kept_file_is_found_by_its_version_only(tmp_path: Path) -> None:
    cache = DownloadCache(tmp_path / "downloads")
    assert _read(cache, ALICE, 7) is None
    cache.keep(ALICE, 7, 11, _file(tmp_path, b"seven"))
    assert _read(cache, ALICE, 7) == b"seven"
    assert _read(cache, ALICE, 8) is None
    assert _read(cache, BOB, 7) is None


def test_keeping_a_file_replaces_the_users_older_one_and_moves_it_in(tmp_path: Path) -> None:
    cache = DownloadCache(tmp_path / "downloads")
    cache.keep(ALICE, 7, 11, _file(tmp_path, b"seven"))
    newer = _file(tmp_path, b"eight")
    cache.keep(ALICE, 8, 18, newer)
    assert not newer.exists()  # moved, not copied
    assert _read(cache, ALICE, 7) is None
    assert _read(cache, ALICE, 8) == b"eight"
    assert len(list((tmp_path / "downloads" / "1").iterdir())) == 1


def test_legacy_clients_get_only_schema_11_files(tmp_path: Path) -> None:
    cache = DownloadCache(tmp_path / "downloads")
    cache.keep(ALICE, 5, 18, _file(tmp_path, b"current"))
    assert _read(cache, ALICE, 5, legacy=True) is None
    assert _read(cache, ALICE, 5) == b"current"
    cache.keep(ALICE, 5, 11, _file(tmp_path, b"legacy"))
    assert _read(cache, ALICE, 5, legacy=True) == b"legacy"


def test_an_open_file_stays_readable_when_a_newer_one_replaces_it(tmp_path: Path) -> None:
    cache = DownloadCache(tmp_path / "downloads")
    cache.keep(ALICE, 1, 11, _file(tmp_path, b"old"))
    handle = cache.open(ALICE, 1, legacy_client=False)
    assert handle is not None
    cache.keep(ALICE, 2, 11, _file(tmp_path, b"new"))
    with handle:
        assert handle.read() == b"old"


def test_removing_a_user_removes_their_files_only(tmp_path: Path) -> None:
    cache = DownloadCache(tmp_path / "downloads")
    cache.keep(ALICE, 1, 11, _file(tmp_path, b"a"))
    cache.keep(BOB, 1, 11, _file(tmp_path, b"b"))
    cache.remove_user(ALICE)
    cache.remove_user(ALICE)  # nothing left: harmless
    assert _read(cache, ALICE, 1) is None
    assert _read(cache, BOB, 1) == b"b"


def _earlier(cache: DownloadCache, user: UserId, version: int) -> tuple[bytes, int] | None:
    found = cache.earlier(user, version)
    if found is None:
        return None
    with found[0] as handle:
        return handle.read(), found[1]


def test_a_file_of_an_earlier_version_of_the_same_collection_is_a_base(
    tmp_path: Path,
) -> None:
    """Versions grow by small steps from a random start: a kept file a little below the
    collection's version is an earlier state of it; anything else is not."""
    cache = DownloadCache(tmp_path / "downloads")
    assert _earlier(cache, ALICE, 10) is None  # nothing kept
    cache.keep(ALICE, 1000, 18, _file(tmp_path, b"upload"))
    assert _earlier(cache, ALICE, 1001) == (b"upload", 18)
    assert _earlier(cache, ALICE, 1000 + MAX_WRITES_BEHIND) == (b"upload", 18)
    assert _earlier(cache, ALICE, 1000) is None  # the same version: sent as it is
    assert _earlier(cache, ALICE, 999) is None  # a later file: another collection
    assert _earlier(cache, ALICE, 1001 + MAX_WRITES_BEHIND) is None  # too far: another start
    assert _earlier(cache, BOB, 1001) is None
    (tmp_path / "downloads" / "1" / "stray.tmp").write_bytes(b"x")  # names we do not know
    assert _earlier(cache, ALICE, 1001) == (b"upload", 18)
