"""One log format for ankiserv's and gunicorn's lines: human by default, JSON lines with
`ANKISERV_LOG_FORMAT=json`; each line carries the request id and the user's name."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from gunicorn import glogging

from adapters.http import log_context
from entrypoints import access_log

_names: Callable[[int], str | None] = lambda _user: None  # noqa: E731


def name_users_with(lookup: Callable[[int], str | None]) -> None:
    """Where user names come from (looked up once per user and process, and only for
    lines that are written)."""
    global _names
    _names = lru_cache(maxsize=4096)(lookup)


def _context(record: logging.LogRecord) -> tuple[str, str]:
    """The request id and user name of the request being handled, for lines logged by
    ankiserv while handling it and gunicorn's access line after it (gunicorn's other
    lines are logged outside any request: its thread may still hold the last one's)."""
    if not record.name.startswith(("ankiserv", "gunicorn.access")):
        return "", ""
    request = log_context.request_id.get()
    if record.name == "gunicorn.access":
        # The access line names its request by the answer's X-Request-ID: a request
        # gunicorn refused itself never reached ankiserv, and the thread's context
        # still holds the previous one.
        atoms = record.args if isinstance(record.args, Mapping) else {}
        answered = str(atoms.get("{x-request-id}o", "") or "")
        if answered != request:
            return answered, ""
    user = log_context.user_id.get()
    name = ""
    if user is not None:
        try:
            name = _names(user) or f"#{user}"
        except Exception:  # a log line never fails because the database does
            name = f"#{user}"
    return request, name


def _without_credentials(record: logging.LogRecord) -> None:
    if record.name == "gunicorn.access" and isinstance(record.args, Mapping):
        record.args = access_log.redact_atoms(record.args)


class HumanFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        _without_credentials(record)
        request, user = _context(record)
        parts = [f"req={request}"] if request else []
        if user:
            parts.append(f"user={user}")
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return super().format(record)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        _without_credentials(record)
        request, user = _context(record)
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": os.getpid(),
        }
        if request:
            line["request_id"] = request
        if user:
            line["user"] = user
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def formatter(kind: str) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else HumanFormatter()


def configure(level: int, kind: str) -> None:
    """Send every log line (ankiserv's, gunicorn's, the libraries') to stderr in one
    format."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(kind))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("ankiserv").setLevel(level)


class GunicornLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's logger, building an access line only when the access log is on.

    gunicorn builds one for every request whenever a logging config is given (ours always
    is, for the shared format); that is a formatted line per request on a hot path."""

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        if self.cfg.accesslog:
            super().access(resp, req, environ, request_time)


def gunicorn_config(level: str, kind: str) -> dict[str, Any]:
    """gunicorn's `logconfig_dict`: its error and access lines through the same format."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"ankiserv": {"()": f"{__name__}.formatter", "kind": kind}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "ankiserv",
                                "stream": "ext://sys.stderr"}},
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level.upper(), "handlers": ["stderr"],
                               "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        },
    }
