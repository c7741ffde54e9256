"""How many crops a second this machine trains the plate reader on, on one Keras backend.

The committed network (``train_ocr.build_model``), compiled as ``train_ocr`` compiles it
(``compile_model``), takes training steps on one fixed random batch, so the rate is the
backend's and the machine's alone: no data loading, no augmentation. ``KERAS_BACKEND``
picks the backend (TensorFlow, JAX or PyTorch, whichever is installed); ``--threads`` limits
its CPU threads.

    KERAS_BACKEND=torch python -m models.plates.step_rate [--threads 1] [--steps 40]
"""

from __future__ import annotations

import argparse
import os
import time


def _limit_threads(threads: int) -> None:
    """This backend's CPU threads. XLA reads its own from flags when JAX starts, so those
    are set before Keras is first imported."""
    if os.environ.get("KERAS_BACKEND") == "jax":
        os.environ.setdefault(
            "XLA_FLAGS",
            f"--xla_cpu_multi_thread_eigen={str(threads > 1).lower()} "
            f"intra_op_parallelism_threads={threads}",
        )
    import keras  # noqa: PLC0415 - after XLA's flags

    from models.plates import training  # noqa: PLC0415 - imports Keras

    training.set_threads(threads)
    if keras.backend.backend() == "torch":
        import torch  # noqa: PLC0415 - only on that backend

        torch.set_num_threads(threads)


def rate(batch: int, steps: int, warmup: int = 5) -> tuple[str, float]:
    """The backend, and crops a second over `steps` training steps on one random batch
    after `warmup`."""
    import keras  # noqa: PLC0415 - after `_limit_threads`
    import numpy as np  # noqa: PLC0415

    from models.plates import alphabet, train_ocr  # noqa: PLC0415 - imports Keras

    keras.utils.set_random_seed(1)
    model = train_ocr.build_model()
    train_ocr.compile_model(model, 1e-3)
    rng = np.random.default_rng(0)
    x = rng.random((batch, 64, 128, 1), dtype=np.float32)
    labels = np.full((batch, 8), -1, np.int32)
    labels[:, :6] = rng.integers(1, train_ocr.N_CLASSES, (batch, 6))
    y = {"registration": labels, "province": rng.integers(0, len(alphabet.PROVINCES), batch)}
    for _ in range(warmup):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return keras.backend.backend(), steps * batch / (time.perf_counter() - start)


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="the backend's CPU threads")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    if args.threads < 1 or args.batch < 1 or args.steps < 1:
        parser.error("--threads, --batch and --steps must be at least 1")
    _limit_threads(args.threads)
    backend, crops = rate(args.batch, args.steps)
    print(f"{backend}, {args.threads} thread(s), batch {args.batch}: {crops:.1f} crops a second")


if __name__ == "__main__":
    main()
