"""Helpers shared by the MCU tests: build the C host build, run an MCU process on a
pseudo-terminal, wait for events. Plain functions and classes; each test module wraps
them in its own pytest fixtures."""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from firmware_bridge.events import McuEvent

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE_DIR = ROOT / "firmware_bridge" / "firmware"
HOST_BUILD = FIRMWARE_DIR / "build" / "mcu-host"
WAIT_S = 10.0


def build_firmware() -> Path:
    """`make host` once; skips the calling test if there is no C compiler."""
    if shutil.which("make") is None or not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no C compiler or make: the C host build cannot be tested here")
    result = subprocess.run(
        ["make", "-C", str(FIRMWARE_DIR), "host"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"make host failed:\n{result.stdout}\n{result.stderr}")
    return HOST_BUILD


def mcu_command(request: pytest.FixtureRequest) -> list[str]:
    """How to start the MCU for a test parametrized "c" or "python": the C host build (or
    `$MCU_HOST`, e.g. the sanitizer build) from the session fixture `host_build`, or the
    Python simulator. Both take the same arguments and stdin lines."""
    if request.param == "c":
        return [os.environ.get("MCU_HOST") or str(request.getfixturevalue("host_build"))]
    return [sys.executable, "-m", "firmware_bridge.simulator"]


class McuProcess:
    """An MCU program on a serial device: stdin takes input changes, stdout lines are kept."""

    def __init__(self, command: list[str], device: str, *options: str) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._process = subprocess.Popen(
            [*command, device, *options],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            cwd=ROOT,
        )
        self._reader = threading.Thread(target=self._read, name="mcu-stdout")
        self._reader.start()
        self.wait_for("ready")

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            with self._changed:
                self.lines.append(line.strip())
                self._changed.notify_all()

    def send(self, *lines: str) -> None:
        """Write command lines to the MCU's stdin."""
        assert self._process.stdin is not None
        self._process.stdin.write("".join(f"{line}\n" for line in lines))
        self._process.stdin.flush()

    def wait_for(self, wanted: str, *, after: int = 0, timeout: float = WAIT_S) -> int:
        """Index of the first stdout line equal to `wanted` (or starting with it + space)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for index in range(after, len(self.lines)):
                    line = self.lines[index]
                    if line == wanted or line.startswith(wanted + " "):
                        return index
                left = deadline - time.monotonic()
                if left <= 0 or self._process.poll() is not None:
                    raise AssertionError(f"MCU never printed {wanted!r}; it printed {self.lines}")
                self._changed.wait(left)

    def mark(self) -> int:
        """The number of lines so far, to wait only for what comes after."""
        with self._changed:
            return len(self.lines)

    def stats(self) -> dict[str, int]:
        """The MCU's counters, from its `stats` line."""
        mark = self.mark()
        self.send("stats")
        line = self.lines[self.wait_for("stats", after=mark)]
        return {k: int(v) for k, v in (word.split("=") for word in line.split()[1:])}

    @property
    def alive(self) -> bool:
        """Whether the process is still running."""
        return self._process.poll() is None

    def close(self) -> None:
        """End of stdin ends the MCU program."""
        assert self._process.stdin is not None
        self._process.stdin.close()
        try:
            self._process.wait(WAIT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reader.join()
        assert self._process.stdout is not None
        self._process.stdout.close()


class Events:
    """Everything a link reported, kept so tests can wait for one and look back."""

    def __init__(self, source: queue.Queue[McuEvent]) -> None:
        self.source = source
        self.seen: list[McuEvent] = []

    def wait_for(
        self,
        kind: type[Any],
        where: Callable[[Any], bool] = lambda e: True,
        timeout: float = WAIT_S,
    ) -> Any:
        """The first event of `kind` (not yet consumed) for which `where` holds."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.seen:
                if isinstance(event, kind) and where(event):
                    self.seen.remove(event)
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind.__name__} arrived; saw {self.seen}")
            with contextlib.suppress(queue.Empty):
                self.seen.append(self.source.get(timeout=min(left, 0.1)))

    def drain(self) -> list[McuEvent]:
        """All events that arrived so far."""
        while True:
            try:
                self.seen.append(self.source.get_nowait())
            except queue.Empty:
                return self.seen
