"""Model-based runs of the deployed functions against an independent oracle (helpers; no tests here).

``AccountModel`` is the oracle. It knows nothing of the policy engine: every role's trust policy is one
of a few *templates* whose result for every check is written down in ``TEMPLATES`` (from the checks
catalogue's semantics; tests/integration/test_model_based.py pins the table against the product once,
outside the runs), the appliance is two booleans (its inline policy ``AssumeVeeamRoles`` present, and
the role in its instance profile), and alerts follow the documented transition rules (new failure,
severity change, resolved, archived; at or above the minimum severity, for resolved and archived the
previously alerted one). Like the publisher, the oracle records a transition below the threshold as
what subscribers now know, silently, and measures the next transition from there.

``World`` drives the real Lambda handlers on moto (in-process ``mock_aws``): each round changes IAM at
random through boto3, delivers what the deployed functions would receive (the CloudTrail event of a
change, sometimes twice, sometimes not at all; the delayed re-checks from the SQS queue, shuffled,
batched and sometimes duplicated; a scheduled scan whenever a change was not delivered), and then
compares Security Hub (the last import per finding id) and the alerts received through an SNS->SQS
subscription with the oracle. All of a round's changes are made before its deliveries, so every
delivery reads the round's final IAM state. A duplicate CloudTrail event (same eventID) must return the
first answer and make no IAM, Security Hub, SNS or SQS call. A last, settling round (leftover duplicates,
every queued re-check and a scan, with no change) must import and alert nothing. The first divergence
raises :class:`Divergence` with the seed, the round, the round's change log and the diff.

Outages (``Knobs.security_hub_outage``, ``Knobs.sns_outage``): for one round's deliveries Security Hub
refuses every import ("not enabled", or AccessDenied as from an SCP) or SNS every publish. The other sink
must still match the oracle exactly in that round (the sinks are independent). A run that fails (any
Security Hub refusal but "not enabled") is retried as Lambda would: the CloudTrail event in the next round,
a failed re-check back to its queue. The failed sink is compared again after the next round, which ends
with a scheduled scan (the hourly schedule), and must then have caught up: archives and alerts included.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import boto3
from botocore.exceptions import ClientError

from veeam_role_auditor.dev.handlers import LocalContext, load_event, load_handler

ROOT = Path(__file__).resolve().parents[2]

ACCOUNT = "123456789012"  # moto's default account, as in events/
REGION = "us-east-1"
PARTITION = "aws"
APPLIANCE_NAME = "VeeamImpersonation"
APPLIANCE_PATH = "/veeam/"
APPLIANCE_ARN = f"arn:{PARTITION}:iam::{ACCOUNT}:role{APPLIANCE_PATH}{APPLIANCE_NAME}"
APPLIANCE_POLICY = "AssumeVeeamRoles"
TAG_KEY = "veeam:backup-role"
TAG_KEY_OTHER_CASE = "Veeam:Backup-Role"  # IAM tag keys are unique regardless of case
FOREIGN_ACCOUNT = "999988887777"
DELETED_PRINCIPAL_ID = "AROAOLDAPPLIANCEROLE1"
TABLE = "veeam-role-auditor-state"
SCAN_FUNCTION = "veeam-role-auditor-ScheduledScan"
CHANGE_FUNCTION = "veeam-role-auditor-IamChange"

Status = Literal["PASSED", "FAILED", "WARNING"]
Severity = Literal["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
Expectation = tuple[str, str]
"""(Compliance.Status, Severity.Label) of one finding."""
Kind = Literal["new_failure", "severity_change", "resolved", "archived"]

SEVERITY_RANK = {"INFORMATIONAL": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}
FAILING = frozenset({"FAILED", "WARNING"})
PASSED: Expectation = ("PASSED", "INFORMATIONAL")  # a passed check carries severity INFORMATIONAL

# The nine findings every role in scope gets (the README's check table, less VRA-APPLIANCE-1, which is
# the appliance role's own finding).
ROLE_CHECKS = (
    "VRA-TRUST-1",
    "VRA-IDENTITY-1",
    "VRA-TRUST-2",
    "VRA-TRUST-3",
    "VRA-TRUST-4",
    "VRA-TRUST-5",
    "VRA-TRUST-6",
    "VRA-TRUST-7",
    "VRA-INVENTORY-1",
)
APPLIANCE_CHECK = "VRA-APPLIANCE-1"
IDENTITY_CHECK = "VRA-IDENTITY-1"
INVENTORY_CHECK = "VRA-INVENTORY-1"


def finding_id(check: str, role_arn: str) -> str:
    """The documented id: veeam-role-auditor/<partition>/<account>/<check>/<role arn>."""
    return f"veeam-role-auditor/{PARTITION}/{ACCOUNT}/{check}/{role_arn}"


def role_arn(name: str, path: str = "/") -> str:
    return f"arn:{PARTITION}:iam::{ACCOUNT}:role{path}{name}"


# ---------------------------------------------------------------------------------------------- templates


def _allow(principal: object, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", **extra}


def _root(account: str = ACCOUNT) -> str:
    return f"arn:{PARTITION}:iam::{account}:root"


@dataclass(frozen=True)
class Template:
    """A trust policy with a known result for every check."""

    name: str
    statements: tuple[dict[str, Any], ...]
    failing: Mapping[str, Expectation]
    """Every trust check that does not pass (the others pass); VRA-IDENTITY-1 is the appliance's."""
    names_appliance_role: bool
    """Whether the policy lets the appliance role, by its ARN, assume the role: untagged, it is drift."""
    editable: bool = True
    """IAM refuses the document in UpdateAssumeRolePolicy (moto too); only CreateRole can make it."""

    def document(self) -> dict[str, Any]:
        return {"Version": "2012-10-17", "Statement": [dict(s) for s in self.statements]}

    def text(self) -> str:
        return json.dumps(self.document())


HIGH_FAILURE: Expectation = ("FAILED", "HIGH")
TEMPLATES: dict[str, Template] = {
    template.name: template
    for template in (
        Template(
            "healthy",
            (
                _allow({"AWS": APPLIANCE_ARN}, Sid="VeeamAppliance"),
                _allow({"Service": "batchoperations.s3.amazonaws.com"}, Sid="S3BatchOperations"),
            ),
            {},
            names_appliance_role=True,
        ),
        # The appliance's own account as a whole: works, but broader than needed (LOW).
        Template("by_account_root", (_allow({"AWS": _root()}),), {"VRA-TRUST-7": ("FAILED", "LOW")}, False),
        Template("missing_trust", (_allow({"Service": "ec2.amazonaws.com"}),), {"VRA-TRUST-1": HIGH_FAILURE}, False),
        # A unique id left behind by a deleted principal: stale, and no longer the appliance.
        Template(
            "deleted_principal",
            (_allow({"AWS": DELETED_PRINCIPAL_ID}),),
            {"VRA-TRUST-1": HIGH_FAILURE, "VRA-TRUST-2": HIGH_FAILURE},
            False,
        ),
        # "*" lets the appliance in (TRUST-1 passes) and every other AWS principal too.
        Template("wildcard", (_allow({"AWS": "*"}),), {"VRA-TRUST-3": ("FAILED", "CRITICAL")}, False),
        Template(
            "foreign_account",
            (_allow({"AWS": APPLIANCE_ARN}, Sid="Veeam"), _allow({"AWS": _root(FOREIGN_ACCOUNT)}, Sid="Partner")),
            {"VRA-TRUST-4": HIGH_FAILURE},
            True,
        ),
        # The appliance's source IP is not known offline: conditional, a MEDIUM warning.
        Template(
            "conditional_source_ip",
            (_allow({"AWS": APPLIANCE_ARN}, Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),),
            {"VRA-TRUST-1": ("WARNING", "MEDIUM")},
            True,
        ),
        # Allow the account, Deny everyone but an admin role and the root: NotPrincipal cannot be used in a
        # trust policy (IAM User Guide, NotPrincipal), so the document is invalid and the appliance denied.
        Template(
            "not_principal_deny",
            (
                _allow({"AWS": _root()}, Sid="Account"),
                {
                    "Sid": "OnlyAdmins",
                    "Effect": "Deny",
                    "NotPrincipal": {"AWS": [f"arn:{PARTITION}:iam::{ACCOUNT}:role/Admin", _root()]},
                    "Action": "sts:AssumeRole",
                },
            ),
            {
                "VRA-TRUST-1": HIGH_FAILURE,
                "VRA-TRUST-5": HIGH_FAILURE,
                "VRA-TRUST-6": HIGH_FAILURE,
                "VRA-TRUST-7": ("FAILED", "LOW"),
            },
            False,
        ),
        # "Resource" is not allowed in a trust policy: the document is not in force, nobody can assume.
        Template(
            "malformed_resource",
            (_allow({"AWS": APPLIANCE_ARN}, Resource="*"),),
            {"VRA-TRUST-1": HIGH_FAILURE, "VRA-TRUST-6": HIGH_FAILURE},
            False,
            editable=False,
        ),
    )
}


# ---------------------------------------------------------------------------------------------- the oracle


@dataclass
class RoleState:
    name: str
    path: str
    template: str
    tag: tuple[str, str] | None = None
    """The Veeam tag as set on the role (key as written, value), or None."""
    other_tags: dict[str, str] = field(default_factory=dict)
    description: str = ""

    @property
    def arn(self) -> str:
        return role_arn(self.name, self.path)


@dataclass(frozen=True)
class Told:
    """What subscribers were last told about one finding (the oracle's own record)."""

    status: str
    severity: str
    active: bool


def role_expectations(template: Template, *, tagged: bool, appliance_allows: bool) -> dict[str, Expectation]:
    """Check code -> expected (status, severity) of one role, from the template table alone."""
    if not tagged:
        return {INVENTORY_CHECK: ("FAILED", "INFORMATIONAL")} if template.names_appliance_role else {}
    results = {check: template.failing.get(check, PASSED) for check in ROLE_CHECKS}
    results[IDENTITY_CHECK] = PASSED if appliance_allows else HIGH_FAILURE
    return results


class AccountModel:
    """The oracle: the account as the test changed it, the findings it implies, and the alerts due.

    ``told`` is, per finding id, the state subscribers were last told about: updated when an alert is due,
    or when nothing changed that they should hear of; a transition below the minimum severity leaves it.
    """

    def __init__(self, min_alert_severity: str = "MEDIUM") -> None:
        self.roles: dict[str, RoleState] = {}
        self.appliance_allows = True
        self.appliance_in_profile = True
        self.min_alert_severity = min_alert_severity
        self.told: dict[str, Told] = {}

    def expected(self) -> dict[str, Expectation]:
        """Finding id -> (status, severity) of every finding that must be active in Security Hub."""
        # No instance profile: no EC2 instance can use the Impersonation role (VRA-APPLIANCE-1, CRITICAL).
        appliance = PASSED if self.appliance_in_profile else ("FAILED", "CRITICAL")
        findings: dict[str, Expectation] = {finding_id(APPLIANCE_CHECK, APPLIANCE_ARN): appliance}
        for role in self.roles.values():
            results = role_expectations(
                TEMPLATES[role.template], tagged=role.tag is not None, appliance_allows=self.appliance_allows
            )
            findings.update({finding_id(check, role.arn): result for check, result in results.items()})
        return findings

    def advance(self) -> list[tuple[str, Kind]]:
        """The alerts due since the last call, (finding id, transition): what subscribers must receive.

        Compares what subscribers were told with the expected state, per finding, following the
        documented rules, and records the new state as told when they are told (or had nothing to hear).
        """
        expected = self.expected()
        alerts: list[tuple[str, Kind]] = []
        for identifier in sorted(set(self.told) | set(expected)):
            old = self.told.get(identifier)
            new = expected.get(identifier)
            was_failing = old is not None and old.active and old.status in FAILING
            kind: Kind | None = None
            if new is None:
                if old is None or not old.active:
                    continue  # never reported, or archived already
                if was_failing:
                    kind = "archived"
                alert_severity = old.severity  # a problem going away counts at its alerted severity
                told = Told(old.status, old.severity, active=False)
            else:
                status, severity = new
                failing = status in FAILING
                alert_severity = severity
                if failing and not was_failing:
                    kind = "new_failure"
                elif was_failing and status == "PASSED":
                    assert old is not None
                    kind, alert_severity = "resolved", old.severity
                elif failing and was_failing and old is not None and (old.status, old.severity) != new:
                    kind = "severity_change"
                told = Told(status, severity, active=True)
            due = kind is not None and SEVERITY_RANK[alert_severity] >= SEVERITY_RANK[self.min_alert_severity]
            if due:
                assert kind is not None
                alerts.append((identifier, kind))
            # Subscribers' knowledge changes only when they are told, or when there was nothing to tell.
            if due or kind is None:
                self.told[identifier] = told
        return alerts


# ---------------------------------------------------------------------------------------------- AWS plumbing


@dataclass(frozen=True)
class SecurityHubRecord:
    identifier: str
    record_state: str
    status: str
    severity: str
    updated_at: str
    check: str
    resource: str


class SecurityHubView:
    """Security Hub as the handlers left it: the last import per finding id (botocore hooks)."""

    def __init__(self) -> None:
        self.findings: dict[str, SecurityHubRecord] = {}
        self.problems: list[str] = []
        self.imports = 0

    def attach(self, client: Any) -> None:
        client.meta.events.register("provide-client-params.securityhub.BatchImportFindings", self._before)
        client.meta.events.register("after-call.securityhub.BatchImportFindings", self._after)

    def _before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["model_based_findings"] = [
            SecurityHubRecord(
                identifier=str(document["Id"]),
                record_state=str(document.get("RecordState")),
                status=str(document.get("Compliance", {}).get("Status")),
                severity=str(document.get("Severity", {}).get("Label")),
                updated_at=str(document.get("UpdatedAt")),
                check=str(document.get("ProductFields", {}).get("veeam-role-auditor/CheckCode")),
                resource=str((document.get("Resources") or [{}])[0].get("Id")),
            )
            for document in params.get("Findings", [])
        ]

    def _after(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        records: list[SecurityHubRecord] = context.pop("model_based_findings", [])
        failed = {str(item.get("Id")) for item in parsed.get("FailedFindings", [])}
        if failed:
            self.problems.append(f"BatchImportFindings failed for {sorted(failed)[:5]} ({len(failed)})")
        ids = Counter(record.identifier for record in records)
        repeated = sorted(identifier for identifier, count in ids.items() if count > 1)
        if repeated:
            self.problems.append(f"one BatchImportFindings call carries the same Id twice: {repeated[:5]}")
        for record in records:
            identifier = record.identifier
            if identifier in failed:
                continue
            self.imports += 1
            previous = self.findings.get(identifier)
            # Security Hub ignores an update whose UpdatedAt is not later than the stored one
            # ("BatchImportFindings for finding providers"): it would keep the previous state.
            if previous is not None and record.updated_at <= previous.updated_at:
                self.problems.append(
                    f"{identifier}: UpdatedAt {record.updated_at} not after {previous.updated_at}: "
                    "Security Hub would ignore this import"
                )
            if finding_id(record.check, record.resource) != identifier:
                self.problems.append(f"{identifier}: check {record.check} and resource {record.resource} disagree")
            self.findings[identifier] = record

    def active(self) -> dict[str, Expectation]:
        return {
            identifier: (record.status, record.severity)
            for identifier, record in self.findings.items()
            if record.record_state == "ACTIVE"
        }


class CallCounter:
    """AWS calls made by a handler module's clients, per service."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def attach(self, client: Any, service: str) -> None:
        def count(**_: Any) -> None:
            self.calls[service] += 1

        client.meta.events.register("before-call", count)

    def snapshot(self) -> Counter[str]:
        return Counter(self.calls)


# ---------------------------------------------------------------------------------------------- the driver


class Divergence(AssertionError):
    """The product and the oracle disagree; the message says where, how, and how to replay it."""


@dataclass
class Change:
    kind: str
    role: str
    detail: str
    event: dict[str, Any]
    delivery: str = ""

    def describe(self) -> str:
        return f"{self.kind:<14} {self.role:<22} {self.detail} -> {self.delivery}"


@dataclass
class RoundStats:
    number: int
    changes: int = 0
    events: int = 0
    duplicates: int = 0
    late_duplicates: int = 0
    rechecks: int = 0
    recheck_duplicates: int = 0
    recheck_batches: int = 0
    scans: int = 0
    full_scans: int = 0
    findings_active: int = 0
    findings_compared: int = 0
    alerts: int = 0
    digests: int = 0
    outages: int = 0
    failed_runs: int = 0
    """Invocations that failed during an outage (retried as Lambda would)."""
    outage: str = ""
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"round {self.number:>3}: {self.changes:>3} changes, {self.events:>3} events "
            f"(+{self.duplicates} dup), {self.rechecks:>3} re-checks in {self.recheck_batches} batches "
            f"(+{self.recheck_duplicates} dup), {self.scans} scheduled scans ({self.full_scans} full scans "
            f"in all), {self.findings_active:>6} findings active, {self.alerts:>5} alerts, {self.seconds:6.1f} s"
            + (f", outage: {self.outage.strip()} ({self.failed_runs} runs failed)" if self.outage else "")
        )


@dataclass
class RunStats:
    seed: int
    roles: int
    rounds: list[RoundStats] = field(default_factory=list)
    security_hub_api_checks: int = 0

    def total(self, name: str) -> int:
        return sum(int(getattr(stats, name)) for stats in self.rounds)

    def summary(self) -> dict[str, float | int]:
        names = (
            "changes",
            "events",
            "duplicates",
            "late_duplicates",
            "rechecks",
            "recheck_duplicates",
            "recheck_batches",
            "scans",
            "full_scans",
            "findings_compared",
            "alerts",
            "digests",
            "outages",
            "failed_runs",
        )
        result: dict[str, float | int] = {"seed": self.seed, "roles": self.roles, "rounds": len(self.rounds)}
        result.update({name: self.total(name) for name in names})
        result["security_hub_api_checks"] = self.security_hub_api_checks
        result["seconds"] = round(sum(stats.seconds for stats in self.rounds), 1)
        return result


@dataclass(frozen=True)
class Knobs:
    """Probabilities of the random run."""

    changes_per_round: tuple[int, int] = (4, 10)
    event_delivered: float = 0.7
    all_delivered_round: float = 0.0
    """Per round: every change delivered by event, so no scan is forced and the event path alone must
    reach the oracle's state (0 draws nothing: runs recorded before this knob replay unchanged)."""
    duplicate: float = 0.2
    duplicate_late: float = 0.3
    """Of the duplicates: delivered in the next round instead of this one."""
    recheck_drains: tuple[int, int] = (0, 2)
    final_drain: float = 0.5
    recheck_duplicate: float = 0.1
    extra_scan: float = 0.25
    appliance_toggle: float = 0.12
    """Per round: remove (or restore) the appliance's inline policy."""
    instance_profile_toggle: float = 0.0
    """Per round: take the appliance role out of (or back into) its instance profile (0 draws nothing)."""
    security_hub_outage: float = 0.0
    """Per round: Security Hub refuses every import during the deliveries, "not enabled" or AccessDenied at
    random (0 draws nothing)."""
    sns_outage: float = 0.0
    """Per round: SNS refuses every publish during the deliveries (0 draws nothing)."""
    tagged_at_creation: float = 0.75
    other_path: float = 0.1
    reuse_deleted_name: float = 0.3
    other_case_tag_key: float = 0.1


CHANGE_WEIGHTS = {
    "create": 14,
    "delete": 9,
    "tag": 10,
    "untag": 9,
    "retag_value": 4,
    "unrelated_tag": 4,
    "edit_trust": 30,
    "update_role": 3,
}


class World:
    """The deployed functions on moto, an account to change at random, and the oracle to compare with.

    Construct it inside ``mock_aws()`` with the fake credentials set; ``setenv``/``unsetenv`` set the
    functions' environment (``monkeypatch`` in tests, ``os.environ`` in the soak script).
    """

    def __init__(
        self,
        *,
        seed: int,
        roles: int,
        setenv: Callable[[str, str], None],
        unsetenv: Callable[[str], object],
        min_alert_severity: str = "MEDIUM",
        digest_threshold: int = 100_000,
        knobs: Knobs | None = None,
        verify_security_hub_api_every: int = 0,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.knobs = knobs or Knobs()
        self.model = AccountModel(min_alert_severity)
        self.digest_threshold = digest_threshold
        self.verify_every = verify_security_hub_api_every
        self.progress = progress or (lambda _: None)
        self.stats = RunStats(seed=seed, roles=roles)
        self.initial_roles = roles
        self._next_index = 0
        self._deleted: dict[str, str] = {}  # name -> path of roles deleted, for re-use
        self._late: list[dict[str, Any]] = []
        self._retries: list[dict[str, Any]] = []  # events whose invocation failed: Lambda's async retry
        self._outage: set[str] = set()  # the sinks refusing during this round: "security_hub", "sns"
        self._outage_hooks: list[tuple[Any, str, Callable[..., None]]] = []
        self._scan_owed = False  # an outage happened: the next round ends with a scheduled scan
        self._results: dict[str, Any] = {}  # eventID -> the first delivery's response
        self._log: list[str] = []
        self._round: RoundStats = RoundStats(0)
        self._clock = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
        self.handler_output = io.StringIO()

        self.iam = boto3.client("iam", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.securityhub = boto3.client("securityhub", region_name=REGION)
        self.securityhub.enable_security_hub()
        from veeam_role_auditor.publish.state import create_table

        create_table(dynamodb, TABLE)
        topic = sns.create_topic(Name="veeam-role-auditor-alerts")["TopicArn"]
        self.inbox = self.sqs.create_queue(QueueName="model-based-inbox")["QueueUrl"]
        inbox_arn = self._queue_arn(self.inbox)
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
        self.recheck_queue = self.sqs.create_queue(QueueName="veeam-role-auditor-recheck")["QueueUrl"]
        self.recheck_arn = self._queue_arn(self.recheck_queue)

        environment = {
            "VRA_APPLIANCE_ROLE_ARNS": APPLIANCE_ARN,
            "VRA_STATE_TABLE": TABLE,
            "VRA_TOPIC_ARN": topic,
            "VRA_RECHECK_QUEUE_URL": self.recheck_queue,
            "VRA_MIN_ALERT_SEVERITY": min_alert_severity,
            "VRA_DIGEST_THRESHOLD": str(digest_threshold),
            "POWERTOOLS_SERVICE_NAME": "veeam-role-auditor",
            "POWERTOOLS_METRICS_NAMESPACE": "VeeamRoleAuditor",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
        for name, value in environment.items():
            setenv(name, value)
        # An appliance change must run the full scan in-process (lambda_app._appliance_changed).
        unsetenv("VRA_SCAN_FUNCTION_NAME")

        self._create_appliance()
        tag = uuid.UUID(int=self.rng.getrandbits(128)).hex[:8]
        self.scan = load_handler("scheduled_scan", name=f"model_based_scheduled_scan_{tag}")
        self.change = load_handler("iam_change", name=f"model_based_iam_change_{tag}")
        self.hub = SecurityHubView()
        self.counter = CallCounter()
        # Freshly loaded modules have fresh client caches: every client below is created in this mock.
        for module in (self.scan, self.change):
            self.hub.attach(module.client("securityhub"))
        for service in ("iam", "securityhub", "sns", "sqs", "dynamodb", "lambda"):
            self.counter.attach(self.change.client(service), service)

    # ------------------------------------------------------------------ running

    def run(self, rounds: int) -> RunStats:
        """The initial population and scan (round 0), ``rounds`` random rounds, then a settling round.

        Raises :class:`Divergence` at the first difference from the oracle.
        """
        self.initial_round()
        for number in range(1, rounds + 1):
            self.run_round(number)
        self.settle()
        return self.stats

    def settle(self) -> RoundStats:
        """Nothing changed: every queued re-check and a scheduled scan must import and alert nothing."""
        self.begin_round(len(self.stats.rounds))
        if self._scan_owed or self._retries:
            self._log.append("settle: catch up after the last round's outage (retries, re-checks, a scan)")
            self._catch_up()
            self.drain_rechecks()
            self.scheduled_scan()
        self._log.append("settle: every queued re-check, then a scheduled scan, with no change in IAM")
        imports = self.hub.imports
        for event in self._late:
            self._deliver_event(event)
        self._late = []
        self.drain_rechecks()
        self.scheduled_scan()
        if self.hub.imports != imports:
            self.hub.problems.append(
                f"{self.hub.imports - imports} findings imported again although nothing changed (steady state)"
            )
        return self.end_round()

    def initial_round(self) -> RoundStats:
        self.begin_round(0)
        for _ in range(self.initial_roles):
            self._create_random_role()
        self._log.append(f"{self.initial_roles} roles created; first scheduled scan")
        self.scheduled_scan()
        return self.end_round()

    def run_round(self, number: int) -> RoundStats:
        self.begin_round(number)
        knobs, rng = self.knobs, self.rng
        changes: list[Change] = []
        for _ in range(rng.randint(*knobs.changes_per_round)):
            change = self._random_change()
            if change is not None:
                changes.append(change)
        if rng.random() < knobs.appliance_toggle:
            changes.append(self.toggle_appliance())
        if knobs.instance_profile_toggle > 0 and rng.random() < knobs.instance_profile_toggle:
            changes.append(self.toggle_instance_profile())
        self._round.changes = len(changes)
        owed, self._scan_owed = self._scan_owed, False
        if knobs.security_hub_outage > 0 and rng.random() < knobs.security_hub_outage:
            self.security_hub_outage(rng.choice(["InvalidAccessException", "AccessDeniedException"]))
        if knobs.sns_outage > 0 and rng.random() < knobs.sns_outage:
            self.sns_outage()

        deliveries: list[tuple[str, dict[str, Any] | None]] = [("event", event) for event in self._retries]
        self._retries = []
        deliveries += [("event", event) for event in self._late]
        self._round.late_duplicates = len(self._late)
        self._late = []
        undelivered = False
        all_delivered = knobs.all_delivered_round > 0 and rng.random() < knobs.all_delivered_round
        for change in changes:
            if not all_delivered and rng.random() >= knobs.event_delivered:
                change.delivery = "not delivered (left for the scan)"
                undelivered = True
                continue
            deliveries.append(("event", change.event))
            change.delivery = "event"
            if rng.random() < knobs.duplicate:
                if rng.random() < knobs.duplicate_late:
                    self._late.append(copy.deepcopy(change.event))
                    change.delivery = "event, duplicate next round"
                else:
                    deliveries.append(("event", copy.deepcopy(change.event)))
                    change.delivery = "event twice"
        deliveries += [("drain", None)] * rng.randint(*knobs.recheck_drains)
        rng.shuffle(deliveries)
        self._log += [change.describe() for change in changes]

        for kind, event in deliveries:
            if kind == "drain":
                self.drain_rechecks()
            else:
                assert event is not None
                self._deliver_event(event)
        if rng.random() < knobs.final_drain:
            self.drain_rechecks()
        if owed or undelivered or rng.random() < knobs.extra_scan:
            self.scheduled_scan()
        return self.end_round()

    # ------------------------------------------------------------------ the round's end: compare

    def begin_round(self, number: int) -> None:
        self._round = RoundStats(number)
        self._log = []
        self._began = time.perf_counter()

    def end_round(self) -> RoundStats:
        stats = self._round
        outage = self._end_outage()
        received = self._read_alerts()
        # While SNS refused, subscribers learnt nothing: what is due stays due (the oracle does not advance).
        due = [] if "sns" in outage else self.model.advance()
        expected = self.model.expected()
        active = self.hub.active()
        problems = list(self.hub.problems)
        self.hub.problems.clear()

        missing = sorted(set(expected) - set(active))
        stale = sorted(set(active) - set(expected))
        wrong = sorted(i for i in set(expected) & set(active) if expected[i] != active[i])
        if "security_hub" in outage:
            missing, stale, wrong = [], [], []  # compared again after the next round's scan
        diff: list[str] = []
        if missing or stale or wrong:
            diff.append(
                f"Security Hub: {len(missing)} missing, {len(stale)} stale, {len(wrong)} with another status "
                f"(expected {len(expected)} active findings, found {len(active)})"
            )
            diff += [f"  missing {i} expected {expected[i]}" for i in missing[:15]]
            diff += [f"  stale   {i} is {active[i]}" for i in stale[:15]]
            diff += [f"  wrong   {i} is {active[i]}, expected {expected[i]}" for i in wrong[:15]]
        want, got = Counter(due), Counter(received)
        if want != got:
            lacking, extra = want - got, got - want
            diff.append(
                f"alerts: expected {sum(want.values())}, received {sum(got.values())}: "
                f"{sum(lacking.values())} missing, {sum(extra.values())} unexpected"
            )
            diff += [f"  missing    {kind:<15} {i} (x{n})" for (i, kind), n in sorted(lacking.items())[:15]]
            diff += [f"  unexpected {kind:<15} {i} (x{n})" for (i, kind), n in sorted(extra.items())[:15]]
        diff += [f"invariant: {problem}" for problem in problems[:15]]
        if self.verify_every and stats.number % self.verify_every == 0:
            diff += self._verify_security_hub_api()

        stats.findings_active = len(active)
        stats.findings_compared = len(set(expected) | set(active))
        stats.alerts = len(received)
        stats.seconds = time.perf_counter() - self._began
        self.stats.rounds.append(stats)
        if diff:
            raise Divergence(self._report(diff))
        self.progress(stats.line())
        return stats

    def _report(self, diff: Iterable[str]) -> str:
        lines = [
            f"divergence in round {self._round.number} of the run with seed {self.seed} "
            f"({self.initial_roles} initial roles); replay with the same seed and size",
            "round log (changes, then deliveries in order):",
            *[f"  {line}" for line in self._log],
            "diff:",
            *[f"  {line}" for line in diff],
        ]
        return "\n".join(lines)

    def _verify_security_hub_api(self) -> list[str]:
        """Cross-check the hook's view with what moto's Security Hub returns through GetFindings."""
        self.stats.security_hub_api_checks += 1
        stored: dict[str, Expectation] = {}
        for page in self.securityhub.get_paginator("get_findings").paginate(PaginationConfig={"PageSize": 100}):
            for finding in page["Findings"]:
                if finding.get("RecordState") == "ACTIVE":
                    stored[finding["Id"]] = (finding["Compliance"]["Status"], finding["Severity"]["Label"])
        view = self.hub.active()
        if stored == view:
            return []
        differing = sorted(set(stored) ^ set(view) | {i for i in set(stored) & set(view) if stored[i] != view[i]})
        return [f"GetFindings disagrees with the imports seen, e.g. {i}" for i in differing[:10]]

    # ------------------------------------------------------------------ deliveries

    def deliver(self, change: Change, *, twice: bool = False) -> None:
        """Deliver a change's CloudTrail event now (twice: the same eventID again right after)."""
        change.delivery = "event twice" if twice else "event"
        self._log.append(change.describe())
        self._deliver_event(change.event)
        if twice:
            self._deliver_event(copy.deepcopy(change.event))

    def _invoke(self, module: ModuleType, event: dict[str, Any], function: str) -> dict[str, Any]:
        """Call a handler as Lambda does; what it prints (its metrics, one EMF line per call) is kept aside."""
        context = LocalContext(
            function,
            account=ACCOUNT,
            region=REGION,
            partition=PARTITION,
            memory_limit_in_mb=1024,
            aws_request_id=str(uuid.UUID(int=self.rng.getrandbits(128))),
            log_group_name="/aws/lambda/model-based",
            log_stream_name="2026/01/01/[$LATEST]0123456789abcdef",
        )
        with contextlib.redirect_stdout(self.handler_output):
            result: dict[str, Any] = module.lambda_handler(event, context)
        if self.handler_output.tell() > 1_000_000:
            self.handler_output.seek(0)
            self.handler_output.truncate()
        return result

    def _deliver_event(self, event: dict[str, Any]) -> None:
        event_id = str(event["detail"]["eventID"])
        name = f"{event['detail']['eventName']}({event['detail']['requestParameters'].get('roleName')})"
        before = self.counter.snapshot()
        try:
            result = self._invoke(self.change, copy.deepcopy(event), CHANGE_FUNCTION)
        except Exception as error:
            if not self._failed_in_outage(error, f"event {name} (eventID {event_id[:8]})"):
                raise
            self._retries.append(copy.deepcopy(event))  # Lambda retries a failed asynchronous invocation
            return
        calls = self.counter.snapshot() - before
        if event_id in self._results:
            self._round.duplicates += 1
            work = {service: calls[service] for service in ("iam", "securityhub", "sns", "sqs", "lambda")}
            self._log.append(f"  delivered {name} again (eventID {event_id[:8]}): AWS calls {dict(calls)}")
            if result != self._results[event_id] or any(work.values()):
                raise Divergence(
                    self._report(
                        [
                            f"the duplicate of event {event_id} ({name}) was processed again: calls {dict(calls)}",
                            f"  first result  {self._results[event_id]}",
                            f"  second result {result}",
                        ]
                    )
                )
            return
        self._results[event_id] = result
        self._round.events += 1
        self._count_full_scan(result)
        self._log.append(f"  delivered {name} (eventID {event_id[:8]}): {_brief(result)}")
        if result.get("status") not in ("evaluated", "skipped"):
            raise Divergence(self._report([f"event {name} answered {result}"]))

    def drain_rechecks(self) -> None:
        messages: list[dict[str, Any]] = []
        while batch := self.sqs.receive_message(
            QueueUrl=self.recheck_queue, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", []):
            messages += batch
            self.sqs.delete_message_batch(
                QueueUrl=self.recheck_queue,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)],
            )
        if not messages:
            self._log.append("  re-check queue drained: empty")
            return
        records = [self._sqs_record(message) for message in messages]
        self.rng.shuffle(records)
        batches: list[list[dict[str, Any]]] = []
        while records:
            size = self.rng.randint(1, min(10, len(records)))
            batches.append(records[:size])
            records = records[size:]
        for chosen in list(batches):
            if self.rng.random() < self.knobs.recheck_duplicate:
                duplicate = copy.deepcopy(self.rng.choice(chosen))
                if self.rng.random() < 0.5:
                    chosen.append(duplicate)
                else:
                    batches.insert(self.rng.randrange(len(batches) + 1), [duplicate])
                self._round.recheck_duplicates += 1
        self._log.append(f"  re-check queue drained: {len(messages)} messages in {len(batches)} batches")
        for chosen in batches:
            bodies = [json.loads(record["body"]) for record in chosen]
            response = self._invoke(self.change, {"Records": chosen}, CHANGE_FUNCTION)
            self._round.recheck_batches += 1
            self._round.rechecks += len(chosen)
            self._round.full_scans += sum(1 for body in bodies if body.get("full_scan") is True)
            described = ", ".join(str(body.get("role_name") or "full scan") for body in bodies)
            self._log.append(f"  delivered re-checks [{described}]: {response}")
            if response != {"batchItemFailures": []}:
                if not self._outage:
                    raise Divergence(self._report([f"re-check batch [{described}] answered {response}"]))
                # SQS makes a reported failure visible again: back to the queue, for a later drain.
                failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
                for record in chosen:
                    if record["messageId"] in failed:
                        self.sqs.send_message(QueueUrl=self.recheck_queue, MessageBody=record["body"])
                self._round.failed_runs += len(failed)

    def _sqs_record(self, message: dict[str, Any]) -> dict[str, Any]:
        attributes = message.get("Attributes", {})
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {
                "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                "SentTimestamp": attributes.get("SentTimestamp", "0"),
                "SenderId": attributes.get("SenderId", "AROAEXAMPLE:iam-change"),
                "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", "0"),
            },
            "messageAttributes": {},
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.recheck_arn,
            "awsRegion": REGION,
        }

    def scheduled_scan(self) -> None:
        event: dict[str, Any] = load_event("scheduled_scan.json")
        event["id"] = str(uuid.UUID(int=self.rng.getrandbits(128)))
        event["time"] = self._now()
        try:
            result = self._invoke(self.scan, event, SCAN_FUNCTION)
        except Exception as error:
            if not self._failed_in_outage(error, "scheduled scan"):
                raise
            self._round.scans += 1
            return
        self._round.scans += 1
        self._round.full_scans += 1
        self._log.append(f"  scheduled scan: {_brief(result)}")
        if result.get("status", "complete") != "complete":
            raise Divergence(self._report([f"the scheduled scan answered {result}"]))

    def _count_full_scan(self, result: Mapping[str, Any]) -> None:
        if "roles_read" in result:
            self._round.full_scans += 1

    def _read_alerts(self) -> list[tuple[str, Kind]]:
        received: list[tuple[str, Kind]] = []
        while batch := self.sqs.receive_message(QueueUrl=self.inbox, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                received += self._parse_alert(json.loads(message["Body"]))
            self.sqs.delete_message_batch(
                QueueUrl=self.inbox,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)],
            )
        return received

    def _parse_alert(self, envelope: dict[str, Any]) -> list[tuple[str, Kind]]:
        kind = envelope["MessageAttributes"]["transition"]["Value"]
        machine = json.loads(envelope["Message"].split("--- machine-readable ---\n", 1)[1])
        if kind != "digest":
            if machine["transition"] != kind:
                self.hub.problems.append(f"alert attribute {kind} but body {machine['transition']}")
            return [(str(machine["finding_id"]), machine["transition"])]
        self._round.digests += 1
        if isinstance(machine, dict):
            self.hub.problems.append(f"digest truncated to {machine.get('truncated_to')} changes")
            machine = machine["changes"]
        return [(finding_id(item["check"], item["role_arn"]), item["transition"]) for item in machine]

    # ------------------------------------------------------------------ outages

    def security_hub_outage(self, code: str) -> None:
        """Until the round ends, Security Hub refuses every import with ``code``: InvalidAccessException
        ("not enabled": the run succeeds) or AccessDeniedException (an SCP: the run fails after its alerts)."""

        def refuse(**_: Any) -> None:
            message = {
                "InvalidAccessException": "Account is not subscribed to AWS Security Hub",
                "AccessDeniedException": "explicit deny in a service control policy",
            }[code]
            raise ClientError({"Error": {"Code": code, "Message": message}}, "BatchImportFindings")

        self._refuse("securityhub", "before-call.securityhub.BatchImportFindings", refuse)
        self._outage.add("security_hub")
        self._round.outage += f"Security Hub {code} "
        self._log.append(f"outage: Security Hub refuses imports ({code}) for this round")

    def sns_outage(self) -> None:
        """Until the round ends, SNS refuses every publish (the runs succeed; their alerts wait)."""

        def refuse(**_: Any) -> None:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "SNS is unavailable"}}, "Publish")

        self._refuse("sns", "before-call.sns.Publish", refuse)
        self._outage.add("sns")
        self._round.outage += "SNS InternalError "
        self._log.append("outage: SNS refuses publishes for this round")

    def _refuse(self, service: str, event: str, handler: Callable[..., None]) -> None:
        for module in (self.scan, self.change):
            client = module.client(service)
            client.meta.events.register(event, handler)
            self._outage_hooks.append((client, event, handler))
        self._round.outages = 1

    def _end_outage(self) -> set[str]:
        """Lift this round's outage; the next round ends with a scheduled scan, as the schedule would."""
        for client, event, handler in self._outage_hooks:
            client.meta.events.unregister(event, handler)
        self._outage_hooks = []
        outage, self._outage = self._outage, set()
        if outage:
            self._scan_owed = True
        return outage

    def _failed_in_outage(self, error: Exception, what: str) -> bool:
        """A run failed: expected only during an outage, and only as the publisher's PublishError."""
        from veeam_role_auditor.publish import PublishError

        if not self._outage or not isinstance(error, PublishError):
            return False
        self._round.failed_runs += 1
        self._log.append(f"  {what} failed during the outage (retried later): {str(error)[:160]}")
        return True

    def _catch_up(self) -> None:
        retries, self._retries = self._retries, []
        for event in retries:
            self._deliver_event(event)
        self._scan_owed = False

    # ------------------------------------------------------------------ changes

    def _random_change(self) -> Change | None:
        kind = self.rng.choices(list(CHANGE_WEIGHTS), weights=list(CHANGE_WEIGHTS.values()))[0]
        roles = list(self.model.roles.values())
        tagged = [role for role in roles if role.tag is not None]
        untagged = [role for role in roles if role.tag is None]
        if kind == "create" or not roles:
            return self._create_random_role()
        if kind == "delete":
            return self.delete_role(self.rng.choice(roles).name)
        if kind == "tag" and untagged:
            return self._tag_role(self.rng.choice(untagged))
        if kind == "untag" and tagged:
            return self._untag_role(self.rng.choice(tagged))
        if kind == "retag_value" and tagged:
            return self._tag_role(self.rng.choice(tagged))
        if kind == "unrelated_tag":
            return self._unrelated_tag(self.rng.choice(roles))
        if kind == "update_role":
            return self._update_role(self.rng.choice(roles))
        return self._edit_trust(self.rng.choice(roles))

    def _create_random_role(self) -> Change:
        knobs, rng = self.knobs, self.rng
        if self._deleted and rng.random() < knobs.reuse_deleted_name:
            name = rng.choice(sorted(self._deleted))
            old_path = self._deleted.pop(name)
            path = old_path if rng.random() >= knobs.other_path else self._other_path(old_path)
        else:
            name = f"VeeamModel{self._next_index:05d}"
            self._next_index += 1
            path = "/" if rng.random() >= knobs.other_path else rng.choice(["/veeam/", "/backup/team/"])
        template = rng.choice(list(TEMPLATES))
        role = RoleState(name, path, template)
        if rng.random() < knobs.tagged_at_creation:
            role.tag = (self._tag_key(), self._tag_value())
        if rng.random() < 0.2:
            role.other_tags["team"] = rng.choice(["backup", "storage", "apps"])
        return self.create_role(role)

    def create_role(self, role: RoleState) -> Change:
        """Create exactly this role in IAM and in the model; returns the change with its CreateRole event."""
        name, path, template = role.name, role.path, role.template
        self._deleted.pop(name, None)
        tags = dict(role.other_tags)
        if role.tag:
            tags[role.tag[0]] = role.tag[1]
        document = TEMPLATES[template].text()
        response = self.iam.create_role(
            RoleName=name,
            Path=path,
            AssumeRolePolicyDocument=document,
            Tags=[{"Key": key, "Value": value} for key, value in tags.items()],
        )["Role"]
        self.model.roles[name] = role
        event = self._event("CreateRole.json", name)
        parameters = event["detail"]["requestParameters"]
        parameters.update(
            path=path, assumeRolePolicyDocument=document, tags=[{"key": k, "value": v} for k, v in tags.items()]
        )
        if not tags:
            del parameters["tags"]
        event["detail"]["responseElements"]["role"].update(
            path=path, roleName=name, roleId=response["RoleId"], arn=response["Arn"]
        )
        detail = f"path={path} template={template} tags={tags}"
        return Change("create", name, detail, event)

    def delete_role(self, name: str) -> Change:
        role = self.model.roles[name]
        self.iam.delete_role(RoleName=role.name)
        del self.model.roles[role.name]
        self._deleted[role.name] = role.path
        return Change(
            "delete", role.name, f"path={role.path} template={role.template}", self._event("DeleteRole.json", role.name)
        )

    def _tag_role(self, role: RoleState) -> Change:
        key = role.tag[0] if role.tag else self._tag_key()
        value = self._tag_value()
        self.iam.tag_role(RoleName=role.name, Tags=[{"Key": key, "Value": value}])
        kind = "retag_value" if role.tag else "tag"
        role.tag = (key, value)
        event = self._event("TagRole.json", role.name)
        event["detail"]["requestParameters"]["tags"] = [{"key": key, "value": value}]
        return Change(kind, role.name, f"{key}={value} template={role.template}", event)

    def _untag_role(self, role: RoleState) -> Change:
        assert role.tag is not None
        key = role.tag[0]
        self.iam.untag_role(RoleName=role.name, TagKeys=[key])
        role.tag = None
        event = self._event("UntagRole.json", role.name)
        event["detail"]["requestParameters"]["tagKeys"] = [key]
        return Change("untag", role.name, f"{key} template={role.template}", event)

    def _unrelated_tag(self, role: RoleState) -> Change:
        value = self.rng.choice(["backup", "storage", "apps", "finance"])
        self.iam.tag_role(RoleName=role.name, Tags=[{"Key": "team", "Value": value}])
        role.other_tags["team"] = value
        event = self._event("TagRole.json", role.name)
        event["detail"]["requestParameters"]["tags"] = [{"key": "team", "value": value}]
        return Change("unrelated_tag", role.name, f"team={value}", event)

    def _update_role(self, role: RoleState) -> Change:
        description = f"Veeam role, revision {self.rng.randrange(1000)}"
        self.iam.update_role(RoleName=role.name, Description=description)
        role.description = description
        event = self._event("UpdateRole.json", role.name)
        event["detail"]["requestParameters"]["description"] = description
        return Change("update_role", role.name, description, event)

    def _edit_trust(self, role: RoleState) -> Change:
        choices = [name for name, t in TEMPLATES.items() if t.editable and name != role.template]
        return self.edit_trust(role.name, self.rng.choice(choices))

    def edit_trust(self, name: str, template: str) -> Change:
        role = self.model.roles[name]
        document = TEMPLATES[template].text()
        self.iam.update_assume_role_policy(RoleName=role.name, PolicyDocument=document)
        detail = f"{role.template} -> {template} (tagged: {role.tag is not None})"
        role.template = template
        event = self._event("UpdateAssumeRolePolicy.json", role.name)
        event["detail"]["requestParameters"]["policyDocument"] = document
        return Change("edit_trust", role.name, detail, event)

    def toggle_appliance(self) -> Change:
        if self.model.appliance_allows:
            self.iam.delete_role_policy(RoleName=APPLIANCE_NAME, PolicyName=APPLIANCE_POLICY)
            self.model.appliance_allows = False
            return Change(
                "appliance",
                APPLIANCE_NAME,
                f"inline policy {APPLIANCE_POLICY} removed",
                self._event("DeleteRolePolicy.json", APPLIANCE_NAME),
            )
        self._put_appliance_policy()
        self.model.appliance_allows = True
        return Change(
            "appliance",
            APPLIANCE_NAME,
            f"inline policy {APPLIANCE_POLICY} restored",
            self._event("PutRolePolicy.json", APPLIANCE_NAME),
        )

    def toggle_instance_profile(self) -> Change:
        if self.model.appliance_in_profile:
            self.iam.remove_role_from_instance_profile(InstanceProfileName=APPLIANCE_NAME, RoleName=APPLIANCE_NAME)
            self.model.appliance_in_profile = False
            template, what = "RemoveRoleFromInstanceProfile.json", "taken out of"
        else:
            self.iam.add_role_to_instance_profile(InstanceProfileName=APPLIANCE_NAME, RoleName=APPLIANCE_NAME)
            self.model.appliance_in_profile = True
            template, what = "AddRoleToInstanceProfile.json", "put back into"
        event = self._event(template, APPLIANCE_NAME)
        event["detail"]["requestParameters"]["instanceProfileName"] = APPLIANCE_NAME
        return Change("appliance", APPLIANCE_NAME, f"{what} instance profile {APPLIANCE_NAME}", event)

    def _create_appliance(self) -> None:
        trust = {"Version": "2012-10-17", "Statement": [_allow({"Service": "ec2.amazonaws.com"})]}
        self.iam.create_role(RoleName=APPLIANCE_NAME, Path=APPLIANCE_PATH, AssumeRolePolicyDocument=json.dumps(trust))
        self.iam.create_instance_profile(InstanceProfileName=APPLIANCE_NAME)
        self.iam.add_role_to_instance_profile(InstanceProfileName=APPLIANCE_NAME, RoleName=APPLIANCE_NAME)
        self._put_appliance_policy()

    def _put_appliance_policy(self) -> None:
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
        }
        self.iam.put_role_policy(
            RoleName=APPLIANCE_NAME, PolicyName=APPLIANCE_POLICY, PolicyDocument=json.dumps(policy)
        )

    # ------------------------------------------------------------------ small helpers

    def _event(self, template: str, role_name: str) -> dict[str, Any]:
        """The sample CloudTrail event ``template`` for this role, with fresh ids and time."""
        event: dict[str, Any] = load_event(f"cloudtrail/{template}")
        now = self._now()
        event["id"] = str(uuid.UUID(int=self.rng.getrandbits(128)))
        event["time"] = now
        detail = event["detail"]
        detail["eventID"] = str(uuid.UUID(int=self.rng.getrandbits(128)))
        detail["requestID"] = str(uuid.UUID(int=self.rng.getrandbits(128)))
        detail["eventTime"] = now
        detail["requestParameters"]["roleName"] = role_name
        return event

    def _now(self) -> str:
        self._clock += 1
        return datetime.fromtimestamp(self._clock, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _tag_key(self) -> str:
        return TAG_KEY_OTHER_CASE if self.rng.random() < self.knobs.other_case_tag_key else TAG_KEY

    def _tag_value(self) -> str:
        return self.rng.choice(["true", "True", "yes", "repository", "1"])

    def _other_path(self, path: str) -> str:
        return self.rng.choice([p for p in ("/", "/veeam/", "/backup/team/") if p != path])

    def _queue_arn(self, url: str) -> str:
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        return str(attributes["QueueArn"])


def _brief(result: Mapping[str, Any]) -> str:
    keys = ("status", "role", "roles_in_scope", "claimed", "imported", "archived", "transitions", "messages_sent")
    return json.dumps({key: result[key] for key in keys if key in result})
