"""A scan into a pipe loads no terminal stack and starts no thread; on a terminal the status still shows.
A scan without --publish loads no publishing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from veeam_role_auditor import cli_scan

# A fresh interpreter (rich is already imported in this one): moto in-process, the sample account,
# the command line's main(), then what was loaded and which threads ran during the scan.
PROBE = textwrap.dedent(
    """
    import io, json, sys, threading
    from moto import mock_aws
    import boto3
    from veeam_role_auditor.dev.sample_account import create_sample_account
    from veeam_role_auditor.cli import main

    threads = set()
    original = threading.Thread.start
    def start(self):
        threads.add(type(self).__module__ + "." + type(self).__name__)
        original(self)
    threading.Thread.start = start
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        account = boto3.client("sts", region_name="us-east-1").get_caller_identity()["Account"]
        sample = create_sample_account(iam, account)
        out = io.StringIO()
        sys.stdout, real = out, sys.stdout
        try:
            code = main(["scan", "--appliance-role-arn", sample.appliance_role_arn] + sys.argv[1:])
        finally:
            sys.stdout = real
    loaded = sorted(name for name in sys.modules if name == "rich" or name.startswith("rich."))
    publishing = sorted(name for name in sys.modules if name.startswith("veeam_role_auditor.publish"))
    print(json.dumps({"code": code, "rich": loaded, "threads": sorted(threads), "chars": len(out.getvalue()),
                      "publishing": publishing}))
    """
)


def probe(*argv: str, env: dict[str, str] | None = None) -> dict[str, object]:
    environment = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PATH": "/usr/bin:/bin",
        **(env or {}),
    }
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True, env=environment
    )
    result: dict[str, object] = json.loads(completed.stdout.splitlines()[-1])
    return result


@pytest.mark.parametrize("output", [["--format", "json"], ["--format", "csv"], []])
def test_a_scan_into_a_pipe_imports_no_rich_nor_publishing_and_runs_no_refresh_thread(output: list[str]) -> None:
    result = probe(*output)
    assert result["code"] == 1
    assert result["rich"] == []
    assert not [name for name in result["threads"] if "rich" in name]  # type: ignore[attr-defined]
    assert result["chars"] > 1000
    assert result["publishing"] == []


def test_forced_colour_is_treated_as_a_terminal_as_rich_treats_it() -> None:
    result = probe("--format", "json", env={"FORCE_COLOR": "1"})
    assert "rich.live" in result["rich"]  # type: ignore[operator]


@pytest.mark.parametrize(
    ("environment", "isatty", "terminal"),
    [
        ({}, False, False),
        ({}, True, True),
        ({"TTY_COMPATIBLE": "0"}, True, False),
        ({"TTY_COMPATIBLE": "1"}, False, True),
        ({"FORCE_COLOR": "1"}, False, True),
        ({"FORCE_COLOR": ""}, True, False),
    ],
)
def test_stderr_is_a_terminal_exactly_when_rich_says_so(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], isatty: bool, terminal: bool
) -> None:
    from rich.console import Console

    for name in ("TTY_COMPATIBLE", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    class Stream:
        def isatty(self) -> bool:
            return isatty

        def write(self, text: str) -> int:
            return len(text)

        def flush(self) -> None:
            pass

    monkeypatch.setattr(sys, "stderr", Stream())
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert cli_scan.stderr_is_terminal() is terminal
    assert Console(stderr=True).is_terminal is terminal
