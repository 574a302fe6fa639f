"""Convert schema-18 collection rows into the schema-11 JSON objects that Anki writes.

Current clients upload collections whose note types, decks and deck configs are protobuf
blobs. The sync protocol and older clients use the schema-11 JSON objects instead (the
values of `col.models`, `col.decks` and `col.dconf`, and the objects in `applyChanges`).
Each function here takes the columns of one row and returns the dict that Anki itself
produces for that object when it downgrades a collection to schema 11, value for value:
f32 numbers in their shortest decimal form, Rust's integer casts, the deck-config range
checks Anki applies when it reads a config, and the keys kept in each message's `other`
field (number 255) merged back in. The functions are pure: no I/O, no clock.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Callable, Iterable, Sequence
from fractions import Fraction
from typing import Any, TypeVar

from adapters.ankifile import protobufs as pb

__all__ = [
    "CorruptBlob",
    "config_json",
    "deck_config_json",
    "deck_json",
    "notetype_json",
    "tags_json",
]

JsonObject = dict[str, Any]
FieldRow = tuple[int, str, bytes]
"""A `fields` row: (ord, name, config)."""
TemplateRow = tuple[int, str, int, int, bytes]
"""A `templates` row: (ord, name, mtime_secs, usn, config)."""

T = TypeVar("T")


class CorruptBlob(ValueError):
    """A blob column of a schema-18 collection cannot be decoded (Anki would fail too)."""

    def __init__(self, what: str, reason: object) -> None:
        super().__init__(f"cannot decode {what}: {reason}")
        self.what = what


# Keys that Anki drops from `other` because the message has a field for them.
_NOTETYPE_KEYS = frozenset(
    [
        "id",
        "name",
        "type",
        "mod",
        "usn",
        "sortf",
        "did",
        "tmpls",
        "flds",
        "css",
        "latexPre",
        "latexPost",
        "latexsvg",
        "req",
        "originalStockKind",
        "originalId",
    ]
)
_FIELD_KEYS = frozenset(
    [
        "name",
        "ord",
        "sticky",
        "rtl",
        "font",
        "size",
        "description",
        "plainText",
        "collapsed",
        "excludeFromSearch",
        "id",
        "tag",
        "preventDeletion",
    ]
)
_TEMPLATE_KEYS = frozenset(
    ["name", "ord", "qfmt", "afmt", "bqfmt", "bafmt", "did", "bfont", "bsize", "id"]
)
# NOTE: Anki does not reserve `md` or the filtered-deck keys, so `other` may repeat them;
# in Anki's output a later duplicate key wins, which the merge order below reproduces.
_DECK_KEYS = frozenset(
    [
        "id",
        "mod",
        "name",
        "usn",
        "lrnToday",
        "revToday",
        "newToday",
        "timeToday",
        "collapsed",
        "browserCollapsed",
        "desc",
        "dyn",
        "conf",
        "extendNew",
        "extendRev",
        "reviewLimit",
        "newLimit",
        "reviewLimitToday",
        "newLimitToday",
        "desiredRetention",
    ]
)
_DECK_CONFIG_KEYS = frozenset(
    [
        "id",
        "mod",
        "name",
        "usn",
        "maxTaken",
        "autoplay",
        "timer",
        "replayq",
        "dyn",
        "newMix",
        "newPerDayMinimum",
        "interdayLearningMix",
        "reviewOrder",
        "newSortOrder",
        "newGatherPriority",
        "buryInterdayLearning",
        "fsrsWeights",
        "fsrsParams5",
        "fsrsParams6",
        "desiredRetention",
        "ignoreRevlogsBeforeDate",
        "easyDaysPercentages",
        "stopTimerOnAnswer",
        "secondsToShowQuestion",
        "secondsToShowAnswer",
        "questionAction",
        "answerAction",
        "waitForAudio",
        "sm2Retention",
        "weightSearch",
    ]
)
_DECK_CONFIG_SECTIONS = {
    "new": frozenset(["bury", "delays", "initialFactor", "ints", "order", "perDay"]),
    "rev": frozenset(["bury", "ease4", "ivlFct", "maxIvl", "perDay", "hardFactor"]),
    "lapse": frozenset(["delays", "leechAction", "leechFails", "minInt", "mult"]),
}
_REQUIREMENT_KINDS = {1: "any", 2: "all"}
_SERDE_MAX_DEPTH = 127  # serde_json refuses the 128th nested array/object
_JSON_NUMBER = re.compile(r"(-?)(\d+)(?:\.(\d+))?(?:[eE]([-+]?)(\d+))?")
_U64_MAX = (1 << 64) - 1
_I32_MAX = (1 << 31) - 1


# Note types


def notetype_json(
    ntid: int,
    name: str,
    mtime: int,
    usn: int,
    config: bytes,
    fields: Sequence[FieldRow],
    templates: Sequence[TemplateRow],
) -> JsonObject:
    """Build a note type's schema-11 JSON from its `notetypes`, `fields`, `templates` rows.

    Raises:
        CorruptBlob: a config blob is not a valid protobuf message.
    """
    cfg = _decode(pb.decode_notetype_config, config, f"notetype {ntid} config")
    result: JsonObject = {
        "id": ntid,
        "name": name,
        "type": 1 if cfg.kind == 1 else 0,
        "mod": mtime,
        "usn": usn,
        "sortf": cfg.sort_field_idx & 0xFFFF,
        "did": cfg.target_deck_id_unused or None,
        "tmpls": [_template_json(ntid, row) for row in sorted(templates, key=lambda r: r[0])],
        "flds": [_field_json(ntid, row) for row in sorted(fields, key=lambda r: r[0])],
        "css": cfg.css,
        "latexPre": cfg.latex_pre,
        "latexPost": cfg.latex_post,
        "latexsvg": cfg.latex_svg,
        "req": [_requirement_json(req) for req in cfg.reqs],
    }
    if cfg.original_stock_kind:
        result["originalStockKind"] = cfg.original_stock_kind
    if cfg.HasField("original_id"):  # NOTE: an explicit 0 is written too
        result["originalId"] = cfg.original_id
    return result | _other_fields(cfg.other, _NOTETYPE_KEYS)


def _field_json(ntid: int, row: FieldRow) -> JsonObject:
    ord_, name, config = row
    cfg = _decode(pb.decode_field_config, config, f"notetype {ntid} field {ord_}")
    result: JsonObject = {
        "name": name,
        "ord": ord_ & 0xFFFF,
        "sticky": cfg.sticky,
        "rtl": cfg.rtl,
        "font": cfg.font_name,
        "size": cfg.font_size & 0xFFFF,
        "description": cfg.description,
        "plainText": cfg.plain_text,
        "collapsed": cfg.collapsed,
        "excludeFromSearch": cfg.exclude_from_search,
        "id": cfg.id if cfg.HasField("id") else None,
        "tag": cfg.tag if cfg.HasField("tag") else None,
        "preventDeletion": cfg.prevent_deletion,
    }
    return result | _other_fields(cfg.other, _FIELD_KEYS)


def _template_json(ntid: int, row: TemplateRow) -> JsonObject:
    ord_, name, _mtime, _usn, config = row  # schema 11 has no per-template mtime/usn
    cfg = _decode(pb.decode_template_config, config, f"notetype {ntid} template {ord_}")
    result: JsonObject = {
        "name": name,
        "ord": ord_ & 0xFFFF,
        "qfmt": cfg.q_format,
        "afmt": cfg.a_format,
        "bqfmt": cfg.q_format_browser,
        "bafmt": cfg.a_format_browser,
        "did": cfg.target_deck_id if cfg.target_deck_id > 0 else None,
        "bfont": cfg.browser_font_name,
        "bsize": cfg.browser_font_size & 0xFF,
        "id": cfg.id if cfg.HasField("id") else None,
    }
    return result | _other_fields(cfg.other, _TEMPLATE_KEYS)


def _requirement_json(req: pb.CardRequirement) -> list[Any]:
    kind = _REQUIREMENT_KINDS.get(req.kind, "none")
    return [req.card_ord & 0xFFFF, kind, [ord_ & 0xFFFF for ord_ in req.field_ords]]


# Decks


def deck_json(did: int, name: str, mtime: int, usn: int, common: bytes, kind: bytes) -> JsonObject:
    """Build a deck's schema-11 JSON from its `decks` row.

    `name` is the stored name, whose levels are joined by "\\x1f"; the JSON uses "::".

    Raises:
        CorruptBlob: a blob is not a valid protobuf message, or `kind` holds no deck kind.
    """
    shared = _decode(pb.decode_deck_common, common, f"deck {did} common")
    container = _decode(pb.decode_deck_kind, kind, f"deck {did} kind")
    which = container.WhichOneof("kind")
    if which is None:
        raise CorruptBlob(f"deck {did} kind", "neither normal nor filtered")
    normal = container.normal if which == "normal" else None
    result: JsonObject = {"id": did, "mod": mtime, "name": name.replace("\x1f", "::"), "usn": usn}
    result |= _today_json(shared)
    result |= {
        "collapsed": shared.study_collapsed,
        "browserCollapsed": shared.browser_collapsed,
        "desc": normal.description if normal is not None else "",
    }
    if normal is not None and normal.markdown_description:
        result["md"] = True
    result["dyn"] = 0 if normal is not None else 1
    result |= _other_fields(shared.other, _DECK_KEYS)
    return result | (_normal_json(normal) if normal is not None else _filtered_json(container))


def _today_json(common: pb.DeckCommon) -> JsonObject:
    day = _as_i32(common.last_day_studied)
    return {
        "lrnToday": [day, common.learning_studied],
        "revToday": [day, common.review_studied],
        "newToday": [day, common.new_studied],
        "timeToday": [day, common.milliseconds_studied],
    }


def _normal_json(deck: pb.NormalDeck) -> JsonObject:
    retention = None
    if deck.HasField("desired_retention"):  # a fraction, written as a whole percent
        retention = _float_as_uint(_f32_mul(deck.desired_retention, 100.0), 32)
    return {
        "conf": deck.config_id,
        "extendNew": _as_i32(deck.extend_new),
        "extendRev": _as_i32(deck.extend_review),
        "reviewLimit": deck.review_limit if deck.HasField("review_limit") else None,
        "newLimit": deck.new_limit if deck.HasField("new_limit") else None,
        "reviewLimitToday": _day_limit_json(deck, "review_limit_today"),
        "newLimitToday": _day_limit_json(deck, "new_limit_today"),
        "desiredRetention": retention,
    }


def _day_limit_json(deck: pb.NormalDeck, field: str) -> JsonObject | None:
    if not deck.HasField(field):
        return None
    limit = deck.review_limit_today if field == "review_limit_today" else deck.new_limit_today
    return {"limit": limit.limit, "today": limit.today}


def _filtered_json(container: pb.DeckKindContainer) -> JsonObject:
    deck = container.filtered
    return {
        "resched": deck.reschedule,
        "terms": [[term.search, _as_i32(term.limit), term.order] for term in deck.search_terms],
        "separate": True,  # unused, but old clients require it
        "delays": _f32_list(deck.delays) or None,
        "previewDelay": deck.preview_delay,
        "previewAgainSecs": deck.preview_again_secs,
        "previewHardSecs": deck.preview_hard_secs,
        "previewGoodSecs": deck.preview_good_secs,
    }


# Deck configs


def deck_config_json(dcid: int, name: str, mtime: int, usn: int, config: bytes) -> JsonObject:
    """Build a deck config's schema-11 JSON from its `deck_config` row.

    Like Anki, out-of-range numbers (e.g. a desired retention of 0) become the defaults.

    Raises:
        CorruptBlob: `config` is not a valid protobuf message.
    """
    cfg = _decode(pb.decode_deck_config, config, f"deck config {dcid}")
    other = _json_object_or_empty(cfg.other)
    extra = {
        key: _section_other(other.pop(key, None), keys)
        for key, keys in _DECK_CONFIG_SECTIONS.items()
    }
    result: JsonObject = {
        "id": dcid,
        "mod": mtime,
        "name": name,
        "usn": usn,
        "maxTaken": _valid_u32(cfg.cap_answer_time_to_secs, 60, 1, 9999),
        "autoplay": not cfg.disable_autoplay,
        "timer": int(cfg.show_timer),
        "replayq": not cfg.skip_question_when_replaying_answer,
        "new": _new_cards_json(cfg) | extra["new"],
        "rev": _reviews_json(cfg) | extra["rev"],
        "lapse": _lapses_json(cfg) | extra["lapse"],
        "dyn": False,
    }
    result |= _scheduler_json(cfg) | _fsrs_json(cfg) | _timer_json(cfg)
    return result | {key: value for key, value in other.items() if key not in _DECK_CONFIG_KEYS}


def _section_other(value: Any, reserved: frozenset[str]) -> JsonObject:
    if not isinstance(value, dict):
        return {}
    return {key: item for key, item in value.items() if key not in reserved}


def _new_cards_json(cfg: pb.DeckConfigConfig) -> JsonObject:
    ease = _valid_f32(cfg.initial_ease, 2.5, 1.31, 5.0)
    good = _valid_u32(cfg.graduating_interval_good, 1, 1, 36_500)
    easy = _valid_u32(cfg.graduating_interval_easy, 4, 1, 36_500)
    return {
        "bury": cfg.bury_new,
        "delays": _f32_list(cfg.learn_steps),
        "initialFactor": _float_as_uint(_f32_mul(ease, 1000.0), 16),
        "ints": [good, easy, 0],
        "order": 0 if cfg.new_card_insert_order == 1 else 1,  # schema 11: 0 random, 1 due
        "perDay": _valid_u32(cfg.new_per_day, 20, 0, 9999),
    }


def _reviews_json(cfg: pb.DeckConfigConfig) -> JsonObject:
    return {
        "bury": cfg.bury_reviews,
        "ease4": _f32_json(_valid_f32(cfg.easy_multiplier, 1.3, 1.0, 5.0)),
        "ivlFct": _f32_json(_valid_f32(cfg.interval_multiplier, 1.0, 0.5, 2.0)),
        "maxIvl": _valid_u32(cfg.maximum_review_interval, 36_500, 1, 36_500),
        "perDay": _valid_u32(cfg.reviews_per_day, 200, 0, 9999),
        "hardFactor": _f32_json(_valid_f32(cfg.hard_multiplier, 1.2, 0.5, 1.3)),
    }


def _lapses_json(cfg: pb.DeckConfigConfig) -> JsonObject:
    return {
        "delays": _f32_list(cfg.relearn_steps),
        "leechAction": 1 if cfg.leech_action == 1 else 0,  # anything unknown: suspend
        "leechFails": _valid_u32(cfg.leech_threshold, 8, 1, 9999),
        "minInt": _valid_u32(cfg.minimum_lapse_interval, 1, 1, 36_500),
        "mult": _f32_json(_valid_f32(cfg.lapse_multiplier, 0.0, 0.0, 1.0)),
    }


def _scheduler_json(cfg: pb.DeckConfigConfig) -> JsonObject:
    # The v3 scheduler's orders are written as raw ints, unknown values included.
    return {
        "newMix": cfg.new_mix,
        "newPerDayMinimum": _valid_u32(cfg.new_per_day_minimum, 0, 0, 9999),
        "interdayLearningMix": cfg.interday_learning_mix,
        "reviewOrder": cfg.review_order,
        "newSortOrder": cfg.new_card_sort_order,
        "newGatherPriority": cfg.new_card_gather_priority,
        "buryInterdayLearning": cfg.bury_interday_learning,
    }


def _fsrs_json(cfg: pb.DeckConfigConfig) -> JsonObject:
    return {
        "fsrsWeights": _f32_list(cfg.fsrs_params_4),
        "fsrsParams5": _f32_list(cfg.fsrs_params_5),
        "fsrsParams6": _f32_list(cfg.fsrs_params_6),
        "desiredRetention": _f32_json(_valid_f32(cfg.desired_retention, 0.9, 0.7, 0.99)),
        "ignoreRevlogsBeforeDate": cfg.ignore_revlogs_before_date,
        "easyDaysPercentages": _f32_list(cfg.easy_days_percentages),
    }


def _timer_json(cfg: pb.DeckConfigConfig) -> JsonObject:
    return {
        "stopTimerOnAnswer": cfg.stop_timer_on_answer,
        "secondsToShowQuestion": _f32_json(cfg.seconds_to_show_question),
        "secondsToShowAnswer": _f32_json(cfg.seconds_to_show_answer),
        "questionAction": 1 if cfg.question_action == 1 else 0,
        "answerAction": cfg.answer_action if 1 <= cfg.answer_action <= 4 else 0,
        "waitForAudio": cfg.wait_for_audio,
        "sm2Retention": _f32_json(_valid_f32(cfg.historical_retention, 0.9, 0.7, 0.97)),
        "weightSearch": cfg.param_search,
    }


def _valid_u32(value: int, default: int, low: int, high: int) -> int:
    return value if low <= value <= high else default


def _valid_f32(value: float, default: float, low: float, high: float) -> float:
    # Anki compares in f32, so the bounds are rounded to f32 first.
    if math.isnan(value) or value < _to_f32(low) or value > _to_f32(high):
        return _to_f32(default)
    return value


# Collection config and tags


def config_json(entries: Iterable[tuple[str, bytes]]) -> JsonObject:
    """Build the schema-11 collection config (`col.conf`) from `config` rows (key, val).

    Raises:
        CorruptBlob: a value is not JSON that Anki can read.
    """
    result: JsonObject = {}
    for key, value in entries:
        raw = _blob(value, f"config {key!r}")
        try:
            result[key] = _serde_loads(raw)
        except ValueError as exc:
            raise CorruptBlob(f"config {key!r}", exc) from exc
    return result


def tags_json(rows: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Build the schema-11 tag map (`col.tags`: name to usn) from `tags` rows (tag, usn)."""
    return dict(rows)


# Decoding helpers


def _blob(data: bytes, what: str) -> bytes:
    # sqlite3 returns TEXT columns as str; Anki refuses those where it expects a blob.
    if not isinstance(data, bytes):
        raise CorruptBlob(what, f"expected a blob, got {type(data).__name__}")
    return data


def _decode(decode: Callable[[bytes], T], data: bytes, what: str) -> T:
    try:
        return decode(_blob(data, what))
    except pb.DecodeError as exc:
        raise CorruptBlob(what, exc) from exc


def _other_fields(raw: bytes, reserved: frozenset[str]) -> JsonObject:
    """Return the keys kept in an `other` field, minus those the message has fields for."""
    return {key: value for key, value in _json_object_or_empty(raw).items() if key not in reserved}


def _json_object_or_empty(raw: bytes) -> JsonObject:
    # NOTE: Anki ignores an `other` field that is not a JSON object rather than failing.
    if not raw:
        return {}
    try:
        parsed = _serde_loads(raw)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _serde_loads(raw: bytes) -> Any:
    """Parse JSON as serde_json (Anki) does, raising ValueError where it would fail."""
    try:
        value = json.loads(
            raw.decode("utf-8"),
            parse_constant=_reject_constant,
            parse_float=_serde_number,
            parse_int=_serde_number,
        )
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc
    if _too_deep(value, _SERDE_MAX_DEPTH):
        raise ValueError("JSON nested too deeply")
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # lone surrogates: UnicodeError
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _serde_number(text: str) -> int | float:
    """Convert a JSON number as serde_json does without its `float_roundtrip` feature.

    Integers that fit i64 or u64 stay ints. Everything else becomes a double built from
    at most a u64 of digits (later digits are dropped) and one multiplication or division
    by a power of ten, which is not always the correctly rounded value.
    """
    match = _JSON_NUMBER.fullmatch(text)
    if match is None:  # not reached: the json module only passes valid numbers
        raise ValueError(f"invalid number {text!r}")
    sign, whole, fraction, exp_sign, exp_digits = match.groups()
    significand, exponent, overflowed = 0, 0, False
    for digit in map(int, whole):
        overflowed = overflowed or significand * 10 + digit > _U64_MAX
        if overflowed:
            exponent += 1
        else:
            significand = significand * 10 + digit
    if fraction is None and exp_digits is None and not overflowed:
        return _serde_integer(significand, negative=sign == "-")
    for digit in map(int, fraction or ""):
        if significand * 10 + digit > _U64_MAX:
            break
        significand, exponent = significand * 10 + digit, exponent - 1
    if exp_digits is not None:
        shifted = _serde_exponent(exponent, exp_sign, exp_digits, significand)
        if shifted is None:
            return -0.0 if sign == "-" else 0.0
        exponent = shifted
    value = _f64_from_parts(significand, exponent)
    return -value if sign == "-" else value


def _serde_integer(significand: int, *, negative: bool) -> int | float:
    if not negative:
        return significand
    return -significand if 0 < significand <= 1 << 63 else -float(significand)


def _serde_exponent(start: int, sign: str, digits: str, significand: int) -> int | None:
    """Return the final exponent, or None when it underflows to zero."""
    value = 0
    for digit in map(int, digits):
        value = value * 10 + digit
        if value > _I32_MAX:
            if significand != 0 and sign != "-":
                raise ValueError("number out of range")
            return None
    total = start - value if sign == "-" else start + value
    return max(-_I32_MAX - 1, min(total, _I32_MAX))


def _f64_from_parts(significand: int, exponent: int) -> float:
    value = float(significand)
    while abs(exponent) > 308:
        if value == 0.0:
            return value
        if exponent >= 0:
            raise ValueError("number out of range")
        value, exponent = value / 1e308, exponent + 308
    if exponent < 0:
        return value / float(f"1e{-exponent}")
    value *= float(f"1e{exponent}")
    if math.isinf(value):
        raise ValueError("number out of range")
    return value


def _too_deep(value: Any, budget: int) -> bool:
    if isinstance(value, dict):
        children: Iterable[Any] = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return False
    return budget == 0 or any(_too_deep(child, budget - 1) for child in children)


# Numbers as Rust and serde_json produce them


def _as_i32(value: int) -> int:
    """Reinterpret the low 32 bits as signed, like Rust's `u32 as i32`."""
    value &= 0xFFFF_FFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _float_as_uint(value: float, bits: int) -> int:
    """Convert like Rust's `f32 as uN`: truncate and saturate; NaN becomes 0."""
    if math.isnan(value) or value <= 0:
        return 0
    return min(math.trunc(value), (1 << bits) - 1) if math.isfinite(value) else (1 << bits) - 1


def _to_f32(value: float) -> float:
    """Round to the nearest f32, as Rust's `f64 as f32` does."""
    try:
        rounded: float = struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:
        return math.copysign(math.inf, value)
    return rounded


def _f32_mul(left: float, right: float) -> float:
    # The exact product of two f32s fits in a double, so one rounding gives f32 arithmetic.
    return _to_f32(left * right)


def _f32_list(values: Iterable[float]) -> list[float | None]:
    return [_f32_json(value) for value in values]


def _f32_json(value: float) -> float | None:
    """Return an f32 as it reads back from serde_json's output (null if not finite)."""
    if not math.isfinite(value):
        return None
    if value == 0:
        return value
    return math.copysign(_shortest_f32(abs(value)), value)


def _shortest_f32(value: float) -> float:
    # serde_json prints f32 with ryu: the decimal with the fewest significant digits that
    # still reads back as the same f32, the closest one if several qualify.
    low, high, closed = _f32_rounding_interval(value)
    exact = Fraction(value)
    exponent = _decimal_exponent(exact)
    for digits in range(1, 10):
        step = Fraction(10) ** (exponent - digits + 1)
        best = _closest_multiple(exact, step, (low, high, closed))
        if best is not None:
            return float(best)
    return value  # not reached: nine significant digits identify every f32


def _f32_rounding_interval(value: float) -> tuple[Fraction, Fraction, bool]:
    bits: int = struct.unpack("<I", struct.pack("<f", value))[0]
    below = _f32_from_bits(bits - 1)
    above = _f32_from_bits(bits + 1) if bits + 1 < 0x7F80_0000 else 2 * value - below
    exact = Fraction(value)
    # Round-half-even: the bounds read back as `value` only if its mantissa is even.
    return (exact + Fraction(below)) / 2, (exact + Fraction(above)) / 2, bits % 2 == 0


def _f32_from_bits(bits: int) -> float:
    value: float = struct.unpack("<f", struct.pack("<I", bits))[0]
    return value


def _decimal_exponent(exact: Fraction) -> int:
    exponent = math.floor(math.log10(exact))
    while Fraction(10) ** exponent > exact:
        exponent -= 1
    while Fraction(10) ** (exponent + 1) <= exact:
        exponent += 1
    return exponent


def _closest_multiple(
    exact: Fraction, step: Fraction, interval: tuple[Fraction, Fraction, bool]
) -> Fraction | None:
    low, high, closed = interval
    middle = round(exact / step)
    fits = [
        m * step
        for m in (middle - 1, middle, middle + 1)
        if (low <= m * step <= high if closed else low < m * step < high)
    ]
    return min(fits, key=lambda c: (abs(c - exact), (c / step) % 2), default=None)
