"""`make demo`: the whole auditor on an embedded AWS emulator (moto's server on 127.0.0.1).

The story uses the real Lambda handlers exactly as Lambda calls them, with the sample events in
events/, against an account holding the appliance's Impersonation role and a dozen roles that each
show one outcome of the checks catalogue. Every step checks what it shows; any surprise exits 1.
With keep_running, the emulator then stays up with the demo's account until Ctrl-C (or SIGTERM), and
the environment to export and the README's commands are printed, so `scan` and `fix` can be tried by
hand. Needs the dev dependencies (moto) and a checkout of the repository (functions/ and events/).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from ..checks import CATALOGUE, problem_for
from .emulator import REGION, client_environment, environment, moto_server
from .handlers import LocalContext, load_event, load_handler
from .sample_account import (
    APPLIANCE_NAME,
    EXPECTED,
    EXPECTED_PURPOSES,
    EXPECTED_UPGRADE,
    UPGRADE_TARGET,
    create_sample_account,
)

TABLE = "veeam-role-auditor-state"
HEALTHY = "VeeamRepositoryHealthy"
SEVERITY_STYLE = {"CRITICAL": "bold white on red", "HIGH": "bold red", "MEDIUM": "yellow", "LOW": "cyan"}
CommandLine = Callable[[Sequence[str]], int]


class DemoFailed(Exception):
    """A step did not show what it should."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise DemoFailed(message)


@contextmanager
def emulator() -> Iterator[str]:
    """moto's server in this process on a free port; every boto3 client is pointed at it."""
    with (
        moto_server() as endpoint,
        environment(
            {
                **client_environment(endpoint, key="demo"),
                "AWS_REGION": REGION,
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_SERVICE_NAME": "veeam-role-auditor",
                "POWERTOOLS_METRICS_NAMESPACE": "VeeamRoleAuditor",
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_LOG_LEVEL": "ERROR",
            },
            removed=("AWS_PROFILE", "AWS_SESSION_TOKEN"),
        ),
    ):
        yield endpoint


class Story:
    def __init__(self, console: Console, command_line: CommandLine) -> None:
        import boto3

        self.console = console
        self.command_line = command_line
        self.iam = boto3.client("iam")
        self.sns = boto3.client("sns")
        self.sqs = boto3.client("sqs")
        self.securityhub = boto3.client("securityhub")
        self.dynamodb = boto3.client("dynamodb")
        self.steps = 0

    def step(self, title: str, explanation: str) -> None:
        self.steps += 1
        self.console.print()
        self.console.rule(f"[bold]Step {self.steps}: {title}")
        self.console.print(explanation, style="dim")

    # ------------------------------------------------------------------ set-up

    def set_up(self) -> None:
        from ..publish.state import create_table

        self.step(
            "an account that runs Veeam Backup for AWS",
            "The appliance's Impersonation role, ten Veeam roles each showing one outcome of the checks "
            "catalogue (four also declare what Veeam uses them for: one lacks a service's trust, one lacks "
            "actions, one lacks what the upgrade to 11 adds), Security Hub, the alerts topic with an SQS "
            "queue standing in for an e-mail subscriber, the state table and the re-check queue.",
        )
        self.sample = create_sample_account(self.iam, "123456789012")
        self.securityhub.enable_security_hub()
        create_table(self.dynamodb, TABLE)
        topic = self.sns.create_topic(Name="veeam-role-auditor-alerts")["TopicArn"]
        self.inbox = self.sqs.create_queue(QueueName="subscriber-inbox")["QueueUrl"]
        inbox_arn = self.sqs.get_queue_attributes(QueueUrl=self.inbox, AttributeNames=["QueueArn"])
        self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn["Attributes"]["QueueArn"])
        # The deployed queue holds each re-check for 300 s (IAM propagation); the demo does not wait.
        self.recheck_queue = self.sqs.create_queue(QueueName="veeam-role-auditor-recheck")["QueueUrl"]
        os.environ.update(
            {
                "VRA_APPLIANCE_ROLE_ARNS": self.sample.appliance_role_arn,
                "VRA_STATE_TABLE": TABLE,
                "VRA_TOPIC_ARN": topic,
                "VRA_RECHECK_QUEUE_URL": self.recheck_queue,
                "VRA_DIGEST_THRESHOLD": "5",
                "VRA_VEEAM_UPGRADE_TARGET": UPGRADE_TARGET,
            }
        )
        self.scan_handler = load_handler("scheduled_scan")
        self.change_handler = load_handler("iam_change")
        roles = self.iam.list_roles()["Roles"]
        self.console.print(
            f"Appliance role [bold]{self.sample.appliance_role_arn}[/]; {len(roles)} roles in account "
            f"{self.sample.account}; Security Hub enabled; alerts topic subscribed."
        )

    # ------------------------------------------------------------------ the story

    def scheduled_scan(self, *, first: bool) -> dict[str, Any]:
        with redirect_stdout(StringIO()):  # Powertools logs go to stdout as JSON lines
            summary: dict[str, Any] = self.scan_handler.lambda_handler(
                load_event("scheduled_scan.json"), LocalContext("veeam-role-auditor-ScheduledScan")
            )
        if first:
            expect(summary["roles_in_scope"] == 9, f"expected 9 roles in scope, got {summary['roles_in_scope']}")
            expect(summary["imported"] == summary["findings"], "every finding should reach Security Hub")
        return summary

    def first_scan(self) -> None:
        self.step(
            "the scheduled scan runs",
            "EventBridge invokes scheduled_scan hourly. It reads every role with "
            "GetAccountAuthorizationDetails, evaluates each Veeam role's trust policy with IAM's own "
            "semantics, imports the findings into Security Hub and alerts the subscriber.",
        )
        summary = self.scheduled_scan(first=True)
        pages = self.securityhub.get_paginator("get_findings").paginate(PaginationConfig={"PageSize": 100})
        findings = [finding for page in pages for finding in page["Findings"]]
        failing = [f for f in findings if f["Compliance"]["Status"] in ("FAILED", "WARNING")]
        table = Table(title="Findings that need attention (from Security Hub)")
        for column in ("Severity", "Status", "Role", "Problem"):
            # Role names are never cut (a truncated name is a wrong name); the problem text wraps.
            table.add_column(column, no_wrap=column != "Problem", min_width=28 if column == "Role" else None)
        order = {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 2, "LOW": 3, "INFORMATIONAL": 4}
        for finding in sorted(failing, key=lambda f: (order[f["Severity"]["Label"]], f["Resources"][0]["Id"])):
            severity = finding["Severity"]["Label"]
            table.add_row(
                f"[{SEVERITY_STYLE.get(severity, 'dim')}]{severity}[/]",
                finding["Compliance"]["Status"],
                finding["Resources"][0]["Id"].rsplit("/", 1)[-1],
                problem_for(
                    CATALOGUE[finding["ProductFields"]["veeam-role-auditor/CheckCode"]], finding["Compliance"]["Status"]
                ),
            )
        self.console.print(table)
        (digest,) = self.received(expected=1, what="the first scan's digest")
        self.console.print(
            Panel(
                digest["Message"].split("--- machine-readable ---")[0].strip(),
                title=f"Subscriber received: {digest['Subject']}",
            )
        )
        counts = Counter(f["Compliance"]["Status"] for f in findings)
        wanted = Counter(
            status
            for table in (EXPECTED, EXPECTED_PURPOSES, EXPECTED_UPGRADE)
            for results in table.values()
            for status, _ in results.values()
        )
        expect(
            counts["FAILED"] == wanted["FAILED"] and counts["WARNING"] == wanted["WARNING"],
            f"unexpected Security Hub counts {counts}, expected {wanted}",
        )
        self.console.print(
            "Security Hub: "
            + ", ".join(f"{counts[s]} {s}" for s in ("FAILED", "WARNING", "PASSED", "NOT_AVAILABLE") if counts[s])
            + f" ({summary['security_hub_calls']} BatchImportFindings call)"
        )

    def break_a_role(self) -> None:
        self.step(
            f"someone breaks {HEALTHY}",
            "An UpdateAssumeRolePolicy call removes the appliance from the trust policy. CloudTrail "
            "delivers the event to EventBridge, which invokes iam_change: it re-reads only that role.",
        )
        broken = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "S3BatchOperations",
                    "Effect": "Allow",
                    "Principal": {"Service": "batchoperations.s3.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        self.change_trust(broken)
        (alert,) = self.received(expected=1, what="the alert for the broken role")
        expect(alert["MessageAttributes"]["transition"]["Value"] == "new_failure", "expected a new failure")
        self.show_alert(alert)
        self.process_recheck()

    def fix_the_role(self) -> None:
        self.step(
            "the fix command repairs it",
            f"veeam-role-auditor fix --role-name {HEALTHY} --apply: prints the corrected trust policy and "
            "the diff, saves the current one, updates the role. The event arrives again.",
        )
        with tempfile.TemporaryDirectory() as backups:
            output = StringIO()
            with redirect_stdout(output):
                code = self.command_line(
                    [
                        "fix",
                        "--role-name",
                        HEALTHY,
                        "--appliance-role-arn",
                        self.sample.appliance_role_arn,
                        "--apply",
                        "--backup-dir",
                        backups,
                    ]
                )
            expect(code == 0, f"fix exited {code}")
        changes = output.getvalue().split("Changes:")[1].split("Updated the trust policy")[0].strip()
        self.console.print(Panel(changes, title="fix: the change it made"))
        fixed = self.iam.get_role(RoleName=HEALTHY)["Role"]["AssumeRolePolicyDocument"]
        self.change_trust(fixed)
        (alert,) = self.received(expected=1, what="the RESOLVED alert")
        expect(alert["MessageAttributes"]["transition"]["Value"] == "resolved", "expected a resolved alert")
        self.show_alert(alert)

    def quiet_scan(self) -> None:
        self.step(
            "the next scheduled scan, nothing changed",
            "Only findings whose status or content changed are imported, and only transitions alerted: "
            "an unchanged account costs no Security Hub ingestion and sends no mail.",
        )
        summary = self.scheduled_scan(first=False)
        self.received(expected=0, what="no alert")
        expect(summary["imported"] == 0 and summary["messages_sent"] == 0, f"expected a quiet scan: {summary}")
        self.console.print(
            f"[green]Imported {summary['imported']} findings, sent {summary['messages_sent']} alerts[/] "
            f"({summary['unchanged']} findings unchanged)."
        )

    # ------------------------------------------------------------------ helpers

    def change_trust(self, document: dict[str, Any]) -> None:
        text = json.dumps(document)
        self.iam.update_assume_role_policy(RoleName=HEALTHY, PolicyDocument=text)
        record = load_event("cloudtrail/UpdateAssumeRolePolicy.json")
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        record["id"] = str(uuid.uuid4())
        record["time"] = record["detail"]["eventTime"] = now
        record["detail"]["eventID"] = str(uuid.uuid4())
        record["detail"]["requestParameters"] = {"roleName": HEALTHY, "policyDocument": text}
        with redirect_stdout(StringIO()):
            result = self.change_handler.lambda_handler(record, LocalContext("veeam-role-auditor-IamChange"))
        expect(result.get("status") == "evaluated", f"iam_change did not evaluate the role: {result}")

    def process_recheck(self) -> None:
        messages = self.sqs.receive_message(QueueUrl=self.recheck_queue, MaxNumberOfMessages=10).get("Messages", [])
        expect(len(messages) == 1, f"expected one queued re-check, found {len(messages)}")
        record = load_event("recheck_sqs.json")["Records"][0]
        record = dict(record, messageId=messages[0]["MessageId"], body=messages[0]["Body"])
        with redirect_stdout(StringIO()):
            response = self.change_handler.lambda_handler(
                {"Records": [record]}, LocalContext("veeam-role-auditor-IamChange")
            )
        self.sqs.delete_message(QueueUrl=self.recheck_queue, ReceiptHandle=messages[0]["ReceiptHandle"])
        expect(response == {"batchItemFailures": []}, f"the re-check failed: {response}")
        self.received(expected=0, what="no second alert from the re-check")
        self.console.print(
            "[dim]A re-check was queued for IAM's 5-minute propagation time; processed now, it confirms the "
            "state and sends no second alert.[/]"
        )

    def received(self, *, expected: int, what: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        for _ in range(3):
            batch = self.sqs.receive_message(QueueUrl=self.inbox, MaxNumberOfMessages=10).get("Messages", [])
            for message in batch:
                messages.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.inbox, ReceiptHandle=message["ReceiptHandle"])
            if not batch:
                break
        expect(len(messages) == expected, f"expected {what} ({expected} messages), got {len(messages)}")
        return messages

    def show_alert(self, alert: dict[str, Any]) -> None:
        body = alert["Message"].split("--- machine-readable ---")[0].strip()
        attributes = ", ".join(f"{k}={v['Value']}" for k, v in sorted(alert["MessageAttributes"].items()))
        self.console.print(Panel(f"{body}\n\n[dim]message attributes: {attributes}[/]", title=alert["Subject"]))


def command_prefix() -> str:
    """How to call the command from the shell the user is in: the venv's script, else the module."""
    script = Path(sys.executable).parent / "veeam-role-auditor"
    if not script.exists():
        return f"{shlex.quote(sys.executable)} -m veeam_role_auditor"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return shlex.quote(str(script))


def keep_serving(console: Console, endpoint: str, appliance_role_arn: str) -> None:
    """Print what to export and what to try, then wait for Ctrl-C or SIGTERM with the emulator running."""
    command = command_prefix()
    exports = " ".join(f"{name}={value}" for name, value in client_environment(endpoint, key="demo").items())
    console.print(
        "\n[bold]The emulator keeps running[/] with the demo's account (as the story left it). "
        "In another terminal, in this directory:"
    )
    lines = [
        "unset AWS_PROFILE AWS_SESSION_TOKEN",
        f"export {exports}",
        f"{command} scan --appliance-role-arn {appliance_role_arn} --format table",
        f"{command} fix --role-name VeeamSnapshotMissingTrust --appliance-role-arn {appliance_role_arn}",
        f"{command} fix --role-name VeeamSnapshotMissingTrust --appliance-role-arn {appliance_role_arn} --apply",
    ]
    for line in lines:  # plain and unwrapped, to be copied as they are
        console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    console.print(
        "[dim]evaluate needs no AWS: see the README's examples. fix --apply saves the old policy under "
        "./fix-backups.[/]\nPress Ctrl-C to stop the emulator."
    )
    stop_requested = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    # Installed explicitly: a process started in the background may inherit SIGINT ignored.
    previous = {number: signal.signal(number, request_stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop_requested:
            time.sleep(0.2)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def run(command_line: CommandLine, console: Console | None = None, *, keep_running: bool = False) -> int:
    """Play the story; 0 when every step showed what it should.

    command_line: the command line's ``main`` (given, not imported: the command line imports this module
    for its ``demo`` command), which the story calls for ``fix``.
    keep_running: afterwards keep the emulator up, print its environment and the README's commands,
    and return on Ctrl-C or SIGTERM (the process's main thread only: it installs signal handlers).
    """
    console = console or Console()
    started = time.perf_counter()
    console.print(
        Panel.fit(f"[bold]veeam-role-auditor demo[/]: the whole pipeline on moto's server ({APPLIANCE_NAME})")
    )
    try:
        with emulator() as endpoint:
            console.print(f"[dim]AWS emulator: moto server at {endpoint}[/]")
            story = Story(console, command_line)
            story.set_up()
            story.first_scan()
            story.break_a_role()
            story.fix_the_role()
            story.quiet_scan()
            if keep_running:
                console.print(f"\n[bold green]Demo finished in {time.perf_counter() - started:.1f} s.[/]")
                keep_serving(console, endpoint, story.sample.appliance_role_arn)
    except DemoFailed as failure:
        console.print(f"\n[bold red]Demo failed:[/] {failure}")
        return 1
    if keep_running:
        console.print("\nThe emulator is stopped.")
    else:
        console.print(
            f"\n[bold green]Demo finished in {time.perf_counter() - started:.1f} s.[/] The emulator is stopped."
        )
    return 0
