"""Media in the outbox: stored with their event, sent after it, counted by the quota."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from agent.errors import StorageError
from agent.events import MEDIA_MAX_BYTES, Event, Media
from agent.outbox import Outbox
from agent.outbox.quota import choose_victims
from tests.snapshots import jpeg

BIG = 50_000_000


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.db"


@pytest.fixture
def opener(db_path: Path) -> Iterator[Callable[..., Outbox]]:
    opened: list[Outbox] = []

    def open_outbox(**options: Any) -> Outbox:
        settings: dict[str, Any] = {"max_bytes": BIG, "retention_s": 3600.0, **options}
        outbox = Outbox.open(db_path, device="pole-0001", site="samutsakhon", **settings)
        opened.append(outbox)
        return outbox

    yield open_outbox
    for outbox in opened:
        outbox.close()


def event(kind: str = "plate", priority: int = 2) -> Event:
    return Event(kind=kind, priority=priority)


def blob(name: str, size: int) -> Media:
    return Media(name, b"\xff" * size)


def records(outbox: Outbox, kind: str | None = None) -> list[dict[str, Any]]:
    return list(reversed(outbox.recent(kind=kind, limit=100_000)))


def test_media_names_are_one_topic_level_and_content_is_bounded() -> None:
    for name in ("", "a/b", "+", "#", ".hidden", "x" * 65, "snap shot.jpg"):
        with pytest.raises(ValueError, match="media name"):
            Media(name, b"x")
    with pytest.raises(ValueError, match="bytes"):
        Media("empty.jpg", b"")
    with pytest.raises(ValueError, match="bytes"):
        Media("huge.jpg", b"x" * (MEDIA_MAX_BYTES + 1))
    assert Media("crop-1_front.jpg", b"x").content_type == "image/jpeg"


def test_media_are_stored_with_their_event(opener: Callable[..., Outbox]) -> None:
    outbox = opener()
    picture = jpeg()
    stored = outbox.add(event("sos", 0), media=[Media("snapshot.jpg", picture)])

    assert json.loads(stored.payload)["media"] == ["snapshot.jpg"]
    event_row, media_row = outbox.pending(10)
    assert event_row == stored
    assert (media_row.id, media_row.kind, media_row.seq) == (
        f"{stored.id}/snapshot.jpg",
        "sos",
        stored.seq,
    )
    assert (media_row.media, media_row.content_type) == ("snapshot.jpg", "image/jpeg")
    assert (media_row.payload, media_row.priority) == (picture, 1)
    assert media_row.sha256 == hashlib.sha256(picture).hexdigest()


def test_event_and_media_land_together_or_not_at_all(
    db_path: Path, opener: Callable[..., Outbox]
) -> None:
    outbox = opener()
    first = outbox.add(event())
    with closing(sqlite3.connect(db_path)) as db:  # a write that fails half way (disk full)
        db.execute(
            "CREATE TRIGGER fail BEFORE INSERT ON media BEGIN SELECT RAISE(ABORT, 'full'); END"
        )
    with pytest.raises(StorageError, match="full"):
        outbox.add(event("sos", 0), media=[Media("snapshot.jpg", jpeg())])
    assert outbox.pending(10) == [first]
    with pytest.raises(ValueError, match="unique"):
        outbox.add(event(), media=[blob("a.jpg", 10), blob("a.jpg", 20)])
    assert outbox.add(event()).seq == first.seq + 1  # the failed adds used no seq


def test_media_go_after_their_event_and_before_lower_priorities(
    opener: Callable[..., Outbox],
) -> None:
    outbox = opener()
    plate = outbox.add(event("plate", 2))
    fault = outbox.add(event("tamper", 1))
    sos = outbox.add(event("sos", 0), media=[blob("snapshot.jpg", 100), blob("wide.jpg", 100)])
    crop = outbox.add(event("plate", 2), media=[blob("crop.jpg", 100)])
    late_sos = outbox.add(event("sos", 0))

    order = [row.id for row in outbox.pending(100)]

    assert order == [
        sos.id,
        late_sos.id,
        fault.id,
        f"{sos.id}/snapshot.jpg",
        f"{sos.id}/wide.jpg",
        plate.id,
        crop.id,
        f"{crop.id}/crop.jpg",
    ]
    assert [row.id for row in outbox.pending(2, exclude=[sos.id, fault.id])] == order[1:4:2]


def test_mark_delivered_covers_media(opener: Callable[..., Outbox]) -> None:
    outbox = opener()
    stored = outbox.add(event("sos", 0), media=[blob("snapshot.jpg", 100)])
    outbox.mark_delivered([f"{stored.id}/snapshot.jpg", f"{stored.id}/other.jpg"])
    assert outbox.pending(10) == [stored]
    outbox.mark_delivered([stored.id])
    assert outbox.pending(10) == []
    assert outbox.stats().delivered_kept == 2


def test_stats_count_media_as_their_own_kind(opener: Callable[..., Outbox]) -> None:
    outbox = opener()
    sos = outbox.add(event("sos", 0), media=[blob("snapshot.jpg", 5000)])
    crop = outbox.add(event("plate", 2), media=[blob("a.jpg", 700), blob("b.jpg", 300)])
    stats = outbox.stats()
    groups = [(g.kind, g.priority, g.pending, g.bytes) for g in stats.by_kind]
    assert groups == [
        ("sos", 0, 1, len(sos.payload)),
        ("media", 1, 1, 5000),
        ("plate", 2, 1, len(crop.payload)),
        ("media", 3, 2, 1000),
    ]
    assert stats.pending == 5
    assert stats.bytes == stats.pending_bytes == len(sos.payload) + len(crop.payload) + 6000
    outbox.close()
    assert opener().stats().bytes == stats.bytes  # recounted at start, media included


def test_eviction_order_with_media(db_path: Path, opener: Callable[..., Outbox]) -> None:
    outbox = opener()
    old = outbox.add(event("plate", 2), media=[blob("old.jpg", 10)])
    outbox.mark_delivered([old.id, f"{old.id}/old.jpg"])
    outbox.add(event("sos", 0), media=[blob("sos.jpg", 10)])
    outbox.add(event("tamper", 1), media=[blob("tamper.jpg", 10)])
    outbox.add(event("plate", 2), media=[blob("plate.jpg", 10)])
    outbox.add(event("telemetry", 3), media=[blob("telemetry.jpg", 10)])

    with closing(sqlite3.connect(db_path)) as db:
        everything = choose_victims(db, stored_bytes=BIG, max_bytes=1)
        names = dict(db.execute("SELECT row, name FROM media").fetchall())

    order = [names[v.key] if v.media else v.kind for v in everything]
    assert order == [
        "old.jpg",  # delivered media, then delivered events
        "plate",
        "telemetry.jpg",  # priority 4
        "plate.jpg",  # priority 3: media before events
        "telemetry",
        "tamper.jpg",  # priority 2
        "plate",
        "tamper",  # priority 1: fault events before the SOS snapshot
        "sos.jpg",  # last; the SOS event itself never
    ]


def test_quota_evicts_crops_before_plates_and_keeps_the_sos_snapshot(
    opener: Callable[..., Outbox],
) -> None:
    outbox = opener(max_bytes=60_000)
    sos = outbox.add(event("sos", 0), media=[blob("snapshot.jpg", 20_000)])
    plates = [outbox.add(event(), media=[blob("crop.jpg", 2_000)]) for _ in range(150)]

    pending = {row.id for row in outbox.pending(1000)}
    assert {sos.id, f"{sos.id}/snapshot.jpg"} <= pending
    kept_plates = [p for p in plates if p.id in pending]
    kept_crops = [p for p in plates if f"{p.id}/crop.jpg" in pending]
    assert plates[0] not in kept_plates  # plates went too, once no crop was left to evict
    assert set(kept_crops) <= set(kept_plates)
    reports = [r["data"]["by_kind"] for r in records(outbox, "outbox")]
    assert reports and "media" in reports[0] and "plate" not in reports[0]
    assert any("plate" in report for report in reports)
    assert outbox.stats().bytes <= 60_000


def test_sos_snapshots_are_evicted_last_and_reported(opener: Callable[..., Outbox]) -> None:
    outbox = opener(max_bytes=30_000)
    alarms = [outbox.add(event("sos", 0), media=[blob("snapshot.jpg", 9_000)]) for _ in range(5)]
    pending = {row.id for row in outbox.pending(1000)}
    assert {a.id for a in alarms} <= pending  # every SOS event stays
    assert f"{alarms[0].id}/snapshot.jpg" not in pending
    assert f"{alarms[-1].id}/snapshot.jpg" in pending
    reports = [r["data"] for r in records(outbox, "outbox")]
    assert reports and all(r["by_kind"] == {"media": r["evicted"]} for r in reports)


def test_dropped_media_is_gone_and_reported(opener: Callable[..., Outbox]) -> None:
    woken: list[int] = []
    outbox = opener(on_added=lambda: woken.append(1))
    stored = outbox.add(event("sos", 0), media=[blob("snapshot.jpg", 4_000)])
    before = outbox.stats().bytes

    outbox.drop(f"{stored.id}/snapshot.jpg", "too large for the broker")
    outbox.drop(f"{stored.id}/snapshot.jpg", "again")  # gone already: nothing more

    (report,) = records(outbox, "outbox")
    assert (report["priority"], report["phase"]) == (1, "info")
    assert report["data"] == {
        "dropped": "media",
        "event": stored.id,
        "name": "snapshot.jpg",
        "bytes": 4_000,
        "reason": "too large for the broker",
    }
    rows = outbox.pending(10)
    assert [row.id for row in rows] == [stored.id, report["id"]]
    assert outbox.stats().bytes == before - 4_000 + len(rows[1].payload)
    assert len(woken) == 2


def test_retention_purges_delivered_media(opener: Callable[..., Outbox]) -> None:
    now = [1_800_000_000.0]
    outbox = opener(clock=lambda: now[0], retention_s=600.0)
    stored = outbox.add(event(), media=[blob("crop.jpg", 3_000)])
    outbox.mark_delivered([stored.id, f"{stored.id}/crop.jpg"])
    now[0] += 700
    assert outbox.purge_delivered() == 2
    assert outbox.stats().bytes == 0


def test_a_version_2_database_is_migrated(db_path: Path, opener: Callable[..., Outbox]) -> None:
    outbox = opener()
    old = outbox.add(event("sos", 0))
    outbox.close()
    with closing(sqlite3.connect(db_path)) as db:  # as an agent before media left it
        db.executescript("DROP TABLE media; PRAGMA user_version=2;")

    outbox = opener()
    stored = outbox.add(event(), media=[blob("crop.jpg", 100)])

    assert [row.id for row in outbox.pending(10)] == [old.id, stored.id, f"{stored.id}/crop.jpg"]
    with closing(sqlite3.connect(db_path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 3
