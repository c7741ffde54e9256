"""A null-modem cable made of two pseudo-terminals, for tests, demos and benchmarks.

The MCU end (`mcu_path`) and the host end (`host_path`, a symlink like a udev
`/dev/serial/by-id/...` name) are slave devices that programs open like serial ports; a
relay thread copies bytes between their masters. `unplug()` closes the host end as a
pulled USB adapter would, `plug()` brings a new one back under the same name, and
`inject()` puts garbage on the line.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import select
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

WRITE_PATIENCE_S = 1.0


class _Pty:
    """One pseudo-terminal pair; the slave is held open (raw) so reads on the master work."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


class NullModem:
    """Two pseudo-terminals joined back to back by a relay thread."""

    def __init__(self, directory: Path, *, name: str = "ttyMCU") -> None:
        self.host_path = str(directory / name)
        self.dropped = 0
        self._mcu: _Pty | None = _Pty()
        self._host: _Pty | None = None
        self.mcu_path = self._mcu.path
        self._requests: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="null-modem")
        self._plug()
        self._thread.start()

    def __enter__(self) -> NullModem:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the relay and close both ends."""
        self._stop.set()
        os.write(self._wake_w, b"x")
        self._thread.join()
        for end in (self._mcu, self._host):
            if end is not None:
                end.close()
        self._mcu = self._host = None
        Path(self.host_path).unlink(missing_ok=True)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def unplug(self) -> None:
        """Pull the host end: its device goes away and whoever has it open gets an error."""
        self._call(self._unplug)

    def plug(self) -> None:
        """Put a fresh host end back under the same name."""
        self._call(self._plug)

    def inject(self, data: bytes, *, towards: str = "mcu") -> None:
        """Write raw bytes to one end, as line noise or a fuzzer would."""
        self._call(lambda: self._send(data, self._mcu if towards == "mcu" else self._host))

    def _call(self, request: Callable[[], None]) -> None:
        done = threading.Event()

        def wrapped() -> None:
            request()
            done.set()

        self._requests.put(wrapped)
        os.write(self._wake_w, b"x")
        if not done.wait(5.0):
            raise TimeoutError("the null-modem relay did not answer")

    def _unplug(self) -> None:
        Path(self.host_path).unlink(missing_ok=True)
        if self._host is not None:
            self._host.close()
            self._host = None

    def _plug(self) -> None:
        if self._host is None:
            self._host = _Pty()
            Path(self.host_path).unlink(missing_ok=True)
            os.symlink(self._host.path, self.host_path)

    def _run(self) -> None:
        while not self._stop.is_set():
            ends = [end for end in (self._mcu, self._host) if end is not None]
            ready, _, _ = select.select([self._wake_r] + [end.master for end in ends], [], [], 1.0)
            if self._wake_r in ready:
                os.read(self._wake_r, 1024)
                self._serve_requests()
                continue
            for end in ends:
                if end.master in ready:
                    self._relay(end)

    def _serve_requests(self) -> None:
        while True:
            try:
                request = self._requests.get_nowait()
            except queue.Empty:
                return
            request()

    def _relay(self, source: _Pty) -> None:
        try:
            data = os.read(source.master, 4096)
        except BlockingIOError:
            return
        except OSError as error:  # EIO: nobody has the slave open right now
            if error.errno != errno.EIO:
                raise
            return
        self._send(data, self._host if source is self._mcu else self._mcu)

    def _send(self, data: bytes, end: _Pty | None) -> None:
        deadline = time.monotonic() + WRITE_PATIENCE_S
        while data and end is not None:
            try:
                data = data[os.write(end.master, data) :]
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.001)  # the reader is behind; a real UART would overrun here
        self.dropped += len(data)
