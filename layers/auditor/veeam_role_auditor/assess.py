"""Pure assessment: role and appliance snapshots in, findings out (no AWS calls).

Used by the full scan and by the event-driven re-evaluation of a single role, so both always reach
the same findings for the same snapshot.
"""

from __future__ import annotations

import pickle
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from . import checks
from .checks import Check
from .model import ApplianceState, Finding, RoleSnapshot, Severity, Status, finding_id
from .policy import (
    Appliance,
    InvalidArnError,
    NamedPolicy,
    PolicyDocument,
    RoleArn,
    TrustVerdict,
    evaluate_identity,
    evaluate_service_trust,
    evaluate_trust,
    make_appliance,
    parse_policy,
    parse_role_arn,
)
from .policy.arn import classify_aws_principal
from .remediation import (
    TrustFix,
    plan_trust_fix,
    statement_to_add,
    with_role_instead_of_account,
    without_deleted_principals,
)
from .settings import ScanSettings

_ANSWER_RANK = {"no": 0, "conditional": 1, "yes": 2}
_VIA_RANK = {None: 0, "wildcard": 1, "account_root": 2, "role_arn": 3}


@dataclass(frozen=True)
class _Evaluated:
    """One appliance's trust verdict for a role."""

    state: ApplianceState
    appliance: Appliance
    verdict: TrustVerdict


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


def engine_appliance(state: ApplianceState, settings: ScanSettings) -> Appliance:
    """The engine's view of one appliance: its role, live unique id and configured facts."""
    return make_appliance(
        state.role_arn,
        role_id=state.role_id,
        org_id=settings.appliance_org_id,
        external_id=settings.external_id,
        has_boundary=state.snapshot is not None and state.snapshot.boundary_arn is not None,
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
) -> list[Finding]:
    """Every check's result for one role in scope: PASSED, FAILED, WARNING or NOT_AVAILABLE.

    Never raises: a role that cannot be assessed (an ARN the engine cannot parse, a defect of ours)
    gets NOT_AVAILABLE for every check, with the reason, so one odd role never stops a scan and its
    earlier findings are not archived as if it were gone. ``account``/``partition`` (the scanned
    account's) name such a finding when the role's own ARN cannot. ``memo`` (one per scan, for these
    ``appliances`` and ``settings``) shares the trust verdicts of roles whose trust policies conclude alike.
    """
    try:
        return _assess_role(role, appliances, settings, previous_appliance_ids, now, memo)
    except Exception as error:  # noqa: BLE001 -- any defect stays with its role (see docstring)
        return not_assessed(role, appliances, ROLE_FINDING_CHECKS, error, account=account, partition=partition)


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
) -> list[Finding]:
    """NOT_AVAILABLE for each check of a role whose assessment raised, with the reason."""
    parts = role.arn.split(":") if isinstance(role.arn, str) else []
    account = account or (parts[4] if len(parts) > 5 and parts[4] else None) or _first_account(appliances)
    partition = partition or (parts[1] if len(parts) > 5 and parts[1] else None) or "aws"
    appliance = _fallback_appliance(appliances, partition, account)
    build = _Builder(role, appliances, appliance, resource_arn=str(role.arn), partition=partition, account=account)
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


class _Conclusions:
    """What one role's trust policy concludes for the configured appliances: the verdicts, and the
    corrections planned from them, each planned when a finding first asks for it (in the order the findings
    are built, so a defect surfaces where it did before). Shared by the roles a :class:`TrustMemo` finds
    alike, so it reads from ``role`` only what the memo's key holds."""

    __slots__ = ("_account_wide", "_fix", "_without_deleted", "best", "evaluated")

    def __init__(
        self, role: RoleSnapshot, appliances: Sequence[ApplianceState], settings: ScanSettings, now: datetime | None
    ) -> None:
        trust = parse_policy(role.trust_policy, "trust")  # parsed once, evaluated for every appliance
        self.evaluated = [_evaluate(role, state, settings, now, trust) for state in appliances]
        self.best = max(
            self.evaluated, key=lambda e: (_ANSWER_RANK[e.verdict.appliance_can_assume], _VIA_RANK[e.verdict.via])
        )
        self._fix: TrustFix | None = None
        self._without_deleted: dict[str, Any] | None = None
        self._account_wide: tuple[_Evaluated, dict[str, Any]] | bool | None = False

    def fix(self, role: RoleSnapshot, now: datetime | None) -> TrustFix:
        if self._fix is None:
            best = self.best
            self._fix = plan_trust_fix(
                role.trust_policy, role.arn, best.appliance, role_tags=dict(role.tags), now=now, current=best.verdict
            )
        return self._fix

    def without_deleted(self, role: RoleSnapshot, deleted: tuple[str, ...]) -> dict[str, Any]:
        if self._without_deleted is None:
            self._without_deleted = without_deleted_principals(role.trust_policy, deleted)
        return self._without_deleted

    def account_wide(self, role: RoleSnapshot) -> tuple[_Evaluated, dict[str, Any]] | None:
        """The first appliance whose whole account the policy names, and the policy naming its role instead."""
        if self._account_wide is False:
            found = None  # stored only once planned: a planning that raises is tried again by the next role
            for item in self.evaluated:
                account = item.appliance.account
                if account in item.verdict.account_principals:
                    corrected = with_role_instead_of_account(
                        role.trust_policy,
                        account,
                        item.appliance.role.arn,
                        known_valid="malformed" not in item.verdict.risks,
                    )
                    found = (item, corrected)
                    break
            self._account_wide = found
        return self._account_wide  # type: ignore[return-value]


class TrustMemo:
    """The trust conclusions of one scan, per distinct trust policy and evaluation context.

    A role's trust verdicts and planned corrections depend on its trust policy, its ARN's partition and
    account (aws:ResourceAccount, aws:ResourceOrgID, own-account risks), its tags when the policy reads
    aws:ResourceTag or iam:ResourceTag, the appliances and the time (to the second: the request context
    keeps no finer time). The key holds all of those and the ARN's path besides; the role's name only
    appears in the texts each role's findings are built with. Roles created from one template share one
    evaluation. tests/unit/test_trust_memo.py holds memoised and unmemoised scans equal.

    Given the ``roles`` to come, only conclusions that another role will share are kept, and only until
    its last role has them: keeping every one would cost more (in garbage collection) than sharing saves
    in an account whose policies are all distinct (bench/scan_bench.py --documents).
    """

    def __init__(
        self,
        appliances: Sequence[ApplianceState],
        settings: ScanSettings,
        roles: Iterable[RoleSnapshot] | None = None,
    ) -> None:
        self.appliances = appliances
        self.settings = settings
        self._entries: dict[tuple[object, ...], dict[tuple[object, ...], _Conclusions]] = {}
        self._uses: Counter[tuple[object, ...]] | None = None
        self._left: Counter[tuple[object, ...]] = Counter()
        self._planned: dict[int, tuple[RoleSnapshot, tuple[object, ...] | None]] = {}
        self.hits = 0
        if roles is not None:
            self._uses = Counter()
            for role in roles:
                try:
                    arn = parse_role_arn(role.arn)
                except InvalidArnError:
                    continue  # assessing it raises the same error before the memo is asked
                key = _policy_key(role, arn)
                self._planned[id(role)] = (role, key)
                if key is not None:
                    self._uses[key] += 1
            self._left = Counter(self._uses)

    def conclusions(self, role: RoleSnapshot, now: datetime | None) -> tuple[_Conclusions, datetime | None]:
        """The conclusions for ``role`` and the time they were reached at (``now``, or this second)."""
        # As _evaluate would, in its order: each appliance's ARN, then (after the first) the role's ARN.
        engine_appliances = []
        arn = None
        for state in self.appliances:
            engine_appliances.append(engine_appliance(state, self.settings))
            if arn is None:
                arn = parse_role_arn(role.arn)
        moment = now if now is not None else datetime.now(UTC).replace(microsecond=0)
        planned = self._planned.get(id(role))
        if planned is not None and planned[0] is role:
            key = planned[1]
        else:
            key = _policy_key(role, arn) if arn is not None else None
        if key is None or (self._uses is not None and self._uses[key] < 2):
            return _Conclusions(role, self.appliances, self.settings, moment), moment
        entries = self._entries.setdefault(key, {})
        context = (tuple(engine_appliances), moment)
        entry = entries.get(context)
        if entry is None:
            entry = entries[context] = _Conclusions(role, self.appliances, self.settings, moment)
        else:
            self.hits += 1
        if self._uses is not None:
            self._left[key] -= 1
            if self._left[key] <= 0:
                del self._entries[key]  # its last role: nobody asks again
        return entry, moment


def _policy_key(role: RoleSnapshot, arn: RoleArn) -> tuple[object, ...] | None:
    """What of the role its trust conclusions read, besides appliances and time (None: not shared)."""
    try:
        # pickle tells every type apart (1, 1.0, True; list, tuple; str and int keys), unlike json.
        document = pickle.dumps(role.trust_policy, protocol=4)
    except Exception:  # noqa: BLE001 -- a document pickle cannot write is simply not shared
        return None
    # Condition keys and policy variables are compared lower-cased (str.lower) by the engine; no
    # non-ASCII character lowers to a letter of "resourcetag", and pickle writes strings as UTF-8.
    tags = tuple(role.tags.items()) if b"resourcetag" in document.lower() else None
    return (document, arn.partition, arn.account, arn.path, tags)


def _assess_role(
    role: RoleSnapshot,
    appliances: Sequence[ApplianceState],
    settings: ScanSettings,
    previous_appliance_ids: Mapping[str, str] | None,
    now: datetime | None,
    memo: TrustMemo | None = None,
) -> list[Finding]:
    if memo is None:
        conclusions = _Conclusions(role, appliances, settings, now)
        evaluated_at = now
    else:
        assert memo.appliances is appliances, "a memo serves one scan"
        assert memo.settings is settings, "a memo serves one scan"
        conclusions, evaluated_at = memo.conclusions(role, now)
    evaluated = conclusions.evaluated
    best = conclusions.best
    verdict = best.verdict
    build = _Builder(role, appliances, best.appliance)
    findings = [
        _trust_finding(build, conclusions, role, evaluated_at),
        _identity_finding(build, best, role, now),
    ]
    risk_reasons = {risk: _reasons_for(verdict, risk) for risk in verdict.risks}

    # A principal is stale or foreign only if it is so for every configured appliance.
    deleted = set(verdict.deleted_principal_ids).intersection(*(e.verdict.deleted_principal_ids for e in evaluated))
    previous = previous_appliance_ids or {}
    deleted_details = [
        f"{unique_id} was the unique id of the Impersonation role {previous[unique_id]}, which has been re-created"
        for unique_id in sorted(deleted)
        if unique_id in previous
    ]
    findings.append(
        build.finding(
            checks.DELETED_PRINCIPAL,
            "FAILED" if deleted else "PASSED",
            deleted_details + risk_reasons.get("deleted_principal_unique_id", []),
            corrected=conclusions.without_deleted(role, tuple(sorted(deleted))) if deleted else None,
        )
    )
    # Accounts the operator trusts (--trusted-account, TrustedAccountIds) are not foreign.
    foreign = set(verdict.foreign_accounts).intersection(*(e.verdict.foreign_accounts for e in evaluated))
    foreign -= set(settings.trusted_accounts)
    trusted = sorted(set(verdict.foreign_accounts) & set(settings.trusted_accounts))
    findings.append(
        build.finding(
            checks.FOREIGN_ACCOUNT,
            "FAILED" if foreign else "PASSED",
            [line for line in risk_reasons.get("foreign_account_trusted", []) if any(a in line for a in foreign)]
            + ([f"trusted by configuration: {', '.join(trusted)}"] if trusted else []),
        )
    )
    for check, risk in (
        (checks.WILDCARD_PRINCIPAL, "wildcard_principal"),
        (checks.NOT_PRINCIPAL, "not_principal"),
        (checks.MALFORMED, "malformed"),
    ):
        details = [line for line in verdict.reasons if line.startswith("malformed:")] if risk == "malformed" else []
        findings.append(
            build.finding(check, "FAILED" if risk in verdict.risks else "PASSED", details + risk_reasons.get(risk, []))
        )
    findings.append(_account_wide_finding(build, conclusions, role))
    findings.append(build.finding(checks.UNTAGGED_TRUSTING, "PASSED", [f"{role.name} carries the Veeam tag"]))
    return findings


def assess_untagged_role(
    role: RoleSnapshot,
    appliances: Sequence[ApplianceState],
    settings: ScanSettings,
    *,
    now: datetime | None = None,
) -> Finding | None:
    """An untagged role that names an appliance role in its trust: inventory drift, else None.

    A role that carries the tag with a value that is not accepted is deliberately out of scope: no finding.
    """
    if settings.tag_value(role.tags) is not None or not role.path.startswith(settings.path_prefix):
        return None
    try:
        return _assess_untagged_role(role, appliances, settings, now)
    except Exception as error:  # noqa: BLE001 -- as in assess_role: the role is reported, the scan goes on
        return not_assessed(role, appliances, (checks.UNTAGGED_TRUSTING,), error)[0]


def _assess_untagged_role(
    role: RoleSnapshot, appliances: Sequence[ApplianceState], settings: ScanSettings, now: datetime | None
) -> Finding | None:
    names = {parse_role_arn(state.role_arn).name.lower() for state in appliances}
    ids = {state.role_id for state in appliances if state.role_id}
    if not _may_name(role.trust_policy, names, ids):
        return None  # most untagged roles: not even parsed
    trust = parse_policy(role.trust_policy, "trust")
    if not _names_an_appliance_role(trust, appliances):
        return None  # most untagged roles: no need to evaluate them at all
    for state in appliances:
        evaluated = _evaluate(role, state, settings, now, trust)
        verdict = evaluated.verdict
        if verdict.via == "role_arn" and verdict.appliance_can_assume != "no":
            build = _Builder(role, appliances, evaluated.appliance)
            details = [
                f"the trust policy lets {state.role_arn} assume {role.name}, but {role.name} lacks the "
                f"tag {settings.tag_key}"
            ]
            return build.finding(checks.UNTAGGED_TRUSTING, "FAILED", details)
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
        return _assess_appliance(state, build, appliance, partition=partition, account=account, now=now)
    except Exception as error:  # noqa: BLE001 -- as in assess_role: reported, never a failed scan
        reason = f"the auditor could not assess {state.role_arn}: {type(error).__name__}: {error}"
        return build.finding(check, "NOT_AVAILABLE", [reason], extra={ASSESSMENT_ERROR: type(error).__name__})


def _assess_appliance(
    state: ApplianceState,
    build: _Builder,
    appliance: Appliance,
    *,
    partition: str,
    account: str,
    now: datetime | None,
) -> Finding:
    check = checks.APPLIANCE_USABLE
    if not state.in_scanned_account:
        return build.finding(
            check,
            "NOT_AVAILABLE",
            [
                f"{state.role_arn} is in account {appliance.account}, not in the scanned account {account}; "
                "deploy the auditor in that account to check it"
            ],
        )
    if state.snapshot is None:
        return build.finding(check, "FAILED", [f"{state.role_arn} does not exist in account {account}"])
    service = "ec2.amazonaws.com.cn" if partition == "aws-cn" else "ec2.amazonaws.com"
    answer, reasons = evaluate_service_trust(state.snapshot.trust_policy, service, now=now)
    details = list(reasons)
    status: Status = {"yes": "PASSED", "conditional": "WARNING", "no": "FAILED"}[answer]  # type: ignore[assignment]
    if not state.snapshot.instance_profile_arns:
        details.append(f"{state.role_arn} is in no instance profile, so no EC2 instance can use it")
        status = "FAILED"
    else:
        details.append("instance profiles: " + ", ".join(state.snapshot.instance_profile_arns))
    return build.finding(check, status, details)


# ---------------------------------------------------------------------- the individual checks


def _evaluate(
    role: RoleSnapshot,
    state: ApplianceState,
    settings: ScanSettings,
    now: datetime | None,
    trust: PolicyDocument | None = None,
) -> _Evaluated:
    appliance = engine_appliance(state, settings)
    document = trust if trust is not None else role.trust_policy
    verdict = evaluate_trust(document, role.arn, appliance, role_tags=dict(role.tags), now=now)
    return _Evaluated(state, appliance, verdict)


def _trust_finding(build: _Builder, conclusions: _Conclusions, role: RoleSnapshot, now: datetime | None) -> Finding:
    best = conclusions.best
    verdict = best.verdict
    details = [line for line in verdict.reasons if not line.startswith("risk ")]
    if verdict.appliance_can_assume == "yes":
        return build.finding(checks.TRUST_CAN_ASSUME, "PASSED", details)
    status: Status = "WARNING" if verdict.appliance_can_assume == "conditional" else "FAILED"
    fix = conclusions.fix(role, now)
    if fix.document is None:
        # No correction that is safe to offer: say why and what would decide, never an unconditional Allow.
        details.append(f"no corrected trust policy is offered: {fix.refusal}")
        details.extend(f"decided by: {decider}" for decider in fix.deciding_inputs)
        return build.finding(
            checks.TRUST_CAN_ASSUME, status, details, remediation=checks.TRUST_CAN_ASSUME.remediation_no_fix
        )
    return build.finding(
        checks.TRUST_CAN_ASSUME,
        status,
        details + list(fix.notes),
        statement=statement_to_add(best.appliance.role.arn),
        corrected=fix.document,
    )


def _identity_finding(build: _Builder, best: _Evaluated, role: RoleSnapshot, now: datetime | None) -> Finding:
    state = best.state
    if state.identity_policies is None:
        reason = state.unavailable_reason or f"the policies of {state.role_arn} could not be read"
        return build.finding(checks.IDENTITY_ALLOWS, "NOT_AVAILABLE", [reason])
    identity = evaluate_identity(
        state.identity_policies,
        role.arn,
        best.appliance,
        boundary=state.boundary,
        role_tags=dict(role.tags),
        now=now,
    )
    status: Status = {"yes": "PASSED", "conditional": "WARNING", "no": "FAILED"}[identity.allows_assume_role]  # type: ignore[assignment]
    return build.finding(checks.IDENTITY_ALLOWS, status, list(identity.reasons))


def _account_wide_finding(build: _Builder, conclusions: _Conclusions, role: RoleSnapshot) -> Finding:
    account_wide = conclusions.account_wide(role)
    if account_wide is not None:
        item, corrected = account_wide
        account = item.appliance.account
        details = [f"the trust policy names the whole account {account}; naming {item.appliance.role.arn} is enough"]
        return build.finding(checks.ACCOUNT_WIDE, "FAILED", details, corrected=corrected)
    return build.finding(checks.ACCOUNT_WIDE, "PASSED", ["the trust policy names no appliance account as a whole"])


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


def _reasons_for(verdict: TrustVerdict, risk: str) -> list[str]:
    prefix = f"risk {risk}: "
    return [line[len(prefix) :] for line in verdict.reasons if line.startswith(prefix)]


class _Builder:
    """Turns a check and a status into a Finding; the catalogue supplies every text."""

    def __init__(
        self,
        role: RoleSnapshot | None,
        appliances: Sequence[ApplianceState],
        appliance: Appliance,
        *,
        resource_arn: str | None = None,
        partition: str | None = None,
        account: str | None = None,
    ) -> None:
        self.role = role
        self.resource_arn = resource_arn or (role.arn if role else "")
        self.partition = partition or (role.partition if role else appliance.partition)
        self.account = account or (role.account if role else appliance.account)
        self.appliance_arns = tuple(state.role_arn for state in appliances)
        self.appliance = appliance
        self.observed_at = role.observed_at if role else datetime.now().astimezone()
        self.name = self.resource_arn.rsplit("/", 1)[-1]
        self.fields = {
            "role_name": self.name,
            "role_arn": self.resource_arn,
            "appliance_role_arn": appliance.role.arn,
            "appliance_account": appliance.account,
        }

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
    ) -> Finding:
        name, fields = self.name, self.fields
        return Finding(
            id=finding_id(self.partition, self.account, check.code, self.resource_arn),
            check=check.code,
            status=status,
            severity=_severity(check, status),
            title=f"{check.title}: {name}",
            description=check.description.format(**fields) if "{" in check.description else check.description,
            remediation=_filled(remediation or check.remediation, fields),
            role_arn=self.resource_arn,
            account=self.account,
            partition=self.partition,
            appliance_role_arns=self.appliance_arns,
            observed_at=self.observed_at,
            role=self.role,
            details=tuple(details),
            statement_to_add=statement,
            corrected_policy=corrected,
            extra=extra or {},
        )


def _filled(template: str, fields: Mapping[str, str]) -> str:
    """``template.format(**fields)``, without its cost for the many templates that have no field."""
    return template.format(**fields) if "{" in template or "}" in template else template


def _severity(check: Check, status: Status) -> Severity:
    if status == "FAILED":
        return check.severity
    if status == "WARNING":
        return check.warning_severity or check.severity
    return "INFORMATIONAL"


_FOREIGN_REASON = re.compile(r"^risk foreign_account_trusted: .* in account (\d{12}), which is neither")


def without_trusted_accounts(verdict: TrustVerdict, trusted: Collection[str]) -> TrustVerdict:
    """The verdict with the operator's trusted accounts no longer counted as foreign (pure)."""
    if not trusted or not set(verdict.foreign_accounts) & set(trusted):
        return verdict
    foreign = tuple(account for account in verdict.foreign_accounts if account not in trusted)

    def kept(line: str) -> bool:
        match = _FOREIGN_REASON.match(line)
        return match is None or match.group(1) not in trusted

    risks = verdict.risks if foreign else verdict.risks - {"foreign_account_trusted"}
    return verdict._replace(
        risks=risks, reasons=tuple(line for line in verdict.reasons if kept(line)), foreign_accounts=foreign
    )
