"""Keep credentials out of gunicorn's access line: the query values of the request line and
the referer, the Basic user name, and header values that carry keys.

Old media clients send their host key (which also works as an API token) in the query
(`GET /msync/begin?k=...`); anyone may put a token there. So every query value is
replaced except those of the parameters ankiserv reads that are not secret.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"
SHOWN_PARAMETERS = frozenset({"v", "limit", "after", "ids", "deck_id", "tag", "notetype_id",
                              "q", "note_id", "card_id", "days"})
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "anki-sync",
                            "x-api-key"})
TARGET_HEADERS = frozenset({"raw-uri", "request-uri", "referer"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,31}")
_QUERY = re.compile(r"\?([^\s#]*)")
_ATOM = re.compile(r"\{(.+)\}([ieo])")


def redact_query(query: str) -> str:
    """`query` with each value replaced but those of `SHOWN_PARAMETERS` (and any name
    that does not look like one)."""
    items = []
    for item in query.split("&"):
        name, sep, _ = item.partition("=")
        if not _NAME.fullmatch(name):
            items.append(REDACTED if item else item)
        elif sep and name.lower() not in SHOWN_PARAMETERS:
            items.append(f"{name}={REDACTED}")
        else:
            items.append(item)
    return "&".join(items)


def redact_target(text: str) -> str:
    """A request line or URL with its query redacted."""
    return _QUERY.sub(lambda m: "?" + redact_query(m.group(1)), text)


def redact_atoms(atoms: Mapping[str, Any]) -> Mapping[str, Any]:
    """A copy of gunicorn's access-log atoms (its SafeAtoms: missing ones read as "-")
    without credentials."""
    safe: Any = copy.copy(atoms)
    safe["u"] = "-"  # the user name of any Basic header, logged in or not
    for key in ("r", "f"):
        if isinstance(safe.get(key), str):
            safe[key] = redact_target(safe[key])
    if isinstance(safe.get("q"), str):
        safe["q"] = redact_query(safe["q"])
    for key, value in list(safe.items()):
        match = _ATOM.fullmatch(key)
        if match is None or not isinstance(value, str):
            continue
        name = match.group(1).lower().replace("_", "-")
        if match.group(2) == "e":
            name = name.removeprefix("http-")
        if name in SECRET_HEADERS:
            safe[key] = REDACTED
        elif name in TARGET_HEADERS:
            safe[key] = redact_target(value)
        elif name == "query-string":
            safe[key] = redact_query(value)
    redacted: Mapping[str, Any] = safe
    return redacted
