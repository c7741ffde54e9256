"""Read-only views of the outbox: queue statistics, recent events, latched state.

Used by the daemon (its own read connection, so slow statistics never hold up the writer)
and by the technician CLI, whether the daemon is running or not.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from agent.audit import AuditEntry
from agent.errors import StorageError
from agent.outbox.schema import check_version, connect_readonly

# Media rows count as kind `media` at their own priority (one below their event's).
_PENDING_GROUPS = """
    SELECT kind, priority, count(*), total(length(payload)), min(created_at)
        FROM events WHERE delivered_at IS NULL GROUP BY kind, priority
    UNION ALL
    SELECT 'media', priority, count(*), total(length(content)), min(created_at)
        FROM media WHERE delivered_at IS NULL GROUP BY priority
    ORDER BY 2, 1
"""
_DELIVERED_COUNT = """SELECT (SELECT count(*) FROM events WHERE delivered_at IS NOT NULL)
    + (SELECT count(*) FROM media WHERE delivered_at IS NOT NULL)"""
_RECORD_COLUMNS = "SELECT payload, created_at, delivered_at FROM events"
_RECORD_FILTER = "(:kind IS NULL OR kind = :kind) AND (NOT :pending OR delivered_at IS NULL)"
# The latest rows, newest first; or the rows after a seq, oldest first (`events --follow`).
_LATEST = f"{_RECORD_COLUMNS} WHERE {_RECORD_FILTER} ORDER BY seq DESC LIMIT :limit"
_AUDIT_COLUMNS = "SELECT cmd_id, name, by, issuer, digest, received_at, ok, reply FROM audit"
_AFTER = f"{_RECORD_COLUMNS} WHERE {_RECORD_FILTER} AND seq > :after ORDER BY seq LIMIT :limit"


@dataclass(frozen=True)
class PendingCount:
    """Undelivered events of one kind and priority."""

    kind: str
    priority: int
    pending: int
    bytes: int
    oldest_age_s: float = 0.0


@dataclass(frozen=True)
class QueueStats:
    """Outbox depth and size, for `queue stats`, `status` and telemetry."""

    by_kind: tuple[PendingCount, ...]
    pending: int
    pending_bytes: int
    bytes: int  # payload and media bytes of all stored rows, delivered or not: the quota's
    oldest_pending_age_s: float | None
    delivered_kept: int
    evicted: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (`by_kind` as a list of objects)."""
        result = asdict(self)
        result["by_kind"] = [asdict(group) for group in self.by_kind]
        return result


class Record(dict[str, Any]):
    """One stored event: its decoded payload plus `created_at` and `delivered_at` (or None)."""


class OutboxReader:
    """Read-only queries on an outbox database; never writes, safe beside the writer."""

    def __init__(self, db: sqlite3.Connection, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._lock = threading.Lock()  # one connection, used from several threads

    def stats(self) -> QueueStats:
        """Pending counts and bytes per (kind, priority), sizes and eviction totals."""
        with self._snapshot() as db:
            groups = db.execute(_PENDING_GROUPS).fetchall()
            delivered = int(db.execute(_DELIVERED_COUNT).fetchone()[0])
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        oldest = min((row[4] for row in groups), default=None)
        now = self._clock()
        by_kind = tuple(
            PendingCount(row[0], row[1], row[2], int(row[3]), max(0.0, now - row[4]))
            for row in groups
        )
        return QueueStats(
            by_kind=by_kind,
            pending=sum(group.pending for group in by_kind),
            pending_bytes=sum(group.bytes for group in by_kind),
            bytes=int(meta.get("bytes", 0)),
            oldest_pending_age_s=None if oldest is None else max(0.0, self._clock() - oldest),
            delivered_kept=delivered,
            evicted=int(meta.get("evicted", 0)),
        )

    def recent(
        self,
        *,
        kind: str | None = None,
        pending_only: bool = False,
        limit: int = 50,
        after_seq: int | None = None,
    ) -> list[Record]:
        """Latest matching events, newest first; with `after_seq`, those after it, oldest first."""
        params = {"kind": kind, "pending": pending_only, "limit": limit, "after": after_seq}
        with self._snapshot() as db:
            rows = db.execute(_LATEST if after_seq is None else _AFTER, params).fetchall()
        return [Record(json.loads(row[0]), created_at=row[1], delivered_at=row[2]) for row in rows]

    def command(self, cmd_id: str) -> AuditEntry | None:
        """The audit entry of one command id, or None."""
        with self._snapshot() as db:
            row = db.execute(f"{_AUDIT_COLUMNS} WHERE cmd_id = ?", (cmd_id,)).fetchone()
        return None if row is None else AuditEntry.from_row(row)

    def audit(self, *, limit: int = 50, name: str | None = None) -> list[AuditEntry]:
        """The latest audit entries, newest first."""
        query = f"{_AUDIT_COLUMNS} WHERE (:name IS NULL OR name = :name) ORDER BY seq DESC LIMIT :n"
        with self._snapshot() as db:
            rows = db.execute(query, {"name": name, "n": limit}).fetchall()
        return [AuditEntry.from_row(row) for row in rows]

    def get_state(self, key: str) -> Any:
        """The JSON value latched under `key`, or None."""
        with self._snapshot() as db:
            row = db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> OutboxReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        # One read transaction, so the numbers of a single call agree with each other.
        with self._lock:
            try:
                self._db.execute("BEGIN")
                yield self._db
            except sqlite3.Error as exc:
                raise StorageError(f"cannot read the outbox: {exc}") from exc
            finally:
                if self._db.in_transaction:
                    self._db.rollback()


def open_readonly(path: Path, *, clock: Callable[[], float] = time.time) -> OutboxReader:
    """Open the outbox at `path` for reading only (the CLI, daemon running or not)."""
    if not path.is_file():
        raise StorageError(f"outbox database {path} does not exist (has the agent run here?)")
    try:
        db = connect_readonly(path)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open outbox database {path}: {exc}") from exc
    return OutboxReader(_checked(db, path), clock=clock)


def _checked(db: sqlite3.Connection, path: Path) -> sqlite3.Connection:
    try:
        if check_version(db, path) == 0:
            raise StorageError(f"{path} is not an outbox database")
    except sqlite3.Error as exc:
        db.close()
        raise StorageError(f"cannot read outbox database {path}: {exc}") from exc
    except BaseException:
        db.close()
        raise
    return db
