"""Suppressions: accepted exceptions, written down with a reason and an end date (pure; no AWS calls).

A rule names a check (or ``*``), a role by name or ARN (``*`` and ``?`` wildcards), the reason and the
day it expires. A suppressed finding is still evaluated, shown and imported (Security Hub workflow
status SUPPRESSED, with the reason as a note); it only sends no alert. An expired rule stops applying
and is reported, so an exception never becomes permanent by being forgotten.

The rules come from a file (``--suppressions``, YAML or JSON) or, in Lambda, from an SSM parameter
(JSON). Every defect is an error naming the rule: a rule file is never ignored in part.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from .model import Finding
from .policy.wildcard import glob_match

SUPPRESSED = "suppressed"
"""Key in ``Finding.extra``: the rule's reason, on a finding a rule suppresses."""
SUPPRESSED_BY = "suppressed_by"
SUPPRESSED_UNTIL = "suppressed_until"

_FIELDS = {"check", "role", "reason", "expires"}
_MAX_REASON = 512  # Security Hub Note.Text allows 512 characters (NoteUpdate, API reference)


class SuppressionError(ValueError):
    """The rules cannot be used; the message names the source, the rule and what to change."""


@dataclass(frozen=True)
class SuppressionRule:
    check: str
    """A check code (VRA-TRUST-7) or ``*`` for every check."""
    role: str
    """A role name or ARN; ``*`` and ``?`` match any characters, or any one (IAM-style, ignoring case)."""
    reason: str
    expires: date
    """The last day the rule applies."""
    source: str
    """Where it was written, for messages: ``suppressions.yaml, rule 2``."""

    def matches(self, finding: Finding) -> bool:
        if self.check not in ("*", finding.check):
            return False
        target = finding.role_arn if self.role.startswith("arn:") else finding.role_arn.rsplit("/", 1)[-1]
        # IAM role names are unique regardless of case ("IAM and AWS STS quotas"): match them so.
        return glob_match(self.role, target, ignore_case=True)

    def describe(self) -> str:
        return f"{self.source} ({self.check} on {self.role}, until {self.expires.isoformat()})"


def parse_rules(text: str, source: str, *, known_checks: Collection[str]) -> tuple[SuppressionRule, ...]:
    """Rules from YAML or JSON text: a list of rules, or ``{"suppressions": [...]}``.

    Raises :class:`SuppressionError` for anything that is not exactly a valid rule set.
    """
    document = _load(text, source)
    if isinstance(document, dict) and set(document) == {"suppressions"}:
        document = document["suppressions"]
    if document is None:
        return ()
    if not isinstance(document, list):
        raise SuppressionError(f"{source}: expected a list of rules (or suppressions: [...]), not {_kind(document)}")
    return tuple(_rule(item, f"{source}, rule {number}", known_checks) for number, item in enumerate(document, 1))


def split_expired(
    rules: Iterable[SuppressionRule], today: date
) -> tuple[tuple[SuppressionRule, ...], tuple[SuppressionRule, ...]]:
    """(rules in force today, rules that have expired): a rule applies up to and including its day."""
    active: list[SuppressionRule] = []
    expired: list[SuppressionRule] = []
    for rule in rules:
        (active if today <= rule.expires else expired).append(rule)
    return tuple(active), tuple(expired)


def apply_suppressions(findings: Sequence[Finding], rules: Sequence[SuppressionRule]) -> list[Finding]:
    """The findings, failing ones that a rule in force matches marked as suppressed (first rule wins).

    PASSED and NOT_AVAILABLE findings are never marked: there is nothing to accept about them.
    """
    if not rules:
        return list(findings)
    marked = []
    for finding in findings:
        rule = next((rule for rule in rules if rule.matches(finding)), None) if finding.failing else None
        if rule is None:
            marked.append(finding)
            continue
        extra = {
            **finding.extra,
            SUPPRESSED: rule.reason,
            SUPPRESSED_BY: rule.source,
            SUPPRESSED_UNTIL: rule.expires.isoformat(),
        }
        marked.append(replace(finding, extra=extra))
    return marked


def is_suppressed(finding: Finding) -> bool:
    return SUPPRESSED in finding.extra


# ---------------------------------------------------------------------- parsing


def _load(text: str, source: str) -> Any:
    stripped = text.strip()
    if not stripped:
        return None
    if stripped[0] in "[{":
        try:
            return json.loads(stripped)
        except ValueError as exc:
            if source.endswith(".json"):
                raise SuppressionError(f"{source}: not valid JSON: {exc}") from None
    try:
        import yaml  # only the command line reads YAML; Lambda's rules come as JSON
    except ImportError:
        raise SuppressionError(f"{source}: not JSON, and YAML needs PyYAML (pip install pyyaml)") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SuppressionError(f"{source}: not valid YAML or JSON: {' '.join(str(exc).split())}") from None


def _rule(item: object, where: str, known_checks: Collection[str]) -> SuppressionRule:
    if not isinstance(item, dict):
        raise SuppressionError(f"{where}: expected a mapping with check, role, reason, expires; got {_kind(item)}")
    unknown = sorted(set(map(str, item)) - _FIELDS)
    if unknown:
        raise SuppressionError(f"{where}: unknown field {', '.join(unknown)} (allowed: check, role, reason, expires)")
    missing = sorted(_FIELDS - set(item))
    if missing:
        raise SuppressionError(f"{where}: missing {', '.join(missing)}: every rule needs check, role, reason, expires")
    check, role, reason, expires = item["check"], item["role"], item["reason"], item["expires"]
    if not isinstance(check, str) or (check != "*" and check not in known_checks):
        raise SuppressionError(
            f"{where}: check {check!r} is not a check code (list them with: veeam-role-auditor checks) or *"
        )
    if not isinstance(role, str) or not role.strip():
        raise SuppressionError(f"{where}: role must be a role name or ARN (wildcards * and ? allowed)")
    if not isinstance(reason, str) or not reason.strip():
        raise SuppressionError(f"{where}: reason must say why the exception is accepted")
    if len(reason) > _MAX_REASON:
        raise SuppressionError(f"{where}: reason is {len(reason)} characters; at most {_MAX_REASON}")
    return SuppressionRule(check, role.strip(), reason.strip(), _date(expires, where), where)


def _date(value: object, where: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):  # YAML reads an unquoted 2027-01-31 as a date already
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise SuppressionError(f"{where}: expires must be a date YYYY-MM-DD, got {value!r}")


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__
