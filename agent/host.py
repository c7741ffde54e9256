"""Readings of the host the agent runs on: load, temperature, power, memory, disk.

Read from /proc and /sys, so nothing here needs a Raspberry Pi: a reading the machine does
not offer is None.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

THERMAL = Path("/sys/class/thermal/thermal_zone0/temp")
# The Pi firmware's throttling word (the same as `vcgencmd get_throttled`), kernel 5.x+.
THROTTLED = Path("/sys/devices/platform/soc/soc:firmware/get_throttled")
_THROTTLE_BITS = {
    "under_voltage": 0,
    "frequency_capped": 1,
    "throttled": 2,
    "soft_temperature_limit": 3,
    "under_voltage_occurred": 16,
    "frequency_capped_occurred": 17,
    "throttled_occurred": 18,
    "soft_temperature_limit_occurred": 19,
}


def reading(disk_path: Path) -> dict[str, Any]:
    """Everything at once, for telemetry."""
    return {
        "load": list(os.getloadavg()),
        "cpus": os.cpu_count(),
        "temperature_c": temperature_c(),
        "power": throttling(),
        "memory": memory(),
        "disk": disk(disk_path),
        "host_uptime_s": host_uptime_s(),
    }


def temperature_c(path: Path = THERMAL) -> float | None:
    """The SoC temperature in degrees Celsius."""
    text = _read(path)
    try:
        return None if text is None else round(int(text) / 1000, 1)
    except ValueError:
        return None


def throttling(path: Path = THROTTLED) -> dict[str, bool] | None:
    """Under-voltage and throttling flags, now and since boot (Pi only)."""
    text = _read(path)
    try:
        word = None if text is None else int(text, 16 if text.startswith("0x") else 10)
    except ValueError:
        return None
    if word is None:
        return None
    return {name: bool(word >> bit & 1) for name, bit in _THROTTLE_BITS.items()}


def memory(path: Path = Path("/proc/meminfo")) -> dict[str, int] | None:
    """Total and available memory in bytes."""
    text = _read(path)
    if text is None:
        return None
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    try:
        total = int(fields["MemTotal"].split()[0]) * 1024
        available = int(fields["MemAvailable"].split()[0]) * 1024
    except (KeyError, ValueError, IndexError):
        return None
    return {"total_bytes": total, "available_bytes": available}


def disk(path: Path) -> dict[str, Any]:
    """Free and total bytes where the state lives."""
    try:
        usage = shutil.disk_usage(path)
    except OSError as exc:
        return {"path": str(path), "error": str(exc)}
    return {"path": str(path), "free_bytes": usage.free, "total_bytes": usage.total}


def host_uptime_s(path: Path = Path("/proc/uptime")) -> float | None:
    """Seconds since the host booted."""
    text = _read(path)
    try:
        return None if text is None else float(text.split()[0])
    except (ValueError, IndexError):
        return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
