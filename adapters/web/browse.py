"""`/browse`: search the user's notes with Anki's search syntax, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import falcon

from adapters.web.forms import MAX_FIELD, WebResource
from domain.api.note_search import NoteSearch
from domain.errors import NotFound
from domain.search import SearchError

PER_PAGE = 50
DONE = {"deleted": "The note was deleted; your devices delete it at their next sync."}


@dataclass(frozen=True)
class ResultRow:
    id: int
    sort_field: str
    notetype: str
    decks: str
    tags: str
    cards: int


@dataclass(frozen=True)
class BrowsePage(WebResource):
    search: NoteSearch

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        visitor = self.sessions.require(req)
        query = req.get_param("q") or ""
        page_text = req.get_param("page") or "1"
        if len(query) > MAX_FIELD or not (page_text.isascii() and page_text.isdigit()) \
                or not 1 <= int(page_text) <= 1_000_000:
            raise falcon.HTTPBadRequest(description="the search or page number is not valid")
        page = int(page_text)
        error, rows, total = "", [], 0
        try:
            found = self.search.search(visitor.user_id, query, (page - 1) * PER_PAGE, PER_PAGE)
            total = found.total
            rows = [ResultRow(f.note.id, f.note.sfld[:300], f.notetype, ", ".join(f.decks),
                              f.note.tags.strip(), f.cards) for f in found.notes]
        except SearchError as e:
            error = str(e)
        except NotFound:
            pass  # no collection yet: nothing to find
        pages = max(1, -(-total // PER_PAGE))

        def link(number: int) -> str:
            return f"{self.pages.base}browse?{urlencode({'q': query, 'page': number})}"

        self.pages.render(
            resp, "browse.html", 400 if error else 200, visitor=visitor, query=query,
            error=error, rows=rows, total=total, page=page, pages=pages,
            previous=link(page - 1) if page > 1 else "",
            next=link(page + 1) if page < pages else "",
            message=DONE.get(req.get_param("done") or "", ""))
