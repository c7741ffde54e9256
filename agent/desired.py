"""Desired configuration documents: `{"version": N, "config": {...}}` from the control room.

`config` is the remote layer: the same sections and keys as the TOML file, merged over the
local file with JSON merge-patch semantics (RFC 7386: objects merge, `null` deletes, anything
else replaces). Each document replaces the previous layer whole, so dropping a key from the
desired state returns it to the local value. The merged result is validated by the very
models that validate the file.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from agent.config import Config, describe, validate
from agent.errors import ConfigError

# Never changeable remotely, whatever the allow-list says: the remote layer may not widen its
# own permissions or move the folder the layer itself is stored in.
NEVER_REMOTE = ("remote", "storage.dir")
# Keys applied to the running agent without restarting anything.
LIVE = (
    "sos.resend_s",
    "sos.debounce_ms",
    "sos.min_hold_s",
    "sos.test_timeout_s",
    "telemetry",
    "logging",
    "remote",
)
# Sections owned by one restartable component; anything else restarts the process.
COMPONENTS = {"mqtt": "publisher"}
MAX_VERSION = 2**53  # the largest integer every JSON implementation keeps exact


class DesiredDocument(BaseModel):
    """The document on `{prefix}/config/desired` (envelope fields checked by `signing`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: StrictInt = Field(ge=1, le=MAX_VERSION)
    config: dict[str, Any]
    issuer: Any = None
    expires: Any = None
    sig: Any = None


def parse(document: dict[str, Any]) -> DesiredDocument:
    """Validate the document's shape; ConfigError lines name the key."""
    try:
        return DesiredDocument.model_validate(document)
    except ValidationError as exc:
        raise ConfigError("; ".join(describe(exc))) from None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch of `patch` over `target` (neither is modified)."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def disallowed(
    layer: dict[str, Any], allow: tuple[str, ...], local: dict[str, Any] | None = None
) -> list[str]:
    """One error line per key of `layer` outside the allow-list (`local`: the file's document)."""
    permitted = ", ".join(allow) or "nothing"
    return [
        f"{key}: not changeable remotely (remote.allow: {permitted})"
        for key in _leaf_keys(layer, local or {})
        if not _allowed(key, allow)
    ]


def _leaf_keys(layer: dict[str, Any], local: dict[str, Any]) -> list[str]:
    keys: list[str] = []
    for section, value in layer.items():
        if isinstance(value, dict) and value:
            keys.extend(f"{section}.{key}" for key in value)
        elif _is_tables(value):
            keys.extend(_changed_in_tables(str(section), value, local.get(section)))
        else:
            keys.append(str(section))
    return keys


def _is_tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _changed_in_tables(section: str, tables: list[dict[str, Any]], before: Any) -> list[str]:
    # An array of tables ([[cameras]]) replaces the local one whole, so it restates every
    # table: name only the keys that differ from the local table of the same name. Adding,
    # removing or renaming a table changes the array itself.
    old = {t.get("name"): t for t in before} if _is_tables(before) else {}
    new = {t.get("name"): t for t in tables}
    if len(new) != len(tables) or new.keys() != old.keys():
        return [section]
    return sorted(
        {
            f"{section}.{key}"
            for name, table in new.items()
            for key in table.keys() | old[name].keys()
            if table.get(key) != old[name].get(key)
        }
    )


def _allowed(key: str, allow: tuple[str, ...]) -> bool:
    if any(key == never or key.startswith(f"{never}.") for never in NEVER_REMOTE):
        return False
    return key in allow or key.split(".", 1)[0] in allow


def effective(local: dict[str, Any], layer: dict[str, Any]) -> Config:
    """The local file with the remote layer merged over it, validated."""
    return validate(merge_patch(local, layer))


def changed(old: Config, new: Config) -> set[str]:
    """Dotted keys whose values differ between two configurations."""
    before, after = old.model_dump(), new.model_dump()
    keys = set()
    for section, values in after.items():
        if not isinstance(values, dict):  # [[cameras]]: an array of tables, changed as a whole
            keys |= {section} if before[section] != values else set()
            continue
        keys |= {
            f"{section}.{key}" for key, value in values.items() if before[section].get(key) != value
        }
    return keys


def restart_needed(keys: set[str]) -> str | None:
    """None when every change applies live, else what must restart: a component or `process`."""
    needs = {_restart_of(key) for key in keys} - {None}
    if not needs:
        return None
    return "process" if "process" in needs else sorted(n for n in needs if n)[0]


def _restart_of(key: str) -> str | None:
    section = key.split(".", 1)[0]
    if key in LIVE or section in LIVE:
        return None
    return COMPONENTS.get(section, "process")


def errors(lines: list[str]) -> list[dict[str, str]]:
    """`key: message` lines as objects with the dotted key apart."""
    result = []
    for line in lines:
        for part in line.split("; "):
            key, _, message = part.partition(": ")
            if not message or " " in key:  # a message without a key
                key, message = "(document)", part
            result.append({"key": key, "message": message})
    return result
