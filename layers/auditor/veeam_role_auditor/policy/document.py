"""Parse and validate IAM policy documents (trust and identity) into immutable statements.

Parsing never raises on document content: every defect that IAM would reject is collected in
``PolicyDocument.errors`` (IAM User Guide, "IAM JSON policy element reference" and "IAM JSON policy
grammar"; trust-policy rules from the MalformedPolicyDocument errors IAM returns for
CreateRole/UpdateAssumeRolePolicy). A document with errors is not in force.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal, NamedTuple, TypeGuard, cast
from urllib.parse import unquote

from .arn import AwsPrincipal, PrincipalKind, classify_aws_principal

PolicyKind = Literal["trust", "identity"]

VERSION_2012 = "2012-10-17"
VERSION_2008 = "2008-10-17"

_TOP_LEVEL = frozenset({"Version", "Id", "Statement"})
_STATEMENT_KEYS = frozenset(
    {
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    }
)
_PRINCIPAL_TYPES = ("AWS", "Service", "Federated", "CanonicalUser")
_SID = re.compile(r"[A-Za-z0-9]*")
_ACTION = re.compile(r"[A-Za-z0-9-]+:[A-Za-z0-9*?]+")

# Condition operators, IAM User Guide "IAM JSON policy elements: Condition operators".
# base name -> (family, negated)
OPERATORS: dict[str, tuple[str, bool]] = {
    "StringEquals": ("string", False),
    "StringNotEquals": ("string", True),
    "StringEqualsIgnoreCase": ("string_ci", False),
    "StringNotEqualsIgnoreCase": ("string_ci", True),
    "StringLike": ("string_like", False),
    "StringNotLike": ("string_like", True),
    "NumericEquals": ("numeric_eq", False),
    "NumericNotEquals": ("numeric_eq", True),
    "NumericLessThan": ("numeric_lt", False),
    "NumericLessThanEquals": ("numeric_le", False),
    "NumericGreaterThan": ("numeric_gt", False),
    "NumericGreaterThanEquals": ("numeric_ge", False),
    "DateEquals": ("date_eq", False),
    "DateNotEquals": ("date_eq", True),
    "DateLessThan": ("date_lt", False),
    "DateLessThanEquals": ("date_le", False),
    "DateGreaterThan": ("date_gt", False),
    "DateGreaterThanEquals": ("date_ge", False),
    "Bool": ("bool", False),
    "BinaryEquals": ("binary", False),
    "IpAddress": ("ip", False),
    "NotIpAddress": ("ip", True),
    "ArnEquals": ("arn", False),
    "ArnLike": ("arn", False),
    "ArnNotEquals": ("arn", True),
    "ArnNotLike": ("arn", True),
    "Null": ("null", False),
}


class PolicyParseError(ValueError):
    """The input is not a JSON object at all (raised by :func:`decode_document` only)."""


class ConditionClause(NamedTuple):
    operator: str
    family: str
    negated: bool
    qualifier: Literal["any", "all"] | None
    if_exists: bool
    key: str
    key_as_written: str
    values: tuple[str, ...]

    def describe(self) -> str:
        shown = self.values[0] if len(self.values) == 1 else list(self.values)
        return f"{self.operator} {self.key_as_written} {json.dumps(shown)}"


class PrincipalSpec(NamedTuple):
    wildcard: bool = False
    aws: tuple[AwsPrincipal, ...] = ()
    service: tuple[str, ...] = ()
    federated: tuple[str, ...] = ()
    canonical_user: tuple[str, ...] = ()


class Statement(NamedTuple):
    position: int
    sid: str
    effect: Literal["Allow", "Deny"]
    principal: PrincipalSpec | None
    not_principal: PrincipalSpec | None
    actions: tuple[str, ...] | None
    not_actions: tuple[str, ...] | None
    resources: tuple[str, ...] | None
    not_resources: tuple[str, ...] | None
    conditions: tuple[ConditionClause, ...]

    @property
    def label(self) -> str:
        return f'Statement[{self.position}] (Sid "{self.sid}")' if self.sid else f"Statement[{self.position}]"


class PolicyDocument(NamedTuple):
    kind: PolicyKind
    version: str
    statements: tuple[Statement, ...]
    errors: tuple[str, ...]
    raw: Mapping[str, Any] | None

    @property
    def malformed(self) -> bool:
        return bool(self.errors)

    @property
    def resolves_variables(self) -> bool:
        # "Policy variables ... work only with Version 2012-10-17"; in 2008-10-17 they are literal text.
        return self.version == VERSION_2012


def _is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    # json.loads only makes dicts; the ABC check (slow) is for callers passing other mappings.
    return type(value) is dict or isinstance(value, Mapping)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """IAM's grammar: "Individual elements must not contain multiple instances of the same key"."""
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise PolicyParseError(f"the policy repeats the key {key!r} in one JSON object")
            seen.add(key)
    return value


# One decoder for all documents: json.loads with a hook would build a new decoder on every call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_unique_keys)


def decode_document(document: object) -> Mapping[str, Any]:
    """Turn a dict, a JSON string or IAM's percent-encoded JSON string into a mapping.

    Raises :class:`PolicyParseError` with a message saying what is wrong.
    """
    if _is_mapping(document):
        return document
    if isinstance(document, bytes | bytearray):
        try:
            document = bytes(document).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyParseError(f"the policy is not UTF-8 text: {exc.reason}") from None
    if not isinstance(document, str):
        raise PolicyParseError(f"the policy must be a JSON object, not {type(document).__name__}")
    text = document.strip()
    if text.startswith("%"):
        # IAM's API returns policy documents URL-encoded (RFC 3986), e.g. "%7B%22Version%22...".
        text = unquote(text).strip()
    try:
        value = _DECODER.decode(text)
    except PolicyParseError:
        raise
    except (ValueError, RecursionError) as exc:
        raise PolicyParseError(f"the policy is not valid JSON: {_short(exc)}") from None
    if not isinstance(value, dict):
        raise PolicyParseError(f"the policy must be a JSON object, not {_json_type(value)}")
    return value


def parse_policy(document: object, kind: PolicyKind) -> PolicyDocument:
    """Parse a trust or identity policy; never raises, collects IAM's validation errors instead.

    An already parsed PolicyDocument of the same kind is returned as is, so callers that evaluate one
    document many times (a scan evaluating the appliance's policies for every role) parse it once.
    """
    if type(document) is PolicyDocument and document.kind == kind:
        return document
    if isinstance(document, str) and len(document) < 65536:
        return _parse_text_cached(document, kind)
    return _parse(document, kind)


@lru_cache(maxsize=4096)
def _parse_text_cached(document: str, kind: PolicyKind) -> PolicyDocument:
    return _parse(document, kind)


def _parse(document: object, kind: PolicyKind) -> PolicyDocument:
    try:
        raw = decode_document(document)
    except PolicyParseError as exc:
        return PolicyDocument(kind, VERSION_2008, (), (str(exc),), None)
    errors: list[str] = []
    if not _TOP_LEVEL.issuperset(raw):
        for key in raw:
            if key not in _TOP_LEVEL:
                errors.append(f"unknown top-level element {key!r} (allowed: Version, Id, Statement)")
    version = raw.get("Version", VERSION_2008)
    if version not in (VERSION_2012, VERSION_2008):
        errors.append(f"Version must be {VERSION_2012!r} or {VERSION_2008!r}, not {version!r}")
        version = VERSION_2008
    body = raw.get("Statement")
    if _is_mapping(body):
        body = [body]
    statements: list[Statement] = []
    if body is None:
        errors.append("missing required element Statement")
    elif not isinstance(body, list) or not body:
        errors.append("Statement must be an object or a non-empty list of objects")
    else:
        seen_sids: set[str] = set()
        for index, item in enumerate(body):
            statement = _parse_statement(index, item, kind, errors)
            if statement is None:
                continue
            if statement.sid:
                if statement.sid in seen_sids:
                    errors.append(f"{statement.label}: Sid values must be unique within a policy")
                seen_sids.add(statement.sid)
            statements.append(statement)
    return PolicyDocument(kind, str(version), tuple(statements), tuple(errors), raw)


def _parse_statement(index: int, item: object, kind: PolicyKind, errors: list[str]) -> Statement | None:
    # Hot path of every scan: error messages (and their "Statement[i]" prefix) are only built on error.
    if type(item) is not dict and not _is_mapping(item):
        errors.append(f"Statement[{index}]: a statement must be a JSON object, not {_json_type(item)}")
        return None
    start = len(errors)
    where = _Where(index)
    if not _STATEMENT_KEYS.issuperset(item):
        for key in item:
            if key not in _STATEMENT_KEYS:
                errors.append(f"{where}: unknown element {key!r}")
    sid = item.get("Sid", "")
    if type(sid) is not str or (sid and not _SID.fullmatch(sid)):
        errors.append(f"{where}: Sid must contain only letters A-Z, a-z and digits 0-9, not {sid!r}")
        sid = ""
    effect = item.get("Effect")
    if effect not in ("Allow", "Deny"):  # a tuple: effect may be an unhashable list
        shown = "missing" if effect is None else repr(effect)
        errors.append(f"{where}: Effect must be 'Allow' or 'Deny' ({shown})")

    principal = not_principal = None
    has_principal, has_not_principal = "Principal" in item, "NotPrincipal" in item
    if kind == "trust":
        if has_principal and has_not_principal:
            errors.append(f"{where}: use Principal or NotPrincipal, not both")
        elif not has_principal and not has_not_principal:
            errors.append(f"{where}: a trust policy statement requires a Principal")
        if has_principal:
            principal = _parse_principal(item["Principal"], where, "Principal", errors)
        if has_not_principal:
            not_principal = _parse_principal(item["NotPrincipal"], where, "NotPrincipal", errors)
            # IAM User Guide, "AWS JSON policy elements: NotPrincipal", key points: "You cannot use the
            # NotPrincipal element in an IAM identity-based policy nor in an IAM role trust policy."
            # (With Allow it is doubly wrong: "Using it with "Effect":"Allow" is not supported.")
            errors.append(f"{where}: NotPrincipal cannot be used in an IAM role trust policy")
        for element in ("Resource", "NotResource"):
            if element in item:
                errors.append(f"{where}: {element} is not allowed in a trust policy")
    else:
        for element in ("Principal", "NotPrincipal"):
            if element in item:
                errors.append(f"{where}: {element} is not allowed in an identity-based policy")

    actions = not_actions = None
    has_action, has_not_action = "Action" in item, "NotAction" in item
    if has_action == has_not_action:
        errors.append(f"{where}: exactly one of Action or NotAction is required")
    if has_action:
        actions = _parse_actions(item["Action"], where, "Action", kind, errors)
    if has_not_action:
        not_actions = _parse_actions(item["NotAction"], where, "NotAction", kind, errors)

    resources = not_resources = None
    if kind == "identity":
        if ("Resource" in item) == ("NotResource" in item):
            errors.append(f"{where}: exactly one of Resource or NotResource is required")
        if "Resource" in item:
            resources = _string_list(item["Resource"], where, "Resource", errors)
        if "NotResource" in item:
            not_resources = _string_list(item["NotResource"], where, "NotResource", errors)

    conditions: tuple[ConditionClause, ...] = ()
    if "Condition" in item:
        conditions = _parse_conditions(item["Condition"], where, errors)
    if len(errors) > start:
        return None
    return Statement(
        index,
        sid,
        cast("Literal['Allow', 'Deny']", effect),  # a string: not subscripted on every statement
        principal,
        not_principal,
        actions,
        not_actions,
        resources,
        not_resources,
        conditions,
    )


class _Where:
    """Formats as "Statement[i]" only when an error message needs it."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    def __str__(self) -> str:
        return f"Statement[{self.index}]"


_WILDCARD_PRINCIPAL = PrincipalSpec(wildcard=True)


def _parse_principal(value: object, where: _Where, element: str, errors: list[str]) -> PrincipalSpec | None:
    if value == "*":
        return _WILDCARD_PRINCIPAL
    if not value or not _is_mapping(value):
        errors.append(f'{where} {element}: must be "*" or a non-empty object of AWS/Service/Federated/CanonicalUser')
        return None
    aws: tuple[AwsPrincipal, ...] = ()
    others: dict[str, tuple[str, ...]] = {}
    wildcard = False
    for key, entry in value.items():
        if key not in _PRINCIPAL_TYPES:
            errors.append(f"{where} {element}: unknown principal type {key!r}")
            continue
        strings = _string_list(entry, where, f"{element} {key}", errors)
        if strings is None:
            continue
        if key == "AWS":
            aws = tuple(classify_aws_principal(item) for item in strings)
            for principal in aws:
                if principal.kind is PrincipalKind.WILDCARD:
                    wildcard = True
                elif principal.kind is PrincipalKind.INVALID:
                    errors.append(f"{where} {element} AWS: invalid principal {principal.raw!r}")
            continue
        for item in strings:
            if not item or "*" in item or "?" in item:
                errors.append(f"{where} {element} {key}: invalid principal {item!r}")
        others[key] = strings
    return PrincipalSpec(
        wildcard, aws, others.get("Service", ()), others.get("Federated", ()), others.get("CanonicalUser", ())
    )


def _parse_actions(
    value: object, where: _Where, element: str, kind: PolicyKind, errors: list[str]
) -> tuple[str, ...] | None:
    actions = _string_list(value, where, element, errors)
    if actions is None:
        return None
    for action in actions:
        problem = _action_problem(action, kind)
        if problem:
            errors.append(f"{where} {element}: {problem}")
    return actions


@lru_cache(maxsize=1024)
def _action_problem(action: str, kind: PolicyKind) -> str | None:
    if action == "*":
        return None
    if not _ACTION.fullmatch(action):
        return f"{action!r} is not an action (expected service:Action)"
    if kind == "trust" and not action.lower().startswith("sts:"):
        # IAM: "AssumeRole policy may only specify STS AssumeRole actions."
        return f"a trust policy may only specify STS actions, not {action!r}"
    return None


def _string_list(value: object, where: _Where, element: str, errors: list[str]) -> tuple[str, ...] | None:
    if type(value) is str:
        return (value,)
    if isinstance(value, list) and value and all(type(item) is str for item in value):
        return tuple(value)
    errors.append(f"{where} {element}: must be a string or a non-empty list of strings")
    return None


def _parse_conditions(value: object, where: _Where, errors: list[str]) -> tuple[ConditionClause, ...]:
    if not _is_mapping(value):
        errors.append(f"{where} Condition: must be an object")
        return ()
    clauses: list[ConditionClause] = []
    for operator, block in value.items():
        parsed = _parse_operator(operator)
        if parsed is None:
            errors.append(f"{where} Condition: unknown condition operator {operator!r}")
            continue
        family, negated, qualifier, if_exists = parsed
        if not _is_mapping(block):
            errors.append(f"{where} Condition {operator}: must be an object of condition keys")
            continue
        for key, raw_values in block.items():
            values = _condition_values(raw_values)
            if values is None or not isinstance(key, str) or not key:
                errors.append(
                    f"{where} Condition {operator} {key!r}: values must be strings, numbers or booleans"
                    " (or a non-empty list of them)"
                )
                continue
            clauses.append(
                ConditionClause(
                    operator=operator,
                    family=family,
                    negated=negated,
                    qualifier=qualifier,
                    if_exists=if_exists,
                    key=key.lower(),
                    key_as_written=key,
                    values=values,
                )
            )
    return tuple(clauses)


@lru_cache(maxsize=512)
def _parse_operator(operator: str) -> tuple[str, bool, Literal["any", "all"] | None, bool] | None:
    qualifier: Literal["any", "all"] | None = None
    name = operator
    if name.startswith("ForAnyValue:"):
        qualifier, name = "any", name[len("ForAnyValue:") :]
    elif name.startswith("ForAllValues:"):
        qualifier, name = "all", name[len("ForAllValues:") :]
    if_exists = name.endswith("IfExists") and name != "IfExists"
    if if_exists:
        name = name[: -len("IfExists")]
    spec = OPERATORS.get(name)
    if spec is None or (if_exists and name == "Null"):
        return None
    return spec[0], spec[1], qualifier, if_exists


def _condition_values(raw: object) -> tuple[str, ...] | None:
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        return None
    values: list[str] = []
    for item in items:
        if isinstance(item, bool):
            values.append("true" if item else "false")
        elif isinstance(item, str):
            values.append(item)
        elif isinstance(item, int | float) and not (isinstance(item, float) and not math.isfinite(item)):
            values.append(json.dumps(item))
        else:
            return None
    return tuple(values)


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return type(value).__name__


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
