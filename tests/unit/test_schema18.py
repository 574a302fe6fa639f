"""Oracle tests: schema-18 rows converted by ankiserv equal the JSON Anki writes itself.

A collection is built with the official `anki` package, and rows holding unusual
protobuf values are added to the file directly. The schema-18 rows are converted with
`adapters.ankifile.schema18`, then Anki downgrades the same file to schema 11 and every
object it writes must equal ours, value for value and type for type.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import sqlite3
import struct
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar

import pytest
from google.protobuf.descriptor import FieldDescriptor

from adapters.ankifile import schema18
from adapters.ankifile.schema18 import CorruptBlob

pytest.importorskip("anki")

from anki import deck_config_pb2, decks_pb2, notetypes_pb2
from anki.collection import Collection
from anki.decks import DeckId

NotetypePb = notetypes_pb2.Notetype
DeckPb = decks_pb2.Deck
DeckConfigPb = deck_config_pb2.DeckConfig

Json = dict[str, Any]
T = TypeVar("T")


def _must(value: T | None) -> T:
    assert value is not None
    return value


def _pb(message: Callable[..., Any], **values: Any) -> Any:
    """Build a protobuf message; values are Any so enum fields can take unknown ints."""
    return message(**values)


def _unicase(left: str, right: str) -> int:
    a, b = left.casefold(), right.casefold()
    return (a > b) - (a < b)


def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path)
    con.create_collation("unicase", _unicase)
    return con


# Building the collection with Anki's own API


def _add_stock_image_occlusion(col: Collection) -> None:
    from anki.stdmodels import get_stock_notetypes

    for name, make in get_stock_notetypes(col):
        if name == "Image Occlusion" and not col.models.by_name(name):
            col.models.add_dict(make(col))


def _custom_field(col: Collection, name: str, **options: Any) -> Json:
    field: Json = col.models.new_field(name)
    field.update(options)
    return field


def _custom_notetype(col: Collection, template_deck: int) -> None:
    model = col.models.new("Custom Vocab")
    fields = [
        _custom_field(col, "Word", rtl=True, sticky=True, font="Liberation Serif", size=31),
        _custom_field(col, "Meaning", description="What it means", plainText=True),
        _custom_field(col, "Notes", collapsed=True, excludeFromSearch=True, myAddonField=[1, 2]),
    ]
    for field in fields:
        col.models.add_field(model, field)
    forward: Json = col.models.new_template("Recognise")
    forward.update(qfmt="{{Word}}", afmt="{{FrontSide}}<hr id=answer>{{Meaning}}")
    forward.update(bqfmt="<b>{{Word}}</b>", bafmt="{{Meaning}}", bfont="Arial", bsize=12)
    forward.update(did=template_deck, myAddonTemplate={"on": True})
    backward = col.models.new_template("Recall")
    backward.update(qfmt="{{Meaning}}", afmt="{{Word}}")
    for template in (forward, backward):
        col.models.add_template(model, template)
    model.update(css=".card { color: red; }", latexPre="\\begin{document}", latexPost="%end")
    model.update(latexsvg=True, sortf=2, myAddonModel={"version": 3, "ratio": 0.25})
    col.models.add_dict(model)


def _add_notes(col: Collection, did: DeckId) -> None:
    note = col.new_note(_must(col.models.by_name("Basic")))
    note["Front"], note["Back"] = "front", "back"
    note.tags = ["geo::europe", "Leech"]
    col.add_note(note, did)


def _customise_decks(col: Collection) -> DeckId:
    nested = _must(col.decks.id("A::B::C"))
    described = _must(col.decks.get(_must(col.decks.id("Described"))))
    described.update(desc="**bold** text", md=True, extendNew=5, extendRev=7)
    described.update(reviewLimit=50, newLimit=0, desiredRetention=87, myAddonDeck="x")
    described["newLimitToday"] = {"limit": 3, "today": col.sched.today}
    col.decks.save(described)
    filtered = _must(col.decks.get(col.decks.new_filtered("Cram")))
    filtered.update(terms=[["deck:A", 50, 1], ["is:due -tag:Leech", 20, 6]], resched=False)
    filtered.update(previewDelay=11, previewAgainSecs=30, previewHardSecs=600)
    filtered.update(previewGoodSecs=0, myAddonFiltered=[None])
    col.decks.save(filtered)
    return nested


def _customise_deck_config(col: Collection) -> None:
    conf = _must(col.decks.get_config(col.decks.add_config_returning_id("Intense")))
    conf["new"].update(delays=[0.5, 3, 15.5], perDay=33, initialFactor=2300, ints=[2, 5, 0])
    conf["new"].update(order=0, bury=True, myAddonNew=1)
    conf["rev"].update(perDay=321, ease4=1.45, ivlFct=1.1, maxIvl=3650, hardFactor=1.15)
    conf["rev"].update(bury=True)
    conf["lapse"].update(delays=[5, 20], leechAction=0, leechFails=5, minInt=2, mult=0.3)
    conf["lapse"].update(myAddonLapse={"a": "b"})
    conf.update(maxTaken=90, autoplay=False, timer=1, replayq=False, newMix=1)
    conf.update(interdayLearningMix=2, reviewOrder=7, newSortOrder=3, newGatherPriority=5)
    conf.update(buryInterdayLearning=True, desiredRetention=0.85, sm2Retention=0.8)
    conf.update(fsrsWeights=[0.4, 0.9, 2.3, 10.9, 4.93, 0.94, 0.86, 0.01, 1.49, 0.14, 0.94])
    conf.update(fsrsParams5=[0.40255, 1.18385, 3.173, 15.69105, 7.1949, 0.5345, 1.4604])
    conf.update(fsrsParams6=[0.212, 1.2931, 2.3065, 8.2956, 6.4133, 0.8334, 3.0194, 0.001])
    conf.update(ignoreRevlogsBeforeDate="2024-01-01", weightSearch="deck:A")
    conf.update(easyDaysPercentages=[1.0, 0.5, 1.0, 1.0, 1.0, 0.0, 1.0])
    conf.update(stopTimerOnAnswer=True, secondsToShowQuestion=7.5, secondsToShowAnswer=3.2)
    conf.update(questionAction=1, answerAction=3, waitForAudio=False, myAddonConf=[1, 2.5])
    col.decks.update_config(conf)


def _build_collection(path: Path) -> None:
    col = Collection(str(path))
    try:
        _add_stock_image_occlusion(col)
        nested = _customise_decks(col)
        _custom_notetype(col, template_deck=nested)
        _customise_deck_config(col)
        _add_notes(col, nested)
        col.set_config("myaddon", {"enabled": True, "ratio": 0.25, "items": [1, "two", None]})
        col.set_config("myaddon_big", 12345678901234567890)
    finally:
        col.close()


# Rows with unusual values, written straight into the schema-18 file


def _field_blob(**values: Any) -> bytes:
    return NotetypePb.Field.Config(**values).SerializeToString()


def _template_blob(**values: Any) -> bytes:
    return NotetypePb.Template.Config(**values).SerializeToString()


def _nested_json(depth: int) -> bytes:
    return b'{"deep": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


_ODD_OTHER = (
    b'{"dup": 1, "css": "dropped", "vers": [], "negzero": -0, "huge": 123456789012345678901234,'
    b' "dup": {"k": 1, "k": [2]},'
    b' "u64": 18446744073709551615, "f": [0.1, 1E5, -2.5e-3], "s": "\\u00e9\\n",'
    b' "i64": [-9223372036854775808, -9223372036854775809, 18446744073709551616],'
    b' "long": [0.12345678901234567890123, 1234567890123456789012.5e-3, 1.7976931348623157e308],'
    b' "tiny": [2.2250738585072014e-308, 4.9e-324, 1e-400, -0.0, 0e999999999999, 1e-9999999999]}'
)


def _insert_odd_notetype(con: sqlite3.Connection) -> None:
    config = _pb(
        NotetypePb.Config,
        kind=5,
        sort_field_idx=70_001,
        css="x",
        target_deck_id_unused=-7,
        latex_svg=True,
        reqs=[
            _pb(NotetypePb.Config.CardRequirement, card_ord=65_537, kind=7, field_ords=[1, 65_538]),
            _pb(NotetypePb.Config.CardRequirement, card_ord=1, kind=2),
        ],
        original_stock_kind=-2,
        original_id=0,
        other=_ODD_OTHER,
    )
    con.execute(
        "insert into notetypes values (?, ?, ?, ?, ?)",
        (1001, "Odd", 1_700_000_000, -1, config.SerializeToString()),
    )
    fields = [
        (2, "third", _field_blob(other=b"[1, 2]")),
        (0, "first", _field_blob(font_size=70_000, tag=0, id=-5, other=b'{"name": 1, "x": 2}')),
        (1, "second", _field_blob(font_name="Arial", other=b"{not json")),
        (3, "fourth", _field_blob(other=b'{"a": "\\ud800"}')),
        (4, "fifth", _field_blob(other=b'{"a": "\xff"}')),
        (5, "sixth", _field_blob(other=b'{"a": 1e400}')),
        (6, "seventh", _field_blob(other=b'{"a": NaN}')),
    ]
    con.executemany("insert into fields values (1001, ?, ?, ?)", fields)
    templates = [
        (1, "T1", _template_blob(target_deck_id=1, other=_nested_json(127))),
        (0, "T0", _template_blob(browser_font_size=300, target_deck_id=-1, id=0)),
        (2, "T2", _template_blob(q_format="{{a}}", other=_nested_json(128))),
    ]
    con.executemany("insert into templates values (1001, ?, ?, 5, 6, ?)", templates)


def _deck_row(did: int, name: str, common: Any, kind: Any) -> tuple[Any, ...]:
    return (did, name, 1_700_000_001, 3, common.SerializeToString(), kind.SerializeToString())


def _normal(**values: Any) -> Any:
    return DeckPb.KindContainer(normal=DeckPb.Normal(**values))


def _filtered(**values: Any) -> Any:
    return DeckPb.KindContainer(filtered=DeckPb.Filtered(**values))


def _insert_odd_decks(con: sqlite3.Connection) -> None:
    odd_common = DeckPb.Common(
        last_day_studied=2**32 - 1,
        new_studied=-3,
        milliseconds_studied=5,
        other=b'{"md": true, "terms": 5, "collapsed": "dropped", "return": 1}',
    )
    plain = DeckPb.Common()
    day_limit = DeckPb.Normal.DayLimit()
    rows = [
        _deck_row(
            2001,
            "Odd",
            odd_common,
            _normal(
                config_id=1,
                extend_new=2**32 - 1,
                review_limit=0,
                review_limit_today=day_limit,
                desired_retention=0.29,
            ),
        ),
        _deck_row(
            2002,
            "Odd\x1fmd",
            DeckPb.Common(other=b'{"md": false}'),
            _normal(config_id=9, markdown_description=True, desired_retention=-0.5),
        ),
        _deck_row(
            2003,
            "Odd dyn",
            DeckPb.Common(other=b'{"resched": 7, "desc": "x"}'),
            _filtered(
                reschedule=True,
                delays=[1.5, math.nan, 0.1],
                preview_delay=3,
                search_terms=[
                    _pb(DeckPb.Filtered.SearchTerm, search="a", limit=2**31 + 5, order=42)
                ],
            ),
        ),
        _deck_row(2004, "Odd dyn empty", plain, _filtered()),
        _deck_row(2005, "Odd nan", plain, _normal(desired_retention=math.nan)),
        _deck_row(2006, "Odd huge", plain, _normal(desired_retention=1e10)),
    ]
    con.executemany("insert into decks values (?, ?, ?, ?, ?, ?)", rows)


def _random_f32s(rng: random.Random, count: int) -> list[float]:
    values: list[float] = []
    while len(values) < count:
        value = struct.unpack("<f", struct.pack("<I", rng.getrandbits(32)))[0]
        if math.isfinite(value):
            values.append(value)
    return values


def _odd_deck_configs(rng: random.Random) -> Iterator[tuple[str, Any]]:
    yield "Zeroes", DeckConfigPb.Config()
    yield (
        "Odd",
        _pb(
            DeckConfigPb.Config,
            initial_ease=1.31,
            desired_retention=math.nan,
            historical_retention=0.971,
            seconds_to_show_question=math.nan,
            seconds_to_show_answer=math.inf,
            new_card_insert_order=1,
            leech_action=5,
            answer_action=9,
            question_action=-1,
            review_order=99,
            new_mix=-4,
            new_per_day=10_000,
            reviews_per_day=9_999,
            maximum_review_interval=36_501,
            learn_steps=[math.nan, 1e-45, 3.4028235e38, -0.0],
            fsrs_params_6=_random_f32s(rng, 400),
            other=b'{"new": {"bury": 5, "addon": 1}, "rev": 3, "lapse": {"mult": 9, "x": [1]},'
            b' "dyn": true, "top": {"a": 1}}',
        ),
    )
    yield "Bad other", _pb(DeckConfigPb.Config, other=b"\x00garbage")
    for index in range(30):  # f32 arithmetic in initialFactor and the range checks
        yield (
            f"Random {index}",
            _pb(
                DeckConfigPb.Config,
                initial_ease=rng.uniform(1.2, 5.1),
                easy_multiplier=rng.uniform(0.9, 5.1),
                hard_multiplier=rng.uniform(0.4, 1.4),
                interval_multiplier=rng.uniform(0.4, 2.1),
                desired_retention=rng.uniform(0.69, 1.0),
                historical_retention=rng.uniform(0.69, 0.98),
                lapse_multiplier=rng.uniform(-0.1, 1.1),
            ),
        )


def _random_number(rng: random.Random) -> str:
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 28)))
    text = rng.choice(["", "-"]) + (digits.lstrip("0") or "0")
    if rng.random() < 0.7:
        text += "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 28)))
    if rng.random() < 0.5:
        text += rng.choice("eE") + rng.choice(["", "+", "-"]) + str(rng.randint(0, 280))
    return text


def _insert_odd_config(con: sqlite3.Connection) -> None:
    # serde_json reads numbers its own way (not always correctly rounded).
    rng = random.Random(11)
    numbers = ", ".join(_random_number(rng) for _ in range(2000))
    con.execute("insert into config values ('numbers', 0, 0, ?)", (f"[{numbers}]".encode(),))


def _insert_odd_deck_configs(con: sqlite3.Connection) -> None:
    rows = [
        (3001 + index, name, 1_700_000_002, 4, config.SerializeToString())
        for index, (name, config) in enumerate(_odd_deck_configs(random.Random(18)))
    ]
    con.executemany("insert into deck_config values (?, ?, ?, ?, ?)", rows)


# Reading both versions


def _schema18_json(con: sqlite3.Connection) -> dict[str, Json]:
    q = con.execute
    models = {}
    for ntid, name, mtime, usn, config in q("select * from notetypes").fetchall():
        fields = q("select ord, name, config from fields where ntid = ?", (ntid,)).fetchall()
        templates = q(
            "select ord, name, mtime_secs, usn, config from templates where ntid = ?", (ntid,)
        ).fetchall()
        models[str(ntid)] = schema18.notetype_json(
            ntid, name, mtime, usn, config, fields, templates
        )
    decks = {str(row[0]): schema18.deck_json(*row) for row in q("select * from decks")}
    dconf = {str(row[0]): schema18.deck_config_json(*row) for row in q("select * from deck_config")}
    conf = schema18.config_json(q("select key, val from config"))
    tags = schema18.tags_json(q("select tag, usn from tags"))
    return {"models": models, "decks": decks, "dconf": dconf, "conf": conf, "tags": tags}


def _schema11_json(con: sqlite3.Connection) -> dict[str, Json]:
    row = con.execute("select ver, models, decks, dconf, conf, tags from col").fetchone()
    assert row[0] == 11
    return dict(
        zip(("models", "decks", "dconf", "conf", "tags"), map(json.loads, row[1:]), strict=True)
    )


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Json], dict[str, Json]]:
    path = tmp_path_factory.mktemp("schema18") / "collection.anki2"
    _build_collection(path)
    with closing(_connect(path)) as con, con:
        assert con.execute("select ver from col").fetchone()[0] == 18
        _insert_odd_notetype(con)
        _insert_odd_decks(con)
        _insert_odd_deck_configs(con)
        _insert_odd_config(con)
    snapshot = path.with_name("schema18.anki2")
    shutil.copy(path, snapshot)
    with closing(_connect(snapshot)) as con:
        ours = _schema18_json(con)
    Collection(str(path)).close(downgrade=True)
    with closing(_connect(path)) as con:
        theirs = _schema11_json(con)
    return ours, theirs


def _assert_same_json(ours: Any, theirs: Any) -> None:
    assert ours == theirs
    # == treats 1, 1.0 and True alike; the JSON text does not.
    assert json.dumps(ours, sort_keys=True) == json.dumps(theirs, sort_keys=True)


@pytest.mark.parametrize("table", ["models", "decks", "dconf", "conf", "tags"])
def test_objects_equal_what_anki_writes_when_downgrading(
    both: tuple[dict[str, Json], dict[str, Json]], table: str
) -> None:
    ours, theirs = both[0][table], both[1][table]
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        _assert_same_json(ours[key], theirs[key])


def test_collection_covers_the_interesting_objects(
    both: tuple[dict[str, Json], dict[str, Json]],
) -> None:
    theirs = both[1]
    names = {model["name"] for model in theirs["models"].values()}
    stock = {"Basic", "Basic (and reversed card)", "Basic (optional reversed card)"}
    stock |= {"Basic (type in the answer)", "Cloze", "Image Occlusion"}
    assert stock | {"Custom Vocab", "Odd"} <= names
    assert {"A::B::C", "Described", "Cram", "Odd::md"} <= {
        deck["name"] for deck in theirs["decks"].values()
    }
    assert theirs["decks"]["2001"]["md"] is True
    assert "md" not in theirs["decks"]["1"]
    assert theirs["conf"]["myaddon"]["ratio"] == 0.25


@pytest.mark.parametrize(
    "convert",
    [
        lambda blob: schema18.notetype_json(1, "n", 0, 0, blob, [], []),
        lambda blob: schema18.notetype_json(1, "n", 0, 0, b"", [(0, "f", blob)], []),
        lambda blob: schema18.notetype_json(1, "n", 0, 0, b"", [], [(0, "t", 0, 0, blob)]),
        lambda blob: schema18.deck_json(1, "d", 0, 0, blob, _normal().SerializeToString()),
        lambda blob: schema18.deck_json(1, "d", 0, 0, b"", blob),
        lambda blob: schema18.deck_config_json(1, "c", 0, 0, blob),
    ],
)
@pytest.mark.parametrize(
    "blob",
    [
        b"\x0a\x05ab",  # field 1, length 5, only 2 bytes follow
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",  # varint too long
        b"\x07",  # field 0 is not a valid tag
    ],
)
def test_corrupt_blob_is_rejected(convert: Callable[[bytes], Any], blob: bytes) -> None:
    with pytest.raises(CorruptBlob):
        convert(blob)


_FIXED32 = b"\x00\x00\x80\x3f"


@pytest.mark.parametrize(
    ("convert", "blob"),
    [
        (lambda blob: schema18.notetype_json(1, "n", 0, 0, blob, [], []), b"\x0d" + _FIXED32),
        (
            lambda blob: schema18.notetype_json(1, "n", 0, 0, b"", [(0, "f", blob)], []),
            b"\x0d" + _FIXED32,
        ),
        (
            lambda blob: schema18.deck_json(1, "d", 0, 0, b"", blob),
            b"\x0a\x07\x42\x05\x0d" + _FIXED32,
        ),
        (lambda blob: schema18.deck_json(1, "d", 0, 0, b"", blob), b"\x0d" + _FIXED32),
        (lambda blob: schema18.deck_config_json(1, "c", 0, 0, blob), b"\x4d" + _FIXED32),
    ],
)
def test_known_field_with_the_wrong_wire_type_is_rejected(
    convert: Callable[[bytes], Any], blob: bytes
) -> None:
    # NOTE: Anki (prost) fails such blobs; upb alone would keep them as unknown fields.
    with pytest.raises(CorruptBlob, match="wrong wire type"):
        convert(blob)


def test_invalid_utf8_in_a_string_field_is_rejected() -> None:
    blob = NotetypePb.Template.Config(q_format="ok").SerializeToString().replace(b"ok", b"\xff\xfe")
    with pytest.raises(CorruptBlob, match="template 0"):
        schema18.notetype_json(1, "n", 0, 0, b"", [], [(0, "t", 0, 0, blob)])


def test_deck_without_a_kind_is_rejected() -> None:
    with pytest.raises(CorruptBlob, match="neither normal nor filtered"):
        schema18.deck_json(1, "d", 0, 0, b"", b"")


def test_config_value_that_is_not_json_is_rejected() -> None:
    with pytest.raises(CorruptBlob, match="config 'bad'"):
        schema18.config_json([("good", b"1"), ("bad", b"{")])


def test_text_where_a_blob_belongs_is_rejected() -> None:
    text: Any = "1"  # what sqlite3 returns for a TEXT value
    with pytest.raises(CorruptBlob, match="expected a blob, got str"):
        schema18.config_json([("key", text)])
    with pytest.raises(CorruptBlob, match="deck config 7: expected a blob"):
        schema18.deck_config_json(7, "c", 0, 0, text)


def test_message_definitions_match_ankis() -> None:
    from adapters.ankifile import protobufs

    pairs: dict[str, Any] = {
        "NotetypeConfig": NotetypePb.Config,
        "CardRequirement": NotetypePb.Config.CardRequirement,
        "FieldConfig": NotetypePb.Field.Config,
        "TemplateConfig": NotetypePb.Template.Config,
        "DeckCommon": DeckPb.Common,
        "DayLimit": DeckPb.Normal.DayLimit,
        "NormalDeck": DeckPb.Normal,
        "SearchTerm": DeckPb.Filtered.SearchTerm,
        "FilteredDeck": DeckPb.Filtered,
        "DeckKindContainer": DeckPb.KindContainer,
        "DeckConfigConfig": DeckConfigPb.Config,
    }
    for ours, theirs in pairs.items():
        assert _shape(protobufs._CLASSES[ours].DESCRIPTOR) == _shape(theirs.DESCRIPTOR), ours


def _shape(descriptor: Any) -> dict[int, tuple[Any, ...]]:
    # Our enums are int32 on purpose: the same varint on the wire.
    enum, int32 = FieldDescriptor.TYPE_ENUM, FieldDescriptor.TYPE_INT32
    return {
        field.number: (
            field.name,
            int32 if field.type == enum else field.type,
            field.is_repeated,
            field.has_presence,
        )
        for field in descriptor.fields
    }
