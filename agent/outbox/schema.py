"""The outbox database file: schema, connection settings, and recovery from corruption."""

from __future__ import annotations

import logging
import os
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from agent.errors import StorageError
from agent.outbox.watermark import Watermark

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3

# Producers wait this long for the write lock; with one writer connection in the process it
# only matters while another process (a stray second daemon, sqlite3 shell) holds it.
BUSY_TIMEOUT_S = 5.0

# Truncate the -wal back to this size after a checkpoint: a CLI reader holding a snapshot
# during a burst can grow it, and SD cards have little space to spare.
_WAL_SIZE_LIMIT = 8 * 1024 * 1024

_SCHEMA = (
    # seq is the rowid: assigned by the outbox, strictly increasing, never reused.
    """CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        priority INTEGER NOT NULL,
        payload BLOB NOT NULL,
        created_at REAL NOT NULL,
        delivered_at REAL
    )""",
    # The publisher's "next by (priority, seq)" reads only this index, which stays as small
    # as the backlog however many delivered rows are kept.
    "CREATE INDEX events_pending ON events (priority, seq) WHERE delivered_at IS NULL",
    # Retention and quota delete delivered rows, oldest delivery first.
    "CREATE INDEX events_delivered ON events (delivered_at) WHERE delivered_at IS NOT NULL",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
)

# Schema changes by the version they lead to; a database at version N runs those above N.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: (
        # The remote command audit log; cmd_id is unique so a repeated id is found, not re-run.
        """CREATE TABLE audit (
            seq INTEGER PRIMARY KEY,
            cmd_id TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            by TEXT,
            issuer TEXT,
            digest TEXT NOT NULL,
            received_at REAL NOT NULL,
            ok INTEGER NOT NULL,
            reply TEXT NOT NULL
        )""",
        "CREATE INDEX audit_received ON audit (received_at)",
    ),
    3: (
        # Files attached to events (snapshots, crops). `seq` is the event's; `priority` is one
        # below the event's, so the publisher sends them after it, before lower events.
        """CREATE TABLE media (
            row INTEGER PRIMARY KEY,
            event_id TEXT NOT NULL,
            name TEXT NOT NULL,
            seq INTEGER NOT NULL,
            priority INTEGER NOT NULL,
            kind TEXT NOT NULL,
            content_type TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            content BLOB NOT NULL,
            created_at REAL NOT NULL,
            delivered_at REAL,
            UNIQUE (event_id, name)
        )""",
        "CREATE INDEX media_pending ON media (priority, seq) WHERE delivered_at IS NULL",
        "CREATE INDEX media_delivered ON media (delivered_at) WHERE delivered_at IS NOT NULL",
    ),
}


class _CorruptError(Exception):
    """The file is not an SQLite database, or its integrity check failed."""


def open_writer(path: Path, *, now: float) -> tuple[sqlite3.Connection, Path | None, Watermark]:
    """Open the writer connection; a corrupt database is moved aside and replaced.

    Returns the connection, where a corrupt file was moved (or None), and the boot and seq
    that could be salvaged from it.
    """
    _ensure_directory(path.parent)
    try:
        return _open_checked(path), None, Watermark()
    except _CorruptError as exc:
        log.error("outbox database %s is corrupt: %s", path, exc)
    aside = _move_aside(path, now)
    log.error("moved the corrupt outbox database to %s and started a fresh one", aside)
    return _open_checked(path), aside, salvage(aside)


def check_version(db: sqlite3.Connection, path: Path) -> int:
    """The schema version of `db`; a clear error if it is newer than this agent knows."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise StorageError(
            f"outbox database {path} has schema version {version}, newer than the "
            f"{SCHEMA_VERSION} this agent knows (was the agent downgraded?)"
        )
    return version


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection that leaves the database and its -wal exactly as they are."""
    # With no -wal (a cleanly stopped daemon) every committed row is in the main file: read
    # it as immutable, because a plain read-only connection would create -wal and -shm,
    # owned by the CLI's user, that the daemon may then not be allowed to open. The cost:
    # a daemon starting during the read may make it fail; the caller simply retries.
    quiet = not Path(f"{path}-wal").exists()
    uri = path.absolute().as_uri() + ("?mode=ro&immutable=1" if quiet else "?mode=ro")
    return sqlite3.connect(
        uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )


def salvage(path: Path) -> Watermark:
    """Best effort: the highest boot and seq still readable in a corrupt database."""
    try:
        db = connect_readonly(path)
    except sqlite3.Error:
        return Watermark()
    with closing(db):
        boot = _read_int(db, "SELECT value FROM meta WHERE key = 'boot'")
        seq = _read_int(db, "SELECT value FROM meta WHERE key = 'seq'")
        return Watermark(boot=boot, seq=max(seq, _read_int(db, "SELECT max(seq) FROM events")))


def _read_int(db: sqlite3.Connection, query: str) -> int:
    try:
        row = db.execute(query).fetchone()
    except sqlite3.Error:
        return 0
    return row[0] if row is not None and isinstance(row[0], int) else 0


def _open_checked(path: Path) -> sqlite3.Connection:
    if path.exists():
        _check_integrity(path)
    try:
        db = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open outbox database {path}: {exc}") from exc
    try:
        _configure(db, path)
        _create_schema(db)
    except BaseException as exc:
        db.close()
        if isinstance(exc, sqlite3.Error):
            raise StorageError(f"cannot open outbox database {path}: {exc}") from exc
        raise
    return db


def _check_integrity(path: Path) -> None:
    # Read-only, because closing a read-write connection deletes the -wal and -shm, even
    # those of a corrupt file: the very files recovery moves aside and salvages from.
    try:
        with closing(connect_readonly(path)) as db:
            check_version(db, path)  # the first read: a file that is no database fails here
            # quick_check reads every page (seconds for a full quota on a Pi) but skips
            # integrity_check's index-versus-table cross-check.
            problems = [str(row[0]) for row in db.execute("PRAGMA quick_check")]
    except sqlite3.Error as exc:
        if _is_corruption(exc):
            raise _CorruptError(str(exc)) from exc
        raise StorageError(f"cannot open outbox database {path}: {exc}") from exc
    if problems != ["ok"]:
        raise _CorruptError("; ".join(problems[:3]))


def _configure(db: sqlite3.Connection, path: Path) -> None:
    mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StorageError(f"outbox database {path} cannot use WAL mode (got {mode!r})")
    db.execute(f"PRAGMA journal_size_limit={_WAL_SIZE_LIMIT}")


def _create_schema(db: sqlite3.Connection) -> None:
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version == SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    statements = list(_SCHEMA) if version == 0 else []
    for target in range(max(version, 1) + 1, SCHEMA_VERSION + 1):
        statements.extend(_MIGRATIONS[target])
    for statement in statements:
        db.execute(statement)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")  # in the transaction: all or nothing
    db.execute("COMMIT")


def _is_corruption(exc: sqlite3.Error) -> bool:
    # Only these codes mean a damaged file; busy, read-only or permission errors must not
    # cause a healthy database to be moved aside.
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    return code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _ensure_directory(folder: Path) -> None:
    if folder.is_dir():
        return
    try:
        folder.mkdir(mode=0o750, parents=True, exist_ok=True)
        folder.chmod(0o750)  # mkdir's mode is filtered by the umask; technicians' group reads
    except OSError as exc:
        raise StorageError(f"cannot create outbox folder {folder}: {exc}") from exc


def _move_aside(path: Path, now: float) -> Path:
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    attempt = 1
    while aside.exists():
        aside = path.with_name(f"{path.name}.corrupt-{stamp}.{attempt}")
        attempt += 1
    try:
        # The -wal and -shm keep their suffixes so SQLite pairs them with the moved file.
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{path}{suffix}").exists():
                os.replace(f"{path}{suffix}", f"{aside}{suffix}")
    except OSError as exc:
        raise StorageError(f"cannot move corrupt outbox database {path} aside: {exc}") from exc
    return aside
