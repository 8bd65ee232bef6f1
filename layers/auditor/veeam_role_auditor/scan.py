"""Orchestration: read the account, assess every role, return findings (publishing comes after)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from .assess import TrustMemo, assess_appliance, assess_role, assess_untagged_role, prepare_appliances
from .checks import PurposeScan
from .deadline import NO_DEADLINE, Deadline, OutOfTimeError
from .inventory import Caller, Inventory
from .model import ApplianceState, Finding, ManagedPolicyDocuments, RoleSnapshot
from .publish.publisher import Scope
from .settings import ScanSettings

ProgressCallback = Callable[[int, int], None]
"""Called after each page of roles with (pages read, roles read)."""


@dataclass(frozen=True)
class ScanResult:
    """What one full scan found, and what it read."""

    caller: Caller
    findings: tuple[Finding, ...]
    roles_seen: int
    roles_in_scope: int
    appliances: tuple[ApplianceState, ...]
    started_at: datetime
    finished_at: datetime
    in_scope_arns: frozenset[str] = frozenset()

    def failing(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.failing]


def read_account(
    inventory: Inventory, progress: ProgressCallback | None = None, deadline: Deadline = NO_DEADLINE
) -> list[RoleSnapshot]:
    """Every role of the account. Raises on any error: a partial list must never look complete."""
    roles: list[RoleSnapshot] = []
    for pages, page in enumerate(inventory.role_pages(), start=1):
        roles.extend(page)
        if progress:
            progress(pages, len(roles))
        if deadline.expired():
            raise OutOfTimeError(f"out of time after {pages} pages ({len(roles)} roles) of the account's roles")
    return roles


def scan_account(
    inventory: Inventory,
    settings: ScanSettings,
    *,
    progress: ProgressCallback | None = None,
    previous_appliance_ids: Mapping[str, str] | None = None,
    now: datetime | None = None,
    deadline: Deadline = NO_DEADLINE,
) -> ScanResult:
    """A full scan: every in-scope role gets every check, plus one finding per appliance role.

    Raises :class:`OutOfTimeError` when the deadline passes before every role was read.
    """
    started_at = now or datetime.now(UTC)
    caller = inventory.caller()
    roles = read_account(inventory, progress, deadline)
    by_arn = {role.arn: role for role in roles}
    appliances = prepare_appliances(
        [inventory.appliance_state(arn, caller, by_arn) for arn in settings.appliance_role_arns]
    )
    managed = read_managed_policies(inventory, roles, settings)
    findings, in_scope = assess_account(
        roles, appliances, settings, caller, previous_appliance_ids=previous_appliance_ids, now=now, managed=managed
    )
    return ScanResult(
        caller=caller,
        findings=tuple(findings),
        roles_seen=len(roles),
        roles_in_scope=len(in_scope),
        appliances=appliances,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        in_scope_arns=frozenset(in_scope),
    )


def read_managed_policies(
    inventory: Inventory, roles: Sequence[RoleSnapshot], settings: ScanSettings
) -> ManagedPolicyDocuments | None:
    """The managed policies the in-scope roles that declare Veeam purposes attach (None: no such role).

    Read once per distinct policy, never per role (see ``Inventory.managed_policy_documents``).
    """
    scan = PurposeScan.from_settings(settings)
    declaring = [role for role in roles if settings.in_scope(role.tags, role.path) and scan.declared(role) is not None]
    if not declaring:
        return None
    return inventory.managed_policy_documents(declaring)


def assess_account(
    roles: Sequence[RoleSnapshot],
    appliances: Sequence[ApplianceState],
    settings: ScanSettings,
    caller: Caller,
    *,
    previous_appliance_ids: Mapping[str, str] | None = None,
    now: datetime | None = None,
    share_verdicts: bool = True,
    managed: ManagedPolicyDocuments | None = None,
) -> tuple[list[Finding], set[str]]:
    """Pure: every finding for these snapshots, and the ARNs of the roles in scope.

    Each appliance and role is assessed on its own and never raises (see ``assess_role``), so one odd
    role costs only its own findings. Roles whose trust policies conclude alike share one evaluation
    (``share_verdicts``, see :class:`~.assess.TrustMemo`; the findings are the same without it).
    ``managed`` holds the managed policy documents of the roles that declare Veeam purposes.
    """
    purposes = PurposeScan.from_settings(settings, managed)
    findings: list[Finding] = []
    in_scope: set[str] = set()
    memo = (
        TrustMemo(appliances, settings, roles=[role for role in roles if settings.in_scope(role.tags, role.path)])
        if share_verdicts
        else None
    )
    for appliance in appliances:
        findings.append(assess_appliance(appliance, settings, partition=caller.partition, account=caller.account))
    for role in roles:
        if settings.in_scope(role.tags, role.path):
            in_scope.add(role.arn)
            findings.extend(
                assess_role(
                    role,
                    appliances,
                    settings,
                    previous_appliance_ids=previous_appliance_ids,
                    now=now,
                    account=caller.account,
                    partition=caller.partition,
                    memo=memo,
                    purposes=purposes,
                )
            )
        else:
            drift = assess_untagged_role(role, appliances, settings, now=now)
            if drift is not None:
                findings.append(drift)
    return selected(findings, settings), in_scope


def selected(findings: list[Finding], settings: ScanSettings) -> list[Finding]:
    """The findings of the checks the settings report (--checks, --exclude-checks)."""
    if not settings.checks and not settings.excluded_checks:
        return findings
    return [finding for finding in findings if settings.reports(finding.check)]


def full_scope(result: ScanResult) -> Scope:
    """A full scan speaks for every finding of the account: the ones it did not report get archived."""
    return Scope(
        account=result.caller.account, partition=result.caller.partition, observed_at=result.started_at, full=True
    )
