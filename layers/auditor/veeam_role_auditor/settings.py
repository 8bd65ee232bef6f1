"""Every setting of the auditor, resolved once: explicit argument, then environment variable, then default.

- :class:`ScanSettings`: what to audit (command line and Lambda);
- :func:`publish_settings`: how to publish (:class:`~.publish.PublishSettings`) from ``VRA_*`` variables;
- :class:`LambdaConfig`: everything the Lambda functions read from their environment (``template.yaml``).

A value that cannot be used raises :class:`SettingsError` naming the variable, the value and what is expected.
An empty variable counts as unset (CloudFormation passes an empty parameter as an empty string).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .checks import CATALOGUE
from .checks.purpose import DEFAULT_PURPOSE_TAG_KEY, version_order
from .model import SEVERITY_ORDER
from .policy import InvalidArnError, parse_role_arn
from .purposes import default_version, load_extra_profiles, resolve_version

if TYPE_CHECKING:
    from .publish import PublishSettings

DEFAULT_TAG_KEY = "veeam:backup-role"
DEFAULT_AWS_TIMEOUT = 90.0
"""Seconds one AWS call of the command line may take, retries included (``--timeout``)."""
DEFAULT_REGION = "us-east-1"
DEFAULT_APPLIANCE_MAX_AGE = 60.0
MAX_APPLIANCE_MAX_AGE = 240.0
"""Below the re-check queue's 300 s delay (template.yaml, RecheckQueue DelaySeconds), so an event's re-check
never assesses with an appliance read from before the event."""
"""Seconds a warm iam_change container reuses the appliance (Impersonation) role it read for one event
(``VRA_APPLIANCE_MAX_AGE``; 0: read it for every event). A change to the appliance role (its trust, tags,
policies, boundary, instance profiles, or a managed policy attached to it) arrives as its own CloudTrail
event, which triggers a full scan and empties this cache (see lambda_app.ApplianceCache)."""
_TRUE = frozenset({"1", "true", "yes", "enabled"})
_FALSE = frozenset({"0", "false", "no", "disabled"})


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
    purpose_tag_key: str = DEFAULT_PURPOSE_TAG_KEY
    """The tag whose value lists a role's Veeam purposes (the purpose checks, VRA-PURPOSE-*)."""
    veeam_version: str | None = None
    """The appliance version whose requirements the purpose checks apply (None: the newest complete one)."""
    upgrade_target: str | None = None
    """A newer appliance version to check upgrade readiness against (VRA-PURPOSE-3; None: not checked)."""
    purpose_profiles: str | None = None
    """A JSON file of custom purposes (the command line's --purpose-profiles)."""

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
        if not self.purpose_tag_key:
            raise SettingsError("the purpose tag key must not be empty")
        if self.purpose_tag_key.lower() == self.tag_key.lower():
            raise SettingsError(
                f"the purpose tag key must differ from the Veeam tag key ({self.tag_key!r}): one marks the "
                "roles to audit, the other lists what Veeam uses each for"
            )
        try:
            version = resolve_version(self.veeam_version) if self.veeam_version else default_version()
            target = resolve_version(self.upgrade_target) if self.upgrade_target else None
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        if target is not None and version_order(target) <= version_order(version):
            raise SettingsError(f"the upgrade target {target} is not newer than the appliance version {version}")
        if self.purpose_profiles:
            try:
                load_extra_profiles(self.purpose_profiles)
            except (OSError, ValueError) as exc:
                raise SettingsError(str(exc)) from None

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
        env = Environment(environ)
        values: dict[str, object] = {
            "appliance_role_arns": env.listed("VRA_APPLIANCE_ROLE_ARNS"),
            "tag_key": env.text("VRA_TAG_KEY") or DEFAULT_TAG_KEY,
            "tag_values": env.listed("VRA_TAG_VALUES"),
            "path_prefix": env.text("VRA_PATH_PREFIX") or "/",
            "external_id": env.text("VRA_EXTERNAL_ID"),
            "appliance_org_id": env.text("VRA_APPLIANCE_ORG_ID"),
            "checks": env.listed("VRA_CHECKS"),
            "excluded_checks": env.listed("VRA_EXCLUDED_CHECKS"),
            "trusted_accounts": env.listed("VRA_TRUSTED_ACCOUNT_IDS"),
            "purpose_tag_key": env.text("VRA_PURPOSE_TAG_KEY") or DEFAULT_PURPOSE_TAG_KEY,
            "veeam_version": env.text("VRA_VEEAM_VERSION"),
            "upgrade_target": env.text("VRA_VEEAM_UPGRADE_TARGET"),
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)  # type: ignore[arg-type]


class Environment:
    """Reads ``VRA_*`` variables: an empty value is unset, an unusable one a :class:`SettingsError`."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def text(self, name: str) -> str | None:
        return self._environ.get(name) or None

    def listed(self, name: str) -> tuple[str, ...]:
        """A comma-separated list (CloudFormation's CommaDelimitedList arrives joined by commas)."""
        return tuple(item.strip() for item in (self.text(name) or "").split(",") if item.strip())

    def whole(self, name: str, default: int, *, minimum: int, meaning: str) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw.strip())
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise SettingsError(f"{name} must be a whole number of at least {minimum} ({meaning}), got {raw!r}")
        return value

    def seconds(self, name: str, default: float, *, maximum: float, meaning: str) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw.strip())
        except ValueError:
            value = -1.0
        if not (math.isfinite(value) and 0 <= value <= maximum):
            raise SettingsError(f"{name} must be 0 to {maximum:g} seconds ({meaning}), got {raw!r}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.text(name)
        if raw is None:
            return default
        if raw.strip().lower() in _TRUE:
            return True
        if raw.strip().lower() in _FALSE:
            return False
        raise SettingsError(f"{name} must be true or false, got {raw!r}")

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        raw = self.text(name)
        if raw is None:
            return default
        if raw.strip().upper() not in choices:
            raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
        return raw.strip().upper()


def publish_settings(environ: Mapping[str, str] | None = None, **arguments: Any) -> PublishSettings:
    """How to publish: each field from its argument when given (not None), else ``VRA_*``, else the default.

    ``VRA_SECURITY_HUB`` (true/false), ``VRA_REFRESH_DAYS`` (at least 1), ``VRA_DIGEST_THRESHOLD`` (at least
    1), ``VRA_MIN_ALERT_SEVERITY`` (a severity); the region is Lambda's ``AWS_REGION``.
    """
    from .publish import PublishSettings  # the command line's evaluate needs no publishing (and no botocore)

    env = Environment(environ)
    values: dict[str, Any] = {
        "region": env.text("AWS_REGION") or env.text("AWS_DEFAULT_REGION") or DEFAULT_REGION,
        "security_hub": env.flag("VRA_SECURITY_HUB", True),
        "refresh_days": env.whole(
            "VRA_REFRESH_DAYS", 7, minimum=1, meaning="days after which an unchanged finding is sent again"
        ),
        "digest_threshold": env.whole(
            "VRA_DIGEST_THRESHOLD", 20, minimum=1, meaning="transitions from which one digest alert is sent"
        ),
        "min_alert_severity": env.choice("VRA_MIN_ALERT_SEVERITY", "MEDIUM", tuple(SEVERITY_ORDER)),
    }
    values.update({key: value for key, value in arguments.items() if value is not None})
    try:
        return PublishSettings(**values)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


@dataclass(frozen=True)
class LambdaConfig:
    """Everything the functions read from their environment (set by template.yaml), once."""

    scan: ScanSettings
    publish: PublishSettings
    table_name: str
    topic_arn: str | None
    recheck_queue_url: str | None
    scan_function_name: str | None
    suppressions_parameter: str | None = None
    """Name of the SSM parameter holding the suppression rules (JSON); None: no suppressions."""
    appliance_max_age: float = DEFAULT_APPLIANCE_MAX_AGE
    """Seconds an event of the iam_change function may reuse the appliance role read for an earlier one."""

    def __post_init__(self) -> None:
        if not self.table_name:
            raise SettingsError("VRA_STATE_TABLE is not set: the name of the DynamoDB state table is required")
        if not (math.isfinite(self.appliance_max_age) and 0 <= self.appliance_max_age <= MAX_APPLIANCE_MAX_AGE):
            raise SettingsError(
                f"the appliance cache time must be 0 to {MAX_APPLIANCE_MAX_AGE:g} seconds, got {self.appliance_max_age}"
            )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, **arguments: Any) -> LambdaConfig:
        """Each field from its argument when given (not None), else its ``VRA_*`` variable, else the default."""
        env = Environment(environ)
        values: dict[str, Any] = {
            "table_name": env.text("VRA_STATE_TABLE"),
            "topic_arn": env.text("VRA_TOPIC_ARN"),
            "recheck_queue_url": env.text("VRA_RECHECK_QUEUE_URL"),
            "scan_function_name": env.text("VRA_SCAN_FUNCTION_NAME"),
            "suppressions_parameter": env.text("VRA_SUPPRESSIONS_PARAMETER"),
        }
        values.update({key: value for key, value in arguments.items() if value is not None})
        if not values["table_name"]:
            raise SettingsError("VRA_STATE_TABLE is not set: the name of the DynamoDB state table is required")
        if "scan" not in values:
            values["scan"] = ScanSettings.from_environment(environ)
        if "publish" not in values:
            values["publish"] = publish_settings(environ)
        if "appliance_max_age" not in values:
            values["appliance_max_age"] = env.seconds(
                "VRA_APPLIANCE_MAX_AGE",
                DEFAULT_APPLIANCE_MAX_AGE,
                maximum=MAX_APPLIANCE_MAX_AGE,
                meaning="how long a warm iam_change function reuses the appliance role it read",
            )
        return cls(**values)
