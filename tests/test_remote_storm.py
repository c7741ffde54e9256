"""A storm of generated and mutated remote input through a real broker: the agent never
crashes, never half-applies, answers everything, and an SOS pressed meanwhile goes out."""

from __future__ import annotations

import itertools
import json
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent import config
from agent.config_layer import store_in
from agent.desired import effective
from tests.broker import Broker, Subscriber, wait_until
from tests.remote_room import PREFIX, running

pytestmark = pytest.mark.slow

BATCH = 100
BATCHES = 100  # 10,000 messages in all

# `restart` is left out: a valid one (an empty object is) would rightly end the process.
COMMANDS = ["sos_ack", "sos_reset", "selftest", "telemetry_now", "log_level", "hotlist_set",
            "config_get", "no_such_command", "ünïcode", "x" * 64]  # fmt: skip
TEMPLATES: dict[str, dict[str, Any]] = {
    "sos_ack": {"id": "0193-x", "by": "op"},
    "sos_reset": {"id": "0193-x", "by": "op"},
    "log_level": {"level": "WARNING", "cmd_id": "c"},
    "hotlist_set": {"entries": [{"plate": "1กข1234"}], "replace": True},
    "config_get": {},
    "desired": {"version": 1, "config": {"sos": {"resend_s": 20}, "telemetry": {"interval_s": 30}}},
}

leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated(draw: st.DrawFn, template: dict[str, Any]) -> bytes:
    """A valid document with one thing wrong, or a few."""
    document: Any = json.loads(json.dumps(template))
    for _ in range(draw(st.integers(1, 3))):
        target = document
        if isinstance(target, dict) and target and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(target)))
            if isinstance(target[key], dict) and target[key]:
                target, key = target[key], draw(st.sampled_from(sorted(target[key])))
            choice = draw(st.integers(0, 3))
            if choice == 0:
                target[key] = draw(json_values)
            elif choice == 1:
                del target[key]
            elif choice == 2:
                target[key] = "x" * draw(st.integers(1000, 40_000))
            else:
                target[key] = [target[key]]
        elif isinstance(target, dict):
            target[draw(st.text(max_size=8))] = draw(json_values)
    raw = json.dumps(document).encode()
    if draw(st.integers(0, 4)) == 0:  # byte-level damage: truncation or invalid UTF-8
        cut = draw(st.integers(0, len(raw)))
        raw = raw[:cut] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b""]))
    return raw


raw_payloads = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.integers(10, 5000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(10, 100).map(lambda n: json.dumps(json.loads("[" * n + "]" * n)).encode()),
    st.integers(16_000, 80_000).map(lambda n: json.dumps({"by": "y" * n}).encode()),
)


@st.composite
def message(draw: st.DrawFn) -> tuple[str, bytes]:
    """A topic below the prefix and a payload."""
    if draw(st.integers(0, 3)) == 0:
        topic = "config/desired"
        template = TEMPLATES["desired"]
    else:
        name = draw(st.sampled_from(COMMANDS))
        topic, template = f"cmd/{name}", TEMPLATES.get(name, {})
    payload = draw(st.one_of(mutated(template), raw_payloads))
    return topic, payload


class Answers(Subscriber):
    """Records only the correlation data of replies."""

    def __init__(self, broker: Broker) -> None:
        self.correlations: set[bytes] = set()
        super().__init__(broker, ["replies/#"], name="answers")

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        correlation = getattr(msg.properties, "CorrelationData", None)
        if correlation is not None:
            with self._lock:
                self.correlations.add(bytes(correlation))


def test_a_storm_of_bad_input_never_crashes_never_half_applies_and_sos_still_goes_out(
    broker: Broker, tmp_path: Path
) -> None:
    extra = "[remote]\ncommands_per_s = 10000\ncommand_burst = 100000\n"
    numbers = itertools.count()
    pressed = threading.Event()
    with (
        running(tmp_path / "agent", broker, extra=extra) as (daemon, room),
        Answers(broker) as answers,
        Subscriber(broker, [f"{PREFIX}/event/sos"], name="sos") as sos,
    ):

        @settings(
            max_examples=BATCHES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(st.lists(message(), min_size=BATCH, max_size=BATCH))
        def storm(batch: list[tuple[str, bytes]]) -> None:
            sent = []
            for topic, payload in batch:
                correlation = next(numbers).to_bytes(8, "big")
                props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
                props.ResponseTopic = "replies/storm"
                props.CorrelationData = correlation
                answers.publish(f"{PREFIX}/{topic}", payload, props)
                sent.append(correlation)
            if not pressed.is_set() and next(numbers) > 20 * BATCH:
                daemon.call("sim_press", {"hold": 0.2})  # a citizen presses, mid-storm
                pressed.set()
            wait_until(lambda: set(sent) <= answers.correlations, 60, "every answer")
            assert daemon.process is not None and daemon.process.poll() is None

        storm()
        assert pressed.is_set()
        sos.wait_for(lambda ms: any(json.loads(m.payload)["phase"] == "new" for m in ms), 30)
        status = daemon.call("status")
        assert status["sos"]["active"] is True
        assert (
            status["remote"]["counters"]["commands"] + status["remote"]["counters"]["desired"]
            >= BATCH * BATCHES
        )
        # Never half-applied: what runs is exactly the stored layer over the local file.
        local = config.read_document(daemon.config_path)
        layer = store_in(config.load(daemon.config_path).storage.dir).current()
        reported = daemon.call("status")["remote"]["config"]
        assert reported["applied_version"] == layer.version
        expected = config.masked(effective(local, layer.config))
        assert room.command("config_get")["result"]["config"] == expected
        assert "Traceback" not in daemon.output()
        print(status["remote"]["counters"])
