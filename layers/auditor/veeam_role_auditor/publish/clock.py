"""AWS's own clock, read from the ``Date`` header of its responses, and the clock skew the auditor accepts.

Every stored observation time (``observed_at``) outranks older ones: a run whose view is older than the
stored one is "stale" and publishes nothing for that finding. An observation stamped by a clock that runs
ahead would therefore silence every later run until that moment, so observations are checked against the
time AWS itself reports before they are stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

# Five minutes: IAM applies a trust-policy change within 5 minutes, and the auditor reads a changed role
# again after that delay (the re-check queue's DelaySeconds, 300 s, in template.yaml). An observation at
# most that far ahead is outranked by the re-check of any change made after it, so a fix is still reported.
# AWS does not stop such a clock itself: it accepts requests signed up to 15 minutes off ("Signature
# expired: ... is now earlier than ... (... - 15 min.)"). The Date header's resolution (1 s) is far below.
MAX_CLOCK_SKEW = timedelta(minutes=5)


class ClockSkewError(Exception):
    """Observations from the future, relative to AWS's clock: publishing them would block later runs."""


def aws_time(response: Mapping[str, Any]) -> datetime | None:
    """When AWS answered, from a boto3 response's ``Date`` header, if it has one.

    The header has whole seconds (RFC 7231, e.g. "Mon, 30 Nov 2026 18:36:42 GMT"): the middle of that second
    is the best estimate.
    """
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    date = headers.get("date") if isinstance(headers, Mapping) else None
    if not isinstance(date, str):
        return None
    try:
        moment = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return None
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment + timedelta(milliseconds=500)


def describe_skew(skew: timedelta) -> str:
    """'2 h 5 min ahead of' / '40 s behind' AWS's clock, for messages."""
    seconds = round(abs(skew).total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours} h"] if hours else []
    if minutes:
        parts.append(f"{minutes} min")
    if seconds and not hours:
        parts.append(f"{seconds} s")
    return f"{' '.join(parts) or '0 s'} {'ahead of' if skew > timedelta() else 'behind'}"
