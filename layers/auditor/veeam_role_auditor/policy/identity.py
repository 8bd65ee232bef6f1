"""Decide whether the Impersonation role's own permissions allow ``sts:AssumeRole`` on a role.

IAM User Guide, "Policy evaluation logic" (identity-based policies and permissions boundaries): the
request is allowed when an identity-based policy allows it, the permissions boundary (if any) also
allows it, and no statement in either explicitly denies it. Service control policies and session
policies are outside what this engine can see (README, known limits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .arn import RoleArn, parse_role_arn
from .conditions import NO_VALUE, evaluate_clause, pattern_match, resolve_policy_string
from .context import Appliance, RequestContext
from .document import PolicyDocument, Statement, parse_policy
from .tri import Tri, tri_all, tri_any
from .trust import ASSUME_ROLE, Answer, action_applies

_ANSWER: dict[Tri, Answer] = {Tri.TRUE: "yes", Tri.UNKNOWN: "conditional", Tri.FALSE: "no"}


@dataclass(frozen=True, slots=True)
class NamedPolicy:
    """A permission policy of the Impersonation role and where it comes from (for reasons)."""

    name: str
    document: object


@dataclass(frozen=True, slots=True)
class IdentityVerdict:
    allows_assume_role: Answer
    reasons: tuple[str, ...]
    malformed: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "allows_assume_role": self.allows_assume_role,
            "reasons": list(self.reasons),
            "malformed_policies": list(self.malformed),
        }


def evaluate_identity(
    policies: Sequence[NamedPolicy],
    role_arn: str | RoleArn,
    appliance: Appliance,
    *,
    boundary: NamedPolicy | None = None,
    role_tags: dict[str, str] | None = None,
    now: datetime | None = None,
) -> IdentityVerdict:
    """Whether ``policies`` (inline and managed) and ``boundary`` allow AssumeRole on ``role_arn``.

    ``role_tags`` are the audited role's tags, for ``aws:ResourceTag/...`` conditions.
    """
    role = role_arn if isinstance(role_arn, RoleArn) else parse_role_arn(role_arn)
    context = RequestContext(appliance, resource=role, resource_tags=role_tags, now=now)
    reasons: list[str] = []
    malformed: list[str] = []

    def outcomes(named: NamedPolicy, effect: str) -> list[Tri]:
        policy = parse_policy(named.document, "identity")
        if policy.malformed:
            if effect == "Allow":
                malformed.append(named.name)
                reasons.extend(f"{named.name} is malformed and ignored: {error}" for error in policy.errors)
            return []
        results: list[Tri] = []
        for statement in policy.statements:
            if statement.effect != effect or not action_applies(statement):
                continue
            outcome = _statement_applies(policy, statement, role, context)
            if outcome is not Tri.FALSE:
                results.append(outcome)
                verb = "allows" if effect == "Allow" else "explicitly denies"
                qualifier = "" if outcome is Tri.TRUE else " under conditions not known offline"
                reasons.append(f"{named.name} {statement.label} {verb} {ASSUME_ROLE} on {role.arn}{qualifier}")
        return results

    allow = tri_any(outcome for named in policies for outcome in outcomes(named, "Allow"))
    deny = tri_any(outcome for named in policies for outcome in outcomes(named, "Deny"))
    decisive: list[str] = []
    if allow is Tri.FALSE:
        decisive.append(f"no permission policy of {appliance.role.arn} allows {ASSUME_ROLE} on {role.arn}")
    result = min(allow, ~deny)
    if boundary is not None:
        bounded = tri_any(outcomes(boundary, "Allow"))
        boundary_deny = tri_any(outcomes(boundary, "Deny"))
        if bounded is Tri.FALSE:
            decisive.append(f"the permissions boundary ({boundary.name}) does not allow {ASSUME_ROLE} on {role.arn}")
        result = tri_all((result, bounded, ~boundary_deny))
    # The line that decided a denial comes first: it is what a reader (and an alert) needs.
    reasons[:0] = decisive
    return IdentityVerdict(_ANSWER[result], tuple(reasons), tuple(malformed))


def _statement_applies(policy: PolicyDocument, statement: Statement, role: RoleArn, context: RequestContext) -> Tri:
    resolve = policy.resolves_variables
    if statement.resources is not None:
        resource = tri_any(_resource_match(pattern, role, context, resolve) for pattern in statement.resources)
    else:
        assert statement.not_resources is not None
        resource = ~tri_any(_resource_match(pattern, role, context, resolve) for pattern in statement.not_resources)
    if resource is Tri.FALSE:
        return Tri.FALSE
    conditions = tri_all(evaluate_clause(clause, context, resolve) for clause in statement.conditions)
    return min(resource, conditions)


def _resource_match(pattern: str, role: RoleArn, context: RequestContext, resolve: bool) -> Tri:
    resolved = resolve_policy_string(pattern, context, resolve)
    if resolved is None:
        return Tri.UNKNOWN
    if resolved is NO_VALUE:
        # "Policy variables with no value": "the resource that includes a policy variable with no value
        # will not match any resource" (Resource and NotResource alike).
        return Tri.FALSE
    return Tri.of(pattern_match(resolved, role.arn))
