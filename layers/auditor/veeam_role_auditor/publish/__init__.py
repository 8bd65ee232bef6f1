"""Publishing findings: the state table, Security Hub (ASFF) and SNS alerts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from .alerts import AlertSink
from .clock import MAX_CLOCK_SKEW, ClockSkewError
from .publisher import Publisher, PublishError, PublishReport, PublishSettings, Scope
from .securityhub import SecurityHubSink
from .state import StateStore

__all__ = [
    "MAX_CLOCK_SKEW",
    "ClockSkewError",
    "PublishError",
    "PublishReport",
    "PublishSettings",
    "Publisher",
    "Scope",
    "make_publisher",
]


def make_publisher(
    *,
    dynamodb: Any,
    securityhub: Any,
    sns: Any,
    table_name: str,
    topic_arn: str | None,
    settings: PublishSettings,
    clock: Callable[[], datetime] | None = None,
) -> Publisher:
    """A publisher wired to real (or emulated) clients; no topic means no alerts."""
    return Publisher(
        StateStore(dynamodb, table_name),
        settings=settings,
        security_hub=SecurityHubSink(securityhub) if settings.security_hub else None,
        alerts=AlertSink(sns, topic_arn) if topic_arn else None,
        clock=clock,
    )
