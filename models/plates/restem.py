"""Give the plate reader another stem, learnt from the trained one's, to train on from there.

The student is the teacher with its first two layers (``train_ocr.STEMS``) replaced and
every later layer copied, weights and frozen flags alike. The new stem's output is fitted
to the old stem's (mean squared error, on the crops of ``--data``, no labels) while the
rest stays as it is; with ``--match 3`` the layer after the stem is fitted along with it,
to the teacher's output there. ``train_ocr --init`` can then train the whole network on
labels (models/README.md, "A cheaper first layer for the OCR").

    python -m models.plates.restem --init build/exp/ocr_rec.keras --stem strided \\
        --data build/exp/ocr_init.npz --out build/exp/ocr_student.keras [--minutes 10] \\
        [--match 3] [--val build/plates/ocr_val.npz]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import keras
import numpy as np

from models.plates import train_ocr, training

MATCH_MAX = 8  # the activations of the convolutions before the heads branch off


def _weighted(model: keras.Model) -> list[keras.Layer]:
    return [layer for layer in model.layers if layer.weights]


def activation(model: keras.Model, number: int) -> keras.KerasTensor:
    """The output of the network's ``number``-th activation (2: the stem's)."""
    relus = [layer for layer in model.layers if isinstance(layer, keras.layers.ReLU)]
    return relus[number - 1].output


def student(teacher: keras.Model, stem: str) -> keras.Model:
    """A network with ``stem`` and the teacher's weights everywhere after its stem."""
    model = train_ocr.build_model(stem)
    after = zip(
        _weighted(teacher)[train_ocr.STEM_LAYERS :],
        _weighted(model)[train_ocr.STEM_LAYERS :],
        strict=True,
    )
    for old, new in after:
        new.set_weights(old.get_weights())
        new.trainable = old.trainable
    return model


def fit_stem(
    teacher: keras.Model, model: keras.Model, images: np.ndarray, args: argparse.Namespace
) -> None:
    """Fit ``model``'s first ``args.match`` activations to ``teacher``'s on ``images`` until
    the minutes run out, the learning rate falling from ``args.lr`` to 0 on a cosine."""
    target = keras.Model(teacher.input, activation(teacher, args.match))
    stem = keras.Model(model.input, activation(model, args.match))
    optimizer = keras.optimizers.Adam(args.lr)
    stem.compile(optimizer=optimizer, loss="mse")
    rng = np.random.default_rng(args.seed)
    began = time.monotonic()
    step = 0
    losses: list[float] = []
    while (done := (time.monotonic() - began) / (args.minutes * 60)) < 1:
        optimizer.learning_rate = args.lr * 0.5 * (1 + math.cos(math.pi * done))
        x = images[rng.choice(len(images), args.batch, replace=False), :, :, None] / 255.0
        losses.append(float(stem.train_on_batch(x, target.predict_on_batch(x))))
        step += 1
        if step % 100 == 0:
            print(f"step {step}: stem loss {np.mean(losses):.5f}", flush=True)
            losses.clear()


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--init", type=Path, required=True, help="the trained model (teacher)")
    parser.add_argument("--stem", choices=sorted(train_ocr.STEMS), required=True)
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="npz files, joined")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--val", type=Path, help="npz of held-out crops: both read greedily")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--lr", type=float, default=2e-3, help="at the start; cosine to 0")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow's CPU threads")
    parser.add_argument(
        "--match",
        type=int,
        default=2,
        help="activations matched to the teacher's (2: the stem's; more trains later layers too)",
    )
    args = parser.parse_args()
    if not 2 <= args.match <= MATCH_MAX:
        parser.error(f"--match: 2 (the stem) to {MATCH_MAX}, got {args.match}")
    training.set_threads(args.threads)
    keras.utils.set_random_seed(args.seed)
    teacher = keras.models.load_model(args.init, compile=False)
    model = student(teacher, args.stem)
    images = train_ocr.load(*args.data)[0]
    fit_stem(teacher, model, images, args)
    if args.val:
        val, val_labels, _ = train_ocr.load(args.val)
        for name, network in (("teacher", teacher), ("student", model)):
            exact = train_ocr.greedy_exact(network, val[:2000], val_labels[:2000])
            print(f"{name}: greedy exact {exact:.4f} on 2,000 held-out crops")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(f"{args.out}: {args.stem} stem from {args.init}")


if __name__ == "__main__":
    main()
