"""The one error a search raises for text it cannot run."""

from __future__ import annotations


class SearchError(ValueError):
    """The search text is invalid or asks for something the server does not support.

    The message is one line, meant to be shown to the user as it is.
    """
