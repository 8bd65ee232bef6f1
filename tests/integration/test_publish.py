"""Publishing on moto: Security Hub imports, SNS alerts through an SQS subscriber, state lifecycle."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from veeam_role_auditor.dev.asff_validation import validate_batch
from veeam_role_auditor.dev.sample_account import (
    SampleAccount,
    expected_alerts,
    expected_count,
    expected_results,
    findings_per_role,
)
from veeam_role_auditor.inventory import Inventory
from veeam_role_auditor.model import iso
from veeam_role_auditor.publish.alerts import AlertSink
from veeam_role_auditor.publish.clock import ClockSkewError
from veeam_role_auditor.publish.deliver import Delivery
from veeam_role_auditor.publish.publisher import Publisher, PublishError, PublishReport, PublishSettings, Scope
from veeam_role_auditor.publish.securityhub import SecurityHubSink
from veeam_role_auditor.publish.state import StateStore, create_table
from veeam_role_auditor.scan import scan_account
from veeam_role_auditor.settings import ScanSettings

TABLE = "veeam-role-auditor-state"
MISSING = "VeeamSnapshotMissingTrust"

FINDINGS = expected_count()
"""The first scan of the sample account: every finding (derived from the catalogue and the account)."""
ALERTS = expected_alerts()
"""Its failures at MEDIUM or above: one alert each."""
PER_ROLE = findings_per_role()
"""The findings of one role that declares no purpose."""


@dataclass
class Received:
    subject: str
    attributes: dict[str, str]
    body: str

    @property
    def machine(self) -> Any:
        return json.loads(self.body.split("--- machine-readable ---\n", 1)[1])


@dataclass
class Pipeline:
    inventory: Inventory
    sample: SampleAccount
    store: StateStore
    securityhub: Any
    sns: Any
    sqs: Any
    topic_arn: str
    queue_url: str
    imports: list[list[dict[str, Any]]] = field(default_factory=list)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def publisher(self, **settings: Any) -> Publisher:
        return Publisher(
            self.store,
            settings=PublishSettings(region="us-east-1", **settings),
            security_hub=SecurityHubSink(self.securityhub),
            alerts=AlertSink(self.sns, self.topic_arn),
            clock=lambda: self.now,
        )

    def run(self, publisher: Publisher | None = None) -> PublishReport:
        result = scan_account(self.inventory, ScanSettings(appliance_role_arns=(self.sample.appliance_role_arn,)))
        scope = Scope(account=self.sample.account, partition="aws", observed_at=result.started_at, full=True)
        return (publisher or self.publisher()).publish(result.findings, scope)

    def received(self) -> list[Received]:
        messages: list[Received] = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return messages
            for message in batch:
                envelope = json.loads(message["Body"])
                attributes = {name: value["Value"] for name, value in envelope["MessageAttributes"].items()}
                messages.append(Received(envelope["Subject"], attributes, envelope["Message"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def security_hub_finding(self, finding_id: str) -> dict[str, Any]:
        latest = [document for batch in self.imports for document in batch if document["Id"] == finding_id]
        return latest[-1]


@pytest.fixture
def pipeline(
    inventory: Inventory, sample: SampleAccount, dynamodb: Any, securityhub: Any, sns: Any, sqs: Any
) -> Pipeline:
    create_table(dynamodb, TABLE)
    topic_arn = sns.create_topic(Name="veeam-role-auditor-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    harness = Pipeline(inventory, sample, StateStore(dynamodb, TABLE), securityhub, sns, sqs, topic_arn, queue_url)
    securityhub.meta.events.register(
        "provide-client-params.securityhub.BatchImportFindings",
        lambda params, **_: harness.imports.append(json.loads(json.dumps(params["Findings"]))),
    )
    return harness


def finding_id(pipeline: Pipeline, check: str, role: str) -> str:
    arn = pipeline.sample.role_arns.get(role) or pipeline.sample.appliance_role_arn
    return f"veeam-role-auditor/aws/{pipeline.sample.account}/{check}/{arn}"


def break_trust(pipeline: Pipeline, iam: Any, role: str = MISSING) -> None:
    iam.update_assume_role_policy(
        RoleName=role,
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )


def fix_trust(pipeline: Pipeline, iam: Any, role: str = MISSING) -> None:
    iam.update_assume_role_policy(
        RoleName=role,
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": pipeline.sample.appliance_role_arn},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )


# ---------------------------------------------------------------------- first and second scan


def test_first_scan_imports_every_finding_and_alerts_each_failure_once(pipeline: Pipeline) -> None:
    report = pipeline.run()
    assert report.as_dict() == {
        "findings": FINDINGS,
        "unchanged": 0,
        "claimed": FINDINGS,
        "stale": 0,
        "conflicts": 0,
        "imported": FINDINGS,
        "import_failures": 0,
        "security_hub_disabled": False,
        "security_hub_calls": math.ceil(FINDINGS / 100),
        "archived": 0,
        "transitions": ALERTS,
        "messages_sent": ALERTS,
        "alert_failures": 0,
        "deferred": 0,
        "security_hub_error": None,
        "suppressed": 0,
        "workflow_updates": 0,
    }
    assert [validate_batch(batch) for batch in pipeline.imports] == [[]] * len(pipeline.imports)  # each call
    pages = pipeline.securityhub.get_paginator("get_findings").paginate()
    assert sum(len(page["Findings"]) for page in pages) == FINDINGS
    messages = pipeline.received()
    # Default minimum severity MEDIUM: the two LOW and the INFORMATIONAL failures are not alerted.
    assert sorted(m.attributes["severity"] for m in messages) == sorted(
        severity
        for results in expected_results().values()
        for status, severity in results.values()
        if status != "PASSED" and severity not in ("LOW", "INFORMATIONAL")
    )
    assert {m.attributes["transition"] for m in messages} == {"new_failure"}
    for message in messages:
        assert len(message.subject) < 100
        assert "\n" not in message.subject
        assert set(message.attributes) == {"severity", "check", "status", "account", "transition"}
        assert message.machine["finding"]["status"] == message.attributes["status"]


def test_second_scan_without_changes_imports_and_alerts_nothing(pipeline: Pipeline) -> None:
    pipeline.run()
    pipeline.received()
    calls_before = len(pipeline.imports)
    report = pipeline.run()
    assert (report.unchanged, report.claimed, report.security_hub_calls, report.messages_sent) == (FINDINGS, 0, 0, 0)
    assert len(pipeline.imports) == calls_before
    assert pipeline.received() == []


def test_security_hub_fields_exactly(pipeline: Pipeline) -> None:
    pipeline.run()
    identifier = finding_id(pipeline, "VRA-TRUST-1", MISSING)
    document = pipeline.security_hub_finding(identifier)
    account, arn = pipeline.sample.account, pipeline.sample.role_arns[MISSING]
    observed = document["UpdatedAt"]
    assert {
        key: document[key]
        for key in document
        if key not in ("Description", "Remediation", "ProductFields", "Resources")
    } == {
        "SchemaVersion": "2018-10-08",
        "Id": identifier,
        "ProductArn": f"arn:aws:securityhub:us-east-1:{account}:product/{account}/default",
        "ProductName": "veeam-role-auditor",
        "CompanyName": "veeam-role-auditor",
        "GeneratorId": "veeam-role-auditor/VRA-TRUST-1",
        "AwsAccountId": account,
        "Types": [
            "Software and Configuration Checks/AWS Security Best Practices/Veeam Backup Role Trust",
            "Effects/Denial of Service",
        ],
        "CreatedAt": observed,
        "UpdatedAt": observed,
        "FirstObservedAt": observed,
        "LastObservedAt": observed,
        "Severity": {"Label": "HIGH", "Original": "HIGH"},
        "FindingProviderFields": {
            "Severity": {"Label": "HIGH", "Original": "HIGH"},
            "Types": [
                "Software and Configuration Checks/AWS Security Best Practices/Veeam Backup Role Trust",
                "Effects/Denial of Service",
            ],
        },
        "Title": f"The Veeam appliance should be able to assume the role: {MISSING}",
        "Compliance": {"Status": "FAILED"},
        "RecordState": "ACTIVE",
    }
    assert (
        document["Remediation"]["Recommendation"]["Url"]
        == "https://helpcenter.veeam.com/docs/vbaws/guide/iam_roles.html"
    )
    assert document["Remediation"]["Recommendation"]["Text"].startswith(
        f"Add the statement below to the trust policy of {MISSING}"
    )
    statement = {
        "Sid": "VeeamApplianceAssumeRole",
        "Effect": "Allow",
        "Principal": {"AWS": pipeline.sample.appliance_role_arn},
        "Action": "sts:AssumeRole",
    }
    assert json.loads(document["ProductFields"]["veeam-role-auditor/StatementToAdd"]) == statement
    assert document["ProductFields"]["veeam-role-auditor/CheckCode"] == "VRA-TRUST-1"
    assert document["ProductFields"]["veeam-role-auditor/ApplianceRoleArns"] == pipeline.sample.appliance_role_arn
    (resource,) = document["Resources"]
    details = resource.pop("Details")["AwsIamRole"]
    assert resource == {
        "Type": "AwsIamRole",
        "Id": arn,
        "Partition": "aws",
        "Region": "us-east-1",
        "Tags": {"veeam:backup-role": "true"},
    }
    assert (details["RoleName"], details["Path"]) == (MISSING, "/")
    assert details["RoleId"].startswith("AROA")
    assert json.loads(details["AssumeRolePolicyDocument"])["Statement"][0]["Principal"] == {
        "Service": "ec2.amazonaws.com"
    }


# ---------------------------------------------------------------------- lifecycle


def test_fail_fix_break_again_delete(pipeline: Pipeline, iam: Any) -> None:
    identifier = finding_id(pipeline, "VRA-TRUST-1", MISSING)
    pipeline.run()
    first = pipeline.security_hub_finding(identifier)
    assert [
        m.attributes["transition"]
        for m in pipeline.received()
        if m.attributes["check"] == "VRA-TRUST-1" and MISSING in m.body
    ] == ["new_failure"]

    fix_trust(pipeline, iam)
    report = pipeline.run()
    fixed = pipeline.security_hub_finding(identifier)
    assert (fixed["Compliance"]["Status"], fixed["RecordState"], fixed["Severity"]["Label"]) == (
        "PASSED",
        "ACTIVE",
        "INFORMATIONAL",
    )
    assert (fixed["CreatedAt"], fixed["FirstObservedAt"]) == (first["CreatedAt"], first["FirstObservedAt"])
    assert fixed["UpdatedAt"] > first["UpdatedAt"]
    (resolved,) = pipeline.received()
    assert resolved.subject == f"[RESOLVED] {MISSING}: The Veeam appliance can assume the role"
    assert resolved.attributes == {
        "severity": "HIGH",
        "check": "VRA-TRUST-1",
        "status": "PASSED",
        "account": pipeline.sample.account,
        "transition": "resolved",
    }
    assert report.transitions[0].kind == "resolved"

    break_trust(pipeline, iam)
    pipeline.run()
    broken = pipeline.security_hub_finding(identifier)
    assert (broken["Compliance"]["Status"], broken["RecordState"], broken["CreatedAt"]) == (
        "FAILED",
        "ACTIVE",
        first["CreatedAt"],
    )
    (again,) = pipeline.received()
    assert again.subject == f"[HIGH] {MISSING}: the Veeam appliance cannot assume the role"

    iam.delete_role(RoleName=MISSING)
    report = pipeline.run()
    archived = pipeline.security_hub_finding(identifier)
    assert (archived["RecordState"], archived["Compliance"]["Status"], archived["CreatedAt"]) == (
        "ARCHIVED",
        "FAILED",
        first["CreatedAt"],
    )
    assert report.archived == PER_ROLE  # every check of the deleted role
    (gone,) = pipeline.received()  # only the failing finding is worth an alert
    assert gone.subject == f"[ARCHIVED] {MISSING}: VRA-TRUST-1 finding archived"
    assert gone.attributes["status"] == "ARCHIVED"
    assert validate_batch([archived]) == []
    assert pipeline.run().as_dict()["claimed"] == 0  # archived findings stay archived, quietly


def test_untagging_archives_and_retagging_reopens(pipeline: Pipeline, iam: Any) -> None:
    identifier = finding_id(pipeline, "VRA-TRUST-3", "VeeamArchiveWildcard")
    pipeline.run()
    pipeline.received()
    iam.untag_role(RoleName="VeeamArchiveWildcard", TagKeys=["veeam:backup-role"])
    pipeline.run()
    assert pipeline.security_hub_finding(identifier)["RecordState"] == "ARCHIVED"
    assert [m.attributes["transition"] for m in pipeline.received()] == ["archived"]
    iam.tag_role(RoleName="VeeamArchiveWildcard", Tags=[{"Key": "veeam:backup-role", "Value": "true"}])
    pipeline.run()
    reopened = pipeline.security_hub_finding(identifier)
    assert (reopened["RecordState"], reopened["Compliance"]["Status"]) == ("ACTIVE", "FAILED")
    assert [m.attributes["transition"] for m in pipeline.received()] == ["new_failure"]


def _make_missing_role_conditional(pipeline: Pipeline, iam: Any) -> None:
    """The MISSING role trusts the appliance, but only from a source IP: FAILED/HIGH becomes WARNING/MEDIUM."""
    conditional = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": pipeline.sample.appliance_role_arn},
                "Action": "sts:AssumeRole",
                "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
            }
        ],
    }
    iam.update_assume_role_policy(RoleName=MISSING, PolicyDocument=json.dumps(conditional))


def test_severity_change_is_one_alert(pipeline: Pipeline, iam: Any) -> None:
    pipeline.run()
    pipeline.received()
    _make_missing_role_conditional(pipeline, iam)
    pipeline.run()
    (change,) = pipeline.received()
    assert change.attributes["transition"] == "severity_change"
    assert change.subject == f"[HIGH to MEDIUM] {MISSING}: the Veeam appliance may not be able to assume the role"


# ---------------------------------------------------------------------- alerting options


def test_many_transitions_become_one_digest(pipeline: Pipeline) -> None:
    report = pipeline.run(pipeline.publisher(digest_threshold=5))
    (digest,) = pipeline.received()
    assert report.messages_sent == 1
    assert digest.subject == f"[CRITICAL] Veeam role auditor: {ALERTS} changes in account {pipeline.sample.account}"
    assert digest.attributes == {
        "severity": "CRITICAL",
        "check": "DIGEST",
        "status": "DIGEST",
        "account": pipeline.sample.account,
        "transition": "digest",
    }
    assert digest.body.startswith(f"{ALERTS} changes in account {pipeline.sample.account}: {ALERTS} new failures.")
    assert len(digest.machine) == ALERTS


def test_minimum_alert_severity(pipeline: Pipeline) -> None:
    pipeline.run(pipeline.publisher(min_alert_severity="CRITICAL"))
    assert [m.attributes["check"] for m in pipeline.received()] == ["VRA-TRUST-3"]


# ---------------------------------------------------------------------- failures and recovery


def test_security_hub_disabled_loses_nothing(pipeline: Pipeline) -> None:
    def disabled(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "InvalidAccessException", "Message": "Account is not subscribed to AWS Security Hub"}},
            "BatchImportFindings",
        )

    pipeline.securityhub.meta.events.register("before-call.securityhub.BatchImportFindings", disabled)
    report = pipeline.run()
    assert (report.security_hub_disabled, report.imported, report.security_hub_calls) == (True, 0, 1)
    assert len(pipeline.received()) == ALERTS  # alerts still go out

    pipeline.securityhub.meta.events.unregister("before-call.securityhub.BatchImportFindings", disabled)
    report = pipeline.run()
    assert (report.security_hub_disabled, report.imported, report.messages_sent) == (False, FINDINGS, 0)
    assert pipeline.received() == []


def test_findings_that_fail_to_import_are_retried(pipeline: Pipeline) -> None:
    real = pipeline.securityhub

    class FlakySecurityHub:
        """moto never fails single findings; this reports the first two of each call as failed once."""

        def __init__(self) -> None:
            self.failed_once: set[str] = set()

        def batch_import_findings(self, Findings: list[dict[str, Any]]) -> dict[str, Any]:
            flaky = [f["Id"] for f in Findings[:2] if f["Id"] not in self.failed_once]
            self.failed_once.update(flaky)
            response = real.batch_import_findings(Findings=[f for f in Findings if f["Id"] not in flaky])
            failures = [{"Id": i, "ErrorCode": "InternalException", "ErrorMessage": "try again"} for i in flaky]
            return {**response, "FailedCount": len(failures), "FailedFindings": failures}

    publisher = Publisher(
        pipeline.store,
        settings=PublishSettings(region="us-east-1"),
        security_hub=SecurityHubSink(FlakySecurityHub()),
        alerts=AlertSink(pipeline.sns, pipeline.topic_arn),
    )
    report = pipeline.run(publisher)
    # one call per 100 findings, then one more for the findings that failed once
    calls = math.ceil(FINDINGS / 100) + 1
    assert (report.imported, report.security_hub_calls, len(report.import_failures)) == (FINDINGS, calls, 0)


def test_sns_failure_then_recovery(pipeline: Pipeline) -> None:
    def broken(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalError", "Message": "SNS is down"}}, "Publish")

    pipeline.sns.meta.events.register("before-call.sns.Publish", broken)
    report = pipeline.run()
    assert (report.messages_sent, report.alert_failures, report.imported) == (0, ALERTS, FINDINGS)
    assert pipeline.received() == []
    pipeline.sns.meta.events.unregister("before-call.sns.Publish", broken)
    report = pipeline.run()
    assert (report.messages_sent, report.alert_failures, report.imported) == (ALERTS, 0, 0)
    assert len(pipeline.received()) == ALERTS
    assert pipeline.run().messages_sent == 0


def test_an_alert_claimed_by_a_run_that_died_is_sent_after_the_timeout(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(Delivery, "send_alerts", lambda *_: None)  # the run dies after claiming
        pipeline.run()
    assert pipeline.received() == []
    # While the claim is fresh, another run leaves those alerts to the run that claimed them.
    assert pipeline.run().messages_sent == 0
    assert pipeline.received() == []
    pipeline.now += timedelta(minutes=16)  # the claim is older than the 15-minute timeout
    assert pipeline.run().messages_sent == ALERTS
    assert len(pipeline.received()) == ALERTS
    assert pipeline.run().messages_sent == 0


def test_refresh_reimports_unchanged_findings_after_the_configured_days(pipeline: Pipeline) -> None:
    pipeline.run()
    pipeline.received()
    pipeline.now += timedelta(days=6)
    assert pipeline.run().security_hub_calls == 0
    pipeline.now += timedelta(days=2)
    report = pipeline.run()
    assert (report.imported, report.messages_sent, report.claimed) == (FINDINGS, 0, 0)
    assert pipeline.received() == []


def test_an_older_observation_never_replaces_a_newer_one(pipeline: Pipeline, iam: Any) -> None:
    settings = ScanSettings(appliance_role_arns=(pipeline.sample.appliance_role_arn,))
    older = scan_account(pipeline.inventory, settings)  # the role is broken here
    fix_trust(pipeline, iam)
    newer = scan_account(pipeline.inventory, settings)  # and fixed here
    identifier = finding_id(pipeline, "VRA-TRUST-1", MISSING)

    def publish(result: Any) -> PublishReport:
        scope = Scope(account=pipeline.sample.account, partition="aws", observed_at=result.started_at, full=True)
        return pipeline.publisher().publish(result.findings, scope)

    publish(newer)
    report = publish(older)
    assert report.stale == FINDINGS
    assert pipeline.store.load([identifier])[identifier].status == "PASSED"
    assert pipeline.security_hub_finding(identifier)["Compliance"]["Status"] == "PASSED"


def test_concurrent_writer_between_read_and_claim_is_detected_and_replanned(pipeline: Pipeline, iam: Any) -> None:
    pipeline.run()
    pipeline.received()
    fix_trust(pipeline, iam)
    settings = ScanSettings(appliance_role_arns=(pipeline.sample.appliance_role_arn,))
    result = scan_account(pipeline.inventory, settings)
    identifier = finding_id(pipeline, "VRA-TRUST-1", MISSING)
    (mine,) = [f for f in result.findings if f.id == identifier]
    scope = Scope(
        account=pipeline.sample.account,
        partition="aws",
        observed_at=result.started_at,
        role_arns=frozenset({mine.role_arn}),
    )

    store = pipeline.store
    claim, claim_together = store.claim, store.claim_together
    raced = {"done": False}

    def rival() -> None:
        if not raced["done"]:
            raced["done"] = True  # a rival run claims the same finding first, with the same observation
            pipeline.publisher().publish([mine], scope)

    def claim_after_a_rival(record: Any, expected: int | None, **options: Any) -> Any:
        rival()
        return claim(record, expected, **options)

    def claim_together_after_a_rival(claims: Any, **options: Any) -> Any:
        rival()
        return claim_together(claims, **options)

    store.claim = claim_after_a_rival  # type: ignore[method-assign,assignment]
    store.claim_together = claim_together_after_a_rival  # type: ignore[method-assign,assignment]
    report = pipeline.publisher().publish([f for f in result.findings if f.role_arn == mine.role_arn], scope)
    store.claim, store.claim_together = claim, claim_together  # type: ignore[method-assign]
    assert report.conflicts >= 1
    resolved = [m for m in pipeline.received() if m.attributes["transition"] == "resolved"]
    assert len(resolved) == 1  # exactly one alert for the transition, although two runs saw it


def test_state_items_hold_both_deliveries(pipeline: Pipeline) -> None:
    pipeline.run()
    identifier = finding_id(pipeline, "VRA-TRUST-1", MISSING)
    stored = pipeline.store.load([identifier])[identifier]
    assert (stored.status, stored.severity, stored.record_state) == ("FAILED", "HIGH", "ACTIVE")
    assert stored.sh_key == f"{stored.digest}|ACTIVE"
    assert stored.alert_key == "FAILED|HIGH|ACTIVE"
    assert stored.alert_pending is None
    assert stored.created_at == stored.sh_updated_at == stored.first_observed_at


def test_an_unchanged_event_driven_observation_still_outranks_an_older_full_scan(pipeline: Pipeline, iam: Any) -> None:
    settings = ScanSettings(appliance_role_arns=(pipeline.sample.appliance_role_arn,))
    role = pipeline.sample.role_arns[MISSING]
    fix_trust(pipeline, iam)
    pipeline.run()  # MISSING is PASSED in the state
    pipeline.received()
    break_trust(pipeline, iam)
    slow_scan = scan_account(pipeline.inventory, settings)  # a full scan reads MISSING while it is broken
    fix_trust(pipeline, iam)
    event_driven = scan_account(pipeline.inventory, settings)  # the fix's event re-reads it: unchanged
    scope = Scope(
        account=pipeline.sample.account,
        partition="aws",
        observed_at=event_driven.started_at,
        role_arns=frozenset({role}),
    )
    report = pipeline.publisher().publish([f for f in event_driven.findings if f.role_arn == role], scope)
    assert (report.unchanged, report.claimed) == (
        PER_ROLE,
        PER_ROLE,
    )  # nothing new, but the observation time is recorded
    late = Scope(account=pipeline.sample.account, partition="aws", observed_at=slow_scan.started_at, full=True)
    report = pipeline.publisher().publish(slow_scan.findings, late)
    assert report.stale == PER_ROLE  # its view of MISSING is older than the event's
    identifier = finding_id(pipeline, "VRA-TRUST-1", MISSING)
    assert pipeline.store.load([identifier])[identifier].status == "PASSED"
    assert pipeline.received() == []  # no false "new failure"


def test_an_unchanged_event_driven_observation_costs_one_state_read_and_one_state_write(pipeline: Pipeline) -> None:
    pipeline.run()
    pipeline.received()
    role = pipeline.sample.role_arns[MISSING]
    event_driven = scan_account(
        pipeline.inventory, ScanSettings(appliance_role_arns=(pipeline.sample.appliance_role_arn,))
    )
    mine = [f for f in event_driven.findings if f.role_arn == role]
    scope = Scope(
        account=pipeline.sample.account,
        partition="aws",
        observed_at=event_driven.started_at,
        role_arns=frozenset({role}),
    )
    calls: list[str] = []

    def count(model: Any, **_: Any) -> None:
        calls.append(model.name)

    pipeline.store.dynamodb.meta.events.register("before-call.dynamodb", count)
    report = pipeline.publisher().publish(mine, scope)
    pipeline.store.dynamodb.meta.events.unregister("before-call.dynamodb", count)
    # Before: BatchGetItem and one PutItem per finding (9) only to record the newer observation time.
    assert calls == ["BatchGetItem", "TransactWriteItems"]
    assert (report.unchanged, report.claimed, report.imported, report.messages_sent) == (len(mine), len(mine), 0, 0)
    stored = pipeline.store.load([f.id for f in mine])
    assert {record.observed_at for record in stored.values()} == {iso(f.observed_at) for f in mine}
    assert pipeline.received() == []


def test_a_transition_below_the_threshold_does_not_hide_a_later_resolution(pipeline: Pipeline, iam: Any) -> None:
    high_only = pipeline.publisher(min_alert_severity="HIGH")
    pipeline.run(high_only)
    assert MISSING in "".join(m.subject for m in pipeline.received())  # told: FAILED/HIGH
    _make_missing_role_conditional(pipeline, iam)
    pipeline.run(high_only)
    assert pipeline.received() == []  # HIGH to MEDIUM: below the threshold, not alerted
    fix_trust(pipeline, iam)
    pipeline.run(high_only)
    (resolved,) = pipeline.received()  # subscribers were told HIGH: they hear it is resolved
    assert (resolved.attributes["transition"], resolved.attributes["severity"]) == ("resolved", "HIGH")


# ---------------------------------------------------------------------- converging after a failed delivery


def record_state_in_security_hub(pipeline: Pipeline, identifier: str) -> str:
    """What Security Hub (moto) stores, not what was sent: the hook sees refused calls too."""
    pages = pipeline.securityhub.get_paginator("get_findings").paginate()
    (stored,) = [f for page in pages for f in page["Findings"] if f["Id"] == identifier]
    return str(stored["RecordState"])


def _refusing(code: str) -> Any:
    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": "refused"}}, "BatchImportFindings")

    return refuse


@pytest.mark.parametrize("code", ["InvalidAccessException", "AccessDeniedException"], ids=["disabled", "denied"])
def test_an_archive_that_failed_to_import_is_imported_by_the_next_run(pipeline: Pipeline, iam: Any, code: str) -> None:
    identifier = finding_id(pipeline, "VRA-TRUST-1", MISSING)
    pipeline.run()
    pipeline.received()
    iam.delete_role(RoleName=MISSING)
    refuse = _refusing(code)
    pipeline.securityhub.meta.events.register("before-call.securityhub.BatchImportFindings", refuse)
    try:
        report = pipeline.run()
    except PublishError as failed:  # anything but "not enabled" fails the run, after the alerts
        report = failed.report
    assert (report.imported, report.messages_sent) == (0, 1)
    assert [m.attributes["transition"] for m in pipeline.received()] == ["archived"]
    assert record_state_in_security_hub(pipeline, identifier) == "ACTIVE"  # what Security Hub still shows

    pipeline.securityhub.meta.events.unregister("before-call.securityhub.BatchImportFindings", refuse)
    report = pipeline.run()
    assert (report.imported, report.archived, report.messages_sent, report.claimed) == (PER_ROLE, PER_ROLE, 0, 0)
    assert record_state_in_security_hub(pipeline, identifier) == "ARCHIVED"
    assert pipeline.received() == []  # subscribers were told already
    assert pipeline.run().security_hub_calls == 0  # converged


def test_a_resolution_that_failed_to_import_is_imported_by_the_next_run(pipeline: Pipeline, iam: Any) -> None:
    identifier = finding_id(pipeline, "VRA-TRUST-1", MISSING)
    pipeline.run()
    pipeline.received()
    fix_trust(pipeline, iam)
    refuse = _refusing("AccessDeniedException")
    pipeline.securityhub.meta.events.register("before-call.securityhub.BatchImportFindings", refuse)
    with pytest.raises(PublishError):
        pipeline.run()
    assert [m.attributes["transition"] for m in pipeline.received()] == ["resolved"]
    pipeline.securityhub.meta.events.unregister("before-call.securityhub.BatchImportFindings", refuse)
    report = pipeline.run()
    assert (report.imported, report.messages_sent) == (PER_ROLE, 0)
    assert pipeline.security_hub_finding(identifier)["Compliance"]["Status"] == "PASSED"
    assert pipeline.run().security_hub_calls == 0


def test_an_archived_alert_that_failed_to_send_is_sent_by_the_next_run(pipeline: Pipeline, iam: Any) -> None:
    pipeline.run()
    pipeline.received()
    iam.delete_role(RoleName=MISSING)

    def broken(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalError", "Message": "SNS is down"}}, "Publish")

    pipeline.sns.meta.events.register("before-call.sns.Publish", broken)
    report = pipeline.run()
    assert (report.archived, report.messages_sent, report.alert_failures) == (PER_ROLE, 0, 1)
    pipeline.sns.meta.events.unregister("before-call.sns.Publish", broken)
    report = pipeline.run()
    assert (report.messages_sent, report.imported) == (1, 0)
    (gone,) = pipeline.received()
    assert (gone.subject, gone.attributes["transition"]) == (
        f"[ARCHIVED] {MISSING}: VRA-TRUST-1 finding archived",
        "archived",
    )
    assert pipeline.run().as_dict()["claimed"] == 0


def test_an_archived_alert_claimed_by_a_run_that_died_is_sent_after_the_timeout(
    pipeline: Pipeline, iam: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.run()
    pipeline.received()
    iam.delete_role(RoleName=MISSING)
    with monkeypatch.context() as patch:
        patch.setattr(Delivery, "send_alerts", lambda *_: None)  # the run dies after claiming
        pipeline.run()
    assert pipeline.run().messages_sent == 0  # the claim is fresh: left to the run that made it
    pipeline.now += timedelta(minutes=16)
    assert pipeline.run().messages_sent == 1
    assert [m.attributes["transition"] for m in pipeline.received()] == ["archived"]


def test_an_event_driven_refresh_still_records_its_observation_time(pipeline: Pipeline, iam: Any) -> None:
    settings = ScanSettings(appliance_role_arns=(pipeline.sample.appliance_role_arn,))
    role = pipeline.sample.role_arns[MISSING]
    fix_trust(pipeline, iam)
    pipeline.run()  # MISSING is PASSED in the state and in Security Hub
    pipeline.received()
    break_trust(pipeline, iam)
    slow_scan = scan_account(pipeline.inventory, settings)  # a full scan reads MISSING while it is broken
    fix_trust(pipeline, iam)
    event_driven = scan_account(pipeline.inventory, settings)  # the fix's event re-reads it: unchanged
    pipeline.now += timedelta(days=8)  # and Security Hub is due a refresh of it
    scope = Scope(
        account=pipeline.sample.account,
        partition="aws",
        observed_at=event_driven.started_at,
        role_arns=frozenset({role}),
    )
    report = pipeline.publisher().publish([f for f in event_driven.findings if f.role_arn == role], scope)
    assert (report.claimed, report.imported) == (PER_ROLE, PER_ROLE)  # refreshed, and the observation time recorded
    late = Scope(account=pipeline.sample.account, partition="aws", observed_at=slow_scan.started_at, full=True)
    assert pipeline.publisher().publish(slow_scan.findings, late).stale >= 9
    identifier = finding_id(pipeline, "VRA-TRUST-1", MISSING)
    assert pipeline.store.load([identifier])[identifier].status == "PASSED"
    assert pipeline.received() == []  # no false "new failure"


# ---------------------------------------------------------------------- clocks


def _scan_from_a_clock(pipeline: Pipeline, iam: Any, sts: Any, ahead: timedelta) -> tuple[Any, Scope]:
    """A full scan by a machine whose clock runs ``ahead`` of AWS's."""
    moment = datetime.now(UTC) + ahead
    inventory = Inventory(iam, sts, now=lambda: datetime.now(UTC) + ahead)
    result = scan_account(
        inventory, ScanSettings(appliance_role_arns=(pipeline.sample.appliance_role_arn,)), now=moment
    )
    return result, Scope(account=pipeline.sample.account, partition="aws", observed_at=result.started_at, full=True)


def test_observations_from_the_future_are_refused_before_anything_is_written(
    pipeline: Pipeline, iam: Any, sts: Any
) -> None:
    # 2 h 30 s: the Date header's whole seconds and the scan's own time move the measured skew by a second or
    # two, which must not turn "2 h" into "1 h 59 min" (the message leaves out seconds beside hours).
    result, scope = _scan_from_a_clock(pipeline, iam, sts, timedelta(hours=2, seconds=30))
    with pytest.raises(ClockSkewError, match=r"^nothing published: observations stamped .* are 2 h ahead of AWS's"):
        pipeline.publisher().publish(result.findings, scope)
    assert pipeline.store.load_account(pipeline.sample.account) == {}
    assert (pipeline.imports, pipeline.received()) == ([], [])


def test_observations_a_little_ahead_are_accepted(pipeline: Pipeline, iam: Any, sts: Any) -> None:
    result, scope = _scan_from_a_clock(pipeline, iam, sts, timedelta(minutes=4))
    assert pipeline.publisher().publish(result.findings, scope).claimed == FINDINGS


def test_a_stored_observation_from_the_future_does_not_silence_later_runs(pipeline: Pipeline, iam: Any) -> None:
    pipeline.run()
    pipeline.received()
    # Stored by a version that did not refuse them, from a clock a day ahead.
    future = iso(datetime.now(UTC) + timedelta(days=1))
    for stored in pipeline.store.load_account(pipeline.sample.account).values():
        pipeline.store.claim(replace(stored, observed_at=future), stored.version)
    fix_trust(pipeline, iam)
    report = pipeline.run()
    assert (report.stale, report.claimed) == (0, FINDINGS)  # every observation from the future replaced
    (resolved,) = pipeline.received()
    assert (resolved.attributes["transition"], resolved.attributes["check"]) == ("resolved", "VRA-TRUST-1")
    identifier = finding_id(pipeline, "VRA-TRUST-1", MISSING)
    stored = pipeline.store.load([identifier])[identifier]
    assert (stored.status, stored.observed_at < future) == ("PASSED", True)
    assert pipeline.run().claimed == 0  # and then quiet again
