"""Measure the int8 plate models: held-out synthetic sets and a folder of labelled photos.

    .venv/bin/python -m models.plates.evaluate --ocr-data build/plates/ocr_val.npz [--views 3] \
        --scenes build/plates/scenes_val.npz [--scales 1,0.5] [--wide 300 [--wide-seed 5] \
        [--wide-size 1920x1080]] [--approach 200 [--approach-seed 12]] [--parked 100] \
        [--crossing 100 [--crossing-seed 13]] [--track-score 0.45] \
        [--refine | --no-refine] [--look-score 0.1] --real ../shared/data/plates \
        --reference ../shared/models/reference-plate-detector/ssdlite_plate_uint8.tflite

``--wide`` also reads those pole-camera frames end to end as the vision child does
(``runtime_reading``); ``--approach`` tracks cars coming towards the camera and scores the
events (``runtime_tracks``), ``--crossing`` two cars passing each other
(``runtime_crossings``); ``--parked`` counts the events of parked cars that passing traffic
sets the detectors off for (``runtime_parked``); all three report a plate as the tracker
does, once one of its readings was detected at ``--track-score``. Prints one JSON object.
The reference detector is a yardstick for the real photos only; it is never shipped. Real
registrations are never printed unless ``--details`` is given (they are personal data: keep
them local).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.cli_plates import add_views, score_arg
from agent.config import VisionConfig
from agent.vision import plate_text
from models.plates import metrics, pipeline, real
from models.plates.alphabet import decode

if TYPE_CHECKING:
    from agent.vision.camera import Frame
    from agent.vision.plate_watch import PlateWatch
    from agent.vision.plates import PlateDetector

MODELS = Path(__file__).parent
CLOSE_PX = 150  # scenes.place_plate: other plates are 14-150 px wide, close-ups 120-245
#: Plate widths in a pole camera's 1280 px frame (scenes.WIDE_PLATES), by which recall is split.
WIDE_BANDS = {
    "to_60_px": (-math.inf, 60.0),
    "60_to_120_px": (60.0, 120.0),
    "over_120_px": (120.0, math.inf),
}
WIDE_SEED = 5
APPROACH_SEED = 12
CROSSING_SEED = 13
#: A parked car read while traffic passes it (``runtime_parked``): passes, seconds apart, of
#: frames at 10 fps, then frames that motion gating skips until the next.
PARKED_PASSES, PARKED_APART_S, PARKED_FRAMES = 3, 20.0, 15
PARKED_NOISE = 3.0  # grey levels: each frame's own sensor noise, so no two are alike
#: The width of a Pi camera's detection stream (agent.vision.camera_picamera2.DEFAULT_LORES):
#: pole-camera frames are read end to end from their plates found in the frame shrunk to it.
STREAM_WIDTH = 640
#: Plates whose box comes this near the frame's edge are cut by it; recall is split so too.
EDGE_PX = 1.0
EDGE_SPLIT = ("cut_by_the_edge", "whole_in_frame")
#: The held-out scenes' plates: close-ups and the rest, and by width in the 256 px input.
SCENE_BANDS = {
    "close_ups": (CLOSE_PX, math.inf),
    "others": (-math.inf, CLOSE_PX),
    "under_18_px": (-math.inf, 18.0),
    "18_to_32_px": (18.0, 32.0),
    "32_to_48_px": (32.0, 48.0),
    "48_to_110_px": (48.0, 110.0),
    "over_110_px": (110.0, math.inf),
}


def synthetic_ocr(reader: pipeline.PlateReader, path: Path) -> dict[str, Any]:
    """OCR on held-out synthetic crops (constrained and greedy decoding)."""
    data = np.load(path)
    truths = _truths(data["labels"])
    reads, greedy, prov_ok = [], [], []
    for image, province in zip(data["images"], data["provinces"], strict=True):
        out = reader.ocr(image)
        probs = plate_text.softmax(out[len(plate_text.OCR_CLASSES) + 1])
        reads.append(plate_text.constrained(probs).text)
        greedy.append(plate_text.greedy(probs).text)
        prov_ok.append(int(np.argmax(out[len(plate_text.PROVINCES)])) == int(province))
    result = metrics.ocr_metrics(truths, reads, prov_ok)
    result["registration_exact_greedy"] = metrics.ocr_metrics(truths, greedy, [])[
        "registration_exact"
    ]
    return result


def _truths(labels: np.ndarray) -> list[str]:
    """The registrations of a held-out set's CTC label rows (padded with -1)."""
    return [decode([int(v) for v in row if v >= 0]) for row in labels]


def runtime_ocr(ocr: Path, path: Path, views: int) -> dict[str, Any]:
    """The runtime's reader (``agent.vision.plates``, ``views`` reads of each crop, as
    ``vision.plate_ocr_views``) on held-out synthetic crops, and its mean time a crop."""
    from agent.vision.plates import PlateReader  # noqa: PLC0415 - OpenCV
    from agent.vision.runtime import Model  # noqa: PLC0415

    runtime = PlateReader(Model(ocr, name="plate-ocr"), views=views)
    data = np.load(path)
    truths = _truths(data["labels"])
    reads, prov_ok, spent = [], [], []
    for image, province in zip(data["images"], data["provinces"], strict=True):
        start = time.perf_counter()
        text = runtime.ocr(image)
        spent.append(time.perf_counter() - start)
        reads.append(text.registration.text)
        prov_ok.append(text.province == plate_text.PROVINCES[int(province)])
    result = metrics.ocr_metrics(truths, reads, prov_ok) | {"views": views}
    result["ms_per_crop"] = round(1000 * float(np.mean(spent)), 3)
    result["views_per_crop"] = round(runtime.invokes / max(1, len(reads)), 3)
    return result


Frames = Iterator[tuple[np.ndarray, list[tuple[float, ...]]]]


def scenes(path: Path) -> Frames:
    """Each held-out scene and its true boxes (the zero padding dropped)."""
    data = np.load(path)
    for image, boxes in zip(data["images"], data["boxes"], strict=True):
        yield image, [tuple(float(v) for v in b) for b in boxes if b[2] > 0]


def synthetic_detection(reader: pipeline.PlateReader, path: Path) -> dict[str, Any]:
    """Detection recall and precision at IoU 0.5 on held-out synthetic scenes."""
    counts = []
    for image, truth in scenes(path):
        counts.append(metrics.detection_counts([d.box for d in reader.detect(image)], truth))
    return metrics.rates(counts)


def wide_scenes(
    count: int, seed: int = WIDE_SEED, size: tuple[int, int] | None = None
) -> Iterator[Any]:
    """``count`` pole-camera frames of ``size`` (``scenes.wide_scene``, by default its
    ``WIDE_FRAME``; plates scaled with the width), made as they are measured."""
    from models.plates import scenes as made  # noqa: PLC0415 - the renderer and its fonts

    rng = np.random.default_rng(seed)
    for _ in range(count):
        yield made.wide_scene(rng, size or made.WIDE_FRAME)


def wide_frames(count: int, seed: int = WIDE_SEED, size: tuple[int, int] | None = None) -> Frames:
    """``wide_scenes``' images and their true boxes."""
    for frame in wide_scenes(count, seed, size):
        yield frame.image, [tuple(float(v) for v in b) for b in frame.boxes]


def runtime_detection(
    runtime: PlateDetector, frames: Frames, bands: dict[str, tuple[float, float]]
) -> dict[str, Any]:
    """The runtime's detector (``agent.vision.plates``, one pass per scale, and where it
    refines a second look at each plate found; ``runtime_detector``) on ``frames``.

    Recall is also given for each band of plate widths in ``bands`` (over the low end, up to
    the high one), for the plates cut by the frame's edge (``EDGE_PX``; the generator keeps a
    plate of which 60 % shows) and those whole in it, each plate matched on its own, and the
    mean time ``detect`` took a frame.
    """

    counts, found, spent = [], {name: [0, 0] for name in [*bands, *EDGE_SPLIT]}, []
    for image, truth in frames:
        start = time.perf_counter()
        seen = [d.box for d in runtime.refined(image, runtime.detect(image))]
        spent.append(time.perf_counter() - start)
        counts.append(metrics.detection_counts(seen, truth))
        height, width = image.shape[:2]
        for box in truth:
            matched = metrics.detection_counts(seen, [box])[2]
            cut = min(box[0], box[1], width - box[2], height - box[3]) <= EDGE_PX
            names = [n for n, (low, high) in bands.items() if low < box[2] - box[0] <= high]
            names.append(EDGE_SPLIT[0] if cut else EDGE_SPLIT[1])
            for name in names:
                found[name][0] += 1
                found[name][1] += matched
    result = metrics.rates(counts) | _settings(runtime)
    for name, (plates, matched) in found.items():
        result[f"recall_{name}"] = {"plates": plates, "matched": matched}
    result["ms_per_frame"] = round(1000 * float(np.mean(spent)), 2) if spent else None
    return result


def runtime_reading(
    runtime: PlateDetector,
    ocr: Path,
    frames: Iterator[Any],
    setup: PlateSetup | None = None,
) -> dict[str, Any]:
    """Pole-camera frames (``wide_scenes``) read end to end as the vision child reads them
    (``agent.vision.plate_watch.PlateWatch.read``): detected in the frame shrunk to a
    detection stream ``STREAM_WIDTH`` px wide, each plate found boxed again in the full frame
    (where ``runtime`` refines) and read there, readings under the default
    ``vision.min_plate_confidence`` dropped. A plate is found when a reading's box overlaps it
    at IoU 0.5, each reading matched to one plate at most (``metrics.match``); registrations
    and provinces are scored over all plates, and the readings that match no plate counted.
    """
    setup = setup or PlateSetup()
    watch = setup.watch(runtime, ocr)
    plates = found = exact = provinces = read = 0
    for index, scene in enumerate(frames):
        readings = watch.read(_camera_frame(scene.image, index, float(index)))
        truths = [tuple(float(v) for v in box) for box in scene.boxes]
        matched = metrics.match([r.box for r in readings], truths)
        read += len(readings)
        for index_of, spec in zip(matched, scene.plates, strict=True):
            plates += 1
            if index_of < 0:
                continue
            reading = readings[index_of]
            found += 1
            exact += _says(reading.text, spec)
            provinces += reading.province == plate_text.PROVINCES[spec.province]
    return {
        "plates": plates,
        "found": found,
        "readings": read,
        "readings_unmatched": read - found,
        "registration_exact": exact / plates if plates else None,
        "province_accuracy": provinces / plates if plates else None,
    } | setup.report(runtime, tracked=False)


def runtime_detector(
    path: Path,
    threshold: float,
    scales: tuple[float, ...],
    *,
    flip: bool = False,
    refine: bool = False,
    look_score: float | None = None,
) -> PlateDetector:
    """The runtime's ``PlateDetector`` on the detector file at ``path``."""
    from agent.vision.plates import PlateDetector  # noqa: PLC0415 - OpenCV
    from agent.vision.runtime import Model  # noqa: PLC0415

    model = Model(path, name="plate-detector")
    return PlateDetector(
        model, min_score=threshold, scales=scales, flip=flip, refine=refine, look_score=look_score
    )


def approaches(
    count: int, seed: int = APPROACH_SEED, size: tuple[int, int] | None = None
) -> Iterator[Any]:
    """``count`` clips of a car coming towards a pole camera (``scenes.approach``)."""
    return _clips("approach", count, seed, size)


def _clips(kind: str, count: int, seed: int, size: tuple[int, int] | None) -> Iterator[Any]:
    """``count`` clips made by ``scenes.<kind>``, at ``size`` (a pole camera's frame)."""
    from models.plates import scenes as made  # noqa: PLC0415 - the renderer and its fonts

    rng = np.random.default_rng(seed)
    for _ in range(count):
        yield getattr(made, kind)(rng, size or made.WIDE_FRAME)


def runtime_tracks(
    runtime: PlateDetector,
    ocr: Path,
    clips: Iterator[Any],
    setup: PlateSetup | None = None,
) -> dict[str, Any]:
    """Clips of one car each (``approaches``) run through the vision child's plate pipeline
    as a camera's frames at 10 fps (``PlateWatch.step``: detected in a ``STREAM_WIDTH`` px
    stream, read in the frame, tracked), and scored by what the events say, as the control
    room gets them: for each clip, whether some track's last registration (and province) is
    the car's, and how many tracks it made. A clip with no track is missed; tracks beyond
    the first are extra (a car split in two, or a false plate).
    """
    setup = setup or PlateSetup()
    watch = setup.watch(runtime, ocr)
    clips_seen = read = provinces = missed = extra = frames_to_read = 0
    for number, clip in enumerate(clips):
        shown = [scene.plates[0] for scene in clip if scene.plates]
        if not shown:  # the plate never showed: nothing to read
            continue
        camera, spec = f"clip-{number}", shown[0]
        clips_seen += 1
        last: dict[int, dict[str, Any]] = {}
        first_right: int | None = None
        for index, message in _played(watch, camera, clip):
            last[message["plate"]["track_id"]] = message["plate"]
            if first_right is None and _says(message["plate"]["registration"], spec):
                first_right = index
        right = [p for p in last.values() if _says(p["registration"], spec)]
        read += bool(right)
        provinces += any(p["province"] == plate_text.PROVINCES[spec.province] for p in right)
        missed += not last
        extra += max(0, len(last) - 1)
        # Over the cars read right: the frame whose event first said so.
        frames_to_read += first_right + 1 if right and first_right is not None else 0
    return {
        "clips": clips_seen,
        "registration_exact": read / clips_seen if clips_seen else None,
        "province_accuracy": provinces / clips_seen if clips_seen else None,
        "missed": missed,
        "extra_tracks": extra,
        "mean_frames_to_read": round(frames_to_read / read, 2) if read else None,
    } | setup.report(runtime)


def crossings(
    count: int, seed: int = CROSSING_SEED, size: tuple[int, int] | None = None
) -> Iterator[Any]:
    """``count`` clips of two cars passing each other across a pole camera's frame
    (``scenes.crossing``)."""
    return _clips("crossing", count, seed, size)


def runtime_crossings(
    runtime: PlateDetector,
    ocr: Path,
    clips: Iterator[Any],
    setup: PlateSetup | None = None,
) -> dict[str, Any]:
    """Clips of several cars each (``crossings``) run through the vision child's plate
    pipeline as ``runtime_tracks`` runs them, and scored by the events: the cars whose
    events (some track's last) give their registration exactly; tracks whose events gave
    the registrations of two of the clip's cars (one vehicle's track taken over by
    another's plate); tracks beyond one per car among those whose box was ever on a car's
    plate (a car split in two), and tracks that never were (clutter read as a plate).
    """
    from agent.vision.tracker import intersection  # noqa: PLC0415

    setup = setup or PlateSetup()
    watch = setup.watch(runtime, ocr)
    clips_seen = cars = read = swapped = split = elsewhere = 0
    for number, clip in enumerate(clips):
        specs = list({s.registration: s for scene in clip for s in scene.plates}.values())
        if not specs:
            continue
        camera = f"crossing-{number}"
        said: dict[int, list[str]] = {}
        on_a_car: set[int] = set()
        for index, message in _played(watch, camera, clip):
            plate = message["plate"]
            said.setdefault(plate["track_id"], []).append(plate["registration"])
            box = tuple(plate["box"])
            if any(intersection(box, tuple(float(v) for v in b)) > 0 for b in clip[index].boxes):
                on_a_car.add(plate["track_id"])
        clips_seen, cars = clips_seen + 1, cars + len(specs)
        read += sum(any(_says(texts[-1], spec) for texts in said.values()) for spec in specs)
        swapped += sum(
            sum(any(_says(text, spec) for text in texts) for spec in specs) > 1
            for texts in said.values()
        )
        split += max(0, len(on_a_car) - len(specs))
        elsewhere += len(said) - len(on_a_car)
    return {
        "clips": clips_seen,
        "cars": cars,
        "registration_exact": read / cars if cars else None,
        "tracks_with_two_cars": swapped,
        "extra_tracks_on_cars": split,
        "tracks_elsewhere": elsewhere,
    } | setup.report(runtime)


def runtime_parked(
    runtime: PlateDetector,
    ocr: Path,
    clips: Iterator[Any],
    setup: PlateSetup | None = None,
    *,
    seed: int = APPROACH_SEED,
) -> dict[str, Any]:
    """Parked cars, one per clip (``approaches``: a frame of it drawn at random among those
    that show the plate, over the clip's cluttered background), read while other traffic
    passes: ``PARKED_PASSES`` passes ``PARKED_APART_S`` apart, each ``PARKED_FRAMES`` frames
    at 10 fps that the vision child's plate pipeline runs on (``PlateWatch.step``), each with
    its own sensor noise, then frames that motion gating skips (``PlateWatch.idle``) until
    the next. Scored by the events, as the control room gets them: ``new`` events per car,
    cars whose events give the registration exactly, and the ``new`` events that are not the
    car's: on its plate (a pass read otherwise) and elsewhere (clutter read as a plate).
    """
    from agent.vision.tracker import intersection  # noqa: PLC0415

    setup = setup or PlateSetup()
    watch = setup.watch(runtime, ocr)
    rng = np.random.default_rng(seed)
    cars = read = new = misread = elsewhere = 0
    for number, clip in enumerate(clips):
        shown = [scene for scene in clip if scene.plates]
        if not shown:
            continue
        scene, camera = shown[int(rng.integers(len(shown)))], f"parked-{number}"
        cars += 1
        messages = []
        for index in range(PARKED_PASSES):
            start = index * PARKED_APART_S
            for step in range(PARKED_FRAMES):
                noise = rng.normal(0.0, PARKED_NOISE, scene.image.shape)
                image = np.clip(scene.image + noise, 0, 255).astype(np.uint8)
                frame = _camera_frame(image, step, start + step / 10)
                messages += watch.step(camera, frame)
            for step in range(1, 5):  # the traffic has gone: nothing moves
                frame = _camera_frame(scene.image, step, start + PARKED_FRAMES / 10 + step)
                messages += watch.idle(camera, frame)
        messages += watch.flush(camera)
        news = [m["plate"] for m in messages if m["phase"] == "new"]
        right = [m["plate"] for m in messages if _says(m["plate"]["registration"], scene.plates[0])]
        new += len(news)
        read += bool(right)
        truth = tuple(float(v) for v in scene.boxes[0])
        for plate in news:
            if not _says(plate["registration"], scene.plates[0]):
                on_it = intersection(tuple(plate["box"]), truth) > 0
                misread, elsewhere = misread + on_it, elsewhere + (not on_it)
    return {
        "cars": cars,
        "passes": PARKED_PASSES,
        "new_events_per_car": round(new / cars, 3) if cars else None,
        "registration_exact": read / cars if cars else None,
        "new_events_misread": misread,
        "new_events_elsewhere": elsewhere,
    } | setup.report(runtime)


def _played(
    watch: PlateWatch, camera: str, clip: list[Any]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``clip`` played to ``watch`` as ``camera``'s frames at 10 fps, then the camera
    stopped: each message with the index of the frame that caused it (the last frame's for
    the tracks that end as the camera stops)."""
    for index, scene in enumerate(clip):
        for message in watch.step(camera, _camera_frame(scene.image, index, index / 10)):
            yield index, message
    for message in watch.flush(camera):
        yield len(clip) - 1, message


@dataclass(frozen=True)
class PlateSetup:
    """The vision child's plate pipeline around the runtime detector measured: how often its
    reader reads a crop and how its tracker counts and parks plates (the runtime's defaults
    unless given)."""

    views: int = VisionConfig().plate_ocr_views
    park_s: float = VisionConfig().plate_park_s
    track_score: float = VisionConfig().plate_track_score

    def watch(self, runtime: PlateDetector, ocr: Path) -> PlateWatch:
        """The pipeline on ``runtime`` and the OCR file at ``ocr``."""
        from agent.vision.plate_watch import PlateWatch  # noqa: PLC0415 - OpenCV
        from agent.vision.plates import PlateReader  # noqa: PLC0415
        from agent.vision.runtime import Model  # noqa: PLC0415
        from agent.vision.tracker import TrackerConfig  # noqa: PLC0415

        return PlateWatch(
            runtime,
            PlateReader(Model(ocr, name="plate-ocr"), views=self.views),
            min_confidence=VisionConfig().min_plate_confidence,
            tracker=TrackerConfig(park_s=self.park_s, min_score=self.track_score),
        )

    def report(self, runtime: PlateDetector, *, tracked: bool = True) -> dict[str, Any]:
        """What a report says of the pipeline it measured (the tracker's part where it
        ``tracked``), ``_camera_frame``'s stream and ``runtime``."""
        tracker = {"park_s": self.park_s, "track_score": self.track_score} if tracked else {}
        stream = {"stream_width": STREAM_WIDTH, "views": self.views}
        return stream | tracker | _settings(runtime)


def _camera_frame(image: np.ndarray, index: int, ts: float) -> Frame:
    """``image`` as a Pi camera gives it: a ``STREAM_WIDTH`` px detection stream, and the
    image itself as the full-resolution main stream."""
    import cv2  # noqa: PLC0415 - OpenCV, as the runtime

    from agent.vision.camera import Frame  # noqa: PLC0415

    height, width = image.shape[:2]
    size = (STREAM_WIDTH, round(height * STREAM_WIDTH / width))
    stream = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
    return Frame(image=stream, ts=ts, seq=index, main=image)


def _says(registration: str, spec: Any) -> bool:
    """Whether a registration read is the one ``spec`` was rendered with."""
    return plate_text.normalise(registration) == plate_text.normalise(spec.registration)


def _settings(runtime: PlateDetector) -> dict[str, Any]:
    """What a report says of the runtime detector it measured."""
    return {
        "scales": list(runtime.scales),
        "flip": runtime.flip,
        "refine": runtime.refine,
        "score_floor": runtime.floor,
    }


def _scales(text: str) -> tuple[float, ...]:
    return tuple(float(part) for part in text.split(","))


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    try:
        size = int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"WIDTHxHEIGHT expected, got {text!r}") from None
    if min(size) < 256:
        raise argparse.ArgumentTypeError(f"a frame at least 256 px each way expected, got {text}")
    return size


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", type=Path, default=MODELS / "plate_detector.tflite")
    parser.add_argument("--ocr", type=Path, default=MODELS / "plate_ocr.tflite")
    parser.add_argument("--ocr-data", type=Path)
    parser.add_argument("--scenes", type=Path)
    parser.add_argument("--real", type=Path)
    parser.add_argument("--reference", type=Path)
    parser.add_argument("--threshold", type=float, default=0.3, help="detector peak score")
    parser.add_argument("--details", action="store_true", help="per-plate results (local only)")
    parser.add_argument(
        "--scales",
        type=_scales,
        help="with --scenes: also the runtime detector at S[,S...]; with --wide, those scales "
        "instead of the runtime's default (vision.plate_scales)",
    )
    add_views(parser)  # with --ocr-data: the runtime reader's
    parser.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        default=VisionConfig().plate_flip,
        help="the runtime detector also looks at each input mirrored (vision.plate_flip)",
    )
    parser.add_argument(
        "--refine",
        action=argparse.BooleanOptionalAction,
        default=VisionConfig().plate_refine,
        help="the runtime detector boxes each plate found again (vision.plate_refine)",
    )
    parser.add_argument(
        "--look-score",
        type=score_arg,
        default=VisionConfig().plate_look_score,
        help="with --refine: peaks from this score up are looked at again, those under "
        "--threshold kept where the second look confirms them (vision.plate_look_score)",
    )
    parser.add_argument(
        "--wide",
        type=int,
        metavar="N",
        help="N pole-camera frames (--wide-size): the runtime detector on each, and each read "
        "end to end as the vision child reads it",
    )
    parser.add_argument(
        "--wide-seed", type=int, default=WIDE_SEED, help="with --wide: the frames' seed"
    )
    for name, what, seed in (
        ("approach", "a car coming towards the camera", APPROACH_SEED),
        ("crossing", "two cars passing each other across the frame", CROSSING_SEED),
    ):
        parser.add_argument(
            f"--{name}",
            type=int,
            metavar="N",
            help=f"N clips of {what}, tracked; scored by their events",
        )
        parser.add_argument(
            f"--{name}-seed", type=int, default=seed, help=f"with --{name}: the seed"
        )
    parser.add_argument(
        "--parked",
        type=int,
        metavar="N",
        help="N parked cars (from --approach-seed's clips) read while traffic passes them; "
        "scored by their events",
    )
    parser.add_argument(
        "--park-s",
        type=float,
        default=VisionConfig().plate_park_s,
        help="with --approach, --crossing or --parked: how long a plate that stood still is "
        "kept after it went out of sight (vision.plate_park_s; 0 ends it like a passing car's)",
    )
    parser.add_argument(
        "--track-score",
        type=float,
        default=VisionConfig().plate_track_score,
        help="with --approach, --crossing or --parked: a plate is reported once one of its "
        "readings was detected at this score (vision.plate_track_score; 0: at any)",
    )
    parser.add_argument(
        "--wide-size",
        type=_size,
        metavar="WxH",
        help="with --wide or --approach: the frames' size, 1280x720 unless given (plates "
        "scaled with the width; end to end, the detection stream stays 640 px wide)",
    )
    return parser


def main() -> None:
    """Command line."""
    args = _parser().parse_args()
    reader = pipeline.PlateReader(args.detector, args.ocr, threshold=args.threshold)
    report: dict[str, Any] = {}
    views = args.views or VisionConfig().plate_ocr_views  # the runtime reader's
    setup = PlateSetup(views, args.park_s, args.track_score)
    if args.ocr_data:
        report["synthetic_ocr"] = synthetic_ocr(reader, args.ocr_data)
        report["synthetic_ocr_runtime"] = runtime_ocr(args.ocr, args.ocr_data, views)

    def runtime(scales: tuple[float, ...]) -> PlateDetector:
        return runtime_detector(
            args.detector,
            args.threshold,
            scales,
            flip=args.flip,
            refine=args.refine,
            look_score=args.look_score,
        )

    if args.scenes:
        report["synthetic_detection"] = synthetic_detection(reader, args.scenes)
        if args.scales:
            report["synthetic_detection_runtime"] = runtime_detection(
                runtime(args.scales), scenes(args.scenes), SCENE_BANDS
            )
    scales = args.scales or VisionConfig().plate_scales
    if args.wide:
        detector = runtime(scales)
        frames = wide_frames(args.wide, args.wide_seed, args.wide_size)
        report["wide_frames_runtime"] = runtime_detection(detector, frames, WIDE_BANDS)
        report["wide_frames_end_to_end"] = runtime_reading(
            detector, args.ocr, wide_scenes(args.wide, args.wide_seed, args.wide_size), setup
        )
    for name, score in (("approach", runtime_tracks), ("crossing", runtime_crossings)):
        if count := getattr(args, name):  # the clip options made from one template
            clips = _clips(name, count, getattr(args, f"{name}_seed"), args.wide_size)
            report[f"{name}_tracks"] = score(runtime(scales), args.ocr, clips, setup)
    if args.parked:
        report["parked_tracks"] = runtime_parked(
            runtime(scales),
            args.ocr,
            approaches(args.parked, args.approach_seed, args.wide_size),
            setup,
            seed=args.approach_seed,
        )
    if args.real and (args.real / "labels.jsonl").exists():
        report["real"] = real.evaluate(reader, args.real, args.reference, details=args.details)
    for name, model in (("detector", reader.detector), ("ocr", reader.ocr)):
        ms = model.timing.invoke_ms[5:] or model.timing.invoke_ms
        if ms:
            report[f"{name}_invoke_ms_p50"] = float(np.median(ms))
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
