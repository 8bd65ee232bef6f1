"""iam_change: re-evaluates what one IAM change (a CloudTrail event) can affect, and the delayed re-checks.

Two triggers: the EventBridge rule for IAM CloudTrail events (processed once per eventID, Powertools
idempotency) and the SQS delay queue of re-checks (partial batch failures reported to SQS).
Thin wiring; the work is veeam_role_auditor.lambda_app and veeam_role_auditor.cloudtrail.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from veeam_role_auditor.aws import Clients
from veeam_role_auditor.cloudtrail import IamChange, Rejected, Skipped, parse_event
from veeam_role_auditor.deadline import Deadline
from veeam_role_auditor.lambda_app import (
    ApplianceCache,
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
processor = BatchProcessor(event_type=EventType.SQS)
# Kept for the container's life: the clients, and the appliance roles read for recent events.
client = Clients.for_lambda()
appliances = ApplianceCache()

# The state table also keeps idempotency records (partition key finding_id, TTL on "expiration").
idempotency = IdempotencyConfig(event_key_jmespath="detail.eventID", expires_after_seconds=24 * 3600)
_processors: dict[str, Any] = {}


def app(config: LambdaConfig) -> AuditorApp:
    return AuditorApp(config, client, metrics=PowertoolsMetrics(metrics), appliance_cache=appliances)


def process_change(event: dict[str, Any], change: IamChange, context: LambdaContext) -> dict[str, Any]:
    """One CloudTrail event, processed once even when EventBridge delivers it twice (same eventID).

    ``event`` is the idempotency payload; ``change`` is what :func:`parse_event` made of it.
    """
    config = LambdaConfig.from_environment()
    if "change" not in _processors:
        # Built on first use: the persistence layer creates its DynamoDB client when constructed,
        # which would otherwise add that cost to every cold start, rechecks included.
        persistence = DynamoDBPersistenceLayer(
            table_name=config.table_name, key_attr="finding_id", boto3_client=client("dynamodb")
        )
        _processors["change"] = idempotent_function(
            data_keyword_argument="event", persistence_store=persistence, config=idempotency
        )(_process_change)
    result: dict[str, Any] = _processors["change"](event=event, change=change, config=config, context=context)
    return result


def _process_change(
    event: dict[str, Any], change: IamChange, config: LambdaConfig, context: LambdaContext
) -> dict[str, Any]:
    del event  # the idempotency key and payload; the change was parsed from it once
    return app(config).on_iam_change(change, caller_from_context(context))


def process_recheck(record: SQSRecord, lambda_context: LambdaContext) -> dict[str, Any]:
    """One re-check message; the batch processor passes the invocation's context (``lambda_context``)."""
    body = json.loads(record.body)
    if not isinstance(body, dict):
        raise TypeError(f"a re-check message must be a JSON object, got {type(body).__name__}")
    return app(LambdaConfig.from_environment()).recheck(
        body, caller_from_context(lambda_context), Deadline.from_context(lambda_context)
    )


@logger.inject_lambda_context(correlation_id_path="detail.eventID")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    if isinstance(event, dict) and "Records" in event:
        response = process_partial_response(
            event=event, record_handler=process_recheck, processor=processor, context=context
        )
        return dict(response)
    decision = parse_event(event)
    if isinstance(decision, Rejected):
        logger.warning("event rejected", extra={"reason": decision.reason})
        metrics.add_metric(name="EventsRejected", unit="Count", value=1)
        return {"status": "rejected", "reason": decision.reason}
    if isinstance(decision, Skipped):
        logger.info("event skipped", extra={"reason": decision.reason, "event_name": decision.event_name})
        metrics.add_metric(name="EventsSkipped", unit="Count", value=1)
        return {"status": "skipped", "reason": decision.reason}
    summary = process_change(event=event, change=decision, context=context)
    metrics.add_metric(name="IamChangesProcessed", unit="Count", value=1)
    logger.info("change processed", extra={"event_name": decision.event_name, "summary": summary})
    return summary
