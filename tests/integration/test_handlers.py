"""The Lambda handlers, called exactly as Lambda calls them, with every sample event in events/."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from hypothesis import HealthCheck, given, settings

from tests.conftest import EVENTS
from tests.integration.harness import ACCOUNT, Deployment, make_deployment
from tests.integration.test_publish_suppressions import WorkflowService
from tests.unit.test_event_properties import mutated_events
from veeam_role_auditor.dev.handlers import load_event
from veeam_role_auditor.dev.sample_account import (
    SampleAccount,
    expected_alerts,
    expected_count,
    expected_results,
    findings_per_role,
)

PER_ROLE = findings_per_role()
"""The findings of one role that declares no purpose."""


@pytest.fixture
def deployment(
    sample: SampleAccount, dynamodb: Any, securityhub: Any, sns: Any, sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> Deployment:
    return make_deployment(sample, dynamodb, securityhub, sns, sqs, monkeypatch)


# ---------------------------------------------------------------------- scheduled_scan


def test_scheduled_scan_event(deployment: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    summary = deployment.scheduled(load_event("scheduled_scan.json"))
    assert {key: summary[key] for key in ("roles_read", "roles_in_scope", "imported", "messages_sent")} == {
        "roles_read": 12,
        "roles_in_scope": 9,
        "imported": expected_count(),
        "messages_sent": expected_alerts(),
    }
    assert summary["reason"].startswith("schedule ")
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (emf,) = metrics
    # Powertools writes each metric's values as a list in the Embedded Metric Format.
    assert (emf["RolesEvaluated"], emf["FindingsFailed"], emf["AlertMessagesSent"]) == (
        [9.0],
        [float(expected_count(status="FAILED"))],
        [float(expected_alerts())],
    )
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "VeeamRoleAuditor"


# ---------------------------------------------------------------------- iam_change: every sample event


ROLE_EVENTS_EXPECTED = {
    "UpdateAssumeRolePolicy.json": ("evaluated", "VeeamRepositoryHealthy"),
    "TagRole.json": ("evaluated", "VeeamSnapshotMissingTrust"),
    "UpdateRole.json": ("evaluated", "VeeamRepositoryHealthy"),
    "unrelated_role_TagRole.json": ("skipped", "AppServerRole"),
}
APPLIANCE_EVENTS = [
    "PutRolePolicy.json",
    "DeleteRolePolicy.json",
    "AttachRolePolicy.json",
    "DetachRolePolicy.json",
    "PutRolePermissionsBoundary.json",
    "DeleteRolePermissionsBoundary.json",
    "AddRoleToInstanceProfile.json",
    "RemoveRoleFromInstanceProfile.json",
]
POLICY_EVENTS = ["CreatePolicyVersion.json", "DeletePolicyVersion.json", "SetDefaultPolicyVersion.json"]


def test_every_sample_event_has_a_test() -> None:
    files = {path.name for path in (EVENTS / "cloudtrail").glob("*.json")}
    covered = set(ROLE_EVENTS_EXPECTED) | set(APPLIANCE_EVENTS) | set(POLICY_EVENTS)
    covered |= {"CreateRole.json", "DeleteRole.json", "UntagRole.json"}
    covered |= {"failed_UpdateAssumeRolePolicy.json", "not_handled_CreateUser.json"}
    assert files == covered


@pytest.mark.parametrize(("file", "expected"), list(ROLE_EVENTS_EXPECTED.items()))
def test_role_events(deployment: Deployment, file: str, expected: tuple[str, str]) -> None:
    result = deployment.iam_change(load_event(f"cloudtrail/{file}"))
    assert (result["status"], result["role_name"]) == expected
    if expected[0] == "evaluated":
        assert result["role"] == "in scope"
        # first evaluation of the role: every finding of the role stored
        assert result["claimed"] == len(expected_results()[expected[1]])
        assert deployment.rechecks() == [
            {
                "role_name": expected[1],
                "reason": "recheck",
                "source_event_id": load_event(f"cloudtrail/{file}")["detail"]["eventID"],
            }
        ]


def test_failed_calls_and_unhandled_events_are_skipped(deployment: Deployment) -> None:
    failed = deployment.iam_change(load_event("cloudtrail/failed_UpdateAssumeRolePolicy.json"))
    assert failed == {"status": "skipped", "reason": "the call failed (AccessDenied): nothing changed"}
    other = deployment.iam_change(load_event("cloudtrail/not_handled_CreateUser.json"))
    assert other == {"status": "skipped", "reason": "CreateUser cannot change a Veeam role"}
    assert deployment.imports == []


def test_create_role_evaluates_the_new_role(deployment: Deployment, iam: Any) -> None:
    event = load_event("cloudtrail/CreateRole.json")
    parameters = event["detail"]["requestParameters"]
    iam.create_role(
        RoleName=parameters["roleName"],
        AssumeRolePolicyDocument=parameters["assumeRolePolicyDocument"],
        Tags=[{"Key": tag["key"], "Value": tag["value"]} for tag in parameters["tags"]],
    )
    result = deployment.iam_change(event)
    assert (result["status"], result["role"], result["claimed"]) == ("evaluated", "in scope", PER_ROLE)
    assert {f["Compliance"]["Status"] for f in deployment.imports} == {"PASSED"}


def test_delete_role_archives_its_findings(deployment: Deployment, iam: Any) -> None:
    deployment.scheduled(load_event("scheduled_scan.json"))
    deployment.alerts()
    deployment.imports.clear()
    iam.delete_role(RoleName="VeeamSnapshotMissingTrust")
    result = deployment.iam_change(load_event("cloudtrail/DeleteRole.json"))
    assert (result["status"], result["role"], result["archived"]) == ("evaluated", "deleted", PER_ROLE)
    assert {f["RecordState"] for f in deployment.imports} == {"ARCHIVED"}
    (alert,) = deployment.alerts()
    assert alert["MessageAttributes"]["transition"]["Value"] == "archived"


def test_untag_role_archives_its_findings(deployment: Deployment, iam: Any) -> None:
    deployment.scheduled(load_event("scheduled_scan.json"))
    deployment.imports.clear()
    iam.untag_role(RoleName="VeeamArchiveWildcard", TagKeys=["veeam:backup-role"])
    result = deployment.iam_change(load_event("cloudtrail/UntagRole.json"))
    assert (result["status"], result["role"], result["archived"]) == ("evaluated", "out of scope", PER_ROLE)


@pytest.mark.parametrize("file", APPLIANCE_EVENTS)
def test_changes_to_the_appliance_role_re_evaluate_every_role(deployment: Deployment, file: str) -> None:
    result = deployment.iam_change(load_event(f"cloudtrail/{file}"))
    assert result["status"] == "evaluated"
    assert (result["roles_in_scope"], result["claimed"]) == (9, expected_count())
    (recheck,) = deployment.rechecks()
    assert recheck["full_scan"] is True


def test_appliance_change_is_handed_to_the_scan_function_when_configured(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VRA_SCAN_FUNCTION_NAME", "veeam-role-auditor-ScheduledScan")
    # moto would try to run the scan function in Docker; the call itself is what matters here.
    lambda_client = deployment.change.client("lambda")
    calls: list[dict[str, Any]] = []
    lambda_client.meta.events.register("provide-client-params.lambda.Invoke", lambda params, **_: calls.append(params))
    stubber = Stubber(lambda_client)
    stubber.add_response(
        "invoke",
        {"StatusCode": 202},
        {"FunctionName": "veeam-role-auditor-ScheduledScan", "InvocationType": "Event", "Payload": ANY},
    )
    with stubber:
        result = deployment.iam_change(load_event("cloudtrail/PutRolePolicy.json"))
    stubber.assert_no_pending_responses()
    assert result == {"status": "full scan requested", "reason": "PutRolePolicy on an appliance role"}
    (call,) = calls
    assert json.loads(call["Payload"]) == {
        "source": "veeam-role-auditor",
        "reason": "PutRolePolicy on an appliance role",
        "event_id": load_event("cloudtrail/PutRolePolicy.json")["detail"]["eventID"],
    }
    (recheck,) = deployment.rechecks()
    assert recheck["full_scan"] is True


def test_scan_function_accepts_the_hand_over(deployment: Deployment) -> None:
    summary = deployment.scheduled(
        {"source": "veeam-role-auditor", "reason": "PutRolePolicy on an appliance role", "event_id": "x"}
    )
    assert (summary["reason"], summary["roles_in_scope"]) == ("PutRolePolicy on an appliance role", 9)


@pytest.mark.parametrize("file", POLICY_EVENTS)
def test_policy_version_events(deployment: Deployment, iam: Any, file: str) -> None:
    skipped = deployment.iam_change(load_event(f"cloudtrail/{file}"))
    assert skipped == {
        "status": "skipped",
        "reason": f"arn:aws:iam::{ACCOUNT}:policy/VeeamImpersonationPolicy is not attached to an appliance role",
    }


def test_policy_version_event_for_an_appliance_policy_re_evaluates_every_role(deployment: Deployment, iam: Any) -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
    }
    arn = iam.create_policy(PolicyName="VeeamImpersonationPolicy", PolicyDocument=json.dumps(document))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="VeeamImpersonation", PolicyArn=arn)
    event = load_event("cloudtrail/CreatePolicyVersion.json")
    # A different eventID than the parametrized test above, so idempotency does not answer instead.
    event["detail"]["eventID"] = "2c0f5d0e-5b7e-4a7e-9c55-7e1d2f3a4b5c"
    result = deployment.iam_change(event)
    assert (result["status"], result["roles_in_scope"]) == ("evaluated", 9)


# ---------------------------------------------------------------------- delivery guarantees


def test_the_same_event_delivered_twice_is_processed_once(deployment: Deployment) -> None:
    event = load_event("cloudtrail/UpdateAssumeRolePolicy.json")
    first = deployment.iam_change(event)
    imported = len(deployment.imports)
    second = deployment.iam_change(json.loads(json.dumps(event)))
    assert second == first
    assert len(deployment.imports) == imported
    assert len(deployment.rechecks()) == 1


def test_the_delayed_recheck(deployment: Deployment) -> None:
    response = deployment.iam_change(load_event("recheck_sqs.json"))
    assert response == {"batchItemFailures": []}
    role = json.loads(load_event("recheck_sqs.json")["Records"][0]["body"])["role_name"]
    assert len(deployment.imports) == len(expected_results()[role])
    assert deployment.rechecks() == []  # a re-check does not queue another


def test_a_bad_recheck_message_is_reported_as_a_batch_item_failure(deployment: Deployment) -> None:
    event = load_event("recheck_sqs.json")
    good = event["Records"][0]
    bad = dict(good, messageId="bad-1", body='{"reason": "recheck"}')
    worse = dict(good, messageId="bad-2", body="not json")
    response = deployment.iam_change({"Records": [good, bad, worse]})
    assert response == {"batchItemFailures": [{"itemIdentifier": "bad-1"}, {"itemIdentifier": "bad-2"}]}


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ([], "the event is not a JSON object but list"),
        (
            {"source": "aws.s3", "detail-type": "Object Created", "detail": {}},
            "not an IAM CloudTrail event (source 'aws.s3', detail-type 'Object Created')",
        ),
        ({"source": "aws.iam", "detail-type": "AWS API Call via CloudTrail"}, "the event has no detail object"),
        (
            {"source": "aws.iam", "detail-type": "AWS API Call via CloudTrail", "detail": {"eventName": "TagRole"}},
            "the CloudTrail record lacks eventID or eventName",
        ),
        (
            {
                "source": "aws.iam",
                "detail-type": "AWS API Call via CloudTrail",
                "detail": {
                    "eventID": "x",
                    "eventName": "TagRole",
                    "eventSource": "iam.amazonaws.com",
                    "requestParameters": {"roleName": 7},
                },
            },
            "TagRole without requestParameters.roleName",
        ),
    ],
)
def test_malformed_events_are_rejected_not_raised(deployment: Deployment, event: Any, reason: str) -> None:
    assert deployment.iam_change(event) == {"status": "rejected", "reason": reason}


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(event=mutated_events())
def test_no_exception_escapes_the_handler_for_bad_events(deployment: Deployment, event: Any) -> None:
    result = deployment.iam_change(event)
    assert result["status"] in {"rejected", "skipped", "evaluated", "full scan requested"}


# ---------------------------------------------------------------------- suppressions (SSM parameter)

PARAMETER = "/veeam-role-auditor/suppressions"


def suppress(monkeypatch: pytest.MonkeyPatch, value: str | None, *rules: dict[str, str]) -> None:
    """Name the parameter as the template does, and write it (JSON, as the Lambda layer reads it)."""
    monkeypatch.setenv("VRA_SUPPRESSIONS_PARAMETER", PARAMETER)
    if value is None and not rules:
        return
    text = value if value is not None else json.dumps({"suppressions": list(rules)})
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name=PARAMETER, Value=text, Type="String", Overwrite=True
    )


def rule(check: str, role: str, expires: str = "2099-12-31") -> dict[str, str]:
    return {"check": check, "role": role, "reason": "accepted until the role is retired", "expires": expires}


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]


def workflow_requests(deployment: Deployment, function: str) -> WorkflowService:
    module = deployment.scan if function == "scan" else deployment.change
    return WorkflowService().attach(module.client("securityhub"))


def alerted_about(deployment: Deployment, role: str) -> list[str]:
    arn = deployment.sample.role_arns[role]
    return [alert["MessageAttributes"]["check"]["Value"] for alert in deployment.alerts() if arn in alert["Message"]]


def test_the_scan_reads_the_rules_from_the_ssm_parameter_and_applies_them(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    suppress(monkeypatch, None, rule("VRA-TRUST-1", "VeeamSnapshotMissingTrust"))
    workflow = workflow_requests(deployment, "scan")
    summary = deployment.scheduled(load_event("scheduled_scan.json"))
    assert (summary["suppressed"], summary["workflow_updates"], summary["messages_sent"]) == (
        1,
        1,
        expected_alerts() - 1,
    )
    identifier = (
        f"veeam-role-auditor/aws/{ACCOUNT}/VRA-TRUST-1/{deployment.sample.role_arns['VeeamSnapshotMissingTrust']}"
    )
    assert workflow.requests == [
        {
            "FindingIdentifiers": [
                {"Id": identifier, "ProductArn": f"arn:aws:securityhub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/default"}
            ],
            "Workflow": {"Status": "SUPPRESSED"},
            "Note": {
                "Text": f"Suppressed until 2099-12-31 (SSM parameter {PARAMETER}, rule 1): "
                "accepted until the role is retired",
                "UpdatedBy": "veeam-role-auditor",
            },
        }
    ]
    assert alerted_about(deployment, "VeeamSnapshotMissingTrust") == []
    (emf,) = emitted(capsys)
    assert (emf["FindingsSuppressed"], emf["SuppressionRulesExpired"]) == ([1.0], [0.0])
    assert "SuppressionRulesInvalid" not in emf


def test_a_role_change_applies_the_rules_too(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    suppress(monkeypatch, None, rule("*", "veeamsnapshot*"))  # names match without case, as IAM's do
    workflow = workflow_requests(deployment, "change")
    result = deployment.iam_change(load_event("cloudtrail/TagRole.json"))
    assert (result["role_name"], result["suppressed"], result["workflow_updates"]) == (
        "VeeamSnapshotMissingTrust",
        1,
        1,
    )
    assert [r["Workflow"] for r in workflow.requests] == [{"Status": "SUPPRESSED"}]
    assert deployment.alerts() == []


def test_the_rules_are_read_once_per_container_within_five_minutes(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    suppress(monkeypatch, None, rule("VRA-TRUST-1", "VeeamSnapshotMissingTrust"))
    reads: list[str] = []
    deployment.scan.client("ssm").meta.events.register(
        "before-call.ssm.GetParameter", lambda params, **_: reads.append(json.loads(params["body"])["Name"])
    )
    workflow_requests(deployment, "scan")
    deployment.scheduled(load_event("scheduled_scan.json"))
    deployment.scheduled(load_event("scheduled_scan.json"))
    assert reads == [PARAMETER]  # Powertools Parameters' cache (max_age 300 s)


@pytest.mark.parametrize(
    ("value", "logged"),
    [
        (
            json.dumps([rule("VRA-TRUST-99", "VeeamSnapshotMissingTrust")]),
            f"SSM parameter {PARAMETER}, rule 1: check 'VRA-TRUST-99' is not a check code",
        ),
        ('[{"check": "VRA-TRUST-1"', f"SSM parameter {PARAMETER}: not valid JSON (the parameter holds the rules"),
        ("- check: VRA-TRUST-1", f"SSM parameter {PARAMETER}: not valid JSON"),  # YAML: the CLI's files only
        (None, f"SSM parameter {PARAMETER} cannot be read: "),
    ],
    ids=["unknown check", "broken JSON", "YAML", "missing parameter"],
)
def test_unusable_rules_are_an_error_and_a_metric_and_the_run_publishes_without_them(
    deployment: Deployment,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    value: str | None,
    logged: str,
) -> None:
    suppress(monkeypatch, value)
    summary = deployment.scheduled(load_event("scheduled_scan.json"))
    assert (summary["status"], summary["suppressed"], summary["messages_sent"]) == ("complete", 0, expected_alerts())
    assert "VRA-TRUST-1" in alerted_about(deployment, "VeeamSnapshotMissingTrust")  # the safe side: it alerts
    (error,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert error.getMessage().startswith("suppression rules not used, publishing without suppressions")
    assert error.reason.startswith(logged)  # type: ignore[attr-defined]
    (emf,) = emitted(capsys)
    assert emf["SuppressionRulesInvalid"] == [1.0]


def test_an_expired_rule_is_a_warning_and_a_count_and_no_longer_applies(
    deployment: Deployment,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    suppress(monkeypatch, None, rule("VRA-TRUST-1", "VeeamSnapshotMissingTrust", expires="2020-01-31"))
    summary = deployment.scheduled(load_event("scheduled_scan.json"))
    assert (summary["suppressed"], summary["messages_sent"]) == (0, expected_alerts())
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING" and "suppression" in r.getMessage()]
    assert warning.rule == (  # type: ignore[attr-defined]
        f"SSM parameter {PARAMETER}, rule 1 (VRA-TRUST-1 on VeeamSnapshotMissingTrust, until 2020-01-31)"
    )
    (emf,) = emitted(capsys)
    assert (emf["SuppressionRulesExpired"], emf["FindingsSuppressed"]) == ([1.0], [0.0])
    assert "SuppressionRulesInvalid" not in emf


def test_without_a_parameter_nothing_is_read_and_nothing_is_suppressed(deployment: Deployment) -> None:
    summary = deployment.scheduled(load_event("scheduled_scan.json"))
    assert (summary["suppressed"], summary["workflow_updates"]) == (0, 0)
    assert "ssm" not in deployment.scan.client.created


# ---------------------------------------------------------------------- purposes on the event path


def test_a_tag_change_re_checks_the_roles_purposes_with_its_policies(deployment: Deployment, iam: Any) -> None:
    """TagRole declaring a purpose: the event re-reads that role's policies and publishes its purpose findings."""
    name = "VeeamArchiveWildcard"  # declares no purpose in the sample account
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]}
    arn = iam.create_policy(PolicyName="VeeamDescribe", PolicyDocument=json.dumps(document))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    iam.tag_role(RoleName=name, Tags=[{"Key": "veeam:role-purpose", "Value": "ec2-backup"}])
    event = load_event("cloudtrail/TagRole.json")
    event["detail"]["requestParameters"] = {
        "roleName": name,
        "tags": [{"key": "veeam:role-purpose", "value": "ec2-backup"}],
    }

    result = deployment.iam_change(event)

    assert (result["status"], result["role"]) == ("evaluated", "in scope")
    codes = {
        f["Id"]: next(v for k, v in f["ProductFields"].items() if k.endswith("CheckCode")) for f in deployment.imports
    }
    purpose = {codes[f["Id"]]: f for f in deployment.imports if codes[f["Id"]].startswith("VRA-PURPOSE-")}
    assert {code: f["Compliance"]["Status"] for code, f in purpose.items()} == {
        "VRA-PURPOSE-1": "PASSED",  # ec2-backup needs no service in the trust policy
        "VRA-PURPOSE-2": "FAILED",  # ec2:Describe* is far from what ec2-backup needs
        "VRA-PURPOSE-4": "PASSED",
    }
    # The managed policy was read for this role (an allowed Describe action is not reported missing).
    assert "ec2:DescribeInstances" not in purpose["VRA-PURPOSE-2"]["Description"]
