"""The remote configuration layer on disk: the applied desired document and its history.

`current.json` holds the layer in force; `v{N}.json` each of the last applied versions, for
`edge-agent config history` and `config rollback`. Every file is written whole to a temporary
name, fsynced and renamed over the old one, then the folder is fsynced: a power cut leaves
either the old layer or the new one, never half of either.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent.errors import ConfigError, StorageError

KEEP = 10  # applied versions kept for rollback
_VERSION_FILE = re.compile(r"^v(\d{1,16})\.json$")


@dataclass(frozen=True)
class Layer:
    """One applied desired configuration."""

    version: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    highest: int = 0  # the highest version ever accepted: a rollback does not lower it
    applied_at: str | None = None
    issuer: str | None = None
    rolled_back_from: int | None = None


def store_in(storage_dir: Path) -> LayerStore:
    """The layer store of an agent whose state lives in `storage_dir` (local `storage.dir`)."""
    return LayerStore(storage_dir / "remote-config")


class LayerStore:
    """Reads and atomically writes the remote layer under `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def current(self) -> Layer:
        """The layer in force; an empty one before the first remote change."""
        return self._read(self.directory / "current.json") or Layer()

    def version(self, version: int) -> Layer:
        """An applied version still kept, for rollback."""
        layer = self._read(self.directory / f"v{version}.json")
        if layer is None:
            kept = ", ".join(str(v) for v in self.versions()) or "none"
            raise ConfigError(f"version {version} is not kept (kept: {kept})")
        return layer

    def versions(self) -> list[int]:
        """The versions kept, oldest first."""
        if not self.directory.is_dir():
            return []
        found = (_VERSION_FILE.match(p.name) for p in self.directory.iterdir())
        return sorted(int(m.group(1)) for m in found if m is not None)

    def history(self) -> list[Layer]:
        """Every kept version, newest first."""
        return [self.version(v) for v in reversed(self.versions())]

    def save(self, layer: Layer) -> None:
        """Make `layer` the one in force, keep it in the history, drop the oldest."""
        try:
            self.directory.mkdir(mode=0o750, parents=True, exist_ok=True)
            self._write(self.directory / f"v{layer.version}.json", layer)
            self._write(self.directory / "current.json", layer)
            for old in self.versions()[:-KEEP]:
                (self.directory / f"v{old}.json").unlink(missing_ok=True)
            self._sync_folder()
        except OSError as exc:
            raise StorageError(f"cannot write the remote configuration layer: {exc}") from exc

    def _write(self, path: Path, layer: Layer) -> None:
        temporary = path.with_name(f".{path.name}.tmp")
        with open(temporary, "w") as handle:
            json.dump(asdict(layer), handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    def _sync_folder(self) -> None:
        # The renames are durable only once the folder's entry is on disk.
        handle = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)

    def _read(self, path: Path) -> Layer | None:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot read {path}: {exc}") from exc
        try:
            return Layer(**data)
        except TypeError as exc:
            raise StorageError(f"{path} is not a configuration layer: {exc}") from exc


def history_line(layer: dict[str, Any]) -> str:
    """One kept version as a line for the technician."""
    back = f", rollback from v{layer['rolled_back_from']}" if layer["rolled_back_from"] else ""
    by = f" by {layer['issuer']}" if layer["issuer"] else ""
    keys = ", ".join(sorted(layer["config"])) or "(empty)"
    return f"v{layer['version']:<6} applied {layer['applied_at']}{by}{back}: {keys}"
