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
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from .policy import Appliance, TrustVerdict, evaluate_trust, parse_policy
from .policy.arn import PrincipalKind, classify_aws_principal
from .policy.document import PolicyParseError, decode_document
from .policy.trust import action_applies

VEEAM_SID = "VeeamApplianceAssumeRole"


def statement_to_add(appliance_role_arn: str, sid: str = VEEAM_SID) -> dict[str, Any]:
    """The trust statement Veeam documents, with the real Impersonation role ARN filled in."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"AWS": appliance_role_arn},
        "Action": "sts:AssumeRole",
    }


# IAM User Guide, "IAM and AWS STS quotas": a role trust policy may hold 2,048 characters by default
# (adjustable in Service Quotas); "IAM does not count white space when calculating the size of a
# policy against these quotas". GetAccountSummary returns the account's own AssumeRolePolicySizeQuota.
DEFAULT_TRUST_POLICY_QUOTA = 2048

# Which option (or template parameter) decides a condition key the auditor cannot know by itself.
_DECIDING_INPUTS = {
    "sts:externalid": "--external-id (template parameter ExternalId): the external id Veeam passes",
    "aws:principalorgid": "--appliance-org-id (template parameter ApplianceOrgId)",
    "aws:principalorgpaths": "--appliance-org-id (template parameter ApplianceOrgId)",
}


class TrustFix(NamedTuple):
    """The corrected trust policy and what changed, or why no safe correction is offered.

    ``document`` is None when the auditor refuses to propose a change: ``refusal`` says why and
    ``deciding_inputs`` names what the operator can supply to decide the verdict.
    """

    document: dict[str, Any] | None
    narrowed: tuple[tuple[int, dict[str, Any] | None], ...]  # (position, narrowed Deny or None: removed)
    added: dict[str, Any] | None
    refusal: str | None = None
    deciding_inputs: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def policy_length(document: object) -> int:
    """The length IAM counts against the trust-policy quota: every character but white space."""
    text = document if isinstance(document, str) else json.dumps(document, separators=(",", ":"))
    return sum(1 for character in text if not character.isspace())


def plan_trust_fix(
    document: object,
    role_arn: str,
    appliance: Appliance,
    *,
    role_tags: dict[str, str] | None = None,
    now: datetime | None = None,
    current: TrustVerdict | None = None,
    force: bool = False,
    max_length: int | None = None,
) -> TrustFix:
    """The minimal change that lets the appliance assume the role, re-evaluated with the engine.

    A fix never widens trust silently: when the verdict is ``conditional``, or an Allow that names
    the appliance is guarded by conditions, no unconditional Allow is added and no Deny that only
    may apply is narrowed, unless ``force``; the refusal names the inputs that would decide.
    ``current`` is the verdict already computed for ``document``, if any (saves one evaluation);
    ``max_length`` is the account's trust-policy quota (None: not checked). Never raises.
    """
    known_valid = current is not None and "malformed" not in current.risks
    corrected, notes = _base_document(document, known_valid=known_valid)

    def evaluate(candidate: dict[str, Any]) -> TrustVerdict:
        return evaluate_trust(candidate, role_arn, appliance, role_tags=role_tags, now=now)

    if current is None or not known_valid:
        current = evaluate(corrected)
    verdict = current
    if verdict.appliance_can_assume == "yes":
        return TrustFix(corrected, (), None, notes=notes)

    def refuse(reason: str, statements: list[dict[str, Any]]) -> TrustFix:
        inputs = _deciding_inputs(statements, corrected.get("Version"))
        return TrustFix(None, (), None, reason, inputs, notes)

    statements: list[dict[str, Any]] = corrected["Statement"]
    probe = _Probe(evaluate, corrected.get("Version"), appliance)

    def undecided() -> TrustFix:
        pending = [statements[p] for p in verdict.blocking_denies if p < len(statements)]
        pending += [statement for statement in statements if probe.allow_guarded(statement)]
        return refuse(
            "whether the appliance can assume the role depends on values the auditor does not know "
            f"({verdict.reasons[0]}); nothing is changed unless those values are given or the change is forced",
            pending,
        )

    if verdict.appliance_can_assume == "conditional" and not force:
        return undecided()
    narrowed: list[tuple[int, dict[str, Any] | None]] = []
    # A Deny that only may apply (under values unknown offline) may be a deliberate guard: narrowed only when forced.
    to_narrow = {p for p in verdict.blocking_denies if force or probe.deny_certain(statements[p])}
    if to_narrow:
        kept_statements = []
        for position, statement in enumerate(statements):
            kept: dict[str, Any] | None = statement
            if position in to_narrow:
                kept = _exempt_appliance(statement, appliance, probe)
                narrowed.append((position, kept))
            if kept is not None:
                kept_statements.append(kept)
        corrected["Statement"] = statements = kept_statements
        verdict = evaluate(corrected)
        if verdict.appliance_can_assume == "conditional" and not force:
            return undecided()
    added = None
    if verdict.appliance_can_assume != "yes":
        guarded = [statement for statement in statements if probe.allow_guarded(statement)]
        if guarded and not force:
            labels = ", ".join(_label(statements, statement) for statement in guarded)
            return refuse(
                f"{labels} lets the appliance in only under its Condition; an Allow without those "
                "conditions beside it would remove their protection (for example against the confused "
                "deputy), so none is proposed",
                guarded,
            )
        added = statement_to_add(appliance.role.arn, _unique_sid(statements))
        statements.append(added)
        verdict = evaluate(corrected)
        if verdict.appliance_can_assume == "conditional" and not force:
            return undecided()
    if verdict.appliance_can_assume != "yes":
        return TrustFix(
            None,
            (),
            None,
            f"no correction could be shown to work: {'; '.join(verdict.reasons)}",
            (),
            notes,
        )
    if max_length is not None and policy_length(corrected) > max_length:
        return TrustFix(
            None,
            (),
            None,
            f"the corrected trust policy would be {policy_length(corrected)} characters (white space not "
            f"counted), over the account's trust policy quota of {max_length} (IAM and AWS STS quotas: "
            '"Role trust policy length"); raise the quota in Service Quotas or remove statements that are '
            "no longer needed",
            (),
            notes,
        )
    return TrustFix(corrected, tuple(narrowed), added, notes=notes)


def corrected_trust_policy(
    document: object,
    role_arn: str,
    appliance: Appliance,
    *,
    role_tags: dict[str, str] | None = None,
    now: datetime | None = None,
    current: TrustVerdict | None = None,
) -> dict[str, Any] | None:
    """The trust policy with the minimal change that lets the appliance assume the role, or None.

    The current one with every other statement kept; unchanged (normalised to a dict) when the
    appliance can already assume it; None when no safe correction exists. See ``plan_trust_fix``.
    """
    return plan_trust_fix(document, role_arn, appliance, role_tags=role_tags, now=now, current=current).document


class _Probe:
    """Asks the engine about single statements: does an Allow need its Condition, does a Deny surely apply."""

    def __init__(
        self, evaluate: Callable[[dict[str, Any]], TrustVerdict], version: object, appliance: Appliance
    ) -> None:
        self.evaluate = evaluate
        self.version = version
        self.open_allow = statement_to_add(appliance.role.arn)

    def _document(self, *statements: dict[str, Any]) -> dict[str, Any]:
        document: dict[str, Any] = {"Statement": list(statements)}
        if self.version is not None:
            document["Version"] = self.version
        return document

    def allow_guarded(self, statement: dict[str, Any]) -> bool:
        """An Allow that would let the appliance in without its Condition, but not (surely) with it."""
        if statement.get("Effect") != "Allow" or not statement.get("Condition"):
            return False
        bare = {key: value for key, value in statement.items() if key != "Condition"}
        if self.evaluate(self._document(bare)).appliance_can_assume == "no":
            return False
        return self.evaluate(self._document(statement)).appliance_can_assume != "yes"

    def deny_certain(self, statement: dict[str, Any]) -> bool:
        """A Deny that surely covers the appliance (not only under values unknown offline)."""
        return self.evaluate(self._document(self.open_allow, statement)).appliance_can_assume == "no"

    def still_denies(self, statement: dict[str, Any]) -> bool:
        return self.evaluate(self._document(self.open_allow, statement)).appliance_can_assume != "yes"


def _deciding_inputs(statements: list[dict[str, Any]], version: object) -> tuple[str, ...]:
    """What the operator can tell the auditor to decide these statements, or what no input decides."""
    document: dict[str, Any] = {"Statement": statements}
    if version is not None:
        document["Version"] = version
    parsed = parse_policy(document, "trust")
    inputs: list[str] = []
    for statement in parsed.statements:
        for clause in statement.conditions:
            inputs.append(
                _DECIDING_INPUTS.get(clause.key, f"{clause.key_as_written}: not known offline; check it by hand")
            )
        spec = statement.principal
        if spec is not None and any(p.kind is PrincipalKind.ROLE_SESSION for p in spec.aws):
            inputs.append("the appliance's role session name: not known offline; name the role ARN instead")
    return tuple(dict.fromkeys(inputs))


def _label(statements: list[dict[str, Any]], statement: dict[str, Any]) -> str:
    position = next(index for index, candidate in enumerate(statements) if candidate is statement)
    sid = statement.get("Sid")
    return f'Statement[{position}] (Sid "{sid}")' if isinstance(sid, str) and sid else f"Statement[{position}]"


class Narrowing(NamedTuple):
    """A trust policy with ``"*"`` and the appliance account's root replaced by the appliance role."""

    document: dict[str, Any] | None  # None: nothing safe to narrow (see ``reason``)
    changes: tuple[str, ...]
    reason: str | None = None


def narrowed_trust_policy(
    document: object,
    role_arn: str,
    appliance: Appliance,
    *,
    role_tags: dict[str, str] | None = None,
    now: datetime | None = None,
) -> Narrowing:
    """Replace ``"*"`` and the appliance account (root or bare id) in the sts:AssumeRole Allows with the
    Impersonation role ARN, only where the appliance keeps its access (re-evaluated with the engine).

    Foreign principals, services and every other statement are kept: narrowing never decides on
    someone else's access by itself beyond the appliance's own account and ``"*"``.
    """
    corrected, _ = _base_document(document)
    parsed = parse_policy(corrected, "trust")
    if parsed.malformed:
        return Narrowing(None, (), "the trust policy is not valid; fix it first")
    changes: list[str] = []
    for statement in parsed.statements:
        if statement.effect != "Allow" or statement.principal is None or not action_applies(statement):
            continue
        raw = corrected["Statement"][statement.position]
        principal = raw.get("Principal")
        if principal == "*":
            raw["Principal"] = {"AWS": appliance.role.arn}
            changes.append(f'{statement.label}: Principal "*" becomes {appliance.role.arn}')
            continue
        if not isinstance(principal, dict) or "AWS" not in principal:
            continue
        values: list[str] = []
        for value in _as_list(principal["AWS"]):
            named = classify_aws_principal(value)
            if value == "*" or (named.kind is PrincipalKind.ACCOUNT and named.account == appliance.account):
                changes.append(f"{statement.label}: {value} becomes {appliance.role.arn}")
                values.append(appliance.role.arn)
            else:
                values.append(value)
        values = list(dict.fromkeys(values))
        principal["AWS"] = values[0] if len(values) == 1 else values
    if not changes:
        return Narrowing(None, (), 'no Allow names "*" or the appliance\'s whole account: nothing to narrow')
    verdict = evaluate_trust(corrected, role_arn, appliance, role_tags=role_tags, now=now)
    if verdict.appliance_can_assume != "yes":
        return Narrowing(
            None,
            (),
            "after narrowing, the appliance could no longer be shown to assume the role "
            f"({verdict.reasons[0] if verdict.reasons else verdict.appliance_can_assume}); nothing is changed",
        )
    return Narrowing(corrected, tuple(changes))


def without_deleted_principals(document: object, deleted_ids: tuple[str, ...]) -> dict[str, Any]:
    """The trust policy with the given unique ids removed (a statement left with no principal goes)."""
    corrected, _ = _base_document(document)
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
    corrected, _ = _base_document(document, known_valid=known_valid)
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


def _base_document(document: object, *, known_valid: bool = False) -> tuple[dict[str, Any], tuple[str, ...]]:
    """A deep copy with Statement as a list, keeping only the statements IAM would accept, and notes.

    (A document in force in IAM is always valid; invalid ones only come from files given to the CLI.)
    """
    try:
        # A JSON round trip is a deep copy of JSON data, and several times faster than copy.deepcopy.
        raw = json.loads(json.dumps(decode_document(document)))
    except (PolicyParseError, TypeError, ValueError):
        raw = {}
    body = raw.get("Statement", [])
    statements = [body] if isinstance(body, dict) else list(body) if isinstance(body, list) else []
    statements = [kept for kept in map(_without_not_principal, statements) if kept is not None]
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
    # The Version decides how ${...} policy variables are read ("IAM JSON policy elements: Version":
    # without it, 2008-10-17 applies and variables are literal text), so it is kept as it is, absent
    # included. Only a document with no valid Version to keep gets 2012-10-17, and says so.
    notes: tuple[str, ...] = ()
    result: dict[str, Any] = {}
    version = raw.get("Version")
    if version in ("2012-10-17", "2008-10-17"):
        result["Version"] = version
    elif "Version" in raw or not raw:
        result["Version"] = "2012-10-17"
        notes = (
            f"Version {json.dumps(version)[:60] if raw else '(unreadable document)'} is not one IAM accepts: "
            "the corrected policy uses 2012-10-17",
        )
    if isinstance(raw.get("Id"), str):
        result["Id"] = raw["Id"]
    result["Statement"] = valid
    return result, notes


def _exempt_appliance(statement: dict[str, Any], appliance: Appliance, probe: _Probe) -> dict[str, Any] | None:
    """Narrow a Deny so it no longer covers the appliance; None when nothing of it is left.

    The appliance's own principals leave the Deny; if what remains still covers the appliance ("*",
    its account, a NotPrincipal), the appliance is exempted by ``ArnNotEquals aws:PrincipalArn``,
    the pattern the IAM User Guide recommends over NotPrincipal (aws:PrincipalArn of a role session
    is the role's ARN: "AWS global condition context keys").
    """
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
            if not probe.still_denies(narrowed):
                return narrowed
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


def _without_not_principal(statement: object) -> object | None:
    """A Deny with NotPrincipal rewritten the way the IAM User Guide recommends; None if it denies no one.

    "AWS JSON policy elements: NotPrincipal": "You cannot use the NotPrincipal element in ... an IAM role
    trust policy", and "We recommend changing your resource-based policy statements to use the condition
    operator ArnNotEquals with the aws:PrincipalArn context key ... instead of the NotPrincipal element."
    The principals it exempted stay exempt: AWS ones by aws:PrincipalArn, services by
    aws:PrincipalServiceName (absent for IAM principals, hence IfExists). Other statements are unchanged.
    """
    if not isinstance(statement, dict) or statement.get("Effect") != "Deny" or "NotPrincipal" not in statement:
        return statement
    exempt = statement["NotPrincipal"]
    if exempt == "*":
        return None
    if not isinstance(exempt, dict) or not set(exempt) <= {"AWS", "Service"}:
        return statement  # not expressible with these keys: left as it is (and so left out, being invalid)
    rewritten = {key: value for key, value in statement.items() if key != "NotPrincipal"}
    rewritten["Principal"] = "*"
    condition = rewritten.get("Condition")
    condition = json.loads(json.dumps(condition)) if isinstance(condition, dict) else {}
    for operator, key, values in (
        ("ArnNotEquals", "aws:PrincipalArn", _as_list(exempt.get("AWS"))),
        ("StringNotEqualsIfExists", "aws:PrincipalServiceName", _as_list(exempt.get("Service"))),
    ):
        if not values:
            continue
        block = condition.setdefault(operator, {})
        if not isinstance(block, dict):
            return statement
        name = next((k for k in block if k.lower() == key.lower()), key)
        merged = list(dict.fromkeys([*_as_list(block.get(name, [])), *values]))  # NOR of both lists
        block[name] = merged[0] if len(merged) == 1 else merged
    rewritten["Condition"] = condition
    return rewritten


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
