"""Least privilege, measured: every AWS call each handler makes is recorded while it runs every kind
of input on moto, and the template must grant exactly those actions to that function, no more.

The runs include suppression rules read from an SSM parameter (the statement granting it is conditional
on the parameter being named: here it is) and a suppressed finding's workflow update, which moto lacks
(answered by :class:`WorkflowService`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber
from samtranslator.yaml_helper import yaml_parse

from tests.conftest import EVENTS, ROOT
from tests.integration.harness import Deployment, make_deployment
from tests.integration.test_publish_suppressions import WorkflowService
from veeam_role_auditor.dev.handlers import load_event
from veeam_role_auditor.dev.sample_account import SampleAccount

TEMPLATE = yaml_parse((ROOT / "template.yaml").read_text())
# boto3 operation -> IAM action, where the names differ (Service Authorization Reference).
ACTION_NAMES = {"lambda:Invoke": "lambda:InvokeFunction"}
# Publishing to a topic encrypted with a customer managed key needs these on the key (SNS key management).
IMPLIED = {"sns:Publish": {"kms:GenerateDataKey", "kms:Decrypt"}}


def granted(function: str) -> set[str]:
    """The function's actions with a suppressions parameter named (every Fn::If statement present)."""
    actions: set[str] = set()
    for statement in TEMPLATE["Resources"][function]["Properties"]["Policies"][0]["Statement"]:
        if "Fn::If" in statement:
            statement = statement["Fn::If"][1]  # noqa: PLW2901  the statement when its condition holds
        value = statement["Action"]
        actions.update([value] if isinstance(value, str) else value)
    return actions


def record(module: Any) -> set[str]:
    """Wrap the handler module's client factory: every client it makes reports each call it sends."""
    calls: set[str] = set()
    make: Callable[[str], Any] = module.client

    def watch(created: Any) -> Any:
        prefix = created.meta.service_model.signing_name
        created.meta.events.register_first(
            "before-call.*.*", lambda model, params, **_: calls.update(operations(prefix, model.name, params))
        )
        return created

    cache = module.client
    for created in cache.created.values():
        watch(created)

    def client(service: str) -> Any:
        if service in cache.created:
            return cache.created[service]
        return watch(make(service))

    module.client = client
    return calls


# A transaction is authorized per action it holds: "Permissions for Put, Update, Delete, and Get actions are
# governed by the permissions used for the underlying PutItem, UpdateItem, DeleteItem, and GetItem
# operations" ("Using IAM with DynamoDB transactions"); there is no dynamodb:TransactWriteItems action.
TRANSACTION_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def operations(prefix: str, operation: str, request: dict[str, Any]) -> set[str]:
    """The operations a call (its serialized request) is authorized as: itself, or a transaction's actions."""
    if (prefix, operation) == ("dynamodb", "TransactWriteItems"):
        items = json.loads(request["body"])["TransactItems"]
        return {f"dynamodb:{TRANSACTION_ACTIONS[kind]}" for item in items for kind in item}
    return {f"{prefix}:{operation}"}


def as_actions(calls: set[str]) -> set[str]:
    actions = {ACTION_NAMES.get(call, call) for call in calls}
    for call in calls:
        actions |= IMPLIED.get(call, set())
    return actions


def suppress(monkeypatch: pytest.MonkeyPatch, role: str) -> None:
    """A suppressions parameter, named as the template names it, with one rule for a failing finding."""
    name = "/veeam-role-auditor/suppressions"
    rules = [{"check": "VRA-TRUST-1", "role": role, "reason": "accepted", "expires": "2099-12-31"}]
    boto3.client("ssm", region_name="us-east-1").put_parameter(Name=name, Value=json.dumps(rules), Type="String")
    monkeypatch.setenv("VRA_SUPPRESSIONS_PARAMETER", name)


@pytest.fixture
def deployment(
    sample: SampleAccount, dynamodb: Any, securityhub: Any, sns: Any, sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> Deployment:
    return make_deployment(sample, dynamodb, securityhub, sns, sqs, monkeypatch)


def test_scheduled_scan_calls_exactly_what_it_is_granted(
    deployment: Deployment, iam: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = record(deployment.scan)
    suppress(monkeypatch, "VeeamSnapshotMissingTrust")
    workflow = WorkflowService().attach(deployment.scan.client("securityhub"))
    # An appliance with a managed policy and a permissions boundary: every read the scan can make.
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
    }
    policy = iam.create_policy(PolicyName="VeeamImpersonationPolicy", PolicyDocument=json.dumps(document))
    iam.attach_role_policy(RoleName="VeeamImpersonation", PolicyArn=policy["Policy"]["Arn"])
    iam.put_role_permissions_boundary(RoleName="VeeamImpersonation", PermissionsBoundary=policy["Policy"]["Arn"])
    deployment.scheduled(load_event("scheduled_scan.json"))
    iam.delete_role(RoleName="VeeamSnapshotMissingTrust")
    deployment.scheduled(load_event("scheduled_scan.json"))
    assert [request["Workflow"] for request in workflow.requests] == [{"Status": "SUPPRESSED"}]
    assert as_actions(calls) == granted("ScheduledScanFunction")


def test_iam_change_calls_exactly_what_it_is_granted(
    deployment: Deployment, iam: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VRA_SCAN_FUNCTION_NAME", "veeam-role-auditor-ScheduledScan")  # as the template sets it
    calls = record(deployment.change)
    deployment.scheduled(load_event("scheduled_scan.json"))  # state to archive from
    # The role of the UpdateAssumeRolePolicy event now fails, and a rule accepts it: suppressed on the way.
    iam.update_assume_role_policy(
        RoleName="VeeamRepositoryHealthy",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )
    suppress(monkeypatch, "VeeamRepositoryHealthy")
    workflow = WorkflowService().attach(deployment.change.client("securityhub"))
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
    }
    policy = iam.create_policy(PolicyName="VeeamImpersonationPolicy", PolicyDocument=json.dumps(document))
    iam.attach_role_policy(RoleName="VeeamImpersonation", PolicyArn=policy["Policy"]["Arn"])
    iam.delete_role(RoleName="VeeamSnapshotMissingTrust")
    lambda_client = deployment.change.client("lambda")
    stubber = Stubber(lambda_client)
    for _ in range(40):
        stubber.add_response(
            "invoke", {"StatusCode": 202}, {"FunctionName": ANY, "InvocationType": "Event", "Payload": ANY}
        )
    with stubber:
        for path in sorted((EVENTS / "cloudtrail").glob("*.json")):
            deployment.iam_change(json.loads(path.read_text()))
        deployment.iam_change(load_event("recheck_sqs.json"))

        # A failure after the idempotency record was written: Powertools deletes the record (DeleteItem)
        # so that the retry is processed.
        def broken(**_: Any) -> None:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "down"}}, "SendMessage")

        deployment.change.client("sqs").meta.events.register("before-call.sqs.SendMessage", broken)
        event = load_event("cloudtrail/UpdateAssumeRolePolicy.json")
        event["detail"]["eventID"] = "0b5c1c1e-2f57-4e46-9a4f-3f0d1f5e0c11"
        with pytest.raises(ClientError):
            deployment.iam_change(event)
    assert [request["Workflow"] for request in workflow.requests] == [{"Status": "SUPPRESSED"}]
    assert as_actions(calls) == granted("IamChangeFunction")
