"""Note fields as HTML a page of the app may show: whatever a field holds (shared decks
are untrusted), nothing in it runs, loads from elsewhere or reaches the app's cookies.

Cleaned by ammonia (through `nh3`) to formatting tags; images name the user's media
files, which the app serves at `<base>media/<name>`; links keep only http(s) targets.
The page's Content-Security-Policy stays the second wall."""

from __future__ import annotations

from urllib.parse import quote

import nh3

TAGS = {"a", "b", "i", "u", "s", "em", "strong", "sub", "sup", "small", "br", "hr", "p",
        "div", "span", "font", "ul", "ol", "li", "dl", "dt", "dd", "table", "thead",
        "tbody", "tfoot", "tr", "td", "th", "caption", "code", "pre", "kbd", "blockquote",
        "h1", "h2", "h3", "h4", "h5", "h6", "ruby", "rt", "rp", "img"}
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"},
              "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}


def _is_media_name(src: str) -> bool:
    """A file in the user's media folder: a bare name, as Anki writes them."""
    return bool(src) and "/" not in src and "\\" not in src and ":" not in src \
        and src not in (".", "..")


def shown_field(html: str, media_base: str) -> str:
    """`html` cleaned for display in the app's pages, images pointing at `media_base`."""
    def attribute(tag: str, name: str, value: str) -> str | None:
        if tag == "img" and name == "src":
            return media_base + quote(value, safe="") if _is_media_name(value) else None
        return value

    return nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, url_schemes={"http", "https"},
                     attribute_filter=attribute, link_rel="noopener noreferrer nofollow",
                     strip_comments=True)
