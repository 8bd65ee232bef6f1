"""The publish planner, property-tested without AWS: plans are delivered by a model of the state protocol.

``deliver`` below does what :mod:`veeam_role_auditor.publish.deliver` and the state table do when every call
succeeds: a claim stores the record with version + 1; a Security Hub confirmation records ``sh_key`` (only
if the version is still the claimed one); an alert confirmation records ``alert_key`` (only if this run's
token still holds the claim).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veeam_role_auditor.model import Finding, finding_id, iso
from veeam_role_auditor.publish.alerts import Message
from veeam_role_auditor.publish.clock import ClockSkewError
from veeam_role_auditor.publish.planner import (
    AlertPlan,
    Plan,
    Planner,
    PublishSettings,
    Scope,
    Step,
    content_digest,
    only_observation,
)
from veeam_role_auditor.publish.record import StoredFinding
from veeam_role_auditor.suppressions import SUPPRESSED, SUPPRESSED_BY, SUPPRESSED_UNTIL, is_suppressed

ACCOUNT = "123456789012"
ROLES = tuple(f"arn:aws:iam::{ACCOUNT}:role/veeam-{n}" for n in range(4))
CHECKS = ("VRA-TRUST-1", "VRA-TRUST-2", "VRA-IDENTITY-1")
STATUSES = ("PASSED", "FAILED", "WARNING", "NOT_AVAILABLE")
SEVERITIES = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")
T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)

# One finding's result: (status, severity, suppressed, a detail that changes its content but not its status).
results = st.tuples(st.sampled_from(STATUSES), st.sampled_from(SEVERITIES), st.booleans(), st.integers(0, 1))
keys = st.sampled_from([(role, check) for role in ROLES for check in CHECKS])
# A run's view: which (role, check) it has a finding for, and each one's result.
views = st.dictionaries(keys, results, max_size=len(ROLES) * len(CHECKS))
settings_strategy = st.builds(
    PublishSettings,
    region=st.just("us-east-1"),
    digest_threshold=st.integers(1, 5),
    min_alert_severity=st.sampled_from(SEVERITIES),
)


def finding(role: str, check: str, result: tuple[str, str, bool, int], observed: datetime) -> Finding:
    status, severity, suppressed, detail = result
    extra = {SUPPRESSED: "accepted", SUPPRESSED_BY: "rule 1", SUPPRESSED_UNTIL: "2027-01-01"} if suppressed else {}
    return Finding(
        id=finding_id("aws", ACCOUNT, check, role),
        check=check,
        status=status,  # type: ignore[arg-type]
        severity=severity,  # type: ignore[arg-type]
        title=f"{check} on {role}",
        description="d",
        remediation="r",
        role_arn=role,
        account=ACCOUNT,
        partition="aws",
        appliance_role_arns=("arn:aws:iam::123456789012:role/appliance",),
        observed_at=observed,
        details=(f"detail {detail}",),
        extra=extra,
    )


def findings_of(view: dict[tuple[str, str], Any], observed: datetime) -> list[Finding]:
    return [finding(role, check, result, observed) for (role, check), result in sorted(view.items())]


def full(observed: datetime) -> Scope:
    return Scope(account=ACCOUNT, partition="aws", observed_at=observed, full=True)


def planner_for(settings: PublishSettings, *, security_hub: bool = True, alerts: bool = True) -> Planner:
    return Planner(settings, security_hub=security_hub, alerts=alerts)


def plan_run(
    planner: Planner,
    findings: list[Finding],
    stored: dict[str, StoredFinding],
    scope: Scope,
    now: datetime,
    token: str,
) -> Plan:
    return planner.plan(findings, stored, scope, now=now, aws_now=now, token=token)


def deliver(
    planner: Planner, plan: Plan, stored: dict[str, StoredFinding]
) -> tuple[dict[str, StoredFinding], AlertPlan]:
    """The state after every claim, import and alert of ``plan`` succeeded."""
    state = dict(stored)
    claimed: list[Step] = []
    for step in plan.steps:
        if step.write:
            record = replace(step.record, version=(step.previous.version if step.previous else 0) + 1)
            assert state.get(record.finding_id) == step.previous  # the claim's condition holds: nobody else writes
            state[record.finding_id] = record
            claimed.append(replace(step, record=record))
        else:
            claimed.append(step)
    for item in planner.imports(claimed):
        record = state[item.step.record.finding_id]
        if record.version == item.step.record.version:
            state[record.finding_id] = replace(
                record,
                sh_key=item.step.record.content_key,
                sh_updated_at=item.updated_at,
                created_at=record.created_at or item.updated_at,
                sh_workflow=item.workflow.status if item.workflow else record.sh_workflow,
            )
    alerts = planner.alerts_for(claimed, plan.token)
    for step in alerts.due:
        record = state[step.record.finding_id]
        if record.alert_pending == plan.token:
            state[record.finding_id] = replace(
                record, alert_key=step.record.status_key, alert_pending=None, alert_pending_since=None
            )
    return state, alerts


def history(planner: Planner, earlier: list[dict[tuple[str, str], Any]]) -> tuple[dict[str, StoredFinding], datetime]:
    """The state after full scans of ``earlier`` views, an hour apart, each delivered; and the next hour."""
    stored: dict[str, StoredFinding] = {}
    moment = T0
    for number, view in enumerate(earlier):
        plan = plan_run(planner, findings_of(view, moment), stored, full(moment), moment, f"run{number}")
        stored, _ = deliver(planner, plan, stored)
        moment += timedelta(hours=1)
    return stored, moment


# ---------------------------------------------------------------------- properties


@given(settings_strategy, st.lists(views, max_size=3), views, st.booleans(), st.booleans(), st.booleans())
def test_planning_again_after_a_delivered_plan_finds_nothing_to_do(
    settings: PublishSettings,
    earlier: list[dict[tuple[str, str], Any]],
    view: dict[tuple[str, str], Any],
    security_hub: bool,
    alerts: bool,
    event_driven: bool,
) -> None:
    planner = planner_for(settings, security_hub=security_hub, alerts=alerts)
    stored, moment = history(planner, earlier)
    scope = full(moment) if not event_driven else Scope(ACCOUNT, "aws", moment, role_arns=frozenset(ROLES))
    findings = findings_of(view, moment)
    stored, _ = deliver(planner, plan_run(planner, findings, stored, scope, moment, "run"), stored)
    again = plan_run(planner, findings, stored, scope, moment + timedelta(minutes=1), "again")
    assert again.steps == ()
    assert planner.alerts_for(again.steps, "again").messages == ()


@given(settings_strategy, st.lists(views, max_size=3), views)
def test_every_new_or_changed_finding_is_imported(
    settings: PublishSettings, earlier: list[dict[tuple[str, str], Any]], view: dict[tuple[str, str], Any]
) -> None:
    planner = planner_for(settings)
    stored, moment = history(planner, earlier)
    findings = findings_of(view, moment)
    plan = plan_run(planner, findings, stored, full(moment), moment, "run")
    imported = {item.step.record.finding_id for item in planner.imports(plan.steps)}
    changed = {
        f.id for f in findings if f.id not in stored or stored[f.id].content_key != f"{content_digest(f)}|ACTIVE"
    }
    assert changed <= imported
    gone = {i for i, record in stored.items() if record.record_state == "ACTIVE"} - {f.id for f in findings}
    assert gone <= imported  # archived
    documents = {item.step.record.finding_id: item.document for item in planner.imports(plan.steps)}
    assert all(documents[i]["RecordState"] == "ARCHIVED" for i in gone)


@given(settings_strategy, st.lists(views, min_size=1, max_size=3), views)
def test_no_alert_for_an_unchanged_or_suppressed_finding(
    settings: PublishSettings, earlier: list[dict[tuple[str, str], Any]], view: dict[tuple[str, str], Any]
) -> None:
    planner = planner_for(settings)
    stored, moment = history(planner, earlier)
    findings = findings_of(view, moment)
    plan = plan_run(planner, findings, stored, full(moment), moment, "run")
    alerted = {step.record.finding_id: step.transition for step in plan.steps if step.transition is not None}
    for f in findings:
        told = stored[f.id].alert_key if f.id in stored else None
        if told == f"{f.status}|{f.severity}|ACTIVE" or (f.status == "PASSED" and told is None):
            assert f.id not in alerted, "nothing changed for subscribers"
        if is_suppressed(f) and f.id in alerted:
            transition = alerted[f.id]
            assert transition is not None
            assert transition.kind in ("resolved", "archived")


@given(settings_strategy, views)
def test_the_digest_threshold_decides_between_single_messages_and_one_digest(
    settings: PublishSettings, view: dict[tuple[str, str], Any]
) -> None:
    planner = planner_for(settings)
    findings = findings_of(view, T0)
    plan = plan_run(planner, findings, {}, full(T0), T0, "run")
    alerts = planner.alerts_for(plan.steps, "run")
    transitions = [step.transition for step in plan.steps if step.transition is not None]
    assert list(alerts.transitions) == transitions
    if len(transitions) > settings.digest_threshold:
        ((steps, message),) = alerts.messages
        assert steps == alerts.due
        assert isinstance(message, Message)
        assert str(len(transitions)) in message.subject
    else:
        assert [steps for steps, _ in alerts.messages] == [(step,) for step in alerts.due]
    # Only the steps this run claimed with its token are due: another token's claims are not.
    assert planner.alerts_for(plan.steps, "another run").messages == ()


@given(settings_strategy, st.lists(views, min_size=1, max_size=3), views)
def test_an_older_observation_is_stale_and_plans_nothing(
    settings: PublishSettings, earlier: list[dict[tuple[str, str], Any]], view: dict[tuple[str, str], Any]
) -> None:
    planner = planner_for(settings)
    stored, moment = history(planner, earlier)
    older = T0 - timedelta(minutes=1)  # read before every stored observation
    findings = findings_of(view, older)
    plan = plan_run(planner, findings, stored, full(older), moment, "late")
    assert plan.steps == tuple(step for step in plan.steps if step.record.finding_id not in stored)
    assert plan.tally.stale == sum(1 for f in findings if f.id in stored) + sum(
        1 for i, record in stored.items() if record.record_state == "ACTIVE" and i not in {f.id for f in findings}
    )


@given(settings_strategy, st.lists(views, min_size=1, max_size=3))
def test_an_unchanged_event_observation_claims_only_its_time_and_a_full_scan_writes_nothing(
    settings: PublishSettings, earlier: list[dict[tuple[str, str], Any]]
) -> None:
    planner = planner_for(settings)
    stored, moment = history(planner, earlier)
    last = earlier[-1]
    role = ROLES[0]
    view = {key: result for key, result in last.items() if key[0] == role}
    findings = findings_of(view, moment)
    event = plan_run(planner, findings, stored, Scope(ACCOUNT, "aws", moment, role_arns=frozenset({role})), moment, "e")
    assert [step.record.finding_id for step in event.steps] == [f.id for f in findings]
    assert all(only_observation(step) and not step.needs_security_hub for step in event.steps)
    assert {step.record.observed_at for step in event.steps} <= {iso(moment)}
    assert plan_run(planner, findings_of(last, moment), stored, full(moment), moment, "f").steps == ()


def test_observations_from_the_future_are_refused() -> None:
    planner = planner_for(PublishSettings(region="us-east-1"))
    ahead = T0 + timedelta(minutes=6)
    with pytest.raises(ClockSkewError, match="6 min ahead of AWS's clock"):
        planner.plan(
            findings_of({(ROLES[0], CHECKS[0]): ("PASSED", "LOW", False, 0)}, ahead),
            {},
            full(ahead),
            now=T0,
            aws_now=T0,
            token="t",
        )


def test_the_planner_imports_nothing_of_boto3_or_botocore() -> None:
    """The planner and every module it imports, followed through the package's source (not by importing:
    the publish package's own ``__init__`` wires the AWS adapters)."""
    import ast
    from pathlib import Path

    import veeam_role_auditor

    root = Path(veeam_role_auditor.__file__).parent

    def source(module: str) -> Path:
        path = root.joinpath(*module.split(".")[1:])
        return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")

    seen: set[str] = set()
    outside: set[str] = set()
    pending = ["veeam_role_auditor.publish.planner"]
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        path = source(module)
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                outside.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                outside.add((node.module or "").split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
                for name in [target] + [f"{target}.{alias.name}" for alias in node.names]:
                    if source(name).exists() and name != "veeam_role_auditor.publish":
                        pending.append(name)
    assert "veeam_role_auditor.publish.alerts" in seen
    assert "veeam_role_auditor.model" in seen
    assert not outside & {"boto3", "botocore", "urllib3", "socket", "requests"}, sorted(outside)
    assert not {m for m in seen if m.endswith((".state", ".deliver", ".securityhub", ".publisher"))}
