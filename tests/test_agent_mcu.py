"""The agent and the post's MCU end to end: a real `edge-agent run` talks to the C host build
of the firmware over a pseudo-terminal pair; a real mosquitto and an independent subscriber
see what the control room sees; the MCU's stdout shows its lamps, strobe, siren and power."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent import config
from agent.cli import main
from agent.events import Event
from agent.mcu import Mcu, battery_state
from firmware_bridge.nullmodem import NullModem
from firmware_bridge.simulator import McuSimulator
from tests import mcu_fixtures as mf
from tests.broker import Broker, Received, Subscriber, wait_until
from tests.daemon import Daemon, write_config
from tests.test_asyncapi import check

PREFIX = "ssz/v1/lab/pole-test"
WAIT_S = 20.0
MCU_OPTIONS = ("--power-off-ms", "300", "--boot-grace-ms", "3000")
# Short link timing so that losses are noticed in a fraction of a second.
FAST = {"heartbeat_s": 0.2, "missed_heartbeats": 3, "watchdog_s": 0}
IDLE = "out strobe=0 siren=0 registered=0 acknowledged=0 relay=0"


def events(messages: list[Received], kind: str) -> list[dict[str, Any]]:
    found = [json.loads(m.payload) for m in messages if "/event/" in m.topic]
    return [e for e in found if e["kind"] == kind]


@dataclass
class Post:
    """An SOS post on the bench: daemon, MCU on a null-modem cable, the control room."""

    daemon: Daemon
    mcu: mf.McuProcess
    cable: NullModem
    room: Subscriber

    def event(
        self, kind: str, where: Callable[[dict[str, Any]], bool] = lambda e: True, nth: int = 1
    ) -> dict[str, Any]:
        """The `nth` event of `kind` for which `where` holds, waiting for it."""
        messages = self.room.wait_for(
            lambda ms: len([e for e in events(ms, kind) if where(e)]) >= nth, timeout=WAIT_S
        )
        return [e for e in events(messages, kind) if where(e)][nth - 1]

    def mcu_event(self, what: str, nth: int = 1) -> dict[str, Any]:
        """The `nth` `mcu` event whose `data.event` is `what`."""
        return self.event("mcu", lambda e: e["data"]["event"] == what, nth)

    def cli(self, *argv: str) -> int:
        """`edge-agent ARGV --config <the daemon's config>`, in this process."""
        return main([*argv, "--config", str(self.daemon.config_path)])


@pytest.fixture(scope="session")
def host_build() -> Path:
    return mf.build_firmware()


@pytest.fixture
def start_post(host_build: Path, broker: Broker, tmp_path: Path) -> Iterator[Callable[..., Post]]:
    parts: list[Any] = []

    def start(**mcu: Any) -> Post:
        cable = NullModem(tmp_path)
        parts.append(cable)
        process = mf.McuProcess([str(host_build)], cable.mcu_path, *MCU_OPTIONS)
        parts.append(process)
        room = Subscriber(broker, [f"{PREFIX}/#"])
        parts.append(room)
        options = {"port": cable.host_path, **FAST, **mcu}
        extra = "[mcu]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in options.items())
        daemon = Daemon(write_config(tmp_path / "agent", port=broker.port, extra=extra))
        parts.append(daemon)
        post = Post(daemon.start(), process, cable, room)
        post.mcu_event("link_up")
        return post

    yield start
    for part in reversed(parts):
        if isinstance(part, Daemon):
            part.__exit__()
        else:
            part.close()


def test_handshake_is_reported_with_the_versions(
    start_post: Callable[..., Post], capsys: pytest.CaptureFixture[str]
) -> None:
    post = start_post()
    up = post.mcu_event("link_up")
    assert (up["priority"], up["phase"]) == (1, "info")
    assert {
        k: up["data"][k] for k in ("firmware", "protocol", "reset_cause", "pi_power_cause")
    } == {
        "firmware": "1.0.0",
        "protocol": "1.0",
        "reset_cause": "power_on",
        "pi_power_cause": "never",
    }
    post.mcu.wait_for("link up")
    assert post.daemon.call("status")["mcu"]["up"] is True
    assert post.cli("mcu", "status", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["firmware"], shown["inputs"]["mains"], shown["battery"]) == ("1.0.0", True, "ok")
    assert post.cli("status") == 0
    assert "mcu      up, firmware 1.0.0" in capsys.readouterr().out


INPUT_CHANGES: list[tuple[str, str, dict[str, Any], str]] = [
    ("tamper 1", "tamper", {"open": True}, "new"),
    ("tamper 0", "tamper", {"open": False}, "end"),
    ("door 1", "door", {"open": True}, "new"),
    ("door 0", "door", {"open": False}, "end"),
    ("mains 0", "power", {"change": "mains", "mains": False, "battery": "ok"}, "info"),
    ("battery 11.2", "power", {"change": "battery", "battery_v": 11.2, "battery": "low"}, "info"),
    ("mains 1", "power", {"change": "mains", "mains": True, "battery": "low"}, "info"),
    ("faults 4", "mcu", {"event": "faults", "faults": ["temperature_sensor"]}, "info"),
]


def test_each_input_change_arrives_as_its_event(start_post: Callable[..., Post]) -> None:
    post = start_post()
    for line, kind, data, phase in INPUT_CHANGES:
        post.mcu.send(line)
        event = post.event(
            kind, lambda e, d=data, p=phase: e["phase"] == p and d.items() <= e["data"].items()
        )
        assert event["priority"] == 1
    # The first snapshot was normal: a baseline, not news.
    messages = post.room.received()
    assert [e["data"]["open"] for e in events(messages, "tamper")] == [True, False]
    assert len(events(messages, "power")) == 3


def test_mcu_indicators_follow_the_alarm_from_press_to_reset(
    start_post: Callable[..., Post],
) -> None:
    post = start_post(alarm_strobe="fast", alarm_siren="wail")
    mark = post.mcu.mark()
    post.daemon.call("sim_press", {"hold": 0.2})
    alarm = post.event("sos", lambda e: e["phase"] == "new")
    assert alarm["data"]["source"] == "button"
    mark = post.mcu.wait_for("out strobe=3 siren=2 registered=1 acknowledged=0 relay=0", after=mark)

    body = json.dumps({"id": alarm["id"], "by": "operator-7"}).encode()
    post.room.publish(f"{PREFIX}/cmd/sos_ack", body)
    mark = post.mcu.wait_for("out strobe=2 siren=0 registered=1 acknowledged=1 relay=0", after=mark)

    post.room.publish(f"{PREFIX}/cmd/sos_reset", body)
    post.event("sos", lambda e: e["phase"] == "end")
    post.mcu.wait_for(IDLE, after=mark)


def test_press_latched_while_the_link_is_down_becomes_an_alarm(
    start_post: Callable[..., Post],
) -> None:
    post = start_post()
    mark = post.mcu.mark()
    post.cable.unplug()
    post.mcu_event("link_down")
    post.mcu.wait_for("link down", after=mark)
    post.mcu.send("button 1", "button 0")
    # The MCU lights the caller's yellow lamp by itself while nobody listens.
    post.mcu.wait_for("out strobe=0 siren=0 registered=1", after=mark)
    assert post.daemon.call("status")["sos"] == {"active": False}

    post.cable.plug()
    alarm = post.event("sos", lambda e: e["phase"] == "new")
    assert alarm["data"]["source"] == "mcu" and alarm["data"]["presses"] == 1
    assert alarm["priority"] == 0 and alarm["data"]["latched_age_s"] >= 0
    assert post.daemon.call("status")["sos"]["source"] == "mcu"
    post.mcu.wait_for("out strobe=3 siren=0 registered=1 acknowledged=0 relay=0", after=mark)


def test_pulled_link_is_reported_and_recovered(
    start_post: Callable[..., Post], capsys: pytest.CaptureFixture[str]
) -> None:
    post = start_post()
    post.cable.unplug()
    down = post.mcu_event("link_down")
    assert "port" in down["data"]["reason"] and down["priority"] == 1
    assert post.cli("mcu", "status") == 0
    assert "mcu      DOWN on" in capsys.readouterr().out
    # Asked for while the link is down: sent once it is back.
    assert post.cli("mcu", "set", "strobe", "slow") == 0
    mark = post.mcu.mark()
    post.cable.plug()
    post.mcu_event("link_up", nth=2)
    post.mcu.wait_for("out strobe=2 siren=0", after=mark)
    status = post.daemon.call("mcu_status")
    assert status["up"] and status["reconnects"] >= 1 and status["outputs"]["strobe"] == "slow"


def test_watchdog_power_cycles_the_pi_when_the_agent_stops_heartbeating(
    start_post: Callable[..., Post],
) -> None:
    post = start_post(watchdog_s=1.0)
    before = post.mcu_event("link_up")["boot"]
    mark = post.mcu.mark()
    post.daemon.kill()  # a hung or dead agent says nothing more
    fired = post.mcu.wait_for("watchdog fired", after=mark, timeout=WAIT_S)
    off = post.mcu.wait_for("pi_power 0", after=fired)
    post.mcu.wait_for("pi_power 1", after=off)
    post.daemon.start()
    # The restarted agent's report (a loaded host may see the first agent's link drop and
    # come back before it was killed, which is reported as a link_up of that boot).
    up = post.event("mcu", lambda e: e["data"]["event"] == "link_up" and e["boot"] > before)
    seen = [(e["boot"], e["data"]) for e in events(post.room.received(), "mcu")]
    assert (up["data"]["pi_power_cause"], up["data"]["watchdog_fires"]) == ("watchdog", 1), seen


def test_clean_stop_disarms_the_watchdog(start_post: Callable[..., Post]) -> None:
    post = start_post(watchdog_s=1.0)
    mark = post.mcu.mark()
    assert post.daemon.stop() == 0
    post.mcu.wait_for("link down", after=mark)
    time.sleep(3.0)  # three watchdog periods of silence
    assert "watchdog fired" not in post.mcu.lines[mark:]


def test_critical_battery_without_mains_asks_for_a_clean_shutdown(
    start_post: Callable[..., Post],
) -> None:
    post = start_post(shutdown_delay_s=0, shutdown_min_off_s=0)
    mark = post.mcu.mark()
    post.mcu.send("mains 0", "battery 10.8")
    asked = post.event("power", lambda e: e["data"]["change"] == "shutdown")
    assert asked["data"]["battery"] == "critical" and asked["data"]["mains"] is False
    post.mcu.wait_for("pi_power 0", after=mark)
    post.mcu.send("mains 1")
    post.mcu.wait_for("pi_power 1", after=mark)


def test_mcu_commands_without_an_mcu_fail_saying_so(
    broker: Broker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Daemon(write_config(tmp_path, port=broker.port)) as daemon:
        assert main(["mcu", "status", "--config", str(daemon.config_path)]) == 1
        assert "no MCU on this device" in capsys.readouterr().err
        assert daemon.call("status")["mcu"] is None


def test_mcu_set_rejects_a_state_the_output_does_not_have(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["mcu", "set", "registered", "fast"]) == 2
    assert "registered takes off, on, blink" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("volts", "previous", "state"),
    [
        (12.6, "ok", "ok"),
        (11.5, "ok", "low"),
        (11.7, "low", "low"),  # within the hysteresis: still low
        (11.8, "low", "ok"),
        (11.0, "low", "critical"),
        (11.2, "critical", "critical"),
        (11.3, "critical", "low"),
        (12.0, "critical", "ok"),
    ],
)
def test_battery_state_has_hysteresis(volts: float, previous: str, state: str) -> None:
    assert battery_state(volts, previous, config.McuConfig()) == state


class Events:
    """A store that keeps what it is given, for the owner without a daemon."""

    def __init__(self) -> None:
        self.added: list[Event] = []

    def add(self, event: Event, *, state: dict[str, Any] | None = None) -> object:
        self.added.append(event)
        return event


def test_check_pings_the_mcu_for_the_selftest(tmp_path: Path) -> None:
    stop = threading.Event()
    store = Events()
    with NullModem(tmp_path) as cable, McuSimulator(cable.mcu_path) as simulator:
        mcu = Mcu(
            config=config.McuConfig(port=cable.host_path, **FAST),
            store=store,
            stop=stop,
            on_latched=lambda presses, age_s: None,
            alarm_active=lambda: False,
        )
        mcu.start()
        try:
            wait_until(lambda: mcu.status()["up"], WAIT_S, "link up")
            ok, detail = mcu.check()
            assert ok and "MCU firmware 1.0.0 (protocol 1.0)" in detail
            simulator.stop()
            wait_until(lambda: not mcu.status()["up"], WAIT_S, "link down")
            ok, detail = mcu.check()
            assert not ok and "MCU link down" in detail
        finally:
            stop.set()
            mcu.close()
    assert [e.data["event"] for e in store.added] == ["link_up", "link_down"]


def test_telemetry_and_selftest_carry_the_mcu(start_post: Callable[..., Post]) -> None:
    post = start_post()
    post.room.publish(f"{PREFIX}/cmd/telemetry_now", b'{"cmd_id": "t-1"}')
    telemetry = next(
        json.loads(m.payload)
        for m in post.room.wait_for(lambda ms: any(m.topic.endswith("/telemetry") for m in ms))
        if m.topic.endswith("/telemetry")
    )
    check("telemetry", telemetry)
    assert telemetry["data"]["mcu"]["up"] is True
    assert telemetry["data"]["health"]["mcu"]["state"] == "ok"
    post.room.publish(f"{PREFIX}/cmd/selftest", b'{"cmd_id": "s-1"}')
    reply = post.room.wait_for(lambda ms: any(m.topic.endswith("selftest/result") for m in ms))
    result = next(json.loads(m.payload) for m in reply if m.topic.endswith("selftest/result"))
    mcu = result["result"]["checks"]["mcu"]
    assert mcu["ok"] is True and "round trip" in mcu["detail"]
