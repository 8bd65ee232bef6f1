"""Suppressed findings on their way out: imported as usual, then workflow SUPPRESSED with the reason as a
note and no alert; back to NEW, with the alert, when the suppression ends; a workflow update that failed
is sent again (with the import) by the next run.

moto lacks BatchUpdateFindings (shared/aws-facts.md). :class:`WorkflowService` records every request exactly
as botocore sends it (after validating it against the API model) and answers it with the documented
response shape; everything else (imports, state table, SNS) runs on moto.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from tests.integration.test_publish import MISSING, TABLE, Pipeline, finding_id, fix_trust
from veeam_role_auditor import checks
from veeam_role_auditor.dev.sample_account import SampleAccount, expected_alerts, expected_count
from veeam_role_auditor.inventory import Inventory
from veeam_role_auditor.publish.alerts import AlertSink
from veeam_role_auditor.publish.publisher import (
    Publisher,
    PublishError,
    PublishReport,
    PublishSettings,
    Scope,
    content_digest,
)
from veeam_role_auditor.publish.securityhub import SecurityHubSink, WorkflowChange
from veeam_role_auditor.publish.state import StateStore, create_table
from veeam_role_auditor.scan import scan_account
from veeam_role_auditor.settings import ScanSettings
from veeam_role_auditor.suppressions import apply_suppressions, parse_rules, split_expired

REASON = "Retired on 2026-03-01 with the old backup account (ticket OPS-1234)"
RULES = json.dumps([{"check": "VRA-TRUST-1", "role": MISSING, "reason": REASON, "expires": "2026-06-30"}])
IN_FORCE = date(2026, 6, 30)  # a rule applies up to and including its expiry day
EXPIRED = date(2026, 7, 1)
SUPPRESSED_NOTE = f"Suppressed until 2026-06-30 (suppressions.json, rule 1): {REASON}"
ENDED_NOTE = (
    "Suppression ended: no suppression rule in force matches it any more (its rule expired, or was changed or "
    "removed); workflow set back to NEW by veeam-role-auditor."
)


@dataclass
class WorkflowService:
    """Security Hub's BatchUpdateFindings for tests: what was asked, answered as the API reference says.

    ``unprocessed`` names findings to report in ``UnprocessedFindings``; ``refusal`` fails whole calls.
    """

    requests: list[dict[str, Any]] = field(default_factory=list)
    unprocessed: dict[str, str] = field(default_factory=dict)
    refusal: str | None = None
    operations: list[str] = field(default_factory=list)

    def attach(self, client: Any) -> WorkflowService:
        # before-parameter-build carries the caller's parameters, already validated against the model.
        client.meta.events.register("before-parameter-build.securityhub.BatchUpdateFindings", self._record)
        client.meta.events.register("before-call.securityhub.*", self._answer)
        return self

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.requests.append(copy.deepcopy(params))

    def _answer(self, model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        self.operations.append(model.name)
        if model.name != "BatchUpdateFindings":
            return None  # moto answers the rest
        if self.refusal is not None:
            raise ClientError({"Error": {"Code": self.refusal, "Message": "not allowed"}}, "BatchUpdateFindings")
        identifiers = self.requests[-1]["FindingIdentifiers"]
        response = {
            "ProcessedFindings": [i for i in identifiers if i["Id"] not in self.unprocessed],
            "UnprocessedFindings": [
                {"FindingIdentifier": i, "ErrorCode": self.unprocessed[i["Id"]], "ErrorMessage": "try again"}
                for i in identifiers
                if i["Id"] in self.unprocessed
            ],
        }
        return AWSResponse("https://securityhub.us-east-1.amazonaws.com/findings/batchupdate", 200, {}, None), response


def product(sample: SampleAccount) -> str:
    return f"arn:aws:securityhub:us-east-1:{sample.account}:product/{sample.account}/default"


def request(sample: SampleAccount, status: str, note: str, *ids: str) -> dict[str, Any]:
    return {
        "FindingIdentifiers": [{"Id": i, "ProductArn": product(sample)} for i in ids],
        "Workflow": {"Status": status},
        "Note": {"Text": note, "UpdatedBy": "veeam-role-auditor"},
    }


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


@pytest.fixture
def workflow(securityhub: Any) -> WorkflowService:
    return WorkflowService().attach(securityhub)


def run(pipeline: Pipeline, rules: str | None, today: date = IN_FORCE) -> PublishReport:
    """A full scan with the rules of a suppressions file (as scan --suppressions applies them), published."""
    result = scan_account(pipeline.inventory, ScanSettings(appliance_role_arns=(pipeline.sample.appliance_role_arn,)))
    findings = list(result.findings)
    if rules is not None:
        active, _ = split_expired(parse_rules(rules, "suppressions.json", known_checks=checks.CATALOGUE), today)
        findings = apply_suppressions(findings, active)
    scope = Scope(account=pipeline.sample.account, partition="aws", observed_at=result.started_at, full=True)
    return pipeline.publisher().publish(findings, scope)


def imported_ids(pipeline: Pipeline) -> list[str]:
    found = [document["Id"] for batch in pipeline.imports for document in batch]
    pipeline.imports.clear()
    return found


def about(pipeline: Pipeline, check: str, role: str) -> Callable[[Any], bool]:
    arn = pipeline.sample.role_arns[role]
    return lambda message: message.attributes["check"] == check and arn in message.body


# ---------------------------------------------------------------------- suppressed


def test_a_suppressed_failure_is_imported_then_set_suppressed_with_its_reason_and_sends_no_alert(
    pipeline: Pipeline, workflow: WorkflowService
) -> None:
    identifier = finding_id(pipeline, "VRA-TRUST-1", MISSING)
    report = run(pipeline, RULES)
    assert (report.suppressed, report.workflow_updates, report.imported, report.import_failures) == (
        1,
        1,
        expected_count(),
        {},
    )
    # Imported as usual (still FAILED), then its workflow set: import first, so the finding exists.
    assert pipeline.security_hub_finding(identifier)["Compliance"] == {"Status": "FAILED"}
    assert workflow.operations == ["BatchImportFindings"] * math.ceil(expected_count() / 100) + ["BatchUpdateFindings"]
    assert workflow.requests == [request(pipeline.sample, "SUPPRESSED", SUPPRESSED_NOTE, identifier)]
    messages = pipeline.received()
    assert len(messages) == expected_alerts() - 1  # the alerts of a first scan, less the suppressed HIGH failure
    assert not any(about(pipeline, "VRA-TRUST-1", MISSING)(m) for m in messages)
    stored = pipeline.store.load([identifier])[identifier]
    assert (stored.sh_workflow, stored.sh_key, stored.alert_key) == ("SUPPRESSED", stored.content_key, None)

    imported_ids(pipeline)
    again = run(pipeline, RULES)
    assert (again.claimed, again.security_hub_calls, again.messages_sent) == (0, 0, 0)
    assert (imported_ids(pipeline), len(workflow.requests), pipeline.received()) == ([], 1, [])


def test_the_note_keeps_end_date_and_source_and_cuts_a_long_reason_to_512_characters(
    pipeline: Pipeline, workflow: WorkflowService
) -> None:
    reason = "Accepted\nrisk: " + "x" * 600
    rules = json.dumps([{"check": "VRA-TRUST-1", "role": MISSING, "reason": reason[:512], "expires": "2026-06-30"}])
    run(pipeline, rules)
    (sent,) = workflow.requests
    text = sent["Note"]["Text"]
    assert len(text) == 512
    assert text.startswith("Suppressed until 2026-06-30 (suppressions.json, rule 1): Accepted\\x0arisk: xxx")
    assert text.endswith("x…")


def test_a_changed_reason_sets_the_note_again_and_a_refresh_does_not(
    pipeline: Pipeline, workflow: WorkflowService
) -> None:
    identifier = finding_id(pipeline, "VRA-TRUST-1", MISSING)
    run(pipeline, RULES)
    pipeline.received()
    changed = RULES.replace("ticket OPS-1234", "ticket OPS-5678")
    run(pipeline, changed)
    assert imported_ids(pipeline)[-1:] == [identifier]
    assert workflow.requests[-1] == request(
        pipeline.sample, "SUPPRESSED", SUPPRESSED_NOTE.replace("OPS-1234", "OPS-5678"), identifier
    )
    # Security Hub deletes findings not updated for 90 days: a refresh imports again, the workflow stays.
    pipeline.now = pipeline.now.replace(year=pipeline.now.year + 1)
    imported_ids(pipeline)
    refreshed = run(pipeline, changed)
    assert identifier in imported_ids(pipeline)
    assert (refreshed.workflow_updates, len(workflow.requests)) == (0, 2)
    assert pipeline.received() == []


def test_digest_changes_with_the_suppression_and_only_then(pipeline: Pipeline) -> None:
    result = scan_account(pipeline.inventory, ScanSettings(appliance_role_arns=(pipeline.sample.appliance_role_arn,)))
    rules = parse_rules(RULES, "suppressions.json", known_checks=checks.CATALOGUE)
    marked = apply_suppressions(result.findings, rules)
    changed = [f.id for f, m in zip(result.findings, marked, strict=True) if content_digest(f) != content_digest(m)]
    assert changed == [finding_id(pipeline, "VRA-TRUST-1", MISSING)]


# ---------------------------------------------------------------------- the suppression ends


@pytest.mark.parametrize("ending", ["expired", "removed"])
def test_when_the_suppression_ends_the_workflow_goes_back_to_new_and_the_failure_is_alerted(
    pipeline: Pipeline, workflow: WorkflowService, ending: str
) -> None:
    identifier = finding_id(pipeline, "VRA-TRUST-1", MISSING)
    run(pipeline, RULES)
    pipeline.received()
    imported_ids(pipeline)

    report = run(pipeline, RULES, EXPIRED) if ending == "expired" else run(pipeline, None)
    assert imported_ids(pipeline) == [identifier]  # its content changed: no longer suppressed
    assert workflow.requests[1:] == [request(pipeline.sample, "NEW", ENDED_NOTE, identifier)]
    (alert,) = pipeline.received()
    assert (about(pipeline, "VRA-TRUST-1", MISSING)(alert), alert.attributes["transition"]) == (True, "new_failure")
    assert (report.suppressed, report.workflow_updates, report.messages_sent) == (0, 1, 1)
    assert pipeline.store.load([identifier])[identifier].sh_workflow == "NEW"

    quiet = run(pipeline, None)
    assert (quiet.claimed, quiet.security_hub_calls, len(workflow.requests), pipeline.received()) == (0, 0, 2, [])


@pytest.mark.parametrize("alerted_before", [True, False])
def test_a_suppressed_failure_that_passes_goes_back_to_new_and_is_resolved_only_if_it_was_alerted(
    pipeline: Pipeline, workflow: WorkflowService, iam: Any, alerted_before: bool
) -> None:
    identifier = finding_id(pipeline, "VRA-TRUST-1", MISSING)
    if alerted_before:
        run(pipeline, None)
        assert any(about(pipeline, "VRA-TRUST-1", MISSING)(m) for m in pipeline.received())
    suppressed = run(pipeline, RULES)
    assert suppressed.workflow_updates == 1
    assert not any(about(pipeline, "VRA-TRUST-1", MISSING)(m) for m in pipeline.received())

    fix_trust(pipeline, iam)
    run(pipeline, RULES)  # the rule still exists, but a passing finding is never suppressed
    assert workflow.requests[-1] == request(
        pipeline.sample,
        "NEW",
        "Suppression ended: it is PASSED now; workflow set back to NEW by veeam-role-auditor.",
        identifier,
    )
    transitions = [
        m.attributes["transition"] for m in pipeline.received() if about(pipeline, "VRA-TRUST-1", MISSING)(m)
    ]
    assert transitions == (["resolved"] if alerted_before else [])


def test_a_suppressed_failure_that_was_alerted_is_still_announced_when_its_role_is_deleted(
    pipeline: Pipeline, workflow: WorkflowService, iam: Any
) -> None:
    run(pipeline, None)
    pipeline.received()
    run(pipeline, RULES)
    iam.delete_role(RoleName=MISSING)
    run(pipeline, RULES)
    messages = [m for m in pipeline.received() if about(pipeline, "VRA-TRUST-1", MISSING)(m)]
    assert [m.attributes["transition"] for m in messages] == ["archived"]
    assert len(workflow.requests) == 1  # an archived finding keeps its workflow


# ---------------------------------------------------------------------- convergence


@pytest.mark.parametrize("failure", ["unprocessed", "refused"])
def test_a_failed_workflow_update_is_sent_again_with_the_import_by_the_next_run(
    pipeline: Pipeline, workflow: WorkflowService, failure: str
) -> None:
    identifier = finding_id(pipeline, "VRA-TRUST-1", MISSING)
    if failure == "unprocessed":
        workflow.unprocessed[identifier] = "InternalException"
        report = run(pipeline, RULES)
        reason = "BatchUpdateFindings: InternalException: try again"
    else:
        workflow.refusal = "AccessDeniedException"
        with pytest.raises(PublishError) as failed:
            run(pipeline, RULES)
        report = failed.value.report
        reason = "BatchUpdateFindings: AccessDeniedException"
        assert report.security_hub_error == "BatchUpdateFindings: AccessDeniedException: not allowed"
    # Imported, but not delivered until its workflow is set: not confirmed, and the alerts still went out.
    assert (report.imported, report.workflow_updates, report.import_failures) == (
        expected_count() - 1,
        0,
        {identifier: reason},
    )
    assert len(pipeline.received()) == expected_alerts() - 1
    stored = pipeline.store.load([identifier])[identifier]
    assert (stored.sh_key == stored.content_key, stored.sh_workflow) == (False, None)

    workflow.unprocessed.clear()
    workflow.refusal = None
    imported_ids(pipeline)
    retried = run(pipeline, RULES)
    assert imported_ids(pipeline) == [identifier]
    assert workflow.requests[-1] == request(pipeline.sample, "SUPPRESSED", SUPPRESSED_NOTE, identifier)
    assert (retried.imported, retried.workflow_updates, pipeline.received()) == (1, 1, [])

    settled = run(pipeline, RULES)
    assert (settled.security_hub_calls, imported_ids(pipeline), len(workflow.requests)) == (0, [], 2)


# ---------------------------------------------------------------------- the calls


def test_workflow_updates_go_in_calls_of_at_most_100_findings_with_one_note_each() -> None:
    client = boto3.client(
        "securityhub", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    arn = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
    changes = [WorkflowChange(f"id-{n:03d}", arn, "SUPPRESSED", "note A") for n in range(150)]
    changes += [WorkflowChange("id-b1", arn, "SUPPRESSED", "note B"), WorkflowChange("id-new", arn, "NEW", "ended")]

    def identifiers(*ids: str) -> list[dict[str, str]]:
        return [{"Id": i, "ProductArn": arn} for i in ids]

    expected = [
        ("NEW", "ended", ["id-new"]),
        ("SUPPRESSED", "note A", [f"id-{n:03d}" for n in range(100)]),
        ("SUPPRESSED", "note A", [f"id-{n:03d}" for n in range(100, 150)]),
        ("SUPPRESSED", "note B", ["id-b1"]),
    ]
    with Stubber(client) as stubber:
        for status, note, ids in expected:
            unprocessed = [i for i in ids if i == "id-149"]
            stubber.add_response(
                "batch_update_findings",
                {
                    "ProcessedFindings": identifiers(*[i for i in ids if i not in unprocessed]),
                    "UnprocessedFindings": [
                        {"FindingIdentifier": {"Id": i, "ProductArn": arn}, "ErrorCode": "X", "ErrorMessage": "y"}
                        for i in unprocessed
                    ],
                },
                {
                    "FindingIdentifiers": identifiers(*ids),
                    "Workflow": {"Status": status},
                    "Note": {"Text": note, "UpdatedBy": "veeam-role-auditor"},
                },
            )
        result = SecurityHubSink(client).update_workflow(list(reversed(changes)))
        stubber.assert_no_pending_responses()
    assert (result.calls, len(result.updated), result.failed, result.error) == (
        4,
        151,
        {"id-149": "BatchUpdateFindings: X: y"},
        None,
    )


def test_without_security_hub_a_suppression_only_silences_the_alert(pipeline: Pipeline) -> None:
    publisher = Publisher(
        pipeline.store,
        settings=PublishSettings(region="us-east-1", security_hub=False),
        security_hub=None,
        alerts=AlertSink(pipeline.sns, pipeline.topic_arn),
        clock=lambda: pipeline.now,
    )
    result = scan_account(pipeline.inventory, ScanSettings(appliance_role_arns=(pipeline.sample.appliance_role_arn,)))
    rules = parse_rules(RULES, "suppressions.json", known_checks=checks.CATALOGUE)
    scope = Scope(account=pipeline.sample.account, partition="aws", observed_at=result.started_at, full=True)
    report = publisher.publish(apply_suppressions(result.findings, rules), scope)
    assert (report.suppressed, report.workflow_updates, report.messages_sent) == (1, 0, expected_alerts() - 1)
