"""The `[remote]` section: what the control room may change, and whose signatures count."""

from __future__ import annotations

import base64
from typing import Annotated

from pydantic import Field, model_validator

from agent.config.sections import Name, Section

# Changeable over MQTT by default: timing and detection tuning, never identity, pins, paths,
# camera sources (they carry credentials), the vision process's CPU share (it protects the
# SOS path) or what leaves the device (`vision.faces`, face blurring: a local privacy choice).
REMOTE_ALLOW = (
    "telemetry",
    "logging",
    "sos.resend_s",
    "sos.debounce_ms",
    "sos.min_hold_s",
    "sos.test_timeout_s",
    "vision.face_model",
    "vision.face_event_s",
    "vision.min_face_quality",
    "cameras.max_fps",
    "cameras.include",
    "cameras.exclude",
    "cameras.motion",
    "cameras.motion_threshold",
    "cameras.motion_pixel_delta",
    "cameras.motion_hold_frames",
    "cameras.motion_force_every_s",
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
