"""What both plate trainers share: batches, the learning-rate schedule and the command line.

The trainers use Keras 3 alone (TensorFlow is imported only to set its CPU threads, and
only on its own backend), so they run on whichever backend ``KERAS_BACKEND`` names:
TensorFlow on the development machine, where ``convert.py`` turns the saved ``.keras``
model into int8 LiteRT, or JAX on a GPU machine, whose saved models convert the same way.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from models.plates import dataset


def cosine(args: argparse.Namespace, done: float, deadline: float) -> float:
    """Cosine learning rate over whichever runs out first: the epochs or the minutes."""
    left = (deadline - time.monotonic()) / (args.minutes * 60)
    progress = min(1.0, max(done, 1.0 - left))
    return float(args.lr * (0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * progress))))


def join(paths: Sequence[Path], names: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """The arrays `names` of each npz file in `paths`, concatenated in that order."""
    files = [np.load(path) for path in paths]
    return tuple(np.concatenate([data[name] for data in files]) for name in names)


class Batches(keras.utils.PyDataset):  # type: ignore[misc]
    """Mini-batches of in-memory samples, reshuffled every epoch from a seeded generator.

    ``make(indices)`` builds one batch (inputs, targets) from sorted sample indices;
    ``loaders`` threads build batches ahead of the training step (a GPU waits on them);
    ``refill``, if given, brings fresh samples in between epochs.
    """

    def __init__(
        self,
        count: int,
        batch: int,
        seed: int,
        make: Callable[[np.ndarray], Any],
        loaders: int = 1,
        *,
        refill: dataset.Refill | None = None,
    ) -> None:
        super().__init__(workers=loaders, use_multiprocessing=False)
        self.count, self.batch, self.make, self.refill = count, batch, make, refill
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(count)

    def __len__(self) -> int:
        return self.count // self.batch

    def __getitem__(self, i: int) -> Any:
        return self.make(np.sort(self.order[i * self.batch : (i + 1) * self.batch]))

    def on_epoch_end(self) -> None:
        if self.refill is not None:
            self.refill.refresh()
        self.order = self.rng.permutation(self.count)


class Budget(keras.callbacks.Callback):  # type: ignore[misc]
    """Cosine learning rate, a stop at the deadline, a saved model and a line every epoch.

    ``report(model)``, if given, adds to each epoch's line (the OCR's held-out accuracy), as
    does the count of fresh samples a ``refill`` with a pattern has brought so far.
    """

    def __init__(
        self,
        args: argparse.Namespace,
        steps_per_epoch: int,
        report: Callable[[keras.Model], str] | None = None,
        refill: dataset.Refill | None = None,
    ) -> None:
        super().__init__()
        self.args, self.report, self.refill = args, report, refill
        self.total = args.epochs * steps_per_epoch
        self.deadline = time.monotonic() + args.minutes * 60
        self.done = self.steps = 0
        self.began = time.monotonic()

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.began, self.steps = time.monotonic(), 0

    def on_train_batch_begin(self, batch: int, logs: dict[str, float] | None = None) -> None:
        rate = cosine(self.args, self.done / self.total, self.deadline)
        self.model.optimizer.learning_rate.assign(rate)

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        self.done += 1
        self.steps += 1
        if time.monotonic() > self.deadline:
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        took, loss = time.monotonic() - self.began, (logs or {})["loss"]
        line = f"epoch {epoch + 1}: {self.steps} steps in {took:.0f} s, loss {loss:.3f}"
        if self.refill is not None and self.refill.pattern is not None:
            line += f", {self.refill.fresh} fresh samples so far"
        if self.report is not None:
            line += self.report(self.model)
        print(line, flush=True)
        self.model.save(self.args.out)
        if self.model.stop_training:
            print("time budget reached", flush=True)


def compile_options() -> dict[str, Any]:
    """``Model.compile`` options for this backend: XLA on JAX, plain graphs on TensorFlow.

    On the CPU, TensorFlow's XLA ran these small networks four times slower than without.
    """
    return {"jit_compile": keras.backend.backend() == "jax"}


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
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow's CPU threads")
    parser.add_argument("--loaders", type=int, default=1, help="threads that build batches")
    parser.add_argument(
        "--more",
        metavar="GLOB",
        help="npz files that appear while training (dataset --parts, quoted glob): "
        "between epochs each new one replaces the oldest samples",
    )
    return parser


def set_threads(threads: int) -> None:
    """Limit TensorFlow to ``threads`` CPU threads; other backends are left alone."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # noqa: PLC0415 - only on that backend

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
