"""The study collections' folders, as files kept for users outside the database."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from domain.model import UserId
from ports.media import UserFiles


@dataclass(frozen=True)
class StudyFolders:
    root: Path  # one folder per user id below it

    def remove_user(self, user: UserId) -> None:
        shutil.rmtree(self.root / str(int(user)), ignore_errors=True)


@dataclass(frozen=True)
class AllUserFiles:
    """Several kinds of per-user files, removed together."""

    parts: tuple[UserFiles, ...]

    def remove_user(self, user: UserId) -> None:
        for part in self.parts:
            part.remove_user(user)
