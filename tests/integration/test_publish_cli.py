"""``scan --publish`` when publishing cannot complete: one line on stderr, exit 3, and the next run catches up."""

from __future__ import annotations

import re
from datetime import UTC, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from veeam_role_auditor import cli_scan, publish
from veeam_role_auditor.cli import main
from veeam_role_auditor.dev.sample_account import SampleAccount, expected_alerts, expected_count, import_calls
from veeam_role_auditor.publish.state import create_table


def publish_argv(sample: SampleAccount, topic: str) -> list[str]:
    return [
        "scan",
        "--appliance-role-arn",
        sample.appliance_role_arn,
        "--format",
        "json",
        "--publish",
        "--state-table",
        "state",
        "--topic-arn",
        topic,
    ]


def test_scan_publish_when_security_hub_refuses_sends_alerts_and_exits_3(
    sample: SampleAccount,
    dynamodb: Any,
    securityhub: Any,
    sns: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    create_table(dynamodb, "state")
    topic = sns.create_topic(Name="alerts")["TopicArn"]

    def denied(**_: Any) -> None:
        error = {"Code": "AccessDeniedException", "Message": "explicit deny in a service control policy"}
        raise ClientError({"Error": error}, "BatchImportFindings")

    make_publisher = publish.make_publisher  # what --publish imports when it runs

    def refusing(**clients: Any) -> Any:
        clients["securityhub"].meta.events.register("before-call.securityhub.BatchImportFindings", denied)
        return make_publisher(**clients)

    monkeypatch.setattr(publish, "make_publisher", refusing)
    code = main(publish_argv(sample, topic))
    err = capsys.readouterr().err
    assert code == 3
    assert err == (
        "veeam-role-auditor: error: publishing did not complete: BatchImportFindings: AccessDeniedException: "
        "explicit deny in a service control policy. Security Hub refused the import: imported 0 findings, "
        f"{expected_count()} not imported (retried next run); alerts: {expected_alerts()} messages for "
        f"{expected_alerts()} changes; 0 findings unchanged.\n"
    )
    monkeypatch.setattr(publish, "make_publisher", make_publisher)
    assert main(publish_argv(sample, topic)) == 1  # failing findings, published this time
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"Security Hub: imported {expected_count()} findings in {import_calls()}; "
        "alerts: 0 messages for 0 changes; 0 findings unchanged."
    )


def aws_clock_shifted(monkeypatch: pytest.MonkeyPatch, shift: timedelta) -> None:
    """Every AWS response the command line receives says it is ``shift`` later (the Date header)."""

    def shift_date(response_dict: dict[str, Any], **_: Any) -> None:
        headers = response_dict["headers"]
        date = parsedate_to_datetime(headers["Date"]) + shift
        headers["Date"] = format_datetime(date.astimezone(UTC), usegmt=True)

    class ShiftedClients(cli_scan.Clients):
        def __call__(self, service: str) -> Any:
            client = super().__call__(service)
            client.meta.events.register_first("before-parse", shift_date, unique_id="shift-date")
            return client

    monkeypatch.setattr(cli_scan, "Clients", ShiftedClients)


def test_scan_publish_refuses_a_local_clock_ahead_of_aws(
    sample: SampleAccount, dynamodb: Any, sns: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    create_table(dynamodb, "state")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    aws_clock_shifted(monkeypatch, -timedelta(hours=1, minutes=30))  # AWS says 1 h 30 min earlier
    assert main(publish_argv(sample, topic)) == 3
    assert capsys.readouterr().err == (
        "veeam-role-auditor: error: nothing published: this machine's clock is 1 h 30 min ahead of AWS's (the "
        "Date of an STS response), more than the 5 minutes --publish accepts; fix the clock (e.g. enable NTP) "
        "and run again\n"
    )
    assert dynamodb.scan(TableName="state")["Count"] == 0


@pytest.mark.parametrize("shift", [timedelta(minutes=4), -timedelta(minutes=4)], ids=["aws-ahead", "aws-behind"])
def test_scan_publish_accepts_a_clock_within_five_minutes_of_aws(
    sample: SampleAccount,
    dynamodb: Any,
    securityhub: Any,
    sns: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    shift: timedelta,
) -> None:
    create_table(dynamodb, "state")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    aws_clock_shifted(monkeypatch, shift)
    assert main(publish_argv(sample, topic)) == 1  # failing findings, all published
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .startswith(f"Security Hub: imported {expected_count()} findings in {import_calls()};")
    )


def test_scan_publish_refuses_a_local_clock_behind_aws(
    sample: SampleAccount, dynamodb: Any, sns: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    create_table(dynamodb, "state")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    aws_clock_shifted(monkeypatch, timedelta(minutes=10))
    assert main(publish_argv(sample, topic)) == 3
    # About 10 minutes: the Date header has whole seconds.
    assert re.search(r"this machine's clock is (9 min 59 s|10 min|10 min 1 s) behind AWS's", capsys.readouterr().err)
