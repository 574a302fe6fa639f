"""Tests for the terms that look at a note alone: its text, tags, note type, id, mtime.

Text terms rebuild the LIKE patterns and regexes Anki's SQL uses (the sort field, the
fields joined by \\x1f, one pattern per run of searched fields) and match them safely.
"""

from __future__ import annotations

from collections.abc import Callable

from domain.search import nodes as n
from domain.search.escapes import is_glob, nfc, to_like, to_text
from domain.search.inputs import NotetypeInfo, SearchContext
from domain.search.regex_program import RegexMatcher
from domain.search.regex_syntax import Expr, parse_regex, word_expr
from domain.search.rows import Form, NoteRow
from domain.search.text_forms import without_combining
from domain.search.wildcards import Wildcard, glob, glob_tokens, like

NoteTest = Callable[[NoteRow], bool]
_ANY_FIELD = ("*", "_*", "*_")
_FORMS = {
    n.TextMode.NORMAL: Form.RAW,
    n.TextMode.NO_COMBINING: Form.NO_COMBINING,
    n.TextMode.STRIP_CLOZES: Form.STRIP_CLOZES,
}


def never(row: NoteRow) -> bool:
    return False


def name_matcher(search: str) -> Callable[[str], bool]:
    """Match a field, note type or template name: a glob, or equal ignoring case."""
    if is_glob(search):
        return glob(search).matches
    target = to_text(search).casefold()
    return lambda name: name.casefold() == target


def _runs(ords: list[int], join: bool) -> list[range]:
    """Field ords as ranges; with `join`, neighbouring fields form one run."""
    runs: list[range] = []
    for ord_ in ords:
        if join and runs and runs[-1].stop == ord_:
            runs[-1] = range(runs[-1].start, ord_ + 1)
        else:
            runs.append(range(ord_, ord_ + 1))
    return runs


def _fields_pattern(total: int, run: range, value: str) -> Wildcard:
    """Anki's LIKE pattern over all fields: `value` where the run starts, `%` elsewhere."""
    parts = [value if i == run.start else "%" for i in range(total) if i not in run[1:]]
    return like("\x1f".join(parts))


def text_test(node: n.Text, context: SearchContext) -> NoteTest:
    value = to_like(nfc(node.text))
    if node.mode is n.TextMode.NO_COMBINING:
        value = without_combining(value)
    return _unqualified(f"%{value}%", _FORMS[node.mode], context)


def cloze_test(context: SearchContext) -> NoteTest:
    mids = frozenset(t.id for t in context.notetypes.values() if t.is_cloze)
    return lambda row: row.note.mid in mids


def _unqualified(value: str, form: Form, context: SearchContext) -> NoteTest:
    pattern = like(value)
    if not any(t.excluded_fields for t in context.notetypes.values()):
        if form is Form.RAW:
            return lambda row: pattern.matches(row.note.sfld) or pattern.matches(row.note.flds)
        return lambda row: pattern.matches(row.text("sfld", form)) or pattern.matches(
            row.text("flds", form)
        )
    searched = {t.id: _searched_fields(t, value) for t in context.notetypes.values()}

    def test(row: NoteRow) -> bool:
        patterns, with_sort_field = searched.get(row.note.mid, ([], False))
        if with_sort_field and pattern.matches(row.text("sfld", form)):
            return True
        flds = row.text("flds", form)
        return any(p.matches(flds) for p in patterns)

    return test


def _searched_fields(notetype: NotetypeInfo, value: str) -> tuple[list[Wildcard], bool]:
    total = len(notetype.field_names)
    ords = [i for i in range(total) if i not in notetype.excluded_fields]
    patterns = [_fields_pattern(total, run, value) for run in _runs(ords, join=True)]
    return patterns, bool(patterns) and notetype.sort_field not in notetype.excluded_fields


def regex_test(node: n.Regex, context: SearchContext) -> NoteTest:
    return _unqualified_regex(parse_regex(nfc(node.pattern), ignore_case=True), context)


def word_test(node: n.WordText, context: SearchContext) -> NoteTest:
    return _unqualified_regex(word_expr(glob_tokens(nfc(node.text))), context)


def _unqualified_regex(expr: Expr, context: SearchContext) -> NoteTest:
    matcher = RegexMatcher(expr)
    types = context.notetypes.values()
    if not any(t.excluded_fields for t in types):
        return lambda row: matcher.search(row.note.flds)
    # None: every field is searched, as one text (so a match may span fields).
    included = {
        t.id: None if not t.excluded_fields
        else [i for i in range(len(t.field_names)) if i not in t.excluded_fields]
        for t in types
    }

    def test(row: NoteRow) -> bool:
        if row.note.mid not in included:
            return False
        ords = included[row.note.mid]
        if ords is None:
            return matcher.search(row.note.flds)
        fields = row.fields()
        return any(matcher.search(fields[i]) for i in ords if i < len(fields))

    return test


def field_test(node: n.FieldText, context: SearchContext) -> NoteTest:
    field, text = nfc(node.field), nfc(node.text)
    if field in _ANY_FIELD:
        return _any_field_test(text, node.mode is n.FieldMode.REGEX)
    matches_name = name_matcher(field)
    ords_by_type = {
        t.id: [i for i, name in enumerate(t.field_names) if matches_name(name)]
        for t in context.notetypes.values()
    }
    ords_by_type = {mid: ords for mid, ords in ords_by_type.items() if ords}
    if not ords_by_type:
        return never
    if node.mode is n.FieldMode.REGEX:
        return _field_regex_test(parse_regex(text, ignore_case=True), ords_by_type)
    return _field_like_test(text, node.mode is n.FieldMode.NO_COMBINING, ords_by_type, context)


def _any_field_test(text: str, regex: bool) -> NoteTest:
    if regex:
        matcher = RegexMatcher(parse_regex(text, ignore_case=True))
        return lambda row: any(matcher.search(f) for f in row.fields())
    pattern = glob(text)
    return lambda row: any(pattern.matches(f) for f in row.fields())


def _field_regex_test(expr: Expr, ords_by_type: dict[int, list[int]]) -> NoteTest:
    matcher = RegexMatcher(expr)

    def test(row: NoteRow) -> bool:
        fields = row.fields()
        ords = ords_by_type.get(row.note.mid, [])
        return any(matcher.search(fields[i]) for i in ords if i < len(fields))

    return test


def _field_like_test(
    text: str, no_combining: bool, ords_by_type: dict[int, list[int]], context: SearchContext
) -> NoteTest:
    value = without_combining(to_like(text)) if no_combining else to_like(text)
    join = text not in _ANY_FIELD  # Anki tests each field alone for "non-empty"
    patterns = {
        mid: [
            _fields_pattern(len(context.notetypes[mid].field_names), run, value)
            for run in _runs(ords, join)
        ]
        for mid, ords in ords_by_type.items()
    }
    form = Form.NO_COMBINING if no_combining else Form.RAW

    def test(row: NoteRow) -> bool:
        flds = row.text("flds", form)
        return any(p.matches(flds) for p in patterns.get(row.note.mid, []))

    return test


def tag_test(node: n.Tag, context: SearchContext) -> NoteTest:
    tag = nfc(node.tag)
    if node.mode is n.FieldMode.REGEX:
        matcher = RegexMatcher(parse_regex(tag, ignore_case=True))
        return lambda row: any(matcher.search(piece) for piece in row.tags().split(" "))
    if tag == "none":
        return lambda row: row.tags() == ""
    if tag == "*":
        return lambda row: True
    if " " in tag:
        return never
    no_combining = node.mode is n.FieldMode.NO_COMBINING
    pattern = glob(without_combining(tag) if no_combining else tag)
    form = Form.NO_COMBINING if no_combining else Form.RAW
    known: dict[str, bool] = {}  # many notes share the same tags

    def test(row: NoteRow) -> bool:
        tags = row.text("tags", form)
        if tags not in known:
            known[tags] = any(_tag_matches(pattern, t) for t in tags.split())
        return known[tags]

    return test


def _tag_matches(pattern: Wildcard, tag: str) -> bool:
    """The tag or one of its parents (`a` and `a::b` for `a::b::c`) matches."""
    ends = [i for i in range(len(tag) - 1) if tag.startswith("::", i)] + [len(tag)]
    return any(pattern.matches(tag, 0, end) for end in ends)


def notetype_test(node: n.NotetypeName, context: SearchContext) -> NoteTest:
    matches_name = name_matcher(nfc(node.name))
    mids = frozenset(t.id for t in context.notetypes.values() if matches_name(t.name))
    return lambda row: row.note.mid in mids


def edited_test(days: int, context: SearchContext) -> NoteTest:
    cutoff = context.timing.next_day_at - 86_400 * days
    return lambda row: row.note.mod > cutoff
