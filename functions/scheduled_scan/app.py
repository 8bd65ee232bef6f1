"""scheduled_scan: a full scan of the account, on the schedule or when an appliance role changed.

Thin wiring: Powertools for logs, traces and metrics; the work is veeam_role_auditor.lambda_app.
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from veeam_role_auditor.deadline import Deadline
from veeam_role_auditor.inventory import client_config
from veeam_role_auditor.lambda_app import AuditorApp, LambdaConfig, caller_from_context

logger = Logger()
tracer = Tracer()
metrics = Metrics()
_clients: dict[str, Any] = {}


def client(service: str) -> Any:
    """boto3 clients, created once per container and reused by every invocation."""
    if service not in _clients:
        _clients[service] = boto3.client(service, config=client_config())
    return _clients[service]


class _Metrics:
    def add_metric(self, name: str, unit: str, value: float) -> None:
        metrics.add_metric(name=name, unit=unit, value=value)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    app = AuditorApp(LambdaConfig.from_environment(), client, metrics=_Metrics())
    if event.get("source") == "veeam-role-auditor":
        reason = str(event.get("reason") or "requested")  # invoked by iam_change after an appliance change
    else:
        reason = f"schedule {EventBridgeEvent(event).resources or ''}".strip()
    summary = app.full_scan(caller_from_context(context), reason=reason, deadline=Deadline.from_context(context))
    logger.info("full scan done", extra={"summary": summary})
    return summary
