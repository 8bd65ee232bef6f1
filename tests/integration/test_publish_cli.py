"""``scan --publish`` when publishing cannot complete: one line on stderr, exit 3, and the next run catches up."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from veeam_role_auditor import cli_scan
from veeam_role_auditor.cli import main
from veeam_role_auditor.publish.state import create_table
from veeam_role_auditor.sample_account import SampleAccount


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

    make_publisher = cli_scan.make_publisher

    def refusing(**clients: Any) -> Any:
        clients["securityhub"].meta.events.register("before-call.securityhub.BatchImportFindings", denied)
        return make_publisher(**clients)

    monkeypatch.setattr(cli_scan, "make_publisher", refusing)
    code = main(publish_argv(sample, topic))
    err = capsys.readouterr().err
    assert code == 3
    assert err == (
        "veeam-role-auditor: error: publishing did not complete: BatchImportFindings: AccessDeniedException: "
        "explicit deny in a service control policy. Security Hub refused the import: imported 0 findings, "
        "83 not imported (retried next run); alerts: 10 messages for 10 changes; 0 findings unchanged.\n"
    )
    monkeypatch.setattr(cli_scan, "make_publisher", make_publisher)
    assert main(publish_argv(sample, topic)) == 1  # failing findings, published this time
    assert capsys.readouterr().err.splitlines()[-1] == (
        "Security Hub: imported 83 findings in 1 calls; alerts: 0 messages for 0 changes; 0 findings unchanged."
    )
