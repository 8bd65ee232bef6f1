"""Benchmark: AWS calls and wall time per single-role IAM event in a warm iam_change container (issue 13).

Run: .venv/bin/python bench/event_bench.py [--before /path/to/older/tree] [--rounds 3] [--burst 100]

Each tree runs in fresh processes (``PYTHONPATH`` pointing at its ``layers/auditor``, its own
``functions/iam_change/app.py`` and ``functions/scheduled_scan/app.py``), on moto in process
(``mock_aws``), with an account of its own making, so any two trees run the same workload:
- an Impersonation role with an inline policy, two managed policies and an instance profile (what the
  event path reads when it reads the appliance: about ten calls), and 20 Veeam roles trusting it;
- a scheduled scan first (the state table in steady state), then one event (a warm container);
- *unchanged role*: an event about a role whose assessment does not change (each of 10 roles once);
- *changed role*: UpdateAssumeRolePolicy that breaks, then repairs, the trust of each of 5 roles (10
  events, each a transition: state writes, a Security Hub import, an alert);
- *burst*: ``--burst`` events in a row about unchanged roles (one container, as Lambda would reuse one).

Calls are every API call a botocore client of the process makes (``BaseClient._make_api_call``: one per
request and per page, retries not counted), the idempotency record and the re-check message included.
Wall time is the handler's, median over ``--rounds`` alternating runs of the trees; *own* is that wall
time less the time moto spends answering (its ``BotocoreStubber``), which is no measure of AWS: moto's
TransactWriteItems, for one, deep-copies the whole table to be able to roll back. A changed role's IAM
edit is made before the clock starts and is not counted.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
APPLIANCE = "VeeamImpersonation"
TAG = "veeam:backup-role"
TABLE = "veeam-role-auditor-state"
ROLES = 20


class Context:
    """The attributes of Lambda's context object a Python handler and Powertools use."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def _trust(principal: dict[str, str]) -> str:
    statement = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _populate(iam: Any) -> str:
    appliance = iam.create_role(
        RoleName=APPLIANCE, Path="/veeam/", AssumeRolePolicyDocument=_trust({"Service": "ec2.amazonaws.com"})
    )["Role"]["Arn"]
    iam.create_instance_profile(InstanceProfileName=APPLIANCE)
    iam.add_role_to_instance_profile(InstanceProfileName=APPLIANCE, RoleName=APPLIANCE)
    assume = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
    iam.put_role_policy(RoleName=APPLIANCE, PolicyName="AssumeVeeamRoles", PolicyDocument=json.dumps(assume))
    for name, action in (("VeeamEc2", "ec2:Describe*"), ("VeeamS3", "s3:ListAllMyBuckets")):
        document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}
        arn = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(document))["Policy"]["Arn"]
        iam.attach_role_policy(RoleName=APPLIANCE, PolicyArn=arn)
    for number in range(ROLES):
        iam.create_role(
            RoleName=f"VeeamRole{number:02d}",
            AssumeRolePolicyDocument=_trust({"AWS": appliance}),
            Tags=[{"Key": TAG, "Value": "true"}],
        )
    return str(appliance)


def _event(event_name: str, role_name: str) -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    event_id = str(uuid.uuid4())
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam",
        "account": ACCOUNT,
        "time": now,
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "eventTime": now,
            "eventSource": "iam.amazonaws.com",
            "eventName": event_name,
            "awsRegion": REGION,
            "requestParameters": {"roleName": role_name},
            "responseElements": None,
            "eventID": event_id,
            "eventType": "AwsApiCall",
            "recipientAccountId": ACCOUNT,
        },
    }


def _load(tree: Path, function: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"bench_{function}", tree / "functions" / function / "app.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"no handler {function} in {tree}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def worker(tree: Path, burst: int, out: Path) -> None:
    """One tree, one process: the workload above; writes calls and wall times as JSON to ``out``."""
    import boto3
    import botocore.client
    from moto import mock_aws
    from moto.core.botocore_stubber import BotocoreStubber

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_SERVICE_NAME": "veeam-role-auditor",
        "POWERTOOLS_METRICS_NAMESPACE": "VeeamRoleAuditor",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }.items():
        os.environ[name] = value
    os.environ.pop("AWS_PROFILE", None)
    calls: Counter[str] = Counter()
    make_api_call = botocore.client.BaseClient._make_api_call

    def counted(self: Any, operation_name: str, api_params: Any) -> Any:
        calls[f"{self.meta.service_model.service_name}:{operation_name}"] += 1
        return make_api_call(self, operation_name, api_params)

    botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign]
    emulated = [0.0, 0]  # seconds moto spent answering, nesting depth (moto's SNS delivers to SQS itself)
    answer = BotocoreStubber.__call__

    def timed(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        emulated[1] += 1
        started = time.perf_counter()
        try:
            return answer(self, event_name, request, **kwargs)
        finally:
            emulated[1] -= 1
            if emulated[1] == 0:
                emulated[0] += time.perf_counter() - started

    BotocoreStubber.__call__ = timed  # type: ignore[method-assign]
    results: dict[str, Any] = {"tree": str(tree)}
    with mock_aws(), open(os.devnull, "w") as devnull, redirect_stdout(devnull):  # Powertools' metrics lines
        iam = boto3.client("iam", region_name=REGION)
        appliance = _populate(iam)
        from veeam_role_auditor.publish.state import create_table

        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_table(dynamodb, TABLE)
        boto3.client("securityhub", region_name=REGION).enable_security_hub()
        sqs = boto3.client("sqs", region_name=REGION)
        os.environ.update(
            {
                "VRA_APPLIANCE_ROLE_ARNS": appliance,
                "VRA_STATE_TABLE": TABLE,
                "VRA_TOPIC_ARN": boto3.client("sns", region_name=REGION).create_topic(Name="alerts")["TopicArn"],
                "VRA_RECHECK_QUEUE_URL": sqs.create_queue(QueueName="recheck")["QueueUrl"],
            }
        )
        scan, change = _load(tree, "scheduled_scan"), _load(tree, "iam_change")
        scheduled = {"source": "aws.events", "detail-type": "Scheduled Event", "resources": ["bench"], "detail": {}}
        scan.lambda_handler(scheduled, Context("scheduled-scan"))
        change.lambda_handler(_event("TagRole", "VeeamRole19"), Context("iam-change"))  # the container is warm

        def measure(event: dict[str, Any]) -> tuple[dict[str, int], float, float]:
            calls.clear()
            emulated[0] = 0.0
            started = time.perf_counter()
            summary = change.lambda_handler(event, Context("iam-change"))
            wall = time.perf_counter() - started
            if summary.get("status") != "evaluated":
                raise SystemExit(f"{tree}: unexpected summary {summary}")
            return dict(calls), wall, wall - emulated[0]

        results["unchanged"] = [measure(_event("TagRole", f"VeeamRole{number:02d}")) for number in range(10)]
        changed = []
        for number in range(5):  # each role broken (the appliance no longer trusted), then repaired
            role = f"VeeamRole{number:02d}"
            for principal in ({"Service": "ec2.amazonaws.com"}, {"AWS": appliance}):
                iam.update_assume_role_policy(RoleName=role, PolicyDocument=_trust(principal))
                changed.append(measure(_event("UpdateAssumeRolePolicy", role)))
        results["changed"] = changed
        calls.clear()
        emulated[0] = 0.0
        started = time.perf_counter()
        for number in range(burst):
            change.lambda_handler(_event("TagRole", f"VeeamRole{number % ROLES:02d}"), Context("iam-change"))
        wall = time.perf_counter() - started
        results["burst"] = {"events": burst, "calls": dict(calls), "wall": wall, "own": wall - emulated[0]}
    out.write_text(json.dumps(results))


def _run(tree: Path, burst: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "result.json"
        environment = {**os.environ, "PYTHONPATH": str(tree / "layers" / "auditor")}
        command = [sys.executable, __file__, "--worker", str(tree), "--burst", str(burst), "--out", str(out)]
        subprocess.run(command, env=environment, check=True)
        return dict(json.loads(out.read_text()))


def _total(calls: dict[str, int]) -> int:
    return sum(calls.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, help="an older tree (a git worktree) to compare with")
    parser.add_argument("--after", type=Path, default=ROOT, help="the tree to measure (default: this one)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.burst, args.out)
        return
    trees = {"before": args.before, "after": args.after} if args.before else {"after": args.after}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    for round_ in range(args.rounds):
        for name, tree in trees.items():
            print(f"round {round_ + 1}/{args.rounds}: {name} ({tree})", file=sys.stderr)
            runs[name].append(_run(tree.resolve(), args.burst))
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {args.rounds} rounds; moto in process")
    header = f"{'':28}" + "".join(f"{name + ' calls':>14}{'wall ms':>9}{'own ms':>8}" for name in trees)
    print(header)
    rows = {
        "unchanged role (per event)": lambda r: [(_total(c), w, o) for c, w, o in r["unchanged"]],
        "changed role (per event)": lambda r: [(_total(c), w, o) for c, w, o in r["changed"]],
        f"burst of {args.burst} (per event)": lambda r: [
            (
                _total(r["burst"]["calls"]) / r["burst"]["events"],
                r["burst"]["wall"] / r["burst"]["events"],
                r["burst"]["own"] / r["burst"]["events"],
            )
        ],
    }
    for label, pick in rows.items():
        line = f"{label:28}"
        for name in trees:
            samples = [sample for run in runs[name] for sample in pick(run)]
            counts = sorted({round(count, 2) for count, _, _ in samples})
            shown = f"{counts[0]:g}" if len(counts) == 1 else f"{counts[0]:g}-{counts[-1]:g}"
            wall = statistics.median(w for _, w, _ in samples) * 1000
            own = statistics.median(o for _, _, o in samples) * 1000
            line += f"{shown:>14}{wall:>9.1f}{own:>8.1f}"
        print(line)
    for name in trees:
        unchanged: Counter[str] = Counter()
        for calls, _, _ in runs[name][0]["unchanged"]:
            unchanged.update(calls)
        events = len(runs[name][0]["unchanged"])
        detail = ", ".join(f"{call} {count / events:g}" for call, count in sorted(unchanged.items()))
        print(f"{name}: an unchanged-role event calls {detail}")


if __name__ == "__main__":
    main()
