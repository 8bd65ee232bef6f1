"""Whether an AWS service principal (EC2, for the appliance's instance profile) can assume a role."""

from __future__ import annotations

from datetime import datetime

from .conditions import evaluate_conditions
from .context import ServiceRequestContext
from .document import PrincipalSpec, parse_policy
from .tri import Tri, tri_any
from .trust import Answer, action_applies

_ANSWER: dict[Tri, Answer] = {Tri.TRUE: "yes", Tri.UNKNOWN: "conditional", Tri.FALSE: "no"}


def evaluate_service_trust(
    document: object, service: str, *, now: datetime | None = None
) -> tuple[Answer, tuple[str, ...]]:
    """Can ``service`` (e.g. ``ec2.amazonaws.com``) assume a role with this trust policy?"""
    policy = parse_policy(document, "trust")
    if policy.malformed:
        return "no", tuple(f"malformed: {error}" for error in policy.errors)
    context = ServiceRequestContext(service, now)
    allows: list[Tri] = []
    denies: list[Tri] = []
    reasons: list[str] = []
    for statement in policy.statements:
        if not action_applies(statement):
            continue
        assert statement.principal is not None  # NotPrincipal makes a trust policy malformed
        principal = _names(statement.principal, service)
        if principal is Tri.FALSE:
            continue
        outcome = min(principal, evaluate_conditions(statement.conditions, context, policy.resolves_variables))
        if outcome is Tri.FALSE:
            continue
        verb = "allows" if statement.effect == "Allow" else "denies"
        maybe = "" if outcome is Tri.TRUE else " under conditions not known offline"
        reasons.append(f"{statement.label} {verb} sts:AssumeRole to {service}{maybe}")
        (allows if statement.effect == "Allow" else denies).append(outcome)
    result = min(tri_any(allows), ~tri_any(denies))
    if not allows:
        reasons.append(f"no Allow statement lets {service} assume the role")
    return _ANSWER[result], tuple(reasons)


def _names(spec: PrincipalSpec, service: str) -> Tri:
    if spec.wildcard:
        return Tri.TRUE
    return Tri.of(any(value.lower() == service.lower() for value in spec.service))
