"""Supervising the vision child from the daemon: start, watch, restart with backoff, stop.

A crashed, killed or hung child costs the daemon nothing but a restart: the SOS path never
waits on this thread, and messages reach the caller through `on_message`, which must only
enqueue (DESIGN §2: callbacks never block).
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from typing import Any

from agent.vision.camera import Backoff
from agent.vision.worker import EXIT_MODEL_FAILED, HEARTBEAT_S, VisionSpec, main

log = logging.getLogger(__name__)

# A child silent for this long is hung (a stuck camera driver, a runaway invoke): killed.
HANG_S = 10 * HEARTBEAT_S
STOP_GRACE_S = 3.0


class VisionSupervisor:
    """Runs the vision child; restarts it with backoff; reports its health."""

    def __init__(
        self,
        spec: VisionSpec,
        *,
        on_message: Callable[[dict[str, Any]], None],
        backoff: Backoff = Backoff(first_s=1.0, max_s=60.0),  # noqa: B008 (frozen)
        hang_s: float = HANG_S,
    ) -> None:
        self.spec = spec
        self.on_message = on_message
        self.backoff = backoff
        self.hang_s = hang_s
        self.stop = threading.Event()
        self.restarts = 0
        self.state = "stopped"
        self.last_exit: int | None = None
        self.last_error = ""
        self.components: dict[str, dict[str, Any]] = {}
        self._child_error = ""
        self._context = multiprocessing.get_context("spawn")
        self._process: SpawnProcess | None = None
        self._requests: Connection | None = None
        self._requests_lock = threading.Lock()
        self._thread = threading.Thread(target=self._supervise, name="vision-supervisor")

    @property
    def pid(self) -> int | None:
        """The running child's process id."""
        return self._process.pid if self._process is not None else None

    def health(self) -> dict[str, Any]:
        """The vision process and its components (cameras, models), for status and telemetry."""
        return {
            "state": self.state,
            "pid": self.pid,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "error": self.last_error,
            "components": dict(self.components),
        }

    def request(self, message: dict[str, Any]) -> bool:
        """Send a request to the running child (answered through `on_message`); False if none.

        Requests are small and few (the caller bounds how many are outstanding), so the
        write never fills the pipe and never blocks, even on a hung child.
        """
        with self._requests_lock:
            if self._requests is None:
                return False
            try:
                self._requests.send(message)
            except (BrokenPipeError, EOFError, OSError):
                return False
        return True

    def alive(self) -> bool:
        """Whether the supervising thread runs (the child itself may be restarting)."""
        return self._thread.is_alive()

    def start(self) -> None:
        """Start the supervising thread (which starts the child)."""
        self._thread.start()

    def close(self) -> None:
        """Stop the child (terminate, then kill) and join the thread."""
        self.stop.set()
        self._thread.join()

    def _supervise(self) -> None:
        failures = 0
        while not self.stop.is_set():
            started = time.monotonic()
            self._run_once()
            if self.stop.is_set():
                break
            # A child that ran a good while before failing starts the backoff afresh.
            failures = 1 if time.monotonic() - started > self.backoff.max_s else failures + 1
            self.restarts += 1
            self.state = "failed" if self.last_exit == EXIT_MODEL_FAILED else "restarting"
            delay = self.backoff.delay(failures)
            log.warning("vision process ended (%s); restarting in %.1f s", self.last_error, delay)
            self.stop.wait(delay)
        self.state = "stopped"

    def _run_once(self) -> None:
        receiver, sender = self._context.Pipe(duplex=False)
        their_requests, requests = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=main, args=(sender, self.spec, their_requests), name="edge-agent-vision"
        )
        process.start()
        sender.close()  # only the child writes; its end closing is how we see it die
        their_requests.close()
        self._process, self.state, self._child_error = process, "running", ""
        with self._requests_lock:
            self._requests = requests
        try:
            reason = self._pump(receiver, process)
            self.last_error = self._child_error or reason
        finally:
            with self._requests_lock:
                self._requests = None
            requests.close()
            receiver.close()
            _end(process)
            self.last_exit = process.exitcode
            self._process = None

    def _pump(self, receiver: Connection, process: SpawnProcess) -> str:
        """Forward messages until the child dies, hangs, or we are stopped; returns why."""
        last_heard = time.monotonic()
        while not self.stop.is_set():
            if not receiver.poll(min(HEARTBEAT_S, self.hang_s) / 2):
                if time.monotonic() - last_heard > self.hang_s:
                    return f"no heartbeat for {self.hang_s:.0f} s: killed"
                continue
            try:
                message = receiver.recv()
            except (EOFError, OSError):
                process.join(STOP_GRACE_S)
                return f"exited with code {process.exitcode}"
            last_heard = time.monotonic()
            self._handle(message)
        return "stopped"

    def _handle(self, message: dict[str, Any]) -> None:
        if message.get("type") == "health":
            self.components[str(message.get("component"))] = message
            if message.get("state") == "failed":
                self._child_error = str(message.get("error", ""))
        if message.get("type") != "heartbeat":
            self.on_message(message)


def _end(process: SpawnProcess) -> None:
    """Terminate a child, then kill it if it does not go (a SIGSTOPped child ignores TERM)."""
    if process.is_alive():
        process.terminate()
        process.join(STOP_GRACE_S)
    if process.is_alive():
        process.kill()
        process.join()
