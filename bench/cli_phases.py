"""Benchmark: where the wall time of one ``scan --format json`` goes, phase by phase, beside the floor's.

Run: .venv/bin/python bench/cli_phases.py [--roles 5000] [--runs 7] [--iam-paging]

A profiler slows small functions more than large ones, so its shares are not the wall clock's: this
times the phases of an unprofiled CLI scan instead. Each run is a fresh interpreter (launched as
floor_bench.py launches it, against an emulator holding the account of bench/scan_bench.py) that notes
the wall clock when it gets to each phase: started (the launcher's clock), our imports done, the first
GetAccountAuthorizationDetails page asked for, STS answered, every page parsed, the scan done, the JSON
written, exit. The floor (``import boto3`` and every page, as in floor_bench.py) notes when its first page
is asked for and when the last is parsed. Medians of interleaved runs, in milliseconds from the start.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))

from floor_bench import FLOOR
from scan_bench import TAG, populate

from veeam_role_auditor.dev.emulator import client_environment, counting_moto_server, environment
from veeam_role_auditor.inventory import client_config

ROOT = Path(__file__).resolve().parent.parent

# Notes each phase's wall clock on stderr ("MARK <phase> <time.time()>"), then runs the command line.
MARKS = """
import os, sys, time

def mark(phase):
    os.write(2, f"MARK {phase} {time.time()}\\n".encode())

import botocore.client
real_call = botocore.client.BaseClient._make_api_call

def call(self, operation, params):
    if operation == "GetAccountAuthorizationDetails" and params.get("Marker") is None:
        mark("first page asked for")
    answer = real_call(self, operation, params)
    if operation == "GetAccountAuthorizationDetails" and not answer.get("IsTruncated"):
        mark("last page parsed")
    if operation == "GetCallerIdentity":
        mark("STS answered")
    return answer

botocore.client.BaseClient._make_api_call = call
if sys.argv[1] == "floor":
    exec(sys.argv[2])
    mark("exit")
    raise SystemExit(0)
from veeam_role_auditor import cli, cli_scan
mark("imports done")
real_scan, real_write = cli_scan.scan_account, cli_scan.write_output

def scan_account(*args, **kwargs):
    try:
        return real_scan(*args, **kwargs)
    finally:
        mark("scan done")

def write_output(*args, **kwargs):
    try:
        return real_write(*args, **kwargs)
    finally:
        mark("JSON written")

cli_scan.scan_account, cli_scan.write_output = scan_account, write_output
try:
    code = cli.main(sys.argv[2:])
finally:
    mark("exit")
raise SystemExit(code)
"""

CLI_PHASES = ("imports done", "first page asked for", "STS answered", "last page parsed", "scan done", "JSON written")
FLOOR_PHASES = ("first page asked for", "last page parsed")


def run(argv: list[str], env: dict[str, str]) -> dict[str, float]:
    """One fresh interpreter: each phase's milliseconds from launch, and "process ended"."""
    started = time.time()
    finished = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    ended = time.time()
    if finished.returncode not in (0, 1):
        raise RuntimeError(f"{argv[:4]} exited {finished.returncode}: {finished.stderr[-2000:]}")
    marks = {}
    for line in finished.stderr.splitlines():
        if line.startswith("MARK "):
            phase, moment = line[5:].rsplit(" ", 1)
            marks.setdefault(phase, (float(moment) - started) * 1000)
    return marks | {"process ended": (ended - started) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--roles", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--iam-paging", action="store_true", help="pages of at most 1,000 roles, as IAM pages")
    args = parser.parse_args()
    with (
        counting_moto_server(paging=args.iam_paging) as (endpoint, _),
        environment(client_environment(endpoint)),
    ):
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1", config=client_config())
        appliance = populate(iam, args.roles)
        env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "VRA_"))}
        env |= {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
            "PYTHONPATH": str(ROOT / "layers" / "auditor"),
        }
        scan = ["scan", "--format", "json", "--appliance-role-arn", appliance, "--tag-key", TAG]
        scan += ["--endpoint-url", endpoint, "--region", "us-east-1"]
        rows: dict[str, list[dict[str, float]]] = {"floor": [], "CLI": []}
        for _ in range(args.runs):
            rows["floor"].append(run([sys.executable, "-c", MARKS, "floor", FLOOR], env))
            rows["CLI"].append(run([sys.executable, "-c", MARKS, "cli", *scan], env))
    print(
        f"{args.roles} roles, "
        + ("paged as IAM pages" if args.iam_paging else "one page (as moto answers)")
        + f"; median of {args.runs} interleaved runs, ms from launch (+ since the phase before)"
    )
    for name, phases in (("floor", FLOOR_PHASES), ("CLI", CLI_PHASES)):
        print(name)
        before = 0.0
        for phase in (*phases, "exit", "process ended"):
            at = statistics.median(marks[phase] for marks in rows[name])
            print(f"  {phase:22} {at:7.0f}  (+{at - before:5.0f})")
            before = at


if __name__ == "__main__":
    main()
