"""Delivery: outbox rows and messages onto one connection, and their PUBACKs.

The sending side of the publisher thread (agent.publisher keeps the connection lifecycle).
Status and replies go first, then the next rows by (priority, seq), never more than the
window (agent.window) allows. A row is marked delivered only after a successful PUBACK for
its message id; a refused row is held back with backoff, and a media row too large for the
broker is dropped for good. Only the publisher thread calls it.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Sequence
from typing import Protocol

from agent.complaint import Complaint
from agent.link import Link, LinkStats, PacketTooLargeError
from agent.link_signals import Acked
from agent.window import Entry, Message, Row, Window


class Outbox(Protocol):
    """The outbox as the publisher uses it."""

    def pending(self, limit: int, exclude: Collection[str] = ()) -> Sequence[Row]: ...
    def mark_delivered(self, ids: Iterable[str]) -> None: ...
    def drop(self, row_id: str, reason: str) -> None: ...


class Delivery:
    """Fills the window from the outbox, records PUBACKs, holds or drops refused rows."""

    def __init__(
        self,
        *,
        prefix: str,
        outbox: Outbox,
        window: Window,
        refused: Complaint,
        stats: LinkStats,
        lock: threading.Lock,
    ) -> None:
        self._prefix = prefix
        self._outbox = outbox
        self._window = window
        self._refused = refused
        self._stats = stats
        self._lock = lock  # guards `stats`, which the publisher reads from other threads
        self._delivered: list[str] = []

    def record(self) -> None:
        """Mark the rows acknowledged since the last call delivered, in one transaction."""
        if self._delivered:
            self._outbox.mark_delivered(self._delivered)
            self._delivered = []

    def acked(self, signal: Acked) -> None:
        """A PUBACK: the row is delivered, or refused and held back."""
        entry = self._window.ack(signal.mid, refused=signal.error is not None)
        if entry is None:
            return
        if signal.error is not None:
            self._refused.report(f"{_topic(entry)}: {signal.error}")
            with self._lock:
                self._stats.failed += 1
        elif not isinstance(entry, Message):
            self._delivered.append(entry.id)
            with self._lock:
                self._stats.acked += 1

    def fill(self, link: Link, *, rows: bool) -> None:
        """Send status and replies first, then (if `rows`) the next rows by (priority, seq)."""
        while (message := self._window.next_message()) is not None:
            self._send(link, message)
        if not rows or self._window.free() <= 0:
            return
        for row in self._outbox.pending(self._window.free(), exclude=self._window.busy()):
            self._send(link, row)

    def _send(self, link: Link, entry: Entry) -> None:
        try:
            if isinstance(entry, Message):
                mid = link.publish(
                    entry.topic, entry.payload, retain=entry.retain,
                    correlation_data=entry.correlation_data, content_type=entry.content_type,
                )  # fmt: skip
            else:
                mid = self._publish_row(link, entry)
        except PacketTooLargeError as exc:
            self._too_large(entry, str(exc))
            return
        except ValueError as exc:  # a topic with wildcards, or a payload over 256 MB
            self._refused.report(f"{_topic(entry)}: {exc}")
            if not isinstance(entry, Message):
                self._window.hold(entry.id)
            return
        self._window.add(mid, entry)
        if not isinstance(entry, Message):
            with self._lock:
                self._stats.sent += 1

    def _publish_row(self, link: Link, row: Row) -> int:
        topic = f"{self._prefix}/{_topic(row)}"
        if row.media is None:
            return link.publish(topic, row.payload)
        sha256 = [] if row.sha256 is None else [("sha256", row.sha256)]
        return link.publish(
            topic, row.payload, content_type=row.content_type, user_properties=sha256
        )

    def _too_large(self, entry: Entry, error: str) -> None:
        """A media row the broker would refuse however often it is sent is dropped for good;
        an event is held back (never dropped: it may be an SOS) until a broker takes it."""
        self._refused.report(f"{_topic(entry)}: {error}")
        if isinstance(entry, Message):
            return
        if entry.media is None:
            self._window.hold(entry.id)
        else:
            self._outbox.drop(entry.id, f"too large for the broker: {error}")


def _topic(entry: Entry) -> str:
    """The topic, below the prefix for rows (DESIGN §3.2: telemetry has its own topic)."""
    if isinstance(entry, Message):
        return entry.topic
    if entry.media is not None:
        return f"media/{entry.id}"  # a media row's id is `{event id}/{name}`
    return "telemetry" if entry.kind == "telemetry" else f"event/{entry.kind}"
