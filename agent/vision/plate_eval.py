"""Plate evaluation: detection and reading measured on a folder of labelled images.

The folder holds the images and `labels.jsonl`, one JSON object per image:

    {"file": "a.jpg", "kind": "scene", "width": 1280, "height": 720,
     "plates": [{"registration": "1กข1234" | null, "province": "..." | null,
                 "box": [x0, y0, x1, y1], "legible": true, "plate_type": "private"}]}

Detection counts every labelled plate (legible or not) at IoU 0.5. Reading counts the
legible plates with a registration, once from our own matched detection (end to end) and
once from the labelled box (the reader alone); registrations are compared after
`plate_text.normalise`. The metric functions are pure Python and are also the training
package's (models/plates/metrics.py re-exports them); OpenCV is imported only to read images.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.errors import CommandError
from agent.vision.plate_text import normalise

if TYPE_CHECKING:
    from agent.vision.image import Image
    from agent.vision.plates import PlateDetector, PlateReader, Text

IOU = 0.5
LABELS = "labels.jsonl"
Box = tuple[float, ...]


# --- metrics -----------------------------------------------------------------------------------


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def match(found: Sequence[Box], truth: Sequence[Box]) -> list[int]:
    """For each true box, the index of the detection matched at IoU >= 0.5 (or -1), greedily."""
    used: set[int] = set()
    result = []
    for t in truth:
        score, best = max(((iou(f, t), i) for i, f in enumerate(found) if i not in used),
                          default=(0.0, -1))  # fmt: skip
        # Only a match uses the detection up: one too far from this plate may fit the next.
        result.append(best if score >= IOU else -1)
        used.add(result[-1])
    return result


def detection_counts(found: Sequence[Box], truth: Sequence[Box]) -> tuple[int, int, int]:
    """(true boxes, detections, matched) for one image."""
    matched = sum(i >= 0 for i in match(found, truth))
    return len(truth), len(found), matched


def rates(counts: Sequence[tuple[int, int, int]]) -> dict[str, Any]:
    """Recall and precision from per-image counts."""
    truth, found, hit = (sum(c[k] for c in counts) for k in range(3))
    return {"plates": truth, "detections": found, "matched": hit,
            "recall": hit / max(1, truth), "precision": hit / max(1, found)}  # fmt: skip


def ocr_metrics(
    truths: Sequence[str], reads: Sequence[str], provinces_ok: Sequence[bool]
) -> dict[str, Any]:
    """Exact match and CER of paired reads (both sides normalised), and province accuracy."""
    pairs = [(normalise(t), normalise(r)) for t, r in zip(truths, reads, strict=True)]
    errors = sum(edit_distance(t, r) for t, r in pairs)
    return {
        "plates": len(pairs),
        "registration_exact": _mean([t == r for t, r in pairs]),
        "cer": errors / max(1, sum(len(t) for t, _ in pairs)),
        "province_plates": len(provinces_ok),
        "province_accuracy": _mean(provinces_ok),
    }


def _mean(flags: Sequence[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


# --- labels ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlateLabel:
    """One labelled plate: its box in image pixels and what it says, where known."""

    box: Box
    legible: bool
    registration: str | None = None
    province: str | None = None
    plate_type: str | None = None

    @property
    def readable(self) -> bool:
        """Whether the plate counts for reading: legible, with a registration."""
        return self.legible and bool(self.registration)


@dataclass(frozen=True)
class ImageLabel:
    """One line of labels.jsonl: an image file, its size when given, and its plates."""

    file: str
    line: int
    plates: tuple[PlateLabel, ...]
    size: tuple[int, int] | None = None


def load_labels(folder: Path) -> list[ImageLabel]:
    """Every line of `folder`/labels.jsonl; CommandError naming the file (and line) when bad."""
    path = folder / LABELS
    if not folder.is_dir():
        raise CommandError(f"{folder}: no such folder")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"{path}: cannot read: {exc}") from exc
    labels = [_image_label(text, n, path) for n, text in enumerate(lines, 1) if text.strip()]
    if not labels:
        raise CommandError(f"{path}: no labelled images")
    return labels


def _image_label(text: str, line: int, path: Path) -> ImageLabel:
    where = f"{path} line {line}"
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{where}: not JSON: {exc.msg}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("file"), str) or not raw["file"]:
        raise CommandError(f"{where}: `file` must be a file name")
    if not isinstance(raw.get("plates"), list):
        raise CommandError(f"{where}: `plates` must be a list")
    size = _size(raw.get("width"), raw.get("height"), where)
    plates = tuple(_plate_label(p, f"{where} plates[{i}]") for i, p in enumerate(raw["plates"]))
    return ImageLabel(raw["file"], line, plates, size)


def _size(width: Any, height: Any, where: str) -> tuple[int, int] | None:
    if width is None and height is None:
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (width, height)):
        raise CommandError(f"{where}: `width` and `height` must be positive integers")
    return int(width), int(height)


def _plate_label(raw: Any, where: str) -> PlateLabel:
    if not isinstance(raw, dict):
        raise CommandError(f"{where}: must be an object")
    box = raw.get("box")
    if not (isinstance(box, list) and len(box) == 4 and all(_number(v) for v in box)):
        raise CommandError(f"{where}.box must be [x0, y0, x1, y1], got {box!r}")
    if not (box[0] < box[2] and box[1] < box[3]):
        raise CommandError(f"{where}.box must have x0 < x1 and y0 < y1, got {box!r}")
    if not isinstance(raw.get("legible"), bool):
        raise CommandError(f"{where}.legible must be true or false")
    for key in ("registration", "province", "plate_type"):
        if not isinstance(raw.get(key), str | None):
            raise CommandError(f"{where}.{key} must be a string or null")
    return PlateLabel(
        tuple(float(v) for v in box), raw["legible"], raw.get("registration"),
        raw.get("province"), raw.get("plate_type"),
    )  # fmt: skip


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --- the evaluation ----------------------------------------------------------------------------


def load_image(path: Path) -> Image:
    """A JPEG or PNG file as BGR; CommandError naming the file when it cannot be read."""
    import cv2  # noqa: PLC0415 - the training package uses the metrics without OpenCV
    import numpy as np  # noqa: PLC0415

    if not path.is_file():
        raise CommandError(f"cannot read image {path}: no such file")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise CommandError(f"cannot read image {path}: not a JPEG or PNG image")
    return np.asarray(image, np.uint8)


@dataclass
class Tally:
    """What the evaluation has seen so far."""

    counts: list[tuple[int, int, int]] = field(default_factory=list)
    truths: list[str] = field(default_factory=list)
    from_box: list[str] = field(default_factory=list)
    end_to_end: list[str] = field(default_factory=list)
    province_box: list[bool] = field(default_factory=list)
    province_e2e: list[bool] = field(default_factory=list)
    image_ms: list[float] = field(default_factory=list)
    detect_ms: list[float] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class Evaluation:
    """Both models run over labelled images, the tally kept as it goes."""

    def __init__(
        self,
        detector: PlateDetector,
        reader: PlateReader,
        *,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.detector, self.reader, self.clock = detector, reader, clock
        self.tally = Tally()

    def run(self, folder: Path, labels: Sequence[ImageLabel]) -> Tally:
        """Every labelled image of `folder` (one that cannot be read is listed as failed)."""
        for label in labels:
            try:
                image = _labelled_image(folder, label)
            except CommandError as exc:
                self.tally.failed.append(str(exc))
                continue
            self.image(image, label)
        return self.tally

    def image(self, image: Image, label: ImageLabel) -> None:
        """Detect and read every detection (timed, as on the device), then score the labels."""
        started = self.clock()
        found = self.detector.refined(image, self.detector.detect(image))
        detected = self.clock()
        reads = [self.read(image, d.box) for d in found]
        self.tally.image_ms.append((self.clock() - started) * 1000)
        self.tally.detect_ms.append((detected - started) * 1000)
        boxes, truth = [d.box for d in found], [p.box for p in label.plates]
        self.tally.counts.append(detection_counts(boxes, truth))
        for plate, m in zip(label.plates, match(boxes, truth), strict=True):
            if plate.readable or plate.province:
                from_box = self.read(image, _clip(plate.box, image))
                _score_plate(plate, from_box, reads[m] if m >= 0 else None, self.tally)
            self.tally.rows.append(_row(label, plate, self.tally, detected=m >= 0))

    def read(self, image: Image, box: tuple[float, float, float, float]) -> Text:
        """What the reader makes of `box` in the full-resolution image."""
        return self.reader.ocr(self.reader.crop(image, box))


def _labelled_image(folder: Path, label: ImageLabel) -> Image:
    image = load_image(folder / label.file)
    height, width = image.shape[:2]
    if label.size is not None and label.size != (width, height):
        raise CommandError(
            f"{folder / label.file}: {width}x{height}, labels.jsonl line {label.line} "
            f"says {label.size[0]}x{label.size[1]}"
        )
    return image


def _score_plate(plate: PlateLabel, from_box: Text, e2e: Text | None, tally: Tally) -> None:
    if plate.readable:
        tally.truths.append(plate.registration or "")
        tally.from_box.append(from_box.registration.text)
        tally.end_to_end.append(e2e.registration.text if e2e else "")
    if plate.province:
        tally.province_box.append(from_box.province == plate.province)
        tally.province_e2e.append(e2e is not None and e2e.province == plate.province)


def _row(label: ImageLabel, plate: PlateLabel, tally: Tally, *, detected: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"file": label.file, "type": plate.plate_type, "detected": detected}
    if plate.readable:
        row |= {"truth": plate.registration, "read": tally.from_box[-1]}
        row["read_end_to_end"] = tally.end_to_end[-1]
    if plate.province:
        row |= {"province": plate.province, "province_ok": tally.province_box[-1]}
    return row


def _clip(box: Box, image: Image) -> tuple[float, float, float, float]:
    """A labelled box inside the image (a label may reach a pixel past the edge)."""
    height, width = image.shape[:2]
    x0, y0 = min(max(0.0, box[0]), width - 2.0), min(max(0.0, box[1]), height - 2.0)
    return x0, y0, min(max(x0 + 2, box[2]), width), min(max(y0 + 2, box[3]), height)


def report(folder: Path, tally: Tally, *, details: bool = False) -> dict[str, Any]:
    """The aggregate numbers (registrations only with `details`: they are personal data)."""
    readable = len(tally.truths)
    result: dict[str, Any] = {
        "folder": str(folder),
        "images": len(tally.counts),
        "images_failed": len(tally.failed),
        "plates": {
            "labelled": sum(c[0] for c in tally.counts),
            "readable": readable,
            "with_province": len(tally.province_box),
        },
        "detection": rates(tally.counts) | {"iou": IOU},
        "end_to_end": ocr_metrics(tally.truths, tally.end_to_end, tally.province_e2e),
        "from_labelled_box": ocr_metrics(tally.truths, tally.from_box, tally.province_box),
        "mean_ms_per_image": _mean_ms(tally.image_ms),
        "mean_detect_ms_per_image": _mean_ms(tally.detect_ms),
    }
    if details:
        result["details"] = tally.rows
    return result


def _mean_ms(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None
