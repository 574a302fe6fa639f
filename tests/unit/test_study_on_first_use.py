"""The `anki` library (about 20 MB per worker with its Rust backend) is loaded only when a
study collection is first needed, and then once."""

from __future__ import annotations

import subprocess
import sys
import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from adapters.study.on_first_use import StudyOnFirstUse
from domain.model import UserId

ROOT = Path(__file__).resolve().parents[2]


def test_building_the_app_does_not_load_anki(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from entrypoints.config import Settings\n"
        "from entrypoints.wsgi import create_app\n"
        f"create_app(Settings.from_mapping({{'data_dir': {str(tmp_path)!r}}}), migrate=True)\n"
        "print(sorted(m for m in sys.modules if m == 'anki' or m.startswith('anki.')))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


class _Made:
    def open(self, user: UserId) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def sync_soon(self, user: UserId, delay: float = 1.0) -> None:
        pass

    def secret(self, user: UserId) -> bytes:
        return b"s%d" % user


def test_made_once_at_first_use_however_many_threads_ask() -> None:
    made: list[_Made] = []

    def make() -> _Made:
        made.append(_Made())
        return made[-1]

    study = StudyOnFirstUse(make)
    assert made == []
    threads = [threading.Thread(target=study.secret, args=(UserId(1),)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1
    assert study.secret(UserId(2)) == b"s2"
