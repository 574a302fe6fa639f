"""A card template's sections and field references, read as Anki reads them.

rslib template.rs tokenizes a template into `{{...}}` tags, `<!--...-->` comments and
text: at each position, a `{{` with a `}}` somewhere after it is a tag, else a `<!--`
with a `-->` after it is a comment, else the character is text. Sections nest as
`{{#F}}...{{/F}}` and `{{^F}}...{{/F}}`; a template whose sections are left open or
closed out of order cannot be rendered.

The reading here gives the same result in one pass (see `domain.scan`), and nests
sections on an explicit stack no deeper than `MAX_SECTION_DEPTH`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from domain.errors import SyncRejected
from domain.scan import NextFind

# Real templates nest a handful of sections; Anki has no limit, but each level costs
# it a native stack frame. Deeper templates are refused rather than evaluated.
MAX_SECTION_DEPTH = 100
_ALT_SYNTAX = "{{=<% %>=}}"
# Anki trims Unicode White_Space (Rust's `trim`); Python's `strip` also strips \x1c-\x1f.
_WHITESPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
               "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


class TemplateError(SyncRejected):
    """A note type's template is beyond what the server evaluates (too deeply nested, or
    too much template work for one request)."""


@dataclass(frozen=True, slots=True)
class Section:
    """What decides whether a part of a template shows anything: the fields it refers
    to directly, and its subsections as (kind, key, section). Kind "#" shows when the
    key is filled, "^" when it is empty. Subsections that refer to no field at all are
    left out, since they can never show anything.

    `weight` counts the distinct field references of each section and the subsections,
    in the whole tree: an upper bound on the steps `shows` takes."""

    fields: frozenset[str]
    children: tuple[tuple[str, str, Section], ...]
    weight: int

    def shows(self, nonempty: frozenset[str]) -> bool:
        """Whether anything of it is shown when exactly the `nonempty` fields are filled."""
        pending = [self]
        while pending:
            section = pending.pop()
            if not section.fields.isdisjoint(nonempty):
                return True
            pending.extend(child for kind, key, child in section.children
                           if (key in nonempty) == (kind == "#"))
        return False


@dataclass(frozen=True, slots=True)
class Parsed:
    """A parsed template: its tree (None when its sections do not nest, or when reading
    stopped early) and how many tags were read."""

    tree: Section | None
    tags: int


@dataclass(slots=True)
class _Open:
    kind: str
    key: str
    fields: set[str]
    children: list[tuple[str, str, Section]]

    def close(self) -> Section:
        weight = len(self.fields) + sum(1 + child.weight for _, _, child in self.children)
        return Section(frozenset(self.fields), tuple(self.children), weight)


def parse(template: str, max_tags: int | None = None) -> Parsed:
    """Read the template's sections and field references; with `max_tags`, stop (with
    no tree) at the tag after that many.

    Raises:
        TemplateError: sections nest deeper than `MAX_SECTION_DEPTH`.
    """
    stack = [_Open("", "", set(), [])]
    tags = 0
    for kind, key in map(_classify, _handlebars(template)):
        tags += 1
        if max_tags is not None and tags > max_tags:
            return Parsed(None, tags)
        if kind in ("#", "^"):
            if len(stack) > MAX_SECTION_DEPTH:
                raise TemplateError(f"template nests sections deeper than {MAX_SECTION_DEPTH}")
            stack.append(_Open(kind, key, set(), []))
        elif kind == "/":
            if len(stack) == 1 or stack[-1].key != key:
                return Parsed(None, tags)
            done = stack.pop()
            section = done.close()
            if section.weight:
                stack[-1].children.append((done.kind, done.key, section))
        else:
            stack[-1].fields.add(key)
    return Parsed(stack[0].close() if len(stack) == 1 else None, tags)


def _classify(inside: str) -> tuple[str, str]:
    """(kind, key) of one tag: "#", "^" or "/" with the section's key, or "field" with
    the field name after the last filter (`{{text:Front}}` refers to Front)."""
    handle = inside.lstrip("{").strip(_WHITESPACE)
    if len(handle) >= 2 and handle[0] in "#^/":
        return handle[0], handle[1:].lstrip(_WHITESPACE)
    return "field", handle.rsplit(":", 1)[-1]


def _handlebars(template: str) -> Iterator[str]:
    """The insides of the template's `{{...}}` tags, in order, skipping HTML comments.

    As in Anki, a template starting with `{{=<% %>=}}` uses `<%...%>` instead."""
    start, end, pos = "{{", "}}", 0
    if (stripped := template.lstrip(_WHITESPACE)).startswith(_ALT_SYNTAX):
        template, start, end = stripped, "<%", "%>"
        while template.startswith(_ALT_SYNTAX, pos):
            pos += len(_ALT_SYNTAX)
    tags, tag_ends = NextFind(template, start), NextFind(template, end)
    comments, comment_ends = NextFind(template, "<!--"), NextFind(template, "-->")
    while True:
        # An opener with no closer after it is text, and so is every later one.
        tag = tags.at_or_after(pos)
        tag_end = tag_ends.at_or_after(tag + len(start)) if tag >= 0 else -1
        comment = comments.at_or_after(pos)
        comment_end = comment_ends.at_or_after(comment + 4) if comment >= 0 else -1
        if tag_end >= 0 and (comment_end < 0 or tag < comment):
            yield template[tag + len(start):tag_end]
            pos = tag_end + len(end)
        elif comment_end >= 0:
            pos = comment_end + 3
        else:
            return
