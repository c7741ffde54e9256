"""Evaluation on a folder of real photographs with ``labels.jsonl`` (local only, never committed).

Detection counts every labelled plate (legible or not); reading counts legible
plates with a full registration, once from the labelled box (the reader alone)
and once from our own matching detection (end to end).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

from models.plates import metrics, pipeline

REF_W, REF_H, REF_THRESHOLD = 320, 240, 0.3


class ReferenceDetector:
    """The third-party SSDLite plate detector, as a yardstick (evaluation only)."""

    def __init__(self, path: Path) -> None:
        self.interpreter = Interpreter(model_path=str(path), num_threads=1)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.outputs = self.interpreter.get_output_details()

    def detect(self, grey: np.ndarray) -> list[tuple[float, ...]]:
        """Boxes (x0, y0, x1, y1) in frame pixels with score >= 0.3."""
        h, w = grey.shape
        small = np.asarray(Image.fromarray(grey).resize((REF_W, REF_H)))
        self.interpreter.set_tensor(self.input["index"], np.repeat(small[None, ..., None], 3, -1))
        self.interpreter.invoke()
        boxes, _, scores, count = (self.interpreter.get_tensor(o["index"])[0] for o in self.outputs)
        kept = [boxes[i] for i in range(int(count)) if scores[i] >= REF_THRESHOLD]
        return [(b[1] * w, b[0] * h, b[3] * w, b[2] * h) for b in kept]


def load(folder: Path) -> list[dict[str, Any]]:
    """The label records of a folder."""
    lines = (folder / "labels.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def evaluate(
    reader: pipeline.PlateReader, folder: Path, reference: Path | None, *, details: bool = False
) -> dict[str, Any]:
    """Detection (ours and the reference's), reading from labelled boxes and end to end."""
    ref = ReferenceDetector(reference) if reference and reference.exists() else None
    ours, theirs, rows = [], [], []
    truths, from_box, end_to_end, prov_ok = [], [], [], []
    for record in load(folder):
        grey = np.asarray(Image.open(folder / record["file"]).convert("L"))
        plates = record["plates"]
        truth = [tuple(float(v) for v in p["box"]) for p in plates]
        found = reader.detect(grey)
        ours.append(metrics.detection_counts([d.box for d in found], truth))
        if ref:
            theirs.append(metrics.detection_counts(ref.detect(grey), truth))
        matches = metrics.match([d.box for d in found], truth)
        for plate, box, m in zip(plates, truth, matches, strict=True):
            if not plate["legible"] or not plate["registration"]:
                continue
            read = reader.read(grey, box)  # type: ignore[arg-type]
            e2e = reader.read(grey, found[m].box).registration.text if m >= 0 else ""
            truths.append(plate["registration"])
            from_box.append(read.registration.text)
            end_to_end.append(e2e)
            if plate["province"]:
                prov_ok.append(read.province == plate["province"])
            row = {"file": record["file"], "kind": record["kind"], "type": plate["plate_type"]}
            row |= {"truth": plate["registration"], "read": read.registration.text}
            row |= {"greedy": read.greedy.text, "e2e": e2e, "province": read.province}
            rows.append(row | {"province_truth": plate["province"], "detected": m >= 0})
    result: dict[str, Any] = {
        "images": len(ours),
        "detection": metrics.rates(ours),
        "reference_detection": metrics.rates(theirs) if ref else None,
        "ocr_from_labelled_box": metrics.ocr_metrics(truths, from_box, prov_ok),
        "ocr_end_to_end": metrics.ocr_metrics(truths, end_to_end, []),
    }
    if details:
        result["plates"] = rows
    return result
