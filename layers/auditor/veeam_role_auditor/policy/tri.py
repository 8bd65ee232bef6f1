"""Three-valued (Kleene) logic for decisions that depend on values unknown offline.

FALSE < UNKNOWN < TRUE, so AND is ``min``, OR is ``max`` and NOT is ``2 - x``.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum


class Tri(IntEnum):
    FALSE = 0
    UNKNOWN = 1
    TRUE = 2

    def __invert__(self) -> Tri:
        return _NOT[self]

    @staticmethod
    def of(value: bool) -> Tri:
        return Tri.TRUE if value else Tri.FALSE


_NOT = {Tri.FALSE: Tri.TRUE, Tri.UNKNOWN: Tri.UNKNOWN, Tri.TRUE: Tri.FALSE}


def tri_all(values: Iterable[Tri]) -> Tri:
    """AND over ``values``; TRUE for an empty iterable."""
    result = Tri.TRUE
    for value in values:
        if value is Tri.FALSE:
            return Tri.FALSE
        result = min(result, value)
    return result


def tri_any(values: Iterable[Tri]) -> Tri:
    """OR over ``values``; FALSE for an empty iterable."""
    result = Tri.FALSE
    for value in values:
        if value is Tri.TRUE:
            return Tri.TRUE
        result = max(result, value)
    return result


def tri_across(outcomes: Iterable[Tri]) -> Tri:
    """Combine the outcomes of the same test in several possible worlds.

    TRUE only if true in every world, FALSE only if false in every world, else UNKNOWN.
    """
    seen = set(outcomes)
    if seen == {Tri.TRUE}:
        return Tri.TRUE
    if seen == {Tri.FALSE}:
        return Tri.FALSE
    return Tri.UNKNOWN
