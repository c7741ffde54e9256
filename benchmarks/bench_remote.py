"""Remote control latency: desired -> reported, and command round trips, against a bare floor.

All three run in one process against one mosquitto, interleaved in rounds so load changes hit
them alike:
- floor: a bare MQTT 5 request/response between two paho clients (the responder answers on
  the Response Topic with the Correlation Data, doing nothing else);
- command: `cmd/config_get` to a real `edge-agent run` (validation, audit row, reply);
- desired: `config/desired` with a new version each time, answered with the report after the
  layer is written (temp file, fsync, rename) and applied live.

    .venv/bin/python benchmarks/bench_remote.py [--count N]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from machine import describe
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.broker import Broker
from tests.daemon import Daemon, write_config
from tests.remote_room import PREFIX, wait_online

FLOOR_TOPIC = "bench/echo"


class Requester:
    """Sends requests with a response topic and waits for the correlated reply."""

    def __init__(self, broker: Broker, name: str) -> None:
        self._replies: dict[bytes, float] = {}
        self._cond = threading.Condition()
        self.client = _client(broker, name, self._on_message)
        self.client.subscribe(f"replies/{name}", qos=1)
        self._inbox = f"replies/{name}"
        self._n = 0
        time.sleep(0.3)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self._replies[bytes(msg.properties.CorrelationData)] = time.perf_counter()
            self._cond.notify_all()

    def round_trip(self, topic: str, payload: bytes) -> float:
        """Seconds from publish to the correlated reply."""
        self._n += 1
        correlation = self._n.to_bytes(8, "big")
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic, props.CorrelationData = self._inbox, correlation
        start = time.perf_counter()
        self.client.publish(topic, payload, qos=1, properties=props)
        with self._cond:
            if not self._cond.wait_for(lambda: correlation in self._replies, timeout=10):
                raise TimeoutError(f"no reply on {topic}")
            return self._replies.pop(correlation) - start


def _client(broker: Broker, name: str, on_message: Any) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{name}",
                         protocol=mqtt.MQTTv5)  # fmt: skip
    client.on_message = on_message
    client.connect(broker.host, broker.port)
    # Without it, Nagle's algorithm and delayed ACKs add ~40 ms to each small round trip.
    client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.loop_start()
    return client


def echo_responder(broker: Broker) -> mqtt.Client:
    """The floor's far end: answers every request at once."""

    def on_message(client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.CorrelationData = msg.properties.CorrelationData
        client.publish(msg.properties.ResponseTopic, b'{"ok":true}', qos=1, properties=props)

    client = _client(broker, "echo", on_message)
    client.subscribe(FLOOR_TOPIC, qos=1)
    time.sleep(0.3)
    return client


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 (nearest rank) in milliseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * len(ordered)) - 1)]
    return statistics.median(ordered) * 1000, p99 * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="requests of each kind")
    args = parser.parse_args()
    print(f"machine: {describe()}")
    with tempfile.TemporaryDirectory() as folder, Broker(Path(folder) / "broker") as broker:
        limits = "[remote]\ncommands_per_s = 10000\ncommand_burst = 10000\n"
        daemon = Daemon(write_config(Path(folder) / "agent", port=broker.port, extra=limits))
        with daemon:
            wait_online(daemon)
            responder = echo_responder(broker)
            room = Requester(broker, "room")
            samples: dict[str, list[float]] = {"floor": [], "command": [], "desired": []}
            for n in range(1, args.count + 1):
                samples["floor"].append(room.round_trip(FLOOR_TOPIC, b"{}"))
                samples["command"].append(room.round_trip(f"{PREFIX}/cmd/config_get", b"{}"))
                level = "DEBUG" if n % 2 else "INFO"
                doc = {"version": n, "config": {"logging": {"level": level}}}
                samples["desired"].append(
                    room.round_trip(f"{PREFIX}/config/desired", json.dumps(doc).encode())
                )
            responder.loop_stop()
            room.client.loop_stop()
    floor = percentiles(samples["floor"])
    print(f"{args.count} rounds; p50 / p99 in ms")
    for name in ("floor", "command", "desired"):
        p50, p99 = percentiles(samples[name])
        print(f"  {name:<8} p50 {p50:7.2f}  p99 {p99:7.2f}   ratio to floor "
              f"p50 {p50 / floor[0]:5.1f}x  p99 {p99 / floor[1]:5.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
