"""Backlog drain: how fast the daemon empties an outage's backlog, SOS first.

A real daemon (`python -m agent run`, mock GPIO) stores `--events` mixed events (priorities
1-3, through the control socket's `sim_events`) and `--sos` alarms (`sim_press`, then
`sos_reset`: a `new` and an `end` event each) while its broker is stopped. Then the broker
starts, and the drain is timed from the daemon's CONNACK (`status` -> `broker.since`) to the
last row marked delivered on PUBACK (`delivered_at` in the outbox, read-only). An
independent subscriber with a persistent session checks that every SOS event arrived
before the first lower-priority one; it unsubscribes at that first one, so it costs the
machine little during the drain.

The floor (`benchmarks/floor.py`) runs on the same broker before the outage and after the
drain: pipelined (store + publish, window 20) and a drain of stored rows (read by
(priority, seq) + publish, window 20). The target compares with the pipelined floor.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_backlog_drain.py [--events N] [--sos N]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from floor import WINDOW, Floor, StampedSubscriber
from machine import describe

from tests.broker import Broker
from tests.daemon import Daemon, write_config

PREFIX = "ssz/v1/lab/pole-test"
KINDS = {1: "tamper", 2: "plate", 3: "telemetry"}
TARGET = 0.8  # the drain's events/s at least 0.8x the pipelined floor's


class FirstLowerWatcher(StampedSubscriber):
    """The control room: records arrivals, and unsubscribes at the first non-SOS event."""

    def __init__(self, broker: Broker, topics: list[str]) -> None:
        self.filters = topics
        self.cut = False
        super().__init__(broker, topics, session=True, name="control-room")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        super()._on_message(client, userdata, message)
        if not self.cut and not message.topic.endswith("/event/sos"):
            self.cut = True
            client.unsubscribe(self.filters)


def floor_rates(broker: Broker, directory: Path, count: int) -> tuple[float, float]:
    """The floor's pipelined and stored-rows drain events/s, on a fresh client and file."""
    directory.mkdir(parents=True)
    floor = Floor(broker, directory)
    try:
        return floor.pipelined(count), floor.drain(count)
    finally:
        floor.close()


def fill(daemon: Daemon, events: int, alarms: int, chunk: int) -> None:
    """Store `events` events of priorities 1-3, with `alarms` SOS alarms spread among them."""
    chunks = [min(chunk, events - start) for start in range(0, events, chunk)]
    alarm_at = {round(i * len(chunks) / alarms) for i in range(alarms)} if alarms else set()
    for n, size in enumerate(chunks):
        if n in alarm_at:
            sos_cycle(daemon)
        priority = 1 + n % 3
        daemon.call("sim_events", {"count": size, "priority": priority, "kind": KINDS[priority]})


def sos_cycle(daemon: Daemon) -> None:
    """Press the button, wait for the alarm, and end it: a `new` and an `end` event."""
    daemon.call("sim_press", {"hold": 0.2})
    end = time.monotonic() + 10
    while not (state := daemon.call("status")["sos"])["active"]:
        if time.monotonic() > end:
            raise TimeoutError("the press raised no alarm")
        time.sleep(0.02)
    daemon.call("sos_reset", {"id": state["id"]})


def query(database: Path, sql: str) -> list[tuple[Any, ...]]:
    """One read-only query on the daemon's outbox."""
    db = sqlite3.connect(database.absolute().as_uri() + "?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def wait_drained(database: Path, timeout: float) -> None:
    """Poll (cheaply, on the pending index) until no row awaits delivery."""
    end = time.monotonic() + timeout
    pending = "SELECT 1 FROM events WHERE delivered_at IS NULL LIMIT 1"
    while query(database, pending):
        if time.monotonic() > end:
            raise TimeoutError(f"backlog not drained within {timeout} s")
        time.sleep(0.5)


def epoch(stamp: str) -> float:
    """`2026-11-27T01:02:03.456Z` as seconds since the epoch."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def check_order(watcher: FirstLowerWatcher, sos_ids: set[str]) -> str:
    """Whether every SOS event arrived before the first lower-priority event."""
    watcher.next_arrival(lambda topic, _p: not topic.endswith("/event/sos"), timeout=60)
    before = set()
    for message in watcher.received():
        event = json.loads(message.payload)
        if event["kind"] != "sos":
            first = f"{event['kind']} (priority {event['priority']})"
            break
        before.add(event["id"])
    missing = sos_ids - before
    verdict = "yes" if not missing else f"NO: {len(missing)} SOS after it"
    return f"{len(sos_ids & before)}/{len(sos_ids)} SOS events before the first {first}: {verdict}"


def main() -> None:
    """Fill the outbox during an outage, start the broker, time the drain against the floor."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000, help="events of priority 1-3")
    parser.add_argument("--sos", type=int, default=5, help="SOS alarms (2 events each)")
    parser.add_argument("--chunk", type=int, default=2_500, help="events per sim_events call")
    parser.add_argument("--floor-count", type=int, default=5_000, help="events per floor run")
    args = parser.parse_args()
    print(f"machine: {describe()}")
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        broker = Broker(directory / "broker", persistent=True)
        broker.start()
        try:
            before = floor_rates(broker, directory / "floor-before", args.floor_count)
            topics = [f"{PREFIX}/event/#", f"{PREFIX}/telemetry"]
            with FirstLowerWatcher(broker, topics) as watcher:
                broker.stop()
                config = write_config(directory / "agent", port=broker.port)
                database = config.parent / "state" / "outbox.db"
                with Daemon(config) as daemon:
                    filled = time.monotonic()
                    fill(daemon, args.events, args.sos, args.chunk)
                    filled = time.monotonic() - filled
                    stored = query(database, "SELECT count(*) FROM events")[0][0]
                    broker.start()
                    wait_drained(database, timeout=600)
                    since = epoch(daemon.call("status")["broker"]["since"])
                    (last,) = query(database, "SELECT max(delivered_at) FROM events")[0]
                    sos_ids = {
                        row[0]
                        for row in query(database, "SELECT id FROM events WHERE kind = 'sos'")
                    }
                    order = check_order(watcher, sos_ids)
                    daemon.stop()
            after = floor_rates(broker, directory / "floor-after", args.floor_count)
        finally:
            broker.stop()
    drain = stored / (last - since)
    pipelined = statistics.mean([before[0], after[0]])
    stored_floor = statistics.mean([before[1], after[1]])
    print(f"stored while the broker was down: {stored} events in {filled:.1f} s")
    print(
        f"{f'floor pipelined (window {WINDOW}), before/after':<44} "
        f"{before[0]:8.0f} / {after[0]:8.0f} events/s"
    )
    print(
        f"{f'floor drain of stored rows (window {WINDOW})':<44} "
        f"{before[1]:8.0f} / {after[1]:8.0f} events/s"
    )
    print(
        f"{'daemon drain: CONNACK -> last PUBACK':<44} {drain:8.0f} events/s "
        f"({stored} in {last - since:.2f} s)"
    )
    print(order)
    verdict = "met" if drain / pipelined >= TARGET else "NOT met"
    print(
        f"ratio daemon drain / floor pipelined: {drain / pipelined:.2f}x "
        f"(target >= {TARGET:g}x: {verdict}); / floor stored-rows drain: "
        f"{drain / stored_floor:.2f}x"
    )


if __name__ == "__main__":
    main()
