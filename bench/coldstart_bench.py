"""Benchmark: cold-start import time of each handler against importing boto3 alone, same run.

Run: .venv/bin/python bench/coldstart_bench.py [--runs 15]

Each measurement is a fresh interpreter (as a cold Lambda container is) timing only the import, with
the environment the template sets. Lambda provides boto3 and the Powertools layer; both are imported
by the handlers, so boto3 alone is the floor. Also prints the layer's size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import sys, time
sys.path.insert(0, {path!r})
start = time.perf_counter()
import {module}
print(time.perf_counter() - start)
"""
ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "VRA_STATE_TABLE": "state",
    "VRA_APPLIANCE_ROLE_ARNS": "arn:aws:iam::123456789012:role/veeam/VeeamImpersonation",
    "POWERTOOLS_SERVICE_NAME": "veeam-role-auditor",
    "POWERTOOLS_METRICS_NAMESPACE": "VeeamRoleAuditor",
}


def timed_import(path: str, module: str, runs: int) -> list[float]:
    env = {**os.environ, **ENVIRONMENT}
    samples = []
    for _ in range(runs):
        output = subprocess.run(
            [sys.executable, "-c", PROBE.format(path=path, module=module)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        samples.append(float(output.stdout.strip().splitlines()[-1]))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    powertools = ROOT / "build" / "coldstart-probe"
    powertools.mkdir(parents=True, exist_ok=True)
    (powertools / "powertools_only.py").write_text(
        "import boto3\nfrom aws_lambda_powertools import Logger, Metrics, Tracer\n"
        "logger, metrics, tracer = Logger(), Metrics(), Tracer()\n"
    )
    rows = [
        ("boto3 alone (the floor)", timed_import(str(ROOT), "boto3", args.runs)),
        ("boto3 + Powertools L/M/Tracer", timed_import(str(powertools), "powertools_only", args.runs)),
        ("scheduled_scan handler", timed_import(str(ROOT / "functions" / "scheduled_scan"), "app", args.runs)),
        ("iam_change handler", timed_import(str(ROOT / "functions" / "iam_change"), "app", args.runs)),
    ]
    floor = statistics.median(rows[0][1])
    print(f"python {sys.version.split()[0]}, {args.runs} fresh interpreters each, import time in ms")
    print(f"{'what':28} {'median':>8} {'min':>8} {'vs boto3':>9}")
    for name, samples in rows:
        median = statistics.median(samples)
        print(f"{name:28} {median * 1000:>8.1f} {min(samples) * 1000:>8.1f} {median / floor:>8.2f}x")
    with tempfile.TemporaryDirectory() as build:
        subprocess.run(
            ["make", "-s", "-C", str(ROOT / "layers" / "auditor"), "build-AuditorLayer", f"ARTIFACTS_DIR={build}"],
            check=True,
        )
        size = sum(p.stat().st_size for p in Path(build).rglob("*") if p.is_file())
        files = sum(1 for p in Path(build).rglob("*.py"))
    print(f"auditor layer: {size / 1024:.0f} KiB uncompressed, {files} Python files (boto3 and Powertools not bundled)")


if __name__ == "__main__":
    main()
