"""Scan settings, resolved once: explicit argument, then environment variable, then default."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .checks import CATALOGUE
from .policy import InvalidArnError, parse_role_arn

DEFAULT_TAG_KEY = "veeam:backup-role"
DEFAULT_AWS_TIMEOUT = 90.0
"""Seconds one AWS call of the command line may take, retries included (``--timeout``)."""


class SettingsError(ValueError):
    """A setting is missing or unusable; the message says which and how to fix it."""


@dataclass(frozen=True)
class ScanSettings:
    """What to audit: the appliance role(s) and which roles are Veeam's (by tag and path)."""

    appliance_role_arns: tuple[str, ...]
    tag_key: str = DEFAULT_TAG_KEY
    tag_values: tuple[str, ...] = ()
    path_prefix: str = "/"
    external_id: str | None = None
    appliance_org_id: str | None = None
    checks: tuple[str, ...] = ()
    """Only these checks are reported (empty: every check)."""
    excluded_checks: tuple[str, ...] = ()
    """These checks are not reported (for example VRA-TRUST-7, the account-wide trust advisory)."""
    trusted_accounts: tuple[str, ...] = ()
    """Accounts whose principals are not foreign (a central backup account, a partner)."""

    def __post_init__(self) -> None:
        if not self.appliance_role_arns:
            raise SettingsError("at least one appliance (Impersonation) role ARN is required")
        for arn in self.appliance_role_arns:
            try:
                parse_role_arn(arn)
            except InvalidArnError as exc:
                raise SettingsError(str(exc)) from None
        if not self.tag_key:
            raise SettingsError("the Veeam tag key must not be empty")
        if not self.path_prefix.startswith("/"):
            raise SettingsError(f"the role path prefix must start with '/', got {self.path_prefix!r}")
        unknown = [code for code in (*self.checks, *self.excluded_checks) if code not in CATALOGUE]
        if unknown:
            raise SettingsError(
                f"unknown check {', '.join(dict.fromkeys(unknown))}: the checks are {', '.join(CATALOGUE)}"
            )
        for account in self.trusted_accounts:
            if not (len(account) == 12 and account.isdigit()):
                raise SettingsError(f"a trusted account must be a 12-digit AWS account id, got {account!r}")

    def reports(self, check: str) -> bool:
        """Whether findings of this check are reported (--checks / --exclude-checks)."""
        return (not self.checks or check in self.checks) and check not in self.excluded_checks

    def tag_value(self, tags: Mapping[str, str]) -> str | None:
        """The role's value of the Veeam tag, or None without the tag.

        IAM tag keys are unique per resource regardless of case, so the key is matched without case.
        """
        wanted = self.tag_key.lower()
        return next((value for key, value in tags.items() if key.lower() == wanted), None)

    def in_scope(self, tags: Mapping[str, str], path: str) -> bool:
        """In scope: under the path prefix and tagged with an accepted value (any value by default).

        Accepted values are matched without case ("true" and "True").
        """
        if not path.startswith(self.path_prefix):
            return False
        value = self.tag_value(tags)
        if value is None:
            return False
        return not self.tag_values or value.lower() in {v.lower() for v in self.tag_values}

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> ScanSettings:
        """Settings from ``VRA_*`` environment variables (what the SAM template sets), then overrides."""
        env = os.environ if environ is None else environ

        def listed(name: str) -> tuple[str, ...]:
            return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())

        values: dict[str, object] = {
            "appliance_role_arns": listed("VRA_APPLIANCE_ROLE_ARNS"),
            "tag_key": env.get("VRA_TAG_KEY") or DEFAULT_TAG_KEY,
            "tag_values": listed("VRA_TAG_VALUES"),
            "path_prefix": env.get("VRA_PATH_PREFIX") or "/",
            "external_id": env.get("VRA_EXTERNAL_ID") or None,
            "appliance_org_id": env.get("VRA_APPLIANCE_ORG_ID") or None,
            "checks": listed("VRA_CHECKS"),
            "excluded_checks": listed("VRA_EXCLUDED_CHECKS"),
            "trusted_accounts": listed("VRA_TRUSTED_ACCOUNT_IDS"),
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)  # type: ignore[arg-type]
