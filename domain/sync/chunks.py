"""The server's outgoing chunks: its revlog, cards and notes changed since the client's usn.

Live tables do not change during a session (the client's data is only staged),
so a keyset cursor over them is a consistent snapshot. Rows the client deleted
in this session (staged graves) are not sent back.
"""

from __future__ import annotations

import dataclasses

from domain.model import Card, Note, RevlogEntry, Row, RowKind, UserId
from domain.sync.session import ChunkStage, SyncSession
from domain.sync.staging import StageKind
from domain.sync.values import CHUNK_SIZE, Chunk
from ports.stores import UnitOfWork

_STAGES = {
    ChunkStage.REVLOG: (RowKind.REVLOG, None),
    ChunkStage.CARDS: (RowKind.CARD, StageKind.GRAVE_CARD),
    ChunkStage.NOTES: (RowKind.NOTE, StageKind.GRAVE_NOTE),
}


def next_chunk(
    uow: UnitOfWork, user: UserId, session: SyncSession, now_ms: int
) -> tuple[Chunk, SyncSession]:
    """Return up to CHUNK_SIZE rows and the session with its cursor moved past them."""
    rows: list[Row] = []
    stage, after = session.chunk_stage, session.chunk_after
    pending = set(RowKind)
    if stage == ChunkStage.REVLOG and after is None:
        # The first chunk: one query tells which tables have anything to send (in most
        # syncs none has), instead of a page query per table.
        pending = uow.collections.row_kinds_since(user, session.client_usn)
    while stage != ChunkStage.DONE and len(rows) < CHUNK_SIZE:
        if _STAGES[stage][0] not in pending:
            stage, after = ChunkStage(stage + 1), None
            continue
        kind, grave_stage = _STAGES[stage]
        wanted = CHUNK_SIZE - len(rows)
        page = uow.collections.rows_page(user, kind, session.client_usn, after, wanted)
        if page and grave_stage is not None and session.may_have_staged(grave_stage):
            deleted = uow.staging.keys(user, grave_stage)
            rows.extend(r for r in page if str(r.id) not in deleted)
        else:
            rows.extend(page)
        if len(page) < wanted:
            stage, after = ChunkStage(stage + 1), None
        else:
            after = (page[-1].usn, page[-1].id)
    chunk = Chunk(
        done=len(rows) < CHUNK_SIZE,
        revlog=tuple(r for r in rows if isinstance(r, RevlogEntry)),
        cards=tuple(r for r in rows if isinstance(r, Card)),
        notes=tuple(r for r in rows if isinstance(r, Note)),
    )
    moved = dataclasses.replace(session, chunk_stage=stage, chunk_after=after,
                                touched_ms=now_ms)
    return chunk, moved
