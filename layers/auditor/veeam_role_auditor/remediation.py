"""Exact fixes: the statement to add and the whole corrected trust policy (pure; no AWS calls).

The corrected policy is the current one with the minimal change merged and every other statement
kept: a Deny that blocks the appliance is narrowed with an ``ArnNotEquals aws:PrincipalArn``
condition (or loses the appliance's own ARN from its principals), and the Veeam statement is added
only when no Allow already lets the appliance in. Every correction is re-evaluated with the engine
before it is offered.
"""

from __future__ import annotations

import difflib
import json
from datetime import datetime
from typing import Any, NamedTuple

from .policy import Appliance, TrustVerdict, evaluate_trust, parse_policy
from .policy.arn import PrincipalKind, classify_aws_principal
from .policy.document import PolicyParseError, decode_document

VEEAM_SID = "VeeamApplianceAssumeRole"


def statement_to_add(appliance_role_arn: str, sid: str = VEEAM_SID) -> dict[str, Any]:
    """The trust statement Veeam documents, with the real Impersonation role ARN filled in."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"AWS": appliance_role_arn},
        "Action": "sts:AssumeRole",
    }


class TrustFix(NamedTuple):
    """The corrected trust policy, and what changed: Deny statements narrowed, a statement added."""

    document: dict[str, Any]
    narrowed: tuple[tuple[int, dict[str, Any] | None], ...]  # (position, narrowed Deny or None: removed)
    added: dict[str, Any] | None


def plan_trust_fix(
    document: object,
    role_arn: str,
    appliance: Appliance,
    *,
    role_tags: dict[str, str] | None = None,
    now: datetime | None = None,
    current: TrustVerdict | None = None,
) -> TrustFix:
    """The minimal change that lets the appliance assume the role, re-evaluated with the engine.

    ``current`` is the verdict already computed for ``document``, if any (saves one evaluation).
    Nothing changes when the appliance can already assume the role.
    Raises ``ValueError`` if no correction can be shown to work (not expected to happen).
    """
    known_valid = current is not None and "malformed" not in current.risks
    corrected = _base_document(document, known_valid=known_valid)
    if current is None or not known_valid:
        current = evaluate_trust(corrected, role_arn, appliance, role_tags=role_tags, now=now)
    verdict = current
    narrowed: list[tuple[int, dict[str, Any] | None]] = []
    if verdict.blocking_denies:
        blocking = set(verdict.blocking_denies)
        statements = []
        for position, statement in enumerate(corrected["Statement"]):
            kept: dict[str, Any] | None = statement
            if position in blocking:
                kept = _exempt_appliance(statement, appliance)
                narrowed.append((position, kept))
            if kept is not None:
                statements.append(kept)
        corrected["Statement"] = statements
        verdict = evaluate_trust(corrected, role_arn, appliance, role_tags=role_tags, now=now)
    added = None
    if verdict.appliance_can_assume != "yes":
        added = statement_to_add(appliance.role.arn, _unique_sid(corrected["Statement"]))
        corrected["Statement"].append(added)
        verdict = evaluate_trust(corrected, role_arn, appliance, role_tags=role_tags, now=now)
    if verdict.appliance_can_assume != "yes":
        raise ValueError(f"no correction found: {'; '.join(verdict.reasons)}")
    return TrustFix(corrected, tuple(narrowed), added)


def corrected_trust_policy(
    document: object,
    role_arn: str,
    appliance: Appliance,
    *,
    role_tags: dict[str, str] | None = None,
    now: datetime | None = None,
    current: TrustVerdict | None = None,
) -> dict[str, Any]:
    """The trust policy with the minimal change that lets the appliance assume the role.

    The current one with every other statement kept; unchanged (normalised to a dict) when the
    appliance can already assume it. See ``plan_trust_fix``.
    """
    return plan_trust_fix(document, role_arn, appliance, role_tags=role_tags, now=now, current=current).document


def without_deleted_principals(document: object, deleted_ids: tuple[str, ...]) -> dict[str, Any]:
    """The trust policy with the given unique ids removed (a statement left with no principal goes)."""
    corrected = _base_document(document)
    kept = []
    for statement in corrected["Statement"]:
        emptied = False
        for element in ("Principal", "NotPrincipal"):
            principal = statement.get(element)
            if not isinstance(principal, dict) or "AWS" not in principal:
                continue
            remaining = [value for value in _as_list(principal["AWS"]) if value not in deleted_ids]
            if remaining:
                principal["AWS"] = remaining[0] if len(remaining) == 1 else remaining
            else:
                del principal["AWS"]
            emptied = emptied or not principal
        if not emptied:
            kept.append(statement)
    corrected["Statement"] = kept
    return corrected


def with_role_instead_of_account(
    document: object, account: str, appliance_role_arn: str, *, known_valid: bool = False
) -> dict[str, Any]:
    """Replace the appliance account's root principal with the Impersonation role ARN in Allows."""
    corrected = _base_document(document, known_valid=known_valid)
    for statement in corrected["Statement"]:
        principal = statement.get("Principal")
        if statement.get("Effect") != "Allow" or not isinstance(principal, dict) or "AWS" not in principal:
            continue
        values = []
        for value in _as_list(principal["AWS"]):
            named = classify_aws_principal(value)
            replace = named.kind is PrincipalKind.ACCOUNT and named.account == account
            values.append(appliance_role_arn if replace else value)
        values = list(dict.fromkeys(values))
        principal["AWS"] = values[0] if len(values) == 1 else values
    return corrected


def policy_diff(before: object, after: dict[str, Any], name: str) -> str:
    """A unified diff of the pretty-printed documents."""
    try:
        old = json.dumps(decode_document(before), indent=2, sort_keys=False).splitlines()
    except PolicyParseError:
        old = str(before).splitlines()
    new = json.dumps(after, indent=2).splitlines()
    return "\n".join(difflib.unified_diff(old, new, f"{name} (current)", f"{name} (corrected)", lineterm=""))


# ---------------------------------------------------------------------- helpers


def _base_document(document: object, *, known_valid: bool = False) -> dict[str, Any]:
    """A deep copy with Statement as a list, keeping only the statements IAM would accept.

    (A document in force in IAM is always valid; invalid ones only come from files given to the CLI.)
    """
    try:
        # A JSON round trip is a deep copy of JSON data, and several times faster than copy.deepcopy.
        raw = json.loads(json.dumps(decode_document(document)))
    except (PolicyParseError, TypeError, ValueError):
        raw = {}
    body = raw.get("Statement", [])
    statements = [body] if isinstance(body, dict) else list(body) if isinstance(body, list) else []
    if statements and (known_valid or not parse_policy(raw, "trust").malformed):
        valid = statements
    else:
        valid = [
            statement
            for statement in statements
            if isinstance(statement, dict)
            and not parse_policy({"Version": "2012-10-17", "Statement": [statement]}, "trust").malformed
        ]
    # Sids must stay unique once statements are combined again.
    seen: set[str] = set()
    for statement in valid:
        sid = statement.get("Sid")
        if sid and sid in seen:
            statement["Sid"] = _unique_sid(valid, sid)
        if statement.get("Sid"):
            seen.add(statement["Sid"])
    version = raw.get("Version")
    result: dict[str, Any] = {"Version": version if version in ("2012-10-17", "2008-10-17") else "2012-10-17"}
    if isinstance(raw.get("Id"), str):
        result["Id"] = raw["Id"]
    result["Statement"] = valid
    return result


def _exempt_appliance(statement: dict[str, Any], appliance: Appliance) -> dict[str, Any] | None:
    """Narrow a Deny so it no longer covers the appliance; None when nothing of it is left."""
    narrowed: dict[str, Any] = json.loads(json.dumps(statement))
    principal = narrowed.get("Principal")
    if isinstance(principal, dict) and "AWS" in principal:
        values = _as_list(principal["AWS"])
        others = [value for value in values if not _is_appliance_role(value, appliance)]
        if len(others) != len(values):
            if others:
                principal["AWS"] = others[0] if len(others) == 1 else others
            else:
                del principal["AWS"]
            if not principal:
                return None
            return narrowed
    # "*", the appliance's account or a NotPrincipal: keep the Deny for everyone but the appliance
    # (the pattern the IAM User Guide recommends over NotPrincipal).
    condition = narrowed.setdefault("Condition", {})
    block = condition.setdefault("ArnNotEquals", {})
    key = next((k for k in block if k.lower() == "aws:principalarn"), "aws:PrincipalArn")
    values = _as_list(block.get(key, []))
    if appliance.role.arn not in values:
        values.append(appliance.role.arn)
    block[key] = values[0] if len(values) == 1 else values
    return narrowed


def _is_appliance_role(value: str, appliance: Appliance) -> bool:
    named = classify_aws_principal(value)
    role = appliance.role
    if named.kind is PrincipalKind.ROLE:
        return (named.account, named.path, (named.name or "").lower()) == (
            role.account,
            role.path,
            role.name.lower(),
        )
    if named.kind is PrincipalKind.ROLE_SESSION:
        return named.account == role.account and (named.name or "").lower() == role.name.lower()
    return named.kind is PrincipalKind.UNIQUE_ID and value == appliance.role_id


def _unique_sid(statements: list[dict[str, Any]], base: str = VEEAM_SID) -> str:
    taken = {statement.get("Sid") for statement in statements}
    if base not in taken:
        return base
    number = 2
    while f"{base}{number}" in taken:
        number += 1
    return f"{base}{number}"


def _as_list(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []
