"""IAM wildcard matching: ``*`` matches any run of characters, ``?`` exactly one.

Used for Action/NotAction (case-insensitive), Resource and the ``...Like`` and ``Arn...`` condition
operators (case-sensitive). Compiled patterns are cached: a scan evaluates the same few patterns
thousands of times.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .tri import Tri


def has_wildcard(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


def glob_to_regex(pattern: str, *, star: str = ".*", question: str = ".") -> str:
    """Translate an IAM glob into a regular expression body (no anchors)."""
    out: list[str] = []
    for char in pattern:
        if char == "*":
            out.append(star)
        elif char == "?":
            out.append(question)
        else:
            out.append(re.escape(char))
    return "".join(out)


@lru_cache(maxsize=16384)
def _compiled(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile(glob_to_regex(pattern), flags)


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """Whether ``value`` matches the IAM wildcard ``pattern`` as a whole."""
    if "*" not in pattern and "?" not in pattern:
        if ignore_case:
            return pattern.casefold() == value.casefold()
        return pattern == value
    return _compiled(pattern, ignore_case).fullmatch(value) is not None


@lru_cache(maxsize=4096)
def _arn_regex(pattern: str) -> re.Pattern[str] | None:
    parts = pattern.split(":", 5)
    if len(parts) != 6:
        return None
    # ARN condition operators: "Each of the six colon-delimited components of the ARN is checked
    # separately and each can include wildcards" (IAM User Guide, Condition operators). A wildcard
    # therefore never crosses a colon, except in the last component, which may itself hold colons.
    body = ":".join(glob_to_regex(part, star="[^:]*", question="[^:]") for part in parts[:5])
    body += ":" + glob_to_regex(parts[5])
    return re.compile(body, re.DOTALL)


def arn_match(pattern: str, value: str) -> bool:
    """ArnEquals/ArnLike semantics: six components, each matched with wildcards, case-sensitive."""
    if value.count(":") < 5:
        return False
    regex = _arn_regex(pattern)
    return regex is not None and regex.fullmatch(value) is not None


def glob_match_with_unknown_suffix(pattern: str, prefix: str, *, ignore_case: bool = False) -> Tri:
    """Decide ``pattern`` against a value known to be ``prefix`` followed by a non-empty unknown suffix.

    TRUE when every such value matches, FALSE when none can, UNKNOWN otherwise. Used for
    ``aws:userid``, which for a role session is ``<role id>:<session name>``.
    """
    if ignore_case:
        pattern, prefix = pattern.casefold(), prefix.casefold()
    positions = _closure({0}, pattern)
    for char in prefix:
        advanced: set[int] = set()
        for pos in positions:
            if pos == len(pattern):
                continue
            symbol = pattern[pos]
            if symbol == "*":
                advanced.add(pos)
            elif symbol in ("?", char):
                advanced.add(pos + 1)
        positions = _closure(advanced, pattern)
        if not positions:
            return Tri.FALSE
    remainders = [pattern[pos:] for pos in positions]
    if any(rest and set(rest) == {"*"} for rest in remainders):
        return Tri.TRUE
    if any(rest for rest in remainders):
        return Tri.UNKNOWN
    return Tri.FALSE


def _closure(positions: set[int], pattern: str) -> set[int]:
    result = set(positions)
    stack = list(positions)
    while stack:
        pos = stack.pop()
        if pos < len(pattern) and pattern[pos] == "*" and pos + 1 not in result:
            result.add(pos + 1)
            stack.append(pos + 1)
    return result


def is_all_stars(pattern: str) -> bool:
    return bool(pattern) and set(pattern) == {"*"}


# ---------------------------------------------------------------- pattern against pattern
# A required resource Veeam cannot name in advance is itself a pattern ("*": any resource). Whether a
# policy's Resource pattern matches every, some or none of the values such a pattern stands for is a
# question about the two patterns' languages, decided exactly by walking both at once. Characters that
# appear in neither pattern behave alike, so one stand-in (from ``_OTHERS``) represents all of them.

_OTHERS = "\0\1\2\3"


def _glob_closure(positions: frozenset[int], pattern: str) -> frozenset[int]:
    return frozenset(_closure(set(positions), pattern))


def _glob_step(positions: frozenset[int], pattern: str, char: str) -> frozenset[int]:
    advanced: set[int] = set()
    for pos in positions:
        if pos == len(pattern):
            continue
        symbol = pattern[pos]
        if symbol == "*":
            advanced.add(pos)
        elif symbol in ("?", char):
            advanced.add(pos + 1)
    return _glob_closure(frozenset(advanced), pattern)


@lru_cache(maxsize=4096)
def glob_relation(pattern: str, values: str, *, ignore_case: bool = False) -> Tri:
    """Whether ``pattern`` matches every (TRUE), some (UNKNOWN) or none (FALSE) of the strings ``values`` matches.

    Both are IAM wildcard patterns (``*`` any run of characters, ``?`` exactly one). Exact: the two
    patterns are run side by side over an alphabet of their own characters plus one stand-in for every
    other character, visiting each pair of position sets once.
    """
    if ignore_case:
        pattern, values = pattern.casefold(), values.casefold()
    if not has_wildcard(values):
        return Tri.of(glob_match(pattern, values))
    if is_all_stars(pattern):
        return Tri.TRUE
    alphabet = sorted(set(pattern + values) - {"*", "?"})
    alphabet.append(next(char for char in _OTHERS if char not in alphabet))
    start = (_glob_closure(frozenset({0}), values), _glob_closure(frozenset({0}), pattern))
    seen = {start}
    queue = [start]
    both = only_values = False  # found: a value both match / a value only ``values`` matches
    while queue and not (both and only_values):
        value_positions, pattern_positions = queue.pop()
        if len(values) in value_positions:
            if len(pattern) in pattern_positions:
                both = True
            else:
                only_values = True
        for char in alphabet:
            state = (_glob_step(value_positions, values, char), _glob_step(pattern_positions, pattern, char))
            if state[0] and state not in seen:
                seen.add(state)
                queue.append(state)
    if not only_values:
        return Tri.TRUE
    return Tri.UNKNOWN if both else Tri.FALSE


__all__ = [
    "arn_match",
    "glob_match",
    "glob_match_with_unknown_suffix",
    "glob_relation",
    "glob_to_regex",
    "has_wildcard",
    "is_all_stars",
]
