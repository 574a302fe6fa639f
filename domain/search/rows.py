"""A note being searched, with each derived form of its text computed once, on demand."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from domain.model import Note
from domain.search.text_forms import strip_clozes, without_combining


class Form(Enum):
    """The view of note text a search matches against."""

    RAW = "raw"
    NO_COMBINING = "nc"
    STRIP_CLOZES = "sc"


_TRANSFORMS: dict[Form, Callable[[str], str]] = {
    Form.NO_COMBINING: without_combining,
    Form.STRIP_CLOZES: strip_clozes,
}


class NoteRow:
    __slots__ = ("_fields", "_forms", "_memo", "_tags", "note")

    def __init__(self, note: Note) -> None:
        self.note = note
        self._fields: list[str] | None = None
        self._tags: str | None = None
        self._forms: dict[tuple[Form, str], str] = {}
        self._memo: dict[int, bool] = {}

    def fields(self) -> list[str]:
        if self._fields is None:
            self._fields = self.note.flds.split("\x1f")
        return self._fields

    def tags(self) -> str:
        """Tags as Anki stores them: " a b " with single spaces, or "" for none."""
        if self._tags is None:
            names = self.note.tags.split()
            self._tags = f" {' '.join(names)} " if names else ""
        return self._tags

    def text(self, column: str, form: Form) -> str:
        """The `flds`, `sfld` or `tags` text in the given form."""
        raw = self.tags() if column == "tags" else str(getattr(self.note, column))
        if form is Form.RAW:
            return raw
        key = (form, column)
        if key not in self._forms:
            self._forms[key] = _TRANSFORMS[form](raw)
        return self._forms[key]

    def remembered(self, key: int, test: Callable[[NoteRow], bool]) -> bool:
        """The result of a note-level test, computed once for all of the note's cards."""
        if key not in self._memo:
            self._memo[key] = test(self)
        return self._memo[key]
