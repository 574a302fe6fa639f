"""`/decks`: the deck tree with today's new, learning and review counts, as Anki's deck
list shows them; each deck opens the browser on its notes."""

from __future__ import annotations

from dataclasses import dataclass

import falcon

from adapters.web.forms import WebResource
from domain.api.service import CollectionApi
from domain.deck_tree import DeckNode
from domain.errors import NotFound


def deck_search(name: str) -> str:
    """The Anki search for a deck and its subdecks, whatever its name holds."""
    escaped = "".join("\\" + ch if ch in '\\"*_' else ch for ch in name)
    return f'"deck:{escaped}"'


@dataclass(frozen=True)
class DeckRow:
    id: int
    name: str  # the last part of the name
    full_name: str
    search: str
    new: int
    learn: int
    review: int
    filtered: bool
    collapsed: bool
    children: tuple[DeckRow, ...]


def _rows(node: DeckNode) -> tuple[DeckRow, ...]:
    return tuple(DeckRow(child.deck_id, child.name[-1], "::".join(child.name),
                         deck_search("::".join(child.name)), child.new, child.learn,
                         child.review, child.filtered, child.collapsed, _rows(child))
                 for child in node.children)


@dataclass(frozen=True)
class DecksPage(WebResource):
    api: CollectionApi

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        visitor = self.sessions.require(req)
        try:
            root = self.api.deck_tree(visitor.user_id)
        except NotFound:
            root = None
        self.pages.render(resp, "decks.html", visitor=visitor,
                          decks=_rows(root) if root else (),
                          totals=(root.new, root.learn, root.review) if root else (0, 0, 0))
