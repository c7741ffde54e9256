"""The seq high-water mark: a small file beside the outbox database that outlives it.

Seq must never repeat, yet detections commit without fsync (see `outbox`), so a power cut
can lose the last rows after the publisher has sent them, and their seqs with them. So seqs
are leased: the mark file is fsynced with a seq `LEASE` ahead *before* any seq above the
previous mark commits, and set to the exact seq on a clean close. A start takes the highest
of the database, this mark and what a corrupt database still yields, so after an unclean
stop seq may jump (by at most a lease) but never repeats, even if the database is lost.

Residual risk: losing the database and this file together (a failed SD card, a wiped
folder) restarts seq; the receiver still tells the device's lives apart by `boot`.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

LEASE = 1000  # seqs handed out per fsync of the mark file


@dataclass(frozen=True)
class Watermark:
    """The boot counter and a seq that no stored event exceeds."""

    boot: int = 0
    seq: int = 0


class SeqLease:
    """Keeps the mark file ahead of every seq the outbox commits."""

    def __init__(self, database: Path, *, boot: int) -> None:
        self.path = database.with_name(database.name + ".seq")
        self._boot = boot
        self._until = 0

    def start(self, seq: int) -> None:
        """Lease the seqs after `seq` for this start; raises OSError if the mark is unwritable."""
        self._write(seq + LEASE)

    def cover(self, seq: int) -> None:
        """Make sure the mark on disk is at least `seq`; call before committing it."""
        if seq <= self._until:
            return
        try:
            self._write(seq + LEASE)
        except OSError as exc:
            # Storing the event matters more than the mark; the next seq retries.
            log.error("cannot write the seq high-water mark %s: %s", self.path, exc)

    def settle(self, seq: int) -> None:
        """Record the exact last seq (clean close: the next start continues without a gap)."""
        try:
            self._write(seq)
        except OSError as exc:  # the leased mark stays: the next start skips ahead
            log.error("cannot write the seq high-water mark %s: %s", self.path, exc)

    def _write(self, seq: int) -> None:
        write_watermark(self.path, Watermark(boot=self._boot, seq=seq))
        self._until = seq


def read_watermark(database: Path) -> Watermark:
    """The mark last written beside `database`; zeros if it is missing or unreadable."""
    path = database.with_name(database.name + ".seq")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Watermark(boot=int(data["boot"]), seq=int(data["seq"]))
    except FileNotFoundError:
        return Watermark()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.error("ignoring unreadable seq high-water mark %s: %s", path, exc)
        return Watermark()


def write_watermark(path: Path, mark: Watermark) -> None:
    """Replace the mark atomically and durably (temp file, fsync, rename, fsync the folder)."""
    temp = path.with_name(path.name + ".tmp")
    with temp.open("w", encoding="utf-8") as file:
        json.dump({"boot": mark.boot, "seq": mark.seq}, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself is only durable once the folder is synced
    finally:
        os.close(folder)
