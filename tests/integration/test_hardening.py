"""One odd role never blinds the auditor; a fix never widens trust or loses a change (issue: hardening)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import Deployment, make_deployment
from veeam_role_auditor.assess import ASSESSMENT_ERROR, ROLE_FINDING_CHECKS
from veeam_role_auditor.cli import main
from veeam_role_auditor.dev.handlers import load_event
from veeam_role_auditor.dev.sample_account import TAG_KEY, SampleAccount, expected_count, findings_per_role
from veeam_role_auditor.inventory import Inventory
from veeam_role_auditor.scan import scan_account
from veeam_role_auditor.settings import ScanSettings

ALLOW = {"Effect": "Allow", "Action": "sts:AssumeRole"}


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def make_role(iam: Any, name: str, *statements: dict[str, Any], version: str | None = "2012-10-17") -> str:
    document: dict[str, Any] = {"Statement": list(statements)}
    if version:
        document["Version"] = version
    role = iam.create_role(
        RoleName=name, AssumeRolePolicyDocument=json.dumps(document), Tags=[{"Key": TAG_KEY, "Value": "true"}]
    )
    return str(role["Role"]["Arn"])


def trap_statements(sample: SampleAccount) -> list[dict[str, Any]]:
    """An Allow for the appliance and a Deny naming the appliance role *and* its account root."""
    return [
        dict(ALLOW, Principal={"AWS": sample.appliance_role_arn}),
        {
            "Effect": "Deny",
            "Principal": {"AWS": [sample.appliance_role_arn, f"arn:aws:iam::{sample.account}:root"]},
            "Action": "sts:AssumeRole",
        },
    ]


@pytest.fixture
def deployment(
    sample: SampleAccount, dynamodb: Any, securityhub: Any, sns: Any, sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> Deployment:
    return make_deployment(sample, dynamodb, securityhub, sns, sqs, monkeypatch)


# ---------------------------------------------------------------------- one role never blinds the auditor


def test_a_deny_on_the_appliance_and_its_account_gets_a_working_fix_and_the_scan_goes_on(
    inventory: Inventory, sample: SampleAccount, iam: Any
) -> None:
    arn = make_role(iam, "VeeamDenyTrap", *trap_statements(sample))
    result = scan_account(inventory, ScanSettings(appliance_role_arns=(sample.appliance_role_arn,)))

    assert result.roles_in_scope == 10
    (trust,) = [f for f in result.findings if f.role_arn == arn and f.check == "VRA-TRUST-1"]
    assert trust.status == "FAILED"
    assert trust.corrected_policy is not None
    assert trust.corrected_policy["Statement"][1] == {
        "Effect": "Deny",
        "Principal": {"AWS": f"arn:aws:iam::{sample.account}:root"},
        "Action": "sts:AssumeRole",
        "Condition": {"ArnNotEquals": {"aws:PrincipalArn": sample.appliance_role_arn}},
    }
    # The correction works once applied.
    iam.update_assume_role_policy(RoleName="VeeamDenyTrap", PolicyDocument=json.dumps(trust.corrected_policy))
    again = scan_account(inventory, ScanSettings(appliance_role_arns=(sample.appliance_role_arn,)))
    assert [f.status for f in again.findings if f.role_arn == arn and f.check == "VRA-TRUST-1"] == ["PASSED"]


def test_the_scheduled_scan_publishes_every_role_despite_the_deny_trap(
    deployment: Deployment, iam: Any, sample: SampleAccount
) -> None:
    arn = make_role(iam, "VeeamDenyTrap", *trap_statements(sample))
    summary = deployment.scheduled(load_event("scheduled_scan.json"))

    assert (summary["status"], summary["roles_in_scope"], summary["imported"]) == (
        "complete",
        10,
        expected_count() + findings_per_role(),
    )
    trap = {
        f["GeneratorId"].rsplit("/", 1)[-1]: f["Compliance"]["Status"] for f in deployment.imports if arn in f["Id"]
    }
    assert trap["VRA-TRUST-1"] == "FAILED"
    event = load_event("cloudtrail/UpdateAssumeRolePolicy.json")
    event["detail"]["requestParameters"]["roleName"] = "VeeamDenyTrap"
    event["detail"]["eventID"] = "trap-event"
    event["id"] = "trap-event"
    assert deployment.iam_change(event)["status"] == "evaluated"


def test_a_role_whose_arn_cannot_be_parsed_is_not_available_and_the_rest_is_assessed(
    inventory: Inventory, sample: SampleAccount, iam: Any
) -> None:
    # IAM refuses such a name; moto (and GAAD output in a future IAM) may deliver one.
    odd = make_role(iam, "Veeam-Ünicode", dict(ALLOW, Principal={"AWS": sample.appliance_role_arn}))
    result = scan_account(inventory, ScanSettings(appliance_role_arns=(sample.appliance_role_arn,)))

    findings = [f for f in result.findings if f.role_arn == odd]
    assert sorted(f.check for f in findings) == sorted(check.code for check in ROLE_FINDING_CHECKS)
    assert {f.status for f in findings} == {"NOT_AVAILABLE"}
    assert {f.extra[ASSESSMENT_ERROR] for f in findings} == {"InvalidArnError"}
    assert (
        findings[0].details[0].startswith(f"the auditor could not assess {odd}: InvalidArnError: not an IAM role ARN")
    )
    assert findings[0].account == sample.account
    assert result.roles_in_scope == 10
    # Every other in-scope role is assessed as without the odd one.
    baseline_iam = {f.id: f.status for f in result.findings if f.role_arn != odd}
    iam.delete_role(RoleName="Veeam-Ünicode")
    baseline = scan_account(inventory, ScanSettings(appliance_role_arns=(sample.appliance_role_arn,)))
    assert baseline_iam == {f.id: f.status for f in baseline.findings}


def test_the_scheduled_scan_counts_roles_it_could_not_assess(
    deployment: Deployment, iam: Any, sample: SampleAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    make_role(iam, "Veeam-Ünicode", dict(ALLOW, Principal={"AWS": sample.appliance_role_arn}))
    capsys.readouterr()
    summary = deployment.scheduled(load_event("scheduled_scan.json"))

    assert summary["status"] == "complete"
    (emf,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf["RolesNotAssessed"] == [1.0]


# ---------------------------------------------------------------------- fix never widens, never loses a change


def fix(sample: SampleAccount, role: str, *extra: str) -> list[str]:
    return ["fix", "--role-name", role, "--appliance-role-arn", sample.appliance_role_arn, *extra]


def test_fix_refuses_to_add_an_unconditional_allow_beside_an_external_id_condition(
    sample: SampleAccount, iam: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    guarded = dict(
        ALLOW,
        Principal={"AWS": sample.appliance_role_arn},
        Condition={"StringEquals": {"sts:ExternalId": "veeam-4711"}},
    )
    make_role(iam, "VeeamGuarded", guarded)
    before = iam.get_role(RoleName="VeeamGuarded")["Role"]["AssumeRolePolicyDocument"]

    code, out, _ = run(fix(sample, "VeeamGuarded", "--apply", "--backup-dir", str(tmp_path)), capsys)
    assert code == 1
    assert "VeeamGuarded: no change proposed, because " in out
    assert "decided by: --external-id" in out
    assert iam.get_role(RoleName="VeeamGuarded")["Role"]["AssumeRolePolicyDocument"] == before
    assert not list(tmp_path.iterdir())

    # The right external id decides it: the appliance can assume the role, nothing to change.
    code, out, _ = run(fix(sample, "VeeamGuarded", "--external-id", "veeam-4711"), capsys)
    assert (code, "Nothing to change." in out) == (0, True)

    # Told explicitly, it adds the statement.
    code, out, _ = run(fix(sample, "VeeamGuarded", "--force", "--apply", "--backup-dir", str(tmp_path)), capsys)
    assert code == 0
    after = iam.get_role(RoleName="VeeamGuarded")["Role"]["AssumeRolePolicyDocument"]
    assert after["Statement"] == [
        guarded,
        dict(ALLOW, Sid="VeeamApplianceAssumeRole", Principal={"AWS": sample.appliance_role_arn}),
    ]


def test_scan_offers_no_corrected_policy_for_a_conditional_trust(
    inventory: Inventory, sample: SampleAccount, iam: Any
) -> None:
    arn = make_role(
        iam,
        "VeeamGuarded",
        dict(
            ALLOW, Principal={"AWS": sample.appliance_role_arn}, Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}
        ),
    )
    result = scan_account(inventory, ScanSettings(appliance_role_arns=(sample.appliance_role_arn,)))
    (trust,) = [f for f in result.findings if f.role_arn == arn and f.check == "VRA-TRUST-1"]
    assert (trust.status, trust.corrected_policy, trust.statement_to_add) == ("WARNING", None, None)
    assert trust.remediation.startswith("No change to the trust policy of VeeamGuarded is proposed")
    assert "decided by: aws:SourceIp: not known offline; check it by hand" in trust.details


def test_fix_on_a_wildcard_role_lists_the_risks_and_narrows_only_when_asked(
    sample: SampleAccount, iam: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = "arn:aws:iam::999988887777:root"
    make_role(iam, "VeeamOpen", dict(ALLOW, Principal={"AWS": ["*", foreign]}))

    code, out, _ = run(fix(sample, "VeeamOpen"), capsys)
    assert code == 1
    assert "VeeamOpen: the appliance can already assume this role." in out
    assert 'wildcard_principal: Statement[0] allows any principal ("*")' in out
    assert "foreign_account_trusted: Statement[0] trusts arn:aws:iam::999988887777:root" in out
    assert "Run again with --narrow" in out

    code, out, _ = run(fix(sample, "VeeamOpen", "--narrow", "--apply", "--backup-dir", str(tmp_path)), capsys)
    assert code == 0
    after = iam.get_role(RoleName="VeeamOpen")["Role"]["AssumeRolePolicyDocument"]
    assert after["Statement"][0]["Principal"] == {"AWS": [sample.appliance_role_arn, foreign]}  # foreign kept


def test_fix_apply_abandons_the_write_when_the_policy_changed_in_between(
    sample: SampleAccount, iam: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from veeam_role_auditor import cli_scan

    emergency = {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
    real_save = cli_scan.save_backup

    def save_then_someone_edits(directory: Path, role_name: str, document: object) -> Path:
        path = real_save(directory, role_name, document)
        iam.update_assume_role_policy(
            RoleName=role_name, PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [emergency]})
        )
        return path

    monkeypatch.setattr(cli_scan, "save_backup", save_then_someone_edits)
    code, _, err = run(fix(sample, "VeeamSnapshotMissingTrust", "--apply", "--backup-dir", str(tmp_path)), capsys)

    assert code == 3
    assert err == (
        "veeam-role-auditor: error: the trust policy of 'VeeamSnapshotMissingTrust' changed while the fix was "
        "prepared; nothing written. Run fix again to plan from the current policy.\n"
    )
    after = iam.get_role(RoleName="VeeamSnapshotMissingTrust")["Role"]["AssumeRolePolicyDocument"]
    assert after["Statement"] == [emergency]


def test_fix_refuses_a_correction_over_the_accounts_trust_policy_quota(
    sample: SampleAccount, iam: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    principals = [f"arn:aws:iam::{sample.account}:role/service-role/Backup{n:03d}" for n in range(36)]
    make_role(iam, "VeeamCrowded", dict(ALLOW, Principal={"AWS": principals}))
    quota = iam.get_account_summary()["SummaryMap"]["AssumeRolePolicySizeQuota"]
    assert quota == 2048

    code, out, _ = run(fix(sample, "VeeamCrowded", "--apply"), capsys)
    assert code == 1
    assert "over the account's trust policy quota of 2048" in out
    assert iam.get_role(RoleName="VeeamCrowded")["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "AWS": principals
    }


def test_an_iam_error_during_apply_is_one_line(
    sample: SampleAccount, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from veeam_role_auditor import aws

    real_call = aws.Clients.__call__

    def stubbed(self: aws.Clients, service: str) -> Any:
        client = real_call(self, service)
        if service == "iam" and not hasattr(client, "_limit_stub"):

            def refuse(params: dict[str, Any], **_: Any) -> None:
                from botocore.exceptions import ClientError

                raise ClientError(
                    {"Error": {"Code": "LimitExceeded", "Message": "Cannot exceed quota for ACLSizePerRole: 2048"}},
                    "UpdateAssumeRolePolicy",
                )

            client.meta.events.register("before-call.iam.UpdateAssumeRolePolicy", refuse)
            client._limit_stub = True
        return client

    monkeypatch.setattr(aws.Clients, "__call__", stubbed)
    code, _, err = run(fix(sample, "VeeamSnapshotMissingTrust", "--apply", "--backup-dir", str(tmp_path)), capsys)
    assert (code, err) == (
        3,
        "veeam-role-auditor: error: IAM refused the new trust policy of 'VeeamSnapshotMissingTrust' "
        "(LimitExceeded: Cannot exceed quota for ACLSizePerRole: 2048); nothing changed\n",
    )
