"""One MQTT connection: a paho client that is built, connected, used and thrown away whole.

The only module that imports paho. A `Link` never reconnects: paho keeps its unacknowledged
QoS 1 messages in RAM and re-sends them first on a reconnect (`_messages_reconnect_reset_out`),
which would put stale backlog ahead of a new SOS. The publisher discards the link instead
and builds a new one; the outbox is the only store of record.

A short-lived thread makes the blocking TCP/TLS connect (so a failure keeps its reason), then
paho's own network thread (`loop_start`) runs the connection. Every paho callback turns into
one `Signal` (agent.link_signals) handed to `emit` and returns: an exception there would
kill paho's thread.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties, VariableByteIntegers
from paho.mqtt.reasoncodes import ReasonCode

from agent import config as configuration
from agent.config import MqttConfig
from agent.link_signals import Acked, Connected, Dropped, Incoming, Received, Signal

__all__ = [
    "Acked",
    "Connected",
    "Dropped",
    "Incoming",
    "Link",
    "LinkStats",
    "PacketTooLargeError",
    "Received",
    "Signal",
    "Will",
]

log = logging.getLogger(__name__)

# MQTT 5 §3.2.2.3.3: a broker that sends no Receive Maximum allows 65,535.
DEFAULT_RECEIVE_MAXIMUM = 65535
# How long close() waits for each step; a connect to an unreachable host still running then
# ends by itself within `connect_timeout_s` and holds nothing of value.
JOIN_S = 1.0


class _AfterDisconnect(logging.Filter):
    """paho 2.2 runs its loop once more after a clean disconnect and logs that as an ERROR."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Client is not connected.")


paho_log = logging.getLogger(f"{__name__}.paho")
paho_log.addFilter(_AfterDisconnect())


class PacketTooLargeError(ValueError):
    """A PUBLISH larger than the Maximum Packet Size the broker announced in CONNACK."""


@dataclass
class LinkStats:
    """The broker link's state and counters, as `Publisher.link()` reports them."""

    connected: bool = False
    since: str | None = None  # when `connected` last changed
    connects: int = 0
    disconnects: int = 0
    last_error: str | None = None
    inflight: int = 0
    receive_maximum: int | None = None
    sent: int = 0
    acked: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Will:
    """What the broker publishes, retained, when the connection dies without DISCONNECT."""

    topic: str
    payload: bytes


class Link:
    """One connection to the broker, from TCP connect to close; never reconnects."""

    def __init__(
        self, *, config: MqttConfig, client_id: str, will: Will, emit: Callable[[Signal], None]
    ) -> None:
        self._config = config
        self._emit = emit
        self._lock = threading.Lock()  # orders close() against the start of paho's loop
        self._closing = False
        self._looping = False  # paho's network thread was started
        self._ended = threading.Event()  # set by on_disconnect
        self._maximum_packet_size: int | None = None  # from CONNACK
        self._client = _client(config, client_id, will)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._connector = threading.Thread(target=self._connect, name=f"mqtt-{client_id}")

    def open(self) -> None:
        """Start connecting in the background; a `Connected` or `Dropped` signal follows."""
        self._connector.start()

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        retain: bool = False,
        correlation_data: bytes | None = None,
        content_type: str | None = None,
        user_properties: Sequence[tuple[str, str]] = (),
    ) -> int:
        """Publish QoS 1 and return the message id its `Acked` signal will carry.

        Raises `PacketTooLargeError` rather than send what the broker announced it would refuse:
        it would drop the connection (0x95), and the publisher would send it again.
        """
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        if correlation_data is not None:
            properties.CorrelationData = correlation_data
        if content_type is not None:
            properties.ContentType = content_type
        for pair in user_properties:
            properties.UserProperty = pair  # paho appends each assignment
        self._check_size(topic, payload, properties)
        info = self._client.publish(topic, payload, qos=1, retain=retain, properties=properties)
        return info.mid

    def _check_size(self, topic: str, payload: bytes, properties: Properties) -> None:
        limit = self._maximum_packet_size
        if limit is None:
            return
        # MQTT 5 §3.3: topic (2 + UTF-8), packet id (QoS 1), properties, payload; then the
        # fixed header: one type byte and the remaining length as a variable byte integer.
        packed: bytes = properties.pack()  # type: ignore[no-untyped-call]
        remaining = 2 + len(topic.encode()) + 2 + len(packed) + len(payload)
        length: bytes = VariableByteIntegers.encode(remaining)  # type: ignore[no-untyped-call]
        size = 1 + len(length) + remaining
        if size > limit:
            raise PacketTooLargeError(f"{size} bytes, over the broker's maximum of {limit}")

    def subscribe(self, filters: Sequence[str]) -> None:
        """Subscribe QoS 1 to each topic filter (no-op for none)."""
        if filters:
            self._client.subscribe([(topic, 1) for topic in filters])

    def close(self) -> None:
        """Disconnect cleanly (no Will) and stop paho's thread, waiting a bounded time."""
        with self._lock:
            self._closing = True
            self._client.disconnect()
        self._connector.join(JOIN_S)
        if self._connector.is_alive():
            log.debug("MQTT connect still in progress; it ends on its own")
            return
        if not self._looping:
            return
        if not self._ended.wait(JOIN_S):
            self._abort()  # DISCONNECT is stuck behind unsent data: the peer reads nothing
        self._client.loop_stop()

    def _connect(self) -> None:
        # A blocking connect in this short-lived thread, rather than connect_async, so that
        # the reason of a failure (refused, DNS, TLS certificate) reaches the technician.
        try:
            self._client.connect(
                self._config.host, self._config.port, self._config.keepalive_s, clean_start=True
            )
        except (OSError, ValueError) as exc:  # ssl errors are OSErrors too
            _close_sockets_in(exc)
            self._emit(Dropped(self, str(exc) or type(exc).__name__))
            return
        _no_delay(self._client)
        with self._lock:
            if self._closing:
                self._client.disconnect()
            else:
                # reconnect_on_failure=False: paho's loop ends with the connection instead of
                # re-sending its in-RAM queue on a new one (see the module docstring).
                self._client.loop_start()
                self._looping = True

    def _abort(self) -> None:
        sock = self._client.socket()
        if isinstance(sock, socket.socket):  # ssl.SSLSocket included
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, props: Any) -> None:
        maximum = getattr(props, "ReceiveMaximum", DEFAULT_RECEIVE_MAXIMUM)
        error = f"connection refused: {reason}" if reason.is_failure else None
        # Set before Connected is emitted, so the publisher's first publish already sees it.
        self._maximum_packet_size = getattr(props, "MaximumPacketSize", None)
        self._emit(Connected(self, maximum, error, self._maximum_packet_size))

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self._ended.set()
        self._emit(Dropped(self, f"disconnected: {reason}"))

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        self._emit(Acked(self, mid, str(reason) if reason.is_failure else None))

    def _on_subscribe(self, _c: Any, _u: Any, _m: int, codes: list[ReasonCode], _p: Any) -> None:
        for code in codes:
            if code.is_failure:  # e.g. an ACL that denies the command topics
                log.warning("the broker refused a subscription: %s", code)

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:  # MQTT requires UTF-8 topics; a broker should never send this
            log.warning("dropped a message whose topic is not UTF-8")
            return
        props = message.properties
        incoming = Incoming(
            topic=topic,
            payload=bytes(message.payload),
            response_topic=getattr(props, "ResponseTopic", None),
            correlation_data=getattr(props, "CorrelationData", None),
            user_properties=tuple(getattr(props, "UserProperty", ())),
        )
        self._emit(Received(self, incoming))


def _close_sockets_in(exc: BaseException) -> None:
    """Close the sockets a failed connect left behind.

    paho 2.2 neither closes the TLS socket when the handshake fails (a refused certificate)
    nor keeps it: it would leak one descriptor per reconnect attempt until collected.
    """
    trace = exc.__traceback__
    while trace is not None:
        for value in list(trace.tb_frame.f_locals.values()):
            if isinstance(value, socket.socket):
                value.close()
        trace = trace.tb_next


def _no_delay(client: mqtt.Client) -> None:
    """Send each packet at once: Nagle's algorithm held an SOS behind a PUBACK for ~40 ms."""
    sock = client.socket()
    if isinstance(sock, socket.socket):  # ssl.SSLSocket is one too
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _client(config: MqttConfig, client_id: str, will: Will) -> mqtt.Client:
    """A paho client with the Will, TLS and credentials set; raises OSError/ValueError."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        reconnect_on_failure=False,
    )
    # Callbacks cannot raise by design; this keeps paho's thread alive if one ever does.
    client.suppress_exceptions = True
    client.enable_logger(paho_log)
    client.connect_timeout = config.connect_timeout_s
    # The publisher keeps inflight within the broker's Receive Maximum; paho's own limit
    # would hold the excess in RAM, out of priority order.
    client.max_inflight_messages_set(0)
    client.will_set(will.topic, will.payload, qos=1, retain=True)
    if config.tls:
        client.tls_set(
            ca_certs=_path(config.ca_file),
            certfile=_path(config.cert_file),
            keyfile=_path(config.key_file),
        )
    if config.username is not None:
        client.username_pw_set(config.username, configuration.password(config))
    return client


def _path(path: object) -> str | None:
    return None if path is None else str(path)
