"""Inventory drift: a role that trusts the appliance should carry the Veeam tag (so it gets audited)."""

from __future__ import annotations

from .base import BEST_PRACTICES, Check, Decision, RoleCheck, RoleFacts

UNTAGGED_TRUSTING = Check(
    code="VRA-INVENTORY-1",
    problem="a role that trusts the appliance lacks the Veeam tag",
    title="A role that trusts the appliance should carry the Veeam tag",
    holds="A role that trusts the appliance carries the Veeam tag",
    severity="INFORMATIONAL",
    asff_types=(f"{BEST_PRACTICES}/Inventory Drift",),
    description=(
        "The role's trust policy names the appliance's Impersonation role, but the role lacks the Veeam "
        "tag, so the auditor does not check it."
    ),
    remediation="Tag {role_name} with the Veeam tag if Veeam uses it, or remove the appliance from its trust.",
)


def _tagged(facts: RoleFacts) -> Decision:
    return Decision("PASSED", [f"{facts.role.name} carries the Veeam tag"])


CARRIES_TAG = RoleCheck(UNTAGGED_TRUSTING, _tagged)


def untagged_trusting(role_name: str, appliance_role_arn: str, tag_key: str) -> Decision:
    """FAILED for an untagged role whose trust policy lets the appliance role assume it."""
    return Decision(
        "FAILED",
        [f"the trust policy lets {appliance_role_arn} assume {role_name}, but {role_name} lacks the tag {tag_key}"],
    )
