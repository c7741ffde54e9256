"""Complaint: a repeating error, logged once at WARNING, then at DEBUG with a count."""

from __future__ import annotations

import logging


class Complaint:
    """A repeating error: logged once at WARNING, then at DEBUG with a count."""

    def __init__(self, what: str, log: logging.Logger) -> None:
        self._what = what
        self._log = log  # the owner's logger, so the line names the module that complains
        self.count = 0

    def report(self, error: str) -> None:
        """Log one more occurrence."""
        self.count += 1
        if self.count == 1:
            self._log.warning("%s: %s", self._what, error)
        else:
            self._log.debug("%s: %s (%d times)", self._what, error, self.count)

    def clear(self) -> None:
        """The condition is over; the next occurrence warns again."""
        self.count = 0
