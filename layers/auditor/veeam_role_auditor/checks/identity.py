"""The Impersonation role's own permissions: do they allow sts:AssumeRole on the role."""

from __future__ import annotations

from ..model import Status
from ..policy import evaluate_identity
from .base import BEST_PRACTICES, Check, Decision, RoleCheck, RoleFacts

IDENTITY_ALLOWS = Check(
    code="VRA-IDENTITY-1",
    problem="the Impersonation role's permissions do not allow sts:AssumeRole on the role",
    title="The Impersonation role's permissions should allow sts:AssumeRole on the role",
    holds="The Impersonation role's permissions allow sts:AssumeRole on the role",
    warning_problem="the Impersonation role's permissions may not allow sts:AssumeRole on the role",
    severity="HIGH",
    warning_severity="MEDIUM",
    asff_types=(f"{BEST_PRACTICES}/Veeam Impersonation Role Permissions", "Effects/Denial of Service"),
    description=(
        "The Impersonation role's own policies (inline, attached and its permissions boundary) must "
        'allow sts:AssumeRole on the role. Veeam documents Resource "*"; a policy scoped by the Veeam '
        "tag is also fine."
    ),
    remediation=(
        "Attach to {appliance_role_arn} a policy that allows sts:AssumeRole on {role_arn}, for example "
        '{{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}}, and make sure its '
        "permissions boundary (if any) allows it too."
    ),
)


def _identity_allows(facts: RoleFacts) -> Decision:
    best = facts.best
    state = best.state
    if state.identity_policies is None:
        return Decision(
            "NOT_AVAILABLE", [state.unavailable_reason or f"the policies of {state.role_arn} could not be read"]
        )
    role = facts.role
    identity = evaluate_identity(
        state.identity_policies,
        role.arn,
        best.appliance,
        boundary=state.boundary,
        role_tags=dict(role.tags),
        now=facts.now,
    )
    status: Status = {"yes": "PASSED", "conditional": "WARNING", "no": "FAILED"}[identity.allows_assume_role]  # type: ignore[assignment]
    return Decision(status, list(identity.reasons))


ALLOWS_ASSUME_ROLE = RoleCheck(IDENTITY_ALLOWS, _identity_allows)
