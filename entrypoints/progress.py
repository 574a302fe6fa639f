"""Progress of long commands: a live status line on a terminal, nothing in between
otherwise (the command prints its one summary line at the end)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

MB = 1024 * 1024


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02}:{seconds % 60:02}"


class Progress:
    """Counts users, notes, media files and bytes done out of a total in bytes, and on a
    terminal shows them with an estimate of the time left."""

    def __init__(self, users: int, total_bytes: int, out: TextIO | None = None) -> None:
        self.out = out or sys.stderr
        self.live = self.out.isatty()
        self.users, self.total_bytes = users, max(total_bytes, 1)
        self.users_done = self.notes = self.media_files = self.rows = self.bytes_done = 0
        self.current = ""
        self._started = time.monotonic()
        self._shown = 0.0

    def start_user(self, name: str) -> None:
        self.current = name
        self._show(force=True)

    def add(self, *, notes: int = 0, media_files: int = 0, rows: int = 0, nbytes: int = 0
            ) -> None:
        self.notes += notes
        self.rows += rows
        self.media_files += media_files
        self.bytes_done += nbytes
        self._show()

    def user_done(self, line: str) -> None:
        """Count a user; on a terminal, their line stays above the status line."""
        self.users_done += 1
        if self.live:
            self.out.write(f"\r\x1b[K{line}\n")
        self._show(force=True)

    def finish(self) -> None:
        if self.live:
            self.out.write("\r\x1b[K")
            self.out.flush()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def _show(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.live or (not force and now - self._shown < 0.2):
            return
        self._shown = now
        part = min(self.bytes_done / self.total_bytes, 1.0)
        left = f", ~{_duration(self.elapsed / part * (1 - part))} left" if part > 0.02 else ""
        users = f"[{self.users_done}/{self.users} users] " if self.users else ""
        counts = [f"{n} {what}" for n, what in ((self.notes, "notes"), (self.rows, "rows"),
                                                (self.media_files, "media files"))
                  if n or what != "rows"]
        self.out.write(f"\r\x1b[K{users}{self.current}: {', '.join(counts)},"
                       f" {self.bytes_done / MB:.1f}/{self.total_bytes / MB:.1f} MB{left}")
        self.out.flush()
