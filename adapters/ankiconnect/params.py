"""What every AnkiConnect action shares: the services it calls for one user, the error
that becomes `{"result": null, "error": "..."}`, and checks of parameter types.

AnkiConnect itself passes whatever JSON it gets straight to Anki and reports the Python
exception that follows; here each parameter is checked first, so a wrong type is a
clear error and never reaches a query.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from domain.api.note_search import NoteSearch
from domain.api.service import CollectionApi
from domain.media_server import MediaServer
from domain.model import UserId
from ports.media import BlobStore
from ports.study import CardSides

INT64 = range(-(2**63), 2**63)
MAX_IDS = 10_000  # ids in one action's list
MAX_NOTES = 1_000  # notes in one addNotes / canAddNotes


class ActionError(Exception):
    """An action failed; `str(error)` is what the `error` field says."""


@dataclass(frozen=True)
class Services:
    """The domain services the actions call (built once, shared by every request)."""

    api: CollectionApi
    search: NoteSearch
    media: MediaServer
    blobs: BlobStore
    allow_urls: bool = False
    max_media_bytes: int = 100 * 1024 * 1024
    fetch_url: Callable[[str, int], bytes] | None = None  # (url, max bytes) -> body
    profile: Callable[[int], str | None] = lambda _: None  # the user's name
    # (user, card ids) -> each card as Anki renders and schedules it
    card_sides: Callable[[UserId, Sequence[int]], dict[int, CardSides]] = (
        lambda _user, _cards: {})


@dataclass(frozen=True)
class Call:
    """One action being run: for whom, with which services."""

    user: UserId
    services: Services

    @property
    def api(self) -> CollectionApi:
        return self.services.api


def integer(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in INT64:
        raise ActionError(f'"{name}" must be an integer id')
    return value


def ids(value: Any, name: str, limit: int = MAX_IDS) -> list[int]:
    if not isinstance(value, list):
        raise ActionError(f'"{name}" must be an array of ids')
    if len(value) > limit:
        raise ActionError(f'"{name}" holds more than {limit} ids')
    return [integer(item, name) for item in value]


def text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ActionError(f'"{name}" must be a string')
    return value


def flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ActionError(f'"{name}" must be true or false')
    return value


def obj(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ActionError(f'"{name}" must be an object')
    return value


def objects(value: Any, name: str, limit: int) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise ActionError(f'"{name}" must be an array')
    if len(value) > limit:
        raise ActionError(f'"{name}" holds more than {limit} items')
    return [obj(item, name) for item in value]


def strings(value: Any, name: str) -> dict[str, str]:
    """An object of strings (a note's fields)."""
    fields = obj(value, name)
    if not all(isinstance(v, str) for v in fields.values()):
        raise ActionError(f'"{name}" must map field names to strings')
    return fields


def tag_list(value: Any, name: str) -> list[str]:
    """Tags as Anki reads them: a string of space-separated tags, or an array of tags
    (each of which may itself hold several, separated by spaces)."""
    if isinstance(value, str):
        return value.split()
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ActionError(f'"{name}" must be a string or an array of strings')
    return [tag for item in value for tag in item.split()]


def strings_list(value: Any, name: str, limit: int = MAX_IDS) -> list[str]:
    """An array of strings (deck names)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ActionError(f'"{name}" must be an array of strings')
    if len(value) > limit:
        raise ActionError(f'"{name}" holds more than {limit} items')
    return value
