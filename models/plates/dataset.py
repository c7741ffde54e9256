"""Generate OCR and detector datasets in parallel, deterministically, into .npz files.

Each chunk of samples has its own seed (``seed * 1_000_003 + chunk``), so the
data do not depend on the number of worker processes.

    python -m models.plates.dataset ocr --count 200000 --seed 1 --out build/plates/ocr_train.npz
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from pathlib import Path

import numpy as np

from models.plates import render, scenes

CHUNK = 500
MAX_BOXES = 4


def _ocr_chunk(args: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    seed, count = args
    images, registrations, provinces = render.ocr_batch(seed, count)
    return images, render.label_matrix(registrations), provinces


def _scene_chunk(args: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    seed, count = args
    images, boxes = scenes.scene_batch(seed, count)
    padded = np.zeros((count, MAX_BOXES, 4), np.float32)
    for i, b in enumerate(boxes):
        padded[i, : len(b)] = b[:MAX_BOXES]
    return images, padded


def _chunks(seed: int, count: int) -> list[tuple[int, int]]:
    sizes = [CHUNK] * (count // CHUNK) + ([count % CHUNK] if count % CHUNK else [])
    return [(seed * 1_000_003 + i, n) for i, n in enumerate(sizes)]


def generate(kind: str, count: int, seed: int, workers: int) -> dict[str, np.ndarray]:
    """Arrays of ``count`` samples of ``kind`` ("ocr" or "scenes")."""
    work = _ocr_chunk if kind == "ocr" else _scene_chunk
    with multiprocessing.Pool(workers) as pool:
        parts = pool.map(work, _chunks(seed, count), chunksize=1)
    columns = [np.concatenate(c) for c in zip(*parts, strict=True)]
    names = ("images", "labels", "provinces") if kind == "ocr" else ("images", "boxes")
    return dict(zip(names, columns, strict=True))


def main() -> None:
    """Command line: generate one dataset file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("ocr", "scenes"))
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    start = time.monotonic()
    arrays = generate(args.kind, args.count, args.seed, args.workers)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **arrays)
    print(f"{args.out}: {args.count} {args.kind} samples in {time.monotonic() - start:.0f} s")


if __name__ == "__main__":
    main()
