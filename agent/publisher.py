"""Publisher: delivers outbox rows over MQTT by (priority, seq), and carries commands both ways.

One thread owns the broker connection and makes every decision. It waits on one queue fed by
paho's callbacks (through `agent.link`), by `wake()` when the outbox stores an event, and by
`reply()` / `publish_retained()`. A row is marked delivered only after a successful PUBACK for
its message id; a failure reason code (e.g. 0x87 Not authorized) holds it back with backoff.

Each connection is a fresh `Link`; on a drop the link and its in-RAM queue are discarded and
the window is refilled from the outbox, so after an outage every SOS goes out before the
backlog of lower-priority rows (DESIGN §3.3). This module keeps the connection's lifecycle;
`agent.delivery` sends rows and handles their PUBACKs, `agent.reconnect` holds the schedule.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from agent.complaint import Complaint
from agent.config import MqttConfig
from agent.delivery import Delivery, Outbox
from agent.events import encode, utc_timestamp
from agent.link import Link, LinkStats, Will
from agent.link_signals import Acked, Connected, Dropped, Incoming, Signal
from agent.reconnect import Reconnect
from agent.window import Message, Row, Window

__all__ = ["Incoming", "Outbox", "Publisher", "Row"]

log = logging.getLogger(__name__)

STOPPED_ACK_S = 2.0  # a clean stop waits this long for the PUBACK of the "stopped" status
TURN_S = 1.0  # the thread looks at deadlines and held rows at least this often
JSON = "application/json"


def _ignore(message: Incoming) -> None:
    log.debug("no handler for %s", message.topic)


class Publisher:
    """Sends stored events to the broker, QoS 1, SOS first; receives commands; sends replies."""

    def __init__(
        self,
        *,
        config: MqttConfig,
        prefix: str,
        client_id: str,
        outbox: Outbox,
        boot: int,
        version: str,
        subscriptions: Sequence[str] = (),
        on_message: Callable[[Incoming], None] = _ignore,
    ) -> None:
        self._config = config
        self._prefix = prefix
        self._client_id = client_id
        self._boot = boot
        self._version = version
        self._subscriptions = tuple(subscriptions)
        self._on_message = on_message
        self._queue: queue.Queue[Signal | Message | None] = queue.Queue()
        self._nudged = threading.Event()
        self._stop = threading.Event()
        self._final = True
        self._thread = threading.Thread(target=self._run, name="publisher")
        self._lock = threading.Lock()  # guards _stats, which link() reads from other threads
        self._stats = LinkStats()
        # Everything below belongs to the publisher thread.
        self._link: Link | None = None
        self._connected = False
        self._reconnect = Reconnect(
            min_s=config.reconnect_min_s,
            max_s=config.reconnect_max_s,
            connect_timeout_s=config.connect_timeout_s,
        )
        self._window = Window(
            min_backoff_s=config.reconnect_min_s, max_backoff_s=config.reconnect_max_s
        )
        self._retained: dict[str, bytes] = {}
        self._unreachable = Complaint("MQTT broker connection", log)
        self._refused = Complaint("the broker refused a message", log)
        self._delivery = Delivery(
            prefix=prefix,
            outbox=outbox,
            window=self._window,
            refused=self._refused,
            stats=self._stats,
            lock=self._lock,
        )

    # --- called from other threads ---------------------------------------------------------

    def start(self) -> None:
        """Start the publisher thread; it connects and keeps reconnecting until stop()."""
        self._thread.start()

    def stop(self, *, final: bool = True) -> None:
        """Publish "stopped" (bounded wait for its PUBACK), disconnect, and join the thread.

        `final=False` (a switch to another broker) disconnects without saying "stopped".
        """
        self._final = final
        self._stop.set()
        self._queue.put_nowait(None)
        if self._thread.ident is not None:
            self._thread.join()

    def alive(self) -> bool:
        """Whether the publisher thread is running (for the watchdog)."""
        return self._thread.is_alive()

    def wake(self) -> None:
        """A new event is stored: send it as soon as a window slot is free. Never blocks."""
        if not self._nudged.is_set():
            self._nudged.set()
            self._queue.put_nowait(None)

    def reply(self, topic: str, payload: bytes, *, correlation_data: bytes | None) -> None:
        """Answer a command on its response topic (QoS 1, JSON, with its correlation data)."""
        self._queue.put_nowait(Message(topic, payload, False, correlation_data, JSON))

    def publish_retained(self, topic: str, payload: bytes) -> None:
        """Publish a retained document now and again after every reconnect."""
        self._queue.put_nowait(Message(topic, payload, retain=True))

    def link(self) -> dict[str, Any]:
        """The broker link's state and counters, for status and telemetry."""
        with self._lock:
            return dataclasses.asdict(self._stats)

    # --- the publisher thread --------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._turn(self._wait())
            self._finish()
        except Exception:
            log.exception("publisher thread failed")
        finally:
            self._close()

    def _turn(self, timeout: float) -> None:
        """Connect when due, handle what arrived, record deliveries, refill the window."""
        self._maintain()
        self._drain(timeout)
        self._delivery.record()
        self._fill()
        with self._lock:
            self._stats.inflight = len(self._window)

    def _wait(self) -> float:
        if self._connected:
            return TURN_S
        return max(0.0, min(TURN_S, self._reconnect.remaining()))

    def _maintain(self) -> None:
        due = self._reconnect.due()
        if self._link is None and due:
            self._open()
        elif self._link is not None and not self._connected and due:
            self._lose(f"no CONNACK within {self._config.connect_timeout_s:g} s")

    def _drain(self, timeout: float) -> None:
        """Handle the next item (waiting up to `timeout`), then every one already queued."""
        try:
            item = self._queue.get(timeout=timeout)
            while True:
                self._take(item)
                item = self._queue.get_nowait()
        except queue.Empty:
            pass

    def _take(self, item: Signal | Message | None) -> None:
        if item is None:
            self._nudged.clear()
        elif isinstance(item, Message):
            self._enqueue(item)
        elif item.link is not self._link:
            pass  # from a connection already discarded
        elif isinstance(item, Connected):
            self._on_connected(item)
        elif isinstance(item, Dropped):
            self._lose(item.error)
        elif isinstance(item, Acked):
            self._delivery.acked(item)
        else:
            self._dispatch(item.message)

    def _open(self) -> None:
        status = f"{self._prefix}/status"
        will = Will(status, self._status("offline"))
        try:
            link = Link(
                config=self._config,
                client_id=self._client_id,
                will=will,
                emit=self._queue.put_nowait,
            )
        except (OSError, ValueError) as exc:  # unreadable TLS or password files
            self._retry_later(str(exc))
            return
        self._link = link
        self._reconnect.connecting()
        link.open()

    def _on_connected(self, signal: Connected) -> None:
        if signal.error is not None:
            self._lose(signal.error)
            return
        assert self._link is not None  # signals come only from the current link
        self._connected = True
        self._reconnect.connected()
        self._unreachable.clear()
        self._refused.clear()
        log.info("connected to %s:%d", self._config.host, self._config.port)
        with self._lock:
            self._stats.connected, self._stats.since = True, utc_timestamp()
            self._stats.connects += 1
            self._stats.receive_maximum = signal.receive_maximum
        self._link.subscribe(self._subscriptions)
        online = Message(f"{self._prefix}/status", self._status("online"), retain=True)
        documents = [Message(t, p, retain=True) for t, p in self._retained.items()]
        self._window.open(
            min(self._config.max_inflight, signal.receive_maximum), [online, *documents]
        )

    def _lose(self, error: str) -> None:
        """Discard the link and its in-RAM queue; rows not yet acknowledged stay pending."""
        if self._connected:
            self._reconnect.lost()
        self._close()
        self._window.close()
        self._retry_later(error)

    def _close(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            link.close()
        if self._connected:
            self._connected = False
            with self._lock:
                self._stats.connected, self._stats.since = False, utc_timestamp()
                self._stats.disconnects += 1

    def _retry_later(self, error: str) -> None:
        self._unreachable.report(f"{self._config.host}:{self._config.port}: {error}")
        with self._lock:
            self._stats.last_error = error
        self._reconnect.later()

    def _enqueue(self, message: Message) -> None:
        if message.retain:
            self._retained[message.topic] = message.payload
        if self._connected or not message.retain:
            self._window.put(message)

    def _dispatch(self, message: Incoming) -> None:
        try:
            self._on_message(message)
        except Exception:  # a faulty command handler must not stop the delivery of alarms
            log.exception("handling %s failed", message.topic)

    def _fill(self) -> None:
        """Send status and replies first, then the next rows (none once stopping)."""
        if self._connected:
            assert self._link is not None  # set while connected
            self._delivery.fill(self._link, rows=not self._stop.is_set())

    def _finish(self) -> None:
        """Clean stop: publish "stopped" and wait, bounded, for its PUBACK, sending no rows."""
        if not self._connected:
            return
        if self._final:
            last = Message(f"{self._prefix}/status", self._status("stopped"), retain=True)
            self._window.put(last, first=True)
        else:
            # A broker switch: replies already queued go out first; "online" closes the line.
            self._drain(0)
            last = Message(f"{self._prefix}/status", self._status("online"), retain=True)
            self._window.put(last)
        end = time.monotonic() + STOPPED_ACK_S
        while self._connected and time.monotonic() < end and self._window.holds(last):
            self._turn(min(0.1, max(0.0, end - time.monotonic())))

    def _status(self, state: str) -> bytes:
        document = {"state": state, "boot": self._boot, "version": self._version}
        return encode({**document, "ts": utc_timestamp()})
