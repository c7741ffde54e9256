"""Plate pipeline cost: per-frame detection and per-crop OCR, invoke versus pre/post-processing.

Run: `.venv/bin/python benchmarks/bench_plates.py` (needs the Thai fonts for the synthetic
inputs). Prints `machine:` first, then medians in ms with one thread; the baseline is the
bare `invoke()` of each model in the same run, and pre/post is reported as its ratio.
Targets (issue): detection <= 15 ms a frame, OCR <= 2 ms a crop.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from agent.vision import plate_text  # noqa: E402
from models.plates import pipeline, render, scenes  # noqa: E402

MODELS = ROOT / "models" / "plates"


def median_ms(fn: Callable[[], object], runs: int) -> float:
    """Median wall time of ``fn`` in milliseconds."""
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def machine() -> str:
    """One line: host, CPU count, load, Python."""
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    python = platform.python_version()
    return f"machine: {platform.node()} cores={os.cpu_count()} load=({load}) python={python}"


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    print(machine())
    reader = pipeline.PlateReader(MODELS / "plate_detector.tflite", MODELS / "plate_ocr.tflite")
    frame = np.asarray(Image.fromarray(scenes.scene_batch(1, 1)[0][0]).resize((1280, 720)))
    crop = render.ocr_batch(1, 1)[0][0]
    det, ocr = reader.detector, reader.ocr
    square, _ = pipeline.letterbox(frame)
    det(square)
    ocr(crop)
    out_det, out_ocr = det(square), ocr(crop)
    n_cls = len(plate_text.OCR_CLASSES) + 1
    rows = {
        "detector invoke": median_ms(lambda: det(square), args.runs),
        "detector pre (720p letterbox)": median_ms(lambda: pipeline.letterbox(frame), args.runs),
        "detector post (peaks)": median_ms(
            lambda: pipeline.peaks(out_det[1][..., 0], out_det[4], 0.3), args.runs
        ),
        "detector total (detect)": median_ms(lambda: reader.detect(frame), args.runs),
        "ocr invoke": median_ms(lambda: ocr(crop), args.runs),
        "ocr post (constrained CTC)": median_ms(
            lambda: plate_text.constrained(plate_text.softmax(out_ocr[n_cls])), args.runs
        ),
        "ocr total (read crop)": median_ms(lambda: reader.read(crop), args.runs),
    }
    for name, ms in rows.items():
        print(f"{name:34s} {ms:8.3f} ms")
    for model in ("detector", "ocr"):
        total, invoke = (
            rows[next(k for k in rows if k.startswith(f"{model} total"))],
            rows[f"{model} invoke"],
        )
        print(f"{model}: pre+post = {(total - invoke) / invoke:.2f} x invoke")


if __name__ == "__main__":
    main()
