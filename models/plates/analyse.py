"""Where the OCR model fails on fresh synthetic crops: by capture width, by style, by letter.

    .venv/bin/python -m models.plates.analyse [--ocr models/plates/plate_ocr.tflite] \
        [--count 3000] [--seed 99]

Prints one JSON object: registration exact match and province accuracy for bands of the
width the plate was captured at (before the crop is resized to the model's 128 px), for
each plate style and for each occasional degradation (shadow, glare, dirt, blur, motion
blur, infrared, poor JPEG), then for the plates with none of them captured at least
``SHARP_PX`` wide: what the model reads when the plate is plainly legible. Last, the
commonest character confusions (substitutions, and characters dropped or added) on crops
at least ``SHARP_PX`` wide. Synthetic plates only: nothing here is personal data.
"""

from __future__ import annotations

import argparse
import difflib
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from agent.vision import plate_text
from models.plates import pipeline, render

MODELS = Path(__file__).parent
WIDTH_BANDS = ((44, 60), (60, 80), (80, 100), (100, 130), (130, 170), (170, 201))
SHARP_PX = 100


def confusions(truth: str, read: str) -> list[tuple[str, str]]:
    """Aligned character pairs that differ; a dropped or added character pairs with ''."""
    truth, read = truth.replace("-", ""), read.replace("-", "")
    pairs: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, truth, read, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            continue
        left, right = truth[a0:a1], read[b0:b1]
        if op == "replace" and len(left) == len(right):
            pairs.extend(zip(left, right, strict=True))
        else:
            pairs.append((left, right))
    return pairs


def _rates(rows: list[tuple[bool, bool]]) -> dict[str, Any]:
    return {
        "crops": len(rows),
        "registration_exact": float(np.mean([r for r, _ in rows])) if rows else None,
        "province_accuracy": float(np.mean([p for _, p in rows])) if rows else None,
    }


def analyse(ocr: Path, count: int, seed: int) -> dict[str, Any]:
    """Read ``count`` fresh crops drawn from ``seed`` and break the results down."""
    model = pipeline.TFLiteModel(ocr)
    rng = np.random.default_rng(seed)
    by_width: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    by_style: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    by_effect: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    confused: Counter[tuple[str, str]] = Counter()
    every: list[tuple[bool, bool]] = []
    for _ in range(count):
        sample = render.ocr_sample(rng)
        out = model(sample.image)
        probs = plate_text.softmax(out[len(plate_text.OCR_CLASSES) + 1])
        read = plate_text.constrained(probs).text
        row = (
            read == sample.spec.registration,
            int(np.argmax(out[len(plate_text.PROVINCES)])) == sample.spec.province,
        )
        every.append(row)
        by_style[sample.spec.style].append(row)
        for effect in sample.effects:
            by_effect[effect].append(row)
        if not sample.effects:
            by_effect["none"].append(row)
            if sample.width >= SHARP_PX:
                by_effect[f"none, at {SHARP_PX} px or wider"].append(row)
        for lo, hi in WIDTH_BANDS:
            if lo <= sample.width < hi:
                by_width[f"{lo}-{hi - 1} px"].append(row)
        if sample.width >= SHARP_PX and not row[0]:
            confused.update(confusions(sample.spec.registration, read))
    return {
        "model": str(ocr),
        "seed": seed,
        "all": _rates(every),
        "by_capture_width": {
            band: _rates(by_width[band])
            for band in (f"{lo}-{hi - 1} px" for lo, hi in WIDTH_BANDS)
            if band in by_width
        },
        "by_style": {style: _rates(rows) for style, rows in sorted(by_style.items())},
        "by_degradation": {effect: _rates(rows) for effect, rows in sorted(by_effect.items())},
        f"confusions_at_{SHARP_PX}_px_or_wider": [
            {"truth": t, "read": r, "times": n} for (t, r), n in confused.most_common(20)
        ],
    }


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ocr", type=Path, default=MODELS / "plate_ocr.tflite")
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=99)
    args = parser.parse_args()
    report = analyse(args.ocr, args.count, args.seed)
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
