"""`make demo` must succeed, and show each step of the story."""

from __future__ import annotations

import os
from io import StringIO

from rich.console import Console

from veeam_role_auditor.demo import run


def test_the_demo_plays_every_step_and_stops_its_emulator() -> None:
    before = dict(os.environ)
    output = StringIO()
    assert run(Console(file=output, width=120)) == 0
    text = output.getvalue()
    for marker in (
        "Step 1: an account that runs Veeam Backup for AWS",
        "Step 2: the scheduled scan runs",
        "10 changes in account 123456789012",
        "Security Hub: 12 FAILED, 1 WARNING, 70 PASSED",
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
