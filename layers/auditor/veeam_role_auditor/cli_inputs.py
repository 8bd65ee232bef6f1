"""What the commands read from their arguments and files, checked: a bad value is a :class:`UsageError`.

Shared by ``evaluate`` (cli) and ``scan``/``fix`` (cli_scan), which import it rather than each other.
"""

from __future__ import annotations

import codecs
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .checks import CATALOGUE
from .errors import PROG, UsageError


def read_policy_file(path: Path) -> str:
    """The text of a policy file (``-``: standard input), in whatever encoding Windows tools write.

    UTF-8 with or without a byte-order mark, and UTF-16 (what Windows PowerShell's ``>`` and
    ``Out-File`` write) with its byte-order mark, or without one when the NUL bytes give it away.
    """
    name = "standard input" if str(path) == "-" else str(path)
    try:
        raw = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
    try:
        return _decode_text(raw)
    except UnicodeDecodeError as exc:
        raise UsageError(f"cannot read {name}: it is neither UTF-8 nor UTF-16 text ({exc.reason})") from None


def _decode_text(raw: bytes) -> str:
    if raw.startswith(codecs.BOM_UTF8):
        return raw[len(codecs.BOM_UTF8) :].decode("utf-8")
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16")
    if len(raw) >= 2 and b"\x00" in raw[:4]:
        # JSON text starts with an ASCII character: a NUL beside it means UTF-16 without a mark.
        return raw.decode("utf-16-le" if raw[1:2] == b"\x00" else "utf-16-be")
    return raw.decode("utf-8")


# Where the AWS CLI's output keeps the policy: get-role, get-role-policy, get-policy-version.
_WRAPPED = (("Role", "AssumeRolePolicyDocument"), ("PolicyVersion", "Document"), (None, "PolicyDocument"))


def policy_from_file(path: Path) -> object:
    """A policy document from a file: the policy itself, or AWS CLI output that holds one.

    A file that is not a policy at all (empty, a number, ``null``, a list) is a usage error, not a
    verdict: there is no trust policy to advise on. Text that is not valid JSON is handed to the
    engine, which reports it as malformed.
    """
    name = "standard input" if str(path) == "-" else str(path)
    text = read_policy_file(path)
    if not text.strip():
        raise UsageError(f"{name} is empty: expected an IAM policy document (JSON)")
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, dict):
        for outer, inner in _WRAPPED:
            holder = value.get(outer) if outer else value
            if isinstance(holder, dict) and inner in holder and "Statement" not in value:
                return holder[inner]
        return value
    kind = "null" if value is None else "a list" if isinstance(value, list) else f"a {type(value).__name__}"
    kind = {"a bool": "a boolean", "a int": "a number", "a float": "a number", "a str": "a string"}.get(kind, kind)
    raise UsageError(f"{name} is not a policy document: it holds {kind}, not a JSON object with a Statement")


def parse_tags(pairs: Sequence[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--role-tag expects KEY=VALUE, got {pair!r}")
        tags[key] = value
    return tags


def trusted_accounts(values: Sequence[str]) -> tuple[str, ...]:
    """--trusted-account values (repeatable, or comma-separated), checked to be account ids."""
    accounts = tuple(item.strip() for value in values for item in value.split(",") if item.strip())
    for account in accounts:
        if not (len(account) == 12 and account.isdigit()):
            raise UsageError(f"--trusted-account expects a 12-digit AWS account id, got {account!r}")
    return accounts


def check_codes(values: Sequence[str], option: str) -> tuple[str, ...]:
    """--checks / --exclude-checks values (repeatable, or comma-separated), checked against the catalogue."""
    codes = tuple(item.strip().upper() for value in values for item in value.split(",") if item.strip())
    unknown = [code for code in codes if code not in CATALOGUE]
    if unknown:
        raise UsageError(f"{option}: unknown check {', '.join(unknown)} (list them with: {PROG} checks)")
    return codes
