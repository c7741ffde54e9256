"""The outbox writer: `Outbox` stores events durably and hands them out by (priority, seq).

One writer connection, shared by all threads behind a lock (two writer connections measured
230-330 ms busy stalls); reads go through a read-only `OutboxReader` beside it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agent import events
from agent.audit import AuditEntry
from agent.errors import StorageError
from agent.events import PRIORITY_FAULT, Event, Media
from agent.outbox import media as outbox_media
from agent.outbox.quota import Quota
from agent.outbox.reader import OutboxReader, QueueStats, Record, open_readonly
from agent.outbox.schema import open_writer
from agent.outbox.watermark import SeqLease, Watermark, read_watermark
from agent.outbox.writer import SAVE_META, Writer

log = logging.getLogger(__name__)

_PURGE_BATCH = 500  # rows per purge transaction, so an SOS never waits behind a purge

_INSERT = """INSERT INTO events (seq, id, kind, priority, payload, created_at)
    VALUES (?, ?, ?, ?, ?, ?)"""
_DELIVER = "UPDATE events SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL"
_PURGE = """DELETE FROM events WHERE seq IN (SELECT seq FROM events
    WHERE delivered_at IS NOT NULL AND delivered_at < ? ORDER BY delivered_at LIMIT ?)
    RETURNING length(payload)"""
_SET_STATE = "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)"
_DELETE_STATE = "DELETE FROM state WHERE key = ?"
_AUDIT = "INSERT OR IGNORE INTO audit (cmd_id, name, by, issuer, digest, received_at, ok, reply) \
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_PURGE_AUDIT = "DELETE FROM audit WHERE received_at < ?"


@dataclass(frozen=True)
class Stored:
    """An event or media row as stored: what the publisher sends, then marks delivered by `id`.

    A media row has its event's kind and seq, `media` set to its name, and `id`
    `{event id}/{name}`.
    """

    id: str
    kind: str
    priority: int
    seq: int
    payload: bytes
    media: str | None = None
    content_type: str = "application/json"
    sha256: str | None = None


class Outbox:
    """The SQLite outbox: durable events in, (priority, seq) order out."""

    def __init__(
        self,
        db: sqlite3.Connection,
        *,
        path: Path,
        identity: tuple[str, str],
        max_bytes: int,
        retention_s: float,
        on_added: Callable[[], None],
        clock: Callable[[], float],
    ) -> None:
        self._db = db
        self._writer = Writer(db, path=path)
        self._counts = self._writer.counters
        self._path = path
        self._device, self._site = identity
        self._quota = Quota(max_bytes)
        self._retention_s = retention_s
        self._on_added = on_added
        self._clock = clock
        self._lock = threading.Lock()
        self._lease = SeqLease(path, boot=0)
        self._recovered_from: Path | None = None
        self._reader: OutboxReader | None = None
        self._closed = False

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        device: str,
        site: str,
        max_bytes: int,
        retention_s: float,
        on_added: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> Outbox:
        """Open (or create, or recover) the outbox at `path`; counts this start as a boot."""
        db, aside, salvaged = open_writer(path, now=clock())
        outbox = cls(
            db,
            path=path,
            identity=(device, site),
            max_bytes=max_bytes,
            retention_s=retention_s,
            on_added=on_added,
            clock=clock,
        )
        outbox._recovered_from = aside
        try:
            outbox._start(salvaged)
        except BaseException:
            db.close()
            raise
        return outbox

    @property
    def boot(self) -> int:
        """This start's boot counter (1 on the first start)."""
        return self._counts.boot

    @property
    def recovered_from(self) -> Path | None:
        """Where a corrupt database was moved at open, or None."""
        return self._recovered_from

    def add(
        self, event: Event, *, state: Mapping[str, Any] | None = None, media: Sequence[Media] = ()
    ) -> Stored:
        """Store `event` durably with its `media` and `state` changes (None deletes), all in
        one transaction; the payload's `media` lists the attached names."""
        changes = _encode_state(state or {})
        if media:
            event = replace(event, media=outbox_media.names(event, media))
        size = sum(len(item.content) for item in media)
        with self._lock:
            stored = self._stamp(event)
            over = self._counts.bytes + len(stored.payload) + size > self._quota.max_bytes
            with self._transaction(full=event.priority <= PRIORITY_FAULT or over):
                self._insert(stored)
                self._counts.bytes += outbox_media.insert(
                    self._db, event, stored.seq, media, self._clock()
                )
                self._db.executemany(_SET_STATE, [(k, v) for k, v in changes if v is not None])
                self._db.executemany(_DELETE_STATE, [(k,) for k, v in changes if v is None])
                if over:
                    self._enforce_quota()
        self._on_added()
        return stored

    def pending(self, limit: int, exclude: Collection[str] = ()) -> list[Stored]:
        """Up to `limit` undelivered events and media by (priority, seq), skipping `exclude`."""
        skip = set(exclude)
        # Excluded ids are among the first rows, so fetching that many more is enough.
        with self._lock:
            self._check_open()
            rows = self._db.execute(outbox_media.PENDING, (limit + len(skip),)).fetchall()
        return [Stored(*row) for row in rows if row[0] not in skip][:limit]

    def mark_delivered(self, ids: Iterable[str]) -> None:
        """Mark events and media delivered (on PUBACK); unknown or delivered ids are ignored."""
        now = self._clock()
        ids = list(ids)
        if not ids:
            return
        # NORMAL is enough: a mark lost in a power cut only re-sends the row, same id.
        with self._lock, self._transaction(full=False):
            rest = outbox_media.deliver(self._db, ids, now)
            self._db.executemany(_DELIVER, [(now, event_id) for event_id in rest])

    def drop(self, row_id: str, reason: str) -> None:
        """Give up on a media row that cannot be delivered, and tell the control room why."""
        with self._lock, self._transaction(full=True):
            size = outbox_media.drop(self._db, row_id)
            if size is None:  # evicted meanwhile: already reported
                return
            self._counts.bytes -= size
            report = outbox_media.drop_report(row_id, size, reason)
            log.warning("dropped media %s (%d bytes): %s", row_id, size, reason)
            self._insert(self._stamp(report))
        self._on_added()

    def get_state(self, key: str) -> Any:
        """The JSON value latched under `key`, or None."""
        return self._view().get_state(key)

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Latch state that comes with no event (the plate hotlist); None deletes a key."""
        changes = _encode_state(state)
        with self._lock, self._transaction(full=True):
            self._db.executemany(_SET_STATE, [(k, v) for k, v in changes if v is not None])
            self._db.executemany(_DELETE_STATE, [(k,) for k, v in changes if v is None])

    def record_command(self, entry: AuditEntry) -> bool:
        """Add a command to the audit log; False if its cmd_id is already there."""
        # NORMAL: a row lost in a power cut only lets a repeated id run once more.
        with self._lock, self._transaction(full=False):
            inserted = self._db.execute(_AUDIT, entry.row()).rowcount
        return inserted == 1

    def command(self, cmd_id: str) -> AuditEntry | None:
        """The audit entry of `cmd_id`, or None."""
        return self._view().command(cmd_id)

    def purge_audit(self, before: float) -> int:
        """Delete audit entries received before `before`; returns how many."""
        with self._lock, self._transaction(full=False):
            return int(self._db.execute(_PURGE_AUDIT, (before,)).rowcount)

    def stats(self) -> QueueStats:
        """Queue depth per (kind, priority), bytes, oldest pending age, evictions."""
        return self._view().stats()

    def recent(
        self,
        *,
        kind: str | None = None,
        pending_only: bool = False,
        limit: int = 50,
        after_seq: int | None = None,
    ) -> list[Record]:
        """Latest matching events, newest first; with `after_seq`, those after it, oldest first."""
        view = self._view()
        return view.recent(kind=kind, pending_only=pending_only, limit=limit, after_seq=after_seq)

    def purge_delivered(self) -> int:
        """Delete delivered events and media older than the retention period; how many."""
        cutoff = self._clock() - self._retention_s
        return self._purge(_PURGE, cutoff) + self._purge(outbox_media.PURGE, cutoff)

    def close(self) -> None:
        """Make everything durable, record the exact seq for the next start, and close."""
        with self._lock:
            if self._closed:
                return
            if self._reader is not None:
                self._reader.close()
                self._reader = None
            try:
                # A FULL commit fsyncs the WAL, and with it every earlier NORMAL commit:
                # only then may the mark drop from the lease to the exact seq.
                with self._transaction(full=True):
                    self._db.execute(SAVE_META, ("closed_at", int(self._clock())))
            finally:
                self._closed = True
                self._db.close()
            self._lease.settle(self._counts.seq)

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _purge(self, query: str, cutoff: float) -> int:
        purged = 0
        while True:
            with self._lock, self._transaction(full=False):
                sizes = self._db.execute(query, (cutoff, _PURGE_BATCH)).fetchall()
                self._counts.bytes -= sum(size for (size,) in sizes)
            purged += len(sizes)
            if len(sizes) < _PURGE_BATCH:
                return purged

    def _start(self, salvaged: Watermark) -> None:
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        mark = read_watermark(self._path)
        counts = self._counts
        counts.boot = max(meta.get("boot", 0), mark.boot, salvaged.boot) + 1
        counts.seq = max(meta.get("seq", 0), mark.seq, salvaged.seq)
        counts.evicted = meta.get("evicted", 0)
        # Recounted at each start so the running total cannot drift.
        count = "SELECT total(length(payload)) FROM events"
        counts.bytes = sum(
            int(self._db.execute(q).fetchone()[0]) for q in (count, outbox_media.BYTES)
        )
        self._lease = SeqLease(self._path, boot=counts.boot)
        try:
            self._lease.start(counts.seq)
        except OSError as exc:
            raise StorageError(f"cannot write {self._lease.path}: {exc}") from exc
        with self._lock, self._transaction(full=True):
            pass  # saves boot and seq
        self._reader = open_readonly(self._path, clock=self._clock)

    def _view(self) -> OutboxReader:
        # Reads go through a second, read-only connection: WAL lets them run beside the
        # writer, so a slow statistics scan never delays an SOS.
        self._check_open()
        assert self._reader is not None  # set by open() before the outbox is handed out
        return self._reader

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"outbox {self._path} is closed")

    def _stamp(self, event: Event) -> Stored:
        seq = self._counts.seq + 1
        body = event.payload(device=self._device, site=self._site, boot=self._counts.boot, seq=seq)
        return Stored(event.id, event.kind, event.priority, seq, events.encode(body))

    def _insert(self, stored: Stored) -> None:
        self._lease.cover(stored.seq)  # before the commit shows the seq to the publisher
        row = (stored.seq, stored.id, stored.kind, stored.priority, stored.payload)
        self._db.execute(_INSERT, (*row, self._clock()))
        self._counts.seq = stored.seq
        self._counts.bytes += len(stored.payload)

    def _transaction(self, *, full: bool) -> AbstractContextManager[None]:
        # The caller holds the lock.
        self._check_open()
        return self._writer.transaction(full=full)

    def _enforce_quota(self) -> None:
        report = self._quota.enforce(self._db, self._counts)
        if report is not None:
            # Inserted straight, not through add(): it was not a candidate in this round and
            # cannot start another.
            self._insert(self._stamp(report))


def _encode_state(state: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    # Encoded before the transaction: a value that is not JSON fails without touching it.
    return [(key, None if value is None else json.dumps(value)) for key, value in state.items()]
