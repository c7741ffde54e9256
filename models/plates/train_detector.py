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
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers

from models.plates import training

SIZE, STRIDE = 256, 4
GRID = SIZE // STRIDE


def _block(x: tf.Tensor, filters: int, strides: int = 1) -> tf.Tensor:
    x = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False)(x)
    x = layers.ReLU(6.0)(layers.BatchNormalization()(x))
    x = layers.Conv2D(filters, 1, use_bias=False)(x)
    return layers.ReLU(6.0)(layers.BatchNormalization()(x))


def _lateral(top: tf.Tensor, skip: tf.Tensor, filters: int) -> tf.Tensor:
    up = layers.UpSampling2D(2)(layers.Conv2D(filters, 1)(top))
    return layers.ReLU(6.0)(layers.Add()([up, layers.Conv2D(filters, 1)(skip)]))


def build_model() -> keras.Model:
    """The detector (about 0.2 M parameters)."""
    image = keras.Input((SIZE, SIZE, 1), name="image")
    x = layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False)(image)
    x = layers.ReLU(6.0)(layers.BatchNormalization()(x))  # 128
    s4 = _block(_block(x, 32, 2), 32)  # 64
    s8 = _block(_block(s4, 64, 2), 64)  # 32
    s16 = _block(_block(_block(s8, 96, 2), 96), 96)  # 16
    s32 = _block(_block(s16, 128, 2), 128)  # 8
    f = _lateral(s32, s16, 64)
    f = _lateral(_block(f, 64), s8, 48)
    f = _lateral(_block(f, 48), s4, 32)
    f = _block(f, 32)
    heat = layers.Conv2D(1, 1, activation="sigmoid", name="heatmap",
                         bias_initializer=keras.initializers.Constant(-4.0))(f)  # fmt: skip
    box = layers.Conv2D(4, 1, name="box")(_block(f, 32))
    return keras.Model(image, [heat, box], name="plate_detector")


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


def focal_loss(target: tf.Tensor, pred: tf.Tensor) -> tf.Tensor:
    """CenterNet's penalty-reduced focal loss, normalised by the number of plates."""
    pred = tf.clip_by_value(pred, 1e-4, 1 - 1e-4)
    pos = tf.cast(target >= 1.0, tf.float32)
    pos_loss = -tf.math.log(pred) * (1 - pred) ** 2 * pos
    neg_loss = -tf.math.log(1 - pred) * pred**2 * (1 - target) ** 4 * (1 - pos)
    return tf.reduce_sum(pos_loss + neg_loss) / tf.maximum(tf.reduce_sum(pos), 1.0)


def load(*paths: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 256, 256) uint8 and boxes (N, 4, 4) zero-padded, files joined."""
    return training.join(paths, ("images", "boxes"))


def batch_targets(boxes: np.ndarray) -> tuple[np.ndarray, ...]:
    """Stacked targets for a batch of padded boxes."""
    parts = [targets(b[b[:, 2] > 0]) for b in boxes]
    return tuple(np.stack(c) for c in zip(*parts, strict=True))


def train(args: argparse.Namespace) -> None:
    """Train until ``--epochs`` or ``--minutes`` run out; keep the last model."""
    tf.keras.utils.set_random_seed(args.seed)
    images, boxes = load(*args.data)
    model = keras.models.load_model(args.init, compile=False) if args.init else build_model()
    model.summary(print_fn=lambda s: print(s) if "params" in s else None)
    total = args.epochs * (len(images) // args.batch)
    optimizer = keras.optimizers.Adam(args.lr)

    @tf.function
    def step(x, heat_t, box_t, mask_t) -> tf.Tensor:
        with tf.GradientTape() as tape:
            heat, box = model(x, training=True)
            l1 = tf.reduce_sum(tf.abs(box - box_t), axis=-1) * mask_t
            reg = tf.reduce_sum(l1) / tf.maximum(tf.reduce_sum(mask_t), 1.0)
            loss = focal_loss(heat_t, heat[..., 0]) + reg
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                      model.trainable_variables, strict=False))  # fmt: skip
        return loss

    done_steps = 0
    deadline, rng = time.monotonic() + args.minutes * 60, np.random.default_rng(args.seed)
    for epoch in range(args.epochs):
        order, losses, began = rng.permutation(len(images)), [], time.monotonic()
        for i in range(0, len(order) - args.batch + 1, args.batch):
            idx = np.sort(order[i : i + args.batch])
            optimizer.learning_rate.assign(training.cosine(args, done_steps / total, deadline))
            done_steps += 1
            x = tf.constant(images[idx, :, :, None], tf.float32) / 255.0
            losses.append(float(step(x, *batch_targets(boxes[idx]))))
            if time.monotonic() > deadline:
                break
        took = time.monotonic() - began
        print(f"epoch {epoch + 1}: {len(losses)} steps in {took:.0f} s, loss {np.mean(losses):.3f}",
              flush=True)  # fmt: skip
        model.save(args.out)
        if time.monotonic() > deadline:
            print("time budget reached", flush=True)
            break


def main() -> None:
    """Command line."""
    parser = training.parser(__doc__.splitlines()[0], batch=32, minutes=50.0)
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    train(args)


if __name__ == "__main__":
    main()
