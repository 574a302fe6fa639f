"""Card generation reads hostile templates and cloze text in linear time, and refuses
what it will not evaluate with TemplateError (which the API answers with 400).

Speed is checked with sizes at which the old quadratic reading took minutes (400 KB of
`<!--`: 42 s per note; of `{{`: 155 s) and the linear one takes milliseconds, against a
bound far above the latter, so a slow or busy machine cannot fail them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from domain.api.template_parse import MAX_SECTION_DEPTH, TemplateError, parse
from domain.api.templates import (
    MAX_CHECKS,
    MAX_TAGS_READ,
    CardGen,
    card_ords,
    cloze_numbers,
    front_renders,
)
from domain.errors import SyncRejected

T = TypeVar("T")
KB400 = 400_000
GENEROUS_S = 5.0  # what each case below takes when the reading is linear: under 0.3 s


def quickly(run: Callable[[], T]) -> T:
    """`run()`, asserting it took less than GENEROUS_S of CPU time."""
    start = time.process_time()
    result = run()
    assert time.process_time() - start < GENEROUS_S
    return result


def standard(*fronts: str) -> dict[str, Any]:
    return {"type": 0, "tmpls": [{"ord": i, "qfmt": f} for i, f in enumerate(fronts)]}


def nested(depth: int, inner: str = "{{Front}}") -> str:
    return "{{#Front}}" * depth + inner + "{{/Front}}" * depth


# -- valid templates: the cards Anki gives ---------------------------------------------


@pytest.mark.parametrize(("front", "nonempty", "renders"), [
    ("{{Front}}", {"Front"}, True),
    ("{{Front}}", set(), False),
    ("{{#Back}}{{Front}}{{/Back}}", {"Front"}, False),
    ("{{^Back}}{{Front}}{{/Back}}", {"Front"}, True),
    ("{{#Back}}{{/Back}}{{Front}}", {"Front", "Back"}, True),
    ("<!-- {{Front}} -->", {"Front"}, False),
    ("<!-- {{Front}}", {"Front"}, True),  # an unclosed comment is text
    ("{{Front", {"Front"}, False),
    ("{{ text:Front }}", {"Front"}, True),
    ("{{=<% %>=}}{{=<% %>=}}<%Front%>", {"Front"}, True),
    ("{{#Front}}{{Front}}", {"Front"}, False),  # left open: no card
    ("{{#Front}}{{Front}}{{/Back}}", {"Front"}, False),  # closed out of order
    (nested(MAX_SECTION_DEPTH), {"Front"}, True),
    # Anki trims Unicode White_Space only; \x1c is part of the field name.
    ("{{\x1cFront}}", {"Front"}, False),
    ("{{\u3000Front}}", {"Front"}, True),
])
def test_fronts_render_as_in_anki(front: str, nonempty: set[str], renders: bool) -> None:
    assert front_renders(front, nonempty) is renders


def test_sections_without_fields_are_dropped_from_the_tree() -> None:
    tree = parse("{{#A}}{{/A}}" * 1000 + "{{^B}}{{#C}}{{/C}}{{/B}}" + "{{D}}" * 1000).tree
    assert tree is not None and tree.weight == 1 and tree.children == ()


# -- linear reading of hostile fronts --------------------------------------------------


@pytest.mark.parametrize("front", [
    "<!--" * (KB400 // 4),
    "{{" * (KB400 // 2),
    "<!--" * (KB400 // 8) + "{{" * (KB400 // 4),
    "{{=<% %>=}}" * (KB400 // 11) + "<%" * (KB400 // 2),
    "{{/Front}}" * (KB400 // 10),
    "{{Front}}<!--" * (KB400 // 13),
])
def test_a_400_kb_front_of_openers_is_read_in_linear_time(front: str) -> None:
    quickly(lambda: [card_ords(standard(front, "{{Front}}"), {"Front": "x"})
                     for _ in range(4)])


def test_many_tags_are_read_in_linear_time() -> None:
    front = "".join(f"{{{{#F{i}}}}}{{{{Front}}}}{{{{/F{i}}}}}" for i in range(20_000))
    assert quickly(lambda: card_ords(standard(front), {"Front": "x"})) == []


# -- depth and work limits -------------------------------------------------------------


@pytest.mark.parametrize("front", [
    nested(5000),
    nested(MAX_SECTION_DEPTH + 1),
    "{{#Front}}" * 5000,  # never closed
    "{{^Back}}" * (KB400 // 9),
])
def test_fronts_nesting_too_deep_are_refused(front: str) -> None:
    with pytest.raises(TemplateError, match=f"nests sections deeper than {MAX_SECTION_DEPTH}"):
        quickly(lambda: card_ords(standard("{{Front}}", front), {"Front": "x"}))


def test_template_errors_are_refusals_the_api_answers_with_400() -> None:
    assert issubclass(TemplateError, SyncRejected)


def test_a_request_parses_each_front_once() -> None:
    cards = CardGen(max_tags=4)  # the tags of both fronts, read once
    notetype = standard("{{Front}}", "{{#Back}}{{Back}}{{/Back}}")
    for _ in range(100):
        assert cards.card_ords(notetype, {"Front": "x", "Back": "y"}) == [0, 1]


def test_a_request_reads_a_bounded_number_of_tags() -> None:
    front = "{{Front}}" * (MAX_TAGS_READ + 1)
    with pytest.raises(TemplateError, match=f"more than {MAX_TAGS_READ} tags"):
        quickly(lambda: card_ords(standard(front), {"Front": "x"}))


def test_a_request_makes_a_bounded_number_of_checks() -> None:
    front = "".join(f"{{{{F{i}}}}}" for i in range(999))  # 1000 checks per note
    notetype, cards = standard(front), CardGen()
    with pytest.raises(TemplateError, match=f"more than {MAX_CHECKS} checks"):
        quickly(lambda: [cards.card_ords(notetype, {"F0": "x"})
                         for _ in range(MAX_CHECKS // 1000 + 1)])


def test_a_batch_of_1000_notes_of_a_large_real_note_type_fits_the_limits() -> None:
    fronts = ["".join(f"{{{{#F{i}}}}}{{{{F{i}}}}}{{{{/F{i}}}}}" for i in range(t, 400, 4))
              for t in range(4)]  # 4 fronts, 100 sections each
    notetype, cards = standard(*fronts), CardGen()
    for n in range(1000):
        assert cards.card_ords(notetype, {f"F{n % 400}": "x"}) == [n % 4]


# -- cloze numbers ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "numbers"), [
    ("{{c65535::x}}", {65535}),
    ("{{c65536::x}}", set()),
    ("{{c" + "9" * KB400 + "::x}}", set()),
    ("{{c" + "0" * KB400 + "7::x}}", {7}),
    ("{{c1::x}}" * (KB400 // 9), {1}),
    ("{{c1::" * (KB400 // 6), set()),  # never closed
    ("{{c1::" * (KB400 // 6) + "}}" * (KB400 // 2), {1}),
    ("{{c" + ",".join(map(str, range(1, 65536))) + "::x}}", set(range(1, 65536))),
    ("}}" * (KB400 // 2), set()),
    ("{{c" * (KB400 // 3), set()),
])
def test_cloze_numbers_are_read_in_linear_time(text: str, numbers: set[int]) -> None:
    assert quickly(lambda: cloze_numbers(text)) == numbers


def test_huge_cloze_numbers_share_the_last_card() -> None:
    cloze = {"type": 1, "tmpls": [{"qfmt": "{{cloze:Text}}"}]}
    text = "".join(f"{{{{c{n}::x}}}}" for n in range(1, 65536, 7))
    ords = quickly(lambda: card_ords(cloze, {"Text": text}))
    assert ords == sorted({min(n - 1, 499) for n in range(1, 65536, 7)})
