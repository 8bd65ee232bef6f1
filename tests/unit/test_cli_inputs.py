"""Policy files as operators have them (BOM, UTF-16, stdin, AWS CLI output) and one-line failures."""

from __future__ import annotations

import codecs
import io
import json
from pathlib import Path
from typing import Any

import pytest

from veeam_role_auditor import cli
from veeam_role_auditor.cli import main

APPLIANCE = "arn:aws:iam::111122223333:role/veeam/Imp"
ROLE = "arn:aws:iam::111122223333:role/VeeamRepo"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": APPLIANCE}, "Action": "sts:AssumeRole"}],
}
EVALUATE = ["evaluate", "--appliance-role-arn", APPLIANCE, "--role-arn", ROLE, "--policy-file"]


def verdict(path: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    code = main([*EVALUATE, path])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out else None, captured.err


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: codecs.BOM_UTF8 + text.encode(),
        lambda text: text.encode("utf-16"),  # with its byte-order mark, as PowerShell writes
        lambda text: text.encode("utf-16-le"),
        lambda text: text.encode("utf-16-be"),
        lambda text: text.encode(),
    ],
    ids=["utf-8-bom", "utf-16-bom", "utf-16-le", "utf-16-be", "utf-8"],
)
def test_policy_files_in_windows_encodings_are_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], encode: Any
) -> None:
    path = tmp_path / "trust.json"
    path.write_bytes(encode(json.dumps(TRUST, indent=2)))
    code, output, err = verdict(str(path), capsys)
    assert (code, output["appliance_can_assume"], err) == (0, "yes", "")


def test_policy_from_standard_input(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(json.dumps(TRUST).encode())))
    code, output, _ = verdict("-", capsys)
    assert (code, output["appliance_can_assume"]) == (0, "yes")


@pytest.mark.parametrize(
    "wrapped",
    [
        {"Role": {"RoleName": "VeeamRepo", "Arn": ROLE, "AssumeRolePolicyDocument": TRUST}},
        {"Role": {"RoleName": "VeeamRepo", "AssumeRolePolicyDocument": json.dumps(TRUST)}},
    ],
    ids=["aws-iam-get-role", "document-as-text"],
)
def test_aws_cli_get_role_output_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], wrapped: dict[str, Any]
) -> None:
    path = tmp_path / "role.json"
    path.write_text(json.dumps(wrapped))
    code, output, _ = verdict(str(path), capsys)
    assert (code, output["appliance_can_assume"]) == (0, "yes")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty: expected an IAM policy document (JSON)"),
        ("  \n", "is empty: expected an IAM policy document (JSON)"),
        ("42", "is not a policy document: it holds a number, not a JSON object with a Statement"),
        ("null", "is not a policy document: it holds null, not a JSON object with a Statement"),
        ("[]", "is not a policy document: it holds a list, not a JSON object with a Statement"),
        ('"text"', "is not a policy document: it holds a string, not a JSON object with a Statement"),
    ],
    ids=["empty", "blank", "number", "null", "list", "string"],
)
def test_a_file_that_is_no_policy_is_reported_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "trust.json"
    path.write_text(content)
    code, output, err = verdict(str(path), capsys)
    assert (code, output, err) == (2, None, f"veeam-role-auditor: error: {path} {message}\n")


def test_a_file_in_no_known_encoding_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "trust.json"
    path.write_bytes(b"{\xff\xfe\xfd}")
    code, _, err = verdict(str(path), capsys)
    assert code == 2
    assert err.startswith(f"veeam-role-auditor: error: cannot read {path}: it is neither UTF-8 nor UTF-16 text")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert (exit_.value.code, capsys.readouterr().out) == (0, "veeam-role-auditor 0.1.0\n")


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["scan", "--help"])
    out = capsys.readouterr().out
    assert "exit codes:\n  0  success" in out
    assert "  3  AWS or runtime error" in out


def boom(args: Any) -> int:
    raise KeyError("surprise")


def test_an_unexpected_error_is_one_line_with_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(cli.COMMANDS, "evaluate", boom)
    code = main([*EVALUATE, "x.json"])
    err = capsys.readouterr().err
    assert (code, err) == (
        3,
        "veeam-role-auditor: error: internal error: KeyError: 'surprise' (run again with --debug for details)\n",
    )
    assert main(["--debug", *EVALUATE, "x.json"]) == 3
    assert "Traceback (most recent call last)" in capsys.readouterr().err
    assert main([*EVALUATE, "x.json", "--debug"]) == 3
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_an_aws_error_nobody_planned_for_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    def aws_fails(args: Any) -> int:
        raise ClientError(
            {"Error": {"Code": "ServiceUnavailable", "Message": "try later"}}, "GetAccountAuthorizationDetails"
        )

    monkeypatch.setitem(cli.COMMANDS, "evaluate", aws_fails)
    assert main([*EVALUATE, "x.json"]) == 3
    assert capsys.readouterr().err == (
        "veeam-role-auditor: error: AWS returned ServiceUnavailable for GetAccountAuthorizationDetails: try later "
        "(run again with --debug for details)\n"
    )


def test_a_closed_pipe_ends_quietly(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    def closed(args: Any) -> int:
        raise BrokenPipeError

    monkeypatch.setitem(cli.COMMANDS, "evaluate", closed)
    assert main([*EVALUATE, "x.json"]) == 141
    assert capfd.readouterr().err == ""
