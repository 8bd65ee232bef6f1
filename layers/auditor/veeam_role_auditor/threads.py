"""Work the auditor hands to threads of its own, and what it carries over from the thread that hands it.

The auditor starts threads in two places: a scan reads its next page of roles while it assesses this one
(``scan.ReadAhead``), and the publisher writes the state table in parallel (``publish.deliver``). Some
context lives per thread: the X-Ray SDK keeps the segment a traced call belongs to in a thread-local, so an
AWS call made in a thread that was never told would be recorded outside the invocation's
``## lambda_handler`` subsegment. A Lambda handler registers a :data:`Capture` for such context (see
:func:`.lambda_app.carry_trace_context`); :func:`carried` applies what was captured before the work runs.
Without any registered (the command line, the tests), :func:`carried` returns the work as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

Capture = Callable[[], Callable[[], object]]
"""Called in the thread that hands work over; returns what to call in the worker thread before the work."""

_captures: dict[str, Capture] = {}


def carry(name: str, capture: Capture) -> None:
    """From now on, work handed to a thread carries what ``capture`` takes (one capture per ``name``:
    registering a name again replaces it, so two handlers in one process carry it once)."""
    _captures[name] = capture


def carried(work: Callable[P, R]) -> Callable[P, R]:
    """``work``, to be run in another thread with the context the registered captures take now, here."""
    if not _captures:
        return work
    apply = [capture() for capture in _captures.values()]

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        for restore in apply:
            restore()
        return work(*args, **kwargs)

    return run
