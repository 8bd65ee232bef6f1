"""The README is tested: its command-line examples run against moto and print what it shows."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from samtranslator.yaml_helper import yaml_parse

from tests.conftest import ROOT
from veeam_role_auditor.checks import CATALOGUE
from veeam_role_auditor.dev.emulator import client_environment, moto_server
from veeam_role_auditor.dev.sample_account import create_sample_account

README = (ROOT / "README.md").read_text()
TESTED = re.compile(r"<!-- readme-test -->\n```console\n(.*?)\n```", re.DOTALL)


def examples() -> list[tuple[str, str]]:
    """(command, expected output) pairs from every tested console block."""
    pairs: list[tuple[str, str]] = []
    for block in TESTED.findall(README):
        command: list[str] = []
        output: list[str] = []
        lines = block.splitlines()
        for line in lines:
            if line.startswith("$ ") and not command:
                command.append(line[2:])
            elif command and command[-1].endswith("\\") and not output:
                command.append(line)
            else:
                output.append(line)
        pairs.append((" ".join(part.rstrip("\\").strip() for part in command), "\n".join(output)))
    return pairs


@pytest.fixture(scope="module")
def emulator() -> Iterator[dict[str, str]]:
    with moto_server() as endpoint:
        # The examples show what a pipe without COLUMNS gets (pytest-xdist's workers set COLUMNS=80).
        environment = {
            **{name: value for name, value in os.environ.items() if name not in ("COLUMNS", "LINES")},
            **client_environment(endpoint, key="readme"),
        }
        iam: Any = boto3.client(
            "iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="r", aws_secret_access_key="r"
        )
        create_sample_account(iam, "123456789012")
        yield environment


def test_the_readme_has_tested_examples_of_every_command() -> None:
    commands = [command.split()[1] for command, _ in examples()]
    assert commands == ["evaluate", "evaluate", "checks", "scan", "scan", "fix", "fix"]


@pytest.mark.parametrize(("command", "expected"), examples(), ids=[c.split()[1] for c, _ in examples()])
def test_readme_example_prints_what_the_readme_shows(emulator: dict[str, str], command: str, expected: str) -> None:
    arguments = shlex.split(command)
    assert arguments[0] == "veeam-role-auditor"
    completed = subprocess.run(
        [sys.executable, "-m", "veeam_role_auditor", *arguments[1:]],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=emulator,
        check=False,
    )
    printed = "\n".join(line.rstrip() for line in completed.stdout.rstrip().splitlines())
    assert printed == expected
    assert completed.returncode in (0, 1), completed.stderr


def test_the_two_set_up_commands_come_first() -> None:
    first_section = README.split("## ", 2)[1]
    assert "`make demo`" in first_section
    assert "`make test`" in first_section


def test_the_checks_table_matches_the_catalogue() -> None:
    rows = re.findall(r"^\| `(VRA-[A-Z]+-\d+)` \| ([A-Z]+)", README, re.MULTILINE)
    assert rows == [(code, check.severity) for code, check in CATALOGUE.items()]


def test_every_template_parameter_is_documented() -> None:
    parameters = yaml_parse((ROOT / "template.yaml").read_text())["Parameters"]
    documented = set(re.findall(r"^\| `(\w+)` \|", README, re.MULTILINE))
    assert set(parameters) <= documented
