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
from .context import Appliance, RequestContext
from .document import parse_policy
from .permissions import statement_applies
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
            outcome = statement_applies(policy, statement, role.arn, context, literal=True)
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
