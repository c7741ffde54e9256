"""The publisher against a real mosquitto: status, delivery order, PUBACK handling, outages."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.config import MqttConfig
from agent.events import (
    PRIORITY_DETECTION,
    PRIORITY_FAULT,
    PRIORITY_SOS,
    PRIORITY_TELEMETRY,
    Event,
)
from agent.outbox import Outbox, Stored
from agent.publisher import Incoming, Publisher
from tests.broker import Broker, Gate, Received, Subscriber, free_port, wait_until

PREFIX = "ssz/v1/lab/pole-test"
EVENTS = f"{PREFIX}/event/#"
STATUS = f"{PREFIX}/status"


class Rig:
    """An outbox on disk and the publishers started on it; all closed at the end."""

    def __init__(self, path: Path) -> None:
        self._wakers: list[Callable[[], None]] = []
        self.outbox = Outbox.open(
            path,
            device="pole-test",
            site="lab",
            max_bytes=50_000_000,
            retention_s=86400,
            on_added=self._added,
        )
        self.publishers: list[Publisher] = []

    def _added(self) -> None:
        for wake in self._wakers:
            wake()

    def publisher(self, port: int, *, outbox: Any = None, **options: Any) -> Publisher:
        """Start a publisher for this outbox against 127.0.0.1:`port`."""
        settings = {"reconnect_min_s": 0.05, "reconnect_max_s": 0.3, "connect_timeout_s": 2.0}
        config = MqttConfig(host="127.0.0.1", port=port, **{**settings, **options.pop("mqtt", {})})
        publisher = Publisher(
            config=config,
            prefix=PREFIX,
            client_id=f"agent-{len(self.publishers)}",
            outbox=outbox or self.outbox,
            boot=self.outbox.boot,
            version="9.9.9",
            **options,
        )
        self._wakers.append(publisher.wake)
        self.publishers.append(publisher)
        publisher.start()
        return publisher

    def add(self, kind: str, priority: int, count: int = 1) -> list[Stored]:
        """Store `count` events."""
        return [self.outbox.add(Event(kind=kind, priority=priority)) for _ in range(count)]

    def pending_ids(self) -> set[str]:
        """Ids of the events not yet marked delivered."""
        return {row.id for row in self.outbox.pending(100_000)}

    def close(self) -> None:
        for publisher in self.publishers:
            publisher.stop()
        self.outbox.close()


class Counting:
    """The real outbox, counting rows handed to the publisher and not yet marked delivered."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox
        self._out: set[str] = set()
        self._lock = threading.Lock()
        self.most = 0

    def pending(self, limit: int, exclude: Collection[str] = ()) -> list[Stored]:
        rows = self._outbox.pending(limit, exclude)
        with self._lock:
            self._out.update(row.id for row in rows)
            self.most = max(self.most, len(self._out))
        return rows

    def mark_delivered(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        self._outbox.mark_delivered(ids)
        with self._lock:
            self._out.difference_update(ids)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path / "outbox.db")
    yield rig
    rig.close()


def connected(publisher: Publisher) -> Callable[[], bool]:
    return lambda: bool(publisher.link()["connected"])


def disconnected(publisher: Publisher) -> Callable[[], bool]:
    return lambda: not publisher.link()["connected"]


def states(messages: list[Received]) -> list[str]:
    return [json.loads(m.payload)["state"] for m in messages if m.topic == STATUS]


def events(messages: list[Received]) -> list[dict[str, Any]]:
    return [json.loads(m.payload) for m in messages if "/event/" in m.topic]


def count_events(n: int) -> Callable[[list[Received]], bool]:
    return lambda messages: len({e["id"] for e in events(messages)}) >= n


def retained_status(broker: Broker) -> dict[str, Any]:
    """The retained status document, as a newly connected subscriber sees it."""
    with Subscriber(broker, [STATUS]) as late:
        (message,) = late.wait_for(bool)[:1]
    assert message.retain
    return dict(json.loads(message.payload))


def test_status_online_is_retained_on_connect(broker: Broker, rig: Rig) -> None:
    publisher = rig.publisher(broker.port)
    wait_until(connected(publisher), 10, "connection")

    status = retained_status(broker)

    assert status["state"] == "online"
    assert status["boot"] == rig.outbox.boot
    assert status["version"] == "9.9.9"
    assert status["ts"].endswith("Z")


def test_will_publishes_offline_when_connection_drops(broker: Broker, rig: Rig) -> None:
    with Gate(broker) as gate, Subscriber(broker, [STATUS]) as watcher:
        publisher = rig.publisher(gate.port)
        watcher.wait_for(lambda m: states(m) == ["online"])

        gate.cut()  # the agent's connection dies without a DISCONNECT

        watcher.wait_for(lambda m: states(m) == ["online", "offline"])
        assert retained_status(broker)["state"] == "offline"
        gate.open()
        watcher.wait_for(lambda m: states(m) == ["online", "offline", "online"])
        assert publisher.link()["disconnects"] == 1


def test_clean_stop_publishes_stopped(broker: Broker, rig: Rig) -> None:
    with Subscriber(broker, [STATUS]) as watcher:
        publisher = rig.publisher(broker.port)
        watcher.wait_for(lambda m: states(m) == ["online"])

        publisher.stop()

        # stop() returns on the broker's PUBACK; the broker forwards to the watcher apart
        watcher.wait_for(lambda m: len(states(m)) > 1)
        assert states(watcher.received()) == ["online", "stopped"]
        assert retained_status(broker)["state"] == "stopped"
        assert not publisher.alive()


def test_events_arrive_in_priority_then_seq_order(broker: Broker, rig: Rig) -> None:
    for _ in range(20):
        rig.add("plate", PRIORITY_DETECTION)
        rig.add("tamper", PRIORITY_FAULT)
        rig.add("sos", PRIORITY_SOS)
    with Subscriber(broker, [EVENTS]) as watcher:
        rig.publisher(broker.port)
        received = events(watcher.wait_for(count_events(60)))

    order = [(e["priority"], e["seq"]) for e in received]
    assert order == sorted(order)
    assert watcher.received()[0].topic == f"{PREFIX}/event/sos"


def test_telemetry_has_its_own_topic(broker: Broker, rig: Rig) -> None:
    (row,) = rig.add("telemetry", PRIORITY_TELEMETRY)
    with Subscriber(broker, [f"{PREFIX}/#"]) as watcher:
        rig.publisher(broker.port)
        message = watcher.wait_for(lambda m: any(row.id.encode() in x.payload for x in m))[-1]
    assert message.topic == f"{PREFIX}/telemetry"


def test_rows_marked_delivered_only_after_puback(broker: Broker, rig: Rig) -> None:
    with Gate(broker) as gate, Subscriber(broker, [EVENTS]) as watcher:
        publisher = rig.publisher(gate.port)
        wait_until(connected(publisher), 10, "connection")
        gate.hold()  # PUBLISH packets leave the agent but no PUBACK comes back
        ids = {row.id for row in rig.add("plate", PRIORITY_DETECTION, 5)}

        wait_until(lambda: publisher.link()["sent"] == 5, 10, "five publishes")
        assert rig.pending_ids() == ids

        gate.open()
        wait_until(lambda: not rig.pending_ids(), 10, "rows marked delivered")
        assert {e["id"] for e in events(watcher.wait_for(count_events(5)))} == ids
        assert publisher.link()["acked"] == 5


def test_not_authorized_puback_is_not_delivered(
    make_broker: Callable[..., Broker], rig: Rig
) -> None:
    deny_events = f"topic readwrite {PREFIX}/status\ntopic read {PREFIX}/event/#\n"
    broker = make_broker(acl=deny_events)
    with Subscriber(broker, [EVENTS]) as watcher:
        publisher = rig.publisher(broker.port)
        (row,) = rig.add("plate", PRIORITY_DETECTION)

        wait_until(lambda: publisher.link()["failed"] >= 2, 10, "refused PUBACKs, retried")
        assert rig.pending_ids() == {row.id}
        assert publisher.link()["acked"] == 0
        assert watcher.received() == []

        broker.write_acl(deny_events + f"topic write {PREFIX}/event/#\n")
        broker.reload()

        wait_until(lambda: not rig.pending_ids(), 10, "delivery once allowed")
        assert [e["id"] for e in events(watcher.wait_for(count_events(1)))] == [row.id]
        assert publisher.link()["connects"] == 1


def test_inflight_never_exceeds_receive_maximum(
    make_broker: Callable[..., Broker], rig: Rig
) -> None:
    broker = make_broker(max_inflight=3)  # mosquitto sends it as Receive Maximum in CONNACK
    rig.add("plate", PRIORITY_DETECTION, 300)
    counting = Counting(rig.outbox)

    publisher = rig.publisher(broker.port, outbox=counting, mqtt={"max_inflight": 20})
    wait_until(lambda: not rig.pending_ids(), 30, "backlog delivered")

    assert publisher.link()["receive_maximum"] == 3
    assert counting.most == 3


def test_reconnects_after_broker_restart_and_delivers_backlog(
    make_broker: Callable[..., Broker], rig: Rig
) -> None:
    broker = make_broker(persistent=True)  # the subscriber's session survives the restart
    with Subscriber(broker, [EVENTS], session=True) as watcher:
        publisher = rig.publisher(broker.port)
        wait_until(connected(publisher), 10, "connection")
        broker.stop()
        wait_until(disconnected(publisher), 10, "the drop noticed")
        ids = {row.id for row in rig.add("plate", PRIORITY_DETECTION, 500)}

        broker.start()

        received = events(watcher.wait_for(count_events(500), timeout=30))
        assert {e["id"] for e in received} == ids
        wait_until(lambda: not rig.pending_ids(), 10, "rows marked delivered")
        link = publisher.link()
        assert (link["connects"], link["disconnects"], link["connected"]) == (2, 1, True)
        assert retained_status(broker)["state"] == "online"


def test_sos_is_delivered_before_backlog_after_outage(
    make_broker: Callable[..., Broker], rig: Rig
) -> None:
    broker = make_broker(persistent=True)
    with Subscriber(broker, [EVENTS], session=True) as watcher:
        publisher = rig.publisher(broker.port)
        wait_until(connected(publisher), 10, "connection")
        broker.stop()
        rig.add("plate", PRIORITY_DETECTION, 3000)
        sos = {row.id for row in rig.add("sos", PRIORITY_SOS, 5)}

        broker.start()

        received = [e["id"] for e in events(watcher.wait_for(count_events(3005), timeout=60))]
    assert set(received[:5]) == sos


def test_sos_is_not_held_behind_messages_lost_with_the_connection(broker: Broker, rig: Rig) -> None:
    # paho would re-send its unacknowledged in-RAM publishes first on a reconnect.
    with Gate(broker) as gate, Subscriber(broker, [EVENTS]) as watcher:
        publisher = rig.publisher(gate.port)
        wait_until(connected(publisher), 10, "connection")
        gate.hold()
        rig.add("plate", PRIORITY_DETECTION, 1000)
        wait_until(lambda: publisher.link()["inflight"] == 20, 10, "a full window in flight")
        gate.cut()
        wait_until(disconnected(publisher), 10, "the drop noticed")
        sos = {row.id for row in rig.add("sos", PRIORITY_SOS, 5)}

        gate.open()

        received = [e["id"] for e in events(watcher.wait_for(count_events(1005), timeout=60))]
    assert set(received[:5]) == sos


def test_new_sos_overtakes_a_draining_backlog(broker: Broker, rig: Rig) -> None:
    rig.add("plate", PRIORITY_DETECTION, 3000)
    with Subscriber(broker, [EVENTS]) as watcher:
        rig.publisher(broker.port)
        watcher.wait_for(count_events(100), timeout=30)

        (sos,) = rig.add("sos", PRIORITY_SOS)

        received = [e["id"] for e in events(watcher.wait_for(count_events(3001), timeout=60))]
    assert received.index(sos.id) < 3000 - 100


def test_incoming_command_carries_response_topic_and_correlation(broker: Broker, rig: Rig) -> None:
    arrived: list[tuple[Incoming, str]] = []

    def on_message(message: Incoming) -> None:
        arrived.append((message, threading.current_thread().name))

    with Subscriber(broker, [STATUS]) as watcher:
        rig.publisher(broker.port, subscriptions=[f"{PREFIX}/cmd/#"], on_message=on_message)
        watcher.wait_for(lambda m: states(m) == ["online"])  # SUBSCRIBE went before the status
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.ResponseTopic = "ccoc/replies/7"
        properties.CorrelationData = b"\x00req-7"
        properties.UserProperty = ("operator", "duty-1")

        watcher.publish(f"{PREFIX}/cmd/sos_ack", b'{"id": "x", "by": "duty-1"}', properties)

        wait_until(lambda: len(arrived) == 1, 10, "the command")
    message, thread = arrived[0]
    assert message == Incoming(
        topic=f"{PREFIX}/cmd/sos_ack",
        payload=b'{"id": "x", "by": "duty-1"}',
        response_topic="ccoc/replies/7",
        correlation_data=b"\x00req-7",
        user_properties=(("operator", "duty-1"),),
    )
    assert thread == "publisher"


def test_reply_goes_to_response_topic_with_correlation_data(broker: Broker, rig: Rig) -> None:
    with Subscriber(broker, ["ccoc/replies/#"]) as watcher:
        publisher = rig.publisher(broker.port)

        publisher.reply("ccoc/replies/7", b'{"ok": true}', correlation_data=b"\x00req-7")

        (reply,) = watcher.wait_for(bool)
    assert (reply.topic, reply.payload) == ("ccoc/replies/7", b'{"ok": true}')
    assert reply.properties.CorrelationData == b"\x00req-7"
    assert reply.properties.ContentType == "application/json"


def test_retained_document_is_published_again_after_reconnect(broker: Broker, rig: Rig) -> None:
    publisher = rig.publisher(broker.port)
    publisher.publish_retained(f"{PREFIX}/config/reported", b'{"version": 3}')
    wait_until(connected(publisher), 10, "connection")

    broker.restart()  # without persistence the broker forgets every retained message
    wait_until(lambda: publisher.link()["connects"] == 2, 10, "reconnection")
    # Subscribe only once the broker holds it again, or it arrives live (retain flag clear).
    wait_until(lambda: publisher.link()["inflight"] == 0, 10, "the document's PUBACK")

    with Subscriber(broker, [f"{PREFIX}/config/reported"]) as late:
        (document,) = late.wait_for(bool)
    assert (document.payload, document.retain) == (b'{"version": 3}', True)


@pytest.mark.parametrize("peer", ["nothing listening", "no CONNACK"])
def test_stop_returns_promptly_when_broker_unreachable(rig: Rig, peer: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts TCP, never answers
        port = free_port() if peer == "nothing listening" else silent.getsockname()[1]
        publisher = rig.publisher(port, mqtt={"connect_timeout_s": 60})
        if peer == "nothing listening":
            wait_until(lambda: publisher.link()["last_error"] is not None, 10, "a failed try")
        else:
            silent.settimeout(10)
            accepted, _ = silent.accept()  # CONNECT sent; no CONNACK will ever come

        stopping = threading.Thread(target=publisher.stop)
        stopping.start()
        stopping.join(timeout=5)

        if peer == "no CONNACK":
            accepted.close()
        assert not stopping.is_alive()
        assert not publisher.alive()
        assert publisher.link()["connected"] is False


def test_stop_returns_promptly_when_the_peer_stops_reading(broker: Broker, rig: Rig) -> None:
    with Gate(broker) as gate:
        publisher = rig.publisher(gate.port)
        wait_until(connected(publisher), 10, "connection")
        gate.hold()  # a half-dead link: nothing is read, socket buffers fill up
        for _ in range(30):
            rig.outbox.add(
                Event(kind="plate", priority=PRIORITY_DETECTION, data={"x": "x" * 300_000})
            )
        wait_until(lambda: publisher.link()["inflight"] == 20, 10, "a full window in flight")

        stopping = threading.Thread(target=publisher.stop)
        stopping.start()
        stopping.join(timeout=10)

        assert not stopping.is_alive()
        assert not publisher.alive()
