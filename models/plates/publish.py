"""Record the plate models in ``models/manifest.toml``: sha256, size, tensors, metrics, commit.

Replaces the ``plate-detector`` and ``plate-ocr`` tables where they are, appends them
otherwise, and leaves every other table and comment as it is. ``--only`` republishes one of
the two (a run that kept the other model as it was). ``training_commit`` is the last commit
of the training code, or ``--trained-at`` for a model published after later commits.

    python -m models.plates.publish --metrics build/plates/metrics.json [--only ocr]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import tomlkit

HERE = Path(__file__).parent
MANIFEST = HERE.parent / "manifest.toml"
LICENCE = "Apache-2.0 (trained by this project on synthetic data; see models/README.md)"
#: The prefix of the numbers that go into both models' tables (`HEADLINES`).
BOTH = "e2e_"
DETECTOR = {
    "name": "plate-detector",
    "task": "plate-detector",
    "file": "plates/plate_detector.tflite",
    "input": "image: 1x256x256x1 uint8 grey (scale 1/255), frame letterboxed (aspect kept, "
    "black border at right/bottom)",
    "output": "heatmap: 1x64x64x1 int8 (sigmoid score of a plate centre per 4x4 cell); box: "
    "1x64x64x4 int8 (dx, dy offset of the centre in the cell, log width, log height in cells)",
}
OCR = {
    "name": "plate-ocr",
    "task": "plate-ocr",
    "file": "plates/plate_ocr.tflite",
    "input": "image: 1x64x128x1 uint8 grey (scale 1/255), the plate box with 8 % margin, stretched",
    "output": "registration: 1x64x53 int8 CTC logits (class 0 blank, then 0-9, then the 42 "
    "issued consonants; steps 0-31 top row, 32-63 bottom row); province: 1x78 int8 softmax "
    "in agent.vision.plate_text.PROVINCES order",
}


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], capture_output=True, text=True, check=False
    ).stdout.strip()


#: What makes the models: the training package (not its .tflite outputs) and the format.
TRAINING_CODE = (
    ":(glob)models/plates/*.py",
    ":(glob)models/plates/*.sh",
    "agent/vision/plate_text.py",
)


def commit() -> str:
    """The last commit of the training code, with ``+dirty`` when that code has changes."""
    head = _git("log", "-1", "--format=%H", "--", *TRAINING_CODE)
    dirty = _git("status", "--porcelain", "--", *TRAINING_CODE)
    return head + ("+dirty" if dirty else "")


def entry(base: dict[str, str], metrics: dict[str, Any], version: str) -> dict[str, Any]:
    """A manifest table for one committed model."""
    path = HERE.parent / base["file"]
    table: dict[str, Any] = {
        "name": base["name"], "task": base["task"], "version": version, "file": base["file"],
        "source": f"repo:{base['file']}", "sha256": sha256(path), "size": path.stat().st_size,
        "licence": LICENCE, "input": base["input"], "output": base["output"],
    }  # fmt: skip
    table["metrics"] = tomlkit.inline_table()
    table["metrics"].update(metrics)
    return table


def publish(
    metrics: dict[str, Any],
    version: str,
    only: tuple[str, ...] = ("detector", "ocr"),
    trained: str | None = None,
) -> None:
    """Write the entries of the models named in ``only`` into the manifest."""
    doc = tomlkit.parse(MANIFEST.read_text(encoding="utf-8"))
    models = doc.setdefault("model", tomlkit.aot())
    chosen = {
        "detector": (DETECTOR, "det_", "CenterNet-style, 0.1 M parameters, int8"),
        "ocr": (OCR, "ocr_", "CNN + CTC and province head, 0.44 M parameters, int8"),
    }
    trained = trained or commit()
    new = {}
    for name in only:
        base, prefix, what = chosen[name]
        own = {k: v for k, v in metrics.items() if k.startswith((prefix, BOTH))}
        new[base["name"]] = entry(base, own | {"training_commit": trained}, f"{version}: {what}")
    aot = tomlkit.aot()
    for table in models:
        aot.append(new.pop(table["name"], table))
    for table in new.values():
        aot.append(table)
    doc["model"] = aot
    # Appended tables bring their trailing blank lines: one between tables is enough.
    MANIFEST.write_text(re.sub(r"\n{3,}", "\n\n", tomlkit.dumps(doc)), encoding="utf-8")


#: The report's sections flattened into the manifest: (section, prefix, keys).
HEADLINES = (
    (
        "synthetic_ocr",
        "ocr_synthetic",
        ("registration_exact", "province_accuracy", "cer", "plates"),
    ),
    (
        "synthetic_ocr_runtime",
        "ocr_runtime",
        ("registration_exact", "province_accuracy", "cer", "views"),
    ),
    ("synthetic_detection", "det_synthetic", ("recall", "precision", "plates")),
    (
        "synthetic_detection_runtime",
        "det_runtime",
        ("recall", "precision", "scales", "score_floor"),
    ),
    ("wide_frames_runtime", "det_wide", ("recall", "precision", "scales", "score_floor")),
    # Both models at once: in each one's table, measured with the other one shipped beside it.
    (
        "wide_frames_end_to_end",
        f"{BOTH}wide",
        ("plates", "found", "registration_exact", "province_accuracy", "readings_unmatched"),
    ),
)


def flatten(report: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of an evaluation report, rounded, with det_/ocr_ prefixes."""
    out: dict[str, Any] = {}
    for section, prefix, keys in HEADLINES:
        numbers = report.get(section, {})
        for key in keys:
            if key in numbers:
                value = numbers[key]
                out[f"{prefix}_{key}"] = round(value, 4) if isinstance(value, float) else value
    for name in ("detector", "ocr"):
        if f"{name}_invoke_ms_p50" in report:
            out[f"{name[:3]}_invoke_ms_1thread_dev"] = round(report[f"{name}_invoke_ms_p50"], 2)
    return out


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", type=Path, required=True, help="evaluate.py JSON output")
    parser.add_argument("--version", default="plates-2026.11")
    parser.add_argument("--only", choices=("detector", "ocr"), help="republish this model alone")
    parser.add_argument(
        "--trained-at",
        metavar="COMMIT",
        help="the commit whose training code made the models (default: the last commit of "
        "that code, +dirty when it has changes)",
    )
    args = parser.parse_args()
    trained = None
    if args.trained_at:
        trained = _git("rev-parse", "--verify", "--quiet", f"{args.trained_at}^{{commit}}")
        if not trained:
            parser.error(f"--trained-at: {args.trained_at!r} is not a commit of this repository")
    only = (args.only,) if args.only else ("detector", "ocr")
    report = json.loads(args.metrics.read_text(encoding="utf-8"))
    publish(flatten(report), args.version, only, trained)
    print(f"updated {MANIFEST}")


if __name__ == "__main__":
    main()
