"""Sightings: what the vision process reports, turned into events, health and snapshots.

The daemon's side of the vision child (DESIGN §2). The supervisor's callback only enqueues;
the main loop drains the queue (`tick`) into `face` and `plate` events (priority 2; a plate
on the hotlist 1, agent.plate_events), reports a child that died or hung as a `vision` event
(priority 1), and hands replies to snapshot and aiming requests to agent.snapshots, which
also asks for a snapshot when an SOS alarm is raised. Imported only when `[vision] enabled`,
so the SOS core runs without numpy, OpenCV or LiteRT.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from agent.commands import HOTLIST_KEY
from agent.config import CameraConfig, VisionConfig
from agent.errors import ModelError
from agent.events import PRIORITY_DETECTION, PRIORITY_FAULT, Event, Media, utc_timestamp
from agent.plate_events import PlateEvents
from agent.snapshots import AIM_TIMEOUT_S, SNAPSHOT_TIMEOUT_S, Snapshots
from agent.vision import models
from agent.vision.motion import MotionConfig
from agent.vision.plate_watch import PlateOptions
from agent.vision.process import VisionSupervisor
from agent.vision.worker import CameraSpec, VisionSpec

INBOX_MAX = 1000
REPEAT_FAULT_S = 3600.0  # the same vision failure is reported again at most this often


class Store(Protocol):
    """The outbox as sightings see it."""

    def add(self, event: Event, *, media: Sequence[Media] = ()) -> object: ...

    def get_state(self, key: str) -> Any: ...


def spec_of(vision: VisionConfig, cameras: Sequence[CameraConfig]) -> VisionSpec:
    """What the vision child needs from `[vision]` and `[[cameras]]`."""
    return VisionSpec(
        cameras=tuple(camera_spec(c) for c in cameras),
        models_dir=vision.models_dir,
        face_model=vision.face_model,
        num_threads=vision.num_threads,
        nice=vision.nice,
        crops=vision.faces == "crops",
        plates=_plates(vision),
    )


def _plates(vision: VisionConfig) -> PlateOptions | None:
    if not vision.plates:
        return None
    return PlateOptions(
        detector=vision.plate_detector,
        ocr=vision.plate_ocr,
        min_score=vision.min_plate_score,
        scales=vision.plate_scales,
        min_confidence=vision.min_plate_confidence,
        flip=vision.plate_flip,
        refine=vision.plate_refine,
        look_score=vision.plate_look_score,
        deskew=vision.plate_deskew,
        views=vision.plate_ocr_views,
        park_s=vision.plate_park_s,
        track_score=vision.plate_track_score,
    )


def camera_spec(camera: CameraConfig) -> CameraSpec:
    """A `[[cameras]]` table as the vision child runs it."""
    sizes = {"main_size": camera.main_size, "lores_size": camera.lores_size}
    motion = MotionConfig(
        threshold=camera.motion_threshold,
        pixel_delta=camera.motion_pixel_delta,
        hold_frames=camera.motion_hold_frames,
        force_every_s=camera.motion_force_every_s,
    )
    return CameraSpec(
        name=camera.name,
        source=camera.source,
        loop=camera.loop,
        max_fps=camera.max_fps,
        options={key: value for key, value in sizes.items() if value is not None},
        include=camera.include,
        exclude=camera.exclude,
        motion=motion if camera.motion else None,
    )


class Sightings:
    """The vision process as the daemon sees it: face events, health, snapshots."""

    def __init__(
        self,
        *,
        vision: VisionConfig,
        cameras: Sequence[CameraConfig],
        store: Store,
        alarm: Callable[[], dict[str, Any]],
        attach: Callable[[str, Sequence[Media]], None],
        supervisor: Callable[..., VisionSupervisor] = VisionSupervisor,
    ) -> None:
        self.vision = vision
        self.cameras = [camera.name for camera in cameras]
        self._store = store
        self._inbox: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=INBOX_MAX)
        self._last_sent: dict[str, tuple[int, float]] = {}  # camera: (faces, when)
        self._reported: tuple[int, str, float] = (0, "", 0.0)  # restarts, error, when
        self.dropped = 0
        self._plate_events = PlateEvents(hotlist=lambda: store.get_state(HOTLIST_KEY))
        self.supervisor = supervisor(
            spec_of(vision, cameras), on_message=self._enqueue, hang_s=vision.hang_s
        )
        self._snapshots = Snapshots(
            vision=vision,
            cameras=self.cameras,
            supervisor=self.supervisor,
            alarm=alarm,
            attach=attach,
            why=self._why,
        )

    # --- lifecycle (the composition root) ------------------------------------------------

    def start(self) -> None:
        """Start supervising the vision child (after the alarm has resumed a latched alarm:
        a resumed alarm already had its chance at a snapshot)."""
        self._snapshots.start()
        self.supervisor.start()

    def close(self) -> None:
        """Stop the child and the supervising thread."""
        self.supervisor.close()

    def alive(self) -> bool:
        """Whether the supervising thread runs (the child itself may be restarting)."""
        return self.supervisor.alive()

    def _enqueue(self, message: dict[str, Any]) -> None:
        """The supervisor's callback: enqueue and return, never block."""
        try:
            self._inbox.put_nowait(message)
        except queue.Full:
            self.dropped += 1

    # --- the main loop ----------------------------------------------------------------------

    def tick(self) -> None:
        """Drain the child's messages, report restarts, and watch for a new alarm."""
        while True:
            try:
                message = self._inbox.get_nowait()
            except queue.Empty:
                break
            if message.get("type") == "faces":
                self._faces(message)
            elif message.get("type") == "plate":
                event, media = self._plate_events.event(message)
                self._store.add(event, media=media)
            elif message.get("type") in ("snapshot", "aim"):
                self._snapshots.arrived(message)
        self._report_restart()
        self._snapshots.expire()
        self._snapshots.watch_alarm()

    def _faces(self, message: dict[str, Any]) -> None:
        mode, floor = self.vision.faces, self.vision.min_face_quality
        if mode == "none":
            return
        kept = [
            (face, crop)
            for face, crop in zip(message["faces"], _crops(message), strict=True)
            if face["quality"]["overall"] >= floor
        ]
        camera, now = str(message["camera"]), time.monotonic()
        count, when = self._last_sent.get(camera, (0, 0.0))
        if len(kept) == count and (not kept or now - when < self.vision.face_event_s):
            return  # same count as last sent: one event per `face_event_s` while present
        self._last_sent[camera] = (len(kept), now)
        faces = [_face(face, mode, i, crop is not None) for i, (face, crop) in enumerate(kept)]
        media = [Media(f"face-{i}.jpg", crop) for i, (_, crop) in enumerate(kept) if crop]
        data = {"camera": camera, "frame_ts": utc_timestamp(message["ts"]), "count": len(kept)}
        if mode == "crops":
            data["frame_size"] = message["size"]
        event = Event(kind="face", priority=PRIORITY_DETECTION, data={**data, "faces": faces})
        self._store.add(event, media=media)

    def _report_restart(self) -> None:
        health = self.supervisor.health()
        restarts, error = health["restarts"], health["error"]
        seen, last_error, when = self._reported
        if restarts == seen:
            return
        now = time.monotonic()
        report = error != last_error or now - when >= REPEAT_FAULT_S
        self._reported = (restarts, error, now if report else when)
        if not report:
            return  # the same failure again: counted in status, not sent every minute
        data = {"problem": "vision process restarted", "error": error, "restarts": restarts}
        data["last_exit"] = health["last_exit"]
        self._store.add(Event(kind="vision", priority=PRIORITY_FAULT, data=data))

    # --- snapshots (agent.snapshots) -------------------------------------------------------

    def snapshot(self, camera: str | None, timeout: float = SNAPSHOT_TIMEOUT_S) -> dict[str, Any]:
        """A JPEG from the running camera (a control-socket thread waits here, not the loop)."""
        return self._snapshots.snapshot(camera, timeout)

    def aim(self, camera: str | None, timeout: float = AIM_TIMEOUT_S) -> list[dict[str, Any]]:
        """Aiming readings of one camera or of all (`camera aim`; agent.vision.aim)."""
        return self._snapshots.aim(camera, timeout)

    # --- health (status, telemetry, selftest) ------------------------------------------------

    def health(self) -> dict[str, Any]:
        """The vision device for status and telemetry; `up` and `condition` feed its health."""
        health = self.supervisor.health()
        problem = self._problem(health)
        return {
            "up": problem is None,
            "condition": "ok" if problem is None else problem[0],
            "last_down_reason": None if problem is None else problem[1],
            "faces": self.vision.faces,
            "dropped": self.dropped,
            **health,
        }

    def checks(self) -> dict[str, tuple[bool, str]]:
        """The vision part of `selftest`: the process, the model files, every camera."""
        health = self.supervisor.health()
        components = health["components"]
        results = {"vision": (health["state"] == "running", self._why())}
        results["models"] = self._models_check(components.get("models"))
        for name in self.cameras:
            camera = components.get(f"camera/{name}") or {"state": "no frame yet", "error": ""}
            ok = camera["state"] == "ok"
            detail = f"{camera.get('frames', 0)} frames" if ok else camera["error"]
            results[f"camera/{name}"] = (ok, detail or str(camera["state"]))
        return results

    def _models_check(self, loaded: dict[str, Any] | None) -> tuple[bool, str]:
        vision = self.vision
        names: list[str] = [vision.face_model]
        if vision.plates:
            names += [vision.plate_detector, vision.plate_ocr]
        try:
            manifest = models.load_manifest()
            entries = [models.find(manifest, name) for name in names]
        except ModelError as exc:
            return False, str(exc)
        for check in models.verify(entries, vision.models_dir):
            if not check.ok:
                return False, check.detail
        which = ", ".join(names)
        if loaded is None or loaded.get("state") != "ok":
            problem = "not loaded yet" if loaded is None else loaded.get("error")
            return False, f"{which}: sha256 ok, but the vision process: {problem}"
        return True, f"{which}: sha256 ok, loaded and run once by the vision process"

    def _problem(self, health: dict[str, Any]) -> tuple[str, str] | None:
        components = health["components"]
        loaded = components.get("models", {})
        if loaded.get("state") == "failed":  # until a fixed model loads: not a passing glitch
            return "failed", str(loaded.get("error"))
        if health["state"] == "failed":
            return "failed", self._why()
        if health["state"] != "running":
            return "degraded", self._why()
        for name in self.cameras:
            camera = components.get(f"camera/{name}", {})
            if camera.get("state", "ok") not in ("ok", "starting"):
                return "degraded", f"camera {name}: {camera.get('error') or camera['state']}"
        return None

    def _why(self) -> str:
        health = self.supervisor.health()
        if health["state"] == "running":
            return f"running, pid {health['pid']}, {health['restarts']} restart(s)"
        return f"{health['state']}: {health['error'] or 'no error'}"


def _crops(message: dict[str, Any]) -> list[bytes | None]:
    crops: list[bytes | None] = list(message.get("crops") or [])
    return crops + [None] * (len(message["faces"]) - len(crops))


def _face(face: dict[str, Any], mode: str, index: int, cropped: bool) -> dict[str, Any]:
    """One face of a `face` event: `counts` carries no box (where someone stands stays local)."""
    kept = {"score": face["score"], "quality": face["quality"]}
    if mode == "crops":
        kept = {"box": face["box"], **kept}
    if cropped:
        kept["crop"] = f"face-{index}.jpg"
    return kept
