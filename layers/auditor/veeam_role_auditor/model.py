"""Frozen domain records: what was read from IAM (snapshots) and what the auditor concluded (findings)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from .policy import NamedPolicy

Status = Literal["PASSED", "FAILED", "WARNING", "NOT_AVAILABLE"]
Severity = Literal["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
SEVERITY_ORDER: dict[str, int] = {"INFORMATIONAL": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}

# Security Hub: "Id ... Length Constraints: Maximum length of 512" (AwsSecurityFinding, API reference).
MAX_FINDING_ID = 512


@dataclass(frozen=True)
class RoleSnapshot:
    """One IAM role as read at ``observed_at``."""

    arn: str
    name: str
    role_id: str
    path: str
    trust_policy: object
    tags: Mapping[str, str]
    observed_at: datetime
    create_date: datetime | None = None
    inline_policies: tuple[NamedPolicy, ...] = ()
    attached_policy_arns: tuple[str, ...] = ()
    boundary_arn: str | None = None
    instance_profile_arns: tuple[str, ...] = ()

    @property
    def account(self) -> str:
        return self.arn.split(":")[4]

    @property
    def partition(self) -> str:
        return self.arn.split(":")[1]


@dataclass(frozen=True)
class RolePermissions:
    """A role's identity policies as IAM enforces them: inline policies, then the default versions of its
    attached managed policies, and its permissions boundary; or why they could not all be read."""

    policies: tuple[NamedPolicy, ...] = ()
    boundary: NamedPolicy | None = None
    unavailable_reason: str | None = None


@dataclass(frozen=True)
class ManagedPolicyDocuments:
    """The default versions of managed policies, read once per policy for every role that attaches them.

    ``documents`` maps a policy ARN to its default version (one object per policy, so that every role
    attaching it shares it: see policy.permissions.PermissionsMemo); ``unavailable`` maps a policy ARN
    to why it could not be read (access denied, deleted meanwhile).
    """

    documents: Mapping[str, NamedPolicy] = field(default_factory=dict)
    unavailable: Mapping[str, str] = field(default_factory=dict)

    def for_role(self, role: RoleSnapshot) -> RolePermissions:
        """The role's identity policies (inline from its snapshot, managed from here)."""
        wanted = (*role.attached_policy_arns, *((role.boundary_arn,) if role.boundary_arn else ()))
        missing = [f"{arn}: {self.unavailable.get(arn, 'not read')}" for arn in wanted if arn not in self.documents]
        if missing:
            return RolePermissions(
                unavailable_reason="could not read the role's managed policies (" + "; ".join(missing) + ")"
            )
        managed = tuple(self.documents[arn] for arn in role.attached_policy_arns)
        boundary = self.documents[role.boundary_arn] if role.boundary_arn else None
        return RolePermissions(role.inline_policies + managed, boundary)


@dataclass(frozen=True)
class ApplianceState:
    """What the scan could learn about one configured Impersonation role."""

    role_arn: str
    in_scanned_account: bool
    snapshot: RoleSnapshot | None = None
    identity_policies: tuple[NamedPolicy, ...] | None = None
    boundary: NamedPolicy | None = None
    unavailable_reason: str | None = None

    @property
    def role_id(self) -> str | None:
        return self.snapshot.role_id if self.snapshot else None


@dataclass(slots=True)
class Finding:
    """The result of one check for one role: PASSED as well as FAILED.

    A value: nothing changes a Finding once built. Not ``frozen``, because a scan builds one per
    check and role (24,000 for 5,000 roles) and a frozen dataclass takes about four times as long
    to construct (bench/scan_bench.py).
    """

    id: str
    check: str
    status: Status
    severity: Severity
    title: str
    description: str
    remediation: str
    role_arn: str
    account: str
    partition: str
    appliance_role_arns: tuple[str, ...]
    observed_at: datetime
    role: RoleSnapshot | None = None
    details: tuple[str, ...] = ()
    statement_to_add: dict[str, Any] | None = None
    corrected_policy: dict[str, Any] | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=dict)
    """Check-specific fields added to the JSON output (e.g. ``missing_actions`` of VRA-PURPOSE-2)."""

    @property
    def failing(self) -> bool:
        return self.status in ("FAILED", "WARNING")

    def summary(self) -> dict[str, Any]:
        """The machine-readable shape the CLI prints with ``--format json``."""
        return {
            "id": self.id,
            "check": self.check,
            "status": self.status,
            "severity": self.severity,
            "role_arn": self.role_arn,
            "title": self.title,
            "details": list(self.details),
            "remediation": self.remediation,
            "statement_to_add": self.statement_to_add,
            "corrected_policy": self.corrected_policy,
            "suppressed": self.extra.get("suppressed"),
            **self.data,
        }


def iso(moment: datetime) -> str:
    """The one timestamp format: UTC, milliseconds, Z (ASFF accepts it; string order is time order)."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def finding_id(partition: str, account: str, check: str, role_arn: str) -> str:
    """Deterministic id from partition, account, check code and role ARN (never from policy text).

    Retries and re-scans therefore update one Security Hub finding instead of adding copies.
    """
    readable = f"veeam-role-auditor/{partition}/{account}/{check}/{role_arn}"
    if len(readable) <= MAX_FINDING_ID:
        return readable
    digest = hashlib.sha256(role_arn.encode()).hexdigest()
    return f"veeam-role-auditor/{partition}/{account}/{check}/sha256:{digest}"
