"""Purpose-aware checks: will Veeam's jobs work with this role (issue 14).

A role declares what Veeam uses it for in a second tag (default ``veeam:role-purpose``), a list of
purposes from :data:`..purposes.PURPOSES`. For each role that carries it, these checks compare the role
with what Veeam publishes for those purposes at the configured appliance version (``purposes/data``):
- VRA-PURPOSE-1: the AWS services the purposes need can assume the role, and a worker role is in an
  instance profile;
- VRA-PURPOSE-2: the role's identity policies allow every action the purposes need;
- VRA-PURPOSE-3: the same for what the upgrade target version adds (only with a target);
- VRA-PURPOSE-4: every declared purpose is one the auditor knows.
A role without the tag gets none of these findings (and none is a crash: an unknown name is VRA-PURPOSE-4).
Everything is read from the snapshot and the managed policy documents the scan already read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..conclusions import ANSWER_RANK
from ..model import ManagedPolicyDocuments, RolePermissions, RoleSnapshot, Status
from ..policy import evaluate_service_trust
from ..policy.permissions import PermissionsMemo, PermissionsVerdict, RequiredAction, evaluate_actions
from ..purposes import (
    PURPOSES,
    PurposeProfile,
    default_version,
    load_extra_profiles,
    load_version,
    parse_purpose_tag,
    resolve_version,
)
from .base import BEST_PRACTICES, Check, Decision, RoleCheck, RoleFacts

if TYPE_CHECKING:
    from ..settings import ScanSettings

DEFAULT_PURPOSE_TAG_KEY = "veeam:role-purpose"
MAX_LISTED = 25
"""Actions named one by one in a finding's details; the rest are counted (the JSON fields list all)."""

_STATUS: dict[str, Status] = {"yes": "PASSED", "conditional": "WARNING", "no": "FAILED"}
_DOCS = "https://helpcenter.veeam.com/docs/vbaws/guide/permissions.html"


@dataclass
class PurposeScan:
    """The scan-wide inputs of the purpose checks: the data of the chosen versions, and the memo.

    ``managed`` holds the managed policy documents the scan read (None: none were read, so the
    permission checks are NOT_AVAILABLE); ``memo`` decides each (policy set, action) once per scan.
    """

    tag_key: str
    version: str
    profiles: Mapping[str, PurposeProfile]
    upgrade_to: str | None = None
    target_profiles: Mapping[str, PurposeProfile] | None = None
    extra_names: tuple[str, ...] = ()
    managed: ManagedPolicyDocuments | None = None
    memo: PermissionsMemo = field(default_factory=PermissionsMemo)
    role_permissions: dict[str, RolePermissions] = field(default_factory=dict)
    """Permissions read for single roles (the event path), by role ARN: used before ``managed``."""
    _required: dict[tuple[str, ...], tuple[RequiredAction, ...]] = field(default_factory=dict, repr=False)

    def required(self, purposes: tuple[str, ...], *, target: bool = False) -> tuple[RequiredAction, ...]:
        """Every action ``purposes`` need (at the upgrade target with ``target``), built once per scan."""
        key = (*purposes, "@target") if target else purposes
        found = self._required.get(key)
        if found is None:
            source = self.target_profiles if target else self.profiles
            assert source is not None  # target only with an upgrade target
            found = self._required[key] = _required(tuple(source[purpose] for purpose in purposes))
        return found

    @classmethod
    def load(
        cls,
        *,
        tag_key: str = DEFAULT_PURPOSE_TAG_KEY,
        version: str | None = None,
        upgrade_to: str | None = None,
        extra_profiles: str | Path | None = None,
        managed: ManagedPolicyDocuments | None = None,
    ) -> PurposeScan:
        """Load the data for ``version`` (default: the newest complete one) and ``upgrade_to``.

        Raises ValueError, naming what is known, for an unknown version, a target older than the
        version, or a defect in the extra profile file.
        """
        current = resolve_version(version) if version else default_version()
        extra = dict(load_extra_profiles(extra_profiles)) if extra_profiles else {}
        profiles = {**load_version(current), **extra}
        target = target_profiles = None
        if upgrade_to:
            target = resolve_version(upgrade_to)
            if version_order(target) <= version_order(current):
                raise ValueError(f"the upgrade target {target} is not newer than the appliance version {current}")
            target_profiles = {**load_version(target), **extra}
        return cls(tag_key, current, profiles, target, target_profiles, tuple(extra), managed)

    def declared(self, role: RoleSnapshot) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """The role's (known purposes, unknown names), or None when it does not carry the tag."""
        # IAM tag keys are unique per resource regardless of case (as ScanSettings.tag_value matches them).
        wanted = self.tag_key.lower()
        value = next((value for key, value in role.tags.items() if key.lower() == wanted), None)
        if value is None:
            return None
        return parse_purpose_tag(value, self.extra_names)

    @classmethod
    def from_settings(cls, settings: ScanSettings, managed: ManagedPolicyDocuments | None = None) -> PurposeScan:
        """The purpose checks' inputs as the settings configure them (validated there)."""
        return cls.load(
            tag_key=settings.purpose_tag_key,
            version=settings.veeam_version,
            upgrade_to=settings.upgrade_target,
            extra_profiles=settings.purpose_profiles,
            managed=managed,
        )

    def permissions(self, role: RoleSnapshot) -> RolePermissions:
        """The role's identity policies, as read for it alone or from the scan's managed policies."""
        if role.arn in self.role_permissions:
            return self.role_permissions[role.arn]
        # Without managed documents (none read): a role that attaches no managed policy is judged on its
        # inline policies; one that does is not available, with the policies named.
        return (self.managed or ManagedPolicyDocuments()).for_role(role)


def version_order(version: str) -> tuple[int, ...]:
    """A resolved version's sort key ("10.0.0.232" < "11")."""
    return tuple(int(part) for part in version.split(".") if part.isdigit())


@dataclass(frozen=True)
class _Declared:
    purposes: tuple[str, ...]
    unknown: tuple[str, ...]
    profiles: tuple[PurposeProfile, ...]


def _declared(facts: RoleFacts) -> _Declared | None:
    """The role's declared purposes, read from its tag once for all the purpose checks of the role."""
    if "purposes" in facts.shared:
        return facts.shared["purposes"]  # type: ignore[no-any-return]
    scan = facts.purposes
    found = scan.declared(facts.role) if scan is not None else None
    declared = None
    if scan is not None and found is not None:
        known, unknown = found
        declared = _Declared(known, unknown, tuple(scan.profiles[name] for name in known))
    facts.shared["purposes"] = declared
    return declared


def _named(purposes: Sequence[str]) -> str:
    return ", ".join(purposes)


def _listed(actions: Sequence[str]) -> str:
    shown = ", ".join(actions[:MAX_LISTED])
    more = len(actions) - MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


# ---------------------------------------------------------------------- VRA-PURPOSE-1 service trust

SERVICE_TRUST = Check(
    code="VRA-PURPOSE-1",
    problem="AWS services the role's Veeam purposes need cannot assume it",
    title="The AWS services the role's Veeam purposes need should be able to assume it",
    holds="The AWS services the role's Veeam purposes need can assume it",
    warning_problem="AWS services the role's Veeam purposes need may not be able to assume it",
    severity="HIGH",
    warning_severity="MEDIUM",
    asff_types=(f"{BEST_PRACTICES}/Veeam Role Purpose", "Effects/Denial of Service"),
    description=(
        "Besides the appliance, Veeam needs some AWS services to assume a role, depending on what the role "
        "is used for (for example AWS Backup for EFS, DynamoDB, Redshift and FSx; S3 Batch Operations for "
        "repositories; EC2 for worker instances, which also need the role in an instance profile). "
        "Otherwise those Veeam jobs fail."
    ),
    remediation=(
        "Add the statement below to the trust policy of {role_name}. A worker role must also be in an "
        "instance profile (aws iam create-instance-profile --instance-profile-name {role_name}; aws iam "
        "add-role-to-instance-profile --instance-profile-name {role_name} --role-name {role_name}). "
        "Print the whole trust policy Veeam requires with: veeam-role-auditor required-policy --purpose ..."
    ),
)


def _service_answer(trust: object, service: str, partition: str, now: datetime | None) -> tuple[str, list[str]]:
    answer, reasons = evaluate_service_trust(trust, service, now=now)
    if partition == "aws-cn" and answer != "yes":
        # China: either form of a service principal is accepted (shared/aws-facts.md, China partition).
        other, other_reasons = evaluate_service_trust(trust, service + ".cn", now=now)
        if ANSWER_RANK[other] > ANSWER_RANK[answer]:
            return other, list(other_reasons)
    return answer, list(reasons)


def _service_trust(facts: RoleFacts) -> Decision | None:
    declared = _declared(facts)
    if declared is None or not declared.profiles:
        return None
    role = facts.role
    needs: dict[str, list[str]] = {}
    for profile in declared.profiles:
        for service in profile.trust_services:
            needs.setdefault(service, []).append(profile.purpose)
    profile_needed = [profile.purpose for profile in declared.profiles if profile.instance_profile]
    details: list[str] = []
    missing: list[str] = []
    conditional: list[str] = []
    for service, purposes in needs.items():
        answer, reasons = _service_answer(facts.conclusions.trust, service, role.partition, facts.now)
        why = "; ".join(reasons)
        if answer == "yes":
            details.append(f"{service} can assume the role ({why})")
        elif answer == "conditional":
            conditional.append(service)
            details.append(f"{service} may be unable to assume the role, which {_named(purposes)} needs ({why})")
        else:
            missing.append(service)
            because = f" ({why})" if why else ""
            details.append(f"{service} cannot assume the role, which {_named(purposes)} needs{because}")
    no_profile = bool(profile_needed) and not role.instance_profile_arns
    if profile_needed:
        if no_profile:
            details.append(f"the role is in no instance profile, which {_named(profile_needed)} needs")
        else:
            details.append("instance profiles: " + ", ".join(role.instance_profile_arns))
    if not needs and not profile_needed:
        details.append(f"{_named(declared.purposes)} needs no AWS service to assume the role")
    status: Status = "FAILED" if missing or no_profile else "WARNING" if conditional else "PASSED"
    statement = None
    if missing:
        statement = {
            "Effect": "Allow",
            "Principal": {"Service": missing[0] if len(missing) == 1 else missing},
            "Action": "sts:AssumeRole",
        }
    data = {"missing_trust_services": missing, "instance_profile_missing": no_profile}
    return Decision(status, details, statement=statement, data=data)


# ---------------------------------------------------------------------- VRA-PURPOSE-2 permissions

PERMISSIONS = Check(
    code="VRA-PURPOSE-2",
    problem="the role's permissions do not allow actions its Veeam purposes need",
    title="The role's permissions should allow every action its Veeam purposes need",
    holds="The role's permissions allow every action its Veeam purposes need",
    warning_problem="the role's permissions may not allow every action its Veeam purposes need",
    severity="HIGH",
    warning_severity="MEDIUM",
    asff_types=(f"{BEST_PRACTICES}/Veeam Role Purpose", "Effects/Denial of Service"),
    description=(
        "Veeam publishes, per role purpose and appliance version, the IAM actions a role needs. The role's "
        "inline and attached policies, within its permissions boundary, must allow each of them, or the "
        "Veeam jobs that use the role fail. Service control policies and session policies cannot be seen "
        "from the role and are not judged."
    ),
    remediation=(
        "Attach the policy below to {role_name} (for example as an inline policy: aws iam put-role-policy "
        "--role-name {role_name} --policy-name VeeamRequired --policy-document file://policy.json), and make "
        "sure its permissions boundary, if any, allows the same actions. Print the complete policy Veeam "
        "requires with: veeam-role-auditor required-policy --purpose ..."
    ),
)


def _required(profiles: Sequence[PurposeProfile]) -> tuple[RequiredAction, ...]:
    """Every action the profiles need, once per (action, resources), actions compared case-insensitively."""
    seen: dict[tuple[str, tuple[str, ...]], RequiredAction] = {}
    for profile in profiles:
        for statement in profile.statements:
            resources = tuple(statement.resources) or ("*",)
            for action in statement.actions:
                seen.setdefault((action.lower(), resources), RequiredAction(action, resources))
    return tuple(seen.values())


def _policy_to_add(required: Sequence[RequiredAction], actions: Sequence[str]) -> dict[str, Any]:
    """The statements that allow ``actions`` on the resources Veeam documents for them."""
    wanted = {action.lower() for action in actions}
    groups: dict[tuple[str, ...], list[str]] = {}
    for item in required:
        if item.action.lower() in wanted and item.action not in groups.get(item.resources, []):
            groups.setdefault(item.resources, []).append(item.action)
    statements = [
        {
            "Sid": f"VeeamMissing{number}",
            "Effect": "Allow",
            "Action": sorted(group, key=str.lower),
            "Resource": resources[0] if len(resources) == 1 else list(resources),
        }
        for number, (resources, group) in enumerate(sorted(groups.items(), key=lambda g: g[0] != ("*",)), 1)
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def _evaluate(facts: RoleFacts, required: Sequence[RequiredAction]) -> PermissionsVerdict | str:
    """The verdict for ``required``, or why the role's policies could not be read."""
    scan = facts.purposes
    assert scan is not None  # only asked for a role that declares purposes
    permissions = scan.permissions(facts.role)
    if permissions.unavailable_reason is not None:
        return permissions.unavailable_reason
    role = facts.role
    return evaluate_actions(
        permissions.policies,
        required,
        boundary=permissions.boundary,
        role_arn=role.arn,
        role_tags=dict(role.tags),
        role_id=role.role_id,
        now=facts.now,
        memo=scan.memo,
    )


def _action_decision(
    verdict: PermissionsVerdict, required: Sequence[RequiredAction], lead: str
) -> tuple[Status, list[str], dict[str, Any], dict[str, Any] | None]:
    missing = list(verdict.missing_actions)
    conditional = list(verdict.conditional_actions)
    status = _STATUS[verdict.answer]
    # What is missing first (the table and the alerts show the first lines), then what was required.
    details = []
    if missing:
        details.append(f"not allowed ({len(missing)}): {_listed(missing)}")
    if conditional:
        details.append(
            f"allowed only under conditions or on some resources ({len(conditional)}): {_listed(conditional)}"
        )
    details.append(lead)
    if not missing and not conditional:
        details.append("every one is allowed")
    # Only the listed decisions' reasons are put together (a verdict builds them when asked).
    for decision in verdict.failing(MAX_LISTED):
        if decision.reasons:
            details.append(f"{decision.action}: {'; '.join(decision.reasons)}")
    details.extend(f"policy not in force: {name}" for name in verdict.malformed)
    details.extend(verdict.notes)
    data: dict[str, Any] = {"missing_actions": missing, "conditional_actions": conditional}
    policy = _policy_to_add(required, missing + conditional) if missing or conditional else None
    return status, details, data, policy


def _permissions(facts: RoleFacts) -> Decision | None:
    declared = _declared(facts)
    if declared is None or not declared.profiles:
        return None
    scan = facts.purposes
    assert scan is not None
    required = scan.required(declared.purposes)
    if not required:
        return Decision("PASSED", [f"{_named(declared.purposes)} needs no IAM action of the role"])
    verdict = _evaluate(facts, required)
    if isinstance(verdict, str):
        return Decision("NOT_AVAILABLE", [verdict])
    actions = len({item.action.lower() for item in required})
    lead = f"{actions} actions required by {_named(declared.purposes)} (Veeam Backup for AWS {scan.version})"
    status, details, data, policy = _action_decision(verdict, required, lead)
    return Decision(status, details, statement=policy, data=data)


# ---------------------------------------------------------------------- VRA-PURPOSE-3 upgrade readiness

UPGRADE_READY = Check(
    code="VRA-PURPOSE-3",
    problem="the role lacks what the Veeam upgrade target needs for its purposes",
    title="The role should have what the Veeam upgrade target adds for its purposes",
    holds="The role has what the Veeam upgrade target adds for its purposes",
    warning_problem="the role may not have what the Veeam upgrade target needs for its purposes",
    severity="MEDIUM",
    warning_severity="LOW",
    asff_types=(f"{BEST_PRACTICES}/Veeam Upgrade Readiness",),
    description=(
        "Veeam does not update custom roles when the appliance is upgraded. The upgrade target version needs "
        "actions (or service trust) for the role's purposes that the current version does not; fix the role "
        "before upgrading, or those jobs fail after the upgrade."
    ),
    remediation=(
        "Before upgrading the appliance, attach the policy below to {role_name} (and add any service the "
        "details name to its trust policy)."
    ),
)


def _upgrade_ready(facts: RoleFacts) -> Decision | None:
    declared = _declared(facts)
    scan = facts.purposes
    if declared is None or not declared.profiles or scan is None or scan.target_profiles is None:
        return None
    target = tuple(scan.target_profiles[purpose] for purpose in declared.purposes)
    now_required = {(item.action.lower(), item.resources) for item in scan.required(declared.purposes)}
    added = tuple(
        item
        for item in scan.required(declared.purposes, target=True)
        if (item.action.lower(), item.resources) not in now_required
    )
    had_services = {service for profile in declared.profiles for service in profile.trust_services}
    new_services = [s for p in target for s in p.trust_services if s not in had_services]
    new_services = list(dict.fromkeys(new_services))
    versions = f"Veeam Backup for AWS {scan.upgrade_to} (from {scan.version})"
    if not added and not new_services:
        return Decision("PASSED", [f"{versions} adds nothing for {_named(declared.purposes)}"])
    details: list[str] = []
    status: Status = "PASSED"
    data: dict[str, Any] = {"missing_actions": [], "conditional_actions": [], "missing_trust_services": []}
    policy = None
    if added:
        verdict = _evaluate(facts, added)
        if isinstance(verdict, str):
            return Decision("NOT_AVAILABLE", [verdict])
        names = _listed([item.action for item in added])
        lead = f"{versions} adds {len(added)} actions for {_named(declared.purposes)}: {names}"
        status, details, action_data, policy = _action_decision(verdict, added, lead)
        data.update(action_data)
    for service in new_services:
        answer, reasons = _service_answer(facts.conclusions.trust, service, facts.role.partition, facts.now)
        if answer == "yes":
            details.append(f"{service}, which {scan.upgrade_to} adds, can already assume the role")
            continue
        data["missing_trust_services"].append(service)
        why = f" ({'; '.join(reasons)})" if reasons else ""
        maybe = "may be unable" if answer == "conditional" else "is unable"
        details.append(f"{scan.upgrade_to} needs {service} to assume the role, which it {maybe} to{why}")
        status = "FAILED" if answer == "no" else ("WARNING" if status == "PASSED" else status)
    return Decision(status, details, statement=policy, data=data)


# ---------------------------------------------------------------------- VRA-PURPOSE-4 known purposes

KNOWN_PURPOSES = Check(
    code="VRA-PURPOSE-4",
    problem="the role's purpose tag names purposes the auditor does not know",
    title="The role's purpose tag should name only known Veeam purposes",
    holds="The role's purpose tag names only known Veeam purposes",
    severity="MEDIUM",
    asff_types=(f"{BEST_PRACTICES}/Veeam Role Purpose",),
    description=(
        "The purpose tag lists what Veeam uses the role for, separated by spaces, from a fixed vocabulary "
        "(or a custom purpose in an extra profile file). A name the auditor does not know is not checked."
    ),
    remediation=(
        "Correct the purpose tag of {role_name}: use names from the README's table of purposes, separated "
        "by spaces, or define a custom purpose in an extra profile file (--purpose-profiles)."
    ),
)


def _known_purposes(facts: RoleFacts) -> Decision | None:
    declared = _declared(facts)
    if declared is None:
        return None
    if declared.unknown:
        scan = facts.purposes
        extra = tuple(scan.extra_names) if scan else ()
        details = [
            "unknown: " + ", ".join(declared.unknown),
            "known purposes: " + ", ".join((*PURPOSES, *extra)),
        ]
        if declared.purposes:
            details.insert(1, "checked: " + _named(declared.purposes))
        return Decision("FAILED", details, data={"unknown_purposes": list(declared.unknown)})
    if not declared.purposes:
        return Decision("FAILED", ["the purpose tag is empty"], data={"unknown_purposes": []})
    return Decision("PASSED", ["declared: " + _named(declared.purposes)])


HAS_SERVICE_TRUST = RoleCheck(SERVICE_TRUST, _service_trust)
HAS_PERMISSIONS = RoleCheck(PERMISSIONS, _permissions)
IS_UPGRADE_READY = RoleCheck(UPGRADE_READY, _upgrade_ready)
NAMES_KNOWN_PURPOSES = RoleCheck(KNOWN_PURPOSES, _known_purposes)
