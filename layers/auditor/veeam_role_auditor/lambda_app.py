"""What the Lambda functions do, behind their thin handlers: testable without Lambda.

- A full scan (schedule, or a change to an appliance role): every role, every check, published.
- An IAM change to one role: read that role again (GetRole + ListRoleTags), assess, publish, and
  queue a re-check after IAM's propagation delay (trust policy changes take up to 5 minutes).
- A re-check from the delay queue: the same, without queueing another.

A warm iam_change container reuses the appliance roles it read for an earlier event for
``VRA_APPLIANCE_MAX_AGE`` seconds (:class:`ApplianceCache`); full scans always read them afresh.

Both apply the suppression rules of the SSM parameter named by ``VRA_SUPPRESSIONS_PARAMETER`` (JSON; see
:func:`AuditorApp.suppression_rules`) to the findings before publishing.
"""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from . import checks, threads
from .assess import ASSESSMENT_ERROR, assess_role, assess_untagged_role, prepare_appliances
from .checks import PurposeScan
from .cloudtrail import POLICY_EVENTS, IamChange
from .deadline import NO_DEADLINE, Deadline, OutOfTimeError
from .inventory import Caller, Inventory
from .model import ApplianceState, Finding, finding_id
from .policy import parse_role_arn
from .publish import PublishError, PublishReport, Scope, make_publisher
from .publish.state import StateStore
from .scan import full_scope, scan_account, selected
from .settings import LambdaConfig, ScanSettings
from .suppressions import SuppressionError, SuppressionRule, apply_suppressions, parse_rules, split_expired

LOGGER = logging.getLogger(__name__)
SUPPRESSIONS_MAX_AGE = 300
"""Seconds a container reuses the suppression rules it read from SSM (Powertools Parameters' cache): an
edit of the parameter applies within 5 minutes, and a busy function reads it at most 12 times an hour."""
# One Powertools SSMProvider (and so one cache) per SSM client, that is per container: the handlers keep
# their clients for the container's life (aws.Clients.for_lambda), and the provider goes with its client.
_SSM_PROVIDERS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


class MetricSink(Protocol):
    def add_metric(self, name: str, unit: str, value: float) -> None: ...


class NoMetrics:
    def add_metric(self, name: str, unit: str, value: float) -> None:
        del name, unit, value


class PowertoolsMetrics:
    """Adapts a Powertools ``Metrics`` (keyword arguments) to :class:`MetricSink`."""

    def __init__(self, metrics: Any) -> None:
        self._metrics = metrics

    def add_metric(self, name: str, unit: str, value: float) -> None:
        self._metrics.add_metric(name=name, unit=unit, value=value)


@dataclass
class ApplianceRead:
    """The appliance (Impersonation) roles as read for an event: the states, when they were read, and the
    appliance id history of the state table (read on first need)."""

    key: tuple[str, str, tuple[str, ...]]
    """Partition, account and the configured appliance role ARNs the read is for."""
    states: tuple[ApplianceState, ...]
    read_at: datetime
    history: dict[str, str] | None = None


class ApplianceCache:
    """The appliance roles as this container last read them, for the events that follow within ``max_age``.

    Reading the Impersonation role costs about ten calls (GetRole, ListRoleTags, its inline policies,
    ListAttachedRolePolicies and each managed policy's default version, ListInstanceProfilesForRole) and an
    event about another role does not change it. A change to the appliance role arrives as its own
    CloudTrail event: that event never uses the cache, empties it and triggers a full scan, which reads the
    appliance from GetAccountAuthorizationDetails. So does a change to a managed policy's default version
    (read afresh to see whether the policy is an appliance's).

    What the reuse costs: when another container processes the appliance's event, this one may assess
    roles with the appliance as it was for up to ``max_age`` seconds more (60 by default). That is well
    within IAM's own propagation time (a trust policy change "may take up to 5 minutes", which the event
    path already lives with), and it is corrected the same way: each event queues a re-check that runs
    after the queue's 300 s delay, longer than ``max_age``, so it reads the appliance afresh; the appliance
    change queues a full-scan re-check too. The observation time stays the role's read time, so the state
    table still orders two reads of the same role (the stale-observation guard is unchanged).
    """

    def __init__(self) -> None:
        self._read: ApplianceRead | None = None

    def get(self, key: tuple[str, str, tuple[str, ...]], now: datetime, max_age: float) -> ApplianceRead | None:
        """The last read for ``key`` if it is younger than ``max_age`` seconds (a clock gone back: none)."""
        read = self._read
        if read is None or read.key != key:
            return None
        age = (now - read.read_at).total_seconds()
        return read if 0 <= age < max_age else None

    def put(self, read: ApplianceRead) -> None:
        self._read = read

    def clear(self) -> None:
        self._read = None


def carry_trace_context(tracer: Any) -> None:
    """Traced AWS calls made in the auditor's own threads (a scan's read-ahead, the publisher's parallel
    writes) are recorded inside the invocation's ``## lambda_handler`` subsegment, as the handler thread's are.

    The X-Ray SDK keeps the current segment per thread: a thread it was never told about records its calls
    straight under the function's segment, beside the handler's subsegment. So every handover of work
    (:func:`.threads.carried`) takes the handing thread's trace entity along, as the SDK's documentation
    shows for worker threads. ``tracer`` is the handler's Powertools Tracer; nothing is done when it is
    disabled (the recorder would then complain of a missing segment outside Lambda).
    """
    if tracer.disabled:
        return
    recorder = tracer.provider

    def capture() -> Callable[[], object]:
        entity = recorder.get_trace_entity()
        return lambda: recorder.set_trace_entity(entity)

    threads.carry("xray", capture)


def caller_from_context(context: Any) -> Caller:
    """Account and partition from the function's own ARN: no sts:GetCallerIdentity call needed."""
    arn = str(context.invoked_function_arn)
    parts = arn.split(":")
    return Caller(partition=parts[1], account=parts[4], arn=arn)


def report_summary(report: PublishReport) -> dict[str, Any]:
    return report.as_dict()


class ParameterReadError(Exception):
    """An SSM parameter could not be read (missing, access denied, throttled beyond the retries)."""


def read_parameter(ssm: Any, name: str) -> str:
    """The value of an SSM parameter through Powertools Parameters, cached ``SUPPRESSIONS_MAX_AGE`` seconds
    per container (a failed read is not cached: the next invocation tries again)."""
    # Powertools comes from its Lambda layer; the command line does not need it.
    from aws_lambda_powertools.utilities.parameters import SSMProvider
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    provider = _SSM_PROVIDERS.get(ssm)
    if provider is None:
        provider = _SSM_PROVIDERS[ssm] = SSMProvider(boto3_client=ssm)
    try:
        return str(provider.get(name, max_age=SUPPRESSIONS_MAX_AGE))
    except GetParameterError as exc:
        raise ParameterReadError(f"SSM parameter {name} cannot be read: {exc}") from None


class AuditorApp:
    def __init__(
        self,
        config: LambdaConfig,
        clients: Callable[[str], Any],
        *,
        metrics: MetricSink | None = None,
        clock: Callable[[], datetime] | None = None,
        appliance_cache: ApplianceCache | None = None,
    ) -> None:
        """``appliance_cache``: the container's (kept across invocations); None reads the appliance per event."""
        self.config = config
        self.clients = clients
        self.metrics = metrics or NoMetrics()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.appliance_cache = appliance_cache

    # ------------------------------------------------------------------ wiring

    @property
    def inventory(self) -> Inventory:
        return Inventory(self.clients("iam"), sts=None, now=self.clock)

    @property
    def store(self) -> StateStore:
        return StateStore(self.clients("dynamodb"), self.config.table_name)

    def publisher(self) -> Any:
        return make_publisher(
            dynamodb=self.clients("dynamodb"),
            securityhub=self.clients("securityhub"),
            sns=self.clients("sns"),
            table_name=self.config.table_name,
            topic_arn=self.config.topic_arn,
            settings=self.config.publish,
            clock=self.clock,
        )

    # ------------------------------------------------------------------ full scan

    def full_scan(self, caller: Caller, *, reason: str, deadline: Deadline = NO_DEADLINE) -> dict[str, Any]:
        """Scan and publish every role; out of time, stop cleanly and say how far it got."""
        inventory = _FixedCaller(self.clients("iam"), caller, self.clock)
        store = self.store
        history = store.appliance_history(caller.account)
        try:
            result = scan_account(inventory, self.config.scan, previous_appliance_ids=history, deadline=deadline)
        except OutOfTimeError as exc:
            # Nothing published, nothing archived: the next run starts again from a complete read.
            self.metrics.add_metric("ScansIncomplete", "Count", 1)
            return {"status": "incomplete", "reason": reason, "detail": str(exc)}
        store.remember_appliance_ids(
            caller.account, {state.role_id: state.role_arn for state in result.appliances if state.role_id}
        )
        findings = self._suppress(result.findings)
        report = self._publish(findings, full_scope(result), deadline, roles=result.roles_in_scope)
        return {
            "status": "complete" if not report.deferred else "partly published",
            "reason": reason,
            "roles_read": result.roles_seen,
            "roles_in_scope": result.roles_in_scope,
            **report_summary(report),
        }

    # ------------------------------------------------------------------ one role

    def on_iam_change(self, change: IamChange, caller: Caller, *, recheck: bool = True) -> dict[str, Any]:
        """Re-evaluate what one IAM change can affect, and queue the delayed re-check."""
        if change.event_name in POLICY_EVENTS:
            # Never from the cache: a policy attached to the appliance a moment ago must be seen.
            appliances = self._appliance_read(caller, fresh=True).states
            touched = [s for s in appliances if change.policy_arn in _policy_arns(s)]
            if not touched:
                return {"status": "skipped", "reason": f"{change.policy_arn} is not attached to an appliance role"}
            return self._appliance_changed(change, caller, recheck)
        role_name = change.role_name
        if role_name is None:  # cloudtrail.parse_event gives every role event a role name
            raise ValueError(f"{change.event_name} event {change.event_id} names no role")
        if _is_appliance(role_name, self.config.scan, caller):
            return self._appliance_changed(change, caller, recheck)
        # IAM cannot change a role's path: moving a role is DeleteRole + CreateRole under the same name.
        # Their events may arrive after both calls, so they also cover roles stored under that name.
        moved = change.event_name in ("CreateRole", "DeleteRole")
        summary = self.evaluate_role(role_name, caller, same_name=moved)
        if recheck:
            body: dict[str, Any] = {
                "role_name": change.role_name,
                "reason": "recheck",
                "source_event_id": change.event_id,
            }
            if moved:
                body["same_name"] = True
            self._queue_recheck(body)
        return summary

    def evaluate_role(self, role_name: str, caller: Caller, *, same_name: bool = False) -> dict[str, Any]:
        """Read one role, assess it and publish; a deleted role's findings are archived.

        ``same_name``: also speak for every stored role of that name (any path), so findings of a role
        deleted and re-created under another path are archived.
        """
        read = self._appliance_read(caller)
        appliances = read.states
        observed = self.clock()
        role = self.inventory.role(role_name)
        findings: list[Finding] = []
        if role is None:
            arns = self.store.role_arns_named(caller.account, role_name)
            state = "deleted"
        else:
            arns = {role.arn} | (self.store.role_arns_named(caller.account, role_name) if same_name else set())
            if self.config.scan.in_scope(role.tags, role.path):
                if read.history is None:
                    read.history = self.store.appliance_history(caller.account)
                purposes = PurposeScan.from_settings(self.config.scan)
                if purposes.declared(role) is not None:
                    # Its purposes are re-checked too: read its policies (only for a role that declares any).
                    role, purposes.role_permissions[role.arn] = self.inventory.role_permissions(role)
                findings = assess_role(
                    role,
                    appliances,
                    self.config.scan,
                    previous_appliance_ids=read.history,
                    account=caller.account,
                    partition=caller.partition,
                    purposes=purposes,
                )
                state = "in scope"
            else:
                drift = assess_untagged_role(role, appliances, self.config.scan)
                findings = [drift] if drift else []
                state = "out of scope"
                if not findings and arns == {role.arn} and not self._audited(caller, role.arn):
                    return {"status": "skipped", "role_name": role_name, "reason": "out of scope, never audited"}
        if not arns:
            return {"status": "skipped", "role_name": role_name, "reason": "deleted, and never audited"}
        findings = self._suppress(selected(findings, self.config.scan))
        scope = Scope(
            account=caller.account, partition=caller.partition, observed_at=observed, role_arns=frozenset(arns)
        )
        report = self._publish(findings, scope, roles=1)
        return {"status": "evaluated", "role_name": role_name, "role": state, **report_summary(report)}

    def recheck(self, body: Mapping[str, Any], caller: Caller, deadline: Deadline = NO_DEADLINE) -> dict[str, Any]:
        """A message from the delay queue: {"role_name": ...} or {"full_scan": true}."""
        if body.get("full_scan") is True:
            if self.config.scan_function_name:
                return self._request_full_scan(
                    self.config.scan_function_name, "re-check after an appliance change", None
                )
            return self.full_scan(caller, reason="re-check after an appliance change", deadline=deadline)
        role_name = body.get("role_name")
        if not isinstance(role_name, str) or not role_name:
            raise ValueError(f"re-check message without role_name: {json.dumps(body)[:200]}")
        return self.evaluate_role(role_name, caller, same_name=body.get("same_name") is True)

    # ------------------------------------------------------------------ suppressions

    def suppression_rules(self) -> tuple[SuppressionRule, ...]:
        """The suppression rules in force today, from the SSM parameter (none when no parameter is set).

        Rules that cannot be used (the parameter is missing or unreadable, or any rule is invalid) are not
        used at all: an ERROR log names the parameter and the rule, the SuppressionRulesInvalid metric
        raises its alarm, and the run publishes without suppressions. That errs on the safe side: an
        accepted exception may alert, but a broken rule set never silences a failure. An expired rule is
        named in a WARNING per run and counted in SuppressionRulesExpired until it is removed.
        """
        name = self.config.suppressions_parameter
        if not name:
            return ()
        source = f"SSM parameter {name}"
        try:
            text = read_parameter(self.clients("ssm"), name)
            _check_json(text, source)
            rules = parse_rules(text, source, known_checks=tuple(checks.CATALOGUE))
        except (SuppressionError, ParameterReadError) as exc:
            return self._rules_unusable(str(exc))
        active, expired = split_expired(rules, self.clock().date())
        for rule in expired:
            LOGGER.warning(
                "suppression rule expired and no longer applies; remove it or extend it with a new reason",
                extra={"rule": rule.describe()},
            )
        self.metrics.add_metric("SuppressionRulesExpired", "Count", len(expired))
        return active

    def _rules_unusable(self, reason: str) -> tuple[SuppressionRule, ...]:
        LOGGER.error(
            "suppression rules not used, publishing without suppressions (suppressed failures alert again) "
            "until the parameter is fixed",
            extra={"reason": reason},
        )
        self.metrics.add_metric("SuppressionRulesInvalid", "Count", 1)
        return ()

    def _suppress(self, findings: Sequence[Finding]) -> list[Finding]:
        rules = self.suppression_rules()
        return apply_suppressions(findings, rules) if rules else list(findings)

    # ------------------------------------------------------------------ helpers

    def _publish(
        self,
        findings: list[Finding] | tuple[Finding, ...],
        scope: Scope,
        deadline: Deadline = NO_DEADLINE,
        *,
        roles: int,
    ) -> PublishReport:
        """Publish and record the metrics, also when publishing fails (the run then fails: Lambda's Errors
        metric and its retries; what was not delivered is not confirmed, so the next run delivers it)."""
        try:
            report: PublishReport = self.publisher().publish(findings, scope, deadline)
        except PublishError as failed:
            self._metrics(failed.report, roles=roles, findings=findings)
            self.metrics.add_metric("PublishFailures", "Count", 1)
            raise
        self._metrics(report, roles=roles, findings=findings)
        return report

    def _audited(self, caller: Caller, role_arn: str) -> bool:
        """Whether the state table holds findings for this role (so leaving the scope archives them)."""
        ids = [finding_id(caller.partition, caller.account, code, role_arn) for code in checks.CATALOGUE]
        return bool(self.store.load(ids))

    def _appliance_read(self, caller: Caller, *, fresh: bool = False) -> ApplianceRead:
        """The appliance roles: this container's earlier read while younger than ``appliance_max_age`` (unless
        ``fresh``), else read now with targeted calls (and kept for the next events)."""
        arns = self.config.scan.appliance_role_arns
        key = (caller.partition, caller.account, arns)
        cache = self.appliance_cache
        if cache is not None and not fresh:
            cached = cache.get(key, self.clock(), self.config.appliance_max_age)
            if cached is not None:
                return cached
        read_at = self.clock()
        inventory = self.inventory
        states = prepare_appliances([inventory.appliance_state_direct(arn, caller) for arn in arns])
        read = ApplianceRead(key=key, states=states, read_at=read_at)
        if cache is not None:
            cache.put(read)
        return read

    def _request_full_scan(self, function_name: str, reason: str, event_id: str | None) -> dict[str, Any]:
        """Hand a full scan to the scan function (reserved concurrency 1: scans never overlap)."""
        payload = {"source": "veeam-role-auditor", "reason": reason, "event_id": event_id}
        self.clients("lambda").invoke(
            FunctionName=function_name,
            InvocationType="Event",
            Payload=json.dumps(payload).encode(),
        )
        return {"status": "full scan requested", "reason": reason}

    def _appliance_changed(self, change: IamChange, caller: Caller, recheck: bool) -> dict[str, Any]:
        """Every role depends on the appliance: a full scan, by the scan function when there is one."""
        if self.appliance_cache is not None:
            self.appliance_cache.clear()
        reason = f"{change.event_name} on an appliance role"
        if self.config.scan_function_name:
            summary = self._request_full_scan(self.config.scan_function_name, reason, change.event_id)
        else:
            summary = {**self.full_scan(caller, reason=reason), "status": "evaluated"}
        if recheck:
            self._queue_recheck({"full_scan": True, "reason": "recheck", "source_event_id": change.event_id})
        return summary

    def _queue_recheck(self, body: dict[str, Any]) -> None:
        if not self.config.recheck_queue_url:
            return
        # The queue's DelaySeconds (300) holds the message for IAM's propagation time.
        self.clients("sqs").send_message(QueueUrl=self.config.recheck_queue_url, MessageBody=json.dumps(body))

    def _metrics(self, report: PublishReport, *, roles: int, findings: list[Finding] | tuple[Finding, ...]) -> None:
        add = self.metrics.add_metric
        add("RolesEvaluated", "Count", roles)
        # Roles whose assessment raised: each has NOT_AVAILABLE findings saying why (assess.not_assessed).
        unassessed = {f.role_arn: f.details[0] for f in findings if ASSESSMENT_ERROR in f.extra and f.details}
        add("RolesNotAssessed", "Count", len(unassessed))
        for role_arn, reason in sorted(unassessed.items())[:20]:  # the findings carry every one
            LOGGER.warning("role not assessed", extra={"role_arn": role_arn, "reason": reason})
        for status in ("FAILED", "WARNING", "PASSED", "NOT_AVAILABLE"):
            add(f"Findings{status.title().replace('_', '')}", "Count", sum(1 for f in findings if f.status == status))
        add("Transitions", "Count", len(report.transitions))
        add("AlertMessagesSent", "Count", report.messages_sent)
        add("AlertFailures", "Count", report.alert_failures)
        add("FindingsImported", "Count", report.imported)
        add("ImportFailures", "Count", len(report.import_failures))
        add("SecurityHubDisabled", "Count", 1 if report.security_hub_disabled else 0)
        add("FindingsDeferred", "Count", report.deferred)
        add("FindingsSuppressed", "Count", report.suppressed)


def _check_json(text: str, source: str) -> None:
    """The parameter's rules are JSON: say so plainly, whether or not PyYAML happens to be installed (the
    layer has none, so YAML is refused in Lambda and in tests alike)."""
    if not text.strip():
        return
    try:
        json.loads(text)
    except ValueError as exc:
        raise SuppressionError(f"{source}: not valid JSON (the parameter holds the rules as JSON): {exc}") from None


class _FixedCaller(Inventory):
    """An inventory that knows its caller already (from the Lambda context)."""

    def __init__(self, iam: Any, caller: Caller, clock: Callable[[], datetime]) -> None:
        super().__init__(iam, sts=None, now=clock)
        self._caller = caller

    def caller(self) -> Caller:
        return self._caller


def _is_appliance(role_name: str, settings: ScanSettings, caller: Caller) -> bool:
    for arn in settings.appliance_role_arns:
        role = parse_role_arn(arn)
        if role.account == caller.account and role.name.lower() == role_name.lower():
            return True
    return False


def _policy_arns(state: ApplianceState) -> set[str]:
    if state.snapshot is None:
        return set()
    arns = set(state.snapshot.attached_policy_arns)
    if state.snapshot.boundary_arn:
        arns.add(state.snapshot.boundary_arn)
    return arns


__all__ = ["AuditorApp", "LambdaConfig", "caller_from_context"]
