"""Link signals: what a `Link` hands the publisher thread from paho's callbacks.

Each signal names the link it came from, so the publisher can ignore one from a connection
it has already discarded (agent.link, agent.publisher).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.link import Link


@dataclass(frozen=True)
class Incoming:
    """A message received on a subscribed topic."""

    topic: str
    payload: bytes
    response_topic: str | None = None
    correlation_data: bytes | None = None
    user_properties: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Connected:
    """CONNACK arrived; `error` is set when the broker refused the connection."""

    link: Link
    receive_maximum: int
    error: str | None
    maximum_packet_size: int | None = None  # MQTT 5 §3.2.2.3.6; None: no limit


@dataclass(frozen=True)
class Dropped:
    """The connection ended or could not be made."""

    link: Link
    error: str


@dataclass(frozen=True)
class Acked:
    """PUBACK for `mid`; `error` is set for a failure reason code (e.g. 0x87 Not authorized)."""

    link: Link
    mid: int
    error: str | None


@dataclass(frozen=True)
class Received:
    """A message arrived on a subscription."""

    link: Link
    message: Incoming


Signal = Connected | Dropped | Acked | Received
