"""Measure the int8 plate models: held-out synthetic sets and a folder of labelled photos.

    .venv/bin/python -m models.plates.evaluate --ocr-data build/plates/ocr_val.npz \
        --scenes build/plates/scenes_val.npz [--scales 1,0.5] --real ../shared/data/plates \
        --reference ../shared/models/reference-plate-detector/ssdlite_plate_uint8.tflite

Prints one JSON object.  The reference detector is a yardstick for the real
photos only; it is never shipped.  Real registrations are never printed
unless ``--details`` is given (they are personal data: keep them local).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from agent.vision import plate_text
from models.plates import metrics, pipeline, real
from models.plates.alphabet import decode

MODELS = Path(__file__).parent
CLOSE_PX = 150  # scenes.place_plate: other plates are 14-150 px wide, close-ups 120-245


def synthetic_ocr(reader: pipeline.PlateReader, path: Path) -> dict[str, Any]:
    """OCR on held-out synthetic crops (constrained and greedy decoding)."""
    data = np.load(path)
    truths = [decode([int(v) for v in row if v >= 0]) for row in data["labels"]]
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


def scenes(path: Path) -> Iterator[tuple[np.ndarray, list[tuple[float, ...]]]]:
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


def runtime_detection(
    detector: Path, path: Path, scales: tuple[float, ...], threshold: float
) -> dict[str, Any]:
    """The runtime's detector (``agent.vision.plates``, one pass per scale) on the scenes.

    Recall is also split into close-ups (plates over ``CLOSE_PX`` wide in the 256 px scene,
    which only the close-up scenes hold) and the other plates, each plate matched on its own.
    """
    from agent.vision.plates import PlateDetector  # noqa: PLC0415 - OpenCV
    from agent.vision.runtime import Model  # noqa: PLC0415

    model = Model(detector, name="plate-detector")
    runtime = PlateDetector(model, min_score=threshold, scales=scales)
    counts, found = [], {"close_ups": [0, 0], "others": [0, 0]}
    for image, truth in scenes(path):
        seen = [d.box for d in runtime.detect(image)]
        counts.append(metrics.detection_counts(seen, truth))
        for box in truth:
            kind = found["close_ups" if box[2] - box[0] > CLOSE_PX else "others"]
            kind[0] += 1
            kind[1] += metrics.detection_counts(seen, [box])[2]
    result = metrics.rates(counts) | {"scales": list(scales)}
    for kind, (plates, matched) in found.items():
        result[f"recall_{kind}"] = {"plates": plates, "matched": matched}
    return result


def _scales(text: str) -> tuple[float, ...]:
    return tuple(float(part) for part in text.split(","))


def main() -> None:
    """Command line."""
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
        "--scales", type=_scales, help="with --scenes: also the runtime detector at S[,S...]"
    )
    args = parser.parse_args()
    reader = pipeline.PlateReader(args.detector, args.ocr, threshold=args.threshold)
    report: dict[str, Any] = {}
    if args.ocr_data:
        report["synthetic_ocr"] = synthetic_ocr(reader, args.ocr_data)
    if args.scenes:
        report["synthetic_detection"] = synthetic_detection(reader, args.scenes)
        if args.scales:
            report["synthetic_detection_runtime"] = runtime_detection(
                args.detector, args.scenes, args.scales, args.threshold
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
