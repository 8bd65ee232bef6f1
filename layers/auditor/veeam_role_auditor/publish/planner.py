"""Deciding what to publish: stored state, a run's findings, the settings and the time in; a plan out.

Pure: no I/O and no AWS client; :mod:`.deliver` executes a plan. For each finding the planner compares
the new result with the stored state and decides whether Security Hub needs it (new, changed, or not
refreshed for ``refresh_days``: Security Hub deletes active findings it has not seen updated for 90
days), whether subscribers need an alert (a transition), and which state record to claim for it.
A finding a run speaks for (its :class:`Scope`) but no longer has is archived. A stored finding whose
archive did not reach a sink is delivered again.

Observation times: every stored record carries ``observed_at``, when its role was read. A run whose
observation is older than the stored one is stale for that finding and plans nothing for it; the
state table's conditional write (:meth:`.state.StateStore.claim`) makes the same comparison atomically.
Observations from the future, relative to AWS's clock, are refused before anything is planned
(:mod:`.clock`).

Suppressed findings (:mod:`..suppressions`) are imported like any other; their suppression is part of
the content digest, so starting, changing or ending one imports the finding again, and their Security
Hub workflow is set: SUPPRESSED with the reason, source and end date in the note; back to NEW with a note
when the suppression ends (Security Hub never resets SUPPRESSED by itself: "Workflow", API reference).
A suppressed failure sends no alert and leaves ``alert_key`` as it was, so the failure is announced when
the suppression ends, and a resolution of an alerted failure still is.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from .. import checks
from ..model import SEVERITY_ORDER, Finding, finding_id, iso
from ..suppressions import SUPPRESSED, SUPPRESSED_BY, SUPPRESSED_UNTIL, is_suppressed
from .alerts import Kind, Message, Transition, digest_message, transition_message
from .asff import WorkflowChange, archived_asff, shown, to_asff
from .clock import MAX_CLOCK_SKEW, ClockSkewError, describe_skew
from .record import StoredFinding

FAILING = frozenset({"FAILED", "WARNING"})
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


@dataclass(frozen=True)
class Step:
    """The work one finding needs: the record to claim, and what each sink needs."""

    record: StoredFinding
    previous: StoredFinding | None
    finding: Finding | None
    needs_security_hub: bool
    transition: Transition | None
    # False when only Security Hub needs the finding again (a refresh, or an import that failed):
    # nothing to claim then; the import confirms itself against the stored version.
    write: bool = True


@dataclass
class Tally:
    """What planning counted: findings whose stored observation is newer, and findings with nothing new."""

    stale: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class Plan:
    """A run's plan: the steps, and what claiming them again after a conflict needs (:meth:`Planner.replan`)."""

    steps: tuple[Step, ...]
    scope: Scope
    now: datetime
    token: str
    # Stored observations later than this are from the future (AWS's clock plus the accepted skew).
    future_after: str
    tally: Tally = field(default_factory=Tally)


@dataclass(frozen=True)
class Import:
    """One ASFF document to import, the UpdatedAt it carries and the workflow to set after it."""

    step: Step
    updated_at: str
    document: dict[str, Any]
    workflow: WorkflowChange | None


@dataclass(frozen=True)
class AlertPlan:
    """The alerts of the claimed steps: one message per transition, or one digest above the threshold."""

    due: tuple[Step, ...]
    transitions: tuple[Transition, ...]
    messages: tuple[tuple[tuple[Step, ...], Message], ...]


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


def ids_to_load(finding_ids: Iterable[str], scope: Scope) -> list[str] | None:
    """The stored findings a run needs: its own and every check of the roles it speaks for; None for a
    full scan, which needs the whole account's."""
    if scope.full:
        return None
    ids = set(finding_ids)
    for role_arn in scope.role_arns:
        ids.update(finding_id(scope.partition, scope.account, code, role_arn) for code in checks.CATALOGUE)
    return sorted(ids)


class Planner:
    """Plans a run from the stored state: :meth:`plan`, then :meth:`replan` after a lost claim, and
    :meth:`imports` and :meth:`alerts` for what the claims won.

    ``security_hub`` and ``alerts`` say whether the run has each sink: without one, nothing is planned for it
    (and a transition that is not alerted is not recorded as told).
    """

    def __init__(self, settings: PublishSettings, *, security_hub: bool, alerts: bool) -> None:
        self.settings = settings
        self.security_hub = security_hub and settings.security_hub
        self.alerts = alerts

    # ------------------------------------------------------------------ the run

    def plan(
        self,
        findings: Sequence[Finding],
        stored: Mapping[str, StoredFinding],
        scope: Scope,
        *,
        now: datetime,
        aws_now: datetime | None,
        token: str,
    ) -> Plan:
        """The steps of a run. ``aws_now`` is AWS's clock when the state was read (None: ``now``)."""
        future_after = self._reject_future(findings, scope, aws_now or now)
        plan = Plan(steps=(), scope=scope, now=now, token=token, future_after=future_after)
        current = {finding.id: finding for finding in findings}
        steps: list[Step] = []
        for finding in current.values():
            step = self._plan_current(plan, finding, stored.get(finding.id), plan.tally)
            if step is not None:
                steps.append(step)
        for previous in stored.values():
            if previous.finding_id in current or not (scope.full or previous.role_arn in scope.role_arns):
                continue
            if previous.record_state == "ACTIVE":
                step = self._plan_archive(plan, previous, plan.tally)
            else:
                step = self._plan_undelivered_archive(plan, previous)
            if step is not None:
                steps.append(step)
        return replace(plan, steps=tuple(steps))

    def replan(self, plan: Plan, step: Step, latest: StoredFinding | None) -> tuple[Step | None, Tally]:
        """Plan a step again against the item a concurrent writer just stored."""
        tally = Tally()
        if step.finding is not None:
            return self._plan_current(plan, step.finding, latest, tally), tally
        if latest is None or latest.record_state != "ACTIVE":
            return None, tally
        return self._plan_archive(plan, latest, tally), tally

    def imports(self, claimed: Iterable[Step]) -> list[Import]:
        """The Security Hub documents of the claimed steps that need one."""
        if not self.security_hub:
            return []
        result: list[Import] = []
        for step in claimed:
            if not step.needs_security_hub:
                continue
            record = step.record
            updated_at = _after(record.observed_at, record.sh_updated_at)
            created_at = record.created_at or updated_at
            if step.finding is not None:
                document = to_asff(
                    step.finding,
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
            result.append(Import(step, updated_at, document, workflow(step, str(document["ProductArn"]))))
        return result

    def alerts_for(self, claimed: Iterable[Step], token: str) -> AlertPlan:
        """The alerts this run claimed (``alert_pending`` is its token), grouped into messages."""
        due = tuple(step for step in claimed if step.transition is not None and step.record.alert_pending == token)
        if not due or not self.alerts:
            return AlertPlan((), (), ())
        transitions = tuple(step.transition for step in due if step.transition is not None)
        messages: list[tuple[tuple[Step, ...], Message]]
        if len(transitions) > self.settings.digest_threshold:
            messages = [(due, digest_message(transitions, transitions[0].account))]
        else:
            messages = [((step,), transition_message(step.transition)) for step in due if step.transition]
        return AlertPlan(due, transitions, tuple(messages))

    # ------------------------------------------------------------------ one finding

    def _reject_future(self, findings: Sequence[Finding], scope: Scope, aws_now: datetime) -> str:
        """Refuse observations from the future, relative to AWS's clock (the Date header of the state
        table's response; this process's clock when there was none), before anything is written.

        Returns the horizon: stored observations later than it (written before this check existed, by a
        clock that ran ahead) are from the future too: they do not make this run stale, and this run
        replaces them.
        """
        horizon = iso(aws_now + MAX_CLOCK_SKEW)  # ISO strings sort as times
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
        return horizon

    @staticmethod
    def _newer_stored(plan: Plan, stored: StoredFinding, observed: str) -> bool:
        """The stale-observation guard: the stored record was observed after ``observed`` (and not from the
        future)."""
        return stored.observed_at > observed and not stored.observed_at > plan.future_after

    def _plan_current(self, plan: Plan, finding: Finding, previous: StoredFinding | None, tally: Tally) -> Step | None:
        observed = iso(finding.observed_at)
        if previous is not None and self._newer_stored(plan, previous, observed):
            tally.stale += 1
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
        return self._step(plan, record, previous, finding, tally)

    def _plan_archive(self, plan: Plan, previous: StoredFinding, tally: Tally) -> Step | None:
        observed = iso(plan.scope.observed_at)
        if self._newer_stored(plan, previous, observed):
            tally.stale += 1  # observed again after this scope was read: not ours to archive
            return None
        record = replace(previous, observed_at=observed, record_state="ARCHIVED")
        return self._step(plan, record, previous, None, tally)

    def _plan_undelivered_archive(self, plan: Plan, previous: StoredFinding) -> Step | None:
        """An archived finding whose archive did not reach a sink: delivered again, unchanged.

        The state says ARCHIVED as soon as a run claims the archive, before the deliveries: an import that
        failed (Security Hub disabled, an outage, a timeout) leaves Security Hub showing the finding ACTIVE,
        and an alert that could not be sent leaves subscribers uninformed. ``sh_key`` and ``alert_key`` say
        what each sink really has, so this plans exactly what is missing, and nothing once both have it.
        """
        return self._step(plan, previous, previous, None, Tally())

    def _step(
        self, plan: Plan, record: StoredFinding, previous: StoredFinding | None, finding: Finding | None, tally: Tally
    ) -> Step | None:
        record = _carried(record, previous)
        now = plan.now
        # Only active findings are refreshed: an archived one stays archived once Security Hub has it.
        needs_security_hub = self.security_hub and (
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
            if kind is not None and not silenced and self.alerts and self._worth_alerting(kind, record, previous):
                transition = _transition(kind, record, previous, finding)
                record = replace(record, alert_pending=plan.token, alert_pending_since=iso(now))
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
            and not (previous.observed_at > record.observed_at and previous.observed_at > plan.future_after)
        )
        if not same or transition is not None:
            return Step(record, previous, finding, needs_security_hub, transition)
        assert previous is not None
        # An event-driven run records even an unchanged observation's time. The stale-observation guard
        # needs it: a full scan that read the role earlier, while it was different (broken, then fixed
        # again before this run read it), and publishes after this run, must find a newer observation
        # stored and be stale; without this write it would store its older view and alert a "new
        # failure" that is over. No later decision can tell which older observations are still in flight
        # (any run may have read the role just before this one), so none of these writes can be skipped;
        # :mod:`.deliver` claims them in one transaction. A full scan does not record them: it would write
        # every finding every hour.
        newer = not plan.scope.full and record.observed_at > previous.observed_at
        if not needs_security_hub:
            tally.unchanged += 1
            return Step(record, previous, finding, False, None) if newer else None
        if newer:
            # Security Hub needs it again (a failed import, or a refresh) and this event-driven run must
            # also record its observation time: claim it, then import.
            return Step(record, previous, finding, True, None)
        # Imported with this run's observation time: Security Hub ages findings out 90 days after
        # their UpdatedAt, so a refresh must move it forward.
        refreshed = replace(previous, observed_at=record.observed_at)
        return Step(refreshed, previous, finding, needs_security_hub, None, write=False)

    def _worth_alerting(self, kind: Kind, record: StoredFinding, previous: StoredFinding | None) -> bool:
        severity = record.severity
        if kind in ("resolved", "archived") and previous is not None and previous.alert_key:
            severity = previous.alert_key.split("|")[1]
        return SEVERITY_ORDER[severity] >= SEVERITY_ORDER[self.settings.min_alert_severity]

    def _refresh_due(self, updated_at: str | None, now: datetime) -> bool:
        if updated_at is None:
            return True
        return now - _parse(updated_at) >= timedelta(days=self.settings.refresh_days)

    def _pending_expired(self, since: str | None, now: datetime) -> bool:
        return since is None or now - _parse(since) >= self.settings.pending_timeout


def only_observation(step: Step) -> bool:
    """A claim that changes nothing but the observation time (and the version) of a stored record."""
    previous = step.previous
    return (
        step.write
        and step.transition is None
        and previous is not None
        and replace(step.record, observed_at=previous.observed_at) == previous
    )


def workflow(step: Step, product: str) -> WorkflowChange | None:
    """The workflow this import must set in Security Hub, if any.

    A suppressed finding is SUPPRESSED (again when its content or its suppression changed; a refresh of
    an unchanged one is not). When it is no longer suppressed (its rule expired or was removed, or it
    passes now) it goes back to NEW: Security Hub resets NOTIFIED and RESOLVED to NEW on its own, never
    SUPPRESSED ("Workflow", API reference), so a later failure would stay hidden. An archived finding
    keeps its workflow; if it becomes active again, this applies then.
    """
    finding, record = step.finding, step.record
    if finding is None:
        return None
    if is_suppressed(finding):
        if record.sh_workflow == "SUPPRESSED" and record.sh_key == record.content_key:
            return None
        return WorkflowChange(record.finding_id, product, "SUPPRESSED", suppression_note(finding))
    if record.sh_workflow == "SUPPRESSED":
        return WorkflowChange(record.finding_id, product, "NEW", suppression_ended_note(finding))
    return None


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


def _carried(record: StoredFinding, previous: StoredFinding | None) -> StoredFinding:
    """The new record with what the stored one says about the sinks (and its version, for the claim)."""
    if previous is None:
        return replace(
            record,
            version=0,
            created_at=None,
            sh_key=None,
            sh_updated_at=None,
            sh_workflow=None,
            alert_key=None,
            alert_pending=None,
            alert_pending_since=None,
        )
    return replace(
        record,
        version=previous.version,
        created_at=previous.created_at,
        sh_key=previous.sh_key,
        sh_updated_at=previous.sh_updated_at,
        sh_workflow=previous.sh_workflow,
        alert_key=previous.alert_key,
        alert_pending=previous.alert_pending,
        alert_pending_since=previous.alert_pending_since,
    )


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


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _after(observed: str, imported: str | None) -> str:
    """UpdatedAt for an import: Security Hub ignores an update whose UpdatedAt is not later than the
    stored one ("BatchImportFindings for finding providers"), so it must move forward."""
    if imported is None or observed > imported:
        return observed
    return iso(_parse(imported) + timedelta(milliseconds=1))


__all__ = [
    "AlertPlan",
    "Import",
    "Plan",
    "Planner",
    "PublishSettings",
    "Scope",
    "Step",
    "Tally",
    "classify",
    "content_digest",
    "ids_to_load",
    "only_observation",
    "workflow",
]
