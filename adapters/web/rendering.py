"""Jinja2 rendering of the web app's pages, and the headers every page carries."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Any

import falcon
import jinja2

# Pages run no scripts and load nothing from elsewhere: styles and images from ankiserv,
# forms posted only to ankiserv.
PAGE_CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'")


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str
    version: str  # in the URL, so a changed file is fetched anew


def _static(name: str, content_type: str) -> StaticFile:
    body = resources.files("adapters.web").joinpath("static", name).read_bytes()
    return StaticFile(body, content_type, hashlib.sha256(body).hexdigest()[:12])


class Pages:
    """Renders templates with what every page needs: the base path and the stylesheet."""

    def __init__(self, base_path: str) -> None:
        self.base = base_path if base_path.endswith("/") else base_path + "/"
        self.static = {"app.css": _static("app.css", "text/css; charset=utf-8"),
                       "favicon.svg": _static("favicon.svg", "image/svg+xml"),
                       "study.js": _static("study.js", "text/javascript; charset=utf-8")}
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("adapters.web", "templates"),
            autoescape=True, undefined=jinja2.StrictUndefined,
            trim_blocks=True, lstrip_blocks=True)
        self._env.filters["capitalize_first"] = lambda text: str(text)[:1].upper() + str(text)[1:]

    def render(self, resp: falcon.Response, template: str, status: int = 200,
               csp: str = PAGE_CSP, **context: Any) -> None:
        css, icon = self.static["app.css"], self.static["favicon.svg"]
        context.setdefault("visitor", None)
        context.setdefault("refresh", None)
        context.setdefault("script", f"{self.base}static/study.js?v="
                                     f"{self.static['study.js'].version}")
        resp.status = status
        resp.content_type = "text/html; charset=utf-8"
        resp.set_header("Content-Security-Policy", csp)
        resp.text = self._env.get_template(template).render(
            base=self.base, stylesheet=f"{self.base}static/app.css?v={css.version}",
            icon=f"{self.base}static/favicon.svg?v={icon.version}", **context)


class StaticResource:
    """`/static/{name}`: the stylesheet, cached for good (its URL changes with it)."""

    def __init__(self, pages: Pages) -> None:
        self._files = pages.static

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        found = self._files.get(name)
        if found is None:
            raise falcon.HTTPNotFound()
        resp.content_type = found.content_type
        resp.data = found.body
        resp.set_header("Cache-Control", "public, max-age=31536000, immutable")
