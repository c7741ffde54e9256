"""The technician's plate commands: `plates read` and `plates eval`, without a daemon.

Both load the models named by `[vision] plate_detector` and `plate_ocr` from the models
directory (`--dir`, else `vision.models_dir`), verified against models/manifest.toml, as
the vision process does (`edge-agent models fetch` installs them). `plates eval` prints
aggregate numbers only unless `--details` is given: registrations are personal data.
Registered by `agent.cli`; numpy, OpenCV and LiteRT are imported only when a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent import config
from agent.errors import CommandError
from agent.vision import models

if TYPE_CHECKING:
    from agent.vision.motion import MotionGate
    from agent.vision.plate_watch import PlateWatch
    from agent.vision.regions import Regions

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
TRACK_FPS = 10.0  # `plates track`: a folder's frame rate, and a video's that says none
MAX_FPS = 1000.0
TRACK_CAMERA = "track"
Add = Callable[..., argparse.ArgumentParser]


def add_commands(
    sub: Any, add: Add, group: Callable[[Any, str, str], Any], reader: argparse.ArgumentParser
) -> None:
    """Register the commands on the `edge-agent` parser (`add` and `group` are cli's helpers)."""
    plates = group(sub, "plates", "the Thai plate models on image and video files")
    read = add("read", _read, "find and read the plates in image files", into=plates, parent=reader)
    read.add_argument("images", nargs="+", metavar="IMAGE", help="JPEG or PNG files")
    _model_options(read)
    evaluate = add(
        "eval", _eval, "detection and reading metrics on a labelled folder", into=plates,
        parent=reader,
    )  # fmt: skip
    evaluate.add_argument("folder", type=Path, metavar="DIR", help="images and labels.jsonl")
    evaluate.add_argument(
        "--details",
        action="store_true",
        help="add one row per plate with the registrations (personal data: keep it local)",
    )
    _model_options(evaluate)
    track = add(
        "track", _track, "follow the plates through a video file or a folder of frames",
        into=plates, parent=reader,
    )  # fmt: skip
    track.add_argument(
        "source",
        type=Path,
        metavar="VIDEO|DIR",
        help="a video file, or a folder of images played in name order",
    )
    track.add_argument(
        "--fps",
        type=_fps,
        help=f"frames a second (default: the video's own rate, else {TRACK_FPS:g})",
    )
    track.add_argument(
        "--camera",
        metavar="NAME",
        help="play it as the config's [[cameras]] table NAME runs: its include and exclude "
        "regions and its motion gating (default: every frame, the whole frame)",
    )
    _model_options(track)


def _model_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--dir",
        type=Path,
        help="models directory (default: vision.models_dir; with --dir and no --config, "
        "the default [vision] plate settings are used and no config file is needed)",
    )
    command.add_argument(
        "--min-score", type=score_arg, help="detector score floor (default: vision.min_plate_score)"
    )
    command.add_argument(
        "--scales",
        type=_scales,
        metavar="S[,S...]",
        help="how large the image is made against the detector input, one pass each: "
        "at most 1 fits it in that fraction of the input, more cuts it into tiles "
        "(default: vision.plate_scales; 1.66,0.5 finds distant plates and close-ups)",
    )
    add_views(command)


def add_views(command: argparse.ArgumentParser) -> None:
    """`--views`: how often the OCR may read a crop (also the evaluation script's option)."""
    command.add_argument(
        "--views",
        type=int,
        choices=(1, 2, 3),
        help="reads of a crop the OCR is not sure of: as cut, zoomed in, zoomed out "
        "(default: vision.plate_ocr_views)",
    )


def score_arg(text: str) -> float:
    """A score on the command line: in (0, 1]."""
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _scales(text: str) -> tuple[float, ...]:
    try:
        scales = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"numbers separated by commas, got {text!r}") from None
    if not 1 <= len(scales) <= 4 or any(not 0.1 <= s <= 3 for s in scales):
        raise argparse.ArgumentTypeError(f"one to four scales in [0.1, 3] expected, got {text}")
    return scales


def _fps(text: str) -> float:
    try:
        fps = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number of frames a second, got {text!r}") from None
    if not 0 < fps <= MAX_FPS:
        raise argparse.ArgumentTypeError(f"0 < fps <= {MAX_FPS:g} expected, got {text}")
    return fps


def _models(args: argparse.Namespace) -> PlateWatch:
    """Both plate models, loaded once and verified (ModelError names a missing one)."""
    from agent.vision import plate_watch  # noqa: PLC0415 - numpy, OpenCV, LiteRT

    if args.dir is not None and args.config is None:
        vision = config.VisionConfig(models_dir=args.dir)
    else:
        vision = config.load(config.resolve_path(args.config)).vision
    options = plate_watch.PlateOptions(
        detector=vision.plate_detector,
        ocr=vision.plate_ocr,
        min_score=args.min_score or vision.min_plate_score,
        scales=args.scales or vision.plate_scales,
        flip=vision.plate_flip,
        refine=vision.plate_refine,
        look_score=vision.plate_look_score,
        deskew=vision.plate_deskew,
        views=args.views or vision.plate_ocr_views,
        min_confidence=vision.min_plate_confidence,
        park_s=vision.plate_park_s,
        track_score=vision.plate_track_score,
    )
    return plate_watch.load(
        options,
        manifest=models.MANIFEST,
        models_dir=args.dir or vision.models_dir,
        num_threads=vision.num_threads,
    )


def _print(args: argparse.Namespace, data: Any, text: Callable[[Any], str]) -> None:
    output = json.dumps(data, indent=2, ensure_ascii=False) if args.json else text(data)
    if output:
        print(output)


# --- plates read -------------------------------------------------------------------------------


def _read(args: argparse.Namespace) -> int:
    from agent.vision.plate_eval import load_image  # noqa: PLC0415

    watch = _models(args)
    results: list[dict[str, Any]] = []
    for path in args.images:
        try:
            image = load_image(Path(path))
        except CommandError as exc:  # one bad file: say so, read the others
            print(f"edge-agent: {exc}", file=sys.stderr)
            results.append({"image": path, "error": str(exc)})
            continue
        found = watch.detector.refined(image, watch.detector.detect(image))
        plates = [_plate(watch, image, d) for d in found]
        results.append({"image": path, "size": [image.shape[1], image.shape[0]], "plates": plates})
    _print(args, results, plates_text)
    return EXIT_FAILURE if any("error" in r for r in results) else EXIT_OK


def _plate(watch: PlateWatch, image: Any, detection: Any) -> dict[str, Any]:
    """One detection read from the full-resolution image."""
    text = watch.reader.ocr(watch.reader.crop(image, detection.box))
    registration = text.registration
    return {
        "box": [round(v, 1) for v in detection.box],
        "score": round(detection.score, 3),
        "registration": registration.text,
        "confidences": [round(c, 3) for c in registration.confidences],
        "valid": registration.valid,
        "province": text.province,
        "province_confidence": round(text.province_confidence, 3),
    }


def plates_text(results: list[dict[str, Any]]) -> str:
    """`plates read`: each image, then one line per plate (failed images are on stderr)."""
    lines = []
    for result in (r for r in results if "error" not in r):
        width, height = result["size"]
        lines.append(f"{result['image']}: {len(result['plates'])} plate(s) in {width}x{height}")
        lines.extend(_plate_line(plate) for plate in result["plates"])
    return "\n".join(lines)


def _plate_line(plate: dict[str, Any]) -> str:
    box = ", ".join(f"{v:.0f}" for v in plate["box"])
    text = plate["registration"] or "(nothing read)"
    valid = "valid" if plate["valid"] else "NOT a valid format"
    chars = " ".join(f"{c:.2f}" for c in plate["confidences"])
    return (
        f"  [{box}] score {plate['score']:.2f}  {text} ({valid}; chars {chars or '-'})"
        f"  {plate['province']} {plate['province_confidence']:.2f}"
    )


# --- plates track ------------------------------------------------------------------------------


def _track(args: argparse.Namespace) -> int:
    """Every frame of the source through the vision child's plate pipeline (`PlateWatch.step`:
    detected, read, tracked; with `--camera`, within that camera's regions and where its
    motion gate lets the detectors run), timed by the frame rate; the events the control
    room would get, their times in seconds from the first frame."""
    from agent.errors import HardwareError  # noqa: PLC0415
    from agent.vision.camera import Frame, open_camera  # noqa: PLC0415 - OpenCV

    if not args.source.exists():
        print(f"edge-agent: no such video file or folder: {args.source}", file=sys.stderr)
        return EXIT_USAGE
    regions, gate = _as_camera(args)
    watch = _models(args)
    camera = open_camera(TRACK_CAMERA, str(args.source))
    camera.open()  # HardwareError: not a video OpenCV can read, or no images in the folder
    fps = args.fps or getattr(camera, "fps", 0.0) or TRACK_FPS
    events: list[dict[str, Any]] = []

    def tracked(messages: list[dict[str, Any]], ts: float) -> None:
        for message in messages:
            events.append({"t": round(ts, 3), "phase": message["phase"], **message["plate"]})
            if not args.json:  # as they come: a long clip shows its events while it plays
                print(event_line(events[-1]), flush=True)

    count = detected = failed = 0
    try:
        while True:
            try:
                captured = camera.read()
            except HardwareError as exc:  # one unreadable image: say so, play the others
                print(f"edge-agent: {exc}", file=sys.stderr)
                failed += 1
                continue
            if captured is None:
                break
            index = count + failed  # an unreadable frame's time passes all the same
            frame = Frame(image=captured.image, ts=index / fps, seq=index, main=captured.main)
            if gate is None or gate.check(frame.image, frame.ts).run:
                tracked(watch.step(TRACK_CAMERA, frame, regions), frame.ts)
                detected += 1
            else:  # as the vision child does: the detectors skip it, lost tracks may end
                tracked(watch.idle(TRACK_CAMERA, frame), frame.ts)
            count += 1
    finally:
        camera.close()
    tracked(watch.flush(TRACK_CAMERA), max(count + failed - 1, 0) / fps)
    report = {
        "source": str(args.source),
        "camera": args.camera,
        "frames": count,
        "frames_detected": detected,
        "frames_unreadable": failed,
        "fps": fps,
        "events": events,
    }
    _print(args, report, track_summary)
    return EXIT_FAILURE if failed else EXIT_OK


def _as_camera(args: argparse.Namespace) -> tuple[Regions | None, MotionGate | None]:
    """The regions and motion gate of the config's camera `--camera` (none without it)."""
    from agent.sightings import camera_spec  # noqa: PLC0415
    from agent.vision.motion import MotionGate  # noqa: PLC0415 - OpenCV
    from agent.vision.regions import Regions  # noqa: PLC0415

    if args.camera is None:
        return None, None
    path = config.resolve_path(args.config)
    cameras = {c.name: c for c in config.load(path).cameras}
    if args.camera not in cameras:
        named = ", ".join(sorted(cameras)) or "none"
        raise CommandError(f"no camera {args.camera!r} in {path} (its cameras: {named})")
    spec = camera_spec(cameras[args.camera])
    regions = Regions(spec.include, spec.exclude)
    return regions, None if spec.motion is None else MotionGate(spec.motion, roi=regions)


def event_line(event: dict[str, Any]) -> str:
    """`plates track`: one event, when in the clip, its phase and the plate."""
    province = event["province"] or "(no province)"
    return (
        f"  {event['t']:7.2f} s  {event['phase']:<6}  #{event['track_id']}  "
        f"{event['registration']}  {province} {event['province_confidence']:.2f}  "
        f"(least sure character {event['confidence']:.2f}, {event['frames']} frames)"
    )


def track_summary(report: dict[str, Any]) -> str:
    """`plates track`: the line after the events."""
    vehicles = len({e["track_id"] for e in report["events"]})
    camera = f" as camera {report['camera']}" if report["camera"] else ""
    return (
        f"{report['source']}{camera}: {report['frames']} frames at {report['fps']:g} fps "
        f"({report['frames_detected']} detected), {vehicles} vehicle(s) reported"
    )


# --- plates eval -------------------------------------------------------------------------------


def _eval(args: argparse.Namespace) -> int:
    from agent.vision import plate_eval  # noqa: PLC0415

    try:
        labels = plate_eval.load_labels(args.folder)
    except CommandError as exc:  # the argument does not name a labelled folder
        print(f"edge-agent: {exc}", file=sys.stderr)
        return EXIT_USAGE
    watch = _models(args)
    tally = plate_eval.Evaluation(watch.detector, watch.reader).run(args.folder, labels)
    for problem in tally.failed:
        print(f"edge-agent: {problem}", file=sys.stderr)
    _print(args, plate_eval.report(args.folder, tally, details=args.details), eval_text)
    return EXIT_FAILURE if tally.failed else EXIT_OK


def eval_text(report: dict[str, Any]) -> str:
    """`plates eval`: counts, detection, reading end to end and from the labelled box, time."""
    plates, det = report["plates"], report["detection"]
    lines = [
        f"{report['folder']}: {report['images']} images ({report['images_failed']} failed), "
        f"{plates['labelled']} plates labelled, {plates['readable']} readable, "
        f"{plates['with_province']} with a province",
        f"detection     recall {det['recall']:.3f} ({det['matched']}/{det['plates']}), "
        f"precision {det['precision']:.3f} ({det['matched']}/{det['detections']}) "
        f"at IoU {det['iou']:g}",
        "end to end    " + _reading(report["end_to_end"]),
        "labelled box  " + _reading(report["from_labelled_box"]),
        f"time          {_ms(report['mean_ms_per_image'])} per image "
        f"(detection {_ms(report['mean_detect_ms_per_image'])}, then reading each plate found)",
    ]
    lines += [f"  {json.dumps(row, ensure_ascii=False)}" for row in report.get("details", [])]
    return "\n".join(lines)


def _reading(metrics: dict[str, Any]) -> str:
    return (
        f"exact {_rate(metrics['registration_exact'])} of {metrics['plates']}, "
        f"CER {metrics['cer']:.3f}, province {_rate(metrics['province_accuracy'])} "
        f"of {metrics['province_plates']}"
    )


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"
