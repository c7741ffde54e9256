"""Which machine a benchmark ran on, and a CPU load to run it under.

Every benchmark prints `describe()` first, so its numbers always carry their machine and
the load average at the start; `busy(n)` adds `n` busy-loop processes at nice 0 for the
"both cores busy" runs.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python benchmarks/x.py` from anywhere imports `tests`, `agent`
    sys.path.insert(0, str(ROOT))

from tests.broker import MOSQUITTO  # noqa: E402 - needs the path above


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo (`model name`, or `Model` on a Pi)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith(("model name", "Model")):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def mosquitto_version() -> str:
    """`mosquitto 2.0.11`, or `mosquitto missing`."""
    if MOSQUITTO is None:
        return "mosquitto missing"
    result = subprocess.run([MOSQUITTO, "-h"], capture_output=True, text=True, check=False)
    found = re.search(r"version (\S+)", result.stdout + result.stderr)
    return f"mosquitto {found.group(1) if found else '?'}"


def describe() -> str:
    """One line: host, CPU, cores, kernel, Python, mosquitto, load average now."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{platform.node()}: {cpu_model()}, {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"{mosquitto_version()}, load {load}"
    )


@contextmanager
def busy(processes: int) -> Iterator[None]:
    """Run `processes` busy loops (nice 0) for the duration of the block."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


if __name__ == "__main__":
    print(f"machine: {describe()}")
