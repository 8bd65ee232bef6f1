"""The ``scan`` and ``fix`` commands (imported lazily: ``evaluate`` needs neither boto3 nor rich)."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import checks
from .aws import AwsSetupError, Clients, describe_aws_error
from .cli import UsageError
from .inventory import Inventory
from .model import SEVERITY_ORDER, Finding
from .policy import InvalidArnError, evaluate_trust, make_appliance
from .publish import PublishReport, PublishSettings, make_publisher
from .remediation import corrected_trust_policy, policy_diff
from .scan import ScanResult, full_scope, scan_account
from .settings import ScanSettings, SettingsError

_SEVERITY_STYLE = {
    "CRITICAL": "bold white on red",
    "HIGH": "bold red",
    "MEDIUM": "yellow",
    "LOW": "cyan",
    "INFORMATIONAL": "dim",
}
_STATUS_STYLE = {"FAILED": "red", "WARNING": "yellow", "NOT_AVAILABLE": "magenta", "PASSED": "green"}


@contextmanager
def aws_errors() -> Iterator[None]:
    """Expected AWS problems (credentials, profile, access) become one-line usage errors."""
    try:
        yield
    except AwsSetupError as exc:
        raise UsageError(str(exc)) from None
    except (BotoCoreError, ClientError) as exc:
        message = describe_aws_error(exc)
        if message is None:
            raise
        raise UsageError(message) from None


def run_scan_command(args: argparse.Namespace) -> int:
    try:
        settings = ScanSettings.from_environment(
            {},
            appliance_role_arns=tuple(args.appliance_role_arn),
            tag_key=args.tag_key,
            tag_values=tuple(args.tag_value) or None,
            path_prefix=args.path_prefix,
            external_id=args.external_id,
            appliance_org_id=args.appliance_org_id,
        )
    except SettingsError as exc:
        raise UsageError(str(exc)) from None
    output_format = args.format or ("table" if sys.stdout.isatty() else "json")
    errors = Console(stderr=True)
    with aws_errors():
        clients = Clients(region=args.region, profile=args.profile, endpoint_url=args.endpoint_url)
        inventory = Inventory(clients("iam"), clients("sts"))
        with errors.status("Reading roles...") as status:

            def progress(pages: int, roles: int) -> None:
                status.update(f"Reading roles: {pages} page{'s' * (pages != 1)}, {roles} roles")

            result = scan_account(inventory, settings, progress=progress)
        report = publish_result(args, clients, result) if args.publish else None
    if output_format == "json":
        print(json.dumps([finding.summary() for finding in result.findings], indent=2, default=str))
    else:
        print_table(result, show_passed=args.all)
    if report is not None:
        summary = publish_summary(report)
        print(summary, file=sys.stderr if output_format == "json" else sys.stdout)
    threshold = SEVERITY_ORDER[args.fail_on]
    failing = [f for f in result.findings if f.status == "FAILED" and SEVERITY_ORDER[f.severity] >= threshold]
    return 1 if failing else 0


def publish_result(args: argparse.Namespace, clients: Clients, result: ScanResult) -> PublishReport:
    if not args.state_table:
        raise UsageError("--publish needs --state-table (the DynamoDB table that remembers what was published)")
    try:
        settings = PublishSettings(
            region=clients.region,
            security_hub=not args.no_security_hub,
            refresh_days=args.refresh_days,
            digest_threshold=args.digest_threshold,
            min_alert_severity=args.min_alert_severity,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    publisher = make_publisher(
        dynamodb=clients("dynamodb"),
        securityhub=clients("securityhub"),
        sns=clients("sns"),
        table_name=args.state_table,
        topic_arn=args.topic_arn,
        settings=settings,
    )
    return publisher.publish(result.findings, full_scope(result))


def publish_summary(report: PublishReport) -> str:
    if report.security_hub_disabled:
        hub = "Security Hub is not enabled here: nothing imported (it will be once it is enabled)"
    else:
        hub = f"Security Hub: imported {report.imported} findings in {report.security_hub_calls} calls"
        if report.archived:
            hub += f" ({report.archived} archived)"
        if report.import_failures:
            hub += f", {len(report.import_failures)} failed (retried next run)"
    alerts = f"alerts: {report.messages_sent} messages for {len(report.transitions)} changes"
    if report.alert_failures:
        alerts += f", {report.alert_failures} not sent (retried next run)"
    return f"{hub}; {alerts}; {report.unchanged} findings unchanged."


def print_table(result: ScanResult, *, show_passed: bool, console: Console | None = None) -> None:
    # On a terminal rich fits the table to it; redirected to a file it would fold at 80 columns.
    console = console or Console(width=None if sys.stdout.isatty() else 160)
    rows = sorted(
        (f for f in result.findings if show_passed or f.status != "PASSED"),
        key=lambda f: (-SEVERITY_ORDER[f.severity], f.status, f.role_arn, f.check),
    )
    table = Table(title=f"Veeam roles in account {result.caller.account}", show_lines=False)
    for column in ("Severity", "Status", "Check", "Role", "Finding"):
        table.add_column(column, overflow="fold")
    for finding in rows:
        detail = finding.details[0] if finding.details else ""
        check = checks.CATALOGUE[finding.check]
        headline = check.problem if finding.failing else check.title
        table.add_row(
            f"[{_SEVERITY_STYLE[finding.severity]}]{finding.severity}[/]",
            f"[{_STATUS_STYLE[finding.status]}]{finding.status}[/]",
            finding.check,
            finding.role_arn.rsplit("/", 1)[-1],
            f"{headline[0].upper()}{headline[1:]}\n[dim]{escape(detail)}[/]",
        )
    if rows:
        console.print(table)
    console.print(summary_line(result))


def summary_line(result: ScanResult) -> str:
    statuses = Counter(finding.status for finding in result.findings)
    severities: Counter[str] = Counter(f.severity for f in result.findings if f.status == "FAILED")
    by_severity = ", ".join(
        f"{severities[name]} {name.lower()}" for name in reversed(SEVERITY_ORDER) if severities[name]
    )
    return (
        f"{result.roles_seen} roles read, {result.roles_in_scope} in scope: "
        f"{statuses['FAILED']} failed{f' ({by_severity})' if by_severity else ''}, "
        f"{statuses['WARNING']} warnings, {statuses['NOT_AVAILABLE']} not available, {statuses['PASSED']} passed"
    )


def run_fix_command(args: argparse.Namespace) -> int:
    console = Console(soft_wrap=True)
    try:
        appliance_arn = args.appliance_role_arn
        make_appliance(appliance_arn)
    except InvalidArnError as exc:
        raise UsageError(str(exc)) from None
    with aws_errors():
        clients = Clients(region=args.region, profile=args.profile, endpoint_url=args.endpoint_url)
        inventory = Inventory(clients("iam"), clients("sts"))
        role = inventory.role(args.role_name)
        if role is None:
            raise UsageError(f"role {args.role_name!r} not found in this account")
        appliance_role = inventory.role(appliance_arn.rsplit("/", 1)[-1])
        live = appliance_role if appliance_role and appliance_role.arn == appliance_arn else None
        appliance = make_appliance(
            appliance_arn,
            role_id=live.role_id if live else None,
            org_id=args.appliance_org_id,
            external_id=args.external_id,
            has_boundary=live is not None and live.boundary_arn is not None,
        )
        current = evaluate_trust(role.trust_policy, role.arn, appliance, role_tags=dict(role.tags))
        if current.appliance_can_assume == "yes":
            console.print(f"[green]{role.name}: the appliance can already assume this role; nothing to change.[/]")
            return 0
        corrected = corrected_trust_policy(role.trust_policy, role.arn, appliance, role_tags=dict(role.tags))
        diff = policy_diff(role.trust_policy, corrected, role.name)
        console.print(f"Corrected trust policy for [bold]{role.name}[/]:")
        print(json.dumps(corrected, indent=2))
        console.print("\nChanges:")
        for line in diff.splitlines():
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else None
            console.print(line, style=style, markup=False, highlight=False)
        if not args.apply:
            console.print("\nRun again with --apply to update the role.")
            return 0
        backup = save_backup(args.backup_dir, role.name, role.trust_policy)
        clients("iam").update_assume_role_policy(RoleName=role.name, PolicyDocument=json.dumps(corrected))
    console.print(f"\n[green]Updated the trust policy of {role.name}.[/] The previous one is saved in {backup}.")
    console.print("IAM can take up to 5 minutes to apply a trust policy change everywhere.")
    return 0


def save_backup(directory: Path, role_name: str, document: object) -> Path:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = directory / f"{role_name}-{stamp}.json"
        path.write_text(json.dumps(document, indent=2) if not isinstance(document, str) else document)
    except OSError as exc:
        raise UsageError(f"cannot save the current trust policy in {directory}: {exc.strerror}") from None
    return path


def failing_count(findings: list[Finding]) -> int:
    return sum(1 for finding in findings if finding.status == "FAILED")
