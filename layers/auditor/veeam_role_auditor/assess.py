"""Pure assessment: role and appliance snapshots in, findings out (no AWS calls).

Used by the full scan and by the event-driven re-evaluation of a single role, so both always reach
the same findings for the same snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from . import checks
from .checks import Check, Decision, PurposeScan, RoleCheck, RoleFacts
from .conclusions import Conclusions, Evaluated, TrustMemo, engine_appliance, evaluate_for
from .model import ApplianceState, Finding, FindingTexts, RoleSnapshot, Severity, Status
from .policy import (
    Appliance,
    InvalidArnError,
    NamedPolicy,
    PolicyDocument,
    TrustVerdict,
    make_appliance,
    parse_policy,
    parse_role_arn,
)
from .policy.arn import classify_aws_principal
from .settings import ScanSettings

# Kept importable from here (tests and benchmarks use these names).
_Conclusions = Conclusions
_Evaluated = Evaluated
__all__ = [
    "ASSESSMENT_ERROR",
    "ROLE_FINDING_CHECKS",
    "TrustMemo",
    "assess_appliance",
    "assess_role",
    "assess_untagged_role",
    "begin_role",
    "engine_appliance",
    "not_assessed",
    "prepare_appliances",
    "without_trusted_accounts",
]


def prepare_appliances(states: Sequence[ApplianceState]) -> tuple[ApplianceState, ...]:
    """The same appliance states with their permission policies parsed once, for many evaluations."""

    def parsed(named: NamedPolicy) -> NamedPolicy:
        return NamedPolicy(named.name, parse_policy(named.document, "identity"))

    return tuple(
        replace(
            state,
            identity_policies=tuple(parsed(named) for named in state.identity_policies),
            boundary=parsed(state.boundary) if state.boundary else None,
        )
        if state.identity_policies is not None
        else state
        for state in states
    )


ASSESSMENT_ERROR = "assessment_error"
"""Key in ``Finding.extra`` of a NOT_AVAILABLE finding made because assessing the role raised."""


def assess_role(
    role: RoleSnapshot,
    appliances: Sequence[ApplianceState],
    settings: ScanSettings,
    *,
    previous_appliance_ids: Mapping[str, str] | None = None,
    now: datetime | None = None,
    account: str | None = None,
    partition: str | None = None,
    memo: TrustMemo | None = None,
    purposes: PurposeScan | None = None,
) -> list[Finding]:
    """Every check's result for one role in scope: PASSED, FAILED, WARNING or NOT_AVAILABLE.

    Never raises: a role that cannot be assessed (an ARN the engine cannot parse, a defect of ours)
    gets NOT_AVAILABLE for every check, with the reason, so one odd role never stops a scan and its
    earlier findings are not archived as if it were gone. ``account``/``partition`` (the scanned
    account's) name such a finding when the role's own ARN cannot. ``memo`` (one per scan, for these
    ``appliances`` and ``settings``) shares the trust verdicts of roles whose trust policies conclude alike.
    ``purposes`` (one per scan) enables the purpose checks for a role that declares its purposes.
    """
    return begin_role(
        role,
        appliances,
        settings,
        previous_appliance_ids=previous_appliance_ids,
        now=now,
        account=account,
        partition=partition,
        memo=memo,
        purposes=purposes,
    )()


def begin_role(
    role: RoleSnapshot,
    appliances: Sequence[ApplianceState],
    settings: ScanSettings,
    *,
    previous_appliance_ids: Mapping[str, str] | None = None,
    now: datetime | None = None,
    account: str | None = None,
    partition: str | None = None,
    memo: TrustMemo | None = None,
    purposes: PurposeScan | None = None,
    later: Collection[RoleCheck] = (),
    keep_snapshot: bool = True,
) -> Callable[[], list[Finding]]:
    """:func:`assess_role` in two steps: every unit but ``later`` now, those when the returned function is
    called (a scan reads the managed policies after the roles), which returns the findings in the registry's
    order. Neither step raises: if either does, every check of the role is NOT_AVAILABLE, as in assess_role.
    ``keep_snapshot=False``: the findings leave out ``role`` (see :class:`_Builder`).
    """

    def failed(error: Exception) -> list[Finding]:
        role_checks = ROLE_FINDING_CHECKS + _purpose_checks_for(role, purposes)
        return not_assessed(
            role, appliances, role_checks, error, account=account, partition=partition, keep_snapshot=keep_snapshot
        )

    deferred = [any(unit is other for other in later) for unit in checks.ROLE_REGISTRY]
    try:
        facts, build = _role_facts(
            role, appliances, settings, previous_appliance_ids, now, memo, purposes, keep_snapshot=keep_snapshot
        )
        decided = [
            None if wait else unit.decide(facts) for unit, wait in zip(checks.ROLE_REGISTRY, deferred, strict=True)
        ]
    except Exception as error:  # noqa: BLE001 -- any defect stays with its role (see assess_role)
        findings = failed(error)
        return lambda: findings

    def finish() -> list[Finding]:
        try:
            return [
                build.decided(unit.check, decision)
                for unit, wait, early in zip(checks.ROLE_REGISTRY, deferred, decided, strict=True)
                if (decision := unit.decide(facts) if wait else early) is not None
            ]
        except Exception as error:  # noqa: BLE001 -- as above
            return failed(error)

    return finish


def _purpose_checks_for(role: RoleSnapshot, purposes: PurposeScan | None) -> tuple[Check, ...]:
    """The purpose checks a role would get (so a role that cannot be assessed keeps its findings open)."""
    try:
        declared = purposes.declared(role) if purposes is not None else None
    except Exception:  # noqa: BLE001 -- tags that cannot even be read: no purpose findings to keep
        return ()
    if declared is None or purposes is None:
        return ()
    wanted = [checks.KNOWN_PURPOSES]
    if declared[0]:
        wanted[:0] = [checks.SERVICE_TRUST, checks.PERMISSIONS]
        if purposes.target_profiles is not None:
            wanted.insert(2, checks.UPGRADE_READY)
    return tuple(wanted)


ROLE_FINDING_CHECKS: tuple[Check, ...] = (*checks.ROLE_CHECKS, checks.UNTAGGED_TRUSTING)
"""The checks every in-scope role gets a finding for (VRA-INVENTORY-1 as PASSED)."""


def not_assessed(
    role: RoleSnapshot,
    appliances: Sequence[ApplianceState],
    role_checks: Sequence[Check],
    error: Exception,
    *,
    account: str | None = None,
    partition: str | None = None,
    keep_snapshot: bool = True,
) -> list[Finding]:
    """NOT_AVAILABLE for each check of a role whose assessment raised, with the reason."""
    parts = role.arn.split(":") if isinstance(role.arn, str) else []
    account = account or (parts[4] if len(parts) > 5 and parts[4] else None) or _first_account(appliances)
    partition = partition or (parts[1] if len(parts) > 5 and parts[1] else None) or "aws"
    appliance = _fallback_appliance(appliances, partition, account)
    build = _Builder(
        role,
        appliances,
        appliance,
        resource_arn=str(role.arn),
        partition=partition,
        account=account,
        keep_snapshot=keep_snapshot,
    )
    reason = f"the auditor could not assess {role.arn}: {type(error).__name__}: {error}"
    return [
        build.finding(check, "NOT_AVAILABLE", [reason], extra={ASSESSMENT_ERROR: type(error).__name__})
        for check in role_checks
    ]


def _first_account(appliances: Sequence[ApplianceState]) -> str:
    for state in appliances:
        parts = state.role_arn.split(":")
        if len(parts) > 5:
            return parts[4]
    return "000000000000"


def _fallback_appliance(appliances: Sequence[ApplianceState], partition: str, account: str) -> Appliance:
    for state in appliances:
        try:
            return make_appliance(state.role_arn)
        except InvalidArnError:
            continue
    return make_appliance(f"arn:{partition}:iam::{account}:role/unknown")


def _role_facts(
    role: RoleSnapshot,
    appliances: Sequence[ApplianceState],
    settings: ScanSettings,
    previous_appliance_ids: Mapping[str, str] | None,
    now: datetime | None,
    memo: TrustMemo | None = None,
    purposes: PurposeScan | None = None,
    *,
    keep_snapshot: bool = True,
) -> tuple[RoleFacts, _Builder]:
    if memo is None:
        conclusions = Conclusions(role, appliances, settings, now)
        trust_time = now
    else:
        if memo.appliances is not appliances or memo.settings is not settings:
            raise ValueError("a TrustMemo serves one scan: its appliances and settings")
        conclusions, trust_time = memo.conclusions(role, now)
    facts = RoleFacts(role, appliances, settings, conclusions, now, trust_time, previous_appliance_ids or {}, purposes)
    return facts, _Builder(role, appliances, conclusions.best.appliance, keep_snapshot=keep_snapshot)


def assess_untagged_role(
    role: RoleSnapshot,
    appliances: Sequence[ApplianceState],
    settings: ScanSettings,
    *,
    now: datetime | None = None,
    keep_snapshot: bool = True,
) -> Finding | None:
    """An untagged role that names an appliance role in its trust: inventory drift, else None.

    A role that carries the tag with a value that is not accepted is deliberately out of scope: no finding.
    ``keep_snapshot=False``: the finding leaves out ``role`` (see :class:`_Builder`).
    """
    if settings.tag_value(role.tags) is not None or not role.path.startswith(settings.path_prefix):
        return None
    try:
        return _assess_untagged_role(role, appliances, settings, now, keep_snapshot)
    except Exception as error:  # noqa: BLE001 -- as in assess_role: the role is reported, the scan goes on
        return not_assessed(role, appliances, (checks.UNTAGGED_TRUSTING,), error, keep_snapshot=keep_snapshot)[0]


def _assess_untagged_role(
    role: RoleSnapshot,
    appliances: Sequence[ApplianceState],
    settings: ScanSettings,
    now: datetime | None,
    keep_snapshot: bool,
) -> Finding | None:
    names = {parse_role_arn(state.role_arn).name.lower() for state in appliances}
    ids = {state.role_id for state in appliances if state.role_id}
    if not _may_name(role.trust_policy, names, ids):
        return None  # most untagged roles: not even parsed
    trust = parse_policy(role.trust_policy, "trust")
    if not _names_an_appliance_role(trust, appliances):
        return None  # most untagged roles: no need to evaluate them at all
    for state in appliances:
        evaluated = evaluate_for(role, state, settings, now, trust)
        verdict = evaluated.verdict
        if verdict.via == "role_arn" and verdict.appliance_can_assume != "no":
            build = _Builder(role, appliances, evaluated.appliance, keep_snapshot=keep_snapshot)
            decision = checks.untagged_trusting(role.name, state.role_arn, settings.tag_key)
            return build.decided(checks.UNTAGGED_TRUSTING, decision)
    return None


def assess_appliance(
    state: ApplianceState,
    settings: ScanSettings,
    *,
    partition: str,
    account: str,
    now: datetime | None = None,
) -> Finding:
    """Whether the Impersonation role itself exists and EC2 can use it (one finding per appliance)."""
    check = checks.APPLIANCE_USABLE
    appliance = engine_appliance(state, settings)
    build = _Builder(
        state.snapshot, (state,), appliance, resource_arn=state.role_arn, partition=partition, account=account
    )
    try:
        decision = checks.decide_appliance(state, appliance, partition=partition, account=account, now=now)
        return build.decided(check, decision)
    except Exception as error:  # noqa: BLE001 -- as in assess_role: reported, never a failed scan
        reason = f"the auditor could not assess {state.role_arn}: {type(error).__name__}: {error}"
        return build.finding(check, "NOT_AVAILABLE", [reason], extra={ASSESSMENT_ERROR: type(error).__name__})


def _names_an_appliance_role(trust: PolicyDocument, appliances: Sequence[ApplianceState]) -> bool:
    """Whether an Allow names an appliance role by ARN, unique id or session (a cheap pre-check)."""
    names = {parse_role_arn(state.role_arn).name.lower() for state in appliances}
    ids = {state.role_id for state in appliances if state.role_id}
    for statement in trust.statements:
        if statement.effect != "Allow" or statement.principal is None:
            continue
        for principal in statement.principal.aws:
            if principal.raw in ids or (principal.name or "").lower() in names:
                return True
    return False


def _may_name(document: object, names: set[str], ids: set[str]) -> bool:
    """False only when no AWS principal of the (decoded) document names an appliance role by ARN or id.

    Reads ``Statement[*].Principal.AWS`` as the parser does (a statement object or a list of them, a
    string or a list of strings), so whatever :func:`_names_an_appliance_role` finds in the parsed
    policy is found here first: a cheap pre-check that skips parsing. Any other shape: True (parse it).
    """
    if type(document) is not dict:
        return True
    body = document.get("Statement")
    if isinstance(body, Mapping):
        body = [body]
    if not isinstance(body, list):
        return False  # no statements: the parsed policy names nobody
    for statement in body:
        if not isinstance(statement, Mapping):
            continue
        principal = statement.get("Principal")
        if not isinstance(principal, Mapping):
            continue  # "*" (names no role) or invalid (the parser keeps no principal from it)
        values = principal.get("AWS")
        if isinstance(values, str):
            values = [values]
        elif not isinstance(values, list):
            if values is None:
                continue
            return True
        for value in values:
            if not isinstance(value, str):
                return True
            if value in ids or (classify_aws_principal(value).name or "").lower() in names:
                return True
    return False


_NO_FIELDS: Mapping[str, Any] = {}
"""The one empty ``extra`` and ``data`` of the findings that have none (never changed: read as Mappings)."""


class _Builder:
    """Turns a check and a status into a Finding; the catalogue supplies every text.

    Each finding keeps ``role``, the snapshot it was assessed from, for publishing (the ASFF resource
    details, the alerts' content digest); with ``keep_snapshot=False`` it does not, so that a scan whose
    findings are only printed does not keep every role's trust policy and tags until it ends.
    """

    def __init__(
        self,
        role: RoleSnapshot | None,
        appliances: Sequence[ApplianceState],
        appliance: Appliance,
        *,
        resource_arn: str | None = None,
        partition: str | None = None,
        account: str | None = None,
        keep_snapshot: bool = True,
    ) -> None:
        self.role = role if keep_snapshot else None
        self.resource_arn = resource_arn or (role.arn if role else "")
        self.partition = partition or (role.partition if role else appliance.partition)
        self.account = account or (role.account if role else appliance.account)
        self.appliance_arns = tuple(state.role_arn for state in appliances)
        self.appliance = appliance
        self.observed_at = role.observed_at if role else datetime.now().astimezone()
        self.fields = {
            "role_name": self.resource_arn.rsplit("/", 1)[-1],
            "role_arn": self.resource_arn,
            "appliance_role_arn": appliance.role.arn,
            "appliance_account": appliance.account,
        }

    def decided(self, check: Check, decision: Decision) -> Finding:
        return self.finding(
            check,
            decision.status,
            decision.details,
            statement=decision.statement,
            corrected=decision.corrected,
            remediation=decision.remediation,
            extra=decision.extra or None,
            data=decision.data,
        )

    def finding(
        self,
        check: Check,
        status: Status,
        details: Sequence[str],
        *,
        statement: dict[str, Any] | None = None,
        corrected: dict[str, Any] | None = None,
        remediation: str | None = None,
        extra: Mapping[str, str] | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Finding:
        return Finding.with_texts(
            FindingTexts(check.title, check.description, remediation or check.remediation, self.fields),
            check=check.code,
            status=status,
            severity=_severity(check, status),
            role_arn=self.resource_arn,
            account=self.account,
            partition=self.partition,
            appliance_role_arns=self.appliance_arns,
            observed_at=self.observed_at,
            role=self.role,
            details=tuple(details),
            statement_to_add=statement,
            corrected_policy=corrected,
            extra=extra or _NO_FIELDS,
            data=data or _NO_FIELDS,
        )


def _severity(check: Check, status: Status) -> Severity:
    if status == "FAILED":
        return check.severity
    if status == "WARNING":
        return check.warning_severity or check.severity
    return "INFORMATIONAL"


def without_trusted_accounts(verdict: TrustVerdict, trusted: Collection[str]) -> TrustVerdict:
    """The verdict with the operator's trusted accounts no longer counted as foreign (pure)."""
    if not trusted or not set(verdict.foreign_accounts) & set(trusted):
        return verdict
    foreign = tuple(account for account in verdict.foreign_accounts if account not in trusted)
    notes = tuple(
        note for note in verdict.risk_notes if note.risk != "foreign_account_trusted" or note.account not in trusted
    )
    risks = verdict.risks if foreign else verdict.risks - {"foreign_account_trusted"}
    reasons = verdict.explanation + tuple(f"risk {note.risk}: {note.reason}" for note in notes)
    return verdict._replace(risks=risks, reasons=reasons, foreign_accounts=foreign, risk_notes=notes)
