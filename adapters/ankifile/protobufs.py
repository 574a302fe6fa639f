"""Protobuf messages stored in schema-18 collection files, defined in code.

Current Anki clients store note types, fields, templates, decks and deck configs as
protobuf blobs. This module declares the few messages ankiserv decodes, with field
numbers and wire types matching Anki's file format, and builds them at import time
with `descriptor_pb2` and `message_factory` (no protoc, no generated modules).

Anki's nested enums are declared as plain `int32`: the wire format is the same, and
unknown values decode as ints instead of being rejected. Decoded messages are exposed
through the `Protocol` classes below so that callers are type-checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet

__all__ = [
    "CardRequirement",
    "DayLimit",
    "DeckCommon",
    "DeckConfigConfig",
    "DeckKindContainer",
    "DecodeError",
    "FieldConfig",
    "FilteredDeck",
    "NormalDeck",
    "NotetypeConfig",
    "SearchTerm",
    "TemplateConfig",
    "decode_deck_common",
    "decode_deck_config",
    "decode_deck_kind",
    "decode_field_config",
    "decode_notetype_config",
    "decode_package_media",
    "decode_package_version",
    "decode_template_config",
    "encode_package_version",
]

PACKAGE = "ankiserv.schema18"

_FDP = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "bool": _FDP.TYPE_BOOL,
    "int32": _FDP.TYPE_INT32,
    "uint32": _FDP.TYPE_UINT32,
    "int64": _FDP.TYPE_INT64,
    "float": _FDP.TYPE_FLOAT,
    "string": _FDP.TYPE_STRING,
    "bytes": _FDP.TYPE_BYTES,
}


@dataclass(frozen=True, slots=True)
class _F:
    """One field: `kind` is a scalar name from `_SCALARS` or a message name."""

    name: str
    number: int
    kind: str
    repeated: bool = False
    optional: bool = False  # proto3 `optional`: has presence
    oneof: str | None = None


_MESSAGES: dict[str, tuple[_F, ...]] = {
    # anki.import_export.PackageMetadata (`meta` in a collection package)
    "PackageMetadata": (_F("version", 1, "int32"),),
    # anki.import_export.MediaEntries.MediaEntry and MediaEntries (`media` in a package)
    "PackageMediaEntry": (
        _F("name", 1, "string"),
        _F("size", 2, "uint32"),
        _F("sha1", 3, "bytes"),
        _F("legacy_zip_filename", 255, "uint32", optional=True),
    ),
    "PackageMediaEntries": (_F("entries", 1, "PackageMediaEntry", repeated=True),),
    # anki.notetypes.Notetype.Config.CardRequirement
    "CardRequirement": (
        _F("card_ord", 1, "uint32"),
        _F("kind", 2, "int32"),
        _F("field_ords", 3, "uint32", repeated=True),
    ),
    # anki.notetypes.Notetype.Config
    "NotetypeConfig": (
        _F("kind", 1, "int32"),
        _F("sort_field_idx", 2, "uint32"),
        _F("css", 3, "string"),
        _F("target_deck_id_unused", 4, "int64"),
        _F("latex_pre", 5, "string"),
        _F("latex_post", 6, "string"),
        _F("latex_svg", 7, "bool"),
        _F("reqs", 8, "CardRequirement", repeated=True),
        _F("original_stock_kind", 9, "int32"),
        _F("original_id", 10, "int64", optional=True),
        _F("other", 255, "bytes"),
    ),
    # anki.notetypes.Notetype.Field.Config
    "FieldConfig": (
        _F("sticky", 1, "bool"),
        _F("rtl", 2, "bool"),
        _F("font_name", 3, "string"),
        _F("font_size", 4, "uint32"),
        _F("description", 5, "string"),
        _F("plain_text", 6, "bool"),
        _F("collapsed", 7, "bool"),
        _F("exclude_from_search", 8, "bool"),
        _F("id", 9, "int64", optional=True),
        _F("tag", 10, "uint32", optional=True),
        _F("prevent_deletion", 11, "bool"),
        _F("other", 255, "bytes"),
    ),
    # anki.notetypes.Notetype.Template.Config
    "TemplateConfig": (
        _F("q_format", 1, "string"),
        _F("a_format", 2, "string"),
        _F("q_format_browser", 3, "string"),
        _F("a_format_browser", 4, "string"),
        _F("target_deck_id", 5, "int64"),
        _F("browser_font_name", 6, "string"),
        _F("browser_font_size", 7, "uint32"),
        _F("id", 8, "int64", optional=True),
        _F("other", 255, "bytes"),
    ),
    # anki.decks.Deck.Common
    "DeckCommon": (
        _F("study_collapsed", 1, "bool"),
        _F("browser_collapsed", 2, "bool"),
        _F("last_day_studied", 3, "uint32"),
        _F("new_studied", 4, "int32"),
        _F("review_studied", 5, "int32"),
        _F("learning_studied", 6, "int32"),
        _F("milliseconds_studied", 7, "int32"),
        _F("other", 255, "bytes"),
    ),
    # anki.decks.Deck.Normal.DayLimit
    "DayLimit": (
        _F("limit", 1, "uint32"),
        _F("today", 2, "uint32"),
    ),
    # anki.decks.Deck.Normal
    "NormalDeck": (
        _F("config_id", 1, "int64"),
        _F("extend_new", 2, "uint32"),
        _F("extend_review", 3, "uint32"),
        _F("description", 4, "string"),
        _F("markdown_description", 5, "bool"),
        _F("review_limit", 6, "uint32", optional=True),
        _F("new_limit", 7, "uint32", optional=True),
        _F("review_limit_today", 8, "DayLimit"),
        _F("new_limit_today", 9, "DayLimit"),
        _F("desired_retention", 10, "float", optional=True),
    ),
    # anki.decks.Deck.Filtered.SearchTerm
    "SearchTerm": (
        _F("search", 1, "string"),
        _F("limit", 2, "uint32"),
        _F("order", 3, "int32"),
    ),
    # anki.decks.Deck.Filtered
    "FilteredDeck": (
        _F("reschedule", 1, "bool"),
        _F("search_terms", 2, "SearchTerm", repeated=True),
        _F("delays", 3, "float", repeated=True),
        _F("preview_delay", 4, "uint32"),
        _F("preview_hard_secs", 5, "uint32"),
        _F("preview_good_secs", 6, "uint32"),
        _F("preview_again_secs", 7, "uint32"),
    ),
    # anki.decks.Deck.KindContainer
    "DeckKindContainer": (
        _F("normal", 1, "NormalDeck", oneof="kind"),
        _F("filtered", 2, "FilteredDeck", oneof="kind"),
    ),
    # anki.deck_config.DeckConfig.Config
    "DeckConfigConfig": (
        _F("learn_steps", 1, "float", repeated=True),
        _F("relearn_steps", 2, "float", repeated=True),
        _F("fsrs_params_4", 3, "float", repeated=True),
        _F("easy_days_percentages", 4, "float", repeated=True),
        _F("fsrs_params_5", 5, "float", repeated=True),
        _F("fsrs_params_6", 6, "float", repeated=True),
        _F("new_per_day", 9, "uint32"),
        _F("reviews_per_day", 10, "uint32"),
        _F("initial_ease", 11, "float"),
        _F("easy_multiplier", 12, "float"),
        _F("hard_multiplier", 13, "float"),
        _F("lapse_multiplier", 14, "float"),
        _F("interval_multiplier", 15, "float"),
        _F("maximum_review_interval", 16, "uint32"),
        _F("minimum_lapse_interval", 17, "uint32"),
        _F("graduating_interval_good", 18, "uint32"),
        _F("graduating_interval_easy", 19, "uint32"),
        _F("new_card_insert_order", 20, "int32"),
        _F("leech_action", 21, "int32"),
        _F("leech_threshold", 22, "uint32"),
        _F("disable_autoplay", 23, "bool"),
        _F("cap_answer_time_to_secs", 24, "uint32"),
        _F("show_timer", 25, "bool"),
        _F("skip_question_when_replaying_answer", 26, "bool"),
        _F("bury_new", 27, "bool"),
        _F("bury_reviews", 28, "bool"),
        _F("bury_interday_learning", 29, "bool"),
        _F("new_mix", 30, "int32"),
        _F("interday_learning_mix", 31, "int32"),
        _F("new_card_sort_order", 32, "int32"),
        _F("review_order", 33, "int32"),
        _F("new_card_gather_priority", 34, "int32"),
        _F("new_per_day_minimum", 35, "uint32"),
        _F("question_action", 36, "int32"),
        _F("desired_retention", 37, "float"),
        _F("stop_timer_on_answer", 38, "bool"),
        _F("historical_retention", 40, "float"),
        _F("seconds_to_show_question", 41, "float"),
        _F("seconds_to_show_answer", 42, "float"),
        _F("answer_action", 43, "int32"),
        _F("wait_for_audio", 44, "bool"),
        _F("param_search", 45, "string"),
        _F("ignore_revlogs_before_date", 46, "string"),
        _F("other", 255, "bytes"),
    ),
}


class HasPresence(Protocol):
    def HasField(self, field_name: str, /) -> bool: ...


class CardRequirement(Protocol):
    card_ord: int
    kind: int
    field_ords: Sequence[int]


class NotetypeConfig(HasPresence, Protocol):
    kind: int
    sort_field_idx: int
    css: str
    target_deck_id_unused: int
    latex_pre: str
    latex_post: str
    latex_svg: bool
    reqs: Sequence[CardRequirement]
    original_stock_kind: int
    original_id: int
    other: bytes


class FieldConfig(HasPresence, Protocol):
    sticky: bool
    rtl: bool
    font_name: str
    font_size: int
    description: str
    plain_text: bool
    collapsed: bool
    exclude_from_search: bool
    id: int
    tag: int
    prevent_deletion: bool
    other: bytes


class TemplateConfig(HasPresence, Protocol):
    q_format: str
    a_format: str
    q_format_browser: str
    a_format_browser: str
    target_deck_id: int
    browser_font_name: str
    browser_font_size: int
    id: int
    other: bytes


class DeckCommon(Protocol):
    study_collapsed: bool
    browser_collapsed: bool
    last_day_studied: int
    new_studied: int
    review_studied: int
    learning_studied: int
    milliseconds_studied: int
    other: bytes


class DayLimit(Protocol):
    limit: int
    today: int


class NormalDeck(HasPresence, Protocol):
    config_id: int
    extend_new: int
    extend_review: int
    description: str
    markdown_description: bool
    review_limit: int
    new_limit: int
    review_limit_today: DayLimit
    new_limit_today: DayLimit
    desired_retention: float


class SearchTerm(Protocol):
    search: str
    limit: int
    order: int


class FilteredDeck(Protocol):
    reschedule: bool
    search_terms: Sequence[SearchTerm]
    delays: Sequence[float]
    preview_delay: int
    preview_again_secs: int
    preview_hard_secs: int
    preview_good_secs: int


class DeckKindContainer(Protocol):
    normal: NormalDeck
    filtered: FilteredDeck

    def WhichOneof(self, oneof_group: str, /) -> str | None: ...


class DeckConfigConfig(Protocol):
    learn_steps: Sequence[float]
    relearn_steps: Sequence[float]
    fsrs_params_4: Sequence[float]
    fsrs_params_5: Sequence[float]
    fsrs_params_6: Sequence[float]
    new_per_day: int
    reviews_per_day: int
    new_per_day_minimum: int
    initial_ease: float
    easy_multiplier: float
    hard_multiplier: float
    lapse_multiplier: float
    interval_multiplier: float
    maximum_review_interval: int
    minimum_lapse_interval: int
    graduating_interval_good: int
    graduating_interval_easy: int
    new_card_insert_order: int
    new_card_gather_priority: int
    new_card_sort_order: int
    new_mix: int
    review_order: int
    interday_learning_mix: int
    leech_action: int
    leech_threshold: int
    disable_autoplay: bool
    cap_answer_time_to_secs: int
    show_timer: bool
    stop_timer_on_answer: bool
    seconds_to_show_question: float
    seconds_to_show_answer: float
    question_action: int
    answer_action: int
    wait_for_audio: bool
    skip_question_when_replaying_answer: bool
    bury_new: bool
    bury_reviews: bool
    bury_interday_learning: bool
    desired_retention: float
    ignore_revlogs_before_date: str
    easy_days_percentages: Sequence[float]
    historical_retention: float
    param_search: str
    other: bytes


def _field_proto(spec: _F, oneofs: list[str]) -> descriptor_pb2.FieldDescriptorProto:
    field = _FDP(name=spec.name, number=spec.number, json_name=spec.name)
    field.label = _FDP.LABEL_REPEATED if spec.repeated else _FDP.LABEL_OPTIONAL
    if spec.kind in _SCALARS:
        field.type = _SCALARS[spec.kind]
    else:
        field.type = _FDP.TYPE_MESSAGE
        field.type_name = f".{PACKAGE}.{spec.kind}"
    group = spec.oneof or (f"_{spec.name}" if spec.optional else None)
    if group is not None:
        if group not in oneofs:
            oneofs.append(group)
        field.oneof_index = oneofs.index(group)
        field.proto3_optional = spec.optional
    return field


def _message_proto(name: str, specs: tuple[_F, ...]) -> descriptor_pb2.DescriptorProto:
    # Real oneofs must precede the synthetic ones protoc makes for `optional` fields.
    oneofs = sorted({s.oneof for s in specs if s.oneof is not None})
    message = descriptor_pb2.DescriptorProto(name=name)
    message.field.extend(_field_proto(spec, oneofs) for spec in specs)
    message.oneof_decl.extend(descriptor_pb2.OneofDescriptorProto(name=o) for o in oneofs)
    return message


def _build_classes() -> dict[str, type[Message]]:
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="ankiserv/schema18.proto", package=PACKAGE, syntax="proto3"
    )
    file_proto.message_type.extend(_message_proto(n, s) for n, s in _MESSAGES.items())
    # A private pool keeps these apart from any other protobufs loaded in the process.
    classes = message_factory.GetMessages([file_proto], pool=descriptor_pool.DescriptorPool())
    return {name: classes[f"{PACKAGE}.{name}"] for name in _MESSAGES}


_CLASSES = _build_classes()


class PackageMediaEntry(HasPresence, Protocol):
    name: str
    size: int
    sha1: bytes
    legacy_zip_filename: int


def decode_package_version(data: bytes) -> int:
    """The version in a package's `meta` (1, 2: legacy; 3: zstd and protobuf media)."""
    return int(cast(Any, _decode("PackageMetadata", data)).version)


def decode_package_media(data: bytes) -> Sequence[PackageMediaEntry]:
    """The media list of a current (version 3) package."""
    return cast(Sequence[PackageMediaEntry],
                list(cast(Any, _decode("PackageMediaEntries", data)).entries))


def encode_package_version(version: int) -> bytes:
    message = _CLASSES["PackageMetadata"]()
    cast(Any, message).version = version
    return bytes(message.SerializeToString())


def decode_notetype_config(data: bytes) -> NotetypeConfig:
    """Decode a `notetypes.config` blob (raises `DecodeError`, like all `decode_*`)."""
    return cast(NotetypeConfig, _decode("NotetypeConfig", data))


def decode_field_config(data: bytes) -> FieldConfig:
    """Decode a `fields.config` blob."""
    return cast(FieldConfig, _decode("FieldConfig", data))


def decode_template_config(data: bytes) -> TemplateConfig:
    """Decode a `templates.config` blob."""
    return cast(TemplateConfig, _decode("TemplateConfig", data))


def decode_deck_common(data: bytes) -> DeckCommon:
    """Decode a `decks.common` blob."""
    return cast(DeckCommon, _decode("DeckCommon", data))


def decode_deck_kind(data: bytes) -> DeckKindContainer:
    """Decode a `decks.kind` blob."""
    return cast(DeckKindContainer, _decode("DeckKindContainer", data))


def decode_deck_config(data: bytes) -> DeckConfigConfig:
    """Decode a `deck_config.config` blob."""
    return cast(DeckConfigConfig, _decode("DeckConfigConfig", data))


def _decode(name: str, data: bytes) -> Message:
    """Decode `data` as the message `name`.

    Raises:
        DecodeError: the bytes are not a valid encoding of the message, including a
            known field number sent with the wrong wire type (which Anki rejects).
    """
    message = _CLASSES[name]()
    message.ParseFromString(data)
    _reject_misplaced_fields(message)
    return message


def _reject_misplaced_fields(message: Message) -> None:
    # upb keeps a known field number with an unexpected wire type as an unknown
    # field; prost (Anki) fails the whole decode instead.
    known = message.DESCRIPTOR.fields_by_number
    unknown = UnknownFieldSet(message)
    for index in range(len(unknown)):
        if unknown[index].field_number in known:
            number = unknown[index].field_number
            raise DecodeError(f"field {number} of {message.DESCRIPTOR.name} has a wrong wire type")
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None:
            continue
        for child in [value] if isinstance(value, Message) else value:
            _reject_misplaced_fields(child)
