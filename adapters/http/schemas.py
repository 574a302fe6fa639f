"""Wire payloads: the only place that knows the protocol's JSON names."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, post_load, validate

from domain.sync.meta import MetaRequest, ServerMeta

# Every integer a client sends must fit the 64 bits the databases store: larger ones are
# a bad request (400), never an overflow deep inside a driver (500).
INT64 = validate.Range(min=-(2**63), max=2**63 - 1)


class HostKeyRequestSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    username = fields.String(required=True, data_key="u")
    password = fields.String(required=True, data_key="p")


class MetaRequestSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    version = fields.Integer(required=True, strict=False, data_key="v", validate=INT64)
    client_version = fields.String(load_default="", data_key="cv")

    @post_load
    def to_domain(self, data: dict[str, Any], **_: Any) -> MetaRequest:
        return MetaRequest(**data)


class MetaResponseSchema(Schema):
    mod = fields.Integer()
    scm = fields.Integer()
    usn = fields.Integer()
    ts = fields.Integer()
    msg = fields.String()
    cont = fields.Boolean()
    host_num = fields.Integer(data_key="hostNum")
    empty = fields.Boolean()
    media_usn = fields.Integer()


_META_RESPONSE = MetaResponseSchema()  # built once: building a schema costs ~0.2 ms


def dump_meta(meta: ServerMeta) -> dict[str, Any]:
    result: dict[str, Any] = _META_RESPONSE.dump(meta)
    return result
