"""The vision child process: cameras and models, results to the daemon over a pipe.

Runs at lower CPU priority in its own process (started with `spawn`, so it shares no
threads or locks with the daemon). Every message is a small dict; a heartbeat goes out at
least every `HEARTBEAT_S` so the supervisor can tell a hung child from a quiet one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from agent.errors import AgentError
from agent.vision import models
from agent.vision.camera import Frame, Reconnecting, open_camera
from agent.vision.faces import SPECS, FaceDetector
from agent.vision.runtime import Model

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


@dataclass(frozen=True)
class VisionSpec:
    """Everything the child needs, picklable: cameras, models and how to run them."""

    cameras: tuple[CameraSpec, ...]
    models_dir: Path = models.DEFAULT_MODELS_DIR
    manifest: Path = models.MANIFEST
    face_model: str = "blazeface-full"
    num_threads: int = 1
    nice: int = 10
    extra: dict[str, Any] = field(default_factory=dict)


def main(conn: Connection, spec: VisionSpec) -> None:
    """Child entry point: lower priority, load models, run every camera until the pipe closes."""
    os.nice(spec.nice)
    send = _Sender(conn)
    try:
        detector = _face_detector(spec)
    except AgentError as exc:
        send({"type": "health", "component": "models", "state": "failed", "error": str(exc)})
        raise SystemExit(EXIT_MODEL_FAILED) from exc
    send({"type": "health", "component": "models", "state": "ok", "error": ""})
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=_run_camera, args=(c, detector, send, stop), name=f"camera-{c.name}"
        )
        for c in spec.cameras
    ]
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


def _run_camera(
    camera: CameraSpec, detector: FaceDetector, send: _Sender, stop: threading.Event
) -> None:
    try:
        source = Reconnecting(
            open_camera(camera.name, camera.source, loop=camera.loop),
            stop=stop,
            on_health=lambda h: send({"type": "health", "component": f"camera/{camera.name}", **h}),
        )
        interval = 1.0 / camera.max_fps if camera.max_fps > 0 else 0.0
        for frame in source.frames():
            started = time.monotonic()
            send(_faces_message(camera.name, frame, detector))
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
    except Exception:
        log.exception("camera %s stopped", camera.name)
        stop.set()  # an unexpected error ends the child; the supervisor restarts it clean


def _faces_message(camera: str, frame: Frame, detector: FaceDetector) -> dict[str, Any]:
    faces = detector.detect(frame.image)
    return {
        "type": "faces",
        "camera": camera,
        "ts": frame.ts,
        "seq": frame.seq,
        "faces": [face.as_dict() for face in faces],
    }


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
