"""What both plate trainers share: the learning-rate schedule and the command line."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def cosine(args: argparse.Namespace, done: float, deadline: float) -> float:
    """Cosine learning rate over whichever runs out first: the epochs or the minutes."""
    left = (deadline - time.monotonic()) / (args.minutes * 60)
    progress = min(1.0, max(done, 1.0 - left))
    return float(args.lr * (0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * progress))))


def join(paths: Sequence[Path], names: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """The arrays `names` of each npz file in `paths`, concatenated in that order."""
    files = [np.load(path) for path in paths]
    return tuple(np.concatenate([data[name] for data in files]) for name in names)


def parser(description: str, *, batch: int, minutes: float) -> argparse.ArgumentParser:
    """The options both trainers take; each adds its own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="npz files, joined")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--init", type=Path, help="continue from this saved model")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--minutes", type=float, default=minutes)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    return parser
