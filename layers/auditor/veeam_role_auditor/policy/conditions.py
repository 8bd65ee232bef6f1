"""Condition operators and policy variables, decided in three-valued logic.

Rules implemented (IAM User Guide):
- "IAM JSON policy elements: Condition operators": a key missing from the request context makes a
  condition false, except for negated operators (StringNotEquals, ArnNotLike, NotIpAddress, ...),
  which are then true; ``...IfExists`` is true when the key is missing; ``Null`` tests presence.
  Several values for one key are ORed; several keys and several operators are ANDed.
- "Multivalued context keys": ``ForAnyValue:`` is true if any request value matches (false when the
  key is missing); ``ForAllValues:`` is true if every request value matches (true when missing).
- "IAM policy elements: Variables and tags": ``${key}`` and ``${key, 'default'}`` resolve only under
  Version 2012-10-17, only in string and ARN operators (and Resource); ``${*}``, ``${?}``, ``${$}`` stand
  for the literal characters. "Policy variables with no value": a variable whose key has no value
  makes the policy value "effectively null": operators like StringEquals or StringLike "do not
  match", and inverted operators like StringNotEquals or StringNotLike "do match against a null value".
Where the guide is silent or contradicts itself, the choice made is listed in :mod:`.limits`.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from .context import ContextValue, Presence, RequestContext
from .document import ConditionClause
from .tri import Tri, tri_across, tri_all, tri_any
from .wildcard import arn_match, glob_match, glob_match_with_unknown_suffix, glob_to_regex, is_all_stars


class _NoValue:
    """A policy string holding a variable whose key has no value: it equals and is like nothing."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE = _NoValue()

# A resolved policy string: segments of (text, is_pattern). Text written in the policy keeps its
# wildcard meaning; text substituted from a variable (or ${*}, ${?}, ${$}) is literal.
Segments = tuple[tuple[str, bool], ...]
# None: depends on a value unknown offline; NO_VALUE: "effectively null" (see the module docstring).
PolicyValue = str | Segments | _NoValue | None

_VARIABLE_FAMILIES = frozenset({"string", "string_ci", "string_like", "arn"})
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_DEFAULT = re.compile(r"\s*([^,\s]+)\s*,\s*'((?:[^']|'')*)'\s*")
_SPECIAL = {"*": "*", "?": "?", "$": "$"}


# ---------------------------------------------------------------- policy variables


@lru_cache(maxsize=4096)
def _template(text: str) -> tuple[tuple[str, str | None, str | None], ...]:
    """Split ``text`` into (literal, variable key, default) pieces."""
    pieces: list[tuple[str, str | None, str | None]] = []
    position = 0
    for match in _VARIABLE.finditer(text):
        if match.start() > position:
            pieces.append((text[position : match.start()], None, None))
        inner = match.group(1)
        stripped = inner.strip()
        if stripped in _SPECIAL:
            pieces.append(("", "\0" + _SPECIAL[stripped], None))
        else:
            with_default = _DEFAULT.fullmatch(inner)
            if with_default:
                pieces.append(("", with_default.group(1).lower(), with_default.group(2).replace("''", "'")))
            else:
                pieces.append(("", stripped.lower(), None))
        position = match.end()
    if position < len(text):
        pieces.append((text[position:], None, None))
    return tuple(pieces)


def resolve_variables(text: str, context: RequestContext) -> Segments | _NoValue | None:
    """Substitute policy variables in ``text``.

    None when a value is unknown offline; NO_VALUE when a variable's key is missing from the request
    and the variable has no default ("Policy variables with no value": the value is effectively null).
    """
    segments: list[tuple[str, bool]] = []
    unknown = False
    for literal, key, default in _template(text):
        if key is None:
            segments.append((literal, True))
            continue
        if key.startswith("\0"):
            segments.append((key[1:], False))
            continue
        value = _variable_value(context.lookup(key), default)
        if value is NO_VALUE:
            return NO_VALUE  # one null part makes the whole value null, whatever the other parts are
        if value is None:
            unknown = True
        else:
            assert isinstance(value, str)
            segments.append((value, False))
    return None if unknown else tuple(segments)


def _variable_value(value: ContextValue, default: str | None) -> str | _NoValue | None:
    presence = value.presence
    if presence is Presence.KNOWN and len(value.values) == 1:
        return value.values[0]
    if presence is Presence.ABSENT or (presence is Presence.KNOWN and not value.values):
        return default if default is not None else NO_VALUE
    # Unknown offline, maybe absent, or several values (a multivalued key cannot be a variable:
    # see limits.MULTIVALUED_VARIABLE).
    return None


def segments_text(segments: Segments) -> str:
    return "".join(text for text, _ in segments)


@lru_cache(maxsize=4096)
def _segments_regex(segments: Segments, arn: bool, ignore_case: bool) -> re.Pattern[str]:
    body: list[str] = []
    colons = 0
    for text, is_pattern in segments:
        for char in text:
            if is_pattern and char in "*?":
                if arn and colons < 5:
                    body.append("[^:]*" if char == "*" else "[^:]")
                else:
                    body.append(glob_to_regex(char))
            else:
                body.append(re.escape(char))
            if char == ":":
                colons += 1
    return re.compile("".join(body), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def resolve_policy_string(text: str, context: RequestContext, resolve: bool) -> PolicyValue:
    """A policy string (Resource or condition value) ready for matching."""
    if not resolve or "${" not in text:
        return text
    return resolve_variables(text, context)


def pattern_match(pattern: str | Segments | _NoValue, value: str, *, arn: bool = False) -> bool:
    """Wildcard match of a resolved policy string against a request value."""
    if pattern is NO_VALUE:
        return False
    assert not isinstance(pattern, _NoValue)
    if isinstance(pattern, str):
        return arn_match(pattern, value) if arn else glob_match(pattern, value)
    if arn and value.count(":") < 5:
        return False
    return _segments_regex(pattern, arn, False).fullmatch(value) is not None


# ---------------------------------------------------------------- typed comparisons


@lru_cache(maxsize=4096)
def _number(text: str) -> Decimal | None:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


@lru_cache(maxsize=4096)
def _date(text: str) -> float | None:
    text = text.strip()
    try:
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            return float(text)  # epoch seconds
        if re.fullmatch(r"\d{4}-\d{2}", text):
            text += "-01"  # W3C's year-and-month form: the first moment of that month
        moment = datetime.fromisoformat(text.upper())  # ISO 8601 allows "t" and "z" in lower case
    except (ValueError, OverflowError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.timestamp()
    except (OverflowError, ValueError, OSError):
        return None


@lru_cache(maxsize=1024)
def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _binary(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _compare(kind: str) -> Callable[[str, str], bool]:
    def numeric(value: str, policy: str) -> bool:
        left, right = _number(value), _number(policy)
        return left is not None and right is not None and _ORDER[kind](left, right)

    def date(value: str, policy: str) -> bool:
        left, right = _date(value), _date(policy)
        return left is not None and right is not None and _ORDER[kind](left, right)

    return numeric if kind.startswith("numeric") else date


_ORDER: dict[str, Callable[[object, object], bool]] = {
    "numeric_eq": lambda a, b: a == b,
    "numeric_lt": lambda a, b: a < b,  # type: ignore[operator]
    "numeric_le": lambda a, b: a <= b,  # type: ignore[operator]
    "numeric_gt": lambda a, b: a > b,  # type: ignore[operator]
    "numeric_ge": lambda a, b: a >= b,  # type: ignore[operator]
}
_ORDER.update({"date" + name[len("numeric") :]: fn for name, fn in list(_ORDER.items())})


def _ip(value: str, policy: str) -> bool:
    network = _network(policy)
    if network is None:
        return False
    try:
        return ipaddress.ip_address(value.strip()) in network
    except ValueError:
        return False


def _bool(value: str, policy: str) -> bool:
    return value.lower() == policy.lower()


def _binary_equals(value: str, policy: str) -> bool:
    # The policy holds the base64 encoding of the binary value it compares against.
    expected = _binary(policy)
    return expected is not None and expected == value.encode("utf-8")


_TYPED: dict[str, Callable[[str, str], bool]] = {
    "bool": _bool,
    "binary": _binary_equals,
    "ip": _ip,
    **{name: _compare(name) for name in _ORDER},
}


def _match_one(family: str, value: str, policy: str | Segments | _NoValue) -> bool:
    if isinstance(policy, _NoValue):
        return False  # "There is no equal or like value" (Policy variables with no value)
    if family == "string":
        return value == (policy if isinstance(policy, str) else segments_text(policy))
    if family == "string_ci":
        text = policy if isinstance(policy, str) else segments_text(policy)
        return value.casefold() == text.casefold()
    if family == "string_like":
        return pattern_match(policy, value)
    if family == "arn":
        return pattern_match(policy, value, arn=True)
    assert isinstance(policy, str)
    return _TYPED[family](value, policy)


# ---------------------------------------------------------------- clause evaluation


def evaluate_clause(clause: ConditionClause, context: RequestContext, resolve: bool) -> Tri:
    """Decide one (operator, key, values) clause for the appliance's request."""
    value = context.lookup(clause.key)
    if clause.family == "null":
        return _null(clause, value)
    if resolve and clause.family in _VARIABLE_FAMILIES:
        policy_values: tuple[PolicyValue, ...] = tuple(
            resolve_policy_string(text, context, True) for text in clause.values
        )
    else:
        policy_values = clause.values
    return _evaluate(clause, value, policy_values)


def evaluate_conditions(clauses: tuple[ConditionClause, ...], context: RequestContext, resolve: bool) -> Tri:
    return tri_all(evaluate_clause(clause, context, resolve) for clause in clauses)


def _evaluate(clause: ConditionClause, value: ContextValue, policy: tuple[PolicyValue, ...]) -> Tri:
    presence = value.presence
    if presence is Presence.KNOWN:
        return _known(clause, value.values, policy) if value.values else _absent(clause)
    if presence is Presence.ABSENT:
        return _absent(clause)
    many = value.multivalued
    if presence is Presence.MAYBE:
        return tri_across((_absent(clause), _present(clause, _unknown_value_matches(clause, policy), many)))
    if presence is Presence.ONE_OF:
        return tri_across(_known(clause, (candidate,), policy) for candidate in value.values)
    if presence is Presence.PREFIX:
        return _present(clause, _prefix_matches(clause, value.values[0], policy), many)
    if presence is Presence.NOT_AFTER and clause.family.startswith("date"):
        return _present(clause, _not_after_matches(clause, value.values[0], policy), many)
    return _present(clause, _unknown_value_matches(clause, policy), many)


def _absent(clause: ConditionClause) -> Tri:
    if clause.if_exists or clause.qualifier == "all":
        return Tri.TRUE
    if clause.qualifier == "any":
        return Tri.FALSE
    return Tri.TRUE if clause.negated else Tri.FALSE


def _present(clause: ConditionClause, matches: Tri, multivalued: bool = False) -> Tri:
    """The clause for a present key whose every value matches the policy values as ``matches`` says.

    Every value of the key is equally (un)known, so for a key with at least one value the set operators
    give the same answer as a single value: ForAnyValue and ForAllValues over values that all match
    (or all fail) is that match, and an UNKNOWN stays UNKNOWN. Negated operators invert per value.
    A single-valued operator on a multivalued key is true only under some readings of a guide that is
    silent there (limits.SINGLE_VALUED_OPERATOR_ON_MULTIVALUED_KEY): only a false result is decided.
    """
    result = ~matches if clause.negated else matches
    if multivalued and clause.qualifier is None and result is Tri.TRUE:
        return Tri.UNKNOWN
    return result


def _unknown_value_matches(clause: ConditionClause, policy: tuple[PolicyValue, ...]) -> Tri:
    # StringLike "*" matches every present value; a policy value with no value matches none.
    if clause.family == "string_like" and any(isinstance(item, str) and is_all_stars(item) for item in policy):
        return Tri.TRUE
    if all(item is NO_VALUE for item in policy):
        return Tri.FALSE
    return Tri.UNKNOWN


def _prefix_matches(clause: ConditionClause, prefix: str, policy: tuple[PolicyValue, ...]) -> Tri:
    """Whether a value ``prefix`` + (non-empty unknown suffix) matches any of the policy values."""
    outcomes: list[Tri] = []
    for item in policy:
        if item is NO_VALUE:
            continue
        if item is None or (not isinstance(item, str) and clause.family == "string_like"):
            outcomes.append(Tri.UNKNOWN)
            continue
        assert not isinstance(item, _NoValue)
        text = item if isinstance(item, str) else segments_text(item)
        if clause.family == "string":
            outcomes.append(Tri.UNKNOWN if text.startswith(prefix) and text != prefix else Tri.FALSE)
        elif clause.family == "string_ci":
            folded, start = text.casefold(), prefix.casefold()
            outcomes.append(Tri.UNKNOWN if folded.startswith(start) and folded != start else Tri.FALSE)
        elif clause.family == "string_like":
            outcomes.append(glob_match_with_unknown_suffix(text, prefix))
        else:
            outcomes.append(Tri.UNKNOWN)
    return tri_any(outcomes)


def _not_after_matches(clause: ConditionClause, upper: str, policy: tuple[PolicyValue, ...]) -> Tri:
    """Whether a date not later than ``upper`` (and otherwise unknown) compares true with a policy date."""
    bound = _date(upper)
    assert bound is not None
    kind = clause.family
    outcomes: list[Tri] = []
    for item in policy:
        moment = _date(item) if isinstance(item, str) else None
        if moment is None:
            outcomes.append(Tri.FALSE)  # an unreadable date compares false, as for a known value
        elif kind == "date_lt":  # value < moment holds for every value <= bound iff bound < moment
            outcomes.append(Tri.TRUE if bound < moment else Tri.UNKNOWN)
        elif kind == "date_le":
            outcomes.append(Tri.TRUE if bound <= moment else Tri.UNKNOWN)
        elif kind == "date_gt":
            outcomes.append(Tri.FALSE if bound <= moment else Tri.UNKNOWN)
        elif kind in {"date_ge", "date_eq"}:
            outcomes.append(Tri.FALSE if bound < moment else Tri.UNKNOWN)
        else:
            outcomes.append(Tri.UNKNOWN)
    return tri_any(outcomes)


def _known(clause: ConditionClause, values: tuple[str, ...], policy: tuple[PolicyValue, ...]) -> Tri:
    family = clause.family

    def matches(value: str) -> Tri:
        result = Tri.FALSE
        for item in policy:
            if item is None:
                result = Tri.UNKNOWN
            elif _match_one(family, value, item):
                return Tri.TRUE
        return result

    if clause.qualifier is None:
        matched = matches(values[0]) if len(values) == 1 else tri_any(matches(value) for value in values)
        return ~matched if clause.negated else matched
    per_value = (~matches(value) if clause.negated else matches(value) for value in values)
    return tri_all(per_value) if clause.qualifier == "all" else tri_any(per_value)


def _null(clause: ConditionClause, value: ContextValue) -> Tri:
    presence = value.presence
    if presence is Presence.MAYBE:
        worlds: tuple[bool, ...] = (True, False)
    elif presence is Presence.ABSENT or (presence is Presence.KNOWN and not value.values):
        worlds = (True,)
    else:
        worlds = (False,)
    outcomes = []
    for absent in worlds:
        outcomes.append(Tri.of(any((text.lower() == "true") == absent for text in clause.values)))
    return tri_across(outcomes)


def unknown_reason(clause: ConditionClause, context: RequestContext) -> str:
    """Why ``clause`` cannot be decided offline, for the verdict's reasons."""
    value = context.lookup(clause.key)
    why = value.why or "a value not known offline"
    return f"{clause.describe()} (not known offline: {why})"
