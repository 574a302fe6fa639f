"""Reading Anki's search syntax: the tree each search gives, and clear errors for the rest.

The regex engine and the wildcard matcher are tested here too: they read the syntax of
`re:` patterns and of `*`/`_` wildcards, and must stay fast on hostile patterns.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.model import Card, Note
from domain.search import (
    DayTiming,
    NoteCards,
    NotetypeInfo,
    SearchContext,
    SearchError,
    compile_search,
    parse,
)
from domain.search import nodes as n
from domain.search.regex_program import RegexMatcher
from domain.search.regex_syntax import parse_regex
from domain.search.text_forms import strip_clozes, without_combining
from domain.search.wildcards import glob, like


def text(value: str) -> n.Text:
    return n.Text(value)


@pytest.mark.parametrize(
    ("query", "tree"),
    [
        ("", n.Everything()),
        ("  \t ", n.Everything()),
        ("dog", text("dog")),
        ("dog cat", n.And((text("dog"), text("cat")))),
        ("dog\tcat\u00a0mouse\u3000x", n.And(tuple(map(text, ["dog", "cat", "mouse", "x"])))),
        ("dog AND cat", n.And((text("dog"), text("cat")))),
        ("dog or cat", n.Or((text("dog"), text("cat")))),
        # and binds tighter than or, as in the SQL Anki writes
        ("a or b c", n.Or((text("a"), n.And((text("b"), text("c")))))),
        ("a b OR c", n.Or((n.And((text("a"), text("b"))), text("c")))),
        ("(a or b) c", n.And((n.Or((text("a"), text("b"))), text("c")))),
        ("-dog", n.Not(text("dog"))),
        ("-(a or b)", n.Not(n.Or((text("a"), text("b"))))),
        ("a-b", text("a-b")),
        ("-", text("-")),
        ("- a", n.And((text("-"), text("a")))),
        ("\\-a", text("-a")),
        ('"-a"', text("-a")),
        ('"a dog"', text("a dog")),
        ('"and" "OR"', n.And((text("and"), text("OR")))),
        ("'a dog'", n.And((text("'a"), text("dog'")))),  # single quotes are plain text
        ('a"b"(c)', n.And((text("a"), text("b"), text("c")))),
        ('"(text)"', text("(text)")),
        ("\\(text\\)", text("(text)")),
        ("3\\:30", text("3:30")),
        ("w:3:30", n.WordText("3:30")),
        ("d_g d*g a\\*b a\\_b a\\\\b", n.And(tuple(map(text, ["d_g", "d*g", "a\\*b", "a\\_b",
                                                                 "a\\\\b"])))),
        ('deck:"a b"', n.Deck("a b")),
        ('"deck:a b"', n.Deck("a b")),
        ("Deck:French::Words", n.Deck("French::Words")),
        ("deck:filtered", n.Deck("filtered")),
        ("note:Basic*", n.NotetypeName("Basic*")),
        ("mid:123", n.NotetypeId(123)),
        ("card:2", n.TemplateNumber(1)),
        ("card:0", n.TemplateNumber(0)),
        ("card:+1", n.TemplateNumber(0)),
        ("card:70000", n.TemplateName("70000")),
        ("card:Card*", n.TemplateName("Card*")),
        ("tag:animal::*", n.Tag("animal::*")),
        ("tag:re:^a$", n.Tag("^a$", n.FieldMode.REGEX)),
        ("tag:nc:tést", n.Tag("tést", n.FieldMode.NO_COMBINING)),
        ("front:dog", n.FieldText("front", "dog")),
        ("front:", n.FieldText("front", "")),
        ("fr*:re:^d\\d", n.FieldText("fr*", "^d\\d", n.FieldMode.REGEX)),
        ("front:nc:cafe", n.FieldText("front", "cafe", n.FieldMode.NO_COMBINING)),
        ("\"animal front:a dog\"", n.FieldText("animal front", "a dog")),
        ('field:va\\"lue', n.FieldText("field", 'va"lue')),
        ("field:val:ue", n.FieldText("field", "val:ue")),
        ("re:\\d{3}", n.Regex("\\d{3}")),
        ('re:te\\"st', n.Regex('te"st')),
        ("nc:uber", n.Text("uber", n.TextMode.NO_COMBINING)),
        ("sc:x", n.And((n.ClozeNotes(), n.Text("x", n.TextMode.STRIP_CLOZES)))),
        # Anki's SQL negates only the note type part of an unbracketed sc: term
        ("-sc:x", n.And((n.Not(n.ClozeNotes()), n.Text("x", n.TextMode.STRIP_CLOZES)))),
        ("-(sc:x)", n.Not(n.And((n.ClozeNotes(), n.Text("x", n.TextMode.STRIP_CLOZES))))),
        ("is:due", n.State(n.CardState.DUE)),
        ("is:buried-sibling", n.State(n.CardState.BURIED_SIBLING)),
        ("flag:0", n.Flag(0)),
        ("nid:1,22,333", n.NoteIds(frozenset({1, 22, 333}))),
        ("cid:7", n.CardIds(frozenset({7}))),
        ("added:0", n.Within(n.Recency.ADDED, 1)),
        ("edited:7", n.Within(n.Recency.EDITED, 7)),
        ("introduced:3", n.Within(n.Recency.INTRODUCED, 3)),
        ("rated:2", n.Rated(">", -2, n.ANY_BUTTON)),
        ("rated:7:1", n.Rated(">", -7, 1)),
        ("resched:0", n.Rated(">", 0, n.RESCHEDULED)),
        ("prop:rated=-1:4", n.Rated("=", -1, 4)),
        ("prop:resched<=0", n.Rated("<=", 0, n.RESCHEDULED)),
        ("prop:ivl>=10", n.Property(n.CardProperty.INTERVAL, ">=", 10)),
        ("prop:due=-1", n.Property(n.CardProperty.DUE, "=", -1)),
        ("prop:pos<=100", n.Property(n.CardProperty.POSITION, "<=", 100)),
        ("prop:reps!=3", n.Property(n.CardProperty.REPS, "!=", 3)),
        ("prop:lapses<1", n.Property(n.CardProperty.LAPSES, "<", 1)),
        # ease becomes the factor Anki compares, rounded as its f32 arithmetic rounds
        ("prop:ease!=2.5", n.Property(n.CardProperty.EASE, "!=", 2500)),
        ("prop:ease<=3.3", n.Property(n.CardProperty.EASE, "<=", 3300)),
        ("prop:ease>-1", n.Property(n.CardProperty.EASE, ">", 0)),
    ],
)
def test_searches_parse_as_anki_reads_them(query: str, tree: n.Node) -> None:
    assert parse(query) == tree


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("(", "a '(' is never closed"),
        ("dog (cat", "a '(' is never closed"),
        (")", "a ')' has no matching '('"),
        ("(a) b)", "a ')' has no matching '('"),
        ("()", "empty parentheses"),
        ("( )", "empty parentheses"),
        ('"', "unbalanced quotes"),
        ('dog "cat', "unbalanced quotes"),
        ('front:"dog', "unbalanced quotes"),
        ('""', "empty quotes"),
        ("and dog", "'and' must stand between two searches"),
        ("dog or", "'or' must stand between two searches"),
        ("a and or b", "'or' must stand between two searches"),
        ("-or", "cannot negate"),
        (":dog", "missing a search kind"),
        ("\\", "lone backslash"),
        ("dog\\", "lone backslash"),
        ("\\%", "unknown escape \\%"),
        ("\\d", "unknown escape \\d"),
        ('"a\\ b"', "unknown escape \\ "),
        ("is:New", "is:New is not a card state"),
        ("is:", "is: is not a card state"),
        ("flag:8", "flags are 0 to 7"),
        ("flag:-0", "flags are 0 to 7"),
        ("added:1.5", "whole number of days"),
        ("rated:-1", "whole number of days"),
        ("rated:1:5", "answer buttons are 1 to 4"),
        ("nid:1,,2", "ids separated by commas"),
        ("cid:", "ids separated by commas"),
        ("mid:x", "mid:x is invalid"),
        ("prop:", "unknown property"),
        ("prop:DUE<5", "unknown property"),
        ("prop:ivl", "expected <, <=, =, !=, >= or >"),
        ("prop:pos~1", "expected <, <=, =, !=, >= or >"),
        ("prop:ivl>-1", "a whole number, 0 or more"),
        ("prop:reps=0.5", "a whole number, 0 or more"),
        ("prop:due>x", "expected a whole number"),
        ("prop:ease>1,5", "expected a number"),
        ("prop:rated>1", "0 or less"),
        ("prop:resched=-1:2", "0 or less"),
        ("(" * 65 + "a" + ")" * 65, "nest too deeply"),
    ],
)
def test_invalid_searches_raise_one_clear_line(query: str, message: str) -> None:
    with pytest.raises(SearchError) as raised:
        parse(query)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "query",
    ["did:1", "dupe:1,dog", "preset:Default", "has-cd:v", "prop:cdn:d>5", "prop:cds:v=x",
     "prop:s>21", "prop:d>0.3", "prop:r<0.9", "deck:current"],
)
def test_refused_kinds_say_they_are_not_supported(query: str) -> None:
    with pytest.raises(SearchError, match="not supported"):
        parse(query)


def test_errors_are_value_errors() -> None:
    assert issubclass(SearchError, ValueError)


CONTEXT = SearchContext(
    notetypes={
        1: NotetypeInfo(1, "Basic", ("Front", "Back"), ("Card 1",)),
        2: NotetypeInfo(2, "Cloze", ("Text", "Extra"), ("Cloze",), is_cloze=True,
                        excluded_fields=frozenset({1})),
    },
    deck_names={1: "Default", 2: "A::B"},
    timing=DayTiming(today=10, next_day_at=1_000_086_400, now=1_000_050_000),
)
NOTES = [
    NoteCards(
        Note(1, "g", 1, 5, 0, " a::b ", "dog\x1f<b>cat</b> ä", "dog", 0, 0, ""),
        (Card(11, 1, 2, 0, 0, 0, 2, 2, 8, 3, 2500, 4, 1, 0, 0, 0, 1, ""),),
    ),
    NoteCards(
        Note(2, "g", 2, 5, 0, "", "{{c1::x}} y\x1fz", "x y", 0, 0, ""),
        (Card(21, 2, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, ""),),
    ),
]


def run_everywhere(query: str) -> None:
    """Parse, compile and run a search; only SearchError may come out."""
    try:
        search = compile_search(query, CONTEXT)
        for item in NOTES:
            search.note_matches(item)
            search.matching_cards(item)
    except SearchError:
        pass


@settings(deadline=None)
@given(query=st.text())
def test_any_text_parses_or_raises_search_error(query: str) -> None:
    run_everywhere(query)


SEARCH_ALPHABET = st.sampled_from(
    [*"ab -()\":\\*_'%,.", "and", "or", "deck:", "tag:", "re:", "is:", "prop:", "card:", "w:",
     "nc:", "sc:", "front:", "*:", "\u3000"]
)


@settings(deadline=None)
@given(parts=st.lists(SEARCH_ALPHABET, max_size=12))
def test_any_search_shaped_text_parses_or_raises_search_error(parts: list[str]) -> None:
    run_everywhere("".join(parts))


def regex_matches(pattern: str, text_: str, ignore_case: bool = True) -> bool:
    return RegexMatcher(parse_regex(pattern, ignore_case)).search(text_)


@pytest.mark.parametrize(
    ("pattern", "text_", "found"),
    [
        ("abc", "xxABCx", True),
        ("(?-i)A", "a", False),
        ("a(?i)B", "ab", True),
        ("^b", "ab", False),
        ("^a", "ab", True),
        ("b$", "ab\n", False),  # unlike Python's re, $ is only the end of the text
        ("(?m)b$", "ab\nc", True),
        ("(?m)^c", "ab\nc", True),
        ("a.b", "a\nb", False),
        ("(?s)a.b", "a\nb", True),
        ("a.b", "a\x1fb", True),  # fields are joined by \x1f, which . matches
        (r"\bfoo\b", "a foo b", True),
        (r"\bfoo\b", "afoo", False),
        (r"\<x", "yx", False),
        (r"x\>", "x y", True),
        (r"\b{start}x", "ax", False),
        (r"\b{2}x", "x", True),
        ("x{2,3}", "axxb", True),
        ("x{2,3}", "axb", False),
        ("colou?r", "color", True),
        ("(some|another).*thing", "another big thing", True),
        ("(?:a|b)*c", "c", True),
        (r"\d{3}", "a\u0661\u0662\u0663", True),  # Arabic-Indic digits: Rust's \d is Unicode
        (r"\s", "a\x1fb", False),  # the field separator is not white space
        (r"\w+", "_", True),
        ("[a-c]1", "B1", True),
        ("[^a]", "aa", False),
        ("[]a]", "]", True),
        ("[a-]", "-", True),
        ("[[:alpha:]&&b]", "a", False),
        ("[a-z--[aeiou]]", "e", False),
        (r"\x{1F}", "a\x1fb", True),
        (r"\u00e4", "Ä", True),
        (r"\pL", "1", False),
        (r"\p{Lu}", "a", True),  # case-insensitive classes include the other case
        (r"(?-i)\p{Lu}", "a", False),
        ("(?-i)ß", "ẞ", False),
        ("ß", "ẞ", True),
        ("k", "\u212a", True),  # Kelvin sign folds to k
        ("i", "\u0131", False),  # dotless i does not (simple case folding, as in Rust)
        ("слово", "СЛОВО", True),
        ("(?x) a b # comment", "ab", True),
        ("", "", True),
        ("a|", "", True),
        ("a**", "", True),
    ],
)
def test_regexes_match_as_rust_regex_does(pattern: str, text_: str, found: bool) -> None:
    assert regex_matches(pattern, text_) is found


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(", "unclosed group"),
        ("a)", "unopened group"),
        ("*", "missing expression"),
        ("(?i)*", "missing expression"),
        ("a{", "unclosed counted repetition"),
        ("a{,3}", "valid decimal"),
        ("a{2,1}", "start must be <= the end"),
        ("[]", "unclosed character class"),
        ("[a", "unclosed character class"),
        ("[z-a]", "invalid character class range"),
        (r"\1", "backreferences are not supported"),
        ("(?=a)", "look-around"),
        ("(?<!a)", "look-around"),
        (r"\e", "unrecognized escape"),
        (r"\Z", "unrecognized escape"),
        ("(?P<n>a)(?P<n>b)", "duplicate capture group name"),
        ("(?i-)a", "dangling flag negation"),
        ("(?ii)a", "duplicate flag"),
        ("(?R)a", "flag 'R' is not supported"),
        (r"\p{Greek}", "not supported"),
        (r"\x{110000}", "invalid hexadecimal escape"),
        ("a{1001}", "above 1000"),
        ("(" * 65 + ")" * 65, "nest too deeply"),
        ("((a{1000}){1000})", "too large"),
    ],
)
def test_regexes_rust_rejects_raise_search_error(pattern: str, message: str) -> None:
    with pytest.raises(SearchError) as raised:
        RegexMatcher(parse_regex(pattern, ignore_case=True))
    assert message in str(raised.value)


@pytest.mark.parametrize(
    "pattern",
    ["(a+)+$", "(a|aa)*c", "(a|a)*b", ".*.*.*.*.*x", "(\\w+\\s?)+$", "(x+x+)+y", "(.*a){20}"],
)
def test_backtracking_traps_run_in_linear_time(pattern: str) -> None:
    """Patterns that make Python's re (a backtracking engine) run for ages."""
    start = time.perf_counter()
    for size in (5_000, 10_000):
        regex_matches(pattern, "a" * size + "!")
    assert time.perf_counter() - start < 2.0


REGEX_ALPHABET = st.sampled_from(
    [*"ab.*+?()[]{}^$|\\-,:&~#<> 0123", "\\b", "\\d", "\\w", "\\p{L}", "(?i)", "(?-i)", "(?:",
     "(?P<n>", "[^", "[[:alpha:]]", "\\x41"]
)


@settings(deadline=None)
@given(parts=st.lists(REGEX_ALPHABET, max_size=12), subject=st.text(max_size=20))
def test_any_regex_compiles_or_raises_search_error(parts: list[str], subject: str) -> None:
    try:
        matcher = RegexMatcher(parse_regex("".join(parts), ignore_case=True))
    except SearchError:
        return
    assert matcher.search(subject) in (True, False)


@pytest.mark.parametrize(
    ("pattern", "text_", "found"),
    [
        ("%dog%", "hotdog!", True),
        ("%DOG%", "hotdog", True),
        ("%ÄPFEL%", "äpfel", False),  # SQLite folds ASCII letters only
        ("d_g", "dig", True),
        ("d_g", "dg", False),
        ("d%g", "dg", True),
        ("a\\%", "a%", True),
        ("a\\%", "ab", False),
        ("a\\_", "ab", False),
        ("a%b%c", "a-c-b-c", True),
        ("a%b%c", "a-c-c", False),
        ("%\x1fx\x1f%", "a\x1fx\x1fb", True),
        ("x\\", "x", False),  # an escape at the end matches nothing, as in SQLite
    ],
)
def test_like_patterns_match_as_sqlite_does(pattern: str, text_: str, found: bool) -> None:
    assert like(pattern).matches(text_) is found


def test_globs_ignore_unicode_case_and_keep_escaped_wildcards() -> None:
    assert glob("ÄPF*").matches("äpfel")
    assert glob("a\\*b").matches("a*b")
    assert not glob("a\\*b").matches("axb")
    assert glob("a\\_b").matches("a_b")
    assert not glob("a\\_b").matches("axb")


def test_many_wildcards_match_long_text_in_linear_time() -> None:
    pattern = like("%a%a%a%a%a%a%a%a%b")
    start = time.perf_counter()
    assert not pattern.matches("a" * 200_000)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize(
    ("original", "stripped"),
    [
        ("naïve Café", "naive Cafe"),
        ("Straße", "Strase"),
        ("ば", "は"),
        ("Œuvre", "OEuvre"),
        ("ﬁ", "fi"),
        ("plain", "plain"),
    ],
)
def test_nc_removes_combining_marks_as_anki_does(original: str, stripped: str) -> None:
    assert without_combining(original) == stripped


@pytest.mark.parametrize(
    ("original", "stripped"),
    [
        ("The {{c1::capital}} of {{c2::France}}", "The capital of France"),
        ("{{c1::dog::animal hint}} runs", "dog runs"),
        ("{{c1,2::a}}{{c3::b::c}}", "ab"),
        ("{{c1::open only", "{{c1::open only"),
        ("{{c1::x}} and {{c1::never closed", "x and {{c1::never closed"),
    ],
)
def test_sc_sees_notes_without_cloze_markup(original: str, stripped: str) -> None:
    assert strip_clozes(original) == stripped
