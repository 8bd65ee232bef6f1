"""`make demo` must succeed, and show each step of the story; `make demo-keep` must serve the README's examples."""

from __future__ import annotations

import os
import queue
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from io import StringIO
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from moto.moto_api._internal.models import moto_api_backend
from rich.console import Console

from tests.conftest import ROOT
from tests.integration.test_readme import examples
from veeam_role_auditor.cli import main
from veeam_role_auditor.dev.demo import run
from veeam_role_auditor.dev.sample_account import expected_results

STOP_HINT = "Press Ctrl-C to stop the emulator."


def test_the_demo_plays_every_step_and_stops_its_emulator() -> None:
    before = dict(os.environ)
    output = StringIO()
    try:
        assert run(main, Console(file=output, width=80)) == 0  # the demo reads well in an 80-column terminal
    finally:
        # moto's server keeps its accounts in this process: later tests (the README's) create the same roles.
        moto_api_backend.reset()
    text = output.getvalue()
    # The demo deploys with an upgrade target (VRA-PURPOSE-3); alerts start at MEDIUM (the default).
    results = [result for role in expected_results(upgrade_target=True).values() for result in role.values()]
    counts = Counter(status for status, _ in results)
    alerted = sum(1 for status, severity in results if status != "PASSED" and severity not in ("LOW", "INFORMATIONAL"))
    for marker in (
        "Step 1: an account that runs Veeam Backup for AWS",
        "Step 2: the scheduled scan runs",
        f"{alerted} changes in account 123456789012",
        f"Security Hub: {counts['FAILED']} FAILED, {counts['WARNING']} WARNING, {counts['PASSED']} PASSED",
        "Step 3: someone breaks VeeamRepositoryHealthy",
        "[HIGH] VeeamRepositoryHealthy: the Veeam appliance cannot assume the role",
        "Step 4: the fix command repairs it",
        "[RESOLVED] VeeamRepositoryHealthy: The Veeam appliance can assume the role",
        "Step 5: the next scheduled scan, nothing changed",
        "Imported 0 findings, sent 0 alerts",
        "The emulator is stopped.",
    ):
        assert marker in text, marker
    assert dict(os.environ) == before  # the demo restores the environment it changed
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text  # no role name or ARN cut short


def read_until(lines: queue.Queue[str | None], marker: str, timeout: float) -> list[str]:
    """The lines printed up to and including the first one containing marker (None: the output ended)."""
    deadline = time.monotonic() + timeout
    printed: list[str] = []
    while not printed or marker not in printed[-1]:
        line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        assert line is not None, f"the output ended before {marker!r}:\n" + "\n".join(printed)
        printed.append(line)
    return printed


def read_lines(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def printed_text(completed: subprocess.CompletedProcess[str]) -> str:
    return "\n".join(line.rstrip() for line in completed.stdout.rstrip().splitlines())


def test_keep_running_serves_the_demo_account_to_the_printed_commands_until_ctrl_c() -> None:
    # The user's shell: no AWS settings of its own, only what the demo prints.
    # As a pipe without COLUMNS sees it, like the README's examples (pytest-xdist's workers set COLUMNS=80).
    shell = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_") and name not in ("COLUMNS", "LINES")
    }
    demo = subprocess.Popen(
        [sys.executable, "-m", "veeam_role_auditor", "demo", "--keep-running"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env=shell,
    )
    assert demo.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=read_lines, args=(demo.stdout, lines), daemon=True).start()
    try:
        printed = [line.strip() for line in read_until(lines, STOP_HINT, timeout=300)]
        assert "unset AWS_PROFILE AWS_SESSION_TOKEN" in printed
        (export,) = [line for line in printed if line.startswith("export ")]
        exported = dict(assignment.split("=", 1) for assignment in shlex.split(export)[1:])
        assert sorted(exported) == [
            "AWS_ACCESS_KEY_ID",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL",
            "AWS_SECRET_ACCESS_KEY",
        ]
        endpoint = urlsplit(exported["AWS_ENDPOINT_URL"])
        assert (endpoint.scheme, endpoint.hostname) == ("http", "127.0.0.1")
        shell |= exported

        # Every printed command is one of the README's, called through the venv's script.
        script = (Path(sys.executable).parent / "veeam-role-auditor").resolve()
        readme = dict(examples())
        commands = [
            line for line in printed[printed.index(export) + 1 :] if line.split(" ")[1:2] in (["scan"], ["fix"])
        ]
        assert len(commands) == 3
        for command in commands[:2]:
            program, arguments = command.split(" ", 1)
            assert (ROOT / program).resolve() == script
            assert f"veeam-role-auditor {arguments}" in readme

        # The printed scan command, as printed, in the printed environment, prints the README's table.
        scan = subprocess.run(
            shlex.split(commands[0]), capture_output=True, text=True, cwd=ROOT, env=shell, check=False
        )
        assert scan.returncode == 1, scan.stderr  # HIGH findings in the sample account
        assert printed_text(scan) == readme["veeam-role-auditor " + commands[0].split(" ", 1)[1]]

        # Every README example prints, against the account the demo leaves, what the README shows.
        for command, expected in readme.items():
            completed = subprocess.run(
                [str(script), *shlex.split(command)[1:]],
                capture_output=True,
                text=True,
                cwd=ROOT,
                env=shell,
                check=False,
            )
            assert printed_text(completed) == expected, command

        demo.send_signal(signal.SIGINT)  # Ctrl-C
        assert demo.wait(timeout=60) == 0
        rest = read_until(lines, "The emulator is stopped.", timeout=10)
        assert "Traceback" not in "\n".join(rest)
        with socket.socket() as probe:
            assert probe.connect_ex((endpoint.hostname, endpoint.port or 0)) != 0  # nothing listens any more
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
