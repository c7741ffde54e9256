"""The outbox's one writer connection: transactions at a chosen durability, and the counters
(boot, seq, bytes, evictions) that every commit saves to the meta table with its rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from agent.errors import StorageError

SAVE_META = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"


@dataclass
class Counters:
    """The outbox's running totals: this start's boot, the last seq, stored bytes, evictions."""

    boot: int = 0
    seq: int = 0
    bytes: int = 0
    evicted: int = 0


class Writer:
    """Write transactions on the one writer connection, committing the counters with them."""

    def __init__(self, db: sqlite3.Connection, *, path: Path) -> None:
        self.db = db
        self.counters = Counters()
        self._path = path
        self._sync: str | None = None
        self._saved: dict[str, int] = {}

    @contextmanager
    def transaction(self, *, full: bool) -> Iterator[None]:
        """One transaction, fsynced before it returns if `full`; the caller holds the lock."""
        # In-memory counters change as the body runs; a rollback reloads them from the meta
        # table, which commits with them.
        try:
            self._use_sync("FULL" if full else "NORMAL")
            self.db.execute("BEGIN IMMEDIATE")
            yield
            self._save_counters()
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._abort()
            raise StorageError(f"cannot write outbox {self._path}: {exc}") from exc
        except BaseException:
            self._abort()
            raise

    def _use_sync(self, level: str) -> None:
        if level != self._sync:  # the pragma costs a statement; switch only on change
            self.db.execute(f"PRAGMA synchronous={level}")
            self._sync = level

    def _save_counters(self) -> None:
        counters = asdict(self.counters)
        changed = [(k, v) for k, v in counters.items() if self._saved.get(k) != v]
        self.db.executemany(SAVE_META, changed)
        self._saved = counters

    def _abort(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")
        meta = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        self.counters.seq, self.counters.bytes = meta.get("seq", 0), meta.get("bytes", 0)
        self.counters.evicted = meta.get("evicted", 0)
        self._saved = meta
