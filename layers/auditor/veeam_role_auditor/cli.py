"""Command line: ``python -m veeam_role_auditor evaluate|scan|fix``.

Exit codes: 0 success (``evaluate`` exits 0 whatever the verdict), 1 findings at or above
``--fail-on`` (``scan``) or a problem ``fix`` did not change, 2 unusable arguments, unreadable files
or credential problems, 3 AWS refused a change or the policy changed under ``fix``; each with a
one-line message on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from .assess import without_trusted_accounts
from .checks import CATALOGUE
from .cli_inputs import parse_tags, policy_from_file, trusted_accounts
from .cli_purposes import add_purpose_arguments, add_required_policy_parser, command_required_policy
from .errors import EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, PROG, RuntimeFailure, UsageError
from .model import SEVERITY_ORDER
from .policy import (
    Appliance,
    InvalidArnError,
    NamedPolicy,
    TrustVerdict,
    evaluate_identity,
    evaluate_trust,
    make_appliance,
)
from .remediation import DEFAULT_TRUST_POLICY_QUOTA, plan_trust_fix, policy_length
from .settings import DEFAULT_AWS_TIMEOUT
from .text import escape_control

EXIT_CODES = """exit codes:
  0  success: nothing at or above --fail-on (scan), fixed or nothing to change (fix); evaluate, whatever the verdict
  1  findings at or above --fail-on (scan); a problem fix did not change (refused, or risks left)
  2  usage or input error: bad arguments, unreadable or non-policy files, credentials, unknown role
  3  AWS or runtime error: an AWS call failed, a publish failed partly, the policy changed under fix
  141 the output was closed early (for example piped into head)"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage dump: the message says what to fix.
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    # --debug after the command too; SUPPRESS keeps a subcommand's default from hiding the top-level flag.
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    evaluate = commands.add_parser(
        "evaluate",
        parents=[common],
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="evaluate one trust policy (and optionally the appliance's permissions) offline",
        description="Decide whether the Veeam appliance can assume a role, from policy files.",
    )
    _appliance_arguments(evaluate, multiple=False)
    evaluate.add_argument("--role-arn", required=True, help="ARN of the role being added to Veeam")
    evaluate.add_argument("--policy-file", required=True, type=Path, help="the role's trust policy (JSON)")
    evaluate.add_argument(
        "--identity-policy-file",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="a permission policy of the Impersonation role (repeat for each inline/managed policy)",
    )
    evaluate.add_argument(
        "--boundary-policy-file",
        type=Path,
        help="the Impersonation role's permissions boundary, if any",
    )
    evaluate.add_argument(
        "--role-tag",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a tag of the audited role, for aws:ResourceTag conditions (repeatable)",
    )
    evaluate.add_argument(
        "--trust-policy-quota",
        type=int,
        default=DEFAULT_TRUST_POLICY_QUOTA,
        metavar="N",
        help="the account's role trust policy length quota, in characters without white space (default 2048, "
        "IAM's default; see aws iam get-account-summary: AssumeRolePolicySizeQuota)",
    )
    evaluate.add_argument("--format", choices=("json", "text"), default="json")

    scan = commands.add_parser(
        "scan",
        parents=[common],
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="scan every Veeam-tagged role of an account",
        description="Read every role of the account and report the Veeam roles that are broken or risky.",
    )
    _appliance_arguments(scan, multiple=True)
    scan.add_argument("--tag-key", default=None, help="tag that marks Veeam roles (default veeam:backup-role)")
    scan.add_argument(
        "--tag-value",
        action="append",
        default=[],
        metavar="V",
        help="accepted value of the tag (repeatable; default: any value)",
    )
    scan.add_argument("--path-prefix", default=None, help="only roles under this path (default /)")
    scan.add_argument(
        "--checks",
        action="append",
        default=[],
        metavar="CODE[,CODE]",
        help="report only these checks (see: veeam-role-auditor checks)",
    )
    scan.add_argument(
        "--exclude-checks",
        action="append",
        default=[],
        metavar="CODE[,CODE]",
        help="do not report these checks (for example VRA-TRUST-7, the account-wide trust advisory)",
    )
    add_purpose_arguments(scan)
    _aws_arguments(scan)
    scan.add_argument(
        "--format",
        choices=("table", "json", "csv"),
        default=None,
        help="table (default on a terminal), json (one object: schema_version, account, summary, findings; "
        "default otherwise) or csv",
    )
    scan.add_argument("--output", type=Path, metavar="FILE", help="write the findings to FILE (audit evidence)")
    scan.add_argument(
        "--status",
        action="append",
        type=str.upper,
        choices=("FAILED", "WARNING", "NOT_AVAILABLE", "PASSED"),
        help="show only findings with this status (repeatable); the exit code still counts every finding",
    )
    scan.add_argument(
        "--severity",
        action="append",
        type=str.upper,
        choices=tuple(SEVERITY_ORDER),
        help="show only findings of this severity (repeatable)",
    )
    scan.add_argument("--all", action="store_true", help="also list PASSED findings in the table")
    scan.add_argument(
        "--suppressions",
        type=Path,
        metavar="FILE",
        help="accepted exceptions (YAML or JSON rules: check, role, reason, expires): still shown and "
        "published, marked suppressed, no alert, and not counted by --fail-on",
    )
    publish = scan.add_argument_group("publishing (what the Lambda functions do, from cron, a container or CI)")
    publish.add_argument("--publish", action="store_true", help="import changed findings and send alerts")
    publish.add_argument("--state-table", help="DynamoDB state table (required with --publish)")
    publish.add_argument("--topic-arn", help="SNS topic for alerts (none: no alerts)")
    publish.add_argument("--no-security-hub", action="store_true", help="do not import into Security Hub")
    publish.add_argument("--min-alert-severity", choices=tuple(SEVERITY_ORDER), type=str.upper, default="MEDIUM")
    publish.add_argument("--refresh-days", type=int, default=7, help="re-import unchanged findings after N days")
    publish.add_argument("--digest-threshold", type=int, default=20, help="one digest above N alerts in a run")
    scan.add_argument(
        "--fail-on",
        choices=tuple(SEVERITY_ORDER),
        default="HIGH",
        type=str.upper,
        help="exit 1 when a FAILED finding has at least this severity (default HIGH)",
    )

    fix = commands.add_parser(
        "fix",
        parents=[common],
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="print (and optionally apply) the corrected trust policy of one role",
        description="Compute the minimal trust policy change that lets the appliance assume a role.",
    )
    fix.add_argument("--role-name", required=True, help="name of the role to fix")
    _appliance_arguments(fix, multiple=False)
    _aws_arguments(fix)
    fix.add_argument("--apply", action="store_true", help="update the role's trust policy in IAM")
    fix.add_argument(
        "--force",
        action="store_true",
        help="change the policy even when the verdict depends on unknown values or an Allow with conditions "
        "already names the appliance (removes the protection of those conditions)",
    )
    fix.add_argument(
        "--narrow",
        action="store_true",
        help='when the appliance already has access, replace "*" and its whole account by the Impersonation '
        "role ARN (foreign principals are never removed)",
    )
    fix.add_argument(
        "--backup-dir",
        type=Path,
        default=Path("fix-backups"),
        help="where --apply saves the current trust policy first (default ./fix-backups)",
    )
    checks_command = commands.add_parser(
        "checks",
        parents=[common],
        help="list the checks: code, severity, title",
        description="The catalogue of checks, for --checks, --exclude-checks and suppression rules.",
    )
    checks_command.add_argument("--format", choices=("text", "json"), default="text")
    add_required_policy_parser(commands, common)
    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="play the whole auditor on an embedded AWS emulator (needs the dev dependencies)",
        description="Run the Lambda handlers against moto's server with a sample account.",
    )
    demo.add_argument(
        "--keep-running",
        action="store_true",
        help="then keep the emulator running, print the environment to export and commands to try; Ctrl-C stops it",
    )
    return parser


def _aws_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", help="AWS region for STS and other regional calls")
    parser.add_argument("--profile", help="AWS named profile")
    parser.add_argument("--endpoint-url", help="send every AWS call to this endpoint (an emulator)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_AWS_TIMEOUT,
        metavar="SECONDS",
        help="give up on an AWS call that has no answer after this long, retries included "
        f"(default {DEFAULT_AWS_TIMEOUT:g})",
    )


def _appliance_arguments(parser: argparse.ArgumentParser, *, multiple: bool) -> None:
    parser.add_argument(
        "--appliance-role-arn",
        required=True,
        action="append" if multiple else "store",
        help="ARN of the appliance's Impersonation role" + (" (repeatable)" if multiple else ""),
    )
    parser.add_argument("--appliance-role-id", help="unique id (AROA...) of the Impersonation role")
    parser.add_argument("--appliance-org-id", help="AWS Organizations id (o-...) of the appliance account")
    parser.add_argument("--external-id", help="the external id Veeam passes to sts:AssumeRole, if any")
    parser.add_argument(
        "--trusted-account",
        action="append",
        default=[],
        metavar="ID",
        help="an account whose principals are not foreign: a central backup account, a partner (repeatable)",
    )


def command_evaluate(args: argparse.Namespace) -> int:
    try:
        appliance = make_appliance(
            args.appliance_role_arn,
            role_id=args.appliance_role_id,
            org_id=args.appliance_org_id,
            external_id=args.external_id,
            has_boundary=args.boundary_policy_file is not None,
        )
        document = policy_from_file(args.policy_file)
        tags = parse_tags(args.role_tag)
        verdict = evaluate_trust(document, args.role_arn, appliance, role_tags=tags or None)
        verdict = without_trusted_accounts(verdict, trusted_accounts(args.trusted_account))
        output: dict[str, Any] = verdict.to_dict()
        length = policy_length(document)
        if length > args.trust_policy_quota:
            output["reasons"].append(
                f"size: the document is {length} characters (white space not counted), over the trust policy "
                f'quota of {args.trust_policy_quota} (IAM and AWS STS quotas, "Role trust policy length"): '
                "IAM refuses it unless the account's quota is raised"
            )
        if args.identity_policy_file:
            policies = [NamedPolicy(str(path), policy_from_file(path)) for path in args.identity_policy_file]
            boundary = None
            if args.boundary_policy_file:
                boundary = NamedPolicy(str(args.boundary_policy_file), policy_from_file(args.boundary_policy_file))
            identity = evaluate_identity(policies, args.role_arn, appliance, boundary=boundary, role_tags=tags or None)
            output["identity"] = identity.to_dict()
    except InvalidArnError as exc:
        raise UsageError(str(exc)) from None
    if args.format == "json":
        print(json.dumps(output, indent=2))
    else:
        print(_evaluate_text(output, _fix_text(document, args.role_arn, appliance, verdict, tags)))
    return 0


def _evaluate_text(output: dict[str, Any], fix: Sequence[str] = ()) -> str:
    lines = [f"appliance can assume: {output['appliance_can_assume']}"]
    if output["via"]:
        lines[0] += f" (via {output['via']})"
    lines.append("risks: " + (", ".join(output["risks"]) if output["risks"] else "none"))
    # Reasons quote the document (condition keys, principals): untrusted text, shown escaped.
    lines.extend(f"  - {escape_control(reason)}" for reason in output["reasons"])
    identity = output.get("identity")
    if identity:
        lines.append(f"identity policies allow sts:AssumeRole: {identity['allows_assume_role']}")
        lines.extend(f"  - {escape_control(reason)}" for reason in identity["reasons"])
    works = output["appliance_can_assume"] == "yes" and (not identity or identity["allows_assume_role"] == "yes")
    if works:
        lines.append("This will work: the appliance can assume the role.")
    else:
        lines.extend(fix)
    return "\n".join(lines)


def _fix_text(
    document: object, role_arn: str, appliance: Appliance, verdict: TrustVerdict, tags: dict[str, str]
) -> list[str]:
    """What to change in the trust policy, or why no change is proposed; empty when it works."""
    if verdict.appliance_can_assume == "yes":
        return []
    fix = plan_trust_fix(document, role_arn, appliance, role_tags=tags or None, current=verdict)
    if fix.document is None:
        lines = [f"No change is proposed: {escape_control(fix.refusal or '')}"]
        lines.extend(f"  decided by: {escape_control(decider)}" for decider in fix.deciding_inputs)
        return lines
    if not fix.narrowed:
        assert fix.added is not None  # a fix that narrows nothing adds the statement
        lines = ["To let the appliance assume the role, add this statement to its trust policy:"]
        lines.append(json.dumps(fix.added, indent=2))
        return lines + [f"note: {escape_control(note)}" for note in fix.notes]
    lines = ["To let the appliance assume the role, change its trust policy:"]
    for position, statement in fix.narrowed:
        if statement is None:
            lines.append(f"remove Statement[{position}], which only denies the appliance")
        else:
            lines.append(f"replace Statement[{position}] with (the same Deny, exempting the appliance):")
            lines.append(json.dumps(statement, indent=2))
    if fix.added is not None:
        lines.append("and add this statement:")
        lines.append(json.dumps(fix.added, indent=2))
    return lines + [f"note: {escape_control(note)}" for note in fix.notes]


def command_scan(args: argparse.Namespace) -> int:
    from .cli_scan import run_scan_command

    return run_scan_command(args)


def command_fix(args: argparse.Namespace) -> int:
    from .cli_scan import run_fix_command

    return run_fix_command(args)


def command_demo(args: argparse.Namespace) -> int:
    try:
        from .dev.demo import run
    except ImportError as exc:
        raise UsageError(f"the demo needs the dev dependencies ({exc.name} is missing): run make demo") from None
    return run(main, keep_running=args.keep_running)


def command_checks(args: argparse.Namespace) -> int:
    """The catalogue, one check a line (text) or as a list of objects (json)."""
    rows = [
        {"code": check.code, "severity": check.severity, "title": check.title, "resource": check.resource}
        for check in CATALOGUE.values()
    ]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    width = max(len(row["code"]) for row in rows)
    for row in rows:
        print(f"{row['code']:<{width}}  {row['severity']:<13}  {row['title']}")
    return EXIT_OK


COMMANDS = {
    "evaluate": command_evaluate,
    "scan": command_scan,
    "fix": command_fix,
    "checks": command_checks,
    "required-policy": command_required_policy,
    "demo": command_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every failure is one line on stderr and an exit code (see the module docstring)."""
    parser = build_parser()
    args: argparse.Namespace | None = None
    try:
        args = parser.parse_args(argv)
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RuntimeFailure as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    except BrokenPipeError:
        # The reader (head, less) went away: stop quietly, with the status a shell gives SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 -- the one place every unexpected error becomes one line
        if args is not None and getattr(args, "debug", False):
            traceback.print_exc()
        print(f"{PROG}: error: {describe_unexpected(exc)} (run again with --debug for details)", file=sys.stderr)
        return EXIT_RUNTIME


def describe_unexpected(error: BaseException) -> str:
    """One line for an error nobody planned for: AWS's own code and message when it is an AWS error."""
    response = getattr(error, "response", None)
    if isinstance(response, dict) and isinstance(response.get("Error"), dict):
        code = response["Error"].get("Code", "Error")
        message = escape_control(str(response["Error"].get("Message", "")))
        operation = getattr(error, "operation_name", "an AWS call")
        return f"AWS returned {code} for {operation}: {message}".rstrip(": ")
    if type(error).__module__.startswith(("botocore", "urllib3")):
        return f"AWS call failed: {escape_control(str(error))}"
    return f"internal error: {type(error).__name__}: {escape_control(str(error))}"
