"""Benchmark: reading and evaluating the permissions Veeam purposes need, beside the bare enumeration.

Run: .venv/bin/python bench/purpose_bench.py [--roles 5000] [--repeat 3] [--policies 40] [--full-scan]

The account (moto's server in this process, AWS managed policies loaded): ``--roles`` roles, half of
them tagged for Veeam, each tagged role declaring one or two purposes of 30-80 actions (Veeam's own
lists, bundled data) in the purpose tag. Each attaches, per purpose, one of the ``--policies`` customer
managed policies made for it (cut from its list: a quarter miss some actions; of every five, one also
allows a few actions on one bucket only, one reads the role's tags, one denies deletes outside two
regions), one role in three another policy besides, one in four an AWS managed policy; a quarter carry
an inline policy made from one template, a tenth a permissions boundary. Trust policies come from bench/workload.py.

Measured in the same run, alternating, median of ``--repeat`` each (API calls counted with a botocore
hook, one run):
- floor:      the bare GetAccountAuthorizationDetails enumeration (Filter Role), the auditor's client;
- details:    that enumeration, then the managed policies the purpose roles attach, customer managed from
              one more GetAccountAuthorizationDetails pass (LocalManagedPolicy), AWS managed by
              GetPolicy + GetPolicyVersion per distinct policy (the default), then every purpose role's
              permissions evaluated with one PermissionsMemo;
- get:        the same, every distinct policy by GetPolicy + GetPolicyVersion;
- one pass:   the enumeration with Filter Role and LocalManagedPolicy at once (the policies always read,
              whether a role declares a purpose or not), plus the AWS managed ones as in details;
- aws pages:  the enumeration plus a pass with LocalManagedPolicy and AWSManagedPolicy (every AWS managed
              policy; moto holds one version of each, AWS every version: far more pages there).
- full scan:  with ``--full-scan``, scan_account with its settings' defaults (purpose checks on), as the
              command line runs it (every check, findings built; the IAM client's calls counted), and
              the same scan reading a purpose tag no role carries (no purposes: today's checks only).
Once, after: the evaluation without a memo (what the memo saves).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import trust_policies

from veeam_role_auditor.dev.emulator import client_environment, environment, moto_server
from veeam_role_auditor.inventory import PAGE_SIZE, Inventory, auditor_session, client_config
from veeam_role_auditor.model import RoleSnapshot
from veeam_role_auditor.policy.permissions import PermissionsMemo, RequiredAction, evaluate_actions
from veeam_role_auditor.purposes import load_version, parse_purpose_tag

TAG = "veeam:backup-role"
PURPOSE_TAG = "veeam:role-purpose"
AWS_MANAGED = [
    "arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess",
    "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
    "arn:aws:iam::aws:policy/AmazonRDSReadOnlyAccess",
    "arn:aws:iam::aws:policy/AmazonSNSFullAccess",
    "arn:aws:iam::aws:policy/AmazonSQSFullAccess",
]
EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def purposes_in_range() -> list[str]:
    """The purposes whose lists hold 30 to 80 actions (the issue's workload)."""
    return [name for name, profile in load_version().items() if 30 <= len(profile.actions) <= 80]


def policy_pool(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """``count`` customer managed policy documents cut from the purposes' lists."""
    profiles = load_version()
    names = purposes_in_range()
    pool = []
    for index in range(count):
        actions = list(profiles[names[index % len(names)]].actions)
        rng.shuffle(actions)
        keep = actions[: max(1, int(len(actions) * rng.choice([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.95, 0.8])))]
        statements: list[dict[str, Any]] = [{"Effect": "Allow", "Action": sorted(keep), "Resource": "*"}]
        kind = index % 5
        if kind == 1:  # some actions on specific resources only: conditional
            statements.append({"Effect": "Allow", "Action": actions[-3:], "Resource": "arn:aws:s3:::veeam-repo/*"})
        elif kind == 2:  # reads the role's tags
            statements[0]["Condition"] = {"StringEquals": {"aws:PrincipalTag/team": "backup"}}
        elif kind == 3:  # a guard Veeam's requests may hit
            statements.append(
                {
                    "Effect": "Deny",
                    "Action": "ec2:Delete*",
                    "Resource": "*",
                    "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}},
                }
            )
        pool.append({"Version": "2012-10-17", "Statement": statements})
    return pool


def populate(iam: Any, count: int, policies: int, seed: int = 11) -> dict[str, int]:
    rng = random.Random(seed)
    iam.create_role(RoleName="ImpersonationRole", Path="/veeam/", AssumeRolePolicyDocument=json.dumps(EC2_TRUST))
    arns = [
        iam.create_policy(PolicyName=f"veeam-policy-{index:03d}", PolicyDocument=json.dumps(document))["Policy"]["Arn"]
        for index, document in enumerate(policy_pool(policies, rng))
    ]
    names = purposes_in_range()
    # policy_pool cuts policy i from purpose i % len(names): the policies made for each purpose.
    made_for = {name: arns[offset :: len(names)] or arns for offset, name in enumerate(names)}
    boundary = iam.create_policy(
        PolicyName="veeam-boundary",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "NotAction": "iam:Create*", "Resource": "*"}]}
        ),
    )["Policy"]["Arn"]
    trust = trust_policies(200)
    inline = json.dumps(policy_pool(8, random.Random(seed + 1))[3])
    attached = 0
    for index in range(count):
        tags = [{"Key": "team", "Value": rng.choice(["backup", "apps"])}]
        purpose = index % 2 == 0
        if purpose:
            declared = rng.sample(names, rng.choice([1, 2]))
            tags += [{"Key": TAG, "Value": "true"}, {"Key": PURPOSE_TAG, "Value": " ".join(declared)}]
        extra: dict[str, Any] = {}
        if purpose and index % 10 == 0:
            extra["PermissionsBoundary"] = boundary
        name = f"role-{index:05d}"
        iam.create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(trust[index % len(trust)]), Tags=tags, **extra
        )
        if not purpose:
            continue
        # One of the policies made for each declared purpose, and one in three roles another one besides.
        chosen = [rng.choice(made_for[purpose]) for purpose in declared]
        if index % 3 == 0:
            chosen.append(rng.choice(arns))
        for arn in dict.fromkeys(chosen):
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
            attached += 1
        if index % 4 == 0:
            iam.attach_role_policy(RoleName=name, PolicyArn=rng.choice(AWS_MANAGED))
            attached += 1
        if index % 8 == 2:
            iam.put_role_policy(RoleName=name, PolicyName="veeam-inline", PolicyDocument=inline)
    return {"attachments": attached}


_REQUIRED: dict[tuple[str, ...], tuple[RequiredAction, ...]] = {}


def required_for(purposes: tuple[str, ...]) -> tuple[RequiredAction, ...]:
    """Every action (with its documented resources) the purposes need, each once."""
    cached = _REQUIRED.get(purposes)
    if cached is None:
        profiles = load_version()
        seen: dict[tuple[str, tuple[str, ...]], RequiredAction] = {}
        for purpose in purposes:
            for statement in profiles[purpose].statements:
                for action in statement.actions:
                    seen.setdefault((action.lower(), statement.resources), RequiredAction(action, statement.resources))
        cached = _REQUIRED[purposes] = tuple(seen.values())
    return cached


def purpose_roles(roles: list[RoleSnapshot]) -> list[tuple[RoleSnapshot, tuple[str, ...]]]:
    chosen = []
    for role in roles:
        value = role.tags.get(PURPOSE_TAG)
        if value is not None and role.tags.get(TAG) == "true":
            known, _ = parse_purpose_tag(value)
            if known:
                chosen.append((role, known))
    return chosen


class Run:
    """One timed run: the parts' wall and CPU seconds (this process, moto's server included), the counts."""

    def __init__(self) -> None:
        self.parts: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.summary: dict[str, int] = {}

    def time(self, part: str, work: Callable[[], Any]) -> Any:
        start, cpu = time.perf_counter(), time.process_time()
        result = work()
        self.parts[part] = self.parts.get(part, 0.0) + time.perf_counter() - start
        self.cpu[part] = self.cpu.get(part, 0.0) + time.process_time() - cpu
        return result

    @property
    def total(self) -> float:
        return sum(self.parts.values())


def floor(iam: Any) -> Run:
    run = Run()
    run.time("enumerate", lambda: [role for page in Inventory(iam, sts=None).role_pages() for role in page])
    return run


def evaluate(
    chosen: list[tuple[RoleSnapshot, tuple[str, ...]]], documents: Any, memo: PermissionsMemo | None
) -> dict[str, int]:
    now = datetime.now(UTC).replace(microsecond=0)
    counts = {"roles": 0, "missing": 0, "conditional": 0, "unavailable": 0, "decisions": 0, "reasons built": 0}
    for role, purposes in chosen:
        permissions = documents.for_role(role)
        counts["roles"] += 1
        if permissions.unavailable_reason:
            counts["unavailable"] += 1
            continue
        verdict = evaluate_actions(
            permissions.policies,
            required_for(purposes),
            boundary=permissions.boundary,
            role_arn=role.arn,
            role_tags=dict(role.tags),
            role_id=role.role_id,
            now=now,
            memo=memo,
        )
        counts["decisions"] += len(verdict.actions)
        # What a finding shows: the reasons of the actions missing or conditional, not of the others.
        counts["reasons built"] += len(verdict.failing_decisions)
        counts["missing"] += bool(verdict.missing_actions)
        counts["conditional"] += bool(verdict.conditional_actions) and not verdict.missing_actions
    return counts


def with_purposes(iam: Any, local_via: str) -> Run:
    run = Run()
    inventory = Inventory(iam, sts=None)
    roles = run.time("enumerate", lambda: [role for page in inventory.role_pages() for role in page])
    chosen = run.time("select", lambda: purpose_roles(roles))
    documents = run.time(
        "read policies", lambda: inventory.managed_policy_documents([role for role, _ in chosen], local_via=local_via)
    )
    memo = PermissionsMemo()
    run.summary = run.time("evaluate", lambda: evaluate(chosen, documents, memo))
    run.summary["parts decided"] = memo.misses
    run.summary["verdicts shared"] = memo.hits
    return run


def one_pass(iam: Any) -> Run:
    run = Run()

    def enumerate_both() -> int:
        pages = iam.get_paginator("get_account_authorization_details").paginate(
            Filter=["Role", "LocalManagedPolicy"], PaginationConfig={"PageSize": PAGE_SIZE}
        )
        return sum(len(page.get("RoleDetailList", [])) + len(page.get("Policies", [])) for page in pages)

    run.time("enumerate roles and policies", enumerate_both)
    run.time("AWS managed", lambda: [Inventory(iam, sts=None).managed_policy(arn) for arn in AWS_MANAGED])
    return run


def aws_pages(iam: Any) -> Run:
    run = Run()
    run.time("enumerate", lambda: [role for page in Inventory(iam, sts=None).role_pages() for role in page])

    def policies() -> int:
        pages = iam.get_paginator("get_account_authorization_details").paginate(
            Filter=["LocalManagedPolicy", "AWSManagedPolicy"], PaginationConfig={"PageSize": PAGE_SIZE}
        )
        return sum(len(page.get("Policies", [])) for page in pages)

    run.time("every managed policy", policies)
    return run


def calls_of(iam: Any, work: Callable[[], Any]) -> tuple[Any, int]:
    calls = [0]

    def count(**_: Any) -> None:
        calls[0] += 1

    iam.meta.events.register("before-call.*.*", count)
    try:
        return work(), calls[0]
    finally:
        iam.meta.events.unregister("before-call.*.*", count)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--roles", type=int, default=5000)
    parser.add_argument("--policies", type=int, default=40, help="distinct customer managed policies")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--full-scan", action="store_true", help="also time scan_account beside the floor")
    parser.add_argument("--profile", action="store_true", help="profile one memoised evaluation (own time)")
    args = parser.parse_args()

    # moto loads AWS managed policies only when asked (moto.settings.load_iam_aws_managed_policies).
    with (
        environment({"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}),
        moto_server() as endpoint,
        environment(client_environment(endpoint)),
    ):
        session = auditor_session()
        iam = session.client("iam", endpoint_url=endpoint, region_name="us-east-1", config=client_config())
        started = time.perf_counter()
        populated = populate(iam, args.roles, args.policies)
        populate_seconds = time.perf_counter() - started
        variants: dict[str, Callable[[], Run]] = {
            "floor": lambda: floor(iam),
            "details": lambda: with_purposes(iam, "details"),
            "get": lambda: with_purposes(iam, "get"),
            "one pass": lambda: one_pass(iam),
            "aws pages": lambda: aws_pages(iam),
        }
        if args.full_scan:
            variants["full scan"] = full_scan(session, endpoint, iam)
            # The same scan reading a purpose tag no role carries: today's checks only, for the split.
            variants["no purposes"] = full_scan(session, endpoint, iam, purpose_tag_key="bench:no-such-tag")
        runs: dict[str, list[Run]] = {name: [] for name in variants}
        calls: dict[str, int] = {}
        for round_ in range(args.repeat):
            for name, variant in variants.items():
                if round_ == 0:
                    run, calls[name] = calls_of(iam, variant)
                else:
                    run = variant()
                runs[name].append(run)
        # What the memo saves: the same evaluation, every role on its own.
        inventory = Inventory(iam, sts=None)
        roles = [role for page in inventory.role_pages() for role in page]
        chosen = purpose_roles(roles)
        documents = inventory.managed_policy_documents([role for role, _ in chosen])
        start = time.perf_counter()
        unmemoised = evaluate(chosen, documents, None)
        unmemoised_seconds = time.perf_counter() - start
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.runcall(evaluate, chosen, documents, PermissionsMemo())
            pstats.Stats(profiler).sort_stats("tottime").print_stats(12)

    floor_seconds = statistics.median(run.total for run in runs["floor"])
    print(
        f"moto server on 127.0.0.1 (AWS managed policies loaded); {args.roles} roles, half tagged with one or two"
        f" purposes of 30-80 actions; {args.policies} customer managed policies, {populated['attachments']}"
        f" attachments; alternating, median of {args.repeat}; load average {os.getloadavg()[0]:.2f}"
    )
    floor_cpu = statistics.median(sum(run.cpu.values()) for run in runs["floor"])
    print(
        f"{'variant':<10} {'wall s':>7} {'vs floor':>8} {'cpu s':>6} {'vs floor':>8} {'calls':>6}"
        "  parts: median wall/cpu s"
    )
    for name, measured in runs.items():
        total = statistics.median(run.total for run in measured)
        cpu = statistics.median(sum(run.cpu.values()) for run in measured)
        parts = ", ".join(
            f"{part} {statistics.median(run.parts[part] for run in measured):.3f}"
            f"/{statistics.median(run.cpu[part] for run in measured):.3f}"
            for part in measured[0].parts
        )
        print(
            f"{name:<10} {total:>7.3f} {total / floor_seconds:>7.2f}x {cpu:>6.2f} {cpu / floor_cpu:>7.2f}x"
            f" {calls[name]:>6}  {parts}"
        )
    summary = runs["details"][0].summary
    print("purpose roles: " + ", ".join(f"{key} {value}" for key, value in summary.items()))
    memoised = statistics.median(run.parts["evaluate"] for run in runs["details"])
    print(
        f"evaluation without the memo: {unmemoised_seconds:.3f}s ({unmemoised['decisions']} decisions), with it"
        f" {memoised:.3f}s ({summary['parts decided']} policy-action parts decided, {summary['verdicts shared']}"
        f" verdicts shared whole): {unmemoised_seconds / memoised:.1f}x"
    )
    print(f"populating (not measured): {populate_seconds:.0f}s")


def full_scan(session: Any, endpoint: str, iam: Any, **settings_fields: Any) -> Callable[[], Run]:
    """The scan as the command line runs it (scan_account with its settings' defaults: purpose checks on)."""
    from veeam_role_auditor.scan import scan_account
    from veeam_role_auditor.settings import ScanSettings

    sts = session.client("sts", endpoint_url=endpoint, region_name="us-east-1", config=client_config())
    appliance = iam.get_role(RoleName="ImpersonationRole")["Role"]["Arn"]
    settings = ScanSettings(appliance_role_arns=(appliance,), tag_key=TAG, **settings_fields)

    def run() -> Run:
        timed = Run()
        result = timed.time("scan_account", lambda: scan_account(Inventory(iam, sts), settings))
        timed.summary = {"findings": len(result.findings), "in scope": result.roles_in_scope}
        return timed

    return run


if __name__ == "__main__":
    main()
