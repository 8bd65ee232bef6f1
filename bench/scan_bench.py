"""Benchmark: a full account scan against the obvious per-role alternative, on moto's server.

Run: .venv/bin/python bench/scan_bench.py [--roles 1000 5000]

For each account size (half the roles tagged for Veeam, trust policies from bench/workload.py) it
times, in the same run and against the same emulator:
- scan:      veeam_role_auditor.scan.scan_account (GetAccountAuthorizationDetails pages + evaluation);
- baseline:  ListRoles pages plus one ListRoleTags call per role, then the same evaluation;
- floor:     the bare GetAccountAuthorizationDetails pages, no evaluation.
API calls are counted with a botocore event hook. moto returns GetAccountAuthorizationDetails in
one page whatever MaxItems says; against AWS the scan makes ceil(roles/1000) such calls.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))

from emulator import moto_server
from workload import trust_policies

from veeam_role_auditor.inventory import Inventory, client_config, role_from_details
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


def populate(iam: Any, count: int) -> str:
    """The appliance role plus ``count`` roles, half of them tagged for Veeam."""
    appliance = iam.create_role(
        RoleName="ImpersonationRole", Path="/veeam/", AssumeRolePolicyDocument=json.dumps(EC2_TRUST)
    )["Role"]["Arn"]
    account = appliance.split(":")[4]
    for index, policy in enumerate(trust_policies(count)):
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


def bench(count: int, repeat: int) -> dict[str, Any]:
    with moto_server() as endpoint:

        def client(service: str) -> Any:
            return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", config=client_config())

        started = time.perf_counter()
        appliance = populate(client("iam"), count)
        populated = time.perf_counter() - started
        settings = ScanSettings(appliance_role_arns=(appliance,), tag_key=TAG)

        iam, sts = client("iam"), client("sts")
        bare_iam = client("iam")
        scanned: list[Any] = []
        # The scan and the floor alternate, best of ``repeat`` each, so that neither gets the quieter
        # moments of the machine or of the emulator; the slow per-role baseline runs once, last.
        scans, bares = [], []
        for _ in range(repeat):
            bares.append(measure(lambda: floor(bare_iam), bare_iam))
            scans.append(measure(lambda: scanned.append(scan_account(Inventory(iam, sts), settings)), iam, sts))
        scan = min(scans, key=lambda m: m.seconds)
        bare = min(bares, key=lambda m: m.seconds)
        iam, sts = client("iam"), client("sts")
        baseline = measure(lambda: scan_account(ListedInventory(iam, sts), settings), iam, sts)
    result = scanned[0]
    return {
        "roles": count,
        "in_scope": result.roles_in_scope,
        "findings": len(result.findings),
        "scan": scan,
        "baseline": baseline,
        "floor": bare,
        "populate_seconds": populated,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--roles", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repeat", type=int, default=3, help="best of N for the scan and the floor")
    args = parser.parse_args()
    rows = [bench(count, args.repeat) for count in args.roles]
    print(
        f"moto server on 127.0.0.1; half the roles tagged for Veeam, plus the appliance role; "
        f"scan and floor: alternating, best of {args.repeat} each; per-role baseline: once, last"
    )
    print(
        f"{'roles':>6} {'scope':>6} {'findings':>8} | {'scan s':>7} {'calls':>5} | {'per-role s':>10} {'calls':>6}"
        f" | {'floor s':>7} {'calls':>5} | {'speedup':>7} {'vs floor':>8} | {'call goal':>9}"
    )
    for row in rows:
        scan, baseline, bare = row["scan"], row["baseline"], row["floor"]
        print(
            f"{row['roles']:>6} {row['in_scope']:>6} {row['findings']:>8} | {scan.seconds:>7.2f} {scan.calls:>5}"
            f" | {baseline.seconds:>10.2f} {baseline.calls:>6} | {bare.seconds:>7.2f} {bare.calls:>5}"
            f" | {baseline.seconds / scan.seconds:>6.1f}x {scan.seconds / bare.seconds:>7.2f}x"
            f" | {math.ceil(row['roles'] / 1000) + 10:>9}"
        )
    print("populating (not measured): " + ", ".join(f"{r['roles']} roles {r['populate_seconds']:.0f}s" for r in rows))


if __name__ == "__main__":
    main()
