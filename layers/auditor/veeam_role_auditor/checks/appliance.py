"""The Impersonation role itself: it exists, EC2 can assume it, and it is in an instance profile.

One finding per configured appliance (``resource="appliance"``), decided from its :class:`ApplianceState`.
"""

from __future__ import annotations

from datetime import datetime

from ..model import ApplianceState, Status
from ..policy import Appliance, evaluate_service_trust
from .base import BEST_PRACTICES, Check, Decision

APPLIANCE_USABLE = Check(
    code="VRA-APPLIANCE-1",
    problem="the Impersonation role is missing or EC2 cannot use it",
    title="The Impersonation role should exist and be usable by EC2",
    holds="The Impersonation role exists and EC2 can use it",
    warning_problem="EC2 may not be able to use the Impersonation role",
    severity="CRITICAL",
    asff_types=(f"{BEST_PRACTICES}/Veeam Impersonation Role", "Effects/Denial of Service"),
    description=(
        "The appliance's Impersonation role must exist and its trust policy must let "
        "ec2.amazonaws.com assume it, or the appliance has no credentials and every backup fails."
    ),
    remediation=(
        "Re-create {appliance_role_arn} (then update every Veeam role's trust policy: a re-created role "
        'has a new unique id) or add {{"Effect": "Allow", "Principal": {{"Service": "ec2.amazonaws.com"}}, '
        '"Action": "sts:AssumeRole"}} to its trust policy.'
    ),
    resource="appliance",
)


def decide_appliance(
    state: ApplianceState, appliance: Appliance, *, partition: str, account: str, now: datetime | None
) -> Decision:
    """APPLIANCE_USABLE for one appliance (``now``: the time the trust conditions see)."""
    if not state.in_scanned_account:
        return Decision(
            "NOT_AVAILABLE",
            [
                f"{state.role_arn} is in account {appliance.account}, not in the scanned account {account}; "
                "deploy the auditor in that account to check it"
            ],
        )
    if state.snapshot is None:
        return Decision("FAILED", [f"{state.role_arn} does not exist in account {account}"])
    service = "ec2.amazonaws.com.cn" if partition == "aws-cn" else "ec2.amazonaws.com"
    answer, reasons = evaluate_service_trust(state.snapshot.trust_policy, service, now=now)
    details = list(reasons)
    status: Status = {"yes": "PASSED", "conditional": "WARNING", "no": "FAILED"}[answer]  # type: ignore[assignment]
    if not state.snapshot.instance_profile_arns:
        details.append(f"{state.role_arn} is in no instance profile, so no EC2 instance can use it")
        status = "FAILED"
    else:
        details.append("instance profiles: " + ", ".join(state.snapshot.instance_profile_arns))
    return Decision(status, details)
