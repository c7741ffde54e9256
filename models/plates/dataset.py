"""Generate OCR and detector datasets in parallel, deterministically, into .npz files.

Each chunk of samples has its own seed (``seed * 1_000_003 + chunk``), so the
data do not depend on the number of worker processes.

    python -m models.plates.dataset ocr --count 200000 --seed 1 --out build/plates/ocr_train.npz

With ``--parts N`` the same samples go to N files, ``OUT-000.npz`` and on, each written
whole (under a temporary name, then renamed) as soon as its chunks are done, so a trainer
can start on the first while the rest are made (``--more`` of the trainers); ``--minutes``
stops the making after the part that ends past that time.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import glob
import multiprocessing
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from models.plates import render, scenes

CHUNK = 500
MAX_BOXES = 4
#: The arrays of each kind's files, in the order the trainers load them.
COLUMNS = {"ocr": ("images", "labels", "provinces"), "scenes": ("images", "boxes")}


def _ocr_chunk(args: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    seed, count = args
    images, registrations, provinces = render.ocr_batch(seed, count)
    return images, render.label_matrix(registrations), provinces


def _scene_chunk(args: tuple[int, int], tiles: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    seed, count = args
    images, boxes = scenes.scene_batch(seed, count, tiles)
    padded = np.zeros((count, MAX_BOXES, 4), np.float32)
    for i, b in enumerate(boxes):
        padded[i, : len(b)] = b[:MAX_BOXES]
    return images, padded


def _chunks(seed: int, count: int) -> list[tuple[int, int]]:
    sizes = [CHUNK] * (count // CHUNK) + ([count % CHUNK] if count % CHUNK else [])
    return [(seed * 1_000_003 + i, n) for i, n in enumerate(sizes)]


def generate_parts(
    kind: str, count: int, seed: int, workers: int, parts: int, *, tiles: float = 0.0
) -> Iterator[dict[str, np.ndarray]]:
    """Arrays of ``count`` samples of ``kind`` ("ocr" or "scenes") in ``parts`` consecutive
    groups of whole chunks, each yielded as soon as it is done; closing the iterator ends
    the worker processes. ``tiles`` is the share of scenes that are tiles of a pole camera's
    frame (``scenes.tile_scene``)."""
    work = _ocr_chunk if kind == "ocr" else functools.partial(_scene_chunk, tiles=tiles)
    names = COLUMNS[kind]
    chunks = _chunks(seed, count)
    ends = [round(len(chunks) * (i + 1) / parts) for i in range(parts)]
    with multiprocessing.Pool(workers) as pool:
        done: list[tuple[np.ndarray, ...]] = []
        for i, part in enumerate(pool.imap(work, chunks, chunksize=1)):
            done.append(part)
            if i + 1 in ends:
                columns = [np.concatenate(c) for c in zip(*done, strict=True)]
                done = []
                yield dict(zip(names, columns, strict=True))


def part_path(out: Path, index: int) -> Path:
    """The file of part ``index`` of a dataset written to ``out`` in parts."""
    return out.with_name(f"{out.stem}-{index:03d}{out.suffix}")


class Refill:
    """Training arrays of a fixed size whose oldest samples are replaced by files that
    appear while training (``dataset --parts``), so that no sample is seen too often.

    ``arrays`` are the columns ``names`` of the files the training started with (``skip``);
    ``refresh()`` loads every file matching ``pattern`` it has not loaded yet, in name order,
    and writes its samples (as many as the arrays hold) over the oldest in place, where the
    batches read them.
    """

    def __init__(
        self,
        arrays: Sequence[np.ndarray],
        names: Sequence[str],
        pattern: str | None,
        skip: Sequence[Path] = (),
    ) -> None:
        self.arrays, self.names, self.pattern = arrays, names, pattern
        self.loaded = {p.resolve() for p in skip}
        self.next = self.fresh = 0

    def refresh(self) -> int:
        """Load the new files; return how many samples they brought (0 without a pattern)."""
        if self.pattern is None:
            return 0
        capacity, brought = len(self.arrays[0]), 0
        for path in sorted(Path(p).resolve() for p in glob.glob(self.pattern)):
            if path in self.loaded:
                continue
            self.loaded.add(path)
            with np.load(path) as data:
                columns = [data[name] for name in self.names]
            n = min(len(columns[0]), capacity)
            where = (self.next + np.arange(n)) % capacity
            for array, column in zip(self.arrays, columns, strict=True):
                array[where] = column[:n]
            self.next = (self.next + n) % capacity
            brought += n
        self.fresh += brought
        return brought


def main() -> None:
    """Command line: generate one dataset file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("ocr", "scenes"))
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--parts", type=int, default=1, help="files to write, each when done")
    parser.add_argument("--minutes", type=float, help="write no part after this many minutes")
    parser.add_argument(
        "--tiles",
        type=float,
        default=0.0,
        help="scenes: the share that are tiles of a pole camera's frame (default 0)",
    )
    args = parser.parse_args()
    if args.count < 1:
        parser.error("--count must be at least 1")
    if not 0.0 <= args.tiles <= 1.0 or (args.tiles and args.kind != "scenes"):
        parser.error("--tiles must be 0 to 1, and only for scenes")
    chunks = -(-args.count // CHUNK)
    if not 1 <= args.parts <= chunks:
        parser.error(f"--parts must be 1 to {chunks} for {args.count} samples ({CHUNK} a chunk)")
    start = time.monotonic()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    parts = generate_parts(
        args.kind, args.count, args.seed, args.workers, args.parts, tiles=args.tiles
    )
    with contextlib.closing(parts):
        for i, arrays in enumerate(parts):
            out = args.out if args.parts == 1 else part_path(args.out, i)
            partial = out.with_name(out.name + ".partial")
            with partial.open("wb") as f:
                np.savez(f, **arrays)
            partial.rename(out)
            took = time.monotonic() - start
            print(f"{out}: {len(arrays['images'])} {args.kind} samples, {took:.0f} s", flush=True)
            if args.minutes is not None and took > args.minutes * 60:
                print(f"{args.out}: stopped after {i + 1} of {args.parts} parts", flush=True)
                break


if __name__ == "__main__":
    main()
