"""Text the API accepts: what every database can store, checked once at the edge.

PostgreSQL text cannot hold NUL, and no database (nor UTF-8) can hold a lone UTF-16
surrogate, which a JSON escape such as `\\ud800` can make. Refusing them where JSON bodies
and query strings are decoded gives a 400 before any field reaches a query.
"""

from __future__ import annotations

import re
from typing import Any

from domain.errors import BadRequest

MESSAGE = "text must be valid Unicode without NUL"
_BAD = re.compile("[\x00\ud800-\udfff]")
# In JSON text, only an escape can make NUL or a surrogate (raw control characters are
# invalid JSON, and the text was decoded as strict UTF-8): walk the value only then.
_BAD_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def check(value: Any) -> None:
    """Raise `BadRequest` if any string in `value` (keys included) holds NUL or a
    surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _BAD.search(item):
                raise BadRequest(MESSAGE)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


def check_json(text: str, value: Any) -> None:
    """`check` the value parsed from the JSON `text`, at the cost of a scan of the text."""
    if _BAD_ESCAPE.search(text):
        check(value)
