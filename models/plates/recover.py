"""Recover a trainable Keras model from a committed int8 plate model, to continue training.

Training can continue from a shipped model when no float checkpoint of it survives: every
weight of the int8 file is dequantised with its own per-channel scales and put into the
network of ``train_ocr.build_model`` or ``train_detector.build_model``. The converter
folded each batch normalisation into the convolution before it, so the recovered batch
normalisations are identities that carry the folded bias (gamma 1, mean 0, variance
1 - epsilon, beta the bias) and are frozen: they run in inference mode while training
continues. ``--check`` compares the recovered model with the int8 file on real inputs.

    python -m models.plates.recover ocr --tflite models/plates/plate_ocr.tflite \
        --out build/plates/ocr_init.keras [--check build/plates/ocr_val.npz]
    python -m models.plates.recover detector --tflite models/plates/plate_detector.tflite \
        --out build/plates/det_init.keras [--check build/plates/scenes_val.npz]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from tensorflow import keras
from tensorflow.keras import layers

from models.plates import train_detector, train_ocr


def detector_width(path: Path) -> float:
    """The width (``train_detector.build_model``) of an int8 detector: its stem's channels."""
    return int8_ops(path)[0].kernel.shape[0] / train_detector.STEM


def ocr_stem(path: Path) -> str:
    """The stem (``train_ocr.STEMS``) of an int8 OCR, told by its first convolution."""
    first = int8_ops(path)[0].kernel.shape[0]
    for stem, channels in train_ocr.STEMS.items():
        if channels == first:
            return stem
    raise ValueError(f"{path}: an OCR whose first convolution has {first} channels")


#: The network of each kind, built to take the weights of an int8 file.
BUILDERS: dict[str, Callable[[Path], keras.Model]] = {
    "ocr": lambda path: train_ocr.build_model(ocr_stem(path)),
    "detector": lambda path: train_detector.build_model(detector_width(path)),
}


WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
INPUT = -1  # the graph input, as an ancestor


@dataclass
class Op:
    """A weighted LiteRT op: its dequantised kernel and bias, and the weighted ops it reads."""

    index: int
    kernel: np.ndarray  # LiteRT layout: output channels first, depthwise 1 x h x w x c
    bias: np.ndarray
    after: frozenset[int]  # indices of the nearest weighted ops upstream (INPUT: the image)


def int8_ops(path: Path) -> list[Op]:
    """Every weighted op of the int8 file, in execution order, with its weights dequantised."""
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    # The graph as converted: the XNNPACK delegate's nodes claim their ops' outputs again.
    ops = [op for op in interpreter._get_ops_details() if op["op_name"] != "DELEGATE"]
    producer = {tensor: op for op in ops for tensor in op["outputs"]}
    inputs = {d["index"] for d in interpreter.get_input_details()}

    def value(index: int) -> np.ndarray:
        q = details[index]["quantization_parameters"]
        raw = interpreter.get_tensor(index).astype(np.float64)
        if not len(q["scales"]):
            return raw
        shape = [1] * raw.ndim
        shape[q["quantized_dimension"]] = -1
        return (raw - q["zero_points"].reshape(shape)) * q["scales"].reshape(shape)

    def upstream(tensor: int) -> frozenset[int]:
        if tensor in inputs:
            return frozenset([INPUT])
        op = producer.get(tensor)
        if op is None:  # a constant
            return frozenset()
        if op["op_name"] in WEIGHTED_OPS:
            return frozenset([op["index"]])
        return frozenset().union(*(upstream(t) for t in op["inputs"] if t >= 0))

    return [
        Op(op["index"], value(op["inputs"][1]), value(op["inputs"][2]), upstream(op["inputs"][0]))
        for op in ops
        if op["op_name"] in WEIGHTED_OPS
    ]


def recover(path: Path, model: keras.Model) -> keras.Model:
    """`model` with the int8 file's weights and frozen identity batch normalisations.

    Each weighted layer takes the op with its kernel's shape that reads what the layer
    reads: LiteRT orders the branches of a network its own way, and layers of the same
    shape occur in more than one branch. A separable convolution is two ops, depthwise
    then pointwise.
    """
    unused = int8_ops(path)
    matched: dict[str, int] = {}  # layer name -> the op whose output is the layer's output
    folded: dict[str, np.ndarray] = {}  # batch normalisation -> the bias folded into it

    def take(shape: tuple[int, ...], after: frozenset[int]) -> Op:
        for op in unused:
            if op.kernel.shape == shape and op.after == after:
                unused.remove(op)
                return op
        raise ValueError(f"{path}: no op with a {shape} kernel after ops {sorted(after)}")

    for layer in model.layers:
        if not isinstance(layer, KERNEL_LAYERS):
            continue
        names = _upstream(layer)
        after = frozenset(matched[name] for name in names) if names else frozenset([INPUT])
        kernels, op = _kernels(layer, after, take)
        if getattr(layer, "use_bias", True):
            layer.set_weights([*kernels, op.bias])
        else:
            layer.set_weights(kernels)
            folded[_batch_norm_after(model, layer)] = op.bias
        matched[layer.name] = op.index
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            bias = folded.pop(layer.name)
            ones = np.ones_like(bias)
            layer.set_weights([ones, bias, 0 * ones, ones - layer.epsilon])
            layer.trainable = False
    if unused or folded:
        raise ValueError(f"{path}: {len(unused)} ops and {len(folded)} biases left over")
    return model


Take = Callable[[tuple[int, ...], frozenset[int]], "Op"]


def _kernels(layer: layers.Layer, after: frozenset[int], take: Take) -> tuple[list[np.ndarray], Op]:
    """The layer's kernels in Keras layout, from the op(s) `take` finds; and the last op."""
    shapes = [w.shape for w in layer.get_weights()]
    if isinstance(layer, layers.SeparableConv2D):
        (height, width, channels, _), (_, _, _, outputs) = shapes[:2]
        depthwise = take((1, height, width, channels), after)
        if np.abs(depthwise.bias).max() > 1e-6:
            raise ValueError(f"{layer.name}: the depthwise step has a bias")
        pointwise = take((outputs, 1, 1, channels), frozenset([depthwise.index]))
        return [depthwise.kernel[0][..., None], pointwise.kernel.transpose(1, 2, 3, 0)], pointwise
    if isinstance(layer, layers.DepthwiseConv2D):
        height, width, channels, _ = shapes[0]
        op = take((1, height, width, channels), after)
        return [op.kernel[0][..., None]], op
    if isinstance(layer, layers.Conv1D):
        size, inputs, outputs = shapes[0]
        op = take((outputs, 1, size, inputs), after)
        return [op.kernel[:, 0].transpose(1, 2, 0)], op
    if isinstance(layer, layers.Conv2D):
        height, width, inputs, outputs = shapes[0]
        op = take((outputs, height, width, inputs), after)
        return [op.kernel.transpose(1, 2, 3, 0)], op
    inputs, outputs = shapes[0]  # Dense
    op = take((outputs, inputs), after)
    return [op.kernel.T], op


KERNEL_LAYERS = (
    layers.SeparableConv2D,
    layers.DepthwiseConv2D,
    layers.Conv1D,
    layers.Conv2D,
    layers.Dense,
)


def _upstream(layer: layers.Layer) -> set[str]:
    """Names of the nearest layers with kernels that feed `layer` (none: the image)."""
    found: set[str] = set()
    for tensor in keras.tree.flatten(layer.input):
        source = tensor._keras_history.operation
        if isinstance(source, KERNEL_LAYERS):
            found.add(source.name)
        elif not isinstance(source, layers.InputLayer):
            found |= _upstream(source)
    return found


def _batch_norm_after(model: keras.Model, layer: layers.Layer) -> str:
    """The batch normalisation that takes `layer`'s output."""
    for other in model.layers:
        if isinstance(other, layers.BatchNormalization) and other.input is layer.output:
            return str(other.name)
    raise ValueError(f"{layer.name} has no bias and no batch normalisation after it")


def int8_outputs(path: Path, images: np.ndarray) -> dict[int, np.ndarray]:
    """The int8 file's outputs on `images` (N, H, W) uint8, dequantised, by last dimension."""
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    (image,) = interpreter.get_input_details()
    found: dict[int, list[np.ndarray]] = {}
    for picture in images:
        interpreter.set_tensor(image["index"], picture[None, :, :, None])
        interpreter.invoke()
        for output in interpreter.get_output_details():
            scale, zero = output["quantization"]
            raw = interpreter.get_tensor(output["index"])[0].astype(np.float32)
            found.setdefault(output["shape"][-1], []).append((raw - zero) * scale)
    return {last: np.stack(values) for last, values in found.items()}


def check(model: keras.Model, path: Path, data: Path, count: int) -> None:
    """Each output of the recovered model against the int8 file's, on `count` inputs."""
    loaded = np.load(data)
    images = loaded["images"][:count]
    ours = model.predict(images[..., None] / 255.0, batch_size=64, verbose=0)
    theirs = int8_outputs(path, images)
    for output in ours:
        other = theirs[output.shape[-1]]
        gap = float(np.abs(output - other).mean())
        spread = float(other.std())
        print(
            f"output ...x{output.shape[-1]}: mean |recovered - int8| {gap:.4f}, spread {spread:.4f}"
        )
    if "labels" in loaded:  # the OCR: greedy readings and provinces, both ways
        labels, provinces = loaded["labels"][:count], loaded["provinces"][:count]
        registration, province = ours
        pairs = {
            "recovered": (registration, province),
            "int8": (theirs[registration.shape[-1]], theirs[province.shape[-1]]),
        }
        for name, (steps, names) in pairs.items():
            exact = train_ocr.greedy_hits(steps.argmax(-1), labels) / count
            right = float((names.argmax(-1) == provinces).mean())
            print(f"{name:>9}: greedy exact {exact:.1%}, province {right:.1%} of {count}")


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=sorted(BUILDERS))
    parser.add_argument("--tflite", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--check", type=Path, help="npz of inputs to compare the two on")
    parser.add_argument("--count", type=int, default=500, help="inputs to compare")
    args = parser.parse_args()
    model = recover(args.tflite, BUILDERS[args.kind](args.tflite))
    if args.check:
        check(model, args.tflite, args.check, args.count)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(f"{args.out}: recovered from {args.tflite}")


if __name__ == "__main__":
    main()
