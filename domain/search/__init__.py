"""Anki's search syntax, parsed and evaluated in pure Python.

`parse` reads a search as Anki's browser does; `matching_note_ids` and
`matching_card_ids` (or `compile_search`, to reuse one search) run it over notes with
their cards, given the collection's note types, deck names, day and review log.
"""

from domain.search.errors import SearchError
from domain.search.inputs import DayTiming, NoteCards, NotetypeInfo, SearchContext
from domain.search.matching import (
    CompiledSearch,
    compile_search,
    matching_card_ids,
    matching_note_ids,
)
from domain.search.nodes import Node
from domain.search.parser import parse

__all__ = [
    "CompiledSearch",
    "DayTiming",
    "Node",
    "NoteCards",
    "NotetypeInfo",
    "SearchContext",
    "SearchError",
    "compile_search",
    "matching_card_ids",
    "matching_note_ids",
    "parse",
]
