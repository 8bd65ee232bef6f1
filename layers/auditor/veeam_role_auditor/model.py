"""Frozen domain records: what was read from IAM (snapshots) and what the auditor concluded (findings)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
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


class FindingTexts:
    """What a Finding's texts are made of, for the findings a scan builds: read, each text is made then.

    A scan keeps every Finding it builds (24,000 at 5,000 roles) but reads each one's texts once or twice,
    when it prints or publishes it; made when built and kept, the titles, descriptions, remediation and ids
    would be 12 MB at 5,000 roles. ``fields`` is shared by all the findings of one role.
    """

    __slots__ = ("description", "fields", "remediation", "title")

    def __init__(self, title: str, description: str, remediation: str, fields: Mapping[str, str]) -> None:
        self.title = title  # the check's title; the finding's is "{title}: {role name}"
        self.description = description  # templates, filled from ``fields``
        self.remediation = remediation
        self.fields = fields


@dataclass(slots=True)
class Finding:
    """The result of one check for one role: PASSED as well as FAILED.

    A value: nothing changes a Finding once built. Not ``frozen``, because a scan builds one per
    check and role (24,000 for 5,000 roles) and a frozen dataclass takes about four times as long
    to construct (bench/scan_bench.py).

    ``id``, ``title``, ``description`` and ``remediation`` are strings as given, or, for a finding built by
    :meth:`with_texts`, made from ``texts`` each time they are read (see :class:`FindingTexts`).
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
    texts: FindingTexts | None = field(default=None, repr=False, compare=False)

    @classmethod
    def with_texts(
        cls,
        texts: FindingTexts,
        *,
        check: str,
        status: Status,
        severity: Severity,
        role_arn: str,
        account: str,
        partition: str,
        appliance_role_arns: tuple[str, ...],
        observed_at: datetime,
        role: RoleSnapshot | None = None,
        details: tuple[str, ...] = (),
        statement_to_add: dict[str, Any] | None = None,
        corrected_policy: dict[str, Any] | None = None,
        extra: Mapping[str, str] | None = None,
        data: Mapping[str, Any] | None = None,
        remediation: str | None = None,
    ) -> Finding:
        """A Finding whose id and texts are made when read: the id from its partition, account, check and
        role ARN (:func:`finding_id`), the title, description and remediation (unless given) from ``texts``."""
        made: Any = None  # in the slots of the texts made when read (see _made_when_read)
        return cls(
            made,
            check,
            status,
            severity,
            made,
            made,
            remediation if remediation is not None else made,
            role_arn,
            account,
            partition,
            appliance_role_arns,
            observed_at,
            role,
            details,
            statement_to_add,
            corrected_policy,
            {} if extra is None else extra,
            {} if data is None else data,
            texts,
        )

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


def filled(template: str, fields: Mapping[str, str]) -> str:
    """``template.format(**fields)``, without its cost for the many templates that have no field."""
    return template.format(**fields) if "{" in template or "}" in template else template


def _made_when_read(name: str, make: Callable[[Finding, FindingTexts], str]) -> property:
    """``Finding.<name>``: the string stored in its slot, or, when None is stored, ``make(finding, texts)``."""
    stored = Finding.__dict__[name]  # the slot the dataclass made for the field
    read, write = stored.__get__, stored.__set__

    def text(finding: Finding) -> str:
        value: str | None = read(finding)
        return value if value is not None else make(finding, finding.texts)  # type: ignore[arg-type]

    return property(text, write)


def _id(finding: Finding, _: FindingTexts) -> str:
    return finding_id(finding.partition, finding.account, finding.check, finding.role_arn)


def _title(finding: Finding, texts: FindingTexts) -> str:
    return f"{texts.title}: {finding.role_arn.rsplit('/', 1)[-1]}"


def _description(_: Finding, texts: FindingTexts) -> str:
    template = texts.description
    return template.format(**texts.fields) if "{" in template else template


def _remediation(_: Finding, texts: FindingTexts) -> str:
    return filled(texts.remediation, texts.fields)


for _name, _make in (("id", _id), ("title", _title), ("description", _description), ("remediation", _remediation)):
    setattr(Finding, _name, _made_when_read(_name, _make))


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
