"""Waiting between the rounds of a retried batch call: capped exponential backoff with full jitter.

BatchGetItem returns the keys it could not read in ``UnprocessedKeys`` and BatchImportFindings the findings
it could not import in ``FailedFindings``, often because of throttling. Retried at once, they meet the
same throttling: "we strongly recommend that you use an exponential backoff algorithm. If you retry the
batch operation immediately, the underlying read or write requests can still fail due to throttling on
the individual tables" (BatchGetItem, DynamoDB API reference). Full jitter (a uniform wait between 0 and
the capped exponential bound, "Exponential Backoff And Jitter", AWS Architecture Blog) spreads the retries
of parallel writers, which the same bound without jitter would keep in step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from random import random

# The first retry waits up to 50 ms, each later one up to twice as long, never more than 2 s: eight
# rounds of BatchGetItem wait at most 5.15 s in all, well inside a Lambda invocation.
BASE_SECONDS = 0.05
CAP_SECONDS = 2.0


@dataclass(frozen=True)
class Backoff:
    """How long to wait before retry number ``attempt`` (1 for the first retry), and the waiting itself.

    ``sleep`` and ``draw`` (uniform in [0, 1)) are injected so that tests can record the waits instead of waiting.
    """

    base: float = BASE_SECONDS
    cap: float = CAP_SECONDS
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    draw: Callable[[], float] = field(default=random, repr=False)

    def bound(self, attempt: int) -> float:
        """The longest wait before retry ``attempt``: ``min(cap, base * 2 ** (attempt - 1))``."""
        return min(self.cap, self.base * 2.0 ** max(attempt - 1, 0))

    def delay(self, attempt: int) -> float:
        """Full jitter: uniform between 0 and :meth:`bound`."""
        return self.draw() * self.bound(attempt)

    def wait(self, attempt: int) -> None:
        self.sleep(self.delay(attempt))
