"""Daemon footprint: resident memory when idle, and time from process start to `online`.

Starts a real daemon (`python -m agent run`, mock GPIO, one mosquitto) `--runs` times on
the same state directory (the first run creates the outbox, like a first boot; later runs
are restarts). Per run: seconds from just before the process is spawned to the retained
`{prefix}/status` `online` message at an independent subscriber, then, after `--settle`
idle seconds, VmRSS (/proc/PID/status) and PSS and USS (/proc/PID/smaps_rollup). The
baseline for context is a bare interpreter (`python -c` waiting on stdin) and one that has
imported the daemon's modules; the biggest imports are listed from `python -X importtime`.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_daemon_footprint.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from floor import StampedSubscriber
from machine import ROOT, describe

from tests.broker import Broker
from tests.daemon import Daemon, write_config

PREFIX = "ssz/v1/lab/pole-test"
RSS_TARGET_MB = 60.0
STARTUP_TARGET_S = 1.5
DAEMON_IMPORTS = "import agent.cli, agent.app"
IMPORT_DEPTH = 2


@dataclass(frozen=True)
class Memory:
    """Resident memory of one process, in MiB; `peak` is VmHWM, the most VmRSS has been."""

    rss: float
    pss: float
    uss: float
    peak: float = 0.0

    def line(self, name: str) -> str:
        """`name  VmRSS  PSS  USS  VmHWM` in MiB."""
        return (
            f"{name:<44} VmRSS {self.rss:6.1f}  PSS {self.pss:6.1f}  USS {self.uss:6.1f}  "
            f"VmHWM {self.peak:6.1f} MiB"
        )


def memory(pid: int) -> Memory:
    """VmRSS and VmHWM from /proc/PID/status; PSS and USS (private pages) from smaps_rollup."""
    status = dict(
        re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    )
    if "VmRSS" not in status:
        raise RuntimeError(f"no VmRSS for process {pid}")
    rss = int(status["VmRSS"])
    rollup = {
        key: int(value)
        for key, value in re.findall(
            r"^(\w+):\s+(\d+) kB", Path(f"/proc/{pid}/smaps_rollup").read_text(), re.M
        )
    }
    uss = rollup["Private_Clean"] + rollup["Private_Dirty"]
    return Memory(rss / 1024, rollup["Pss"] / 1024, uss / 1024, int(status["VmHWM"]) / 1024)


def interpreter(code: str) -> Memory:
    """Memory of a Python interpreter that ran `code` and now waits on stdin."""
    process = subprocess.Popen(
        [sys.executable, "-c", f"{code}; import sys; print(flush=True); sys.stdin.read()"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdout.readline()  # the code has run
        return memory(process.pid)
    finally:
        process.stdin.close()
        process.wait(10)
        process.stdout.close()


def import_costs(top: int) -> list[tuple[float, str]]:
    """The `top` biggest imports of the daemon, two levels deep: (cumulative ms, module)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", DAEMON_IMPORTS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    costs = []
    for line in result.stderr.splitlines():
        found = re.match(r"import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)$", line)
        # Two spaces per level of nesting: the daemon's packages and what they import.
        if found and len(found.group(2)) <= 2 * IMPORT_DEPTH:
            costs.append((int(found.group(1)) / 1000, found.group(3)))
    return sorted(costs, reverse=True)[:top]


def one_start(broker: Broker, config: Path, settle_s: float) -> tuple[float, Memory]:
    """Start a daemon; seconds to `online` at a subscriber, and its memory once idle."""
    with StampedSubscriber(broker, [f"{PREFIX}/status"], name="watcher") as watcher:
        spawned = time.monotonic()
        with Daemon(config) as daemon:
            online, _ = watcher.next_arrival(
                lambda _t, payload: json.loads(payload)["state"] == "online", timeout=30
            )
            time.sleep(settle_s)
            assert daemon.process is not None
            used = memory(daemon.process.pid)
            daemon.stop()
    return online - spawned, used


def main() -> None:
    """Start the daemon several times; print median start-up time and idle memory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="daemon starts")
    parser.add_argument("--settle", type=float, default=3.0, help="idle seconds before measuring")
    parser.add_argument("--imports", type=int, default=8, help="biggest imports to list")
    args = parser.parse_args()
    print(f"machine: {describe()}")
    bare = interpreter("pass")
    loaded = interpreter(DAEMON_IMPORTS)
    starts, memories = [], []
    with tempfile.TemporaryDirectory() as name, Broker(Path(name) / "broker") as broker:
        config = write_config(Path(name) / "agent", port=broker.port)
        for run in range(args.runs):
            seconds, used = one_start(broker, config, args.settle)
            starts.append(seconds)
            memories.append(used)
            print(f"run {run + 1}: start -> online {seconds:.3f} s; " + used.line("")[44:].strip())
    median = Memory(
        *(statistics.median(getattr(m, f) for m in memories) for f in ("rss", "pss", "uss", "peak"))
    )
    startup = statistics.median(starts)
    print(bare.line("python -c pass (interpreter baseline)"))
    print(loaded.line("python, daemon modules imported"))
    print(median.line(f"daemon idle, median of {args.runs}"))
    print(
        f"{f'start -> retained online, median of {args.runs}':<44} {startup:.3f} s "
        f"(min {min(starts):.3f}, max {max(starts):.3f})"
    )
    print(
        "biggest imports (cumulative ms): "
        + ", ".join(f"{m} {ms:.0f}" for ms, m in import_costs(args.imports))
    )
    rss_ok = "met" if median.rss <= RSS_TARGET_MB else "NOT met"
    start_ok = "met" if startup <= STARTUP_TARGET_S else "NOT met"
    print(
        f"ratio daemon VmRSS / interpreter VmRSS: {median.rss / bare.rss:.2f}x; "
        f"VmRSS target <= {RSS_TARGET_MB:g} MB: {rss_ok}; "
        f"start-up target <= {STARTUP_TARGET_S:g} s: {start_ok}"
    )


if __name__ == "__main__":
    main()
