"""The `[vision]` section and the `[[cameras]]` tables: models, face policy, sources."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from agent.config.sections import Name, Section
from agent.vision.regions import Polygon, polygon


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
    # --- plates (agent.vision.plates): off until the plate models are installed ---
    plates: bool = False
    plate_detector: str = Field(default="plate-detector", min_length=1, max_length=64)
    plate_ocr: str = Field(default="plate-ocr", min_length=1, max_length=64)
    min_plate_score: float = Field(default=0.3, gt=0, le=1)
    # agent.vision.plates.MAX_EXTENT: above 1 a pass looks at the enlarged frame in tiles.
    plate_scales: tuple[Annotated[float, Field(ge=0.1, le=3)], ...] = Field(
        default=(1.66, 0.5), min_length=1, max_length=4
    )
    # agent.vision.plates.PlateDetector: each pass also looks at the mirrored input.
    plate_flip: bool = False
    # agent.vision.plates.PlateDetector.refined: each plate found is boxed again, close up.
    plate_refine: bool = True
    # ... and peaks from this score up that miss min_plate_score are kept where it confirms them.
    plate_look_score: float = Field(default=0.1, gt=0, le=1)
    min_plate_confidence: float = Field(default=0.5, ge=0, le=1)
    plate_deskew: bool = False
    # agent.vision.plates.OCR_ZOOMS: read each crop as cut, then zoomed in, then out.
    plate_ocr_views: int = Field(default=3, ge=1, le=3)
    # agent.vision.tracker: a plate lost where it stood still is one event if seen again within.
    plate_park_s: float = Field(default=120.0, ge=0, le=86400)
    # ... and a plate is reported once one of its readings was detected at this score.
    plate_track_score: float = Field(default=0.45, ge=0, le=1)


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
