"""What a check is: a catalogue entry (code, texts, severity, ASFF types) and the function that decides it.

A role check is a :class:`RoleCheck`: its :class:`Check` entry plus ``decide(facts) -> Decision``, a
pure function of the role's snapshot and the verdicts already reached (:class:`RoleFacts`). The
assessment (``assess.assess_role``) runs every unit of ``checks.ROLE_REGISTRY`` in order and turns
each decision into a finding; detection code never holds a title or a remediation text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from ..conclusions import Conclusions, Evaluated
from ..model import ApplianceState, RoleSnapshot, Severity, Status
from ..policy import TrustVerdict

if TYPE_CHECKING:
    from ..settings import ScanSettings
    from .purpose import PurposeScan

VEEAM_IAM_DOCS = "https://helpcenter.veeam.com/docs/vbaws/guide/iam_roles.html"

# ASFF finding types use the taxonomy namespace/category/classifier (Security Hub User Guide,
# "Types taxonomy for ASFF").
BEST_PRACTICES = "Software and Configuration Checks/AWS Security Best Practices"
EXPOSURE = "Effects/Data Exposure"


@dataclass(frozen=True)
class Check:
    """One check's catalogue entry. Remediation texts are ``str.format`` templates (fields below)."""

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


@dataclass(slots=True)
class Decision:
    """What a check decided for one role: the status, the details, and what to offer as a fix.

    A value, read once to build the role's Finding: not ``frozen``, for the reason Finding is not (one per
    check and role, 24,000 for 5,000 roles, and a frozen dataclass takes several times as long to build).
    """

    status: Status
    details: Sequence[str]
    statement: dict[str, Any] | None = None
    """The statement to add to the role's trust policy (ASFF ``StatementToAdd``)."""
    corrected: dict[str, Any] | None = None
    """The whole corrected trust policy (ASFF ``CorrectedTrustPolicy``)."""
    remediation: str | None = None
    """A remediation template used instead of the entry's own (e.g. ``remediation_no_fix``)."""
    extra: Mapping[str, str] = field(default_factory=dict)
    """More ``Finding.extra`` fields (published as ASFF ``ProductFields``)."""
    data: Mapping[str, Any] = field(default_factory=dict)
    """Check-specific fields of the JSON output (``missing_actions``, ...): ``Finding.data``."""


@dataclass
class RoleFacts:
    """What the checks of one role in scope decide from: its snapshot and the verdicts reached for it.

    ``conclusions`` are the trust verdicts for every configured appliance (shared with the roles whose
    trust policies conclude alike); ``trust_time`` the time they were reached at; ``now`` the scan's
    time (None: the clock).
    """

    role: RoleSnapshot
    appliances: Sequence[ApplianceState]
    settings: ScanSettings
    conclusions: Conclusions
    now: datetime | None
    trust_time: datetime | None
    previous_appliance_ids: Mapping[str, str]
    purposes: PurposeScan | None = None
    """The purpose checks' data and memo for this scan (None: no purpose checks)."""
    shared: dict[str, Any] = field(default_factory=dict)
    """Values several checks of this role derive alike (computed by the first that needs one)."""

    @property
    def best(self) -> Evaluated:
        """The appliance that can assume the role most surely (and by the most specific principal)."""
        return self.conclusions.best

    @property
    def verdict(self) -> TrustVerdict:
        return self.conclusions.best.verdict

    @cached_property
    def deleted_principal_ids(self) -> frozenset[str]:
        """A principal is stale only if it is so for every configured appliance."""
        verdicts = [item.verdict for item in self.conclusions.evaluated]
        return frozenset(self.verdict.deleted_principal_ids).intersection(*(v.deleted_principal_ids for v in verdicts))

    @cached_property
    def foreign_accounts(self) -> frozenset[str]:
        """Accounts foreign for every appliance and not trusted by configuration (--trusted-account)."""
        verdicts = [item.verdict for item in self.conclusions.evaluated]
        foreign = set(self.verdict.foreign_accounts).intersection(*(v.foreign_accounts for v in verdicts))
        return frozenset(foreign - set(self.settings.trusted_accounts))


@dataclass(frozen=True)
class RoleCheck:
    """One registered unit: the catalogue entry and the function that decides it for a role in scope.

    ``decide`` returns None when the check does not apply to the role (a purpose check for a role that
    declares no purpose): no finding, so an earlier one is archived as resolved.
    """

    check: Check
    decide: Callable[[RoleFacts], Decision | None]


def passed_or_failed(failed: bool, details: Sequence[str]) -> Decision:
    return Decision("FAILED" if failed else "PASSED", details)


def problem_for(check: Check, status: str) -> str:
    """The short phrase for a finding's status: what holds, what is wrong, or what may be wrong."""
    if status == "WARNING" and check.warning_problem:
        return check.warning_problem
    if status in ("FAILED", "WARNING"):
        return check.problem
    if status == "PASSED":
        return check.holds
    return f"not checked: {check.holds[0].lower()}{check.holds[1:]}"
