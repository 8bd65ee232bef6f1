"""X-Ray traces of the handlers, as Lambda runs them with ``Tracing: Active``: every AWS call the invocation
makes, in whichever thread, is recorded inside its ``## lambda_handler`` subsegment.

Each case runs in a fresh interpreter (tracing patches botocore for the whole process) with the variables
Lambda sets (``LAMBDA_TASK_ROOT``, ``_X_AMZN_TRACE_ID``) and ``AWS_XRAY_DAEMON_ADDRESS`` pointing at a UDP
socket of the probe's, which collects the segment documents the X-Ray SDK emits; AWS itself is moto.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"
FUNCTION_SEGMENT = "53995c3f42cd8ad8"  # the Parent of the trace header: the function's segment (Lambda's own)

PROBE = """
import json, os, socket, sys, threading, time
daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
daemon.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)  # a burst of writes sends hundreds at once
daemon.bind(("127.0.0.1", 0))
received = []
def listen():
    while True:
        received.append(daemon.recv(65536))
threading.Thread(target=listen, daemon=True).start()
os.environ["AWS_XRAY_DAEMON_ADDRESS"] = "127.0.0.1:%d" % daemon.getsockname()[1]
function, event_name = sys.argv[1], sys.argv[2]

from moto import mock_aws
with mock_aws():
    import boto3
    from veeam_role_auditor.dev.handlers import LocalContext, load_event, load_handler
    from veeam_role_auditor.dev.sample_account import create_sample_account
    from veeam_role_auditor.inventory import client_config
    from veeam_role_auditor.publish.state import create_table

    sample = create_sample_account(boto3.client("iam", config=client_config()), "123456789012")
    create_table(boto3.client("dynamodb"), "state")
    boto3.client("securityhub").enable_security_hub()
    os.environ["VRA_APPLIANCE_ROLE_ARNS"] = sample.appliance_role_arn
    os.environ["VRA_TOPIC_ARN"] = boto3.client("sns").create_topic(Name="alerts")["TopicArn"]
    os.environ["VRA_RECHECK_QUEUE_URL"] = boto3.client("sqs").create_queue(QueueName="recheck")["QueueUrl"]
    handler = load_handler(function)
    calls = []
    handler.client._session.events.register("before-call", lambda model, **_: calls.append(
        [model.service_model.service_name, model.name]))
    result = handler.lambda_handler(load_event(event_name), LocalContext(function))
deadline = time.monotonic() + 5
while time.monotonic() < deadline and len(received) < len(calls) + 1:
    time.sleep(0.05)
documents = [json.loads(data.decode().partition("\\n")[2]) for data in received]
print(json.dumps({"result": result, "calls": calls, "documents": documents}))
"""


def run_traced(function: str, event: str) -> dict[str, Any]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "VRA_", "POWERTOOLS_"))
    }
    environment |= {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        # what Lambda sets in an execution environment of a function with active tracing
        "LAMBDA_TASK_ROOT": "/var/task",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "_X_AMZN_TRACE_ID": f"Root={TRACE_ID};Parent={FUNCTION_SEGMENT};Sampled=1",
        # what the template sets
        "VRA_STATE_TABLE": "state",
        "POWERTOOLS_SERVICE_NAME": "veeam-role-auditor",
        "POWERTOOLS_METRICS_NAMESPACE": "VeeamRoleAuditor",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, function, event],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def subsegments(documents: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """Every subsegment the SDK emitted (streamed on its own or inside its parent), with its parent's id."""
    found = []

    def walk(entity: dict[str, Any], parent: str) -> None:
        found.append((entity, parent))
        for child in entity.get("subsegments", []):
            walk(child, entity["id"])

    for document in documents:
        walk(document, document.get("parent_id", ""))
    return found


@pytest.mark.parametrize(
    ("function", "event", "status", "threaded"),
    [
        # the read-ahead reads GetAccountAuthorizationDetails; every finding is new: parallel state writes
        (
            "scheduled_scan",
            "scheduled_scan.json",
            "complete",
            ("GetAccountAuthorizationDetails", "PutItem", "UpdateItem"),
        ),
        # one role evaluated: its findings are claimed in parallel
        ("iam_change", "cloudtrail/UpdateAssumeRolePolicy.json", "evaluated", ("PutItem", "UpdateItem")),
    ],
)
def test_every_aws_call_is_traced_inside_the_invocation(
    function: str, event: str, status: str, threaded: tuple[str, ...]
) -> None:
    report = run_traced(function, event)
    assert report["result"]["status"] == status, report["result"]
    entities = subsegments(report["documents"])
    assert {document["trace_id"] for document in report["documents"]} == {TRACE_ID}
    parents = {entity["id"]: parent for entity, parent in entities}
    (handler,) = [entity["id"] for entity, _ in entities if entity["name"] == "## lambda_handler"]
    assert parents[handler] == FUNCTION_SEGMENT

    def inside_handler(identifier: str) -> bool:
        while identifier in parents:
            identifier = parents[identifier]
            if identifier == handler:
                return True
        return False

    traced = [(entity["name"], entity["aws"]["operation"], entity["id"]) for entity, _ in entities if "aws" in entity]
    # one subsegment for each call the auditor's clients made, none lost
    assert sorted([service.lower(), operation] for service, operation, _ in traced) == sorted(
        [service.lower(), operation] for service, operation in report["calls"]
    )
    outside = [(service, operation) for service, operation, identifier in traced if not inside_handler(identifier)]
    assert outside == []
    operations = {operation for _, operation, _ in traced}
    assert set(threaded) <= operations
