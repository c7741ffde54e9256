"""Outbox quota: which rows to evict when the stored payload and media bytes pass `max_bytes`.

Order: delivered media, then delivered events, oldest delivery first; then undelivered rows
by priority from the lowest (a media row's priority is one below its event's), media before
events of the same priority, oldest seq first. The snapshots of an SOS go last, after every
other row: the control room would rather lose a plate than the picture of the caller; their
eviction is reported like any other. Never an SOS event, delivered or not.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from agent.events import PRIORITY_FAULT, PRIORITY_SOS, PRIORITY_TELEMETRY, Event
from agent.outbox.writer import Counters

log = logging.getLogger(__name__)

# Over quota, evict this far below it, so eviction (and its report) comes in batches
# instead of once per event on a full disk; capped so one batch holds the lock briefly
# (about 3000 rows of a typical 300-byte event).
_BATCH_MAX = 1024 * 1024
_REPORT_ROOM = 1024  # room kept for the eviction report itself

_DELIVERED = """SELECT seq, kind, length(payload), 0 FROM events
    WHERE delivered_at IS NOT NULL AND priority > 0 ORDER BY delivered_at"""
_PENDING = """SELECT seq, kind, length(payload), 0 FROM events
    WHERE delivered_at IS NULL AND priority = ? ORDER BY seq"""
_DELIVERED_MEDIA = """SELECT row, 'media', length(content), 1 FROM media
    WHERE delivered_at IS NOT NULL ORDER BY delivered_at"""
_PENDING_MEDIA = """SELECT row, 'media', length(content), 1 FROM media
    WHERE delivered_at IS NULL AND priority = ? ORDER BY seq, row"""
_LEVELS = range(PRIORITY_TELEMETRY + 1, PRIORITY_SOS, -1)  # 4 (telemetry media) .. 1


@dataclass(frozen=True)
class Victim:
    """A row chosen for eviction: an event by seq, or a media row by its row number."""

    key: int
    kind: str  # the event's kind, or "media"
    size: int
    media: bool = False


class Quota:
    """Keeps the stored bytes under `max_bytes` by evicting rows, inside the caller's commit."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._warned = False

    def enforce(self, db: sqlite3.Connection, counters: Counters) -> Event | None:
        """Evict down to the quota and update `counters`; the report to store, if any."""
        victims = choose_victims(db, stored_bytes=counters.bytes, max_bytes=self.max_bytes)
        if not victims:
            self._warn_only_sos_left(counters.bytes)
            return None
        evict(db, victims)
        counters.bytes -= freed(victims)
        counters.evicted += len(victims)
        self._warned = False
        report = eviction_report(victims)
        log.warning("outbox over quota: evicted %s", report.data)
        return report

    def _warn_only_sos_left(self, stored_bytes: int) -> None:
        # Repeats on every add while the quota is full of SOS: warn once, then debug.
        level = logging.DEBUG if self._warned else logging.WARNING
        log.log(
            level,
            "outbox over quota (%d of %d bytes) with only SOS left",
            stored_bytes,
            self.max_bytes,
        )
        self._warned = True


def choose_victims(db: sqlite3.Connection, *, stored_bytes: int, max_bytes: int) -> list[Victim]:
    """The rows to delete to bring `stored_bytes` under `max_bytes` with room to spare."""
    need = stored_bytes - max_bytes + min(max_bytes // 20, _BATCH_MAX) + _REPORT_ROOM
    steps: list[tuple[str, tuple[int, ...]]] = [(_DELIVERED_MEDIA, ()), (_DELIVERED, ())]
    for level in _LEVELS:
        if level > PRIORITY_SOS + 1:  # media of priority 1 are SOS snapshots: last of all
            steps.append((_PENDING_MEDIA, (level,)))
        if level <= PRIORITY_TELEMETRY:
            steps.append((_PENDING, (level,)))
    steps.append((_PENDING_MEDIA, (PRIORITY_SOS + 1,)))
    victims: list[Victim] = []
    for query, params in steps:
        victims += _take(db, query, params, need - freed(victims))
    return victims


def evict(db: sqlite3.Connection, victims: Sequence[Victim]) -> None:
    """Delete the chosen rows (in the caller's transaction)."""
    db.executemany("DELETE FROM events WHERE seq = ?", [(v.key,) for v in victims if not v.media])
    db.executemany("DELETE FROM media WHERE row = ?", [(v.key,) for v in victims if v.media])


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
        for key, kind, size, media in cursor:
            found.append(Victim(key, kind, size, bool(media)))
            need -= size
            if need <= 0:
                break
    finally:
        cursor.close()  # end the read before the same connection deletes rows
    return found
