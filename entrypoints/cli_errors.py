"""The one error a command raises to stop with a message (printed as one line)."""

from __future__ import annotations


class CliError(Exception):
    """A command cannot go on; the message says why and what to do."""
