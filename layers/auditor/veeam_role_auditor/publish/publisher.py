"""Publishing a run's findings: only what changed reaches Security Hub, one alert per transition.

For each finding the publisher compares the new result with the stored state and decides whether
Security Hub needs it (new, changed, or not refreshed for ``refresh_days``: Security Hub deletes active
findings it has not seen updated for 90 days) and whether subscribers need an alert (a transition).
Then, per finding: a conditional claim in the state table (a newer observation or a concurrent writer
wins), the Security Hub import, the alert, and a confirmation for what was delivered. What failed
is not confirmed, so the next run delivers it; an alert claimed by a run that died is sent again once
the claim is older than ``pending_timeout``.

The two sinks are independent: a Security Hub failure never keeps this run's alerts from being sent
(or their claims from being given back), and an SNS failure never keeps findings from Security Hub.
A failure other than Security Hub "not enabled" still fails the run, after both sinks were served:
:class:`PublishError` carries the report of what was delivered.

Suppressed findings (:mod:`..suppressions`) are imported like any other; their suppression is part of the
content digest, so starting, changing or ending one imports the finding again. After the import, their
Security Hub workflow is set with BatchUpdateFindings: SUPPRESSED with the reason, source and end date in
the note; back to NEW with a note when the suppression ends (Security Hub never resets SUPPRESSED by
itself: "Workflow", API reference). An import whose workflow update failed is not confirmed, so the next
run sends both again. A suppressed failure sends no alert and leaves ``alert_key`` as it was, so the
failure is announced when the suppression ends, and a resolution of an alerted failure still is.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .. import checks
from ..deadline import NO_DEADLINE, Deadline
from ..model import SEVERITY_ORDER, Finding, finding_id, iso
from ..suppressions import SUPPRESSED, SUPPRESSED_BY, SUPPRESSED_UNTIL, is_suppressed
from .alerts import AlertSink, Kind, Transition, digest_message, transition_message
from .asff import archived_asff, shown, to_asff
from .clock import MAX_CLOCK_SKEW, ClockSkewError, describe_skew
from .securityhub import SecurityHubSink, WorkflowChange
from .state import StateConflictError, StateStore, StoredFinding

LOGGER = logging.getLogger(__name__)
FAILING = frozenset({"FAILED", "WARNING"})
CLAIM_ATTEMPTS = 3
# Transitions a suppression keeps quiet; "resolved" and "archived" of an alerted failure are still sent.
SILENCED: frozenset[Kind] = frozenset({"new_failure", "severity_change"})
# "Note" (API reference): Text "Length Constraints: Minimum of 1. Maximum of 512."
MAX_NOTE = 512


@dataclass(frozen=True)
class PublishSettings:
    """How findings are published; read from the environment by :func:`..settings.publish_settings`."""

    region: str
    security_hub: bool = True
    refresh_days: int = 7
    digest_threshold: int = 20
    min_alert_severity: str = "MEDIUM"
    pending_timeout: timedelta = timedelta(minutes=15)
    write_concurrency: int = 16

    def __post_init__(self) -> None:
        if self.min_alert_severity not in SEVERITY_ORDER:
            raise ValueError(f"minimum alert severity must be one of {', '.join(SEVERITY_ORDER)}")
        if self.refresh_days < 1 or self.digest_threshold < 1:
            raise ValueError("refresh days and the digest threshold must be at least 1")


@dataclass(frozen=True)
class Scope:
    """Which stored findings this run speaks for: absent ones among them get archived.

    A full scan speaks for the whole account; an event-driven evaluation only for the roles it read.
    ``observed_at`` is when the scope was read (an archive never overrides a newer observation).
    """

    account: str
    partition: str
    observed_at: datetime
    full: bool = False
    role_arns: frozenset[str] = frozenset()


@dataclass
class PublishReport:
    findings: int = 0
    unchanged: int = 0
    claimed: int = 0
    stale: int = 0
    conflicts: int = 0
    imported: int = 0
    import_failures: dict[str, str] = field(default_factory=dict)
    security_hub_disabled: bool = False
    security_hub_calls: int = 0
    archived: int = 0
    transitions: list[Transition] = field(default_factory=list)
    messages_sent: int = 0
    alert_failures: int = 0
    # Findings left for the next run because this one ran out of time (nothing of them was changed).
    deferred: int = 0
    # Why Security Hub refused this run's imports, when it did for another reason than "not enabled".
    security_hub_error: str | None = None
    # Findings of this run that a suppression rule marks (imported, workflow SUPPRESSED, no alert).
    suppressed: int = 0
    # Findings whose Security Hub workflow this run set (SUPPRESSED, or NEW when a suppression ended).
    workflow_updates: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "findings": self.findings,
            "unchanged": self.unchanged,
            "claimed": self.claimed,
            "stale": self.stale,
            "conflicts": self.conflicts,
            "imported": self.imported,
            "import_failures": len(self.import_failures),
            "security_hub_disabled": self.security_hub_disabled,
            "security_hub_calls": self.security_hub_calls,
            "archived": self.archived,
            "transitions": len(self.transitions),
            "messages_sent": self.messages_sent,
            "alert_failures": self.alert_failures,
            "deferred": self.deferred,
            "security_hub_error": self.security_hub_error,
            "suppressed": self.suppressed,
            "workflow_updates": self.workflow_updates,
        }


class PublishError(Exception):
    """Publishing did not complete: raised after both sinks were served as far as they could be.

    ``report`` says what was delivered; ``errors`` are the failures (the first is also ``__cause__``).
    What was not delivered is not confirmed in the state table, so the next run delivers it.
    """

    def __init__(self, report: PublishReport, errors: Sequence[Exception]) -> None:
        super().__init__("; ".join(describe_error(error) for error in errors[:3]))
        self.report = report
        self.errors = tuple(errors)


def describe_error(error: Exception) -> str:
    """One line for an AWS error: the operation, the error code and AWS's message."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{error.operation_name}: {details.get('Code', '')}: {details.get('Message', '')}".rstrip(": ")
    return f"{type(error).__name__}: {error}"


@dataclass
class _Plan:
    record: StoredFinding
    previous: StoredFinding | None
    finding: Finding | None
    needs_security_hub: bool
    transition: Transition | None
    # False when only Security Hub needs the finding again (a refresh, or an import that failed):
    # nothing to claim then; the import confirms itself against the stored version.
    write: bool = True


def content_digest(finding: Finding) -> str:
    """A digest of everything a reader of the finding sees; timestamps excluded."""
    role = finding.role
    content: dict[str, Any] = {
        "status": finding.status,
        "severity": finding.severity,
        "title": finding.title,
        "description": finding.description,
        "remediation": finding.remediation,
        "details": finding.details,
        "statement": finding.statement_to_add,
        "corrected": finding.corrected_policy,
        "appliances": finding.appliance_role_arns,
        "role": None
        if role is None
        else [role.name, role.role_id, role.path, role.trust_policy, dict(role.tags), role.create_date],
    }
    if is_suppressed(finding):
        # Only when suppressed: the digests of all other findings stay what earlier releases stored.
        content["suppression"] = [finding.extra.get(key) for key in (SUPPRESSED, SUPPRESSED_BY, SUPPRESSED_UNTIL)]
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def classify(previous_key: str | None, record: StoredFinding) -> Kind | None:
    """The transition between what subscribers were told and the new state, if any."""
    failing = record.record_state == "ACTIVE" and record.status in FAILING
    if previous_key is None:
        return "new_failure" if failing else None
    status, severity, state = previous_key.split("|")
    was_failing = state == "ACTIVE" and status in FAILING
    if record.record_state == "ARCHIVED":
        return "archived" if was_failing else None
    if failing and not was_failing:
        return "new_failure"
    if was_failing and record.status == "PASSED":
        return "resolved"
    if failing and was_failing and (status, severity) != (record.status, record.severity):
        return "severity_change"
    return None


class Publisher:
    def __init__(
        self,
        state: StateStore,
        *,
        settings: PublishSettings,
        security_hub: SecurityHubSink | None,
        alerts: AlertSink | None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.state = state
        self.settings = settings
        self.security_hub = security_hub if settings.security_hub else None
        self.alerts = alerts
        self.clock = clock or (lambda: datetime.now(UTC))
        # Stored observations later than this are from the future (set by each publish from AWS's clock).
        self._future_after: str | None = None

    # ------------------------------------------------------------------ public

    def publish(self, findings: Sequence[Finding], scope: Scope, deadline: Deadline = NO_DEADLINE) -> PublishReport:
        """Publish a run's findings for ``scope``; stops claiming new work once ``deadline`` expires."""
        report = PublishReport(findings=len(findings), suppressed=sum(1 for f in findings if is_suppressed(f)))
        now = self.clock()
        token = uuid.uuid4().hex
        current = {finding.id: finding for finding in findings}
        stored = self._load(current, scope)
        self._reject_future(findings, scope, now)
        plans: list[_Plan] = []
        # An event-driven run records even an unchanged observation's time, so a slower full scan that
        # read the role earlier cannot publish its older view afterwards (a full scan does not: it
        # would write every finding every hour).
        touch = not scope.full
        for finding in current.values():
            plan = self._plan_current(finding, stored.get(finding.id), now, token, report, touch)
            if plan is not None:
                plans.append(plan)
        for previous in stored.values():
            if previous.finding_id in current or not (scope.full or previous.role_arn in scope.role_arns):
                continue
            if previous.record_state == "ACTIVE":
                plan = self._plan_archive(previous, scope, now, token, report)
            else:
                plan = self._plan_undelivered_archive(previous, now, token)
            if plan is not None:
                plans.append(plan)
        claimed = self._claim(plans, current, scope, now, token, report, deadline)
        errors: list[Exception] = []
        self._import(claimed, report, errors)
        self._alert(claimed, token, report, errors)
        if errors:
            raise PublishError(report, errors) from errors[0]
        return report

    # ------------------------------------------------------------------ planning

    def _reject_future(self, findings: Sequence[Finding], scope: Scope, now: datetime) -> None:
        """Refuse observations from the future, relative to AWS's clock (the Date header of the state
        table's response; this process's clock when there was none), before anything is written.

        Stored observations later than that horizon (written before this check existed, by a clock that ran
        ahead) are from the future too: they do not make this run stale, and this run replaces them.
        """
        aws_now = self.state.aws_now or now
        self._future_after = horizon = iso(aws_now + MAX_CLOCK_SKEW)  # ISO strings sort as times
        stamps = [iso(scope.observed_at), *(iso(finding.observed_at) for finding in findings)]
        latest = max(stamps)
        if latest > horizon:
            ahead = _parse(latest) - aws_now
            raise ClockSkewError(
                f"nothing published: observations stamped {latest} are {describe_skew(ahead)} AWS's clock "
                f"({iso(aws_now)}, the Date of the state table's response), more than the "
                f"{int(MAX_CLOCK_SKEW.total_seconds() // 60)} minutes accepted ({sum(s > horizon for s in stamps)} "
                "observations); stored, they would make every later run stale until then. Fix the clock of the "
                "machine that scanned (e.g. enable NTP) and scan again"
            )

    def _from_future(self, observed_at: str) -> bool:
        return self._future_after is not None and observed_at > self._future_after

    def _load(self, current: Mapping[str, Finding], scope: Scope) -> dict[str, StoredFinding]:
        if scope.full:
            return self.state.load_account(scope.account)
        ids = set(current)
        for role_arn in scope.role_arns:
            ids.update(finding_id(scope.partition, scope.account, code, role_arn) for code in checks.CATALOGUE)
        return self.state.load(sorted(ids))

    def _plan_current(
        self,
        finding: Finding,
        previous: StoredFinding | None,
        now: datetime,
        token: str,
        report: PublishReport,
        touch: bool = False,
    ) -> _Plan | None:
        observed = iso(finding.observed_at)
        if previous is not None and previous.observed_at > observed and not self._from_future(previous.observed_at):
            report.stale += 1
            return None
        record = StoredFinding(
            finding_id=finding.id,
            account=finding.account,
            role_arn=finding.role_arn,
            role_name=finding.role_arn.rsplit("/", 1)[-1],
            check=finding.check,
            observed_at=observed,
            status=finding.status,
            severity=finding.severity,
            record_state="ACTIVE",
            digest=content_digest(finding),
            first_observed_at=previous.first_observed_at if previous else observed,
        )
        return self._plan(record, previous, finding, now, token, report, touch)

    def _plan_archive(
        self, previous: StoredFinding, scope: Scope, now: datetime, token: str, report: PublishReport
    ) -> _Plan | None:
        observed = iso(scope.observed_at)
        if previous.observed_at > observed and not self._from_future(previous.observed_at):
            report.stale += 1  # observed again after this scope was read: not ours to archive
            return None
        record = replace(previous, observed_at=observed, record_state="ARCHIVED")
        return self._plan(record, previous, None, now, token, report)

    def _plan_undelivered_archive(self, previous: StoredFinding, now: datetime, token: str) -> _Plan | None:
        """An archived finding whose archive did not reach a sink: delivered again, unchanged.

        The state says ARCHIVED as soon as a run claims the archive, before the deliveries: an import that
        failed (Security Hub disabled, an outage, a timeout) leaves Security Hub showing the finding ACTIVE,
        and an alert that could not be sent leaves subscribers uninformed. ``sh_key`` and ``alert_key`` say
        what each sink really has, so this plans exactly what is missing, and nothing once both have it.
        """
        return self._plan(previous, previous, None, now, token, PublishReport())

    def _plan(
        self,
        record: StoredFinding,
        previous: StoredFinding | None,
        finding: Finding | None,
        now: datetime,
        token: str,
        report: PublishReport,
        touch: bool = False,
    ) -> _Plan | None:
        carried = previous or record
        record = replace(
            record,
            version=previous.version if previous else 0,
            created_at=carried.created_at if previous else None,
            sh_key=carried.sh_key if previous else None,
            sh_updated_at=carried.sh_updated_at if previous else None,
            sh_workflow=carried.sh_workflow if previous else None,
            alert_key=carried.alert_key if previous else None,
            alert_pending=carried.alert_pending if previous else None,
            alert_pending_since=carried.alert_pending_since if previous else None,
        )
        # Only active findings are refreshed: an archived one stays archived once Security Hub has it.
        needs_security_hub = self.security_hub is not None and (
            record.sh_key != record.content_key
            or (record.record_state == "ACTIVE" and self._refresh_due(record.sh_updated_at, now))
        )
        transition = None
        in_flight = record.alert_pending is not None and not self._pending_expired(record.alert_pending_since, now)
        if not in_flight:
            record = replace(record, alert_pending=None, alert_pending_since=None)
            kind = classify(record.alert_key, record)
            # A suppressed failure is an accepted exception: no alert, and alert_key stays what subscribers
            # were told, so the failure is announced once the suppression ends (expired or removed).
            silenced = kind in SILENCED and finding is not None and is_suppressed(finding)
            if (
                kind is not None
                and not silenced
                and self.alerts is not None
                and self._worth_alerting(kind, record, previous)
            ):
                transition = self._transition(kind, record, previous, finding)
                record = replace(record, alert_pending=token, alert_pending_since=iso(now))
            elif kind is None and (record.status != "NOT_AVAILABLE" or record.record_state == "ARCHIVED"):
                # No transition (a passing baseline, or no change): record it, so a later transition is
                # measured from here. NOT_AVAILABLE tells nothing new. A transition that is not alerted
                # (below the minimum severity, or no topic) is not recorded: alert_key stays what
                # subscribers were really told, so a later "resolved" still reaches them.
                record = replace(record, alert_key=record.status_key)
        # observed_at alone does not make a write: a steady-state scan writes nothing. But a stored
        # observation from the future is replaced by this one, so later runs are not stale because of it.
        same = (
            previous is not None
            and replace(record, observed_at=previous.observed_at) == previous
            and not (previous.observed_at > record.observed_at and self._from_future(previous.observed_at))
        )
        if same and transition is None:
            newer = touch and previous is not None and record.observed_at > previous.observed_at
            if not needs_security_hub:
                report.unchanged += 1
                return _Plan(record, previous, finding, False, None) if newer else None
            if newer:
                # Security Hub needs it again (a failed import, or a refresh) and this event-driven run must
                # also record its observation time: claim it, then import.
                return _Plan(record, previous, finding, True, None)
            assert previous is not None
            # Imported with this run's observation time: Security Hub ages findings out 90 days after
            # their UpdatedAt, so a refresh must move it forward.
            refreshed = replace(previous, observed_at=record.observed_at)
            return _Plan(refreshed, previous, finding, needs_security_hub, None, write=False)
        return _Plan(record, previous, finding, needs_security_hub, transition)

    def _worth_alerting(self, kind: Kind, record: StoredFinding, previous: StoredFinding | None) -> bool:
        severity = record.severity
        if kind in ("resolved", "archived") and previous is not None and previous.alert_key:
            severity = previous.alert_key.split("|")[1]
        return SEVERITY_ORDER[severity] >= SEVERITY_ORDER[self.settings.min_alert_severity]

    @staticmethod
    def _transition(
        kind: Kind, record: StoredFinding, previous: StoredFinding | None, finding: Finding | None
    ) -> Transition:
        told = (previous.alert_key or "").split("|") if previous else []
        return Transition(
            kind=kind,
            finding_id=record.finding_id,
            check=record.check,
            role_arn=record.role_arn,
            account=record.account,
            status=record.status,
            severity=record.severity,
            previous_status=told[0] if len(told) == 3 else None,
            previous_severity=told[1] if len(told) == 3 else None,
            finding=finding,
        )

    def _refresh_due(self, updated_at: str | None, now: datetime) -> bool:
        if updated_at is None:
            return True
        return now - _parse(updated_at) >= timedelta(days=self.settings.refresh_days)

    def _pending_expired(self, since: str | None, now: datetime) -> bool:
        return since is None or now - _parse(since) >= self.settings.pending_timeout

    # ------------------------------------------------------------------ delivery

    def _claim(
        self,
        plans: list[_Plan],
        current: Mapping[str, Finding],
        scope: Scope,
        now: datetime,
        token: str,
        report: PublishReport,
        deadline: Deadline,
    ) -> list[_Plan]:
        """Claim every plan that writes state, in parallel (each claim is one conditional write).

        Once the deadline passes no new claim starts: unclaimed findings keep their state, so the next
        run publishes them; what was claimed is still delivered.
        """

        def claim(plan: _Plan) -> tuple[_Plan | None, PublishReport, Exception | None]:
            if deadline.expired():
                return None, PublishReport(deferred=1), None
            if not plan.write:
                return plan, PublishReport(), None
            try:
                return (*self._claim_one(plan, scope, now, token), None)
            except (ClientError, BotoCoreError) as error:  # e.g. DynamoDB throttling beyond the retries
                return None, PublishReport(), error

        claimed: list[_Plan] = []
        failures: list[Exception] = []
        for plan, counts, error in self._parallel(claim, plans):
            report.deferred += counts.deferred
            report.claimed += counts.claimed
            report.conflicts += counts.conflicts
            report.stale += counts.stale
            report.unchanged += counts.unchanged
            if error is not None:
                failures.append(error)
            elif plan is not None:
                claimed.append(plan)
        if failures:
            # Give back the alerts this run claimed, so the next run sends them at once instead of
            # waiting for the claims to expire; then fail the run (Lambda retries it or alarms).
            self._release_alerts([plan for plan in claimed if plan.record.alert_pending == token], token)
            raise failures[0]
        return claimed

    def _claim_one(self, plan: _Plan, scope: Scope, now: datetime, token: str) -> tuple[_Plan | None, PublishReport]:
        counts = PublishReport()
        result: _Plan | None = plan
        for _ in range(CLAIM_ATTEMPTS):
            assert result is not None
            if not result.write:
                return result, counts  # replanned into a Security Hub refresh only
            try:
                expected = result.previous.version if result.previous else None
                written = self.state.claim(result.record, expected, future_after=self._future_after)
            except StateConflictError as conflict:
                counts.conflicts += 1
                result = self._replan(result, conflict.current, scope, now, token, counts)
                if result is None:
                    return None, counts
                continue
            counts.claimed += 1
            return replace(result, record=written), counts
        return None, counts

    def _release_alerts(self, plans: Sequence[_Plan], token: str) -> list[Exception]:
        """Give back alert claims this run could not honour, so the next run sends them at once.

        Returns the state-table errors: a claim not given back is sent once it expires (``pending_timeout``).
        """
        return self._guarded(lambda plan: self.state.release_alert(plan.record.finding_id, token), plans)

    def _guarded(self, write: Callable[[_Plan], object], plans: Sequence[_Plan]) -> list[Exception]:
        """Run one state write per plan; every write is tried, and the AWS errors are returned."""

        def attempt(plan: _Plan) -> Exception | None:
            try:
                write(plan)
            except (ClientError, BotoCoreError) as error:
                failure: Exception = error
                return failure
            return None

        return [error for error in self._parallel(attempt, plans) if error is not None]

    def _parallel(self, work: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        # DynamoDB writes are independent per finding: in parallel, a first scan of 5,000 roles
        # (about 45,000 conditional writes) takes seconds instead of minutes. boto3 clients are
        # thread-safe.
        if len(items) <= 1:
            return [work(item) for item in items]
        with ThreadPoolExecutor(max_workers=self.settings.write_concurrency) as pool:
            return list(pool.map(work, items))

    def _replan(
        self,
        plan: _Plan,
        latest: StoredFinding | None,
        scope: Scope,
        now: datetime,
        token: str,
        report: PublishReport,
    ) -> _Plan | None:
        """Plan again against the item a concurrent writer just stored."""
        if plan.finding is not None:
            return self._plan_current(plan.finding, latest, now, token, report, not scope.full)
        if latest is None or latest.record_state != "ACTIVE":
            return None
        return self._plan_archive(latest, scope, now, token, report)

    def _import(self, claimed: list[_Plan], report: PublishReport, errors: list[Exception]) -> None:
        if self.security_hub is None:
            return
        documents: list[dict[str, Any]] = []
        updated: dict[str, tuple[_Plan, str]] = {}
        workflows: dict[str, WorkflowChange] = {}
        for plan in claimed:
            if not plan.needs_security_hub:
                continue
            record = plan.record
            updated_at = _after(record.observed_at, record.sh_updated_at)
            created_at = record.created_at or updated_at
            if plan.finding is not None:
                document = to_asff(
                    plan.finding,
                    region=self.settings.region,
                    created_at=created_at,
                    first_observed_at=record.first_observed_at,
                    updated_at=updated_at,
                )
            else:
                document = archived_asff(
                    finding_id=record.finding_id,
                    check=record.check,
                    role_arn=record.role_arn,
                    account=record.account,
                    status=record.status,
                    severity=record.severity,
                    region=self.settings.region,
                    created_at=created_at,
                    first_observed_at=record.first_observed_at,
                    updated_at=updated_at,
                )
            documents.append(document)
            updated[record.finding_id] = (plan, updated_at)
            workflow = self._workflow(plan, str(document["ProductArn"]))
            if workflow is not None:
                workflows[record.finding_id] = workflow
        if not documents:
            return
        result = self.security_hub.import_findings(documents)
        report.security_hub_calls += result.calls
        report.import_failures.update(result.failed)
        if result.error is not None:
            report.security_hub_error = describe_error(result.error)
            LOGGER.error(
                "Security Hub refused the import (%s): %s findings were not imported; alerts are still sent, "
                "the run fails afterwards and the next run imports them",
                report.security_hub_error,
                len(result.failed),
            )
            errors.append(result.error)
        if result.disabled:
            report.security_hub_disabled = True
            LOGGER.warning(
                "Security Hub is not enabled in this account and region: %s findings were not imported; "
                "they will be imported by the first run after it is enabled",
                len(documents),
            )
        delivered = self._update_workflows(
            [workflows[i] for i in sorted(result.imported) if i in workflows], result.imported, report, errors
        )

        def confirm(identifier: str) -> bool | Exception:
            plan, updated_at = updated[identifier]
            record = plan.record
            workflow = workflows.get(identifier)
            try:
                return self.state.confirm_security_hub(
                    identifier, record.version, record.content_key, updated_at, workflow.status if workflow else None
                )
            except (ClientError, BotoCoreError) as error:  # imported but not recorded: imported again next run
                failure: Exception = error
                return failure

        for identifier, confirmed in zip(sorted(delivered), self._parallel(confirm, sorted(delivered)), strict=True):
            if isinstance(confirmed, Exception):
                errors.append(confirmed)
            elif confirmed:
                report.imported += 1
                if updated[identifier][0].record.record_state == "ARCHIVED":
                    report.archived += 1

    def _workflow(self, plan: _Plan, product: str) -> WorkflowChange | None:
        """The workflow this import must set in Security Hub, if any.

        A suppressed finding is SUPPRESSED (again when its content or its suppression changed; a refresh of
        an unchanged one is not). When it is no longer suppressed (its rule expired or was removed, or it
        passes now) it goes back to NEW: Security Hub resets NOTIFIED and RESOLVED to NEW on its own, never
        SUPPRESSED ("Workflow", API reference), so a later failure would stay hidden. An archived finding
        keeps its workflow; if it becomes active again, this applies then.
        """
        finding, record = plan.finding, plan.record
        if finding is None:
            return None
        if is_suppressed(finding):
            if record.sh_workflow == "SUPPRESSED" and record.sh_key == record.content_key:
                return None
            return WorkflowChange(record.finding_id, product, "SUPPRESSED", suppression_note(finding))
        if record.sh_workflow == "SUPPRESSED":
            return WorkflowChange(record.finding_id, product, "NEW", suppression_ended_note(finding))
        return None

    def _update_workflows(
        self, changes: list[WorkflowChange], imported: set[str], report: PublishReport, errors: list[Exception]
    ) -> set[str]:
        """Set the workflows of imported findings; returns the imported findings that are fully delivered
        (their workflow, when they needed one, was set). The others are not confirmed: the next run imports
        them and sets their workflow again."""
        if not changes:
            return set(imported)
        assert self.security_hub is not None
        result = self.security_hub.update_workflow(changes)
        report.security_hub_calls += result.calls
        report.workflow_updates += len(result.updated)
        report.import_failures.update(result.failed)
        if result.failed:
            LOGGER.warning(
                "Security Hub did not set the workflow of %s findings (%s); they are imported and updated again "
                "by the next run",
                len(result.failed),
                "; ".join(sorted(set(result.failed.values()))[:3]),
            )
        if result.error is not None:
            report.security_hub_error = report.security_hub_error or describe_error(result.error)
            errors.append(result.error)
        return imported - set(result.failed)

    def _alert(self, claimed: list[_Plan], token: str, report: PublishReport, errors: list[Exception]) -> None:
        due = [plan for plan in claimed if plan.transition is not None and plan.record.alert_pending == token]
        if not due or self.alerts is None:
            return
        transitions = [plan.transition for plan in due if plan.transition is not None]
        report.transitions.extend(transitions)
        if len(transitions) > self.settings.digest_threshold:
            groups = [(due, digest_message(transitions, transitions[0].account))]
        else:
            groups = [([plan], transition_message(plan.transition)) for plan in due if plan.transition]
        for plans, message in groups:
            try:
                self.alerts.send(message)
            except (ClientError, BotoCoreError) as error:
                LOGGER.warning("SNS publish failed (%s); %s alerts will be retried next run", error, len(plans))
                report.alert_failures += len(plans)
                errors.extend(self._release_alerts(plans, token))
                continue
            report.messages_sent += 1
            errors.extend(
                self._guarded(
                    lambda plan: self.state.confirm_alert(plan.record.finding_id, token, plan.record.status_key), plans
                )
            )


def suppression_note(finding: Finding) -> str:
    """The Security Hub note of a suppressed finding: end date and source, then the reason (cut to fit)."""
    until, source = finding.extra.get(SUPPRESSED_UNTIL, "?"), finding.extra.get(SUPPRESSED_BY, "?")
    return shown(f"Suppressed until {until} ({source}): {finding.extra.get(SUPPRESSED, '')}", MAX_NOTE)


def suppression_ended_note(finding: Finding) -> str:
    """The note of a finding whose suppression ended, set with its workflow back to NEW."""
    if finding.failing:
        why = "no suppression rule in force matches it any more (its rule expired, or was changed or removed)"
    else:
        why = f"it is {finding.status} now"
    return shown(f"Suppression ended: {why}; workflow set back to NEW by veeam-role-auditor.", MAX_NOTE)


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _after(observed: str, imported: str | None) -> str:
    """UpdatedAt for an import: Security Hub ignores an update whose UpdatedAt is not later than the
    stored one ("BatchImportFindings for finding providers"), so it must move forward."""
    if imported is None or observed > imported:
        return observed
    return iso(_parse(imported) + timedelta(milliseconds=1))
