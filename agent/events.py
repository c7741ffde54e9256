"""Events: what every producer hands to the outbox, and the payload the control room reads.

The payload (DESIGN §3.3) is versioned by its field names; ids are UUIDv7 so they sort by
time, and the same id is sent on every re-send so the receiver can de-duplicate.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Priorities (DESIGN §3.3): the outbox sends by priority, then seq.
PRIORITY_SOS = 0
PRIORITY_FAULT = 1
PRIORITY_DETECTION = 2
PRIORITY_TELEMETRY = 3

PHASES = ("new", "update", "end", "info")

# A media name is one topic level (`{prefix}/media/{event_id}/{name}`): no `/`, `+` or `#`.
MEDIA_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# One full-resolution 12 MP still at high JPEG quality is about 5 MB; snapshots and crops
# are far smaller. The cap keeps one bad frame from filling the quota alone.
MEDIA_MAX_BYTES = 8 * 1024 * 1024
JPEG = "image/jpeg"


@dataclass(frozen=True)
class Event:
    """One event as producers create it; the outbox stamps device, site, boot and seq."""

    kind: str
    priority: int
    phase: str = "info"
    data: Mapping[str, Any] = field(default_factory=dict)
    test: bool = False
    media: Sequence[str] = ()
    id: str = field(default_factory=lambda: str(uuid7()))
    ts: str = field(default_factory=lambda: utc_timestamp())
    clock_synced: bool = field(default_factory=lambda: clock_synchronised())

    def __post_init__(self) -> None:
        if self.phase not in PHASES:
            raise ValueError(f"event phase must be one of {PHASES}, got {self.phase!r}")
        if not 0 <= self.priority <= PRIORITY_TELEMETRY:
            raise ValueError(f"event priority must be 0..3, got {self.priority!r}")

    def payload(self, *, device: str, site: str, boot: int, seq: int) -> dict[str, Any]:
        """The JSON object sent on `{prefix}/event/{kind}`."""
        return {
            "id": self.id,
            "kind": self.kind,
            "phase": self.phase,
            "device": device,
            "site": site,
            "boot": boot,
            "seq": seq,
            "ts": self.ts,
            "clock_synced": self.clock_synced,
            "priority": self.priority,
            "test": self.test,
            "data": dict(self.data),
            "media": list(self.media),
        }


@dataclass(frozen=True)
class Media:
    """A file attached to an event (a snapshot, a crop), sent on `{prefix}/media/{id}/{name}`."""

    name: str
    content: bytes = field(repr=False)
    content_type: str = JPEG

    def __post_init__(self) -> None:
        if not MEDIA_NAME.fullmatch(self.name):
            raise ValueError(f"media name must match {MEDIA_NAME.pattern}, got {self.name!r}")
        if not 0 < len(self.content) <= MEDIA_MAX_BYTES:
            size = len(self.content)
            raise ValueError(f"media {self.name!r} must be 1..{MEDIA_MAX_BYTES} bytes, got {size}")
        if not self.content_type or "/" not in self.content_type:
            raise ValueError(f"media content_type must be a MIME type, got {self.content_type!r}")


def encode(payload: Mapping[str, Any]) -> bytes:
    """Compact, stable JSON bytes for the wire and the outbox."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def uuid7(now_ns: int | None = None) -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7): 48-bit Unix milliseconds, then randomness."""
    ms = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & (2**48 - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & (2**62 - 1)  # rand_b, 62 bits
    return uuid.UUID(int=value)


def utc_timestamp(now: float | None = None) -> str:
    """UTC time as ISO 8601 with milliseconds and a `Z`: `2026-11-27T01:02:03.456Z`."""
    moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h>: we only read `status`, but adjtimex(2) writes the
    # whole structure, so it must be the kernel's full size (208 bytes on 64-bit Linux).
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("rest", ctypes.c_byte * 256),
    ]


_STA_UNSYNC = 0x0040
_TIME_ERROR = 5
# Written by systemd-timesyncd once synchronised; read when the sandbox forbids adjtimex(2)
# (`ProtectClock=yes` filters the system call even for reading).
_TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")
_libc_path = ctypes.util.find_library("c")
_libc = ctypes.CDLL(_libc_path, use_errno=True) if _libc_path else None


def clock_synchronised() -> bool:
    """Whether the kernel says the system clock is synchronised (NTP, chrony, timesyncd).

    A Pi has no real-time clock: until NTP syncs after boot its clock may be days off, so
    every event says whether its timestamp can be trusted.
    """
    if _libc is None:
        return _TIMESYNC_FLAG.exists()
    timex = _Timex()
    state = _libc.adjtimex(ctypes.byref(timex))
    if state == -1:
        return _TIMESYNC_FLAG.exists()
    return state != _TIME_ERROR and not timex.status & _STA_UNSYNC
