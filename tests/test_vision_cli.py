"""The vision commands: models list/verify, faces detect; and the core without the vision extra."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from agent.cli import main
from tests.daemon import ROOT
from tests.vision_fixtures import models_dir, photo  # noqa: F401 (fixture)

pytest.importorskip("ai_edge_litert")


def test_models_list_names_every_manifest_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert {e["name"] for e in entries} >= {"blazeface-short", "blazeface-full"}
    assert all(len(e["sha256"]) == 64 for e in entries)


def test_models_verify_passes_on_good_files_and_fails_naming_the_bad_one(
    models_dir: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["models", "verify", "--dir", str(models_dir), "--json"]) == 0
    assert all(check["ok"] for check in json.loads(capsys.readouterr().out))
    broken = tmp_path / "models"
    shutil.copytree(models_dir, broken)
    (broken / "blazeface" / "face_detection_short_range.tflite").write_bytes(b"not a model")
    assert main(["models", "verify", "--dir", str(broken)]) == 1
    out = capsys.readouterr().out
    assert "ok   blazeface-full" in out
    assert "FAIL blazeface-short" in out and "manifest says 229032" in out


def test_faces_detect_finds_the_astronaut_and_fails_on_an_unreadable_file(
    models_dir: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    image = tmp_path / "astronaut.png"
    cv2.imwrite(str(image), photo("astronaut"))
    argv = ["faces", "detect", str(image), "--dir", str(models_dir), "--model", "blazeface-full"]
    assert main([*argv, "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["size"] == [512, 512] and len(result["faces"]) == 1
    assert main(argv) == 0
    assert f"{image}: 1 face(s)" in capsys.readouterr().out
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    argv.insert(2, str(tmp_path / "broken.jpg"))
    assert main(argv) == 1
    assert "cannot read image" in capsys.readouterr().err


BLOCK_VISION = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("numpy", "cv2", "ai_edge_litert", "tflite_runtime"):
            raise ImportError(f"{name} is blocked: the vision extra is not installed")
sys.meta_path.insert(0, Block())
from agent import app, cli, config
cfg = config.validate({"cameras": [{"name": "door", "source": "picamera2",
                       "include": [[[0, 0.3], [1, 0.3], [1, 1], [0, 1]]]}]})
assert not cfg.vision.enabled
assert cli.main(["models", "list"]) == 0
print("core ok")
"""


def test_the_core_runs_without_the_vision_extra() -> None:
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_VISION], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "core ok" in done.stdout
