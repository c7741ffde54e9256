"""Plate metrics: exact match, character error rate, detection recall and precision at IoU 0.5.

The functions live in the runtime package (agent.vision.plate_eval), which `edge-agent
plates eval` runs on the device; the training code uses the same ones from here.
"""

from __future__ import annotations

from agent.vision.plate_eval import (
    IOU,
    detection_counts,
    edit_distance,
    iou,
    match,
    ocr_metrics,
    rates,
)

__all__ = ["IOU", "detection_counts", "edit_distance", "iou", "match", "ocr_metrics", "rates"]
