"""Vision model cost: pre-processing, invoke and post-processing per model against bare invoke.

Every model the vision child runs, on one 1280x720 frame of `tests/sample_clip.py` (the
car with its rendered Thai plate, the drawn face top right), one LiteRT thread, through the
runtime's own calls:

- blazeface-short, blazeface-full: `FaceDetector.detect` (letterbox straight into the input
  tensor; anchor decoding, weighted NMS, mapping back, face quality);
- plate-detector: `PlateDetector.detect` on the frame (grey, letterbox or tiles, quantise;
  peaks, boxes, NMS), with one pass, with `1,0.5` and with the default `vision.plate_scales`
  (one invoke per scale at most 1, one per tile above), plain and mirrored too
  (`vision.plate_flip`, twice the invokes); then `PlateDetector.refined` on the plate it
  found, the second look at it in the frame (`vision.plate_refine`, one invoke per plate);
  then the whole default: the passes keeping peaks from `vision.plate_look_score` up and
  the second look at each;
- plate-ocr, per plate: `PlateReader.read` on the plate's box in the frame (crop, deskew,
  stretch, quantise; softmax, format-constrained CTC decoding, province, sharpness, media
  crop), reading it once and with the default `vision.plate_ocr_views` (again zoomed in
  and out where the first read is not sure).

The stages are timed inside those calls: the model's `invoke` is wrapped, so pre-processing
is call -> invoke and post-processing is invoke -> return. The baseline is the same model's
bare `invoke()` on the same input, alternated with the real calls so both see the same load.
Target (vision issue): pre + post <= 0.5x bare invoke, per model.

`--detection-check` instead counts the faces BlazeFace finds in 720p frames (two public-
domain photos from scikit-image, pasted at several sizes and places into the clip's empty
road scene; three photos without people for false detections) when the frame is shrunk by
`agent.vision.image.shrink`, by its previous whole-number pre-shrink, by INTER_AREA alone,
or by bilinear alone: the evidence for `shrink`'s pre-shrink.

`--ocr-against FILE` instead times another OCR file beside the committed one, in turn on
the same plate: a candidate's cost against the model it would replace, in the same run.

    .venv/bin/python benchmarks/bench_vision_models.py [--runs N] [--detection-check]
        [--ocr-against FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from machine import describe

from agent.config import VisionConfig
from agent.vision import image, models
from agent.vision.faces import SPECS, FaceDetector
from agent.vision.image import Box, Image
from agent.vision.plate_eval import iou
from agent.vision.plates import Detection, PlateDetector, PlateReader
from agent.vision.runtime import Model
from tests import sample_clip
from tests.vision_fixtures import WHEEL_CACHE

MODELS_DIR = Path(__file__).resolve().parent.parent / ".cache" / "models"
OVERHEAD_TARGET = 0.5
# Faces labelled by eye in the scikit-image photos (/work/shared/data/faces/labels.jsonl).
FACES = {"astronaut": (165.0, 55.0, 277.0, 175.0), "camera": (175.0, 100.0, 255.0, 195.0)}
NO_FACES = ("chelsea", "coffee", "rocket")
# Face widths in the 720p frame around each model's limit (smaller ones are never found).
CHECK_WIDTHS = {
    "blazeface-full": (60, 80, 100, 120, 140, 170, 200),
    "blazeface-short": (140, 160, 180, 200, 260),
}


class Stages:
    """Wraps a model's `invoke` to split each call around it into pre, invoke and post (ms).

    A call may invoke the model more than once (the plate detector, one pass per scale):
    pre is call -> first invoke, invoke the sum of the invokes, post the rest, and the
    baseline is as many bare invokes.
    """

    def __init__(self, model: Model) -> None:
        self.model = model
        self.bare = model.invoke
        self.spans: list[tuple[float, float]] = []
        model.invoke = self._invoke  # type: ignore[method-assign]
        self.samples: dict[str, list[float]] = {"pre": [], "invoke": [], "post": [], "bare": []}

    def _invoke(self) -> None:
        started = time.perf_counter()
        self.bare()
        self.spans.append((started, time.perf_counter()))

    def run(self, call: Callable[[], Any]) -> Any:
        """One real call, split into stages; then as many bare invokes on the same input."""
        self.spans.clear()
        began = time.perf_counter()
        result = call()
        returned = time.perf_counter()
        invoked = sum(end - start for start, end in self.spans)
        pre = self.spans[0][0] - began
        for stage, seconds in {
            "pre": pre,
            "invoke": invoked,
            "post": returned - began - pre - invoked,
        }.items():
            self.samples[stage].append(seconds * 1000)
        start = time.perf_counter()
        for _ in self.spans:
            self.bare()
        self.samples["bare"].append((time.perf_counter() - start) * 1000)
        return result

    def report(self, name: str, what: str) -> None:
        """Medians and p90s of each stage, and (pre + post) / bare invoke."""
        median = {stage: statistics.median(values) for stage, values in self.samples.items()}
        ratio = (median["pre"] + median["post"]) / median["bare"]
        met = "met" if ratio <= OVERHEAD_TARGET else "NOT met"
        print(
            f"{name:<15} pre {median['pre']:6.3f}  invoke {median['invoke']:6.3f}  "
            f"post {median['post']:6.3f}  bare invoke {median['bare']:6.3f} ms  "
            f"(p90 {p90(self.samples['pre']):.3f} / {p90(self.samples['invoke']):.3f} / "
            f"{p90(self.samples['post']):.3f} / {p90(self.samples['bare']):.3f})"
        )
        print(
            f"{'':<15} ratio (pre+post) / bare invoke: {ratio:.2f}x "
            f"(target <= {OVERHEAD_TARGET:g}x: {met}); {what}"
        )


def p90(values: list[float]) -> float:
    """The 90th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]


def load(name: str) -> Model:
    """A manifest model from the benchmark's models directory, one thread, warmed up."""
    entry = models.find(models.load_manifest(), name)
    model = Model(models.require(entry, MODELS_DIR), name=name, num_threads=1)
    model.warm_up()
    return model


def sample_frame(face: bool = True) -> tuple[Image, tuple[float, float, float, float]]:
    """The middle frame of the sample clip (plate in view; the face too) and its plate's box."""
    spec = sample_clip.ClipSpec()
    clip = list(sample_clip.frames(spec, face=sample_clip.drawn_face() if face else None))
    frame, box = next((f, b) for f, b in clip[len(clip) // 2 :] if b is not None)
    return frame, box


def faces(name: str, frames: dict[str, Image], runs: int) -> None:
    """One BlazeFace model on each frame: with the face, and without (most frames on a pole)."""
    detector = FaceDetector(load(name), SPECS[name])
    for what, frame in frames.items():
        stages = Stages(detector.model)
        found = [stages.run(lambda f=frame: detector.detect(f)) for _ in range(runs)][-1]
        stages.report(name, f"frame {what}: {len(found)} face(s) found")


def plates(frame: Image, truth: tuple[float, float, float, float], runs: int) -> None:
    """The plate detector on the frame, then the OCR on the plate it found (else the true box)."""
    model = load("plate-detector")
    default = VisionConfig().plate_scales
    for scales, flip in (((1.0,), False), ((1.0, 0.5), False), (default, False), (default, True)):
        detector = PlateDetector(model, scales=scales, flip=flip)
        stages = Stages(model)
        found = [stages.run(lambda d=detector: d.detect(frame)) for _ in range(runs)][-1]
        passes = ",".join(f"{s:g}" for s in scales) + (" mirrored too" if flip else "")
        what = f"scales {passes}: {len(found)} plate(s) found, true box {_rounded(truth)}"
        stages.report("plate-detector", what)
        model.invoke = stages.bare  # type: ignore[method-assign]
    # The OCR reads the detection on the plate (the tiled pass also boxes things in the
    # photo top right, some scoring higher), else the true box.
    on_plate = [d for d in found if iou(d.box, truth) >= 0.5]
    first = max(on_plate, key=lambda d: d.score) if on_plate else Detection(truth, 1.0)
    # The second look at that plate (`vision.plate_refine`): one invoke per plate found.
    refiner, stages = PlateDetector(model, refine=True), Stages(model)
    again = [stages.run(lambda: refiner.refined(frame, [first])) for _ in range(runs)][-1][0]
    stages.report(
        "plate-detector",
        f"second look, per plate: box {_rounded(first.box)} -> {_rounded(again.box)}, IoU with "
        f"the true box {iou(first.box, truth):.2f} -> {iou(again.box, truth):.2f}",
    )
    model.invoke = stages.bare  # type: ignore[method-assign]
    # All the detector does to a frame by default: the passes, with peaks from
    # `vision.plate_look_score` up, then a second look at each (`refined`); and with
    # `plate_look_score` at `min_plate_score`, the floor's peaks alone.
    vision = VisionConfig()
    for look in (vision.min_plate_score, vision.plate_look_score):
        whole = PlateDetector(model, scales=default, refine=True, look_score=look)
        candidates = whole.detect(frame)
        stages = Stages(model)
        for _ in range(runs):
            kept = stages.run(lambda w=whole: w.refined(frame, w.detect(frame)))
        stages.report(
            "plate-detector",
            f"whole frame, scales {','.join(f'{s:g}' for s in default)}: {len(candidates)} "
            f"peak(s) from {whole.floor:g} looked at again, {len(kept)} plate(s) kept",
        )
        model.invoke = stages.bare  # type: ignore[method-assign]
    found_box = again.box if vision.plate_refine else first.box
    model = load("plate-ocr")
    # Each box read once and with the default views; the report says how often each was read
    # (the views after the first only where its read is not sure).
    default_views = vision.plate_ocr_views
    for views, box in (
        (1, found_box),
        (default_views, found_box),
        (1, truth),
        (default_views, truth),
    ):
        reader = PlateReader(model, views=views)
        stages = Stages(model)
        read = [
            stages.run(lambda r=reader, b=box: r.read(frame, b, score=1.0, ts=0.0))
            for _ in range(runs)
        ][-1]
        stages.report(
            "plate-ocr",
            f"per plate, views {views} ({reader.invokes / runs:g} read), box {_rounded(box)}: "
            f"read {read.text!r} {read.province} (shows {sample_clip.ClipSpec.registration!r})",
        )
        model.invoke = stages.bare  # type: ignore[method-assign]


def ocr_against(frame: Image, truth: Box, other: Path, runs: int) -> None:
    """The committed OCR and `other` (an int8 file with the same input and outputs) on the
    sample plate's true box, run by run in turn: bare invoke, and a whole read once
    (`PlateReader.read`, one view); `other`'s medians against the committed one's."""
    readers = {
        "committed": PlateReader(load("plate-ocr"), views=1),
        other.name: PlateReader(_warm(Model(other, name=other.name, num_threads=1)), views=1),
    }
    times: dict[str, dict[str, list[float]]] = {n: {"invoke": [], "read": []} for n in readers}
    texts: dict[str, str] = {}
    for _ in range(runs):
        for name, reader in readers.items():
            started = time.perf_counter()
            reader.model.invoke()
            invoked = time.perf_counter()
            texts[name] = reader.read(frame, truth, score=1.0, ts=0.0).text
            read = time.perf_counter()
            times[name]["invoke"].append((invoked - started) * 1000)
            times[name]["read"].append((read - invoked) * 1000)
    medians = {n: {k: statistics.median(v) for k, v in t.items()} for n, t in times.items()}
    for name, median in medians.items():
        print(
            f"plate-ocr {name:<24} bare invoke {median['invoke']:6.3f}  whole read "
            f"{median['read']:6.3f} ms (p90 {p90(times[name]['invoke']):.3f} / "
            f"{p90(times[name]['read']):.3f}); read {texts[name]!r}"
        )
    base, new = medians["committed"], medians[other.name]
    print(
        f"{other.name} against the committed OCR: bare invoke "
        f"{new['invoke'] / base['invoke']:.2f}x, whole read {new['read'] / base['read']:.2f}x"
    )


def _warm(model: Model) -> Model:
    model.warm_up()
    return model


def _rounded(box: tuple[float, ...]) -> list[int]:
    return [round(v) for v in box]


def _exact(source: Image, size: tuple[int, int]) -> Image:
    return np.asarray(cv2.resize(source, size, interpolation=cv2.INTER_AREA), np.uint8)


def _bilinear(source: Image, size: tuple[int, int]) -> Image:
    return np.asarray(cv2.resize(source, size, interpolation=cv2.INTER_LINEAR), np.uint8)


def _whole_number(source: Image, size: tuple[int, int]) -> Image:
    """`shrink` before 27 November 2026: a whole-number INTER_AREA pre-shrink from 4x."""
    factor = min(source.shape[1] // size[0], source.shape[0] // size[1])
    if factor >= 4:
        source = np.asarray(
            cv2.resize(source, None, fx=1 / factor, fy=1 / factor, interpolation=cv2.INTER_AREA)
        )
    return _exact(source, size)


SHRINKS = {
    "image.shrink": image.shrink,
    "whole-number": _whole_number,
    "INTER_AREA": _exact,
    "bilinear": _bilinear,
}


@contextmanager
def shrinking_with(shrink: Callable[[Image, tuple[int, int]], Image]) -> Iterator[None]:
    """`agent.vision.image.shrink` replaced for the block (the detectors call it by name)."""
    original = image.shrink
    image.shrink = shrink
    try:
        yield
    finally:
        image.shrink = original


def pasted(photo: Image, face: Box, width: int, rng: np.random.Generator) -> tuple[Image, Box]:
    """The photo around `face` scaled to a face `width` px wide, somewhere on the empty road."""
    frame = sample_clip.background(sample_clip.ClipSpec())
    scale = width / (face[2] - face[0])
    fw, fh = face[2] - face[0], face[3] - face[1]
    margin = min(1.0, max(0.0, (frame.shape[0] - 30) / scale - fh) / (2 * fh))
    left, top = max(0, int(face[0] - margin * fw)), max(0, int(face[1] - margin * fh))
    cut = photo[top : int(face[3] + margin * fh), left : int(face[2] + margin * fw)]
    patch = cv2.resize(cut, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    y = int(rng.integers(0, frame.shape[0] - patch.shape[0] + 1))
    x = int(rng.integers(0, frame.shape[1] - patch.shape[1] + 1))
    frame[y : y + patch.shape[0], x : x + patch.shape[1]] = patch
    box = (x + (face[0] - left) * scale, y + (face[1] - top) * scale)
    return frame, (*box, box[0] + fw * scale, box[1] + fh * scale)


def overlap(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union


def detection_check(per_size: int) -> None:
    """Faces found and false detections in 720p frames, per model and way of shrinking."""
    from tests.vision_fixtures import photo  # noqa: PLC0415 (scikit-image, only here)

    for name, widths in CHECK_WIDTHS.items():
        detector = FaceDetector(load(name), SPECS[name])
        rng = np.random.default_rng(1)
        scenes = [
            (width, *pasted(photo(which), face, width, rng))
            for which, face in FACES.items()
            for width in widths
            for _ in range(per_size)
        ]
        empty = [_on_road(photo(which), scale) for which in NO_FACES for scale in (0.5, 1.0, 1.6)]
        for how, shrink in SHRINKS.items():
            with shrinking_with(shrink):
                hits = {w: 0 for w in widths}
                for width, frame, face in scenes:
                    hits[width] += any(overlap(f.box, face) > 0.4 for f in detector.detect(frame))
                false = sum(len(detector.detect(frame)) for frame in empty)
            counts = " ".join(f"{w}px {n}/{2 * per_size}" for w, n in hits.items())
            print(
                f"{name:<15} {how:<12} faces found {sum(hits.values()):3d}/{len(scenes)} "
                f"({counts}); in {len(empty)} frames without people: {false}"
            )


def _on_road(photo: Image, scale: float) -> Image:
    frame = sample_clip.background(sample_clip.ClipSpec())
    patch = cv2.resize(photo, None, fx=scale, fy=scale)[: frame.shape[0], : frame.shape[1]]
    frame[: patch.shape[0], : patch.shape[1]] = patch
    return frame


def main() -> None:
    """Pre, invoke, post and bare invoke for each vision model."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500, help="calls per model")
    parser.add_argument("--detection-check", action="store_true", help="faces found per resize")
    parser.add_argument("--per-size", type=int, default=12, help="detection check: frames")
    parser.add_argument(
        "--ocr-against",
        type=Path,
        metavar="TFLITE",
        help="time this OCR file beside the committed one instead, run by run in turn",
    )
    args = parser.parse_args()
    print(f"machine: {describe()}")
    models.fetch(models.load_manifest(), MODELS_DIR, cache_dir=WHEEL_CACHE)
    if args.detection_check:
        detection_check(args.per_size)
        return
    frame, box = sample_frame()
    print(f"frame: 1280x720 sample clip, 1 thread, {args.runs} calls per model, medians in ms")
    if args.ocr_against:
        ocr_against(frame, box, args.ocr_against, args.runs)
        return
    frames = {"with the face": frame, "without it": sample_frame(face=False)[0]}
    for name in ("blazeface-short", "blazeface-full"):
        faces(name, frames, args.runs)
    plates(frame, box, args.runs)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
