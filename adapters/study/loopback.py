"""A private HTTP listener on 127.0.0.1 serving this process's own app, so the `anki`
library (whose sync client speaks only HTTP) can sync the study collections through the
server's real sync endpoints, exactly as any device does.

Started on first use, on a free port, in a daemon thread (waitress); one per process."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from waitress.server import create_server

WsgiApp = Callable[..., Any]


class Loopback:
    def __init__(self, app: Callable[[], WsgiApp], base_path: str) -> None:
        self._app = app
        self._base = base_path.rstrip("/")
        self._lock = threading.Lock()
        self._endpoint: str | None = None

    def endpoint(self) -> str:
        """The sync address of this process's own app (with its base path)."""
        with self._lock:
            if self._endpoint is None:
                server = create_server(self._sync_only, host="127.0.0.1", port=0,
                                       threads=4, ident="ankiserv-study")
                port = int(server.getsockname()[1])  # type: ignore[union-attr]
                threading.Thread(target=server.run, name="study-loopback",
                                 daemon=True).start()
                self._endpoint = f"http://127.0.0.1:{port}{self._base}/"
            return self._endpoint

    def _sync_only(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """The study devices need the collection sync endpoints and nothing else: the rest
        of the app is not offered on this port."""
        if not str(environ.get("PATH_INFO", "")).startswith(f"{self._base}/sync/"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"404"]
        return self._app()(environ, start_response)
