"""Plate metrics: exact match, character error rate, detection recall and precision at IoU 0.5."""

from __future__ import annotations

from typing import Any

import numpy as np

IOU = 0.5


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
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


def ocr_metrics(truths: list[str], reads: list[str], provinces_ok: list[bool]) -> dict[str, Any]:
    """Exact match, CER and province accuracy of paired reads."""
    errors = sum(edit_distance(t, r) for t, r in zip(truths, reads, strict=True))
    return {
        "plates": len(truths),
        "registration_exact": float(np.mean([t == r for t, r in zip(truths, reads, strict=True)])),
        "cer": errors / max(1, sum(len(t) for t in truths)),
        "province_accuracy": float(np.mean(provinces_ok)) if provinces_ok else None,
    }


def match(found: list[tuple[float, ...]], truth: list[tuple[float, ...]]) -> list[int]:
    """For each true box, the index of the detection matched at IoU >= 0.5 (or -1), greedily."""
    used: set[int] = set()
    result = []
    for t in truth:
        scores = [(iou(f, t), i) for i, f in enumerate(found) if i not in used]
        best = max(scores, default=(0.0, -1))
        result.append(best[1] if best[0] >= IOU else -1)
        used.add(best[1])
    return result


def detection_counts(
    found: list[tuple[float, ...]], truth: list[tuple[float, ...]]
) -> tuple[int, int, int]:
    """(true boxes, detections, matched) for one image."""
    matched = sum(i >= 0 for i in match(found, truth))
    return len(truth), len(found), matched


def rates(counts: list[tuple[int, int, int]]) -> dict[str, Any]:
    """Recall and precision from per-image counts."""
    truth, found, hit = (sum(c[k] for c in counts) for k in range(3))
    return {"plates": truth, "detections": found, "recall": hit / max(1, truth),
            "precision": hit / max(1, found)}  # fmt: skip
