"""The vision child process: cameras and models, results to the daemon over a pipe.

Runs at lower CPU priority in its own process (started with `spawn`, so it shares no
threads or locks with the daemon). Every message is a small dict; a heartbeat goes out at
least every `HEARTBEAT_S` so the supervisor can tell a hung child from a quiet one. The
daemon's requests (snapshots, aiming readings) come on a second pipe and are answered on
the first:

    {"type": "snapshot", "id": n, "camera": name | None, "blur": bool}
    -> {"type": "snapshot", "id": n, "camera", "ts", "faces", "size", "jpeg": bytes}
       or {"type": "snapshot", "id": n, "error": "..."}
    {"type": "aim", "id": n, "camera": name | None}
    -> {"type": "aim", "id": n, "cameras": [reading, ...]} (agent.vision.aim)
       or {"type": "aim", "id": n, "error": "..."}
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from agent.errors import AgentError
from agent.vision import models, plate_watch
from agent.vision.aim import AimMeter
from agent.vision.camera import Frame, Reconnecting, open_camera
from agent.vision.faces import SPECS, Face, FaceDetector
from agent.vision.image import Box
from agent.vision.motion import MotionConfig, MotionGate
from agent.vision.plate_watch import PlateOptions, PlateWatch
from agent.vision.regions import Polygon, Regions
from agent.vision.runtime import Model
from agent.vision.stills import Stills, face_crops, render

log = logging.getLogger(__name__)

HEARTBEAT_S = 1.0
EXIT_MODEL_FAILED = 3


@dataclass(frozen=True)
class CameraSpec:
    """One `[[cameras]]` table: a name and a source (`picamera2`, URL, folder or file)."""

    name: str
    source: str
    loop: bool = False
    max_fps: float = 5.0
    options: dict[str, Any] = field(default_factory=dict)  # picamera2: main_size, lores_size
    include: tuple[Polygon, ...] = ()
    exclude: tuple[Polygon, ...] = ()
    motion: MotionConfig | None = None  # None: detect on every frame


@dataclass(frozen=True)
class VisionSpec:
    """Everything the child needs, picklable: cameras, models and how to run them."""

    cameras: tuple[CameraSpec, ...]
    models_dir: Path = models.DEFAULT_MODELS_DIR
    manifest: Path = models.MANIFEST
    face_model: str = "blazeface-full"
    num_threads: int = 1
    nice: int = 10
    crops: bool = False  # send each face cut out as JPEG with the faces message
    plates: PlateOptions | None = None  # None: no plate pipeline (agent.vision.plate_watch)
    extra: dict[str, Any] = field(default_factory=dict)


def main(conn: Connection, spec: VisionSpec, requests: Connection | None = None) -> None:
    """Child entry point: lower priority, load models, run every camera until the pipe closes."""
    os.nice(spec.nice)
    send = _Sender(conn)
    try:
        detector = _face_detector(spec)
        plates = _plate_watch(spec)
    except AgentError as exc:
        send({"type": "health", "component": "models", "state": "failed", "error": str(exc)})
        raise SystemExit(EXIT_MODEL_FAILED) from exc
    send({"type": "health", "component": "models", "state": "ok", "error": ""})
    stop, stills, lock = threading.Event(), Stills(), threading.Lock()
    meter = AimMeter(plate_detector=plates is not None)

    def detect(frame: Frame) -> list[Face]:
        with lock:  # one interpreter, several cameras: LiteRT is not thread-safe
            return detector.detect(frame.image)

    shared = _Shared(
        detect=detect,
        send=send,
        stop=stop,
        stills=stills,
        meter=meter,
        crops=spec.crops,
        plates=plates,
    )
    threads = [
        threading.Thread(target=_run_camera, args=(c, shared), name=f"camera-{c.name}")
        for c in spec.cameras
    ]
    if requests is not None:
        threads.append(threading.Thread(target=_serve, args=(requests, shared), name="requests"))
    for thread in threads:
        thread.start()
    try:
        while not stop.is_set() and not send.broken:
            send({"type": "heartbeat", "ts": time.time()})
            stop.wait(HEARTBEAT_S)
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def _face_detector(spec: VisionSpec) -> FaceDetector:
    entry = models.find(models.load_manifest(spec.manifest), spec.face_model)
    path = models.require(entry, spec.models_dir)
    model = Model(path, name=entry.name, num_threads=spec.num_threads)
    model.warm_up()
    return FaceDetector(model, SPECS[entry.name])


def _plate_watch(spec: VisionSpec) -> PlateWatch | None:
    if spec.plates is None:
        return None
    return plate_watch.load(
        spec.plates,
        manifest=spec.manifest,
        models_dir=spec.models_dir,
        num_threads=spec.num_threads,
    )


@dataclass(frozen=True)
class _Shared:
    """What every camera thread of the child shares."""

    detect: Callable[[Frame], list[Face]]
    send: _Sender
    stop: threading.Event
    stills: Stills
    meter: AimMeter
    crops: bool
    plates: PlateWatch | None = None


def _run_camera(camera: CameraSpec, shared: _Shared) -> None:
    send, stop = shared.send, shared.stop
    try:
        source = Reconnecting(
            open_camera(camera.name, camera.source, loop=camera.loop, **camera.options),
            stop=stop,
            on_health=lambda h: send({"type": "health", "component": f"camera/{camera.name}", **h}),
        )
        regions = Regions(camera.include, camera.exclude)
        gate = None if camera.motion is None else MotionGate(camera.motion, roi=regions)
        interval = 1.0 / camera.max_fps if camera.max_fps > 0 else 0.0
        for frame in source.frames():
            started = time.monotonic()
            shared.meter.frame(camera.name, frame)
            if gate is None or gate.check(frame.image, frame.ts).run:
                faces = shared.detect(frame)
                shared.stills.offer(camera.name, frame, faces)  # all, so snapshots blur all
                counted = _inside(faces, regions, frame)
                send(_faces_message(camera.name, frame, counted, crops=shared.crops))
                plates = _plates(shared, camera.name, frame, regions, run=True)
                shared.meter.detected(camera.name, faces, plates)
            else:
                _plates(shared, camera.name, frame, regions, run=False)
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
        if shared.plates is not None:  # a file or folder ran out: end its plates' tracks
            for message in shared.plates.flush(camera.name):
                send(message)
    except Exception:
        log.exception("camera %s stopped", camera.name)
        stop.set()  # an unexpected error ends the child; the supervisor restarts it clean


def _plates(
    shared: _Shared, camera: str, frame: Frame, regions: Regions, *, run: bool
) -> list[Box]:
    """Plates on a detected frame, and the boxes of those found (full-resolution pixels); on
    a skipped one, only let lost tracks end."""
    if shared.plates is None:
        return []
    watch = shared.plates
    messages = watch.step(camera, frame, regions) if run else watch.idle(camera, frame)
    for message in messages:
        shared.send(message)
    return watch.seen(camera) if run else []


def _inside(faces: list[Face], regions: Regions, frame: Frame) -> list[Face]:
    if not (regions.include or regions.exclude):
        return faces
    size = (frame.image.shape[1], frame.image.shape[0])
    return [face for face in faces if regions.contains(face.box, size)]


def _faces_message(camera: str, frame: Frame, faces: list[Face], *, crops: bool) -> dict[str, Any]:
    message = {
        "type": "faces",
        "camera": camera,
        "ts": frame.ts,
        "seq": frame.seq,
        "size": [frame.image.shape[1], frame.image.shape[0]],
        "faces": [face.as_dict() for face in faces],
    }
    if crops and faces:
        message["crops"] = face_crops(camera, frame, faces)
    return message


def _serve(requests: Connection, shared: _Shared) -> None:
    """Answer the daemon's requests until it closes its end or the child stops."""
    while not shared.stop.is_set():
        try:
            if not requests.poll(HEARTBEAT_S / 4):
                continue
            request = requests.recv()
        except (EOFError, OSError):
            return
        if request.get("type") == "aim":
            shared.send(_aim(request, shared.meter))
        else:
            shared.send(_snapshot(request, shared.stills))


def _aim(request: dict[str, Any], meter: AimMeter) -> dict[str, Any]:
    reply = {"type": "aim", "id": request.get("id")}
    try:
        return {**reply, "cameras": meter.readings(request.get("camera"))}
    except AgentError as exc:
        return {**reply, "error": str(exc)}


def _snapshot(request: dict[str, Any], stills: Stills) -> dict[str, Any]:
    reply = {"type": "snapshot", "id": request.get("id")}
    try:
        still = stills.pick(request.get("camera"))
        jpeg = render(still, blur=bool(request.get("blur", True)))
    except AgentError as exc:
        return {**reply, "error": str(exc)}
    size = [still.frame.full.shape[1], still.frame.full.shape[0]]
    about = {"camera": still.camera, "ts": still.frame.ts, "faces": len(still.faces)}
    return {**reply, **about, "size": size, "jpeg": jpeg}


class _Sender:
    """Sends on the pipe from several threads; remembers when the daemon has gone."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self.broken = False

    def __call__(self, message: dict[str, Any]) -> None:
        with self._lock:
            if self.broken:
                return
            try:
                self._conn.send(message)
            except (BrokenPipeError, EOFError, OSError):
                self.broken = True
