"""Plate watch: the vision child's plate pipeline, detector to tracker, one tracker per camera.

Detect on the detection stream, keep the plates inside the camera's regions, box each again
and read it in the full-resolution image (`PlateDetector.refined`), and feed the camera's
`PlateTracker`. Each tracker event becomes one message to the daemon (agent.sightings turns
it into a `plate` event):

    {"type": "plate", "camera", "phase": "new" | "update" | "end",
     "plate": {TrackEvent.as_dict(), "series", "consonants", "number", "frame_size"},
     "jpeg": bytes | None}

`jpeg` is the track's best crop: on `new`, and on an `update` whose best crop is a
different, better one than the crop sent before.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.vision import models
from agent.vision.camera import Frame
from agent.vision.image import Box, Image
from agent.vision.plates import Detection, PlateDetector, PlateReader, PlateReading
from agent.vision.readings import Reading, split
from agent.vision.regions import Regions
from agent.vision.runtime import Model
from agent.vision.stills import jpeg
from agent.vision.tracker import PlateTracker, TrackerConfig, TrackEvent


@dataclass(frozen=True)
class PlateOptions:
    """`[vision]` plate keys as the child needs them (picklable)."""

    detector: str = "plate-detector"
    ocr: str = "plate-ocr"
    min_score: float = 0.3
    scales: tuple[float, ...] = (1.66, 0.5)
    flip: bool = False
    refine: bool = True
    look_score: float | None = 0.1
    min_confidence: float = 0.5
    deskew: bool = False
    views: int = 3
    park_s: float = TrackerConfig().park_s
    track_score: float = TrackerConfig().min_score


def load(
    options: PlateOptions, *, manifest: Path, models_dir: Path, num_threads: int
) -> PlateWatch:
    """Load both models from the manifest (ModelError when missing or mismatching)."""
    entries = models.load_manifest(manifest)
    loaded = []
    for name in (options.detector, options.ocr):
        entry = models.find(entries, name)
        model = Model(models.require(entry, models_dir), name=name, num_threads=num_threads)
        model.warm_up()
        loaded.append(model)
    detector = PlateDetector(
        loaded[0],
        min_score=options.min_score,
        scales=options.scales,
        flip=options.flip,
        refine=options.refine,
        look_score=options.look_score,
    )
    return PlateWatch(
        detector,
        PlateReader(loaded[1], deskew=options.deskew, views=options.views),
        min_confidence=options.min_confidence,
        tracker=TrackerConfig(park_s=options.park_s, min_score=options.track_score),
    )


class PlateWatch:
    """Detector, reader and each camera's tracker; camera threads call `step` concurrently."""

    def __init__(
        self,
        detector: PlateDetector,
        reader: PlateReader,
        *,
        min_confidence: float = 0.5,
        tracker: TrackerConfig | None = None,
    ) -> None:
        self.detector, self.reader = detector, reader
        self.min_confidence = min_confidence
        self._config = tracker or TrackerConfig()
        self._lock = threading.Lock()  # one interpreter per model: LiteRT is not thread-safe
        self._trackers: dict[str, PlateTracker] = {}
        self._sent: dict[tuple[str, int], Reading] = {}  # the crop each track last sent
        self._seen: dict[str, list[Box]] = {}  # each camera's plates in its last detected frame

    def step(
        self, camera: str, frame: Frame, regions: Regions | None = None
    ) -> list[dict[str, Any]]:
        """Run the models on a frame; the messages for the tracker events it causes."""
        found = self.look(frame, regions)
        with self._lock:
            self._seen[camera] = [r.box for r in found]
        readings = [r for r in found if _confident(r, self.min_confidence)]
        return self._messages(camera, frame, self._tracker(camera).step(readings, frame.ts))

    def seen(self, camera: str) -> list[Box]:
        """The boxes, in full-resolution pixels, of every plate found in the camera's last
        frame that `step` ran on, read confidently or not (for the aim meter: how wide the
        plates are that the OCR gets)."""
        with self._lock:
            return list(self._seen.get(camera, []))

    def idle(self, camera: str, frame: Frame) -> list[dict[str, Any]]:
        """A frame the detectors skipped (no motion): only lets lost tracks end."""
        return self._messages(camera, frame, self._tracker(camera).step([], frame.ts))

    def flush(self, camera: str, frame: Frame | None = None) -> list[dict[str, Any]]:
        """The camera stopped: end its tracks."""
        return self._messages(camera, frame, self._tracker(camera).flush())

    def read(self, frame: Frame, regions: Regions | None = None) -> list[PlateReading]:
        """The plates in a frame that are inside the regions and read confidently enough."""
        return [r for r in self.look(frame, regions) if _confident(r, self.min_confidence)]

    def look(self, frame: Frame, regions: Regions | None = None) -> list[PlateReading]:
        """Every plate in a frame that is inside the regions, read however confidently."""
        height, width = frame.image.shape[:2]
        full_h, full_w = frame.full.shape[:2]
        sx, sy = full_w / width, full_h / height
        with self._lock:
            found = [
                Detection(_scaled(d.box, sx, sy), d.score)
                for d in self.detector.detect(frame.image)
                if _inside(d, regions, frame)
            ]
            floor = self.min_confidence
            return [
                self.reader.read(frame.full, d.box, score=d.score, ts=frame.ts, floor=floor)
                for d in self.detector.refined(frame.full, found)
            ]

    def _tracker(self, camera: str) -> PlateTracker:
        with self._lock:
            return self._trackers.setdefault(camera, PlateTracker(self._config))

    def _messages(
        self, camera: str, frame: Frame | None, events: list[TrackEvent]
    ) -> list[dict[str, Any]]:
        return [self._message(camera, frame, event) for event in events]

    def _message(self, camera: str, frame: Frame | None, event: TrackEvent) -> dict[str, Any]:
        series, consonants, number = split(event.registration)
        plate = {**event.as_dict(), "series": series, "consonants": consonants, "number": number}
        if frame is not None:
            plate["frame_size"] = [frame.full.shape[1], frame.full.shape[0]]
        key = (camera, event.track_id)
        crop = None
        if event.phase == "end":
            self._sent.pop(key, None)
        elif (pixels := _fresh_crop(event.best, self._sent.get(key))) is not None:
            crop, self._sent[key] = jpeg(pixels, camera), event.best
        return {
            "type": "plate",
            "camera": camera,
            "phase": event.phase,
            "plate": plate,
            "jpeg": crop,
        }


def _inside(detection: Detection, regions: Regions | None, frame: Frame) -> bool:
    if regions is None or not (regions.include or regions.exclude):
        return True
    return regions.contains(detection.box, (frame.image.shape[1], frame.image.shape[0]))


def _scaled(box: Box, sx: float, sy: float) -> Box:
    return box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy


def _confident(reading: PlateReading, floor: float) -> bool:
    """A reading counts when its characters' mean confidence reaches `floor`."""
    confidences = reading.char_confidences
    return bool(confidences) and sum(confidences) / len(confidences) >= floor


def _fresh_crop(best: Reading, sent: Reading | None) -> Image | None:
    """`best`'s crop when it is worth sending: the first, or better than the one sent."""
    if not isinstance(best, PlateReading) or best.crop is None:
        return None
    if sent is None or (best is not sent and best.quality > sent.quality):
        return best.crop
    return None
