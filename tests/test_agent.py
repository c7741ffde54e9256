"""The daemon end to end: a real `edge-agent run`, a real mosquitto, an independent subscriber."""

from __future__ import annotations

import json
import random
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.errors import AgentError
from tests.broker import Broker, Received, Subscriber
from tests.daemon import Daemon, write_config

PREFIX = "ssz/v1/lab/pole-test"
pytestmark = pytest.mark.slow


def events(messages: list[Received], kind: str | None = None) -> list[dict[str, Any]]:
    # Telemetry-kind events have a topic of their own (DESIGN §3.2).
    found = [
        json.loads(m.payload)
        for m in messages
        if "/event/" in m.topic or m.topic.endswith("/telemetry")
    ]
    return [e for e in found if kind is None or e["kind"] == kind]


def sos_phases(messages: list[Received]) -> list[str]:
    return [e["phase"] for e in events(messages, "sos")]


def command(sub: Subscriber, name: str, body: dict[str, Any], correlation: bytes) -> None:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.ResponseTopic = f"replies/{name}"
    props.CorrelationData = correlation
    sub.publish(f"{PREFIX}/cmd/{name}", json.dumps(body).encode(), props)


def reply(messages: list[Received], correlation: bytes) -> dict[str, Any] | None:
    for message in messages:
        correlated = getattr(message.properties, "CorrelationData", None) == correlation
        if correlated and message.topic.startswith("replies/"):
            answer: dict[str, Any] = json.loads(message.payload)
            return answer
    return None


@pytest.fixture
def daemon_at(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def make(port: int, **sos: Any) -> Daemon:
        daemon = Daemon(write_config(tmp_path / "agent", port=port, **sos))
        started.append(daemon)
        return daemon

    yield make
    for daemon in started:
        daemon.__exit__()


def test_full_alarm_cycle_as_the_control_room_sees_it(
    broker: Broker, daemon_at: Callable[..., Daemon]
) -> None:
    with Subscriber(broker, [f"{PREFIX}/#", "replies/#"]) as room:
        daemon = daemon_at(broker.port).start()
        room.wait_for(
            lambda ms: any(
                json.loads(m.payload)["state"] == "online"
                for m in ms
                if m.topic.endswith("/status")
            )
        )
        daemon.call("sim_press", {"hold": 0.2})
        (new,) = events(room.wait_for(lambda ms: sos_phases(ms) == ["new"]), "sos")
        assert (new["priority"], new["device"], new["site"], new["test"]) == (
            0,
            "pole-test",
            "lab",
            False,
        )
        assert daemon.call("status")["gpio"]["indicators"] == {
            "registered": True,
            "acknowledged": False,
        }

        command(room, "sos_ack", {"id": new["id"], "by": "operator-7"}, b"ack-1")
        answer = reply(room.wait_for(lambda ms: reply(ms, b"ack-1") is not None), b"ack-1")
        assert answer is not None and answer.pop("cmd_id")  # assigned: none was given
        assert answer == {
            "cmd": "sos_ack",
            "ok": True,
            "result": {"alarm": new["id"], "acked": True},
        }
        room.wait_for(lambda ms: sos_phases(ms) == ["new", "update"])
        assert daemon.call("status")["gpio"]["indicators"] == {
            "registered": True,
            "acknowledged": True,
        }

        command(room, "sos_reset", {"id": new["id"], "by": "operator-7"}, b"reset-1")
        messages = room.wait_for(lambda ms: sos_phases(ms) == ["new", "update", "end"])
        update, end = events(messages, "sos")[1:]
        assert update["data"]["acked_by"] == "operator-7"
        assert end["data"]["alarm"] == new["id"] and end["data"]["reason"] == "control_room"
        assert [e["seq"] for e in events(messages)] == sorted(e["seq"] for e in events(messages))
        assert daemon.stop() == 0
        stopped = room.wait_for(lambda ms: json.loads(ms[-1].payload).get("state") == "stopped")
        assert stopped[-1].retain is False  # delivered live; the broker keeps it retained


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", "payload is not JSON"),
        (b"[]", "payload must be a JSON object"),
        (b'{"by": "op"}', "id: Field required"),
        (b'{"id": 5, "by": "op"}', "id: Input should be a valid string"),
        (b'{"id": "x", "by": "op", "force": true}', "force: Extra inputs are not permitted"),
        (b'{"id": "0193-not-active", "by": "op"}', "no alarm is active"),
        (b"\xff\xfe", "payload is not JSON"),
    ],
)
def test_malformed_commands_are_rejected_and_change_nothing(
    broker: Broker, daemon_at: Callable[..., Daemon], body: bytes, error: str
) -> None:
    with Subscriber(broker, LISTEN) as room, daemon_at(broker.port) as daemon:
        room.wait_for(online)
        room.publish(f"{PREFIX}/cmd/sos_ack", body)
        (answer,) = results(room.wait_for(lambda ms: len(results(ms)) == 1))
        assert answer["ok"] is False and error in answer["error"]
        assert daemon.call("status")["sos"] == {"active": False}


def test_unknown_command_is_rejected_naming_the_known_ones(
    broker: Broker, daemon_at: Callable[..., Daemon]
) -> None:
    with Subscriber(broker, LISTEN) as room, daemon_at(broker.port):
        room.wait_for(online)
        room.publish(f"{PREFIX}/cmd/self_destruct", b"{}")
        (answer,) = results(room.wait_for(lambda ms: len(results(ms)) == 1))
        assert answer["ok"] is False
        assert "unknown command 'self_destruct'" in answer["error"] and "sos_ack" in answer["error"]


# The retained `online` comes after the daemon's SUBSCRIBE: once seen, commands are heard.
LISTEN = [f"{PREFIX}/cmd/+/result", f"{PREFIX}/status"]


def online(messages: list[Received]) -> bool:
    return any(
        m.topic == f"{PREFIX}/status" and json.loads(m.payload)["state"] == "online"
        for m in messages
    )


def results(messages: list[Received]) -> list[dict[str, Any]]:
    return [json.loads(m.payload) for m in messages if m.topic.endswith("/result")]


def test_alarm_raised_offline_and_killed_is_delivered_with_the_same_id(
    make_broker: Callable[..., Broker], daemon_at: Callable[..., Daemon]
) -> None:
    broker = make_broker()
    broker.stop()  # the pole's uplink is down
    daemon = daemon_at(broker.port).start()
    daemon.call("sim_press", {"hold": 0.2})
    alarm = _wait_alarm(daemon)
    daemon.kill()  # power cut of the process: nothing flushed, nothing said goodbye
    broker.start()
    with Subscriber(broker, [f"{PREFIX}/event/#"]) as room:
        daemon.start()
        messages = room.wait_for(lambda ms: "new" in sos_phases(ms) and "update" in sos_phases(ms))
        new = next(e for e in events(messages, "sos") if e["phase"] == "new")
        resumed = next(e for e in events(messages, "sos") if e["phase"] == "update")
        assert new["id"] == alarm and resumed["data"] == {
            **resumed["data"],
            "alarm": alarm,
            "resumed": True,
        }
        assert resumed["boot"] == new["boot"] + 1


def _wait_alarm(daemon: Daemon) -> str:
    for _ in range(200):
        state = daemon.call("status")["sos"]
        if state["active"]:
            return str(state["id"])
        threading.Event().wait(0.02)
    raise AssertionError("no alarm was raised")


def test_sos_raised_during_outage_overtakes_the_backlog(
    make_broker: Callable[..., Broker], daemon_at: Callable[..., Daemon]
) -> None:
    broker = make_broker(persistent=True)
    # A persistent session: the broker keeps what arrives for the control room meanwhile.
    topics = [f"{PREFIX}/event/#", f"{PREFIX}/telemetry"]
    with Subscriber(broker, topics, session=True) as room:
        broker.stop()
        daemon = daemon_at(broker.port).start()
        for _ in range(3):
            daemon.call("sim_events", {"count": 1000, "priority": 2, "kind": "plate"})
        daemon.call("sim_events", {"count": 500, "priority": 3, "kind": "telemetry"})
        daemon.call("sim_press", {"hold": 0.2})
        daemon.call("sos_reset", {"id": _wait_alarm(daemon)})
        daemon.call("sim_press", {"hold": 0.2})
        _wait_alarm(daemon)
        daemon.call("sim_events", {"count": 500, "priority": 2, "kind": "plate"})
        broker.start()
        messages = room.wait_for(lambda ms: len(events(ms)) >= 4003, timeout=120)
        kinds = [e["kind"] for e in events(messages)]
        assert kinds[:3] == ["sos", "sos", "sos"]  # new, end, new: all before any plate
        assert [e["phase"] for e in events(messages)[:3]] == ["new", "end", "new"]
        assert "sos" not in kinds[3:4003]
        daemon.stop()


def test_randomized_kills_lose_nothing_and_duplicate_only_by_id(
    make_broker: Callable[..., Broker], daemon_at: Callable[..., Daemon]
) -> None:
    broker = make_broker()
    rng = random.Random(20261127)
    stored: set[str] = set()
    with Subscriber(broker, [f"{PREFIX}/event/#"]) as room:
        daemon = daemon_at(broker.port, resend_s=1.0)
        for _ in range(20):
            daemon.start()
            producers = [
                threading.Thread(target=_burst, args=(daemon, rng.randint(1, 3), stored))
                for _ in range(2)
            ]
            for thread in producers:
                thread.start()
            threading.Event().wait(rng.uniform(0.05, 0.6))
            daemon.call("sim_press", {"hold": 0.06})
            daemon.kill()
            for thread in producers:
                thread.join()
        daemon.start()
        room.wait_for(lambda ms: stored <= {e["id"] for e in events(ms)}, timeout=120)
        _wait_drained(daemon)
        received = events(room.received())
        _assert_no_foreign_duplicates(received)
        assert len(stored) > 20 * 40, "the bursts were too small to prove anything"
        assert any(e["kind"] == "sos" and e["phase"] == "new" for e in received)
        print(f"{len(stored)} stored, {len(received)} received over 21 boots")
        daemon.stop()


def _wait_drained(daemon: Daemon) -> None:
    for _ in range(1000):
        if daemon.call("status")["outbox"]["pending"] == 0:
            return
        threading.Event().wait(0.05)
    raise AssertionError("the outbox did not drain")


def _burst(daemon: Daemon, priority: int, stored: set[str]) -> None:
    """Store events until the daemon dies; remember every id the daemon confirmed."""
    while True:
        try:
            result = daemon.call("sim_events", {"count": 20, "priority": priority, "kind": "mixed"})
        except AgentError:
            return
        stored.update(result["ids"])


def _assert_no_foreign_duplicates(received: list[dict[str, Any]]) -> None:
    by_id: dict[str, dict[str, Any]] = {}
    by_seq: dict[int, str] = {}
    for event in received:
        assert by_id.setdefault(event["id"], event) == event, "a re-send changed its payload"
        assert by_seq.setdefault(event["seq"], event["id"]) == event["id"], "seq reused"


def test_corrupt_database_is_moved_aside_and_reported(
    broker: Broker, daemon_at: Callable[..., Daemon], tmp_path: Path
) -> None:
    state = tmp_path / "agent" / "state"
    state.mkdir(parents=True)
    (state / "outbox.db").write_bytes(b"this is not a database, a torn write left it" * 200)
    with Subscriber(broker, [f"{PREFIX}/event/#"]) as room, daemon_at(broker.port):
        (report,) = events(room.wait_for(lambda ms: len(events(ms, "storage")) == 1), "storage")
    assert report["priority"] == 1
    moved = Path(report["data"]["moved_to"])
    assert moved.parent == state and moved.name.startswith("outbox.db.corrupt-")
    assert moved.read_bytes().startswith(b"this is not a database")


def test_daemon_tells_systemd_ready_status_watchdog_and_stopping(
    broker: Broker, tmp_path: Path
) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(10)
    daemon = Daemon(write_config(tmp_path / "agent", port=broker.port))
    env = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "400000"}
    try:
        daemon.start(env=env)
        seen = _datagrams(notify, until="WATCHDOG=1", count=2)
        assert seen[0].startswith("READY=1")
        assert any(m.startswith("STATUS=broker online") for m in seen)
        daemon.stop()
        assert "STOPPING=1" in _datagrams(notify, until="STOPPING=1")
    finally:
        daemon.__exit__()
        notify.close()


def _datagrams(sock: socket.socket, until: str, count: int = 1) -> list[str]:
    seen: list[str] = []
    while sum(m.startswith(until) for m in seen) < count:
        seen.append(sock.recv(4096).decode())
    return seen
