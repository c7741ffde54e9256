"""Configuration: one set of models validates the local TOML file and remote documents.

Unknown keys are errors, and every error names the dotted key and the offending value, so a
technician reading `edge-agent config check` knows which line to fix.
"""

from __future__ import annotations

import base64
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from agent.errors import ConfigError
from agent.vision.regions import Polygon, polygon

DEFAULT_PATH = Path("/etc/edge-agent/config.toml")
MASK = "********"

# Topic-safe identifiers: no MQTT wildcards, separators or whitespace.
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
BcmPin = Annotated[int, Field(ge=0, le=27)]


class Section(BaseModel):
    """Base of every section: unknown keys are errors; values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceConfig(Section):
    """Identity of this pole or post; part of every topic."""

    id: Name = "pole-0001"
    site: Name = "site"


class MqttConfig(Section):
    """Connection to the control room's MQTT broker."""

    host: str = Field(default="localhost", min_length=1)
    port: int = Field(default=1883, ge=1, le=65535)
    topic_prefix: str = "ssz/v1/{site}/{device}"
    client_id: str | None = Field(default=None, min_length=1, max_length=128)
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    max_inflight: int = Field(default=20, ge=1, le=65535)
    reconnect_min_s: float = Field(default=0.5, gt=0, le=60)
    reconnect_max_s: float = Field(default=30.0, gt=0, le=3600)
    connect_timeout_s: float = Field(default=10.0, gt=0, le=300)

    @model_validator(mode="after")
    def _check(self) -> MqttConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must not be below reconnect_min_s")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        if self.password is not None and self.password_file is not None:
            raise ValueError("set password or password_file, not both")
        for placeholder in ("{site}", "{device}"):
            if placeholder not in self.topic_prefix:
                raise ValueError(f"topic_prefix must contain {placeholder}")
        return self


class StorageConfig(Section):
    """Where the outbox database lives and how much disk it may use."""

    dir: Path = Path("/var/lib/edge-agent")
    max_bytes: int = Field(default=500_000_000, ge=1_000_000)
    retention_days: float = Field(default=7.0, gt=0, le=366)


class ControlConfig(Section):
    """The local control socket the technician CLI talks to."""

    socket: Path = Path("/run/edge-agent/control.sock")
    group: str | None = None


class GpioConfig(Section):
    """Which gpiozero pin factory drives the pins."""

    pin_factory: Literal["lgpio", "rpigpio", "native", "mock"] = "lgpio"


class SosConfig(Section):
    """The SOS button, the caller's indicators and the alarm timing."""

    pin: BcmPin = 17
    resend_s: float = Field(default=30.0, ge=1, le=60)
    debounce_ms: int = Field(default=50, ge=0, le=2000)
    min_hold_s: float = Field(default=0.0, ge=0, le=10)
    registered_led_pin: BcmPin | None = 22
    acknowledged_led_pin: BcmPin | None = 27
    test_timeout_s: float = Field(default=300.0, ge=10, le=3600)

    @model_validator(mode="after")
    def _check(self) -> SosConfig:
        pins = [self.pin, self.registered_led_pin, self.acknowledged_led_pin]
        used = [p for p in pins if p is not None]
        if len(used) != len(set(used)):
            raise ValueError(
                f"pin, registered_led_pin and acknowledged_led_pin must differ: {pins}"
            )
        return self


class McuConfig(Section):
    """The post's microcontroller on a serial line (strobe, siren, tamper, power, watchdog)."""

    port: str | None = Field(default=None, min_length=1)
    baudrate: int = Field(default=115200, ge=1200, le=4_000_000)
    heartbeat_s: float = Field(default=1.0, ge=0.05, le=10)
    missed_heartbeats: int = Field(default=3, ge=2, le=100)
    watchdog_s: float = Field(default=60.0, ge=0, le=3600)
    battery_low_v: float = Field(default=11.5, gt=0, le=60)
    battery_critical_v: float = Field(default=11.0, gt=0, le=60)
    battery_hysteresis_v: float = Field(default=0.3, ge=0, le=5)
    shutdown_delay_s: int = Field(default=60, ge=0, le=3600)
    shutdown_min_off_s: int = Field(default=600, ge=0, le=65535)
    alarm_strobe: Literal["off", "steady", "slow", "fast", "sos"] = "fast"
    alarm_siren: Literal["off", "continuous", "wail", "chirp"] = "off"
    siren_s: int = Field(default=120, ge=1, le=900)

    @model_validator(mode="after")
    def _check(self) -> McuConfig:
        if self.battery_critical_v >= self.battery_low_v:
            raise ValueError("battery_critical_v must be below battery_low_v")
        link_timeout = self.heartbeat_s * self.missed_heartbeats
        if self.watchdog_s and (self.watchdog_s < 0.5 or self.watchdog_s <= link_timeout):
            raise ValueError(
                "watchdog_s must be 0 (off), or at least 0.5 and longer than "
                f"heartbeat_s * missed_heartbeats ({link_timeout:g} s)"
            )
        return self


class TelemetryConfig(Section):
    """The health snapshot sent on `{prefix}/telemetry`."""

    interval_s: float = Field(default=60.0, ge=1, le=86400)


class VisionConfig(Section):
    """The vision process: which face model, how hard it may work, what leaves the device."""

    enabled: bool = False
    models_dir: Path = Path("/var/lib/edge-agent/models")
    face_model: Literal["blazeface-full", "blazeface-short"] = "blazeface-full"
    num_threads: int = Field(default=1, ge=1, le=4)
    nice: int = Field(default=10, ge=0, le=19)
    faces: Literal["counts", "crops", "none"] = "counts"
    face_event_s: float = Field(default=5.0, ge=0, le=3600)
    min_face_quality: float = Field(default=0.0, ge=0, le=1)
    blur_faces_in_snapshots: bool = True
    hang_s: float = Field(default=10.0, ge=2, le=300)


# OpenCV's network sources (agent.vision.camera.STREAM_SCHEMES; that module needs OpenCV).
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
Size = tuple[Annotated[int, Field(ge=16, le=8192)], Annotated[int, Field(ge=16, le=8192)]]


class CameraConfig(Section):
    """One `[[cameras]]` table: a source, its frame rate, regions and motion gating."""

    name: Name
    source: str = Field(min_length=1)
    loop: bool = False
    max_fps: float = Field(default=5.0, ge=0, le=60)
    main_size: Size | None = None
    lores_size: Size | None = None
    include: tuple[Polygon, ...] = ()
    exclude: tuple[Polygon, ...] = ()
    motion: bool = False
    motion_threshold: float = Field(default=0.005, gt=0, le=1)
    motion_pixel_delta: int = Field(default=25, gt=0, lt=255)
    motion_hold_frames: int = Field(default=10, ge=0, le=10_000)
    motion_force_every_s: float = Field(default=30.0, gt=0, le=86400)

    @field_validator("include", "exclude", mode="before")
    @classmethod
    def _polygons(cls, raw: Any) -> Any:
        if not isinstance(raw, list | tuple):
            return raw
        return tuple(polygon(points, f"polygon {i}") for i, points in enumerate(raw))

    @field_validator("source")
    @classmethod
    def _source(cls, source: str) -> str:
        if source.startswith("picamera2") and not re.fullmatch(r"picamera2(:\d)?", source):
            raise ValueError("a Pi camera is 'picamera2' or 'picamera2:N'")
        if "://" in source and not source.startswith(STREAM_SCHEMES):
            raise ValueError(f"a stream URL starts with one of {', '.join(STREAM_SCHEMES)}")
        return source

    @model_validator(mode="after")
    def _check(self) -> CameraConfig:
        sizes = self.main_size is not None or self.lores_size is not None
        if sizes and not self.is_picamera:
            raise ValueError("main_size and lores_size apply to picamera2 sources only")
        return self

    @property
    def is_picamera(self) -> bool:
        """Whether the source is a Raspberry Pi camera (picamera2)."""
        return self.source.startswith("picamera2")


# Changeable over MQTT by default: timing and tuning, never identity, pins, paths or secrets.
REMOTE_ALLOW = (
    "telemetry",
    "logging",
    "sos.resend_s",
    "sos.debounce_ms",
    "sos.min_hold_s",
    "sos.test_timeout_s",
    "detection",
    "camera",
)
DottedKey = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$")]


class RemoteConfig(Section):
    """What the control room may change over MQTT, whose signatures count, and the limits."""

    allow: tuple[DottedKey, ...] = REMOTE_ALLOW
    trusted_keys: dict[Name, str] = Field(default_factory=dict)
    max_command_bytes: int = Field(default=16384, ge=256, le=1_048_576)
    max_desired_bytes: int = Field(default=65536, ge=1024, le=1_048_576)
    commands_per_s: float = Field(default=5.0, gt=0, le=10_000)
    command_burst: int = Field(default=20, ge=1, le=100_000)
    max_expiry_s: float = Field(default=86400.0, ge=60, le=30 * 86400)
    broker_trial_s: float = Field(default=60.0, ge=1, le=3600)

    @model_validator(mode="after")
    def _check(self) -> RemoteConfig:
        for issuer, key in self.trusted_keys.items():
            try:
                raw = base64.b64decode(key, validate=True)
            except ValueError:
                raw = b""
            if len(raw) != 32:  # an Ed25519 public key is 32 bytes
                raise ValueError(f"trusted_keys.{issuer}: not a base64 Ed25519 public key")
        return self


class LoggingConfig(Section):
    """Log verbosity."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


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
