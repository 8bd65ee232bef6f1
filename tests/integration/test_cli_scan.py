"""``scan`` and ``fix`` from the command line, against moto."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from veeam_role_auditor import cli_scan
from veeam_role_auditor.cli import main
from veeam_role_auditor.dev.sample_account import (
    SampleAccount,
    expected_alerts,
    expected_count,
    expected_results,
    import_calls,
)

N = expected_count()
A = expected_alerts()


def expected_summary() -> str:
    """The scan's summary line for the sample account, from its expected results."""
    results = [result for role in expected_results().values() for result in role.values()]
    failed = Counter(severity for status, severity in results if status == "FAILED")
    statuses = Counter(status for status, _ in results)
    by_severity = ", ".join(
        f"{failed[s]} {s.lower()}" for s in ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL") if failed[s]
    )
    return (
        f"{statuses['FAILED']} failed ({by_severity}), {statuses['WARNING']} warning, "
        f"{statuses['NOT_AVAILABLE']} not available, {statuses['PASSED']} passed"
    )


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_scan_json_lists_every_finding(sample: SampleAccount, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["scan", "--appliance-role-arn", sample.appliance_role_arn, "--format", "json"], capsys)
    findings = json.loads(out)["findings"]
    assert code == 1  # HIGH and CRITICAL failures exist
    assert len(findings) == expected_count()  # the appliance, every check of each role, one untagged drift
    assert set(findings[0]) >= {"check", "severity", "status", "role_arn", "title", "remediation"}
    wildcard = [f for f in findings if f["check"] == "VRA-TRUST-3" and f["status"] == "FAILED"]
    assert [(f["severity"], f["role_arn"]) for f in wildcard] == [
        ("CRITICAL", sample.role_arns["VeeamArchiveWildcard"])
    ]


@pytest.mark.parametrize(("fail_on", "code"), [("CRITICAL", 1), ("critical", 1), ("HIGH", 1)])
def test_fail_on_threshold(sample: SampleAccount, capsys: pytest.CaptureFixture[str], fail_on: str, code: int) -> None:
    assert (
        run(
            ["scan", "--appliance-role-arn", sample.appliance_role_arn, "--format", "json", "--fail-on", fail_on],
            capsys,
        )[0]
        == code
    )


def test_exit_zero_when_nothing_fails_at_the_threshold(
    sample: SampleAccount, iam: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run(
        ["scan", "--appliance-role-arn", sample.appliance_role_arn, "--tag-value", "none-such", "--format", "json"],
        capsys,
    )
    assert code == 0  # no role in scope, and the appliance itself is healthy


def test_scan_table_has_colourable_rows_and_a_summary(
    sample: SampleAccount, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)  # pytest-xdist's workers set COLUMNS=80: this is the wide table
    code, out, _ = run(["scan", "--appliance-role-arn", sample.appliance_role_arn, "--format", "table"], capsys)
    assert code == 1
    assert "VeeamArchiveWildcard" in out
    assert out.strip().splitlines()[-1] == (f"12 roles read, 9 in scope: {expected_summary()}")


def test_missing_credentials_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, out, err = run(
        ["scan", "--appliance-role-arn", "arn:aws:iam::111122223333:role/Imp", "--format", "json"], capsys
    )
    assert (code, out) == (2, "")
    assert err.startswith("veeam-role-auditor: error: no AWS credentials found")
    assert err.count("\n") == 1


def test_unknown_profile(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        ["scan", "--appliance-role-arn", "arn:aws:iam::111122223333:role/Imp", "--profile", "nope", "--format", "json"],
        capsys,
    )
    assert code == 2
    assert err == (
        "veeam-role-auditor: error: The config profile (nope) could not be found; "
        "list your profiles with: aws configure list-profiles\n"
    )


def test_access_denied(aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def denied(*_: Any, **__: Any) -> None:
        raise ClientError(
            {
                "Error": {
                    "Code": "AccessDenied",
                    "Message": "User: x is not authorized to perform: iam:GetAccountAuthorizationDetails",
                }
            },
            "GetAccountAuthorizationDetails",
        )

    monkeypatch.setattr(cli_scan, "scan_account", denied)
    code, _, err = run(
        ["scan", "--appliance-role-arn", "arn:aws:iam::111122223333:role/Imp", "--format", "json"], capsys
    )
    assert code == 2
    assert err == (
        "veeam-role-auditor: error: access denied calling GetAccountAuthorizationDetails: "
        "User: x is not authorized to perform: iam:GetAccountAuthorizationDetails\n"
    )


def test_bad_appliance_arn(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["scan", "--appliance-role-arn", "VeeamImpersonation"], capsys)
    assert code == 2
    assert err.startswith("veeam-role-auditor: error: not an IAM role ARN: 'VeeamImpersonation'")


def test_fix_prints_the_corrected_policy_and_a_diff(
    sample: SampleAccount, iam: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    before = iam.get_role(RoleName="VeeamSnapshotMissingTrust")["Role"]["AssumeRolePolicyDocument"]
    code, out, _ = run(
        ["fix", "--role-name", "VeeamSnapshotMissingTrust", "--appliance-role-arn", sample.appliance_role_arn], capsys
    )
    assert code == 0
    assert '"Sid": "VeeamApplianceAssumeRole"' in out
    assert "+++ VeeamSnapshotMissingTrust (corrected)" in out
    assert "Run again with --apply to update the role." in out
    assert iam.get_role(RoleName="VeeamSnapshotMissingTrust")["Role"]["AssumeRolePolicyDocument"] == before


def test_fix_apply_saves_the_old_policy_then_updates(
    sample: SampleAccount, iam: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = iam.get_role(RoleName="VeeamSnapshotMissingTrust")["Role"]["AssumeRolePolicyDocument"]
    code, out, _ = run(
        [
            "fix",
            "--role-name",
            "VeeamSnapshotMissingTrust",
            "--appliance-role-arn",
            sample.appliance_role_arn,
            "--apply",
            "--backup-dir",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 0
    (backup,) = tmp_path.iterdir()
    assert json.loads(backup.read_text()) == before
    after = iam.get_role(RoleName="VeeamSnapshotMissingTrust")["Role"]["AssumeRolePolicyDocument"]
    assert after["Statement"][-1]["Principal"] == {"AWS": sample.appliance_role_arn}
    assert "IAM can take up to 5 minutes" in out
    code, out, _ = run(
        ["fix", "--role-name", "VeeamSnapshotMissingTrust", "--appliance-role-arn", sample.appliance_role_arn], capsys
    )
    assert (code, "the appliance can already assume this role.\nNothing to change." in out) == (0, True)


def test_fix_unknown_role(sample: SampleAccount, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["fix", "--role-name", "Nope", "--appliance-role-arn", sample.appliance_role_arn], capsys)
    assert (code, err) == (2, "veeam-role-auditor: error: role 'Nope' not found in this account\n")


def test_scan_publish_from_the_command_line(
    sample: SampleAccount, iam: Any, dynamodb: Any, securityhub: Any, sns: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from veeam_role_auditor.publish.state import create_table

    create_table(dynamodb, "state")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    argv = [
        "scan",
        "--appliance-role-arn",
        sample.appliance_role_arn,
        "--format",
        "table",
        "--publish",
        "--state-table",
        "state",
        "--topic-arn",
        topic,
    ]
    code, out, _ = run(argv, capsys)
    assert code == 1
    assert out.strip().splitlines()[-1] == (
        f"Security Hub: imported {N} findings in {import_calls()}; "
        f"alerts: {A} messages for {A} changes; 0 findings unchanged."
    )
    # Publishing keeps each finding's role snapshot (a scan that only prints leaves it out): the ASFF
    # resource carries the role's details, its trust policy as IAM holds it among them.
    imported = [f for page in securityhub.get_paginator("get_findings").paginate() for f in page["Findings"]]
    role_arn = f"arn:aws:iam::{sample.account}:role/VeeamSnapshotMissingTrust"
    resource = next(f for f in imported if f["Resources"][0]["Id"] == role_arn)["Resources"][0]
    trust = iam.get_role(RoleName="VeeamSnapshotMissingTrust")["Role"]["AssumeRolePolicyDocument"]
    assert json.loads(resource["Details"]["AwsIamRole"]["AssumeRolePolicyDocument"]) == trust
    assert resource["Details"]["AwsIamRole"]["RoleName"] == "VeeamSnapshotMissingTrust"
    code, out, _ = run(argv, capsys)
    assert out.strip().splitlines()[-1] == (
        f"Security Hub: imported 0 findings in 0 calls; alerts: 0 messages for 0 changes; {N} findings unchanged."
    )


def test_publish_needs_a_state_table(sample: SampleAccount, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["scan", "--appliance-role-arn", sample.appliance_role_arn, "--publish"], capsys)
    assert code == 2
    assert err == (
        "veeam-role-auditor: error: --publish needs --state-table "
        "(the DynamoDB table that remembers what was published)\n"
    )
