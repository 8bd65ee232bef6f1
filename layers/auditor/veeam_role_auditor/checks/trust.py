"""Trust-policy checks: can the appliance assume the role, and is the trust no wider than it should be."""

from __future__ import annotations

from ..model import Status
from ..remediation import statement_to_add
from .base import BEST_PRACTICES, EXPOSURE, Check, Decision, RoleCheck, RoleFacts, passed_or_failed

TRUST_CAN_ASSUME = Check(
    code="VRA-TRUST-1",
    problem="the Veeam appliance cannot assume the role",
    title="The Veeam appliance should be able to assume the role",
    holds="The Veeam appliance can assume the role",
    warning_problem="the Veeam appliance may not be able to assume the role",
    severity="HIGH",
    warning_severity="MEDIUM",
    asff_types=(f"{BEST_PRACTICES}/Veeam Backup Role Trust", "Effects/Denial of Service"),
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


def _can_assume(facts: RoleFacts) -> Decision:
    verdict = facts.verdict
    details = list(verdict.explanation)
    if verdict.appliance_can_assume == "yes":
        return Decision("PASSED", details)
    status: Status = "WARNING" if verdict.appliance_can_assume == "conditional" else "FAILED"
    fix = facts.conclusions.fix(facts.role, facts.trust_time)
    if fix.document is None:
        # No correction that is safe to offer: say why and what would decide, never an unconditional Allow.
        details.append(f"no corrected trust policy is offered: {fix.refusal}")
        details.extend(f"decided by: {decider}" for decider in fix.deciding_inputs)
        return Decision(status, details, remediation=TRUST_CAN_ASSUME.remediation_no_fix)
    return Decision(
        status,
        details + list(fix.notes),
        statement=statement_to_add(facts.best.appliance.role.arn),
        corrected=fix.document,
    )


CAN_ASSUME = RoleCheck(TRUST_CAN_ASSUME, _can_assume)


DELETED_PRINCIPAL = Check(
    code="VRA-TRUST-2",
    problem="the trust policy names a deleted principal",
    title="The role's trust policy should not name deleted principals",
    holds="The role's trust policy names no deleted principal",
    severity="HIGH",
    asff_types=(f"{BEST_PRACTICES}/Stale Trust",),
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


def _deleted_principal(facts: RoleFacts) -> Decision:
    deleted = tuple(sorted(facts.deleted_principal_ids))
    previous = facts.previous_appliance_ids
    details = [
        f"{unique_id} was the unique id of the Impersonation role {previous[unique_id]}, which has been re-created"
        for unique_id in deleted
        if unique_id in previous
    ]
    details += facts.verdict.notes_for("deleted_principal_unique_id")
    if not deleted:
        return Decision("PASSED", details)
    return Decision("FAILED", details, corrected=facts.conclusions.without_deleted(facts.role, deleted))


NO_DELETED_PRINCIPAL = RoleCheck(DELETED_PRINCIPAL, _deleted_principal)


FOREIGN_ACCOUNT = Check(
    code="VRA-TRUST-4",
    problem="the role trusts a foreign account",
    title="The role should not trust accounts other than the appliance's and its own",
    holds="The role trusts no account other than the appliance's and its own",
    severity="HIGH",
    asff_types=(f"{BEST_PRACTICES}/Cross-Account Trust", EXPOSURE),
    description=(
        "The trust policy names a principal in an account that is neither the appliance's nor the "
        "role's own. Principals there can assume a role that has access to your backups."
    ),
    remediation="Remove the foreign principals from the trust policy of {role_name} unless they are intended.",
)


def _foreign_account(facts: RoleFacts) -> Decision:
    foreign = facts.foreign_accounts
    verdict = facts.verdict
    details = [
        note.reason for note in verdict.risk_notes if note.risk == "foreign_account_trusted" and note.account in foreign
    ]
    # Accounts the operator trusts (--trusted-account, TrustedAccountIds) are not foreign.
    trusted = sorted(set(verdict.foreign_accounts) & set(facts.settings.trusted_accounts))
    if trusted:
        details.append(f"trusted by configuration: {', '.join(trusted)}")
    return passed_or_failed(bool(foreign), details)


NO_FOREIGN_ACCOUNT = RoleCheck(FOREIGN_ACCOUNT, _foreign_account)


WILDCARD_PRINCIPAL = Check(
    code="VRA-TRUST-3",
    problem='the role trusts every AWS principal ("*")',
    title='The role should not trust every AWS principal ("*")',
    holds='The role does not trust every AWS principal ("*")',
    severity="CRITICAL",
    asff_types=(f"{BEST_PRACTICES}/Overly Permissive Trust", EXPOSURE),
    description=(
        'An Allow statement with Principal "*" lets any AWS account assume the role unless its conditions stop them.'
    ),
    remediation='Replace "*" in the trust policy of {role_name} with {appliance_role_arn}.',
)


def _wildcard_principal(facts: RoleFacts) -> Decision:
    verdict = facts.verdict
    return passed_or_failed("wildcard_principal" in verdict.risks, verdict.notes_for("wildcard_principal"))


NO_WILDCARD_PRINCIPAL = RoleCheck(WILDCARD_PRINCIPAL, _wildcard_principal)


NOT_PRINCIPAL = Check(
    code="VRA-TRUST-5",
    problem="the trust policy uses NotPrincipal",
    title="The role's trust policy should not use NotPrincipal",
    holds="The role's trust policy does not use NotPrincipal",
    severity="HIGH",
    asff_types=(f"{BEST_PRACTICES}/Overly Permissive Trust",),
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


def _not_principal(facts: RoleFacts) -> Decision:
    verdict = facts.verdict
    return passed_or_failed("not_principal" in verdict.risks, verdict.notes_for("not_principal"))


NO_NOT_PRINCIPAL = RoleCheck(NOT_PRINCIPAL, _not_principal)


MALFORMED = Check(
    code="VRA-TRUST-6",
    problem="the trust policy is not a valid IAM trust policy",
    title="The role's trust policy should be a valid IAM trust policy",
    holds="The role's trust policy is a valid IAM trust policy",
    severity="HIGH",
    asff_types=(f"{BEST_PRACTICES}/Malformed Policy",),
    description="IAM would reject this document as a trust policy; it is not in force.",
    remediation="Rewrite the trust policy of {role_name}; the details name each defect.",
)


def _malformed(facts: RoleFacts) -> Decision:
    verdict = facts.verdict
    details = [f"malformed: {error}" for error in verdict.errors] + verdict.notes_for("malformed")
    return passed_or_failed("malformed" in verdict.risks, details)


WELL_FORMED = RoleCheck(MALFORMED, _malformed)


ACCOUNT_WIDE = Check(
    code="VRA-TRUST-7",
    problem="the role trusts the appliance's whole account",
    title="The role should trust the appliance role, not the appliance's whole account",
    holds="The role trusts the appliance role, not the appliance's whole account",
    severity="LOW",
    asff_types=(f"{BEST_PRACTICES}/Overly Permissive Trust",),
    description=(
        "The trust policy names the appliance's account ({appliance_account}), so any principal there "
        "that is allowed sts:AssumeRole can assume the role. Veeam supports this, but naming the "
        "Impersonation role is narrower."
    ),
    remediation=(
        "In the trust policy of {role_name}, replace arn:aws:iam::{appliance_account}:root with {appliance_role_arn}."
    ),
)


def _account_wide(facts: RoleFacts) -> Decision:
    account_wide = facts.conclusions.account_wide(facts.role)
    if account_wide is None:
        return Decision("PASSED", ["the trust policy names no appliance account as a whole"])
    item, corrected = account_wide
    account = item.appliance.account
    details = [f"the trust policy names the whole account {account}; naming {item.appliance.role.arn} is enough"]
    return Decision("FAILED", details, corrected=corrected)


NOT_ACCOUNT_WIDE = RoleCheck(ACCOUNT_WIDE, _account_wide)
