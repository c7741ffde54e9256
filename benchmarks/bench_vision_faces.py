"""Face pipeline cost: pre/invoke/post per model against bare invoke, fps on 720p, RSS.

Run: `.venv/bin/python benchmarks/bench_vision_faces.py` (fetches the models into
`.cache/models` first). Prints `machine:` first; targets: pre+post <= 50 % of invoke,
vision process RSS with all models loaded <= 150 MB.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from agent.vision import models  # noqa: E402
from agent.vision.camera import Reconnecting, open_camera  # noqa: E402
from agent.vision.faces import SPECS, FaceDetector  # noqa: E402
from agent.vision.runtime import Model  # noqa: E402
from tests.vision_fixtures import WHEEL_CACHE, photo  # noqa: E402

MODELS_DIR = ROOT / ".cache" / "models"
RUNS = 300


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith(("model name", "Model"))
        ),
        platform.machine(),
    )
    load = os.getloadavg()[0]
    python = platform.python_version()
    return f"machine: {cpu}, {os.cpu_count()} cpus, Python {python}, load {load:.2f}"


def median_ms(action: Callable[[], object], runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def stages(detector: FaceDetector, image: np.ndarray) -> None:
    tensor, box = detector.preprocess(image)
    detector.model.set_inputs(tensor)
    detector.model.invoke()
    outputs = detector.model.get_outputs()
    bare = median_ms(detector.model.invoke)
    pre = median_ms(lambda: detector.preprocess(image))
    setting = median_ms(lambda: detector.model.set_inputs(tensor))
    getting = median_ms(detector.model.get_outputs)
    post = median_ms(lambda: detector.postprocess(image, outputs, box))
    ours = pre + setting + getting + post
    print(
        f"{detector.spec.model:16s} bare invoke {bare:6.2f} ms | pre {pre:5.2f} set {setting:5.2f}"
        f" get {getting:5.2f} post {post:5.2f} ms | ours/invoke {ours / bare:5.0%} (target <= 50%)"
    )


def fps_720p(detector: FaceDetector, seconds: float = 5.0) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        clip = write_clip(Path(scratch) / "clip.avi")
        stop = threading.Event()
        source = Reconnecting(open_camera("bench", str(clip), loop=True), stop=stop)
        count, found, started = 0, 0, time.perf_counter()
        for frame in source.frames():
            found += len(detector.detect(frame.image))
            count += 1
            if time.perf_counter() - started > seconds:
                stop.set()
        elapsed = time.perf_counter() - started
    print(
        f"{detector.spec.model:16s} 1280x720 decode+detect, 1 thread: {count / elapsed:6.1f} fps"
        f" ({found}/{count} frames with a face)"
    )


def write_clip(path: Path) -> Path:
    face = photo("astronaut")
    frames = []
    for i in range(30):
        frame = np.full((720, 1280, 3), 90, dtype=np.uint8)
        frame[100:612, 20 * i : 20 * i + 512] = face
        frames.append(frame)
    import cv2  # noqa: PLC0415

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 25.0, (1280, 720))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


RSS_CHILD = """
import sys, numpy, cv2
from pathlib import Path
from agent.vision import models
from agent.vision.runtime import Model
d = Path(sys.argv[1])
loaded = [Model(models.require(e, d), name=e.name) for e in models.load_manifest()]
for m in loaded: m.warm_up()
rss = next(l for l in Path('/proc/self/status').read_text().splitlines() if l.startswith('VmRSS'))
print(int(rss.split()[1]) // 1024)
"""


def rss() -> None:
    out = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, str(MODELS_DIR)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    print(f"vision process RSS, all models loaded: {out.stdout.strip()} MB (target <= 150 MB)")


def main() -> None:
    print(machine())
    models.fetch(models.load_manifest(), MODELS_DIR, cache_dir=WHEEL_CACHE)
    image = photo("astronaut")
    for entry in models.load_manifest():
        model = Model(models.require(entry, MODELS_DIR), name=entry.name, num_threads=1)
        model.warm_up()
        detector = FaceDetector(model, SPECS[entry.name])
        stages(detector, image)
        fps_720p(detector)
    rss()


if __name__ == "__main__":
    main()
