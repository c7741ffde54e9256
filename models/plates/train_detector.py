"""Train the plate detector: a CenterNet-style heatmap on a small MobileNet-like backbone.

Input: a grey frame, 256 x 256, values 0..1 (letterboxed by the caller).
Outputs at stride 4 (64 x 64 cells): ``heatmap`` (sigmoid, a peak at each
plate centre) and ``box`` (centre offset within the cell, and log of width and
height in cells).  No pretrained weights: everything is learned from the
synthetic scenes.

    python -m models.plates.train_detector --data build/plates/scenes_train.npz \
        --out build/plates/det.keras
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from models.plates import dataset, training

SIZE, STRIDE = 256, 4
STEM = 16  # the first convolution's channels at width 1
GRID = SIZE // STRIDE


def _block(x: Any, filters: int, strides: int = 1) -> Any:
    x = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False)(x)
    x = layers.ReLU(6.0)(layers.BatchNormalization()(x))
    x = layers.Conv2D(filters, 1, use_bias=False)(x)
    return layers.ReLU(6.0)(layers.BatchNormalization()(x))


def _lateral(top: Any, skip: Any, filters: int) -> Any:
    up = layers.UpSampling2D(2)(layers.Conv2D(filters, 1)(top))
    return layers.ReLU(6.0)(layers.Add()([up, layers.Conv2D(filters, 1)(skip)]))


def check_width(width: float) -> float:
    """``width`` if ``build_model`` takes it (a positive multiple of 0.5), else ValueError."""
    if width <= 0 or (2 * width) % 1:
        raise ValueError(f"detector width must be a positive multiple of 0.5, got {width:g}")
    return width


def _width(text: str) -> float:
    try:
        return check_width(float(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_model(width: float = 1.0) -> keras.Model:
    """The detector: about 0.11 M parameters at ``width`` 1, the committed model's. Every
    layer has ``width`` times the channels (a multiple of 0.5: the stem's 16 then tell the
    width of an int8 file, ``recover.detector_width``), about its square times the weights."""
    check_width(width)

    def n(filters: int) -> int:
        return int(filters * width)

    image = keras.Input((SIZE, SIZE, 1), name="image")
    x = layers.Conv2D(n(STEM), 3, strides=2, padding="same", use_bias=False)(image)
    x = layers.ReLU(6.0)(layers.BatchNormalization()(x))  # 128
    s4 = _block(_block(x, n(32), 2), n(32))  # 64
    s8 = _block(_block(s4, n(64), 2), n(64))  # 32
    s16 = _block(_block(_block(s8, n(96), 2), n(96)), n(96))  # 16
    s32 = _block(_block(s16, n(128), 2), n(128))  # 8
    f = _lateral(s32, s16, n(64))
    f = _lateral(_block(f, n(64)), s8, n(48))
    f = _lateral(_block(f, n(48)), s4, n(32))
    f = _block(f, n(32))
    heat = layers.Conv2D(1, 1, activation="sigmoid", name="heatmap",
                         bias_initializer=keras.initializers.Constant(-4.0))(f)  # fmt: skip
    box = layers.Conv2D(4, 1, name="box")(_block(f, n(32)))
    return keras.Model(image, [heat, box], name="plate_detector")


def widened(model: keras.Model, width: float) -> keras.Model:
    """``model`` (a ``build_model`` network) with ``width`` times the committed network's
    channels, computing the same function: its weights fill the first channels of each
    layer, the new channels start as ``build_model`` starts them, and every weight from a
    new channel into an old one is zero, so the new channels change no output until
    training gives them weight. Batch normalisations keep ``model``'s (a recovered model's
    are frozen identities, ``recover.py``), the new channels' as identities too."""
    wide = build_model(width)
    kinds = [[type(layer) for layer in m.layers] for m in (model, wide)]
    if kinds[0] != kinds[1]:
        raise ValueError(f"{model.name} is not a network of train_detector.build_model")
    for old, new in zip(model.layers, wide.layers, strict=True):
        weights = new.get_weights()
        if isinstance(new, layers.BatchNormalization):  # gamma, beta, mean, variance
            ones = np.ones_like(weights[0])
            weights = [ones, 0 * ones, 0 * ones, ones - new.epsilon]
        for was, now in zip(old.get_weights(), weights, strict=True):
            if any(a > b for a, b in zip(was.shape, now.shape, strict=True)):
                raise ValueError(f"{old.name}: {was.shape} does not fit in {now.shape}")
            now[tuple(slice(0, n) for n in was.shape)] = was
        if isinstance(new, layers.Conv2D):  # not a DepthwiseConv2D: that keeps channels apart
            # kernel (height, width, inputs, outputs): the new inputs feed no old output
            weights[0][:, :, old.kernel.shape[2] :, : old.kernel.shape[3]] = 0.0
        new.set_weights(weights)
        new.trainable = old.trainable
    return wide


def targets(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heatmap (G, G), box targets (G, G, 4) and their mask (G, G) for one image."""
    heat = np.zeros((GRID, GRID), np.float32)
    box = np.zeros((GRID, GRID, 4), np.float32)
    mask = np.zeros((GRID, GRID), np.float32)
    yy, xx = np.mgrid[0:GRID, 0:GRID].astype(np.float32)
    for x0, y0, x1, y1 in boxes:
        if x1 - x0 < 2:
            continue
        cx, cy = (x0 + x1) / 2 / STRIDE, (y0 + y1) / 2 / STRIDE
        w, h = (x1 - x0) / STRIDE, (y1 - y0) / STRIDE
        sx, sy = max(w / 6, 0.5), max(h / 6, 0.5)
        gauss = np.exp(-((xx - cx) ** 2) / (2 * sx * sx) - (yy - cy) ** 2 / (2 * sy * sy))
        np.maximum(heat, gauss, out=heat)
        i, j = min(int(cy), GRID - 1), min(int(cx), GRID - 1)
        heat[i, j] = 1.0
        box[i, j] = (cx - j, cy - i, np.log(w), np.log(h))
        mask[i, j] = 1.0
    return heat, box, mask


def focal_loss(target: Any, pred: Any) -> Any:
    """CenterNet's penalty-reduced focal loss, normalised by the number of plates."""
    pred = ops.clip(pred, 1e-4, 1 - 1e-4)
    pos = ops.cast(target >= 1.0, "float32")
    pos_loss = -ops.log(pred) * (1 - pred) ** 2 * pos
    neg_loss = -ops.log(1 - pred) * pred**2 * (1 - target) ** 4 * (1 - pos)
    return ops.sum(pos_loss + neg_loss) / ops.maximum(ops.sum(pos), 1.0)


class HeatmapLoss(keras.losses.Loss):  # type: ignore[misc]
    """The focal loss over the whole batch (one value: it is normalised by the plates)."""

    def call(self, target: Any, heat: Any) -> Any:
        return focal_loss(target[..., 0], heat[..., 0])


class BoxLoss(keras.losses.Loss):  # type: ignore[misc]
    """L1 on the box outputs at plate centres; the target's fifth channel marks the centres."""

    def call(self, target: Any, box: Any) -> Any:
        mask = target[..., 4]
        l1 = ops.sum(ops.abs(box - target[..., :4]), axis=-1) * mask
        return ops.sum(l1) / ops.maximum(ops.sum(mask), 1.0)


def load(*paths: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 256, 256) uint8 and boxes (N, 4, 4) zero-padded, files joined."""
    return training.join(paths, dataset.COLUMNS["scenes"])


def batch_targets(boxes: np.ndarray) -> tuple[np.ndarray, ...]:
    """Stacked targets for a batch of padded boxes."""
    parts = [targets(b[b[:, 2] > 0]) for b in boxes]
    return tuple(np.stack(c) for c in zip(*parts, strict=True))


def train(args: argparse.Namespace) -> None:
    """Train until ``--epochs`` or ``--minutes`` run out; keep the last model."""
    keras.utils.set_random_seed(args.seed)
    images, boxes = load(*args.data)
    if args.init:
        model = keras.models.load_model(args.init, compile=False)
        if args.width is not None:
            try:
                model = widened(model, args.width)
            except ValueError as exc:
                raise SystemExit(f"--width {args.width:g} with --init {args.init}: {exc}") from None
    else:
        model = build_model(args.width or 1.0)
    model.summary(print_fn=lambda s, **_: [print(r) for r in s.splitlines() if "params" in r])
    model.compile(
        optimizer=keras.optimizers.Adam(args.lr),
        loss={"heatmap": HeatmapLoss(), "box": BoxLoss()},
        **training.compile_options(),
    )

    def batch(idx: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        heat, box, mask = batch_targets(boxes[idx])
        x = images[idx, :, :, None].astype(np.float32) / 255.0
        return x, {"heatmap": heat[..., None], "box": np.concatenate([box, mask[..., None]], -1)}

    refill = dataset.Refill((images, boxes), dataset.COLUMNS["scenes"], args.more, args.data)
    batches = training.Batches(
        len(images), args.batch, args.seed, batch, args.loaders, refill=refill
    )
    budget = training.Budget(args, len(batches), refill=refill)
    model.fit(batches, epochs=args.epochs, callbacks=[budget], verbose=0)


def main() -> None:
    """Command line."""
    parser = training.parser(__doc__.splitlines()[0], batch=32, minutes=50.0)
    parser.add_argument(
        "--width",
        type=_width,
        help="channels times this, a multiple of 0.5 (default 1; with --init, the --init "
        "model widened to it, computing what it computed, else its own width)",
    )
    args = parser.parse_args()
    training.set_threads(args.threads)
    train(args)


if __name__ == "__main__":
    main()
