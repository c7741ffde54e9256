"""The core sections of the configuration: identity, broker, storage, pins, SOS, MCU.

Every section forbids unknown keys and is frozen once loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

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


class LoggingConfig(Section):
    """Log verbosity."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
