"""Train the plate reader: a small CNN with a CTC registration head and a province head.

Input: a grey plate crop, 64 x 128, values 0..1.  Outputs: ``registration``,
logits (64 steps x 53 classes, blank first) for CTC, read as two rows of 32
steps (the top row of a motorcycle plate, then its bottom row); and
``province``, softmax over the 78 names of ``alphabet.PROVINCES``.

    python -m models.plates.train_ocr --data build/plates/ocr_train.npz --out build/plates/ocr.keras
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from models.plates import alphabet, dataset, degrade, training

N_CLASSES = len(alphabet.OCR_CLASSES) + 1


def _conv(x: Any, filters: int, strides: tuple[int, int] = (1, 1), *, sep: bool = False) -> Any:
    conv = layers.SeparableConv2D if sep else layers.Conv2D
    x = conv(filters, 3, strides=strides, padding="same", use_bias=False)(x)
    return layers.ReLU(6.0)(layers.BatchNormalization()(x))


#: Each stem's first convolution's channels: what tells an int8 file's stem (recover.py).
STEMS = {"full": 16, "strided": 24}
STEM_LAYERS = 4  # layers with weights in either stem: two convolutions, each normalised


def _stem(image: Any, stem: str) -> Any:
    """The first two layers, to 32 channels at half the crop's resolution.

    ``full`` convolves the crop at its own resolution first (16 channels), then strides;
    ``strided`` strides at once (24 channels) and follows with a separable convolution.
    A one-channel input at full resolution is what int8 convolutions on a CPU do worst
    (a fifth of the whole network's invoke on an AVX2 host, for 2 % of its multiply-adds).
    """
    if stem == "full":
        return _conv(_conv(image, STEMS[stem]), 32, (2, 2))
    if stem == "strided":
        return _conv(_conv(image, STEMS[stem], (2, 2)), 32, sep=True)
    raise ValueError(f"unknown stem {stem!r}: expected one of {', '.join(STEMS)}")


def build_model(stem: str = "full") -> keras.Model:
    """The OCR network (0.44 M parameters; about 60 M multiply-adds with the ``full`` stem,
    52 M with the ``strided`` one).

    A cheaper variant (a strided stem and depthwise-separable blocks, 0.31 M parameters,
    about 1.5 x the samples per second on one CPU thread) was tried in a full
    `make train-plates` run and read 2.2 % of the held-out plates after its 85 minutes,
    which is no reason to replace the architecture of the committed model (models/README.md).
    """
    image = keras.Input((64, 128, 1), name="image")
    x = _stem(image, stem)
    x = _conv(x, 32, sep=True)
    x = _conv(x, 64, (2, 2))
    x = _conv(x, 64, sep=True)
    x = _conv(x, 96, (2, 1))
    x = _conv(x, 96, sep=True)
    x = _conv(x, 128, (2, 1))  # 4 x 32 x 128
    rows = layers.Conv2D(128, (2, 1), strides=(2, 1), activation="relu")(x)  # 2 x 32
    seq = layers.Reshape((64, 128))(rows)
    seq = layers.Conv1D(128, 3, padding="same", activation="relu")(seq)
    registration = layers.Conv1D(N_CLASSES, 1, name="registration")(seq)
    p = layers.Conv2D(32, 1, activation="relu")(x)
    p = layers.AveragePooling2D((1, 4))(p)
    p = layers.Dense(128, activation="relu")(layers.Flatten()(p))
    province = layers.Dense(len(alphabet.PROVINCES), activation="softmax", name="province")(p)
    return keras.Model(image, [registration, province], name="plate_ocr")


class CTCLoss(keras.losses.Loss):  # type: ignore[misc]
    """CTC loss of each sample; labels are class indices padded with -1, blank is class 0."""

    def call(self, labels: Any, logits: Any) -> Any:
        labels = ops.cast(labels, "int32")
        label_length = ops.sum(ops.cast(labels >= 0, "int32"), axis=1)
        logit_length = ops.full((ops.shape(logits)[0],), ops.shape(logits)[1], "int32")
        return ops.ctc_loss(ops.maximum(labels, 0), logits, label_length, logit_length, 0)


def compile_model(model: keras.Model, lr: float) -> None:
    """Compile for training: CTC on the registration, cross-entropy (twice the weight) on
    the province, Adam at `lr`."""
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss={"registration": CTCLoss(), "province": keras.losses.SparseCategoricalCrossentropy()},
        loss_weights={"registration": 1.0, "province": 2.0},
        **training.compile_options(),
    )


def load(*paths: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images (N, 64, 128) uint8, CTC labels (N, 8) and province ids (N,), files joined."""
    return training.join(paths, dataset.COLUMNS["ocr"])


def greedy_exact(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> float:
    """Share of crops whose greedy CTC decoding equals the label."""
    logits, _ = model.predict(images[..., None] / 255.0, batch_size=256, verbose=0)
    return greedy_hits(logits.argmax(-1), labels) / len(labels)


def greedy_hits(best: np.ndarray, labels: np.ndarray) -> int:
    """How many best paths ``(N, steps)`` collapse (CTC: repeats, then blanks) to their label."""
    hits = 0
    for row, label in zip(best, labels, strict=True):
        collapsed = [int(c) for i, c in enumerate(row) if c != 0 and (i == 0 or c != row[i - 1])]
        hits += collapsed == [int(v) for v in label if v >= 0]
    return hits


def train(args: argparse.Namespace) -> None:
    """Train until ``--epochs`` or ``--minutes`` run out; keep the last model."""
    keras.utils.set_random_seed(args.seed)
    images, labels, provinces = load(*args.data)
    val = load(args.val) if args.val else None
    model = (
        keras.models.load_model(args.init, compile=False) if args.init else build_model(args.stem)
    )
    model.summary(print_fn=lambda s, **_: [print(r) for r in s.splitlines() if "params" in r])
    compile_model(model, args.lr)

    def batch(idx: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        x = images[idx, :, :, None].astype(np.float32) / 255.0
        if args.invert > 0:
            # Seeded by the batch's samples: loader threads share no generator.
            x = degrade.vary_batch(x, np.random.default_rng([args.seed, *idx[:4]]), args.invert)
        return x, {"registration": labels[idx], "province": provinces[idx]}

    def report(model: keras.Model) -> str:
        if val is None:
            return ""
        return f", val exact {greedy_exact(model, val[0][:2000], val[1][:2000]):.4f}"

    columns = (images, labels, provinces)
    refill = dataset.Refill(columns, dataset.COLUMNS["ocr"], args.more, args.data)
    batches = training.Batches(
        len(images), args.batch, args.seed, batch, args.loaders, refill=refill
    )
    budget = training.Budget(args, len(batches), report, refill)
    model.fit(batches, epochs=args.epochs, callbacks=[budget], verbose=0)


def main() -> None:
    """Command line."""
    parser = training.parser(__doc__.splitlines()[0], batch=64, minutes=60.0)
    parser.add_argument("--val", type=Path)
    parser.add_argument(
        "--stem",
        choices=sorted(STEMS),
        default="full",
        help="the first layers of a network trained from scratch (with --init: the model's own)",
    )
    parser.add_argument(
        "--invert",
        type=float,
        default=0.0,
        help="share of each batch inverted, with contrast and brightness varied (0: as rendered)",
    )
    args = parser.parse_args()
    training.set_threads(args.threads)
    train(args)


if __name__ == "__main__":
    main()
