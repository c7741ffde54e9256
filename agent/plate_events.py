"""Plate events: the vision child's tracked plates as `plate` events, checked against the hotlist.

The child consolidates each vehicle's readings (agent.vision.plate_watch); here, on the
daemon's side, each of its `new`, `update` and `end` messages becomes one `plate` event
(DESIGN §3.3). The hotlist is matched here rather than in the child because only the daemon
reads SQLite: `hotlist_set` keeps it in the outbox state key `vision.hotlist`
(agent.commands). A hit raises the event from priority 2 to 1, unless the entry itself is
less urgent than a plain sighting (priority 3 and up); never to 0, which is the SOS's.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from agent.errors import CommandError
from agent.events import PRIORITY_DETECTION, PRIORITY_FAULT, Event, Media, utc_timestamp
from agent.vision.hotlist import Hotlist, Match

log = logging.getLogger(__name__)

CROP_NAME = "plate.jpg"
# What the child sends in `plate` and the event carries as is (agent.vision.tracker).
_COPIED = (
    "registration", "series", "consonants", "number", "province", "confidence",
    "char_confidences", "province_confidence", "box", "frames", "track_id", "frame_size",
)  # fmt: skip


class PlateEvents:
    """Turns plate messages into events; reads the hotlist through `hotlist` when it changes."""

    def __init__(
        self, *, hotlist: Callable[[], Any], clock: Callable[[], float] = time.time
    ) -> None:
        self._read_hotlist = hotlist
        self._clock = clock
        self._cached: tuple[str, Hotlist] = ("", Hotlist(()))

    def event(self, message: dict[str, Any]) -> tuple[Event, list[Media]]:
        """The `plate` event for one child message, and its crop as media when it has one."""
        plate = message["plate"]
        data = {key: plate[key] for key in _COPIED if key in plate}
        data["camera"] = str(message["camera"])
        data["first_ts"] = utc_timestamp(plate["first_ts"])
        data["last_ts"] = utc_timestamp(plate["last_ts"])
        match = self.hotlist().match(plate["registration"], plate["province"], now=self._clock())
        data["hotlist"] = None if match is None else match.as_dict()
        media = [Media(CROP_NAME, message["jpeg"])] if message.get("jpeg") else []
        if media:
            data["crop"] = CROP_NAME
        event = Event(kind="plate", priority=priority(match), phase=message["phase"], data=data)
        return event, media

    def hotlist(self) -> Hotlist:
        """The current hotlist (validated again only when the stored one changed)."""
        raw = self._read_hotlist() or {}
        key = json.dumps(raw, sort_keys=True, default=str)
        if key != self._cached[0]:
            self._cached = (key, _parse(raw))
        return self._cached[1]


def priority(match: Match | None) -> int:
    """Priority 1 on a hit (2 for entries less urgent than a sighting), else 2."""
    if match is not None and match.entry.priority <= PRIORITY_DETECTION:
        return PRIORITY_FAULT
    return PRIORITY_DETECTION


def _parse(raw: Any) -> Hotlist:
    """The stored `{plate: {province, reason, label, priority, expires}}` as a Hotlist."""
    try:
        entries = [{"plate": plate, **fields} for plate, fields in dict(raw).items()]
        return Hotlist.from_entries(entries)
    except (CommandError, TypeError, ValueError) as exc:
        log.warning("stored hotlist ignored, it is not valid: %s", exc)
        return Hotlist(())
