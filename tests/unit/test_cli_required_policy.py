"""``veeam-role-auditor required-policy``: what Veeam requires of a role for a set of purposes, as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from veeam_role_auditor.cli import main
from veeam_role_auditor.purposes import load_version, policy_size

APPLIANCE = "arn:aws:iam::123456789012:role/veeam/VeeamImpersonation"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_required_policy_of_two_purposes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys,
        "required-policy",
        "--purpose",
        "efs-backup efs-restore",
        "--appliance-role-arn",
        APPLIANCE,
        "--veeam-version",
        "10",
    )
    assert code == 0
    printed = json.loads(out)
    profiles = load_version("10.0.0.232")
    wanted = {a.lower() for p in ("efs-backup", "efs-restore") for a in profiles[p].actions}
    granted = {
        action.lower()
        for policy in printed["permissions_policies"]
        for statement in policy["Statement"]
        for action in statement["Action"]
    }
    assert (printed["veeam_version"], printed["purposes"]) == ("10.0.0.232", ["efs-backup", "efs-restore"])
    assert granted == wanted
    assert printed["trust_policy"]["Statement"][0]["Principal"] == {"AWS": APPLIANCE}
    assert printed["trust_policy"]["Statement"][1]["Principal"] == {"Service": "backup.amazonaws.com"}
    assert printed["instance_profile"] is False


def test_a_long_policy_is_cut_into_managed_policies_within_the_quota(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "required-policy", "--purpose", "full-access", "--appliance-role-arn", APPLIANCE)
    printed = json.loads(out)
    assert code == 0
    assert len(printed["permissions_policies"]) > 1
    assert all(policy_size(part) <= 6144 for part in printed["permissions_policies"])


def test_a_worker_role_must_be_in_an_instance_profile(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _run(capsys, "required-policy", "--purpose", "worker-production", "--appliance-role-arn", APPLIANCE)
    printed = json.loads(out)
    assert printed["instance_profile"] is True
    assert {"Service": "ec2.amazonaws.com"} in [s["Principal"] for s in printed["trust_policy"]["Statement"]]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--purpose", "ec2-bakup"], "unknown purpose ec2-bakup: the purposes are organization-rescan"),
        (["--purpose", "ec2-backup", "--veeam-version", "7"], "7"),
        (["--purpose", "ec2-backup", "--purpose-profiles", "/nonexistent.json"], "/nonexistent.json"),
    ],
)
def test_bad_input_is_a_usage_error(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = _run(capsys, "required-policy", "--appliance-role-arn", APPLIANCE, *argv)
    assert (code, out) == (2, "")
    assert err.startswith("veeam-role-auditor: error: ")
    assert message in err


def test_a_custom_purpose_from_a_profile_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    profiles = tmp_path / "custom.json"
    profiles.write_text(json.dumps({"purposes": {"s3-export": {"actions": ["s3:PutObject", "s3:GetObject"]}}}))
    code, out, _ = _run(
        capsys,
        "required-policy",
        "--purpose",
        "s3-export",
        "--purpose-profiles",
        str(profiles),
        "--appliance-role-arn",
        APPLIANCE,
    )
    assert code == 0
    statement = json.loads(out)["permissions_policies"][0]["Statement"][0]
    assert (statement["Action"], statement["Resource"]) == (["s3:GetObject", "s3:PutObject"], "*")
