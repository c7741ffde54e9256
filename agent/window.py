"""Window: what awaits a PUBACK on one connection, what goes before the outbox rows, and
the rows held back.

The broker's Receive Maximum (MQTT 5 §3.3.4) caps how many QoS 1 publishes may await a
PUBACK; paho ignores it, so the publisher sizes this window from CONNACK and never overfills
it. A row the broker refuses (PUBACK reason code ≥ 0x80) is held back with growing backoff
instead of being re-sent at once, so one denied topic cannot spin the publisher.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


class Row(Protocol):
    """One stored event or media as the publisher sees it."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def media(self) -> str | None: ...  # the media name; None for an event
    @property
    def content_type(self) -> str: ...
    @property
    def sha256(self) -> str | None: ...


@dataclass(frozen=True, eq=False)
class Message:
    """A publish that bypasses the outbox: status, retained documents, command replies."""

    topic: str
    payload: bytes
    retain: bool = False
    correlation_data: bytes | None = None
    content_type: str | None = None


Entry = Row | Message

MAX_MESSAGES = 256  # replies kept while offline; older ones answer requests nobody awaits


class Window:
    """Publishes awaiting PUBACK by message id, messages waiting to go, held rows."""

    def __init__(self, *, min_backoff_s: float, max_backoff_s: float) -> None:
        self.size = 0
        self._min_s = min_backoff_s
        self._max_s = max_backoff_s
        self._inflight: dict[int, Entry] = {}
        self._messages: deque[Message] = deque(maxlen=MAX_MESSAGES)
        self._held: dict[str, float] = {}  # row id -> monotonic time it may be tried again
        self._strikes: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._inflight)

    def free(self) -> int:
        """How many more publishes may be sent now."""
        return self.size - len(self._inflight)

    def put(self, message: Message, *, first: bool = False) -> None:
        """Queue a message to go before any row (`first`: before other messages too)."""
        if first:
            self._messages.appendleft(message)
        else:
            self._messages.append(message)

    def open(self, size: int, messages: Iterable[Message]) -> None:
        """A connection is up: `size` slots, and `messages` to go first (status, documents)."""
        self.size = size
        self._messages.extendleft(reversed(list(messages)))

    def next_message(self) -> Message | None:
        """The next queued message, if a slot is free."""
        if self._messages and self.free() > 0:
            return self._messages.popleft()
        return None

    def add(self, mid: int, entry: Entry) -> None:
        """Record a publish awaiting its PUBACK."""
        self._inflight[mid] = entry

    def ack(self, mid: int, *, refused: bool) -> Entry | None:
        """Settle a PUBACK; a refused row is held back. None for an unknown message id."""
        entry = self._inflight.pop(mid, None)
        if entry is None or isinstance(entry, Message):
            return entry
        if refused:
            self.hold(entry.id)
        else:
            self._strikes.pop(entry.id, None)
        return entry

    def hold(self, row_id: str) -> None:
        """Keep a row back for a backoff that doubles with each refusal."""
        strikes = self._strikes[row_id] = self._strikes.get(row_id, 0) + 1
        backoff = min(self._max_s, self._min_s * 2**strikes)
        self._held[row_id] = time.monotonic() + backoff

    def busy(self) -> set[str]:
        """Rows not to fetch now: awaiting a PUBACK, or held back."""
        now = time.monotonic()
        self._held = {row_id: at for row_id, at in self._held.items() if at > now}
        inflight = {e.id for e in self._inflight.values() if not isinstance(e, Message)}
        return inflight | self._held.keys()

    def holds(self, message: Message) -> bool:
        """Whether this message is still queued or awaiting its PUBACK."""
        waiting = (*self._messages, *self._inflight.values())
        return any(entry is message for entry in waiting)

    def close(self) -> None:
        """The connection is gone: forget its publishes; keep only replies to send again.

        Retained messages (status, documents) are rebuilt on the next connect.
        """
        sent = [e for e in self._inflight.values() if isinstance(e, Message)]
        kept = [m for m in (*sent, *self._messages) if not m.retain]
        self._inflight.clear()
        self._messages = deque(kept, maxlen=MAX_MESSAGES)
