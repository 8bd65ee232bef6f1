"""Faults AWS really produces, injected at the botocore level where moto cannot produce them.

Each test shows the run either completes through botocore's retries, or fails without publishing
anything partial as if it were complete, and that the next run completes the work.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from veeam_role_auditor.deadline import Deadline
from veeam_role_auditor.dev.sample_account import SampleAccount, expected_alerts, expected_count, findings_per_role
from veeam_role_auditor.inventory import Caller, Inventory, client_config
from veeam_role_auditor.lambda_app import AuditorApp, LambdaConfig
from veeam_role_auditor.publish import PublishError
from veeam_role_auditor.publish.state import StateStore, create_table
from veeam_role_auditor.scan import scan_account
from veeam_role_auditor.settings import ScanSettings

TABLE = "state"
IAM_THROTTLING = (
    b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
    b"<Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>"
)
IAM_UNAVAILABLE = (
    b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Receiver</Type>'
    b"<Code>ServiceUnavailable</Code><Message>Service unavailable</Message></Error></ErrorResponse>"
)
POLICY_NOT_FOUND = b"<Message>Policy not found</Message></Error></ErrorResponse>"
DYNAMODB_THROTTLING = json.dumps(
    {
        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "message": "The level of configured provisioned throughput for the table was exceeded.",
    }
).encode()

# Security Hub is a REST-JSON service: the error code is the body's __type.
SECURITY_HUB_DENIED = json.dumps(
    {
        "__type": "AccessDeniedException",
        "message": "User is not authorized to perform: securityhub:BatchImportFindings with an explicit deny in a "
        "service control policy",
    }
).encode()
SECURITY_HUB_THROTTLED = json.dumps({"__type": "TooManyRequestsException", "message": "Rate exceeded"}).encode()

FINDINGS = expected_count()
"""The first scan of the sample account: every finding (derived from the catalogue and the account)."""
ALERTS = expected_alerts()
"""Its failures at MEDIUM or above: one alert each."""
PER_ROLE = findings_per_role()
"""The findings of one role that declares no purpose."""


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


class Faults:
    """Answers the first ``times`` sends of an operation with an error response (HTTP level)."""

    def __init__(self, client: Any, operation: str, status: int, body: bytes, times: int) -> None:
        self.left = times
        self.attempts = 0
        self.status, self.body = status, body
        client.meta.events.register(f"before-send.{client.meta.service_model.service_name}.{operation}", self)

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        self.attempts += 1
        if self.left == 0:
            return None
        self.left -= 1
        return AWSResponse(request.url, self.status, {}, _Raw(self.body))


@pytest.fixture(autouse=True)
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore backs off between retries; the tests count retries, they do not wait for them."""
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda seconds: None)


@pytest.fixture
def app(sample: SampleAccount, dynamodb: Any, securityhub: Any, sns: Any, sqs: Any, iam: Any) -> AuditorApp:
    create_table(dynamodb, TABLE)
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    config = LambdaConfig.from_environment(
        {"VRA_APPLIANCE_ROLE_ARNS": sample.appliance_role_arn, "VRA_STATE_TABLE": TABLE, "VRA_TOPIC_ARN": topic}
    )
    clients = {"iam": iam, "dynamodb": dynamodb, "securityhub": securityhub, "sns": sns, "sqs": sqs}
    return AuditorApp(config, clients.__getitem__)


CALLER = Caller(partition="aws", account="123456789012", arn="arn:aws:lambda:us-east-1:123456789012:function:scan")


def active_findings(store: StateStore) -> dict[str, str]:
    return {f.finding_id: f.status for f in store.load_account("123456789012").values() if f.record_state == "ACTIVE"}


# ---------------------------------------------------------------------- IAM


def test_throttled_pages_are_retried_and_the_scan_completes(app: AuditorApp, iam: Any) -> None:
    faults = Faults(iam, "GetAccountAuthorizationDetails", 400, IAM_THROTTLING, times=2)
    summary = app.full_scan(CALLER, reason="test")
    assert (summary["status"], summary["roles_in_scope"], summary["imported"]) == ("complete", 9, FINDINGS)
    assert faults.attempts == 4  # 2 throttled, then the roles and the managed policies of the purpose roles


def test_when_retries_run_out_nothing_partial_is_published_and_nothing_archived(
    app: AuditorApp, iam: Any, securityhub: Any
) -> None:
    app.full_scan(CALLER, reason="first")
    before = active_findings(app.store)
    iam.delete_role(RoleName="VeeamSnapshotMissingTrust")  # would be archived by a complete scan
    imports: list[Any] = []
    securityhub.meta.events.register(
        "provide-client-params.securityhub.BatchImportFindings", lambda params, **_: imports.append(params)
    )
    faults = Faults(iam, "GetAccountAuthorizationDetails", 503, IAM_UNAVAILABLE, times=1000)
    with pytest.raises(ClientError, match="ServiceUnavailable"):
        app.full_scan(CALLER, reason="during an outage")
    assert faults.attempts == 10  # total_max_attempts
    assert imports == []
    assert active_findings(app.store) == before
    faults.left = 0
    summary = app.full_scan(CALLER, reason="after the outage")
    assert summary["archived"] == PER_ROLE


def test_an_unparsable_trust_policy_fails_only_its_own_role() -> None:
    iam = boto3.client(
        "iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x", config=client_config()
    )
    stubber = Stubber(iam)
    detail = {
        "Path": "/",
        "RoleId": "AROAEXAMPLEROLE000001",
        "CreateDate": datetime(2026, 1, 1, tzinfo=UTC),
        "Tags": [{"Key": "veeam:backup-role", "Value": "true"}],
    }
    good = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:role/veeam/Imp"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    page = {
        "RoleDetailList": [
            {
                **detail,
                "RoleName": "Broken",
                "Arn": "arn:aws:iam::123456789012:role/Broken",
                "AssumeRolePolicyDocument": "%7B%22Version%22%3A",
            },
            {
                **detail,
                "RoleName": "Fine",
                "Arn": "arn:aws:iam::123456789012:role/Fine",
                "AssumeRolePolicyDocument": json.dumps(good),
            },
        ],
        "IsTruncated": False,
    }
    stubber.add_response("get_account_authorization_details", page)

    class Known(Inventory):
        def caller(self) -> Caller:
            return CALLER

    with stubber:
        result = scan_account(
            Known(iam, sts=None), ScanSettings(appliance_role_arns=("arn:aws:iam::123456789012:role/veeam/Imp",))
        )
    trust = {
        f.role_arn.rsplit("/", 1)[-1]: (f.status, f.details[0]) for f in result.findings if f.check == "VRA-TRUST-1"
    }
    assert trust["Broken"][0] == "FAILED"
    assert trust["Broken"][1].startswith("malformed: the policy is not valid JSON")
    assert trust["Fine"][0] == "PASSED"


def test_a_managed_policy_deleted_between_listing_and_reading(app: AuditorApp, iam: Any) -> None:
    arn = iam.create_policy(
        PolicyName="Gone",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        ),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="VeeamImpersonation", PolicyArn=arn)
    missing = b"<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchEntity</Code>" + POLICY_NOT_FOUND
    Faults(iam, "GetPolicy", 404, missing, times=1)
    summary = app.full_scan(CALLER, reason="test")
    assert summary["status"] == "complete"
    identity = [f for f in app.store.load_account("123456789012").values() if f.check == "VRA-IDENTITY-1"]
    assert {f.status for f in identity} == {"NOT_AVAILABLE"}


# ---------------------------------------------------------------------- DynamoDB


def standard_retries(app: AuditorApp) -> Any:
    """The adaptive mode's client-side rate limiter waits in real time after throttling; the standard
    mode retries the same way without it, which keeps these tests fast."""
    dynamodb = boto3.client("dynamodb", region_name="us-east-1", config=client_config(retry_mode="standard"))
    clients = app.clients
    app.clients = lambda service: dynamodb if service == "dynamodb" else clients(service)
    return dynamodb


def test_throttled_state_writes_are_retried(app: AuditorApp) -> None:
    dynamodb = standard_retries(app)
    faults = Faults(dynamodb, "PutItem", 400, DYNAMODB_THROTTLING, times=5)
    summary = app.full_scan(CALLER, reason="test")
    assert (summary["claimed"], summary["imported"], summary["messages_sent"]) == (FINDINGS, FINDINGS, ALERTS)
    assert faults.attempts == FINDINGS + 1 + 5  # FINDINGS claims, the appliance-id history, 5 retries


def test_state_throttling_beyond_the_retries_fails_the_run_and_the_next_run_completes(
    app: AuditorApp, sqs: Any, sns: Any
) -> None:
    dynamodb = standard_retries(app)
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=app.config.topic_arn, Protocol="sqs", Endpoint=arn)
    faults = Faults(dynamodb, "PutItem", 400, DYNAMODB_THROTTLING, times=10 * 30)  # about 30 claims fail
    with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
        app.full_scan(CALLER, reason="throttled")
    faults.left = 0
    summary = app.full_scan(CALLER, reason="recovered")
    assert summary["status"] == "complete"
    messages = []
    while batch := sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", []):
        messages += batch
        for message in batch:
            sqs.delete_message(QueueUrl=inbox, ReceiptHandle=message["ReceiptHandle"])
    # Exactly one alert per failing finding across both runs: the failed run gave its claims back.
    assert len(messages) == ALERTS
    assert len(active_findings(app.store)) == FINDINGS
    assert app.full_scan(CALLER, reason="quiet")["claimed"] == 0


def test_an_event_driven_runs_transaction_failing_beyond_the_retries_fails_cleanly(app: AuditorApp) -> None:
    app.full_scan(CALLER, reason="first")
    dynamodb = app.clients("dynamodb")
    stored = app.store.load_account("123456789012")

    def throttled(**_: Any) -> None:
        # Raised before the request reaches moto (which would run it): as if botocore's retries ran out.
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "TransactWriteItems"
        )

    dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems", throttled)
    with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
        app.evaluate_role("VeeamSnapshotMissingTrust", CALLER)  # unchanged: only its observation times to claim
    assert app.store.load_account("123456789012") == stored  # nothing written
    dynamodb.meta.events.unregister("before-call.dynamodb.TransactWriteItems", throttled)
    summary = app.evaluate_role("VeeamSnapshotMissingTrust", CALLER)
    assert (summary["claimed"], summary["unchanged"], summary["conflicts"]) == (PER_ROLE, PER_ROLE, 0)


# ---------------------------------------------------------------------- Lambda's timeout


def test_out_of_time_while_reading_roles_publishes_nothing(app: AuditorApp) -> None:
    summary = app.full_scan(CALLER, reason="test", deadline=Deadline(lambda: 1_000))
    assert summary == {
        "status": "incomplete",
        "reason": "test",
        "detail": "out of time after 1 pages (12 roles) of the account's roles",
    }
    assert active_findings(app.store) == {}


def test_out_of_time_while_publishing_stops_cleanly_and_the_next_run_completes(app: AuditorApp) -> None:
    calls = iter(range(10**6))
    # Plenty of time for reading and the first 40 claims, then less than the margin.
    deadline = Deadline(lambda: 900_000 if next(calls) < 41 else 10_000)
    app.publisher = _serial(app.publisher)  # type: ignore[method-assign]
    summary = app.full_scan(CALLER, reason="test", deadline=deadline)
    assert summary["status"] == "partly published"
    assert (summary["claimed"], summary["deferred"]) == (40, FINDINGS - 40)
    assert summary["imported"] == 40
    summary = app.full_scan(CALLER, reason="next")
    assert (summary["status"], summary["claimed"], summary["deferred"]) == ("complete", FINDINGS - 40, 0)
    assert len(active_findings(app.store)) == FINDINGS


def _serial(make: Any) -> Any:
    """One claim at a time, so the deadline's cut-off point is deterministic."""

    def publisher() -> Any:
        made = make()
        made.settings = made.settings.__class__(**{**made.settings.__dict__, "write_concurrency": 1})
        return made

    return publisher


def test_deadline_from_a_context() -> None:
    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 59_999

    assert Deadline.from_context(Context()).expired()
    assert not Deadline.from_context(object()).expired()
    assert not Deadline.from_context(Context(), margin_ms=30_000).expired()


# ---------------------------------------------------------------------- Security Hub and SNS are independent


class Metrics:
    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def add_metric(self, name: str, unit: str, value: float) -> None:
        self.values[name] = self.values.get(name, 0) + value


def subscriber(app: AuditorApp, sqs: Any, sns: Any) -> Any:
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=app.config.topic_arn, Protocol="sqs", Endpoint=arn)

    def received() -> list[str]:
        subjects = []
        while batch := sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                subjects.append(json.loads(message["Body"])["Subject"])
                sqs.delete_message(QueueUrl=inbox, ReceiptHandle=message["ReceiptHandle"])
        return subjects

    return received


def standard_security_hub(app: AuditorApp) -> Any:
    """As standard_retries, for Security Hub (the adaptive mode would wait in real time after 429s)."""
    securityhub = boto3.client("securityhub", region_name="us-east-1", config=client_config(retry_mode="standard"))
    clients = app.clients
    app.clients = lambda service: securityhub if service == "securityhub" else clients(service)
    return securityhub


@pytest.mark.parametrize(
    ("status", "body", "code", "attempts"),
    [
        (403, SECURITY_HUB_DENIED, "AccessDeniedException", 1),  # an SCP: not retried
        (429, SECURITY_HUB_THROTTLED, "TooManyRequestsException", 10),  # throttled beyond botocore's retries
    ],
    ids=["access-denied", "throttled"],
)
def test_a_security_hub_failure_still_sends_the_alerts_then_fails_the_run(
    app: AuditorApp, sqs: Any, sns: Any, status: int, body: bytes, code: str, attempts: int
) -> None:
    received = subscriber(app, sqs, sns)
    metrics = app.metrics = Metrics()
    faults = Faults(standard_security_hub(app), "BatchImportFindings", status, body, times=1000)
    with pytest.raises(PublishError, match=f"BatchImportFindings: {code}") as raised:
        app.full_scan(CALLER, reason="Security Hub failing")
    assert faults.attempts == attempts
    report = raised.value.report
    assert (report.imported, len(report.import_failures), report.messages_sent) == (0, FINDINGS, ALERTS)
    assert report.security_hub_error is not None
    assert report.security_hub_error.startswith(f"BatchImportFindings: {code}: ")
    assert len(received()) == ALERTS  # subscribers hear of every failure although Security Hub refused
    assert (metrics.values["PublishFailures"], metrics.values["AlertMessagesSent"]) == (1, ALERTS)
    stored = app.store.load_account("123456789012").values()
    assert {(f.sh_key, f.alert_pending) for f in stored} == {(None, None)}  # alerts confirmed, imports not

    faults.left = 0
    summary = app.full_scan(CALLER, reason="Security Hub back")
    assert (summary["imported"], summary["messages_sent"], summary["security_hub_error"]) == (FINDINGS, 0, None)
    assert received() == []


def test_state_errors_while_confirming_still_send_every_alert_then_fail_the_run(
    app: AuditorApp, sqs: Any, sns: Any
) -> None:
    received = subscriber(app, sqs, sns)
    dynamodb = standard_retries(app)
    Faults(dynamodb, "UpdateItem", 400, DYNAMODB_THROTTLING, times=10_000)  # every confirmation fails
    with pytest.raises(PublishError, match="ProvisionedThroughputExceeded") as raised:
        app.full_scan(CALLER, reason="state table throttled")
    assert (raised.value.report.messages_sent, len(raised.value.errors)) == (ALERTS, FINDINGS + ALERTS)
    assert len(received()) == ALERTS
