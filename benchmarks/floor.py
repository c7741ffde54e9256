"""The straight-line floor: insert durably -> publish QoS 1 -> PUBACK -> mark delivered.

What the agent's delivery path cannot beat on this machine and broker: stdlib `sqlite3`
(WAL, synchronous=FULL, one transaction per insert and per mark) and a bare paho MQTT 5
client driven from one thread, no queues, no other threads. Every agent benchmark builds a
`Floor` on its own broker and measures it in the same run, so its ratio survives a busy or
different machine (DESIGN §4: tails grow 5-10x under contention).

- sequential: one event at a time, per-event latency and events/s;
- pipelined: up to `window` events awaiting PUBACK (mosquitto's default Receive Maximum);
- drain: rows already stored, read by (priority, seq), published with the same window,
  marked delivered on PUBACK (what a backlog drain has to do, without the inserts);
- isolated: one event after an idle gap, to PUBACK + mark and to an independent subscriber.

    PYTHONPATH=. .venv/bin/python benchmarks/floor.py [--count N] [--isolated N]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import paho.mqtt.client as mqtt
from machine import describe  # also puts the repository root on sys.path
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from tests.broker import Broker, Subscriber

PAYLOAD_BYTES = 300  # DESIGN §4: 300-byte events
WINDOW = 20  # mosquitto's default max_inflight_messages, i.e. its Receive Maximum
BULK_TOPIC = "bench/floor/bulk"
ISOLATED_TOPIC = "bench/floor/isolated"
# DESIGN §4, measured on the development machine when quiet.
EXPECTED = {"sequential_ms": 0.35, "sequential_per_s": 2500.0, "pipelined_per_s": 3400.0}
EXPECTED_ISOLATED_MS = 1.3

_SCHEMA = (
    """CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
        priority INTEGER NOT NULL, payload BLOB NOT NULL, created_at REAL NOT NULL,
        delivered_at REAL)""",
    "CREATE INDEX pending ON events (priority, seq) WHERE delivered_at IS NULL",
)
_INSERT = "INSERT INTO events (seq, id, priority, payload, created_at) VALUES (?, ?, ?, ?, ?)"
_DELIVER = "UPDATE events SET delivered_at = ? WHERE seq = ?"
_NEXT = """SELECT seq, payload FROM events WHERE delivered_at IS NULL
    AND (priority, seq) > (?, ?) ORDER BY priority, seq LIMIT ?"""


@dataclass(frozen=True)
class Latency:
    """Latency samples in seconds, summarised in milliseconds."""

    samples: tuple[float, ...]

    @classmethod
    def of(cls, samples: Iterable[float]) -> Latency:
        """Sorted samples."""
        return cls(tuple(sorted(samples)))

    def quantile(self, q: float) -> float:
        """The sample at quantile `q` (nearest rank), in ms; with 100 samples p99 is the max."""
        index = min(len(self.samples) - 1, int(len(self.samples) * q))
        return self.samples[index] * 1000

    @property
    def p50(self) -> float:
        """The median in ms."""
        return statistics.median(self.samples) * 1000

    @property
    def p99(self) -> float:
        """The 99th percentile in ms."""
        return self.quantile(0.99)

    def line(self, name: str, floor: Latency | None = None) -> str:
        """`name n= p50 p90 p99 max ms`, and the p50 and p99 as multiples of the floor's."""
        text = (
            f"{name:<44} n={len(self.samples):<5} p50 {self.p50:7.3f}  "
            f"p90 {self.quantile(0.9):7.3f}  p99 {self.p99:7.3f}  "
            f"max {self.samples[-1] * 1000:7.3f} ms"
        )
        if floor is not None:
            text += f"  ratio p50 {self.p50 / floor.p50:.2f}x p99 {self.p99 / floor.p99:.2f}x"
        return text


class StampedSubscriber(Subscriber):
    """A test `Subscriber` that also notes when (`time.monotonic`) each message arrived.

    CLOCK_MONOTONIC is one clock for every process on the host, so arrivals compare with
    times taken in the daemon.
    """

    def __init__(self, broker: Broker, topics: list[str], **options: Any) -> None:
        self._arrivals: list[tuple[float, str, bytes]] = []
        self._arrived = threading.Condition()
        self._cursor = 0
        super().__init__(broker, topics, **options)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        at = time.monotonic()
        super()._on_message(client, userdata, message)
        with self._arrived:
            self._arrivals.append((at, message.topic, bytes(message.payload)))
            self._arrived.notify_all()

    def __enter__(self) -> Self:
        return self

    def next_arrival(
        self, match: Callable[[str, bytes], bool], timeout: float = 10.0
    ) -> tuple[float, bytes]:
        """The arrival time and payload of the next message that `match`es (others skipped)."""
        end = time.monotonic() + timeout
        with self._arrived:
            while True:
                while self._cursor < len(self._arrivals):
                    at, topic, payload = self._arrivals[self._cursor]
                    self._cursor += 1
                    if match(topic, payload):
                        return at, payload
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching message within {timeout} s")
                self._arrived.wait(left)


class Floor:
    """The bare delivery path on one SQLite file and one paho client, in one thread."""

    def __init__(self, broker: Broker, directory: Path) -> None:
        self._db = sqlite3.connect(directory / "floor.db", isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._seq = 0
        self._acked: list[int] = []
        self._connected = False
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"floor-{os.getpid()}", protocol=mqtt.MQTTv5
        )
        self._client.max_inflight_messages_set(0)  # the window is ours, as in the agent
        self._client.on_connect = self._on_connect
        self._client.on_publish = self._on_publish
        self._client.connect(broker.host, broker.port, clean_start=True)
        end = time.monotonic() + 10
        while not self._connected and time.monotonic() < end:
            self._client.loop(0.1)
        if not self._connected:
            raise RuntimeError("the floor client got no CONNACK")

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self._connected = not reason.is_failure

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        if reason.is_failure:
            raise RuntimeError(f"the broker refused a floor message: {reason}")
        self._acked.append(mid)

    def close(self) -> None:
        """Disconnect and close the database."""
        self._client.disconnect()
        self._db.close()

    # --- the steps ---------------------------------------------------------------------

    def _store(self, priority: int = 2) -> tuple[int, bytes]:
        """Insert one event in its own FULL transaction; returns its seq and payload."""
        self._seq += 1
        payload = _payload(self._seq)
        self._db.execute("BEGIN IMMEDIATE")
        self._db.execute(_INSERT, (self._seq, uuid.uuid4().hex, priority, payload, time.time()))
        self._db.execute("COMMIT")
        return self._seq, payload

    def _publish(self, topic: str, payload: bytes) -> int:
        return self._client.publish(topic, payload, qos=1).mid

    def _settle(self) -> list[int]:
        """Read from the broker until at least one PUBACK arrived; their message ids."""
        while not self._acked:
            code = self._client.loop(1.0)
            if code != mqtt.MQTT_ERR_SUCCESS:
                raise RuntimeError(f"the floor client lost the broker: {mqtt.error_string(code)}")
        acked, self._acked = self._acked, []
        return acked

    def _mark(self, seqs: Iterable[int]) -> None:
        now = time.time()
        self._db.execute("BEGIN IMMEDIATE")
        self._db.executemany(_DELIVER, [(now, seq) for seq in seqs])
        self._db.execute("COMMIT")

    # --- the measurements ----------------------------------------------------------------

    def sequential(self, count: int) -> tuple[Latency, float]:
        """One event at a time: per-event latency, and events/s."""
        samples = []
        start = time.monotonic()
        for _ in range(count):
            begin = time.monotonic()
            seq, payload = self._store()
            self._publish(BULK_TOPIC, payload)
            self._settle()
            self._mark([seq])
            samples.append(time.monotonic() - begin)
        return Latency.of(samples), count / (time.monotonic() - start)

    def pipelined(self, count: int, window: int = WINDOW) -> float:
        """Store and publish with up to `window` awaiting PUBACK; events/s."""
        inflight: dict[int, int] = {}
        sent = done = 0
        start = time.monotonic()
        while done < count:
            while sent < count and len(inflight) < window:
                seq, payload = self._store()
                inflight[self._publish(BULK_TOPIC, payload)] = seq
                sent += 1
            acked = self._settle()
            self._mark(inflight.pop(mid) for mid in acked)
            done += len(acked)
        return count / (time.monotonic() - start)

    def drain(self, count: int, window: int = WINDOW) -> float:
        """A stored backlog of `count` rows read by (priority, seq), published, marked; events/s."""
        self._db.execute("BEGIN IMMEDIATE")
        first = self._seq + 1
        for seq in range(first, first + count):
            row = (seq, uuid.uuid4().hex, 1 + seq % 3, _payload(seq), time.time())
            self._db.execute(_INSERT, row)
        self._db.execute("COMMIT")
        self._seq += count
        after, inflight, done = (0, 0), dict[int, int](), 0
        start = time.monotonic()
        while done < count:
            free = window - len(inflight)
            rows = self._db.execute(_NEXT, (*after, free)).fetchall() if free else []
            for seq, payload in rows:
                inflight[self._publish(BULK_TOPIC, payload)] = seq
                after = (1 + seq % 3, seq)
            acked = self._settle()
            self._mark(inflight.pop(mid) for mid in acked)
            done += len(acked)
        return count / (time.monotonic() - start)

    def isolated(self, watcher: StampedSubscriber) -> tuple[float, float]:
        """One event: seconds to PUBACK + mark, and to `watcher` (subscribed to ISOLATED_TOPIC)."""
        begin = time.monotonic()
        seq, payload = self._store(priority=0)
        self._publish(ISOLATED_TOPIC, payload)
        self._settle()
        self._mark([seq])
        delivered = time.monotonic() - begin
        arrived, _ = watcher.next_arrival(lambda _topic, body: body == payload)
        return delivered, arrived - begin


def _payload(seq: int) -> bytes:
    body = json.dumps({"kind": "floor", "seq": seq, "id": uuid.uuid4().hex, "data": ""})
    return body.replace(
        '"data": ""', '"data": "' + "x" * (PAYLOAD_BYTES - len(body)) + '"'
    ).encode()


def main() -> None:
    """Measure the floor on a fresh mosquitto and print it beside DESIGN §4's numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000, help="events per throughput run")
    parser.add_argument("--window", type=int, default=WINDOW, help="events awaiting PUBACK")
    parser.add_argument("--isolated", type=int, default=100, help="isolated events")
    parser.add_argument("--gap", type=float, default=0.02, help="seconds between isolated events")
    args = parser.parse_args()
    print(f"machine: {describe()}")
    with tempfile.TemporaryDirectory() as directory, Broker(Path(directory) / "broker") as broker:
        floor = Floor(broker, Path(directory))
        with StampedSubscriber(broker, [ISOLATED_TOPIC], name="floor-watcher") as watcher:
            latency, per_s = floor.sequential(args.count)
            pipelined = floor.pipelined(args.count, args.window)
            drained = floor.drain(args.count, args.window)
            delivered, arrived = [], []
            for _ in range(args.isolated):
                time.sleep(args.gap)
                to_ack, to_watcher = floor.isolated(watcher)
                delivered.append(to_ack)
                arrived.append(to_watcher)
        floor.close()
    print(latency.line("sequential: store -> PUBACK -> mark"))
    print(f"{'sequential':<44} {per_s:8.0f} events/s")
    print(f"{f'pipelined (window {args.window})':<44} {pipelined:8.0f} events/s")
    print(f"{f'drain of stored rows (window {args.window})':<44} {drained:8.0f} events/s")
    print(Latency.of(delivered).line("isolated: store -> PUBACK -> mark"))
    print(Latency.of(arrived).line("isolated: store -> subscriber"))
    measured = {"sequential_ms": latency.p50, "sequential_per_s": per_s}
    measured["pipelined_per_s"] = pipelined
    ratios = ", ".join(f"{k} {measured[k] / v:.2f}x" for k, v in EXPECTED.items())
    isolated = Latency.of(arrived).p50 / EXPECTED_ISOLATED_MS
    print(f"ratio to DESIGN §4: {ratios}, isolated_ms {isolated:.2f}x")


if __name__ == "__main__":
    main()
