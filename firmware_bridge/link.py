"""The host link: owns the serial port to the MCU and the one thread that uses it.

The thread opens the port with `serial_for_url`, runs the `HostSession` timers, reads and
writes frames, and reopens the port with back-off when it fails (a USB adapter pulled and
plugged back). Other threads only queue commands; everything the MCU reports arrives on
`McuLink.events`.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

import serial

from firmware_bridge import events as ev
from firmware_bridge.session import HostSession, LinkConfig

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 0.05
WRITE_TIMEOUT_S = 1.0
RECONNECT_MIN_S = 0.1
RECONNECT_MAX_S = 5.0


class Port(Protocol):
    """The part of a pyserial port the link uses."""

    @property
    def in_waiting(self) -> int:
        """Bytes ready to read."""

    def read(self, size: int = 1) -> bytes:
        """Up to `size` bytes, or fewer at the timeout."""

    def write(self, data: bytes) -> int | None:
        """Write all of `data`."""

    def reset_input_buffer(self) -> None:
        """Drop whatever was received before."""

    def close(self) -> None:
        """Release the port."""


PortOpener = Callable[..., Port]
PORT_ERRORS = (serial.SerialException, OSError)


def open_port(url: str, **options: Any) -> Port:
    """Open a device path or pyserial URL (`loop://`, `socket://`, `/dev/ttyACM0`)."""
    port: Port = serial.serial_for_url(url, **options)
    return port


Command = Callable[[HostSession, float], Any]


class McuLink:
    """Talks to the MCU over `url` (a device path or any pyserial URL) from one thread."""

    def __init__(
        self,
        url: str,
        *,
        config: LinkConfig | None = None,
        baudrate: int = 115200,
        events: queue.Queue[ev.McuEvent] | None = None,
        serial_for_url: PortOpener = open_port,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.config = config or LinkConfig()
        self.events: queue.Queue[ev.McuEvent] = events if events is not None else queue.Queue()
        self._baudrate = baudrate
        self._open_port = serial_for_url
        self._clock = clock
        self._commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._port: Port | None = None
        self._port_lock = threading.Lock()  # `_wake` must never touch a closed port's pipe
        self._session = HostSession(self.config, emit=self._emit)
        self._reconnects = 0
        self._open_failures = 0
        self._dropped_events = 0

    def start(self) -> None:
        """Start the link thread; it keeps trying to open the port until `stop`."""
        if self._thread is not None:
            raise RuntimeError("the MCU link is already started")
        self._thread = threading.Thread(target=self._run, name="mcu-link")
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and close the port."""
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError("the MCU link thread did not stop")

    def alive(self) -> bool:
        """Whether the link thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> McuLink:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def status(self) -> ev.LinkStatus:
        """A snapshot of link state, inputs, outputs and counters (any thread)."""
        return replace(self._session.status, reconnects=self._reconnects)

    # Commands: queued for the link thread, never blocking the caller ---------------------

    def set_output(self, output: int, mode: int, *, duration_s: int = 0) -> None:
        """Drive an `Output` in a mode; the wanted state is re-sent after every reconnect."""
        self._submit(lambda s, now: s.set_output(output, mode, duration_s, now))

    def set_watchdog(self, seconds: float) -> None:
        """Arm the Pi watchdog with a new timeout, or disarm it with 0."""
        self._submit(lambda s, now: s.set_watchdog(seconds))

    def request_shutdown(self, *, delay_s: int, min_off_s: int = 10) -> None:
        """Ask the MCU to cut the Pi's power after `delay_s`, back when mains returns."""
        self._submit(lambda s, now: s.shutdown(delay_s, min_off_s))

    def ping(self) -> None:
        """Measure the round trip; a `PongReceived` event follows if the MCU answers."""
        self._submit(lambda s, now: s.ping(now))

    def request_stats(self) -> None:
        """Ask for the MCU's counters; a `StatsReported` event follows."""
        self._submit(lambda s, now: s.request_stats())

    # The link thread ---------------------------------------------------------------------

    def _submit(self, command: Command) -> None:
        self._commands.put(command)
        self._wake()

    def _wake(self) -> None:
        with self._port_lock:
            cancel = getattr(self._port, "cancel_read", None)
            if cancel is not None:
                with contextlib.suppress(OSError, ValueError):
                    cancel()

    def _emit(self, event: ev.McuEvent) -> None:
        try:
            self.events.put_nowait(event)
        except queue.Full:
            self._dropped_events += 1
            log.log(
                logging.WARNING if self._dropped_events == 1 else logging.DEBUG,
                "MCU event queue full, dropped %d events",
                self._dropped_events,
            )

    def _run(self) -> None:
        try:
            self._supervise()
        except Exception:
            log.exception("the MCU link thread failed")
            raise

    def _supervise(self) -> None:
        backoff = RECONNECT_MIN_S
        while not self._stop.is_set():
            port = self._connect()
            if port is None:
                self._drain_commands()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, RECONNECT_MAX_S)
                continue
            backoff = RECONNECT_MIN_S
            reason = self._serve(port)
            self._close(port, reason)

    def _connect(self) -> Port | None:
        try:
            port = self._open_port(
                self.url,
                baudrate=self._baudrate,
                timeout=READ_TIMEOUT_S,
                write_timeout=WRITE_TIMEOUT_S,
                exclusive=True,
            )
        except (*PORT_ERRORS, ValueError) as error:
            self._open_failures += 1
            level = logging.WARNING if self._open_failures == 1 else logging.DEBUG
            log.log(level, "cannot open MCU port (%d tries): %s", self._open_failures, error)
            return None
        self._open_failures = 0
        log.info("opened MCU port %s", self.url)
        with self._port_lock:
            self._port = port
        self._session.open(self._clock())
        return port

    def _close(self, port: Port, reason: str) -> None:
        with self._port_lock:
            self._port = None
        try:
            port.close()
        except PORT_ERRORS as error:
            log.debug("closing MCU port: %s", error)
        self._session.close(reason, self._clock())
        if not self._stop.is_set():
            self._reconnects += 1
            log.warning("MCU port %s lost (%s); reopening", self.url, reason)

    def _serve(self, port: Port) -> str:
        try:
            port.reset_input_buffer()  # whatever arrived while nobody listened is stale
            while not self._stop.is_set():
                self._step(port)
        except PORT_ERRORS as error:
            return f"port error: {error}"
        return "link stopped"

    def _step(self, port: Port) -> None:
        self._drain_commands()
        self._session.tick(self._clock())
        self._flush(port)
        data = port.read(max(1, port.in_waiting))
        if data:
            self._session.receive(data, self._clock())
            self._flush(port)

    def _flush(self, port: Port) -> None:
        data = self._session.take_output()
        if data:
            port.write(data)

    def _drain_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            command(self._session, self._clock())
