"""The checks catalogue: every check's stable code, title, severity, ASFF types and remediation text.

Detection code (``assess``) decides statuses; it never holds any of this text. Remediation texts are
``str.format`` templates; the fields available are listed in ``Check.remediation``'s docstring.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .model import Severity

VEEAM_IAM_DOCS = "https://helpcenter.veeam.com/docs/vbaws/guide/iam_roles.html"

# ASFF finding types use the taxonomy namespace/category/classifier (Security Hub User Guide,
# "Types taxonomy for ASFF").
_BEST_PRACTICES = "Software and Configuration Checks/AWS Security Best Practices"
_EXPOSURE = "Effects/Data Exposure"


@dataclass(frozen=True)
class Check:
    code: str
    title: str
    """What should hold, as Security Hub's own controls say it ("... should not ..."): never reads as a pass."""
    severity: Severity
    asff_types: tuple[str, ...]
    description: str
    remediation: str
    """Template; fields: {role_name}, {role_arn}, {appliance_role_arn}, {appliance_account}."""
    problem: str = ""
    """What is wrong when the check fails, as a short phrase for alerts: "the role trusts ..."."""
    resource: Literal["role", "appliance"] = "role"
    warning_severity: Severity | None = None
    holds: str = ""
    """What holds when the check passes ("The role does not trust ..."): for PASSED lines and resolutions."""
    warning_problem: str = ""
    """The problem when the answer is only "maybe" (WARNING): "may not be able to", never "cannot"."""
    remediation_no_fix: str = ""
    """Template used instead of ``remediation`` when no safe correction can be offered (the details say why)."""


TRUST_CAN_ASSUME = Check(
    code="VRA-TRUST-1",
    problem="the Veeam appliance cannot assume the role",
    title="The Veeam appliance should be able to assume the role",
    holds="The Veeam appliance can assume the role",
    warning_problem="the Veeam appliance may not be able to assume the role",
    severity="HIGH",
    warning_severity="MEDIUM",
    asff_types=(f"{_BEST_PRACTICES}/Veeam Backup Role Trust", "Effects/Denial of Service"),
    description=(
        "The role's trust policy must let the appliance's Impersonation role call sts:AssumeRole, "
        "either by its role ARN or by the appliance's account, and nothing in it may deny that. "
        "Otherwise Veeam backups and restores that use this role fail."
    ),
    remediation=(
        "Add the statement below to the trust policy of {role_name} (or run: veeam-role-auditor fix "
        "--role-name {role_name} --appliance-role-arn {appliance_role_arn}). IAM applies trust policy "
        "changes within about 5 minutes."
    ),
    remediation_no_fix=(
        "No change to the trust policy of {role_name} is proposed, because none could be shown to be safe: "
        "the details say why and which values decide (run: veeam-role-auditor fix --role-name {role_name} "
        "--appliance-role-arn {appliance_role_arn} with those values). Never add an Allow without the "
        "conditions of an Allow that already names the appliance."
    ),
)
IDENTITY_ALLOWS = Check(
    code="VRA-IDENTITY-1",
    problem="the Impersonation role's permissions do not allow sts:AssumeRole on the role",
    title="The Impersonation role's permissions should allow sts:AssumeRole on the role",
    holds="The Impersonation role's permissions allow sts:AssumeRole on the role",
    warning_problem="the Impersonation role's permissions may not allow sts:AssumeRole on the role",
    severity="HIGH",
    warning_severity="MEDIUM",
    asff_types=(f"{_BEST_PRACTICES}/Veeam Impersonation Role Permissions", "Effects/Denial of Service"),
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
APPLIANCE_USABLE = Check(
    code="VRA-APPLIANCE-1",
    problem="the Impersonation role is missing or EC2 cannot use it",
    title="The Impersonation role should exist and be usable by EC2",
    holds="The Impersonation role exists and EC2 can use it",
    warning_problem="EC2 may not be able to use the Impersonation role",
    severity="CRITICAL",
    asff_types=(f"{_BEST_PRACTICES}/Veeam Impersonation Role", "Effects/Denial of Service"),
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
DELETED_PRINCIPAL = Check(
    code="VRA-TRUST-2",
    problem="the trust policy names a deleted principal",
    title="The role's trust policy should not name deleted principals",
    holds="The role's trust policy names no deleted principal",
    severity="HIGH",
    asff_types=(f"{_BEST_PRACTICES}/Stale Trust",),
    description=(
        "IAM shows a principal that was deleted as its unique id (AROA..., AIDA...). Re-creating a role "
        "with the same name does not restore the trust: the policy still names the old id. When it was "
        "the appliance's role, Veeam can no longer assume this role."
    ),
    remediation=(
        "Replace the unique ids in the trust policy of {role_name} with current principal ARNs, e.g. "
        "{appliance_role_arn}, or remove them."
    ),
)
WILDCARD_PRINCIPAL = Check(
    code="VRA-TRUST-3",
    problem='the role trusts every AWS principal ("*")',
    title='The role should not trust every AWS principal ("*")',
    holds='The role does not trust every AWS principal ("*")',
    severity="CRITICAL",
    asff_types=(f"{_BEST_PRACTICES}/Overly Permissive Trust", _EXPOSURE),
    description=(
        'An Allow statement with Principal "*" lets any AWS account assume the role unless its conditions stop them.'
    ),
    remediation='Replace "*" in the trust policy of {role_name} with {appliance_role_arn}.',
)
FOREIGN_ACCOUNT = Check(
    code="VRA-TRUST-4",
    problem="the role trusts a foreign account",
    title="The role should not trust accounts other than the appliance's and its own",
    holds="The role trusts no account other than the appliance's and its own",
    severity="HIGH",
    asff_types=(f"{_BEST_PRACTICES}/Cross-Account Trust", _EXPOSURE),
    description=(
        "The trust policy names a principal in an account that is neither the appliance's nor the "
        "role's own. Principals there can assume a role that has access to your backups."
    ),
    remediation="Remove the foreign principals from the trust policy of {role_name} unless they are intended.",
)
NOT_PRINCIPAL = Check(
    code="VRA-TRUST-5",
    problem="the trust policy uses NotPrincipal",
    title="The role's trust policy should not use NotPrincipal",
    holds="The role's trust policy does not use NotPrincipal",
    severity="HIGH",
    asff_types=(f"{_BEST_PRACTICES}/Overly Permissive Trust",),
    description=(
        "NotPrincipal cannot be used in an IAM role trust policy (IAM User Guide, NotPrincipal), so the "
        "auditor treats such a trust policy as invalid; AWS recommends aws:PrincipalArn conditions instead."
    ),
    remediation=(
        "In the trust policy of {role_name}, replace an Allow with NotPrincipal by an Allow that names the "
        'principals to trust (the Impersonation role ARN); in a Deny, use Principal "*" with an '
        "ArnNotEquals aws:PrincipalArn condition listing the principals to exempt."
    ),
)
MALFORMED = Check(
    code="VRA-TRUST-6",
    problem="the trust policy is not a valid IAM trust policy",
    title="The role's trust policy should be a valid IAM trust policy",
    holds="The role's trust policy is a valid IAM trust policy",
    severity="HIGH",
    asff_types=(f"{_BEST_PRACTICES}/Malformed Policy",),
    description="IAM would reject this document as a trust policy; it is not in force.",
    remediation="Rewrite the trust policy of {role_name}; the details name each defect.",
)
ACCOUNT_WIDE = Check(
    code="VRA-TRUST-7",
    problem="the role trusts the appliance's whole account",
    title="The role should trust the appliance role, not the appliance's whole account",
    holds="The role trusts the appliance role, not the appliance's whole account",
    severity="LOW",
    asff_types=(f"{_BEST_PRACTICES}/Overly Permissive Trust",),
    description=(
        "The trust policy names the appliance's account ({appliance_account}), so any principal there "
        "that is allowed sts:AssumeRole can assume the role. Veeam supports this, but naming the "
        "Impersonation role is narrower."
    ),
    remediation=(
        "In the trust policy of {role_name}, replace arn:aws:iam::{appliance_account}:root with {appliance_role_arn}."
    ),
)
UNTAGGED_TRUSTING = Check(
    code="VRA-INVENTORY-1",
    problem="a role that trusts the appliance lacks the Veeam tag",
    title="A role that trusts the appliance should carry the Veeam tag",
    holds="A role that trusts the appliance carries the Veeam tag",
    severity="INFORMATIONAL",
    asff_types=(f"{_BEST_PRACTICES}/Inventory Drift",),
    description=(
        "The role's trust policy names the appliance's Impersonation role, but the role lacks the Veeam "
        "tag, so the auditor does not check it."
    ),
    remediation="Tag {role_name} with the Veeam tag if Veeam uses it, or remove the appliance from its trust.",
)

CATALOGUE: dict[str, Check] = {
    check.code: check
    for check in (
        TRUST_CAN_ASSUME,
        IDENTITY_ALLOWS,
        APPLIANCE_USABLE,
        DELETED_PRINCIPAL,
        WILDCARD_PRINCIPAL,
        FOREIGN_ACCOUNT,
        NOT_PRINCIPAL,
        MALFORMED,
        ACCOUNT_WIDE,
        UNTAGGED_TRUSTING,
    )
}
ROLE_CHECKS = tuple(
    check for check in CATALOGUE.values() if check.resource == "role" and check is not UNTAGGED_TRUSTING
)


def problem_for(check: Check, status: str) -> str:
    """The short phrase for a finding's status: what holds, what is wrong, or what may be wrong."""
    if status == "WARNING" and check.warning_problem:
        return check.warning_problem
    if status in ("FAILED", "WARNING"):
        return check.problem
    if status == "PASSED":
        return check.holds
    return f"not checked: {check.holds[0].lower()}{check.holds[1:]}"
