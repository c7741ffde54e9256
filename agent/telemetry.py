"""Telemetry: the health snapshot stored as a `telemetry` event every `telemetry.interval_s`.

Like every other event it enters the outbox (priority 3) and goes out on `{prefix}/telemetry`
(DESIGN §2, §3.2); a pole that was offline sends its history afterwards, after its alarms.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agent import host
from agent.events import PRIORITY_TELEMETRY, Event, clock_synchronised, utc_timestamp
from agent.outbox import QueueStats

HEALTH_STATES = ("ok", "degraded", "failed")
# A component's state and, when not ok, why.
Condition = tuple[str, str | None]


class Store(Protocol):
    """The outbox as telemetry sees it."""

    def add(self, event: Event) -> object: ...


@dataclass(frozen=True)
class Sources:
    """Where the snapshot's numbers come from (given by the composition root)."""

    boot: int
    version: str
    disk_path: Path
    interval_s: Callable[[], float]
    link: Callable[[], dict[str, Any]]
    outbox: Callable[[], QueueStats]
    sos: Callable[[], dict[str, Any]]
    remote: Callable[[], dict[str, Any]]
    components: Callable[[], dict[str, Condition]]
    devices: Callable[[], dict[str, dict[str, Any]]]
    device_checks: Callable[[], dict[str, tuple[bool, str]]]


class Health:
    """Per component: ok / degraded / failed, since when, and the last error seen."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Any]] = {}

    def update(self, conditions: dict[str, Condition]) -> dict[str, dict[str, Any]]:
        """Record the current conditions; returns every entry."""
        for name, (state, error) in conditions.items():
            entry = self._entries.get(name)
            if entry is None or entry["state"] != state:
                last = entry["last_error"] if entry else None
                entry = self._entries[name] = {"state": state, "since": utc_timestamp()}
                entry["last_error"] = last
            if error is not None:
                entry["last_error"] = error
        return {name: dict(entry) for name, entry in self._entries.items()}


class Telemetry:
    """Builds snapshots and stores one every interval."""

    def __init__(
        self, *, sources: Sources, store: Store, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._sources = sources
        self._store = store
        self._clock = clock
        self._started = time.time()
        self._health = Health()
        self._next = clock()  # the first snapshot goes out at once
        self.sent = 0

    def tick(self) -> None:
        """Send a snapshot when the interval has passed (main loop)."""
        now = self._clock()
        if now >= self._next:
            self.send()
            self._next = now + self._sources.interval_s()

    def send(self) -> dict[str, Any]:
        """Store a snapshot now (also `telemetry_now`); returns it."""
        data = self.snapshot()
        self._store.add(Event(kind="telemetry", priority=PRIORITY_TELEMETRY, data=data))
        self.sent += 1
        return data

    def snapshot(self) -> dict[str, Any]:
        """The health snapshot."""
        src = self._sources
        return {
            "uptime_s": round(time.time() - self._started, 1),
            "boot": src.boot,
            "version": src.version,
            "host": host.reading(src.disk_path),
            "clock_synced": clock_synchronised(),
            "broker": src.link(),
            "outbox": by_priority(src.outbox()),
            "sos": src.sos(),
            "remote": src.remote(),
            "health": self._health.update(src.components()),
            **src.devices(),
        }

    def selftest(self) -> dict[str, Any]:
        """Checks a technician or the control room can run remotely."""
        snap = self.snapshot()
        disk = snap["host"]["disk"]
        checks = {
            "broker": (bool(snap["broker"].get("connected")), snap["broker"].get("last_error")),
            "clock": (snap["clock_synced"], None if snap["clock_synced"] else "not synchronised"),
            "disk": (disk.get("free_bytes", 0) > 0.02 * disk.get("total_bytes", 1), str(disk)),
        }
        for name, entry in snap["health"].items():
            checks[name] = (entry["state"] == "ok", entry["last_error"])
        checks.update(self._sources.device_checks())
        results = {name: {"ok": ok, "detail": detail} for name, (ok, detail) in checks.items()}
        return {"ok": all(r["ok"] for r in results.values()), "checks": results}


def by_priority(stats: QueueStats) -> dict[str, Any]:
    """Outbox depth, bytes and oldest pending age per priority."""
    groups: dict[str, dict[str, Any]] = {}
    for group in stats.by_kind:
        entry = groups.setdefault(
            str(group.priority), {"pending": 0, "bytes": 0, "oldest_pending_age_s": 0.0}
        )
        entry["pending"] += group.pending
        entry["bytes"] += group.bytes
        entry["oldest_pending_age_s"] = max(entry["oldest_pending_age_s"], group.oldest_age_s)
    return {
        "pending": stats.pending,
        "oldest_pending_age_s": stats.oldest_pending_age_s,
        "evicted": stats.evicted,
        "by_priority": groups,
    }
