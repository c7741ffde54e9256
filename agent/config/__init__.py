"""Configuration: one set of models validates the local TOML file and remote documents.

Unknown keys are errors, and every error names the dotted key and the offending value, so a
technician reading `edge-agent config check` knows which line to fix. The sections live in
`sections` (core), `vision` (vision and cameras) and `remote`; this module assembles them
into `Config` and reads, validates, describes and masks whole documents.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError, field_validator

from agent.config.remote import REMOTE_ALLOW, DottedKey, RemoteConfig
from agent.config.sections import (
    BcmPin,
    ControlConfig,
    DeviceConfig,
    GpioConfig,
    LoggingConfig,
    McuConfig,
    MqttConfig,
    Name,
    Section,
    SosConfig,
    StorageConfig,
    TelemetryConfig,
)
from agent.config.vision import STREAM_SCHEMES, CameraConfig, Size, VisionConfig
from agent.errors import ConfigError

__all__ = [
    "DEFAULT_PATH",
    "MASK",
    "REMOTE_ALLOW",
    "STREAM_SCHEMES",
    "BcmPin",
    "CameraConfig",
    "Config",
    "ControlConfig",
    "DeviceConfig",
    "DottedKey",
    "GpioConfig",
    "LoggingConfig",
    "McuConfig",
    "MqttConfig",
    "Name",
    "RemoteConfig",
    "Section",
    "Size",
    "SosConfig",
    "StorageConfig",
    "TelemetryConfig",
    "VisionConfig",
    "describe",
    "load",
    "masked",
    "masked_source",
    "password",
    "read_document",
    "resolve_path",
    "validate",
]

DEFAULT_PATH = Path("/etc/edge-agent/config.toml")
MASK = "********"


class Config(Section):
    """The whole configuration of one device."""

    device: DeviceConfig = DeviceConfig()
    mqtt: MqttConfig = MqttConfig()
    storage: StorageConfig = StorageConfig()
    control: ControlConfig = ControlConfig()
    gpio: GpioConfig = GpioConfig()
    sos: SosConfig = SosConfig()
    mcu: McuConfig = McuConfig()
    logging: LoggingConfig = LoggingConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    remote: RemoteConfig = RemoteConfig()
    vision: VisionConfig = VisionConfig()
    cameras: tuple[CameraConfig, ...] = ()

    @field_validator("cameras")
    @classmethod
    def _unique_cameras(cls, cameras: tuple[CameraConfig, ...]) -> tuple[CameraConfig, ...]:
        names = [camera.name for camera in cameras]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise ValueError(f"camera {index}: the name {name!r} is already used")
        return cameras

    @property
    def prefix(self) -> str:
        """The topic prefix with site and device filled in."""
        return self.mqtt.topic_prefix.format(site=self.device.site, device=self.device.id)

    @property
    def database(self) -> Path:
        """The outbox database file."""
        return self.storage.dir / "outbox.db"


def resolve_path(explicit: str | os.PathLike[str] | None) -> Path:
    """`--config`, else `$EDGE_AGENT_CONFIG`, else /etc/edge-agent/config.toml."""
    if explicit is not None:
        return Path(explicit)
    return Path(os.environ.get("EDGE_AGENT_CONFIG") or DEFAULT_PATH)


def load(path: Path) -> Config:
    """Read and validate a TOML file; errors name the file, the dotted key and the value."""
    document = read_document(path)
    try:
        return validate(document)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def read_document(path: Path) -> dict[str, Any]:
    """The TOML file as plain data, not yet validated (remote layers merge over it)."""
    try:
        text = path.read_bytes().decode()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def validate(document: dict[str, Any]) -> Config:
    """Validate a configuration document (from TOML or from a remote JSON document)."""
    try:
        return Config.model_validate(document)
    except ValidationError as exc:
        raise ConfigError("; ".join(describe(exc))) from None


def describe(exc: ValidationError) -> list[str]:
    """One line per error: `mqtt.port: Input should be ... (got 70000)`."""
    lines = []
    for error in exc.errors(include_url=False):
        key = ".".join(str(part) for part in error["loc"]) or "(document)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] in ("missing", "model_type", "model_attributes_type"):
            lines.append(f"{key}: {message}")
        else:
            lines.append(f"{key}: {message} (got {_shown(key, error['input'])})")
    return lines


def _shown(key: str, value: Any) -> str:
    text = repr(_redacted(key.rsplit(".", 1)[-1], value))
    return text if len(text) <= 80 else text[:77] + "..."


def _redacted(key: str, value: Any) -> Any:
    if "password" in key and not key.endswith("_file"):
        return MASK
    if isinstance(value, dict):
        return {k: _redacted(str(k), v) for k, v in value.items()}
    return value


def password(mqtt: MqttConfig) -> str | None:
    """The broker password: inline, from `password_file`, or from systemd's credentials."""
    if mqtt.password is not None:
        return mqtt.password.get_secret_value()
    candidate = mqtt.password_file
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if candidate is None and credentials:
        candidate = Path(credentials) / "mqtt-password"
        if not candidate.exists():
            return None
    if candidate is None:
        return None
    try:
        # systemd hands over an empty credential when none is configured: no password.
        return candidate.read_text().strip() or None
    except OSError as exc:
        raise ConfigError(f"mqtt.password_file: cannot read {candidate}: {exc}") from exc


def masked(config: Config) -> dict[str, Any]:
    """The effective configuration as plain data, with secrets replaced by a mask."""
    data = config.model_dump(mode="json")
    if data["mqtt"]["password"] is not None:
        data["mqtt"]["password"] = MASK
    for camera in data["cameras"]:
        camera["source"] = masked_source(camera["source"])
    return data


def masked_source(source: str) -> str:
    """A camera URL without its password (`rtsp://user:pass@host` carries credentials)."""
    scheme, sep, rest = source.partition("://")
    credentials, at, host = rest.partition("@")
    if not sep or not at or "/" in credentials or ":" not in credentials:
        return source
    return f"{scheme}://{credentials.split(':', 1)[0]}:{MASK}@{host}"
