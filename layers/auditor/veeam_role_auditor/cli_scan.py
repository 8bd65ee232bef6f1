"""The ``scan`` and ``fix`` commands (imported lazily: ``evaluate`` needs neither boto3 nor rich).

rich is imported only for what it draws: the table, the live status on a terminal, notes on standard
error and ``fix``. A JSON or CSV scan into a pipe never loads it and starts no refresh thread. Publishing
(``veeam_role_auditor.publish``) is imported only by ``--publish``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import textwrap
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from . import __version__, checks
from .aws import AwsSetupError, AwsTimeoutError, Clients, describe_aws_error
from .cli_inputs import check_codes, read_policy_file, trusted_accounts
from .errors import RuntimeFailure, UsageError
from .inventory import Inventory
from .model import SEVERITY_ORDER, Finding, iso
from .policy import Appliance, InvalidArnError, TrustVerdict, evaluate_trust, make_appliance
from .policy.document import PolicyParseError, decode_document
from .remediation import DEFAULT_TRUST_POLICY_QUOTA, narrowed_trust_policy, plan_trust_fix, policy_diff
from .scan import ProgressCallback, ScanResult, full_scope, scan_account
from .settings import ScanSettings, SettingsError
from .suppressions import (
    SuppressionError,
    SuppressionRule,
    apply_suppressions,
    is_suppressed,
    parse_rules,
    split_expired,
)
from .text import escape_control, plural

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from .publish import PublishReport

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
    except AwsTimeoutError as exc:
        raise RuntimeFailure(str(exc)) from None
    except (BotoCoreError, ClientError) as exc:
        message = describe_aws_error(exc)
        if message is None:
            raise
        raise UsageError(message) from None


def make_clients(args: argparse.Namespace) -> Clients:
    """Clients with the bounded waits of --timeout; a retry is noted on stderr as it happens."""
    notes = LazyConsole(stderr=True, highlight=False)
    return Clients(
        region=args.region,
        profile=args.profile,
        endpoint_url=args.endpoint_url,
        timeout=args.timeout,
        on_retry=lambda note: notes().print(f"note: {note}", style="yellow", markup=False),
    )


class LazyConsole:
    """A rich Console made (and rich imported) on first use, with the arguments given now."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def __call__(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console


def stderr_is_terminal() -> bool:
    """Whether rich's Console(stderr=True).is_terminal would be true, without importing rich.

    rich draws a live status only on a terminal (its refresh thread runs regardless): TTY_COMPATIBLE
    (0/1) decides first, then FORCE_COLOR (set and not empty), then isatty(); inside IPython rich has
    its own display, so there it is always used.
    """
    if "IPython" in sys.modules:
        return True
    tty_compatible = os.environ.get("TTY_COMPATIBLE", "")
    if tty_compatible in ("0", "1"):
        return tty_compatible == "1"
    force_color = os.environ.get("FORCE_COLOR")
    if force_color is not None:
        return force_color != ""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def reading_status(errors: LazyConsole) -> Iterator[ProgressCallback | None]:
    """The live "Reading roles" status on a terminal; elsewhere nothing (it would draw nothing)."""
    if not stderr_is_terminal():
        yield None
        return
    with errors().status("Reading roles...") as status:

        def progress(pages: int, roles: int) -> None:
            status.update(f"Reading roles: {pages} page{'s' * (pages != 1)}, {roles} roles")

        yield progress


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
            checks=check_codes(args.checks, "--checks") or None,
            excluded_checks=check_codes(args.exclude_checks, "--exclude-checks") or None,
            trusted_accounts=trusted_accounts(args.trusted_account) or None,
            purpose_tag_key=args.purpose_tag_key,
            veeam_version=args.veeam_version,
            upgrade_target=args.upgrade_to,
            purpose_profiles=args.purpose_profiles,
        )
    except SettingsError as exc:
        raise UsageError(str(exc)) from None
    output_format = args.format or ("table" if sys.stdout.isatty() else "json")
    errors = LazyConsole(stderr=True)
    rules = load_suppressions(args.suppressions)
    if args.publish:
        check_publish_arguments(args)
    with aws_errors():
        clients = make_clients(args)
        if args.publish and args.topic_arn:
            check_topic(clients("sns"), args.topic_arn, errors)
        inventory = Inventory(clients("iam"), clients("sts"))
        with reading_status(errors) as progress:
            # Only publishing reads the findings' role snapshots (ASFF resource details, content digests).
            result = scan_account(inventory, settings, progress=progress, keep_snapshots=args.publish)
        if rules:
            result = replace(result, findings=tuple(apply_suppressions(result.findings, rules)))
    # The findings are shown before anything is published, so a failed publish never loses them.
    write_output(args, output_format, result)
    if args.publish:
        with aws_errors():
            report = publish_result(args, clients, result)
        summary = publish_summary(report)
        print(summary, file=sys.stderr if output_format == "json" else sys.stdout)
    threshold = SEVERITY_ORDER[args.fail_on]
    # An accepted exception (suppressed) does not fail the run: that is what accepting it means.
    failing = [
        f
        for f in result.findings
        if f.status == "FAILED" and SEVERITY_ORDER[f.severity] >= threshold and not is_suppressed(f)
    ]
    return 1 if failing else 0


def load_suppressions(path: Path | None) -> tuple[SuppressionRule, ...]:
    """The rules in force today from --suppressions; expired ones are named once, invalid ones stop the run."""
    if path is None:
        return ()
    try:
        text = read_policy_file(path)
    except UsageError as exc:
        raise UsageError(f"--suppressions: {exc}") from None
    try:
        rules = parse_rules(text, str(path), known_checks=tuple(checks.CATALOGUE))
    except SuppressionError as exc:
        raise UsageError(f"--suppressions: {exc}") from None
    active, expired = split_expired(rules, datetime.now(UTC).date())
    for rule in expired:
        print(f"note: suppression {escape_control(rule.describe())} has expired and no longer applies", file=sys.stderr)
    return active


def write_output(args: argparse.Namespace, output_format: str, result: ScanResult) -> None:
    """The findings in the chosen format, to standard output or to --output FILE (never coloured)."""
    args.format = output_format
    findings = shown_findings(result, args)
    target: TextIO = sys.stdout
    if args.output is not None:
        try:
            target = args.output.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    try:
        if output_format == "json":
            write_json(scan_document(result, []), (finding.summary() for finding in findings), target)
            target.write("\n")
        elif output_format == "csv":
            write_csv(findings, target)
        else:
            from rich.console import Console

            console = Console(
                file=target,
                width=output_width(target),
                highlight=False,
                color_system=None if target is not sys.stdout else "auto",
            )
            print_table(result, show_passed=args.all, console=console, findings=findings)
        target.flush()
    finally:
        if target is not sys.stdout:
            target.close()
    if args.output is not None:
        print(f"wrote {plural(len(findings), 'finding')} to {args.output}", file=sys.stderr)


def check_publish_arguments(args: argparse.Namespace) -> None:
    """What --publish needs, checked before the scan: the state table, and a topic ARN that is one."""
    if not args.state_table:
        raise UsageError("--publish needs --state-table (the DynamoDB table that remembers what was published)")
    if args.topic_arn:
        parts = args.topic_arn.split(":")
        if len(parts) != 6 or parts[0] != "arn" or not parts[5]:
            raise UsageError(f"--topic-arn {args.topic_arn!r} is not an ARN: expected arn:aws:sns:REGION:ACCOUNT:TOPIC")
        if parts[2] != "sns":
            raise UsageError(
                f"--topic-arn {args.topic_arn!r} is an {parts[2].upper()} ARN, not an SNS topic: alerts are published "
                "to an SNS topic (subscribe the queue to the topic instead)"
            )


def check_topic(sns: Any, topic_arn: str, errors: LazyConsole) -> None:
    """The alerts topic exists (else every alert would fail and be 'retried next run' forever)."""
    try:
        sns.get_topic_attributes(TopicArn=topic_arn)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("NotFound", "NotFoundException", "InvalidParameter", "InvalidParameterException"):
            raise UsageError(f"--topic-arn {topic_arn!r}: no such SNS topic in this account and region") from None
        if code in ("AuthorizationError", "AccessDenied", "AccessDeniedException"):
            errors().print(f"note: cannot check {topic_arn} (no sns:GetTopicAttributes); publishing to it anyway")
            return
        raise


def publish_result(args: argparse.Namespace, clients: Clients, result: ScanResult) -> PublishReport:
    from .publish import ClockSkewError, PublishError, PublishSettings, make_publisher

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
    check_clock(clients("sts"))
    publisher = make_publisher(
        dynamodb=clients("dynamodb"),
        securityhub=clients("securityhub"),
        sns=clients("sns"),
        table_name=args.state_table,
        topic_arn=args.topic_arn,
        settings=settings,
    )
    try:
        return publisher.publish(result.findings, full_scope(result))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise RuntimeFailure(
                f"nothing published: the state table {args.state_table!r} does not exist in {clients.region} "
                "(deploy the stack, or pass the StateTableName output of the deployed one)"
            ) from None
        raise
    except PublishError as failed:
        # Both sinks were served as far as they could be; what was not delivered is not recorded as
        # delivered, so the next --publish delivers it.
        raise RuntimeFailure(
            f"publishing did not complete: {escape_control(str(failed))}. {publish_summary(failed.report)}"
        ) from None
    except ClockSkewError as exc:
        raise RuntimeFailure(str(exc)) from None


def check_clock(sts: Any) -> None:
    """Refuse --publish when this machine's clock is off AWS's by more than MAX_CLOCK_SKEW.

    Findings are stamped with the local clock; one that runs ahead would make every later run of the
    deployed functions stale until then (publish/clock.py). AWS's time is the Date of an STS response
    (GetCallerIdentity needs no permission).
    """
    from .publish import MAX_CLOCK_SKEW
    from .publish.clock import aws_time, describe_skew

    aws_now = aws_time(sts.get_caller_identity())
    if aws_now is None:
        return  # no Date header: the publisher still checks against the state table's responses
    skew = datetime.now(UTC) - aws_now
    if abs(skew) > MAX_CLOCK_SKEW:
        raise RuntimeFailure(
            f"nothing published: this machine's clock is {describe_skew(skew)} AWS's (the Date of an STS "
            f"response), more than the {int(MAX_CLOCK_SKEW.total_seconds() // 60)} minutes --publish accepts; "
            "fix the clock (e.g. enable NTP) and run again"
        )


def publish_summary(report: PublishReport) -> str:
    if report.security_hub_error:
        hub = f"Security Hub refused the import: imported {plural(report.imported, 'finding')}, "
        hub += f"{len(report.import_failures)} not imported (retried next run)"
    elif report.security_hub_disabled:
        hub = "Security Hub is not enabled here: nothing imported (it will be once it is enabled)"
    else:
        hub = (
            f"Security Hub: imported {plural(report.imported, 'finding')} in "
            f"{plural(report.security_hub_calls, 'call')}"
        )
        if report.archived:
            hub += f" ({report.archived} archived)"
        if report.workflow_updates:
            hub += f", workflow set on {report.workflow_updates}"
        if report.import_failures:
            hub += f", {len(report.import_failures)} failed (retried next run)"
    alerts = f"alerts: {plural(report.messages_sent, 'message')} for {plural(len(report.transitions), 'change')}"
    if report.alert_failures:
        alerts += f", {report.alert_failures} not sent (retried next run)"
    if report.suppressed:
        alerts += f", {report.suppressed} suppressed (no alert)"
    return f"{hub}; {alerts}; {plural(report.unchanged, 'finding')} unchanged."


# The JSON document's version: bump it when a field changes meaning or disappears (adding is compatible).
JSON_SCHEMA_VERSION = "1"
CSV_COLUMNS = ("id", "check", "status", "severity", "role_arn", "title", "details", "remediation", "suppressed")
# Below this width one block per finding reads better than a table whose columns fold mid-word.
TABLE_MIN_WIDTH = 120


def shown_findings(result: ScanResult, args: argparse.Namespace) -> list[Finding]:
    """The findings the output shows: --status and --severity filters (PASSED only with --all or --status)."""
    statuses = set(args.status or ())
    severities = set(args.severity or ())
    return [
        finding
        for finding in result.findings
        if (
            finding.status in statuses if statuses else finding.status != "PASSED" or args.all or args.format != "table"
        )
        and (not severities or finding.severity in severities)
    ]


def scan_document(result: ScanResult, findings: list[Finding]) -> dict[str, Any]:
    """The JSON output: one object, versioned, with the account, the time, a summary and the findings."""
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "tool": f"veeam-role-auditor {__version__}",
        "account": result.caller.account,
        "partition": result.caller.partition,
        "generated_at": iso(result.finished_at),
        "summary": summary_counts(result),
        "findings": [finding.summary() for finding in findings],
    }


# Findings encoded per call by write_json: one json.dumps-sized call each (C-fast from Python 3.13 on) with
# a bounded string, instead of one string for the whole document. No check for circular references: the
# findings' summaries are trees of fresh JSON values (a cycle would end in RecursionError, not ValueError).
JSON_BATCH = 256
_JSON = json.JSONEncoder(indent=2, default=str, check_circular=False)
# A batch is encoded as the findings of a document of its own, so each finding is indented as deep as in
# the whole document: the text between these two is what goes between the whole document's brackets.
_BATCH_HEAD = '{\n  "findings": ['
_BATCH_TAIL = "\n  ]\n}"


def write_json(document: dict[str, Any], findings: Iterable[dict[str, Any]], stream: TextIO) -> None:
    """``json.dump({**document, "findings": [...]}, stream, indent=2, default=str)``, character for character,
    written a batch of findings at a time.

    Each batch is encoded as ``{"findings": batch}``, a document whose findings stand at the depth they have
    in the whole document (the second level), and written without that document's first and last lines.
    """
    head = _JSON.encode({**document, "findings": []})
    empty_tail = "[]\n}"
    assert head.endswith(empty_tail), "findings must be the document's last key"
    stream.write(head[: -len(empty_tail)])
    batch: list[dict[str, Any]] = []
    written = False

    def flush() -> None:
        nonlocal written
        text = _JSON.encode({"findings": batch})  # '{\n  "findings": [\n    {...},\n    {...}\n  ]\n}'
        stream.write("," if written else "[")
        stream.write(text[len(_BATCH_HEAD) : -len(_BATCH_TAIL)])
        written = True
        batch.clear()

    for finding in findings:
        batch.append(finding)
        if len(batch) == JSON_BATCH:
            flush()
    if batch:
        flush()
    stream.write(_BATCH_TAIL if written else empty_tail)


def summary_counts(result: ScanResult) -> dict[str, Any]:
    """Counts over every finding of the scan (filters do not change them)."""
    statuses = Counter(finding.status for finding in result.findings)
    failing: Counter[str] = Counter(finding.severity for finding in result.findings if finding.failing)
    return {
        "roles_read": result.roles_seen,
        "roles_in_scope": result.roles_in_scope,
        "by_status": {status: statuses[status] for status in ("FAILED", "WARNING", "NOT_AVAILABLE", "PASSED")},
        "failing_by_severity": {name: failing[name] for name in reversed(SEVERITY_ORDER)},
    }


def write_csv(findings: list[Finding], stream: TextIO) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for finding in findings:
        row = finding.summary()
        writer.writerow(
            [
                row["id"],
                row["check"],
                row["status"],
                row["severity"],
                row["role_arn"],
                row["title"],
                "; ".join(escape_control(detail) for detail in finding.details),
                escape_control(finding.remediation),
                finding.extra.get("suppressed", ""),
            ]
        )


def output_width(stream: TextIO) -> int:
    """A terminal's own width; elsewhere COLUMNS, else 160 (a file or pipe has no width of its own)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if stream.isatty():
        return shutil.get_terminal_size((80, 24)).columns
    return 160


def print_table(
    result: ScanResult,
    *,
    show_passed: bool,
    console: Console | None = None,
    findings: list[Finding] | None = None,
) -> None:
    """Findings most severe first: a table when there is room, else one block per finding.

    Names and ARNs are never broken inside a word: a table column folds them, so below
    ``TABLE_MIN_WIDTH`` each finding gets its own block, its ARN on a line of its own.
    """
    if console is None:
        from rich.console import Console

        console = Console(width=output_width(sys.stdout), highlight=False)
    chosen = findings if findings is not None else [f for f in result.findings if show_passed or f.status != "PASSED"]
    rows = sorted(chosen, key=lambda f: (-SEVERITY_ORDER[f.severity], f.status, f.role_arn, f.check))
    if rows and console.width >= TABLE_MIN_WIDTH:
        console.print(_table(result, rows))
    elif rows:
        console.print(f"Veeam roles in account {result.caller.account}", style="bold")
        for finding in rows:
            _print_block(console, finding)
    console.print(summary_line(result))


def _headline(finding: Finding) -> str:
    headline = checks.problem_for(checks.CATALOGUE[finding.check], finding.status)
    suffix = " (suppressed)" if "suppressed" in finding.extra else ""
    return f"{headline[0].upper()}{headline[1:]}{suffix}"


def _table(result: ScanResult, rows: list[Finding]) -> Table:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"Veeam roles in account {result.caller.account}", show_lines=False)
    for column in ("Severity", "Status", "Check", "Role", "Finding"):
        table.add_column(column, overflow="fold")
    for finding in rows:
        detail = finding.details[0] if finding.details else ""
        table.add_row(
            f"[{_SEVERITY_STYLE[finding.severity]}]{finding.severity}[/]",
            f"[{_STATUS_STYLE[finding.status]}]{finding.status}[/]",
            finding.check,
            escape(escape_control(finding.role_arn.rsplit("/", 1)[-1])),
            f"{_headline(finding)}\n[dim]{escape(escape_control(detail))}[/]",
        )
    return table


def _print_block(console: Console, finding: Finding) -> None:
    console.print()
    console.print(
        f"[{_SEVERITY_STYLE[finding.severity]}]{finding.severity}[/] "
        f"[{_STATUS_STYLE[finding.status]}]{finding.status}[/] {finding.check}  {_headline(finding)}"
    )
    # Wrapped between words only: an ARN longer than the line runs on whole rather than being cut.
    console.print(f"  {escape_control(finding.role_arn)}", markup=False, soft_wrap=True)
    if finding.details:
        wrapped = textwrap.fill(
            escape_control(finding.details[0]),
            width=max(40, console.width),
            initial_indent="  ",
            subsequent_indent="  ",
            break_long_words=False,
            break_on_hyphens=False,
        )
        console.print(wrapped, style="dim", markup=False, soft_wrap=True)


def summary_line(result: ScanResult) -> str:
    statuses = Counter(finding.status for finding in result.findings)
    severities: Counter[str] = Counter(f.severity for f in result.findings if f.status == "FAILED")
    by_severity = ", ".join(
        f"{severities[name]} {name.lower()}" for name in reversed(SEVERITY_ORDER) if severities[name]
    )
    suppressed = sum(1 for finding in result.findings if "suppressed" in finding.extra)
    return (
        f"{plural(result.roles_seen, 'role')} read, {result.roles_in_scope} in scope: "
        f"{statuses['FAILED']} failed{f' ({by_severity})' if by_severity else ''}, "
        f"{plural(statuses['WARNING'], 'warning')}, {statuses['NOT_AVAILABLE']} not available, "
        f"{statuses['PASSED']} passed" + (f", {suppressed} suppressed" if suppressed else "")
    )


def run_fix_command(args: argparse.Namespace) -> int:
    """Print, and with --apply write, the corrected trust policy of one role.

    Exit 0: fixed, or nothing to change; 1: a problem remains that was not changed (refused, or
    risks left for --narrow); 2: usage error; 3: IAM refused or changed the policy under us.
    """
    from rich.console import Console
    from rich.markup import escape

    console = Console(soft_wrap=True, highlight=False)
    try:
        appliance_arn = args.appliance_role_arn
        make_appliance(appliance_arn)
    except InvalidArnError as exc:
        raise UsageError(str(exc)) from None
    with aws_errors():
        clients = make_clients(args)
        iam = clients("iam")
        inventory = Inventory(iam, clients("sts"))
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
        tags = dict(role.tags)
        name = escape_control(role.name)
        current = evaluate_trust(role.trust_policy, role.arn, appliance, role_tags=tags)
        if current.appliance_can_assume == "yes":
            corrected = _narrowing_or_report(console, role.trust_policy, role.arn, appliance, tags, name, args)
            if corrected is None:
                return 1 if _open_risks(current) else 0
        else:
            fix = plan_trust_fix(
                role.trust_policy,
                role.arn,
                appliance,
                role_tags=tags,
                current=current,
                force=args.force,
                max_length=trust_policy_quota(iam),
            )
            if fix.document is None:
                console.print(
                    f"[bold]{name}[/]: no change proposed, because {escape(escape_control(fix.refusal or ''))}"
                )
                for decider in fix.deciding_inputs:
                    console.print(f"  decided by: {escape(escape_control(decider))}")
                if current.appliance_can_assume == "conditional":
                    console.print(
                        "Give the values that decide it, or run again with --force to change the policy anyway "
                        "(this removes the protection those conditions give)."
                    )
                return 1
            corrected = fix.document
            for note in fix.notes:
                console.print(f"note: {escape(escape_control(note))}")
        _print_change(console, role.trust_policy, corrected, name)
        if not args.apply:
            console.print("\nRun again with --apply to update the role.")
            return 0
        backup = save_backup(args.backup_dir, role.name, role.trust_policy)
        apply_trust_policy(inventory, iam, role.name, role.trust_policy, corrected)
    console.print(f"\n[green]Updated the trust policy of {name}.[/] The previous one is saved in {backup}.")
    console.print("IAM can take up to 5 minutes to apply a trust policy change everywhere.")
    return 0


def _open_risks(verdict: TrustVerdict) -> list[str]:
    return [f"{note.risk}: {note.reason}" for note in verdict.risk_notes]


def _narrowing_or_report(
    console: Console,
    document: object,
    role_arn: str,
    appliance: Appliance,
    tags: dict[str, str],
    name: str,
    args: argparse.Namespace,
) -> dict[str, Any] | None:
    """The appliance already has access: list the open risks and, with --narrow, the narrowed policy."""
    from rich.markup import escape

    verdict = evaluate_trust(document, role_arn, appliance, role_tags=tags)
    risks = _open_risks(verdict)
    console.print(f"[green]{name}: the appliance can already assume this role.[/]")
    if not risks:
        console.print("Nothing to change.")
        return None
    console.print("Open risks in its trust policy:")
    for risk in risks:
        console.print(f"  - {escape(escape_control(risk))}")
    if not args.narrow:
        console.print(
            f'Run again with --narrow to replace "*" and the account {appliance.account} by {appliance.role.arn} '
            "where that keeps the appliance's access; other principals (foreign accounts included) are never "
            "removed automatically: remove them by hand if they are not intended."
        )
        return None
    narrowing = narrowed_trust_policy(document, role_arn, appliance, role_tags=tags)
    if narrowing.document is None:
        console.print(f"Nothing narrowed: {escape(escape_control(narrowing.reason or ''))}")
        return None
    for change in narrowing.changes:
        console.print(f"  narrowed: {escape(escape_control(change))}")
    return narrowing.document


def _print_change(console: Console, before: object, after: dict[str, Any], name: str) -> None:
    console.print(f"Corrected trust policy for [bold]{name}[/]:")
    # json.dumps escapes every control character (and, with ensure_ascii, every non-ASCII one).
    print(json.dumps(after, indent=2))
    console.print("\nChanges:")
    for line in policy_diff(before, after, name).splitlines():
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else None
        console.print(escape_control(line), style=style, markup=False, highlight=False)


def trust_policy_quota(iam: Any) -> int:
    """The account's trust-policy size quota (GetAccountSummary: AssumeRolePolicySizeQuota).

    Falls back to IAM's default when the summary cannot be read (no iam:GetAccountSummary): the
    default is the smallest the quota can be, so the check never lets an oversized policy through.
    """
    try:
        summary = iam.get_account_summary().get("SummaryMap", {})
    except ClientError:
        return DEFAULT_TRUST_POLICY_QUOTA
    quota = summary.get("AssumeRolePolicySizeQuota")
    return quota if isinstance(quota, int) and quota > 0 else DEFAULT_TRUST_POLICY_QUOTA


def apply_trust_policy(
    inventory: Inventory, iam: Any, role_name: str, planned_from: object, corrected: dict[str, Any]
) -> None:
    """Write the corrected policy only if the role still has the one the fix was planned from.

    IAM has no conditional update (UpdateAssumeRolePolicy takes no version or ETag), so the policy is
    read again just before writing and the write is abandoned when it changed in between (an
    emergency Deny must never be lost); after writing it is read back to confirm.
    """
    again = inventory.role(role_name)
    if again is None:
        raise RuntimeFailure(f"role {role_name!r} was deleted while the fix was prepared; nothing written")
    if _decoded(again.trust_policy) != _decoded(planned_from):
        raise RuntimeFailure(
            f"the trust policy of {role_name!r} changed while the fix was prepared; nothing written. "
            "Run fix again to plan from the current policy."
        )
    try:
        iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=json.dumps(corrected))
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "Error")
        message = error.response.get("Error", {}).get("Message", "")
        raise RuntimeFailure(
            f"IAM refused the new trust policy of {role_name!r} ({code}: {escape_control(message)}); nothing changed"
        ) from None
    written = inventory.role(role_name)
    if written is None or _decoded(written.trust_policy) != _decoded(corrected):
        raise RuntimeFailure(
            f"IAM accepted the new trust policy of {role_name!r}, but reading it back shows another document "
            "(someone else changed it, or IAM has not caught up): check it with aws iam get-role"
        )


def _decoded(document: object) -> object:
    try:
        return decode_document(document)
    except PolicyParseError:
        return document


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
