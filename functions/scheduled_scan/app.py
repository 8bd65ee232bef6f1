"""scheduled_scan: a full scan of the account, on the schedule or when an appliance role changed.

Thin wiring: Powertools for logs, traces and metrics; the work is veeam_role_auditor.lambda_app.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from veeam_role_auditor.aws import Clients
from veeam_role_auditor.deadline import Deadline
from veeam_role_auditor.lambda_app import (
    AuditorApp,
    LambdaConfig,
    PowertoolsMetrics,
    caller_from_context,
    carry_trace_context,
)

logger = Logger()
# Only botocore is patched: the AWS calls are what a trace should show, and patching every library
# the X-Ray SDK supports would import them (sqlite3, requests...) into every cold start.
tracer = Tracer(patch_modules=("boto3",))
carry_trace_context(tracer)  # the calls of the auditor's own threads belong to the invocation's trace too
metrics = Metrics()
client = Clients.for_lambda()  # kept for the container's life


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    app = AuditorApp(LambdaConfig.from_environment(), client, metrics=PowertoolsMetrics(metrics))
    if event.get("source") == "veeam-role-auditor":
        reason = str(event.get("reason") or "requested")  # invoked by iam_change after an appliance change
    else:
        reason = f"schedule {EventBridgeEvent(event).resources or ''}".strip()
    summary = app.full_scan(caller_from_context(context), reason=reason, deadline=Deadline.from_context(context))
    logger.info("full scan done", extra={"summary": summary})
    return summary
