"""Media in the outbox: files attached to an event, stored with it and sent after it.

A media row keeps its event's seq and takes a priority one below the event's (DESIGN §3.2:
"lower priority than its event"), so the publisher's (priority, seq) order sends an SOS
snapshot after every SOS event but before any plate. Its row id is `{event id}/{name}`,
which no event id (a UUID) can equal, so the publisher tracks both kinds by one id.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence

from agent.events import PRIORITY_FAULT, Event, Media

# Events and media, merged by (priority, seq) from their two pending indexes. The columns
# are those of `outbox.Stored`: id, kind, priority, seq, payload, media, content_type, sha256.
PENDING = """
    SELECT id, kind, priority, seq, payload, NULL, 'application/json', NULL
        FROM events WHERE delivered_at IS NULL
    UNION ALL
    SELECT event_id || '/' || name, kind, priority, seq, content, name, content_type, sha256
        FROM media WHERE delivered_at IS NULL
    ORDER BY 3, 4 LIMIT ?"""
BYTES = "SELECT total(length(content)) FROM media"
PURGE = """DELETE FROM media WHERE row IN (SELECT row FROM media
    WHERE delivered_at IS NOT NULL AND delivered_at < ? ORDER BY delivered_at LIMIT ?)
    RETURNING length(content)"""
_INSERT = """INSERT INTO media (event_id, name, seq, priority, kind, content_type, sha256,
    content, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"""
_DELIVER = """UPDATE media SET delivered_at = ?
    WHERE event_id = ? AND name = ? AND delivered_at IS NULL"""
_DROP = "DELETE FROM media WHERE event_id = ? AND name = ? RETURNING length(content)"


def media_id(event_id: str, name: str) -> str:
    """The row id of one media: `{event id}/{name}`, the same as its topic below `media/`."""
    return f"{event_id}/{name}"


def names(event: Event, media: Sequence[Media]) -> tuple[str, ...]:
    """The event's media list with the attached names added; a repeated name is an error."""
    attached = [item.name for item in media]
    if len(set(attached)) != len(attached):
        raise ValueError(f"media names must be unique per event, got {attached}")
    return (*event.media, *(name for name in attached if name not in event.media))


def insert(
    db: sqlite3.Connection, event: Event, seq: int, media: Sequence[Media], now: float
) -> int:
    """Store `media` of the event stored at `seq` (in the caller's transaction); their bytes."""
    rows = [
        (event.id, item.name, seq, event.priority + 1, event.kind, item.content_type,
         hashlib.sha256(item.content).hexdigest(), item.content, now)
        for item in media
    ]  # fmt: skip
    db.executemany(_INSERT, rows)
    return sum(len(item.content) for item in media)


def deliver(db: sqlite3.Connection, ids: Iterable[str], now: float) -> list[str]:
    """Mark the media among `ids` delivered; returns the other ids (events)."""
    rest, keys = [], []
    for row_id in ids:
        event_id, slash, name = row_id.partition("/")
        if slash:
            keys.append((now, event_id, name))
        else:
            rest.append(row_id)
    db.executemany(_DELIVER, keys)
    return rest


def drop(db: sqlite3.Connection, row_id: str) -> int | None:
    """Delete one media row for good; its size, or None if it is not stored (any more)."""
    event_id, _, name = row_id.partition("/")
    row = db.execute(_DROP, (event_id, name)).fetchone()
    return None if row is None else int(row[0])


def drop_report(row_id: str, size: int, reason: str) -> Event:
    """The `outbox` event that tells the control room a media could not be delivered."""
    event_id, _, name = row_id.partition("/")
    data = {"dropped": "media", "event": event_id, "name": name, "bytes": size, "reason": reason}
    return Event(kind="outbox", priority=PRIORITY_FAULT, phase="info", data=data)
