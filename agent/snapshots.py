"""Snapshots: requests to the vision child for stills and aiming readings, and their replies.

A control-socket caller waits on its own thread for a snapshot or an aiming reading
(`camera aim`); the main loop (agent.sightings) hands every reply here, forgets requests a
hung or restarted child will never answer, and asks for a snapshot once per new SOS alarm,
attaching it when it comes: the alarm never waits for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from agent.config import VisionConfig
from agent.errors import HardwareError
from agent.events import Media
from agent.vision.process import VisionSupervisor

log = logging.getLogger(__name__)

MAX_OUTSTANDING = 4  # requests in flight: keeps the request pipe far from full
SNAPSHOT_TIMEOUT_S = 10.0
AIM_TIMEOUT_S = 5.0
ALARM_SNAPSHOT_FOR_S = 60.0  # an alarm's snapshot is asked for (and retried) this long
RETRY_S = 2.0

Waiter = Future[dict[str, Any]] | str  # a control-socket caller, or the id of an alarm


class Snapshots:
    """Requests in flight to the vision child: callers' snapshots and aims, alarm snapshots."""

    def __init__(
        self,
        *,
        vision: VisionConfig,
        cameras: Sequence[str],
        supervisor: VisionSupervisor,
        alarm: Callable[[], dict[str, Any]],
        attach: Callable[[str, Sequence[Media]], None],
        why: Callable[[], str],
    ) -> None:
        self._vision = vision
        self._cameras = cameras
        self._supervisor = supervisor
        self._alarm = alarm
        self._attach = attach
        self._why = why  # the child's state, for "not running" errors
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[float, Waiter]] = {}
        self._next_id = 0
        self._watched: tuple[str | None, float, bool] = (None, 0.0, True)  # id, since, done
        self._retry_at = 0.0

    def start(self) -> None:
        """Take the current alarm as seen: a resumed alarm already had its chance at a snapshot."""
        self._watched = (_alarm_id(self._alarm()), 0.0, True)

    def snapshot(self, camera: str | None, timeout: float = SNAPSHOT_TIMEOUT_S) -> dict[str, Any]:
        """A JPEG from the running camera (a control-socket thread waits here, not the loop)."""
        return self._call(self._snapshot_request(camera), "snapshot", timeout)

    def aim(self, camera: str | None, timeout: float = AIM_TIMEOUT_S) -> list[dict[str, Any]]:
        """Aiming readings of one camera or of all (`camera aim`; agent.vision.aim)."""
        reply = self._call({"type": "aim", "camera": camera}, "aiming reading", timeout)
        return list(reply["cameras"])

    def _call(self, request: dict[str, Any], what: str, timeout: float) -> dict[str, Any]:
        """Ask the child and wait for its reply (on a control-socket thread, not the loop)."""
        camera = request["camera"]
        if camera is not None and camera not in self._cameras:
            raise HardwareError(f"no camera {camera!r} (configured: {self._cameras})")
        waiter: Future[dict[str, Any]] = Future()
        if not self._ask(request, waiter):
            raise HardwareError(f"the vision process is not running ({self._why()})")
        try:
            reply = waiter.result(timeout)
        except TimeoutError:
            raise HardwareError(f"no {what} from the vision process in {timeout:g} s") from None
        if "error" in reply:
            raise HardwareError(str(reply["error"]))
        return reply

    def _snapshot_request(self, camera: str | None) -> dict[str, Any]:
        blur = self._vision.blur_faces_in_snapshots
        return {"type": "snapshot", "camera": camera, "blur": blur}

    def _ask(self, request: dict[str, Any], waiter: Waiter) -> bool:
        with self._lock:
            if len(self._pending) >= MAX_OUTSTANDING:
                return False
            self._next_id += 1
            request_id = self._next_id
            self._pending[request_id] = (time.monotonic() + SNAPSHOT_TIMEOUT_S, waiter)
        if self._supervisor.request({**request, "id": request_id}):
            return True
        with self._lock:
            self._pending.pop(request_id, None)
        return False

    def arrived(self, message: dict[str, Any]) -> None:
        """A `snapshot` or `aim` reply: wake its caller, or attach the still to its alarm."""
        with self._lock:
            _, waiter = self._pending.pop(message.get("id", -1), (0.0, None))
        if isinstance(waiter, Future):
            waiter.set_result(message)
        elif isinstance(waiter, str) and "jpeg" in message:
            self._attach(waiter, [Media("snapshot.jpg", message["jpeg"])])
            self._watched = (waiter, self._watched[1], True)
            log.info("snapshot from camera %s attached to alarm %s", message["camera"], waiter)
        elif isinstance(waiter, str):
            log.warning("no snapshot for alarm %s yet: %s", waiter, message.get("error"))

    def expire(self) -> None:
        """Forget requests past their deadline."""
        now = time.monotonic()
        with self._lock:
            for request_id in [i for i, (due, _) in self._pending.items() if due < now]:
                del self._pending[request_id]  # a hung or restarted child never answers

    def watch_alarm(self) -> None:
        """Ask for a snapshot once per new alarm, retrying while the child cannot answer."""
        alarm_id, since, done = self._watched
        now = time.monotonic()
        current = _alarm_id(self._alarm())
        if current is not None and current != alarm_id:
            alarm_id, since, done = self._watched = (current, now, False)
        if alarm_id is None or done or now - since > ALARM_SNAPSHOT_FOR_S or now < self._retry_at:
            return
        with self._lock:
            asked = alarm_id in (waiter for _, waiter in self._pending.values())
        if not asked and not self._ask(self._snapshot_request(None), alarm_id):
            self._retry_at = now + RETRY_S


def _alarm_id(state: dict[str, Any]) -> str | None:
    return str(state["id"]) if state.get("active") else None
