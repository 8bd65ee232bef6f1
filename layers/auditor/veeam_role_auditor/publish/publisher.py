"""Publishing a run's findings: only what changed reaches Security Hub, one alert per transition.

:class:`Publisher` reads the stored state, asks the pure :mod:`.planner` what to do with it and the run's
findings, and lets :mod:`.deliver` do it (claims, imports, alerts, confirmations). The names callers
import from here (settings, scope, report, error, content digest) live in those two modules.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from ..deadline import NO_DEADLINE, Deadline
from ..model import Finding
from ..suppressions import is_suppressed
from .alerts import AlertSink
from .deliver import CLAIM_ATTEMPTS, Delivery, PublishError, PublishReport, describe_error
from .planner import (
    FAILING,
    MAX_NOTE,
    SILENCED,
    Planner,
    PublishSettings,
    Scope,
    classify,
    content_digest,
    ids_to_load,
    suppression_ended_note,
    suppression_note,
)
from .securityhub import SecurityHubSink
from .state import StateStore

__all__ = [
    "CLAIM_ATTEMPTS",
    "FAILING",
    "MAX_NOTE",
    "SILENCED",
    "PublishError",
    "PublishReport",
    "PublishSettings",
    "Publisher",
    "Scope",
    "classify",
    "content_digest",
    "describe_error",
    "suppression_ended_note",
    "suppression_note",
]


class Publisher:
    """Publishes runs through a state table and the sinks it was given (None: no such sink)."""

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

    def publish(self, findings: Sequence[Finding], scope: Scope, deadline: Deadline = NO_DEADLINE) -> PublishReport:
        """Publish a run's findings for ``scope``; stops claiming new work once ``deadline`` expires."""
        report = PublishReport(findings=len(findings), suppressed=sum(1 for f in findings if is_suppressed(f)))
        now = self.clock()
        planner = Planner(self.settings, security_hub=self.security_hub is not None, alerts=self.alerts is not None)
        ids = ids_to_load((finding.id for finding in findings), scope)
        stored = self.state.load_account(scope.account) if ids is None else self.state.load(ids)
        plan = planner.plan(findings, stored, scope, now=now, aws_now=self.state.aws_now, token=uuid.uuid4().hex)
        report.stale += plan.tally.stale
        report.unchanged += plan.tally.unchanged
        Delivery(
            self.state,
            planner,
            plan,
            security_hub=self.security_hub,
            alerts=self.alerts,
            write_concurrency=self.settings.write_concurrency,
            deadline=deadline,
        ).run(report)
        return report
