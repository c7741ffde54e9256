"""The technician's vision and health commands: `models`, `faces detect`, `camera`, `selftest`.

`models` and `faces detect` work without a daemon (installing, checking a model on a photo);
`camera snapshot`, `camera aim` and `selftest` ask the running daemon over its control
socket. Registered by `agent.cli`; numpy, OpenCV and LiteRT are imported only by `faces
detect`.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent import config, control, views
from agent.errors import AgentError, HardwareError
from agent.vision import models

EXIT_OK, EXIT_FAILURE = 0, 1
AIM_EVERY_S = 1.0
CLEAR = "\x1b[H\x1b[2J"  # cursor home, clear screen (ANSI; only when stdout is a terminal)
Command = Callable[[argparse.Namespace], int]
Add = Callable[..., argparse.ArgumentParser]


def add_commands(
    sub: Any, add: Add, group: Callable[[Any, str, str], Any], reader: argparse.ArgumentParser
) -> None:
    """Register the commands on the `edge-agent` parser (`add` and `group` are cli's helpers)."""
    model = group(sub, "models", "the model manifest; obtain and check model files")
    add("list", _models_list, "every model in the manifest", into=model, parent=reader)
    fetch = add("fetch", _models_fetch, "download, verify and install missing models", into=model)
    fetch.add_argument("--dir", type=Path, help="install here (default: vision.models_dir)")
    verify = add("verify", _models_verify, "check installed files' sha256", into=model)
    verify.add_argument("--json", action="store_true", help="print JSON instead of text")
    verify.add_argument("--dir", type=Path, help="check here (default: vision.models_dir)")

    faces = group(sub, "faces", "face detection")
    detect = add("detect", _faces_detect, "find faces in image files", into=faces, parent=reader)
    detect.add_argument("images", nargs="+", metavar="IMAGE", help="JPEG or PNG files")
    detect.add_argument("--dir", type=Path, help="models directory (default: vision.models_dir)")
    detect.add_argument("--model", help="face model (default: vision.face_model)")

    camera = group(sub, "camera", "the running daemon's cameras")
    snap = add("snapshot", _camera_snapshot, "save a still from a running camera", into=camera)
    snap.add_argument("file", type=Path, metavar="FILE", help="where to write the JPEG")
    snap.add_argument("--camera", metavar="NAME", help="which camera (default: the best still)")
    aim = add(
        "aim", _camera_aim, "live aiming aid: focus, light, sizes", into=camera, parent=reader
    )
    aim.add_argument("--camera", metavar="NAME", help="which camera (default: every camera)")
    aim.add_argument("--once", action="store_true", help="one reading, then exit")
    add("selftest", _selftest, "camera, models, broker, MCU, disk, clock checks", parent=reader)


def _vision(args: argparse.Namespace) -> config.VisionConfig:
    return config.load(config.resolve_path(args.config)).vision


def _models_dir(args: argparse.Namespace) -> Path:
    return Path(args.dir) if args.dir is not None else _vision(args).models_dir


def _emit(args: argparse.Namespace, data: Any, text: Callable[[Any], str]) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False) if args.json else text(data))


def _models_list(args: argparse.Namespace) -> int:
    keys = ("name", "task", "version", "file", "source", "sha256", "size", "licence")
    entries = [{key: getattr(e, key) for key in keys} for e in models.load_manifest()]
    _emit(args, entries, views.models_text)
    return EXIT_OK


def _models_fetch(args: argparse.Namespace) -> int:
    checks = models.fetch(models.load_manifest(), _models_dir(args))
    print(views.checks_text([_check(c) for c in checks]))
    return EXIT_OK if all(c.ok for c in checks) else EXIT_FAILURE


def _models_verify(args: argparse.Namespace) -> int:
    checks = models.verify(models.load_manifest(), _models_dir(args))
    _emit(args, [_check(c) for c in checks], views.checks_text)
    return EXIT_OK if all(c.ok for c in checks) else EXIT_FAILURE


def _check(check: models.Check) -> dict[str, Any]:
    return {"name": check.name, "ok": check.ok, "status": check.status, "path": str(check.path),
            "detail": check.detail}  # fmt: skip


def _faces_detect(args: argparse.Namespace) -> int:
    # The vision extra, imported only for this command.
    import cv2  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    from agent.vision.faces import SPECS, FaceDetector  # noqa: PLC0415
    from agent.vision.runtime import Model  # noqa: PLC0415

    name = args.model or _vision(args).face_model
    entry = models.find(models.load_manifest(), name)
    detector = FaceDetector(Model(models.require(entry, _models_dir(args)), name=name), SPECS[name])
    results = []
    for path in args.images:
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise HardwareError(f"cannot read image {path}")
        faces = [face.as_dict() for face in detector.detect(np.asarray(image, np.uint8))]
        results.append({"image": path, "size": [image.shape[1], image.shape[0]], "faces": faces})
    _emit(args, results, views.faces_text)
    return EXIT_OK


def _camera_snapshot(args: argparse.Namespace) -> int:
    socket = config.load(config.resolve_path(args.config)).control.socket
    reply = control.call(socket, "camera_snapshot", {"camera": args.camera})
    args.file.write_bytes(base64.b64decode(reply["jpeg"]))
    width, height = reply["size"]
    print(f"{args.file}: {width}x{height} from camera {reply['camera']}, {reply['faces']} face(s)")
    return EXIT_OK


def _camera_aim(args: argparse.Namespace) -> int:
    """One reading with `--once`; otherwise a reading every second until Ctrl-C."""
    socket = config.load(config.resolve_path(args.config)).control.socket

    def reading() -> list[dict[str, Any]]:
        reply = control.call(socket, "camera_aim", {"camera": args.camera}, timeout=10)
        return list(reply["cameras"])

    if args.once:
        _emit(args, reading(), aim_text)
        return EXIT_OK
    clear = CLEAR if sys.stdout.isatty() and not args.json else ""
    try:
        while True:
            try:
                cameras = reading()
                text = json.dumps(cameras) if args.json else aim_text(cameras)
            except AgentError as exc:  # the daemon restarting: keep trying, the tech is aiming
                text = f"edge-agent: {exc}"
            print(clear + text, flush=True)
            time.sleep(AIM_EVERY_S)
    except KeyboardInterrupt:
        return EXIT_OK


def aim_text(cameras: list[dict[str, Any]]) -> str:
    """`camera aim`: per camera, focus, light, sizes, rates and advice."""
    return "\n\n".join(_aim_camera(reading) for reading in cameras)


def _aim_camera(r: dict[str, Any]) -> str:
    if "sharpness" not in r:
        return f"camera {r['camera']}: no frame yet"
    width, height = r["size"]
    sharp, light, faces, plates = r["sharpness"], r["brightness"], r["faces"], r["plates"]
    plate = plates["note"] or _px(plates["widest_px"])
    rates = f"faces {faces['per_min']:g}"
    rates += f", plates {plates['per_min']:g}" if plates["detector"] else ", plates -"
    lines = [
        f"camera {r['camera']}  {width}x{height}  {r['fps']:g} fps ({r['detect_fps']:g} detected)",
        f"  sharpness   {sharp['value']:g}  {sharp['verdict']}",
        f"  brightness  mean {light['mean']:g}/255, {light['dark']:.1%} black, "
        f"{light['bright']:.1%} white  {light['verdict']}",
        f"  plate width {plate}",
        f"  face width  {_px(faces['widest_px'])}",
        f"  per minute  {rates} (over {r['window_s']:g} s)",
    ]
    lines += [f"  -> {tip}" for tip in r["advice"]] or ["  -> looks good"]
    return "\n".join(lines)


def _px(width: float | None) -> str:
    return "none seen in the last minute" if width is None else f"{width:g} px (widest)"


def _selftest(args: argparse.Namespace) -> int:
    socket = config.load(config.resolve_path(args.config)).control.socket
    result = control.call(socket, "selftest")
    _emit(args, result, views.selftest_text)
    return EXIT_OK if result["ok"] else EXIT_FAILURE
