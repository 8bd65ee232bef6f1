"""Executing a publish plan (:mod:`.planner`): claim, import, alert, confirm.

Per step: a conditional claim in the state table (a newer observation or a concurrent writer wins; the
planner plans the step again against the winner's record), the Security Hub import, the alert, and a
confirmation of what was delivered. What failed is not confirmed, so the next run delivers it; an alert
claimed by a run that died is sent again once the claim is older than ``pending_timeout``.

The two sinks are independent: a Security Hub failure never keeps this run's alerts from being sent
(or their claims from being given back), and an SNS failure never keeps findings from Security Hub.
A failure other than Security Hub "not enabled" still fails the run, after both sinks were served:
:class:`PublishError` carries the report of what was delivered. An import whose workflow update failed
is not confirmed, so the next run sends both again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..deadline import NO_DEADLINE, Deadline
from ..threads import carried
from .alerts import AlertSink, Transition
from .planner import Import, Plan, Planner, Step
from .securityhub import SecurityHubSink, WorkflowChange
from .state import MAX_TRANSACTION_ITEMS, StateConflictError, StateStore

LOGGER = logging.getLogger(__name__)
CLAIM_ATTEMPTS = 3


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


class Delivery:
    """Delivers one plan through the state table and the sinks (None: the run has no such sink)."""

    def __init__(
        self,
        state: StateStore,
        planner: Planner,
        plan: Plan,
        *,
        security_hub: SecurityHubSink | None,
        alerts: AlertSink | None,
        write_concurrency: int,
        deadline: Deadline = NO_DEADLINE,
    ) -> None:
        self.state = state
        self.planner = planner
        self.plan = plan
        self.security_hub = security_hub
        self.alerts = alerts
        self.write_concurrency = write_concurrency
        self.deadline = deadline

    def run(self, report: PublishReport) -> None:
        """Claim, import, alert; raises :class:`PublishError` after both sinks were served if any failed."""
        claimed = self.claim(report)
        errors: list[Exception] = []
        self.import_findings(claimed, report, errors)
        self.send_alerts(claimed, report, errors)
        if errors:
            raise PublishError(report, errors) from errors[0]

    # ------------------------------------------------------------------ claims

    def claim(self, report: PublishReport) -> list[Step]:
        """Claim every step that writes state (each claim is one conditional write).

        An event-driven run's claims (one role's checks, most of them often only a newer observation time:
        see :meth:`.planner.Planner._step`) go in one transaction, which succeeds exactly when each claim
        alone would; when DynamoDB cancels it, they are claimed one by one, which also finds the winners
        of lost claims. A full scan's claims go one by one, in parallel: thousands of them, each its own.

        Once the deadline passes no new claim starts: unclaimed findings keep their state, so the next
        run publishes them; what was claimed is still delivered.
        """
        steps = list(self.plan.steps)
        claimed: list[Step] = []
        if not self.plan.scope.full:
            writes = [step for step in steps if step.write]
            if len(writes) > 1:
                single = [step for step in steps if not step.write]
                for start in range(0, len(writes), MAX_TRANSACTION_ITEMS):
                    chunk = writes[start : start + MAX_TRANSACTION_ITEMS]
                    together = self._claim_together(chunk, report)
                    if together is None:
                        single.extend(chunk)
                    else:
                        claimed.extend(together)
                steps = single
        claimed += self._claim_each(steps, report)
        # In the plan's order, as claimed one by one: imports, and the transitions of a digest, keep it.
        order = {step.record.finding_id: number for number, step in enumerate(self.plan.steps)}
        return sorted(claimed, key=lambda step: order[step.record.finding_id])

    def _claim_together(self, steps: list[Step], report: PublishReport) -> list[Step] | None:
        if self.deadline.expired():
            report.deferred += len(steps)
            return []
        written = self.state.claim_together(
            [(step.record, step.previous.version if step.previous else None) for step in steps],
            future_after=self.plan.future_after,
        )
        if written is None:
            return None
        report.claimed += len(steps)
        return [replace(step, record=record) for step, record in zip(steps, written, strict=True)]

    def _claim_each(self, steps: Sequence[Step], report: PublishReport) -> list[Step]:
        def claim(step: Step) -> tuple[Step | None, PublishReport, Exception | None]:
            if self.deadline.expired():
                return None, PublishReport(deferred=1), None
            if not step.write:
                return step, PublishReport(), None
            try:
                return (*self._claim_one(step), None)
            except (ClientError, BotoCoreError) as error:  # e.g. DynamoDB throttling beyond the retries
                return None, PublishReport(), error

        claimed: list[Step] = []
        failures: list[Exception] = []
        for step, counts, error in self._parallel(claim, steps):
            report.deferred += counts.deferred
            report.claimed += counts.claimed
            report.conflicts += counts.conflicts
            report.stale += counts.stale
            report.unchanged += counts.unchanged
            if error is not None:
                failures.append(error)
            elif step is not None:
                claimed.append(step)
        if failures:
            # Give back the alerts this run claimed, so the next run sends them at once instead of
            # waiting for the claims to expire; then fail the run (Lambda retries it or alarms).
            self._release_alerts([step for step in claimed if step.record.alert_pending == self.plan.token])
            raise failures[0]
        return claimed

    def _claim_one(self, step: Step) -> tuple[Step | None, PublishReport]:
        counts = PublishReport()
        result: Step | None = step
        for _ in range(CLAIM_ATTEMPTS):
            if result is None:
                break
            if not result.write:
                return result, counts  # replanned into a Security Hub refresh only
            try:
                expected = result.previous.version if result.previous else None
                written = self.state.claim(result.record, expected, future_after=self.plan.future_after)
            except StateConflictError as conflict:
                counts.conflicts += 1
                result, tally = self.planner.replan(self.plan, result, conflict.current)
                counts.stale += tally.stale
                counts.unchanged += tally.unchanged
                continue
            counts.claimed += 1
            return replace(result, record=written), counts
        return None, counts

    def _release_alerts(self, steps: Sequence[Step]) -> list[Exception]:
        """Give back alert claims this run could not honour, so the next run sends them at once.

        Returns the state-table errors: a claim not given back is sent once it expires (``pending_timeout``).
        """
        token = self.plan.token
        return self._guarded(lambda step: self.state.release_alert(step.record.finding_id, token), steps)

    def _guarded(self, write: Callable[[Step], object], steps: Sequence[Step]) -> list[Exception]:
        """Run one state write per step; every write is tried, and the AWS errors are returned."""

        def attempt(step: Step) -> Exception | None:
            try:
                write(step)
            except (ClientError, BotoCoreError) as error:
                failure: Exception = error
                return failure
            return None

        return [error for error in self._parallel(attempt, steps) if error is not None]

    def _parallel(self, work: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        # DynamoDB writes are independent per finding: in parallel, a first scan of 5,000 roles
        # (about 45,000 conditional writes) takes seconds instead of minutes. boto3 clients are
        # thread-safe.
        if len(items) <= 1:
            return [work(item) for item in items]
        with ThreadPoolExecutor(max_workers=self.write_concurrency) as pool:
            return list(pool.map(carried(work), items))

    # ------------------------------------------------------------------ Security Hub

    def import_findings(self, claimed: list[Step], report: PublishReport, errors: list[Exception]) -> None:
        if self.security_hub is None:
            return
        imports = {item.step.record.finding_id: item for item in self.planner.imports(claimed)}
        if not imports:
            return
        result = self.security_hub.import_findings([item.document for item in imports.values()])
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
                len(imports),
            )
        workflows = {identifier: item.workflow for identifier, item in imports.items() if item.workflow is not None}
        delivered = self._update_workflows(
            [workflows[i] for i in sorted(result.imported) if i in workflows], result.imported, report, errors
        )

        def confirm(identifier: str) -> bool | Exception:
            item: Import = imports[identifier]
            record = item.step.record
            try:
                return self.state.confirm_security_hub(
                    identifier,
                    record.version,
                    record.content_key,
                    item.updated_at,
                    item.workflow.status if item.workflow else None,
                )
            except (ClientError, BotoCoreError) as error:  # imported but not recorded: imported again next run
                failure: Exception = error
                return failure

        for identifier, confirmed in zip(sorted(delivered), self._parallel(confirm, sorted(delivered)), strict=True):
            if isinstance(confirmed, Exception):
                errors.append(confirmed)
            elif confirmed:
                report.imported += 1
                if imports[identifier].step.record.record_state == "ARCHIVED":
                    report.archived += 1

    def _update_workflows(
        self, changes: list[WorkflowChange], imported: set[str], report: PublishReport, errors: list[Exception]
    ) -> set[str]:
        """Set the workflows of imported findings; returns the imported findings that are fully delivered
        (their workflow, when they needed one, was set). The others are not confirmed: the next run imports
        them and sets their workflow again."""
        if not changes or self.security_hub is None:
            return set(imported)
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

    # ------------------------------------------------------------------ SNS

    def send_alerts(self, claimed: list[Step], report: PublishReport, errors: list[Exception]) -> None:
        if self.alerts is None:
            return
        alerts = self.planner.alerts_for(claimed, self.plan.token)
        if not alerts.due:
            return
        report.transitions.extend(alerts.transitions)
        token = self.plan.token
        for steps, message in alerts.messages:
            try:
                self.alerts.send(message)
            except (ClientError, BotoCoreError) as error:
                LOGGER.warning("SNS publish failed (%s); %s alerts will be retried next run", error, len(steps))
                report.alert_failures += len(steps)
                errors.extend(self._release_alerts(steps))
                continue
            report.messages_sent += 1
            errors.extend(
                self._guarded(
                    lambda step: self.state.confirm_alert(step.record.finding_id, token, step.record.status_key),
                    steps,
                )
            )
