"""Benchmark: publishing a 5,000-role account twice, and what Security Hub ingestion costs a month.

Run: .venv/bin/python bench/publish_bench.py [--roles 5000]

On moto's server: scan and publish, then scan and publish again with nothing changed. Counts
BatchImportFindings calls, findings imported and SNS publishes per run (botocore event hooks), and
compares the monthly Security Hub ingestion events of this auditor (changes only, plus a refresh
every --refresh-days) with re-importing every finding on every hourly scan.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scan_bench import TAG, populate

from veeam_role_auditor.dev.emulator import client_environment, environment, moto_server
from veeam_role_auditor.inventory import Inventory, client_config
from veeam_role_auditor.publish import PublishSettings, make_publisher
from veeam_role_auditor.publish.state import create_table
from veeam_role_auditor.scan import full_scope, scan_account
from veeam_role_auditor.settings import ScanSettings

HOURS_PER_MONTH = 24 * 30
FREE_EVENTS = 10_000  # per account and region per month (Security Hub CSPM pricing, as published)
PRICE_PER_EVENT = 0.00003  # USD, after the free tier; check the current pricing page


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--roles", type=int, default=5000)
    parser.add_argument("--refresh-days", type=int, default=7)
    args = parser.parse_args()
    with moto_server() as endpoint, environment(client_environment(endpoint)):

        def client(service: str) -> Any:
            return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", config=client_config())

        appliance = populate(client("iam"), args.roles)
        dynamodb, securityhub, sns, sqs = client("dynamodb"), client("securityhub"), client("sns"), client("sqs")
        create_table(dynamodb, "state")
        securityhub.enable_security_hub()
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        calls: Counter[str] = Counter()
        imported: Counter[str] = Counter()
        run = ["first"]

        def count(model: Any, params: Any, **_: Any) -> None:
            calls[f"{run[0]} {model.name}"] += 1
            if model.name == "BatchImportFindings":
                imported[run[0]] += len(params["Findings"])

        for service_client in (securityhub, sns, dynamodb):
            service_client.meta.events.register("provide-client-params.*.*", count)
        settings = ScanSettings(appliance_role_arns=(appliance,), tag_key=TAG)
        publisher = make_publisher(
            dynamodb=dynamodb,
            securityhub=securityhub,
            sns=sns,
            table_name="state",
            topic_arn=topic,
            settings=PublishSettings(region="us-east-1", refresh_days=args.refresh_days),
        )
        seconds: dict[str, float] = {}
        findings = 0
        for name in ("first", "second"):
            run[0] = name
            start = time.perf_counter()
            result = scan_account(Inventory(client("iam"), client("sts")), settings)
            publisher.publish(result.findings, full_scope(result))
            seconds[name] = time.perf_counter() - start
            findings = len(result.findings)
        del sqs

    print(f"{args.roles} roles (half tagged), {findings} findings per scan, moto server on 127.0.0.1")
    print(
        f"{'run':>7} | {'seconds':>7} | {'BatchImportFindings':>19} | {'findings imported':>17} | {'SNS publishes':>13}"
    )
    for name in ("first", "second"):
        print(
            f"{name:>7} | {seconds[name]:>7.1f} | {calls[f'{name} BatchImportFindings']:>19} | {imported[name]:>17}"
            f" | {calls[f'{name} Publish']:>13}"
        )
    print(
        "DynamoDB per run: "
        + ", ".join(
            f"{name}: {calls[f'{name} Scan']} Scan pages, {calls[f'{name} PutItem']} PutItem,"
            f" {calls[f'{name} UpdateItem']} UpdateItem"
            for name in ("first", "second")
        )
    )
    naive = findings * HOURS_PER_MONTH
    ours = findings * 30 / args.refresh_days  # refresh only: no role changed
    print(f"\nSecurity Hub ingestion events per month, {findings} findings, hourly scans, no changes:")
    for label, events in (
        ("re-import every finding every scan", naive),
        (f"changes + {args.refresh_days}-day refresh", ours),
    ):
        cost = max(0.0, events - FREE_EVENTS) * PRICE_PER_EVENT
        print(f"  {label:>38}: {events:>12,.0f} events  ~ ${cost:,.2f}")
    print(f"  plus the first import once: {findings:,} events; each changed finding adds one event.")


if __name__ == "__main__":
    main()
