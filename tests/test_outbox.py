"""The outbox against real SQLite files: ordering, durability, quota, recovery, readers."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.errors import StorageError
from agent.events import Event
from agent.outbox import Outbox, Stored, open_readonly

REPO = Path(__file__).resolve().parents[1]
BIG = 50_000_000


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "outbox.db"


@pytest.fixture
def opener(db_path: Path) -> Iterator[Callable[..., Outbox]]:
    """Opens outboxes on `db_path` and closes whatever a test leaves open."""
    opened: list[Outbox] = []

    def open_outbox(**options: Any) -> Outbox:
        settings: dict[str, Any] = {"max_bytes": BIG, "retention_s": 3600.0}
        settings.update(options)
        outbox = Outbox.open(db_path, device="pole-0001", site="samutsakhon", **settings)
        opened.append(outbox)
        return outbox

    yield open_outbox
    for outbox in opened:
        outbox.close()


def event(kind: str = "plate", priority: int = 2, pad: int = 0) -> Event:
    return Event(kind=kind, priority=priority, data={"pad": "x" * pad} if pad else {})


def decode(stored: Stored) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(stored.payload)
    return body


def all_records(outbox: Outbox) -> list[dict[str, Any]]:
    """Every stored event, oldest first."""
    return list(reversed(outbox.recent(limit=1_000_000)))


# --- order and stamping -------------------------------------------------------------------


def test_added_event_is_stamped_and_pending(opener: Callable[..., Outbox]) -> None:
    outbox = opener()
    stored = outbox.add(Event(kind="sos", priority=0, phase="new", data={"button": 1}))
    body = decode(stored)
    assert (body["device"], body["site"], body["boot"], body["seq"]) == (
        "pole-0001",
        "samutsakhon",
        1,
        stored.seq,
    )
    assert (body["id"], body["kind"], body["data"]) == (stored.id, "sos", {"button": 1})
    assert outbox.pending(10) == [stored]


def test_sos_is_returned_before_backlog(opener: Callable[..., Outbox]) -> None:
    outbox = opener()
    backlog = [outbox.add(event("telemetry", 3)) for _ in range(20)]
    backlog += [outbox.add(event("plate", 2)) for _ in range(20)]
    fault = outbox.add(event("tamper", 1))
    sos = outbox.add(event("sos", 0))
    first = outbox.pending(4)
    assert [stored.id for stored in first] == [sos.id, fault.id, backlog[20].id, backlog[21].id]
    everything = outbox.pending(100)
    assert [(s.priority, s.seq) for s in everything] == sorted(
        (s.priority, s.seq) for s in everything
    )


def test_pending_excludes_inflight(opener: Callable[..., Outbox]) -> None:
    outbox = opener()
    added = [outbox.add(event()) for _ in range(5)]
    inflight = {added[0].id, added[1].id, "not-an-id"}
    assert outbox.pending(2, exclude=inflight) == added[2:4]


def test_mark_delivered_removes_from_pending(opener: Callable[..., Outbox]) -> None:
    outbox = opener()
    added = [outbox.add(event()) for _ in range(3)]
    outbox.mark_delivered([added[0].id, added[2].id, "unknown-id"])
    assert outbox.pending(10) == [added[1]]
    assert outbox.stats().delivered_kept == 2
    assert [r["id"] for r in outbox.recent(pending_only=True)] == [added[1].id]


# --- seq and boot -------------------------------------------------------------------------


def test_seq_strictly_increases_across_reopen(opener: Callable[..., Outbox]) -> None:
    seqs: list[int] = []
    for _ in range(3):
        outbox = opener()
        seqs += [outbox.add(event()).seq for _ in range(4)]
        outbox.close()
    assert seqs == list(range(1, 13))  # a clean close leaves no gap


def test_boot_counts_starts(opener: Callable[..., Outbox]) -> None:
    boots = []
    for _ in range(3):
        outbox = opener()
        boots.append((outbox.boot, decode(outbox.add(event()))["boot"]))
        outbox.close()
    assert boots == [(1, 1), (2, 2), (3, 3)]


def test_add_from_many_threads_keeps_seq_unique(opener: Callable[..., Outbox]) -> None:
    calls = []
    outbox = opener(on_added=lambda: calls.append(1))
    results: list[Stored] = []
    guard = threading.Lock()

    def produce(priority: int) -> None:
        mine = [outbox.add(event(priority=priority)) for _ in range(100)]
        with guard:
            results.extend(mine)

    threads = [threading.Thread(target=produce, args=(n % 4,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(stored.seq for stored in results) == list(range(1, 801))
    assert len(outbox.pending(1000)) == 800
    assert len(calls) == 800


_CHILD = """
import sys, time
from pathlib import Path
from agent.events import Event
from agent.outbox import Outbox
outbox = Outbox.open(Path(sys.argv[1]), device="pole-0001", site="s", max_bytes=10**8,
                     retention_s=3600)
for _ in range(int(sys.argv[2])):
    outbox.add(Event(kind="plate", priority=2))
stored = outbox.add(Event(kind="sos", priority=0, phase="new"), state={"sos": {"active": True}})
print(stored.id, stored.seq, flush=True)
time.sleep(60)
"""


def add_then_sigkill(db_path: Path, plates: int) -> tuple[str, int]:
    """In a child process: add `plates` plates and an SOS, then SIGKILL it; the SOS's id, seq."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-c", _CHILD, str(db_path), str(plates)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as child:
        assert child.stdout is not None
        line = child.stdout.readline()  # printed only after add() returned
        child.send_signal(signal.SIGKILL)
        child.wait()
    sos_id, sos_seq = line.split()
    return sos_id, int(sos_seq)


def test_sos_survives_sigkill_right_after_add(db_path: Path, opener: Callable[..., Outbox]) -> None:
    sos_id, sos_seq = add_then_sigkill(db_path, plates=5)
    outbox = opener()
    assert [(s.id, s.seq, s.kind) for s in outbox.pending(1)] == [(sos_id, sos_seq, "sos")]
    assert outbox.get_state("sos") == {"active": True}
    assert outbox.add(event()).seq > sos_seq
    assert outbox.boot == 2


# --- state --------------------------------------------------------------------------------


def test_state_is_written_atomically_with_event(opener: Callable[..., Outbox]) -> None:
    outbox = opener()
    alarm = Event(kind="sos", priority=0, phase="new")
    outbox.add(alarm, state={"sos.alarm": {"id": alarm.id, "acked": False}, "other": 1})
    assert outbox.get_state("sos.alarm") == {"id": alarm.id, "acked": False}
    # The same event again violates the unique id: neither the row nor the state may land.
    with pytest.raises(StorageError):
        outbox.add(alarm, state={"sos.alarm": None, "other": 2})
    assert outbox.get_state("sos.alarm") == {"id": alarm.id, "acked": False}
    assert outbox.get_state("other") == 1
    assert len(outbox.pending(10)) == 1
    ended = outbox.add(Event(kind="sos", priority=0, phase="end"), state={"sos.alarm": None})
    assert outbox.get_state("sos.alarm") is None
    assert outbox.add(event()).seq == ended.seq + 1  # the failed add used no seq


def test_state_that_is_not_json_stores_nothing(opener: Callable[..., Outbox]) -> None:
    outbox = opener()
    with pytest.raises(TypeError):
        outbox.add(event(), state={"bad": object()})
    assert outbox.pending(10) == []
    assert outbox.get_state("bad") is None


# --- quota and retention ------------------------------------------------------------------


def test_quota_eviction_never_drops_sos(opener: Callable[..., Outbox]) -> None:
    outbox = opener(max_bytes=30_000)
    sos_ids = []
    for number in range(3000):
        if number % 100 == 0:
            sos_ids.append(outbox.add(event("sos", 0)).id)
        outbox.add(event("telemetry" if number % 2 else "plate", 2 + number % 2, pad=50))
    records = all_records(outbox)
    kept = {r["id"] for r in records}
    assert set(sos_ids) <= kept
    assert [r["id"] for r in records if r["kind"] == "sos"] == sos_ids
    reports = [r for r in records if r["kind"] == "outbox"]
    assert reports and all(r["priority"] == 1 and r["data"]["evicted"] > 0 for r in reports)
    stats = outbox.stats()
    assert stats.bytes <= 30_000
    assert stats.evicted >= 3000 + len(sos_ids) - len(records)


def test_sos_is_kept_even_when_quota_is_full_of_sos(opener: Callable[..., Outbox]) -> None:
    outbox = opener(max_bytes=2_000)
    sos = [outbox.add(event("sos", 0, pad=200)) for _ in range(20)]
    assert outbox.pending(100) == sos
    assert outbox.stats().evicted == 0


def test_eviction_prefers_delivered_then_lowest_priority(
    opener: Callable[..., Outbox],
) -> None:
    outbox = opener()
    delivered = [outbox.add(event("face", 2, pad=900)) for _ in range(3)]
    outbox.mark_delivered(stored.id for stored in delivered)
    faults = [outbox.add(event("tamper", 1, pad=900)) for _ in range(3)]
    plates = [outbox.add(event("plate", 2, pad=900)) for _ in range(3)]
    telemetry = [outbox.add(event("telemetry", 3, pad=900)) for _ in range(3)]
    sos = outbox.add(event("sos", 0, pad=900))
    size = len(sos.payload)
    total = outbox.stats().bytes
    outbox.close()

    # Reopen with a quota the next event overflows by 4.5 rows (including the margin the
    # outbox evicts below the quota): 3 delivered rows, then the 2 oldest telemetry rows.
    quota = round((total + size + 1024 - 4.5 * size) / 0.95)
    outbox = opener(max_bytes=quota)
    trigger = outbox.add(event("plate", 2, pad=900))
    kept = {r["id"] for r in all_records(outbox)}
    gone = {s.id for s in [*delivered, *faults, *plates, *telemetry, sos, trigger]} - kept
    assert gone == {*(s.id for s in delivered), telemetry[0].id, telemetry[1].id}
    report = [r for r in all_records(outbox) if r["kind"] == "outbox"]
    assert [r["data"]["by_kind"] for r in report] == [{"face": 3, "telemetry": 2}]
    assert report[0]["data"]["evicted"] == 5
    assert outbox.stats().evicted == 5

    # Next by 1.5 rows: the last telemetry row, then the oldest plate; faults and SOS stay.
    total = outbox.stats().bytes
    outbox.close()
    outbox = opener(max_bytes=round((total + size + 1024 - 1.5 * size) / 0.95))
    outbox.add(event("plate", 2, pad=900))
    kept = {r["id"] for r in all_records(outbox)}
    assert telemetry[2].id not in kept and plates[0].id not in kept
    assert {plates[1].id, plates[2].id, trigger.id, sos.id, *(f.id for f in faults)} <= kept


def test_retention_purges_only_old_delivered(opener: Callable[..., Outbox]) -> None:
    clock = Clock()
    outbox = opener(clock=clock, retention_s=600.0)
    old = [outbox.add(event()) for _ in range(1200)]  # more than one purge batch
    still_pending = outbox.add(event())
    outbox.mark_delivered(stored.id for stored in old)
    clock.now += 500
    recent = outbox.add(event())
    outbox.mark_delivered([recent.id])
    clock.now += 200
    assert outbox.purge_delivered() == 1200
    assert [r["id"] for r in all_records(outbox)] == [still_pending.id, recent.id]
    stats = outbox.stats()
    assert stats.bytes == len(still_pending.payload) + len(recent.payload)
    assert outbox.purge_delivered() == 0


def test_stats_report_depth_by_kind_and_priority(opener: Callable[..., Outbox]) -> None:
    clock = Clock()
    outbox = opener(clock=clock)
    plates = [outbox.add(event("plate", 2)) for _ in range(3)]
    clock.now += 30
    sos = outbox.add(event("sos", 0))
    outbox.mark_delivered([plates[0].id])
    clock.now += 12
    stats = outbox.stats()
    groups = [(g.kind, g.priority, g.pending, g.bytes) for g in stats.by_kind]
    plate_bytes = sum(len(p.payload) for p in plates[1:])
    assert groups == [("sos", 0, 1, len(sos.payload)), ("plate", 2, 2, plate_bytes)]
    assert (stats.pending, stats.pending_bytes) == (3, plate_bytes + len(sos.payload))
    assert stats.oldest_pending_age_s == pytest.approx(42.0)
    assert stats.delivered_kept == 1
    assert stats.bytes == plate_bytes + len(sos.payload) + len(plates[0].payload)
    assert json.loads(json.dumps(stats.to_dict()))["by_kind"][0]["kind"] == "sos"


def test_recent_filters_and_follows(opener: Callable[..., Outbox]) -> None:
    outbox = opener()
    added = [outbox.add(event("plate" if n % 2 else "face")) for n in range(10)]
    outbox.mark_delivered([added[9].id])
    assert [r["seq"] for r in outbox.recent(limit=3)] == [10, 9, 8]
    assert [r["seq"] for r in outbox.recent(kind="plate", pending_only=True)] == [8, 6, 4, 2]
    assert [r["seq"] for r in outbox.recent(after_seq=7, limit=2)] == [8, 9]
    last = outbox.recent(limit=1)[0]
    assert last["delivered_at"] is not None and last["created_at"] <= last["delivered_at"]


# --- files: folder, schema, corruption ----------------------------------------------------


def test_folder_is_created_with_mode_0750(db_path: Path, opener: Callable[..., Outbox]) -> None:
    opener()
    assert db_path.parent.stat().st_mode & 0o777 == 0o750


def test_newer_schema_version_is_clear_error(db_path: Path, opener: Callable[..., Outbox]) -> None:
    opener().close()
    with sqlite3.connect(db_path) as db:
        db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(StorageError, match="schema version 99"):
        opener()
    assert db_path.exists()  # a database from a newer agent is never moved aside


def _garbage(db_path: Path) -> None:
    db_path.write_bytes(os.urandom(8192))
    Path(f"{db_path}-wal").write_bytes(os.urandom(1000))


def _truncated(db_path: Path) -> None:
    data = db_path.read_bytes()
    db_path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("damage", [_garbage, _truncated], ids=["garbage", "truncated"])
def test_corrupt_database_is_moved_aside_and_replaced(
    db_path: Path,
    opener: Callable[..., Outbox],
    damage: Callable[[Path], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    outbox = opener()
    for _ in range(300):
        outbox.add(event(pad=200))
    outbox.close()
    damage(db_path)
    damaged = db_path.read_bytes()

    outbox = opener(clock=Clock(1_800_000_000.0))
    assert outbox.recovered_from == db_path.with_name("outbox.db.corrupt-20270115T080000Z")
    assert outbox.recovered_from.read_bytes() == damaged
    if damage is _garbage:
        assert Path(f"{outbox.recovered_from}-wal").exists()
    assert any(r.levelno == logging.ERROR and "corrupt" in r.message for r in caplog.records)
    sos = outbox.add(event("sos", 0))
    assert outbox.pending(10) == [sos]


def test_healthy_database_is_not_recovered(opener: Callable[..., Outbox]) -> None:
    opener().close()
    assert opener().recovered_from is None


def test_seq_stays_increasing_after_corruption_recovery(
    db_path: Path, opener: Callable[..., Outbox]
) -> None:
    outbox = opener()
    last = [outbox.add(event()) for _ in range(20)][-1]
    outbox.close()
    _garbage(db_path)  # nothing to salvage: the mark file beside it carries seq and boot
    outbox = opener()
    assert outbox.recovered_from is not None
    assert (outbox.add(event()).seq, outbox.boot) == (last.seq + 1, 2)


def test_seq_is_salvaged_from_a_damaged_database_without_its_mark(
    db_path: Path, opener: Callable[..., Outbox]
) -> None:
    outbox = opener()
    last = [outbox.add(event(pad=300)) for _ in range(300)][-1]
    outbox.close()
    with sqlite3.connect(db_path) as db:
        index_page = db.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'events_pending'"
        ).fetchone()[0]
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with db_path.open("r+b") as file:  # break one index page; the table stays readable
        file.seek((index_page - 1) * page_size)
        file.write(os.urandom(page_size))
    db_path.with_name("outbox.db.seq").unlink()
    outbox = opener()
    assert outbox.recovered_from is not None
    assert outbox.add(event()).seq > last.seq
    assert outbox.boot == 2


def test_seq_never_repeats_after_unclean_stop(db_path: Path, opener: Callable[..., Outbox]) -> None:
    _, last_seq = add_then_sigkill(db_path, plates=1500)  # more than one seq lease
    # What a power cut can leave of commits that were never fsynced: the last rows are gone,
    # though the publisher may already have sent them.
    with sqlite3.connect(db_path) as db:
        db.execute("DELETE FROM events WHERE seq > 1490")
        db.execute("UPDATE meta SET value = 1490 WHERE key = 'seq'")
    db.close()
    assert opener().add(event()).seq > last_seq


# --- read-only access ---------------------------------------------------------------------


def test_readonly_reader_sees_writer_rows(db_path: Path, opener: Callable[..., Outbox]) -> None:
    outbox = opener()
    first = outbox.add(event("sos", 0), state={"sos": "active"})
    with open_readonly(db_path) as reader:
        assert [r["id"] for r in reader.recent()] == [first.id]
        second = outbox.add(event("plate", 2))
        assert [r["id"] for r in reader.recent()] == [second.id, first.id]
        assert reader.stats().pending == 2
        assert reader.get_state("sos") == "active"


def test_readonly_reader_works_with_daemon_stopped_and_creates_no_files(
    db_path: Path, opener: Callable[..., Outbox]
) -> None:
    outbox = opener()
    stored = outbox.add(event(), state={"k": [1, 2]})
    outbox.close()
    before = sorted(os.listdir(db_path.parent))
    assert f"{db_path.name}-wal" not in before
    content = db_path.read_bytes()
    with open_readonly(db_path) as reader:
        assert [r["id"] for r in reader.recent()] == [stored.id]
        assert reader.stats().pending == 1
        assert reader.get_state("k") == [1, 2]
    assert sorted(os.listdir(db_path.parent)) == before
    assert db_path.read_bytes() == content


def test_readonly_open_of_missing_file_is_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "outbox.db"
    with pytest.raises(StorageError, match="does not exist") as error:
        open_readonly(missing)
    assert str(missing) in str(error.value)
    assert isinstance(error.value, OSError)
    assert not missing.parent.exists()


def test_readonly_open_of_foreign_file_is_clear_error(tmp_path: Path) -> None:
    garbage = tmp_path / "outbox.db"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StorageError, match="cannot read"):
        open_readonly(garbage)


def test_closed_outbox_refuses_work(opener: Callable[..., Outbox]) -> None:
    outbox = opener()
    outbox.close()
    with pytest.raises(StorageError, match="closed"):
        outbox.add(event())
    with pytest.raises(StorageError, match="closed"):
        outbox.stats()
