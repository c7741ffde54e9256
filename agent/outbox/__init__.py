"""The outbox: the SQLite store of record that every event enters before anything reacts.

Producers call `add()`; the publisher reads `pending()` by (priority, seq), publishes, and
calls `mark_delivered()` on PUBACK. Media (snapshots, crops) are stored with their event and
sent after it (see `media`).

Durability: events of priority 0-1 (SOS, faults) commit with `synchronous=FULL`, so the
WAL is fsynced before `add()` returns and the row survives a power cut. Priority 2-3
(detections, telemetry) commit with NORMAL: they survive a crash of the process, but a
power cut may lose the last ones not yet fsynced (by the next FULL commit or checkpoint,
which also makes every earlier NORMAL commit durable). An SD card takes milliseconds per
fsync, which plate bursts would otherwise pay per event. Seq never repeats even then: see
`watermark`.

Modules: `store` (the `Outbox` itself), `writer` (transactions and the counters they
commit), `schema` (the database file), `reader` (read-only views, also for the CLI),
`media`, `quota` (eviction), `watermark` (the seq high-water mark file).
"""

from agent.outbox.reader import OutboxReader, PendingCount, QueueStats, Record, open_readonly
from agent.outbox.store import Outbox, Stored

__all__ = [
    "Outbox",
    "OutboxReader",
    "PendingCount",
    "QueueStats",
    "Record",
    "Stored",
    "open_readonly",
]
