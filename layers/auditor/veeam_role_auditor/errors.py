"""The failures the command line turns into one line on stderr and an exit code.

Its own module so that every command (``cli``, ``cli_scan``, the inputs they read) can raise them
without importing the module that catches them: ``cli.main`` prints ``PROG: error: <message>`` and
exits with the code below.
"""

from __future__ import annotations

PROG = "veeam-role-auditor"

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_RUNTIME = 0, 1, 2, 3


class UsageError(Exception):
    """A problem the user can fix: bad arguments, unreadable files, missing credentials (exit 2)."""


class RuntimeFailure(Exception):
    """AWS refused or the world changed under us (exit 3): nothing the arguments could fix."""
