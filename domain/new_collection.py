"""The collection a brand-new account starts with, so a first download opens in Anki.

Everything here is ankiserv's own minimal content: one deck, one deck preset,
one two-field note type, and the few config keys clients expect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from domain.model import CollectionMeta, ConfigEntry, JsonObject

SCHEMA_VERSION = 11
DEFAULT_DECK_ID = 1
DEFAULT_DECK_CONFIG_ID = 1


@dataclass(frozen=True, slots=True)
class NewCollection:
    meta: CollectionMeta
    notetypes: tuple[JsonObject, ...]
    decks: tuple[JsonObject, ...]
    deck_configs: tuple[JsonObject, ...]
    config: tuple[ConfigEntry, ...]


def new_collection(now_ms: int) -> NewCollection:
    """Return an empty collection created at `now_ms`, never synced (`mod` 0)."""
    crt = now_ms // 1000 // 86400 * 86400
    meta = CollectionMeta(crt=crt, mod=0, scm=now_ms, ver=SCHEMA_VERSION, dty=0, usn=0, ls=0)
    notetype_id = now_ms
    notetype = _basic_notetype(notetype_id)
    config = {
        "activeDecks": [DEFAULT_DECK_ID],
        "curDeck": DEFAULT_DECK_ID,
        "curModel": notetype_id,
        "nextPos": 1,
        "newSpread": 0,
        "collapseTime": 1200,
        "timeLim": 0,
        "estTimes": True,
        "dueCounts": True,
        "sortType": "noteFld",
        "sortBackwards": False,
        "addToCur": True,
        "dayLearnFirst": False,
        "schedVer": 2,
        "sched2021": True,
        "rollover": 4,
    }
    return NewCollection(
        meta=meta,
        notetypes=(_object(notetype),),
        decks=(_object(_default_deck()),),
        deck_configs=(_object(_default_deck_config()),),
        config=tuple(
            ConfigEntry(key=k, usn=0, mtime=0, json=json.dumps(v)) for k, v in config.items()
        ),
    )


def _object(obj: dict[str, Any]) -> JsonObject:
    return JsonObject(
        id=int(obj["id"]), name=str(obj["name"]), mtime=int(obj["mod"]), usn=0,
        json=json.dumps(obj, separators=(",", ":")),
    )


def _default_deck() -> dict[str, Any]:
    return {
        "id": DEFAULT_DECK_ID, "name": "Default", "mod": 0, "usn": 0,
        "lrnToday": [0, 0], "revToday": [0, 0], "newToday": [0, 0], "timeToday": [0, 0],
        "collapsed": False, "browserCollapsed": False, "desc": "", "dyn": 0,
        "conf": DEFAULT_DECK_CONFIG_ID, "extendNew": 0, "extendRev": 0,
    }


def _default_deck_config() -> dict[str, Any]:
    return {
        "id": DEFAULT_DECK_CONFIG_ID, "name": "Default", "mod": 0, "usn": 0,
        "maxTaken": 60, "autoplay": True, "timer": 0, "replayq": True, "dyn": False,
        "new": {"bury": False, "delays": [1.0, 10.0], "initialFactor": 2500,
                "ints": [1, 4, 0], "order": 1, "perDay": 20},
        "rev": {"bury": False, "ease4": 1.3, "ivlFct": 1.0, "maxIvl": 36500,
                "perDay": 200, "hardFactor": 1.2},
        "lapse": {"delays": [10.0], "leechAction": 1, "leechFails": 8, "minInt": 1,
                  "mult": 0.0},
    }


def _field(name: str, ord_: int) -> dict[str, Any]:
    return {"name": name, "ord": ord_, "sticky": False, "rtl": False, "font": "Arial",
            "size": 20, "description": "", "plainText": False, "collapsed": False,
            "excludeFromSearch": False}


def _basic_notetype(notetype_id: int) -> dict[str, Any]:
    template = {
        "name": "Card 1", "ord": 0, "qfmt": "{{Front}}",
        "afmt": "{{FrontSide}}\n<hr id=answer>\n{{Back}}",
        "bqfmt": "", "bafmt": "", "did": None, "bfont": "", "bsize": 0,
    }
    return {
        "id": notetype_id, "name": "Basic", "type": 0, "mod": 0, "usn": 0, "sortf": 0,
        "did": None, "tmpls": [template], "flds": [_field("Front", 0), _field("Back", 1)],
        "css": ".card {\n  font-size: 20px;\n  text-align: center;\n}\n",
        "latexPre": "\\documentclass[12pt]{article}\n\\begin{document}\n",
        "latexPost": "\\end{document}", "latexsvg": False, "req": [[0, "any", [0]]],
    }
