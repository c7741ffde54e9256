"""Regions of interest and privacy masks: polygons in the config, masks at any frame size.

Points are normalised: `[x, y]` with x from the left edge (0) to the right edge (1) and y
from the top (0) to the bottom (1), so one config fits the detection stream and the
full-resolution stream alike. A camera may list `include` polygons (only there; none means
the whole frame) and `exclude` polygons (never there, e.g. a neighbour's driveway); an
exclusion wins over an inclusion.

The polygon checks are plain Python, and numpy and OpenCV are imported only to draw masks,
so the daemon validates `[[cameras]]` regions without the vision extra installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from agent.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

Point = tuple[float, float]
Polygon = tuple[Point, ...]
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 pixels (as agent.vision.image)
Mask: TypeAlias = "NDArray[np.bool_]"


def polygon(raw: Any, key: str) -> Polygon:
    """A validated polygon from config: at least 3 `[x, y]` points in 0..1, no crossing edges."""
    if not isinstance(raw, Sequence) or isinstance(raw, str) or len(raw) < 3:
        raise ConfigError(f"{key}: a polygon needs at least 3 [x, y] points (got {raw!r})")
    points = tuple(_point(p, f"{key}.{i}") for i, p in enumerate(raw))
    crossing = _crossing_edges(points)
    if crossing is not None:
        raise ConfigError(f"{key}: edges {crossing[0]} and {crossing[1]} cross (got {raw!r})")
    if _area(points) == 0.0:
        raise ConfigError(f"{key}: the points enclose no area (got {raw!r})")
    return points


def _point(raw: Any, key: str) -> Point:
    if (
        not isinstance(raw, Sequence)
        or isinstance(raw, str)
        or len(raw) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw)
    ):
        raise ConfigError(f"{key}: a point is [x, y] with numbers (got {raw!r})")
    x, y = float(raw[0]), float(raw[1])
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise ConfigError(f"{key}: coordinates are fractions of the frame, 0..1 (got {raw!r})")
    return x, y


def _area(points: Polygon) -> float:
    pairs = zip(points, points[1:] + points[:1], strict=True)
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in pairs)) / 2


def _crossing_edges(points: Polygon) -> tuple[int, int] | None:
    """The first two non-adjacent edges that intersect, or None."""
    n = len(points)
    edges = [(points[i], points[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # adjacent through the closing edge
            if _segments_cross(*edges[i], *edges[j]):
                return i, j
    return None


def _segments_cross(a: Point, b: Point, c: Point, d: Point) -> bool:
    def side(p: Point, q: Point, r: Point) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    d1, d2, d3, d4 = side(c, d, a), side(c, d, b), side(a, b, c), side(a, b, d)
    return d1 * d2 < 0 and d3 * d4 < 0


@dataclass(frozen=True)
class Regions:
    """Where on a camera's frame detections count."""

    include: tuple[Polygon, ...] = ()
    exclude: tuple[Polygon, ...] = ()
    _masks: dict[tuple[int, int], Mask] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def from_config(
        cls, include: Sequence[Any] = (), exclude: Sequence[Any] = (), *, key: str = "regions"
    ) -> Regions:
        """Validated regions; errors name the key, e.g. `regions.include.0.2`."""
        return cls(
            include=tuple(polygon(p, f"{key}.include.{i}") for i, p in enumerate(include)),
            exclude=tuple(polygon(p, f"{key}.exclude.{i}") for i, p in enumerate(exclude)),
        )

    def mask(self, size: tuple[int, int]) -> Mask:
        """Boolean mask `(height, width)` of a `size` = (width, height) frame; cached per size."""
        cached = self._masks.get(size)
        if cached is None:
            cached = self._masks[size] = self._draw(size)
            cached.flags.writeable = False
        return cached

    def _draw(self, size: tuple[int, int]) -> Mask:
        import cv2  # noqa: PLC0415 (the vision extra; see the module docstring)
        import numpy as np  # noqa: PLC0415

        width, height = size
        canvas = np.zeros((height, width), np.uint8)
        if self.include:
            cv2.fillPoly(canvas, [_pixels(p, size) for p in self.include], 1)
        else:
            canvas[:] = 1
        if self.exclude:
            cv2.fillPoly(canvas, [_pixels(p, size) for p in self.exclude], 0)
        mask: Mask = canvas.astype(bool)
        return mask

    def contains(
        self, box: Box, size: tuple[int, int], *, min_overlap: float | None = None
    ) -> bool:
        """Whether `box` (pixels of a `size` frame) counts: its centre inside, or with
        `min_overlap`, at least that fraction of its area inside."""
        import numpy as np  # noqa: PLC0415

        mask = self.mask(size)
        width, height = size
        if min_overlap is None:
            cx, cy = int((box[0] + box[2]) / 2), int((box[1] + box[3]) / 2)
            return 0 <= cx < width and 0 <= cy < height and bool(mask[cy, cx])
        x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
        x1, y1 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
        area = max(1, int(np.ceil(box[2]) - int(box[0])) * int(np.ceil(box[3]) - int(box[1])))
        inside = int(mask[y0:y1, x0:x1].sum()) if x1 > x0 and y1 > y0 else 0
        return inside / area >= min_overlap


def _pixels(points: Polygon, size: tuple[int, int]) -> NDArray[np.int32]:
    """Polygon vertices in pixels: 1.0 maps onto the last pixel row or column."""
    import numpy as np  # noqa: PLC0415

    scale = np.array([size[0] - 1, size[1] - 1], np.float64)
    return np.round(np.array(points, np.float64) * scale).astype(np.int32)
