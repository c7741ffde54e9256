"""Round-trip latency between the host link and an MCU over a pseudo-terminal pair.

Two round trips through `McuLink`, the null-modem relay and the MCU program (the C host
build by default, or the Python simulator): PING -> PONG, and SET_OUTPUT -> the MCU's
OUTPUT_STATE report, each timed from the caller's thread to the event on the queue. The
floor, measured in the same run over the same kind of cable, is a bare echo of a frame's
bytes by a Python thread at the far end; the ratio is what the protocol stack adds.

    .venv/bin/python benchmarks/bench_mcu_roundtrip.py [--count N] [--mcu c|python]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import serial

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from machine import describe  # benchmarks/machine.py, beside this script

from firmware_bridge import (
    LinkConfig,
    LinkUp,
    McuEvent,
    McuLink,
    Output,
    OutputsReported,
    PongReceived,
)
from firmware_bridge.nullmodem import NullModem

ROOT = Path(__file__).resolve().parent.parent
FRAME = bytes.fromhex("02050101080401020304bbeb00")


def summary(name: str, samples: list[float], floor: float | None = None) -> str:
    """p50/p90/p99/max in milliseconds, and the p50 as a multiple of the floor's."""
    ms = sorted(s * 1000 for s in samples)
    p50 = statistics.median(ms)
    line = (
        f"{name:<28} n={len(ms):<5} p50 {p50:6.3f}  p90 {ms[int(len(ms) * 0.9)]:6.3f}  "
        f"p99 {ms[int(len(ms) * 0.99)]:6.3f}  max {ms[-1]:6.3f} ms"
    )
    return line + (f"  = {p50 / (floor * 1000):.1f}x floor" if floor else "")


def echo_floor(cable: NullModem, count: int) -> list[float]:
    """A frame's bytes echoed back by a thread at the MCU end: pty, relay and pyserial only."""
    stop = threading.Event()
    far = serial.serial_for_url(cable.mcu_path, timeout=0.05)
    near = serial.serial_for_url(cable.host_path, timeout=1.0)

    def echo() -> None:
        while not stop.is_set():
            data = far.read(max(1, far.in_waiting))
            if data:
                far.write(data)

    thread = threading.Thread(target=echo, name="echo")
    thread.start()
    samples = []
    try:
        for _ in range(count):
            start = time.perf_counter()
            near.write(FRAME)
            if near.read(len(FRAME)) != FRAME:
                raise RuntimeError("the echo lost bytes")
            samples.append(time.perf_counter() - start)
    finally:
        stop.set()
        thread.join()
        far.close()
        near.close()
    return samples


def timed(link: McuLink, send: Callable[[], None], done: Callable[[McuEvent], bool]) -> float:
    """Seconds from `send()` to the first event for which `done` holds."""
    start = time.perf_counter()
    send()
    while True:
        event = link.events.get(timeout=5.0)
        if done(event):
            return time.perf_counter() - start


def protocol_round_trips(
    cable: NullModem, command: list[str], count: int
) -> dict[str, list[float]]:
    """PING and SET_OUTPUT round trips through the link and the MCU program."""
    mcu = subprocess.Popen(
        [*command, cable.mcu_path], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    link = McuLink(cable.host_path, config=LinkConfig(heartbeat_s=1.0, watchdog_s=0))
    link.start()
    try:
        timed(link, lambda: None, lambda e: isinstance(e, LinkUp))
        pings = [
            timed(link, link.ping, lambda e: isinstance(e, PongReceived)) for _ in range(count)
        ]
        outputs = []
        for i in range(count):
            mode = (i + 1) % 2
            send = lambda m=mode: link.set_output(Output.RELAY, m)  # noqa: E731
            outputs.append(
                timed(
                    link,
                    send,
                    lambda e, m=mode: isinstance(e, OutputsReported) and e.outputs.relay == m,
                )
            )
    finally:
        link.stop()
        assert mcu.stdin is not None
        mcu.stdin.close()
        mcu.wait(10)
    return {"PING -> PONG": pings, "SET_OUTPUT -> OUTPUT_STATE": outputs}


def mcu_command(which: str) -> list[str]:
    """The MCU program: the C host build (built with make) or the Python simulator."""
    if which == "python":
        return [sys.executable, "-m", "firmware_bridge.simulator"]
    firmware = ROOT / "firmware_bridge" / "firmware"
    subprocess.run(["make", "-s", "-C", str(firmware), "host"], check=True)
    return [str(firmware / "build" / "mcu-host")]


def main() -> None:
    """Measure the floor and the protocol round trips, and print them with the machine."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--mcu", choices=("c", "python"), default="c")
    args = parser.parse_args()
    command = mcu_command(args.mcu)
    print(f"machine: {describe()}")
    print(f"MCU: {'C host build' if args.mcu == 'c' else 'Python simulator'}, over a pty pair")
    with tempfile.TemporaryDirectory() as directory:
        with NullModem(Path(directory)) as cable:
            floor = echo_floor(cable, args.count)
        with NullModem(Path(directory)) as cable:
            trips = protocol_round_trips(cable, command, args.count)
    base = statistics.median(floor)
    print(summary("floor: raw 13-byte echo", floor))
    for name, samples in trips.items():
        print(summary(name, samples, base))


if __name__ == "__main__":
    main()
