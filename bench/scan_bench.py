"""Benchmark: a full account scan against the obvious per-role alternative, on moto's server.

Run: .venv/bin/python bench/scan_bench.py [--roles 1000 5000] [--repeat 3] [--documents N]

For each account size (half the roles tagged for Veeam, trust policies from bench/workload.py) it
times, in the same run and against the same emulator:
- scan:      veeam_role_auditor.scan.scan_account (GetAccountAuthorizationDetails pages + evaluation),
             with the clients the command line and Lambda use (inventory.auditor_session);
- baseline:  ListRoles pages plus one ListRoleTags call per role, then the same evaluation;
- floor:     the bare GetAccountAuthorizationDetails pages, no evaluation, with boto3's own client
             (botocore's timestamp parser), and once more with the auditor's client.
The scan and both floors alternate, ``--repeat`` times each, and the median is printed. API calls are
counted with a botocore event hook. moto returns GetAccountAuthorizationDetails in one page whatever
MaxItems says; against AWS the scan makes ceil(roles/1000) such calls. ``--documents N`` draws every
role's trust policy from N distinct ones (roles made from templates; default: every policy distinct).
bench/floor_bench.py measures the same in separate processes (wall, CPU, peak memory) and the Lambda path.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import trust_policies

from veeam_role_auditor.dev.emulator import client_environment, environment, moto_server
from veeam_role_auditor.inventory import Inventory, auditor_session, client_config, role_from_details
from veeam_role_auditor.model import RoleSnapshot
from veeam_role_auditor.scan import scan_account
from veeam_role_auditor.settings import ScanSettings

TAG = "veeam:backup-role"
EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


@dataclass(frozen=True)
class Measurement:
    seconds: float
    calls: int


def populate(iam: Any, count: int, documents: int | None = None) -> str:
    """The appliance role plus ``count`` roles, half of them tagged for Veeam (``documents``: distinct policies)."""
    appliance = iam.create_role(
        RoleName="ImpersonationRole", Path="/veeam/", AssumeRolePolicyDocument=json.dumps(EC2_TRUST)
    )["Role"]["Arn"]
    account = appliance.split(":")[4]
    pool = trust_policies(documents or count)
    for index in range(count):
        policy = pool[index % len(pool)]
        text = json.dumps(policy).replace("111122223333", account)
        tags = [{"Key": TAG, "Value": "true"}] if index % 2 == 0 else [{"Key": "team", "Value": "apps"}]
        iam.create_role(RoleName=f"role-{index:05d}", AssumeRolePolicyDocument=text, Tags=tags)
    return str(appliance)


def measure(run: Callable[[], object], *clients: Any, repeat: int = 1) -> Measurement:
    """Best wall time of ``repeat`` runs, and the API calls of one run."""
    calls = [0]

    def count(**_: Any) -> None:
        calls[0] += 1

    for client in clients:
        client.meta.events.register("before-call.*.*", count)
    best = float("inf")
    for _ in range(repeat):
        calls[0] = 0
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    for client in clients:
        client.meta.events.unregister("before-call.*.*", count)
    return Measurement(best, calls[0])


class ListedInventory(Inventory):
    """The baseline: roles from ListRoles, tags from one ListRoleTags call per role."""

    def role_pages(self) -> Iterator[list[RoleSnapshot]]:
        now = datetime.now(UTC)
        for page in self.iam.get_paginator("list_roles").paginate(PaginationConfig={"PageSize": 1000}):
            roles = []
            for role in page["Roles"]:
                role["Tags"] = self.iam.list_role_tags(RoleName=role["RoleName"])["Tags"]
                roles.append(role_from_details(role, now))
            yield roles


def floor(iam: Any) -> int:
    pages = iam.get_paginator("get_account_authorization_details").paginate(
        Filter=["Role"], PaginationConfig={"PageSize": 1000}
    )
    return sum(len(page["RoleDetailList"]) for page in pages)


def median(measurements: list[Measurement]) -> Measurement:
    return Measurement(statistics.median(m.seconds for m in measurements), measurements[-1].calls)


def bench(count: int, repeat: int, documents: int | None) -> dict[str, Any]:
    with moto_server() as endpoint, environment(client_environment(endpoint)):

        def client(service: str, auditor: bool = False) -> Any:
            factory: Any = auditor_session() if auditor else boto3
            return factory.client(service, endpoint_url=endpoint, region_name="us-east-1", config=client_config())

        started = time.perf_counter()
        appliance = populate(client("iam"), count, documents)
        populated = time.perf_counter() - started
        settings = ScanSettings(appliance_role_arns=(appliance,), tag_key=TAG)

        iam, sts = client("iam", auditor=True), client("sts", auditor=True)
        bare_iam, auditor_iam = client("iam"), client("iam", auditor=True)
        scanned: list[Any] = []
        # The scan and the floors alternate, median of ``repeat`` each, so that none gets the quieter
        # moments of the machine or of the emulator; the slow per-role baseline runs once, last.
        scans, bares, auditor_bares = [], [], []
        for _ in range(repeat):
            bares.append(measure(lambda: floor(bare_iam), bare_iam))
            scans.append(measure(lambda: scanned.append(scan_account(Inventory(iam, sts), settings)), iam, sts))
            auditor_bares.append(measure(lambda: floor(auditor_iam), auditor_iam))
        scan, bare, auditor_bare = median(scans), median(bares), median(auditor_bares)
        iam, sts = client("iam", auditor=True), client("sts", auditor=True)
        baseline = measure(lambda: scan_account(ListedInventory(iam, sts), settings), iam, sts)
    result = scanned[0]
    return {
        "roles": count,
        "in_scope": result.roles_in_scope,
        "findings": len(result.findings),
        "scan": scan,
        "baseline": baseline,
        "floor": bare,
        "auditor_floor": auditor_bare,
        "populate_seconds": populated,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--roles", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repeat", type=int, default=3, help="median of N for the scan and the floors")
    parser.add_argument("--documents", type=int, help="distinct trust policies (default: one per role)")
    args = parser.parse_args()
    rows = [bench(count, args.repeat, args.documents) for count in args.roles]
    print(
        f"moto server on 127.0.0.1; half the roles tagged for Veeam, plus the appliance role; "
        f"{args.documents or 'all'} distinct trust policies; scan and floors: alternating, median of "
        f"{args.repeat} each; per-role baseline: once, last; load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'roles':>6} {'scope':>6} {'findings':>8} | {'scan s':>7} {'calls':>5} | {'per-role s':>10} {'calls':>6}"
        f" | {'floor s':>7} {'calls':>5} | {'speedup':>7} {'vs floor':>8} | {'auditor floor s':>15} {'vs it':>6}"
        f" | {'call goal':>9}"
    )
    for row in rows:
        scan, baseline, bare, auditor = row["scan"], row["baseline"], row["floor"], row["auditor_floor"]
        print(
            f"{row['roles']:>6} {row['in_scope']:>6} {row['findings']:>8} | {scan.seconds:>7.2f} {scan.calls:>5}"
            f" | {baseline.seconds:>10.2f} {baseline.calls:>6} | {bare.seconds:>7.2f} {bare.calls:>5}"
            f" | {baseline.seconds / scan.seconds:>6.1f}x {scan.seconds / bare.seconds:>7.2f}x"
            f" | {auditor.seconds:>15.2f} {scan.seconds / auditor.seconds:>5.2f}x"
            f" | {math.ceil(row['roles'] / 1000) + 10:>9}"
        )
    print("populating (not measured): " + ", ".join(f"{r['roles']} roles {r['populate_seconds']:.0f}s" for r in rows))


if __name__ == "__main__":
    main()
