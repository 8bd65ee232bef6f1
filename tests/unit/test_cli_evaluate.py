"""``python -m veeam_role_auditor evaluate``: output shape and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from veeam_role_auditor.cli import main

APPLIANCE = "arn:aws:iam::111122223333:role/veeam/Imp"
ROLE = "arn:aws:iam::111122223333:role/VeeamRepo"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "Veeam", "Effect": "Allow", "Principal": {"AWS": APPLIANCE}, "Action": "sts:AssumeRole"}],
}


@pytest.fixture
def trust_file(tmp_path: Path) -> Path:
    path = tmp_path / "trust.json"
    path.write_text(json.dumps(TRUST))
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_verdict_has_exactly_the_documented_keys(trust_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        ["evaluate", "--appliance-role-arn", APPLIANCE, "--role-arn", ROLE, "--policy-file", str(trust_file)],
        capsys,
    )
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "appliance_can_assume": "yes",
        "via": "role_arn",
        "risks": [],
        "reasons": [f'Statement[0] (Sid "Veeam") allows sts:AssumeRole to the appliance role {APPLIANCE}'],
    }


def test_identity_block_when_identity_policies_are_given(
    trust_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    identity = tmp_path / "identity.json"
    identity.write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
            }
        )
    )
    code, out, _ = run(
        [
            "evaluate",
            "--appliance-role-arn",
            APPLIANCE,
            "--role-arn",
            ROLE,
            "--policy-file",
            str(trust_file),
            "--identity-policy-file",
            str(identity),
        ],
        capsys,
    )
    assert code == 0
    result = json.loads(out)
    assert set(result) == {"appliance_can_assume", "via", "risks", "reasons", "identity"}
    assert result["identity"]["allows_assume_role"] == "yes"


def test_malformed_policy_is_a_verdict_not_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow"')
    code, out, err = run(
        ["evaluate", "--appliance-role-arn", APPLIANCE, "--role-arn", ROLE, "--policy-file", str(broken)],
        capsys,
    )
    result = json.loads(out)
    assert (code, err) == (0, "")
    assert (result["appliance_can_assume"], result["via"], result["risks"]) == ("no", None, ["malformed"])
    assert result["reasons"][0].startswith("malformed: the policy is not valid JSON")


def test_text_format(trust_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        [
            "evaluate",
            "--appliance-role-arn",
            APPLIANCE,
            "--role-arn",
            ROLE,
            "--policy-file",
            str(trust_file),
            "--format",
            "text",
        ],
        capsys,
    )
    assert code == 0
    assert out.splitlines() == [
        "appliance can assume: yes (via role_arn)",
        "risks: none",
        f'  - Statement[0] (Sid "Veeam") allows sts:AssumeRole to the appliance role {APPLIANCE}',
        "This will work: the appliance can assume the role.",
    ]


def _text(policy: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy))
    argv = ["evaluate", "--appliance-role-arn", APPLIANCE, "--role-arn", ROLE, "--policy-file", str(path)]
    code, out, err = run([*argv, "--format", "text"], capsys)
    assert (code, err) == (0, "")
    return out.splitlines()


def test_text_format_names_the_deny_to_narrow_when_the_allow_is_already_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deny = {
        "Sid": "DenyWithoutMfa",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sts:AssumeRole",
        "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}},
    }
    lines = _text({"Version": "2012-10-17", "Statement": [TRUST["Statement"][0], deny]}, tmp_path, capsys)  # type: ignore[index]
    narrowed = {**deny, "Condition": {**deny["Condition"], "ArnNotEquals": {"aws:PrincipalArn": APPLIANCE}}}  # type: ignore[dict-item]
    fix = lines[lines.index("To let the appliance assume the role, change its trust policy:") :]
    assert fix[1] == "replace Statement[1] with (the same Deny, exempting the appliance):"
    assert json.loads("\n".join(fix[2:])) == narrowed  # and nothing to add: the Allow is there
    assert lines[0] == "appliance can assume: no"


def test_text_format_removes_a_deny_of_the_appliance_alone_and_adds_the_allow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deny = {"Effect": "Deny", "Principal": {"AWS": APPLIANCE}, "Action": "sts:*"}
    lines = _text({"Version": "2012-10-17", "Statement": [deny]}, tmp_path, capsys)
    fix = lines[lines.index("To let the appliance assume the role, change its trust policy:") :]
    assert fix[1:3] == ["remove Statement[0], which only denies the appliance", "and add this statement:"]
    assert json.loads("\n".join(fix[3:])) == {
        "Sid": "VeeamApplianceAssumeRole",
        "Effect": "Allow",
        "Principal": {"AWS": APPLIANCE},
        "Action": "sts:AssumeRole",
    }


def test_text_format_prints_the_statement_to_add_when_no_deny_is_involved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _text({"Version": "2012-10-17", "Statement": []}, tmp_path, capsys)
    fix = lines[lines.index("To let the appliance assume the role, add this statement to its trust policy:") :]
    assert json.loads("\n".join(fix[1:]))["Principal"] == {"AWS": APPLIANCE}


def test_a_deny_with_not_principal_makes_the_trust_policy_invalid_with_or_without_a_boundary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # IAM User Guide, NotPrincipal: "You cannot use the NotPrincipal element in an IAM identity-based policy
    # nor in an IAM role trust policy."
    session = "arn:aws:sts::111122223333:assumed-role/Imp/i-0123456789abcdef0"
    deny = {
        "Sid": "OnlyVeeam",
        "Effect": "Deny",
        "NotPrincipal": {"AWS": ["arn:aws:iam::111122223333:root", APPLIANCE, session]},
        "Action": "sts:AssumeRole",
    }
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"Version": "2012-10-17", "Statement": [TRUST["Statement"][0], deny]}))  # type: ignore[index]
    boundary = tmp_path / "boundary.json"
    boundary.write_text(
        json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    )
    argv = ["evaluate", "--appliance-role-arn", APPLIANCE, "--role-arn", ROLE, "--policy-file", str(policy)]
    for extra in ([], ["--identity-policy-file", str(boundary), "--boundary-policy-file", str(boundary)]):
        _, out, _ = run([*argv, *extra], capsys)
        verdict = json.loads(out)
        assert (verdict["appliance_can_assume"], verdict["risks"]) == ("no", ["malformed", "not_principal"])
        assert verdict["reasons"][0] == (
            "malformed: Statement[1]: NotPrincipal cannot be used in an IAM role trust policy"
        )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            [
                "evaluate",
                "--appliance-role-arn",
                "VeeamImpersonation",
                "--role-arn",
                ROLE,
                "--policy-file",
                "{trust}",
            ],
            "veeam-role-auditor: error: not an IAM role ARN: 'VeeamImpersonation' "
            "(expected arn:aws:iam::123456789012:role/optional/path/RoleName)",
        ),
        (
            [
                "evaluate",
                "--appliance-role-arn",
                APPLIANCE,
                "--role-arn",
                ROLE,
                "--policy-file",
                "/nonexistent.json",
            ],
            "veeam-role-auditor: error: cannot read /nonexistent.json: No such file or directory",
        ),
        (
            [
                "evaluate",
                "--appliance-role-arn",
                APPLIANCE,
                "--role-arn",
                ROLE,
                "--policy-file",
                "{trust}",
                "--role-tag",
                "x",
            ],
            "veeam-role-auditor: error: --role-tag expects KEY=VALUE, got 'x'",
        ),
        (
            ["evaluate", "--appliance-role-arn", APPLIANCE, "--policy-file", "{trust}"],
            "veeam-role-auditor: error: the following arguments are required: --role-arn "
            "(see veeam-role-auditor evaluate --help)",
        ),
        (
            [
                "evaluate",
                "--appliance-role-arn",
                APPLIANCE,
                "--role-arn",
                ROLE,
                "--policy-file",
                "{trust}",
                "--format",
                "yaml",
            ],
            # argparse quotes the choices differently across Python versions: compare up to them.
            "veeam-role-auditor: error: argument --format: invalid choice: 'yaml' (choose from",
        ),
    ],
)
def test_unusable_arguments_exit_2_with_one_line(
    argv: list[str], message: str, trust_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run([arg.replace("{trust}", str(trust_file)) for arg in argv], capsys)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert err.rstrip("\n") == message or (message.endswith("(choose from") and err.startswith(message))


def test_module_entry_point_runs(trust_file: Path) -> None:
    import subprocess
    import sys

    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "veeam_role_auditor",
            "evaluate",
            "--appliance-role-arn",
            APPLIANCE,
            "--role-arn",
            ROLE,
            "--policy-file",
            str(trust_file),
            "--format",
            "text",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0
    assert completed.stdout.startswith("appliance can assume: yes (via role_arn)")
