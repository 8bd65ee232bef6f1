"""Stopping cleanly before Lambda's timeout: a run that is out of time stops starting new work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Enough time to finish what was started (the Security Hub imports and alerts of what was claimed)
# and to log the summary, for the largest accounts this auditor targets.
DEFAULT_MARGIN_MS = 60_000


class Deadline:
    def __init__(self, remaining_ms: Callable[[], int] | None = None, margin_ms: int = DEFAULT_MARGIN_MS) -> None:
        self._remaining_ms = remaining_ms
        self.margin_ms = margin_ms

    @classmethod
    def from_context(cls, context: Any, margin_ms: int = DEFAULT_MARGIN_MS) -> Deadline:
        """From the Lambda context's get_remaining_time_in_millis (no deadline without one)."""
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        return cls(remaining if callable(remaining) else None, margin_ms)

    def expired(self) -> bool:
        return self._remaining_ms is not None and self._remaining_ms() < self.margin_ms


NO_DEADLINE = Deadline()


class OutOfTimeError(Exception):
    """The run stopped before reading everything: nothing may be published as if it were complete."""
