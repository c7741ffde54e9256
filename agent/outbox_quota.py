"""Outbox quota: which rows to evict when the stored payload bytes pass `max_bytes`.

Order: delivered rows, oldest delivery first; then undelivered rows of the lowest priority
(highest number), oldest seq first. Never a priority-0 (SOS) row, delivered or not.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from agent.events import PRIORITY_FAULT, PRIORITY_SOS, PRIORITY_TELEMETRY, Event

# Over quota, evict this far below it, so eviction (and its report) comes in batches
# instead of once per event on a full disk; capped so one batch holds the lock briefly
# (about 3000 rows of a typical 300-byte event).
_BATCH_MAX = 1024 * 1024
_REPORT_ROOM = 1024  # room kept for the eviction report itself

_DELIVERED = """SELECT seq, kind, length(payload) FROM events
    WHERE delivered_at IS NOT NULL AND priority > 0 ORDER BY delivered_at"""
_PENDING = """SELECT seq, kind, length(payload) FROM events
    WHERE delivered_at IS NULL AND priority = ? ORDER BY seq"""


@dataclass(frozen=True)
class Victim:
    """A row chosen for eviction."""

    seq: int
    kind: str
    size: int


def choose_victims(db: sqlite3.Connection, *, stored_bytes: int, max_bytes: int) -> list[Victim]:
    """The rows to delete to bring `stored_bytes` under `max_bytes` with room to spare."""
    need = stored_bytes - max_bytes + min(max_bytes // 20, _BATCH_MAX) + _REPORT_ROOM
    victims = _take(db, _DELIVERED, (), need)
    for priority in range(PRIORITY_TELEMETRY, PRIORITY_SOS, -1):
        victims += _take(db, _PENDING, (priority,), need - sum(v.size for v in victims))
    return victims


def evict(db: sqlite3.Connection, victims: Sequence[Victim]) -> None:
    """Delete the chosen rows (in the caller's transaction)."""
    db.executemany("DELETE FROM events WHERE seq = ?", [(victim.seq,) for victim in victims])


def eviction_report(victims: Sequence[Victim]) -> Event:
    """The `outbox` event that tells the control room what was evicted."""
    by_kind = dict(Counter(victim.kind for victim in victims))
    data = {"evicted": len(victims), "by_kind": by_kind, "bytes": freed(victims)}
    return Event(kind="outbox", priority=PRIORITY_FAULT, phase="info", data=data)


def freed(victims: Sequence[Victim]) -> int:
    """Payload bytes the victims held."""
    return sum(victim.size for victim in victims)


def _take(db: sqlite3.Connection, query: str, params: tuple[int, ...], need: int) -> list[Victim]:
    found: list[Victim] = []
    if need <= 0:
        return found
    cursor = db.execute(query, params)
    try:
        for seq, kind, size in cursor:
            found.append(Victim(seq, kind, size))
            need -= size
            if need <= 0:
                break
    finally:
        cursor.close()  # end the read before the same connection deletes rows
    return found
