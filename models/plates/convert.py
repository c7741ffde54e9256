"""Convert a trained Keras model to full-integer int8 LiteRT with a representative dataset.

Inputs become uint8 (the 0..255 pixels as they come from the camera, scale
1/255), outputs int8 with their own scale and zero point.

    python -m models.plates.convert --model build/plates/ocr.keras --data build/plates/ocr_val.npz \
        --out models/plates/plate_ocr.tflite
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow as tf

REPRESENTATIVE = 300


def convert(model: tf.keras.Model, images: np.ndarray) -> bytes:
    """Full-integer quantisation calibrated on ``images`` (N, H, W) uint8."""

    def representative() -> Iterator[list[np.ndarray]]:
        for image in images[:REPRESENTATIVE]:
            yield [image[None, :, :, None].astype(np.float32) / 255.0]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.int8
    return converter.convert()


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="npz with calibration images")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.models.load_model(args.model, compile=False)
    flat = convert(model, np.load(args.data)["images"])
    args.out.write_bytes(flat)
    print(f"{args.out}: {len(flat)} bytes")


if __name__ == "__main__":
    main()
