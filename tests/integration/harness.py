"""Running the Lambda handlers exactly as Lambda calls them, on moto (shared by several test modules)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from veeam_role_auditor.dev.handlers import LocalContext, load_handler
from veeam_role_auditor.dev.sample_account import SampleAccount
from veeam_role_auditor.publish.state import create_table

TABLE = "veeam-role-auditor-state"
ACCOUNT = "123456789012"  # moto's default account, as in events/


@dataclass
class Deployment:
    sample: SampleAccount
    scan: ModuleType
    change: ModuleType
    sqs: Any
    queue_url: str
    inbox_url: str
    imports: list[dict[str, Any]]

    def scheduled(self, event: Any) -> Any:
        return self.scan.lambda_handler(event, LocalContext("veeam-role-auditor-ScheduledScan"))

    def iam_change(self, event: Any) -> Any:
        return self.change.lambda_handler(event, LocalContext("veeam-role-auditor-IamChange"))

    def rechecks(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(message["Body"]) for message in messages]

    def alerts(self) -> list[dict[str, Any]]:
        received = []
        while batch := self.sqs.receive_message(QueueUrl=self.inbox_url, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                received.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.inbox_url, ReceiptHandle=message["ReceiptHandle"])
        return received


def make_deployment(
    sample: SampleAccount, dynamodb: Any, securityhub: Any, sns: Any, sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> Deployment:
    create_table(dynamodb, TABLE)
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    queue = sqs.create_queue(QueueName="veeam-role-auditor-recheck")["QueueUrl"]
    environment = {
        "VRA_APPLIANCE_ROLE_ARNS": sample.appliance_role_arn,
        "VRA_STATE_TABLE": TABLE,
        "VRA_TOPIC_ARN": topic,
        "VRA_RECHECK_QUEUE_URL": queue,
        "POWERTOOLS_SERVICE_NAME": "veeam-role-auditor",
        "POWERTOOLS_METRICS_NAMESPACE": "VeeamRoleAuditor",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    imports: list[dict[str, Any]] = []
    scan, change = load_handler("scheduled_scan"), load_handler("iam_change")
    for module in (scan, change):
        module.client.created.clear()
        # Powertools keeps metrics in a store shared by every Metrics instance in the process.
        module.metrics.clear_metrics()
    for module in (scan, change):
        hub = module.client("securityhub")
        hub.meta.events.register(
            "provide-client-params.securityhub.BatchImportFindings",
            lambda params, **_: imports.extend(params["Findings"]),
        )
    return Deployment(sample, scan, change, sqs, queue, inbox, imports)
