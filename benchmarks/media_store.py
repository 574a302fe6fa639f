"""Where media bytes could live when several app hosts serve one database: measured.

    .venv/bin/python -m benchmarks.media_store [--files 200] [--kb 100]
        [--database-url URL ...]

Stores and reads back the same files (a media sync's worth) in ankiserv's blob store on
a folder (what a shared mount gives every host), and as rows of a table distributed like
ankiserv's (bytea in PostgreSQL, or in Citus, distributed by user_id), and prints MB/s
for each. Every database URL given is measured; each run uses a table of its own.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO

from sqlalchemy import text

from adapters.media.filesystem import FilesystemBlobStore
from adapters.sql.dialects import build_engine
from domain.model import UserId


def _files(count: int, size: int) -> list[bytes]:
    return [os.urandom(size) for _ in range(count)]


def _opener(data: bytes) -> Callable[[], IO[bytes]]:
    return lambda: io.BytesIO(data)


def folder(files: list[bytes], root: Path) -> tuple[float, float]:
    """Seconds to store (staged, synced, published) and to read back every file."""
    store = FilesystemBlobStore(root)
    started = time.perf_counter()
    pending = store.stage_many(UserId(1), [(_opener(d), len(d)) for d in files])
    pending.publish()
    pending.discard()
    stored = time.perf_counter() - started
    started = time.perf_counter()
    for blob in pending.blobs:
        handle = store.open(UserId(1), blob.sha1)
        assert handle is not None
        with handle:
            handle.read()
    return stored, time.perf_counter() - started


def database(files: list[bytes], url: str) -> tuple[float, float]:
    """The same, as bytea rows in one transaction (distributed by user_id on Citus)."""
    engine = build_engine(url)
    table = f"media_bench_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (user_id bigint, name text, data bytea,"
                          " PRIMARY KEY (user_id, name))"))
        if conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).first():
            conn.execute(text(f"SELECT create_distributed_table('{table}', 'user_id')"))
    try:
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(text(f"INSERT INTO {table} VALUES (1, :n, :d)"),
                         [{"n": str(i), "d": data} for i, data in enumerate(files)])
        stored = time.perf_counter() - started
        started = time.perf_counter()
        with engine.connect() as conn:
            for i in range(len(files)):
                conn.execute(text(f"SELECT data FROM {table} WHERE user_id = 1 AND name = :n"),
                             {"n": str(i)}).scalar()
        return stored, time.perf_counter() - started
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE {table}"))
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--kb", type=int, default=100)
    parser.add_argument("--database-url", action="append", default=[])
    args = parser.parse_args()
    files = _files(args.files, args.kb * 1024)
    mb = sum(map(len, files)) / 1024 / 1024
    print(f"{args.files} files of {args.kb} KB ({mb:.1f} MB)")
    print("| where | store MB/s | read MB/s |\n|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        stored, read = folder(files, Path(tmp))
    print(f"| folder (blob store) | {mb / stored:.0f} | {mb / read:.0f} |")
    for url in args.database_url:
        stored, read = database(files, url)
        shown = url.split("@")[-1].split("?")[0]
        print(f"| bytea rows, {shown} | {mb / stored:.0f} | {mb / read:.0f} |")


if __name__ == "__main__":
    main()
