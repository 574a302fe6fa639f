"""One conversion per record type between domain values and table rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.model import (
    Card,
    CollectionMeta,
    ConfigEntry,
    Grave,
    GraveKind,
    JsonObject,
    Note,
    RevlogEntry,
    Tag,
    UserId,
)

Row = dict[str, Any]


def meta_row(user: UserId, m: CollectionMeta) -> Row:
    return {"user_id": user, "crt": m.crt, "mtime": m.mod, "scm": m.scm, "ver": m.ver,
            "dty": m.dty, "usn": m.usn, "ls": m.ls}


def meta_from_row(r: Mapping[Any, Any]) -> CollectionMeta:
    return CollectionMeta(crt=r["crt"], mod=r["mtime"], scm=r["scm"], ver=r["ver"],
                          dty=r["dty"], usn=r["usn"], ls=r["ls"])


def object_row(user: UserId, o: JsonObject) -> Row:
    return {"user_id": user, "id": o.id, "name": o.name, "mtime": o.mtime, "usn": o.usn,
            "json": o.json}


def object_from_row(r: Mapping[Any, Any]) -> JsonObject:
    return JsonObject(id=r["id"], name=r["name"], mtime=r["mtime"], usn=r["usn"], json=r["json"])


def config_row(user: UserId, c: ConfigEntry) -> Row:
    return {"user_id": user, "key": c.key, "usn": c.usn, "mtime": c.mtime, "val": c.json}


def config_from_row(r: Mapping[Any, Any]) -> ConfigEntry:
    return ConfigEntry(key=r["key"], usn=r["usn"], mtime=r["mtime"], json=r["val"])


def tag_row(user: UserId, t: Tag) -> Row:
    return {"user_id": user, "tag": t.name, "usn": t.usn, "collapsed": t.collapsed}


def tag_from_row(r: Mapping[Any, Any]) -> Tag:
    return Tag(name=r["tag"], usn=r["usn"], collapsed=bool(r["collapsed"]))


def note_row(user: UserId, n: Note) -> Row:
    return {"user_id": user, "id": n.id, "guid": n.guid, "mid": n.mid, "mtime": n.mod,
            "usn": n.usn, "tags": n.tags, "flds": n.flds, "sfld": n.sfld, "csum": n.csum,
            "flags": n.flags, "data": n.data}


def note_from_row(r: Mapping[Any, Any]) -> Note:
    return Note(id=r["id"], guid=r["guid"], mid=r["mid"], mod=r["mtime"], usn=r["usn"],
                tags=r["tags"], flds=r["flds"], sfld=r["sfld"], csum=r["csum"],
                flags=r["flags"], data=r["data"])


def card_row(user: UserId, c: Card) -> Row:
    return {"user_id": user, "id": c.id, "nid": c.nid, "did": c.did, "ord": c.ord,
            "mtime": c.mod, "usn": c.usn, "type": c.type, "queue": c.queue, "due": c.due,
            "ivl": c.ivl, "factor": c.factor, "reps": c.reps, "lapses": c.lapses,
            "left": c.left, "odue": c.odue, "odid": c.odid, "flags": c.flags, "data": c.data}


def card_from_row(r: Mapping[Any, Any]) -> Card:
    return Card(id=r["id"], nid=r["nid"], did=r["did"], ord=r["ord"], mod=r["mtime"],
                usn=r["usn"], type=r["type"], queue=r["queue"], due=r["due"], ivl=r["ivl"],
                factor=r["factor"], reps=r["reps"], lapses=r["lapses"], left=r["left"],
                odue=r["odue"], odid=r["odid"], flags=r["flags"], data=r["data"])


def revlog_row(user: UserId, e: RevlogEntry) -> Row:
    return {"user_id": user, "id": e.id, "cid": e.cid, "usn": e.usn, "ease": e.ease,
            "ivl": e.ivl, "last_ivl": e.last_ivl, "factor": e.factor, "time": e.time,
            "type": e.type}


def revlog_from_row(r: Mapping[Any, Any]) -> RevlogEntry:
    return RevlogEntry(id=r["id"], cid=r["cid"], usn=r["usn"], ease=r["ease"], ivl=r["ivl"],
                       last_ivl=r["last_ivl"], factor=r["factor"], time=r["time"],
                       type=r["type"])


def grave_row(user: UserId, g: Grave) -> Row:
    return {"user_id": user, "kind": int(g.kind), "oid": g.oid, "usn": g.usn}


def grave_from_row(r: Mapping[Any, Any]) -> Grave:
    return Grave(oid=r["oid"], kind=GraveKind(r["kind"]), usn=r["usn"])
