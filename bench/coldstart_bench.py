"""Benchmark: cold-start import time of each handler against importing boto3 alone, same run.

Run: .venv/bin/python bench/coldstart_bench.py [--runs 15] [--breakdown]

Each measurement is a fresh interpreter (as a cold Lambda execution environment is) timing only the
import, with the environment the template sets and the variables the Lambda runtime sets: without
LAMBDA_TASK_ROOT the X-Ray SDK (imported by Powertools' Tracer) builds two botocore clients for
centralized sampling at import, which it never does in Lambda. The package is imported from the layer
exactly as ``make build-AuditorLayer`` (what ``sam build`` runs) produces it, with the bytecode it ships
for Python 3.13, and once more from sources only, as a layer without bytecode is: Lambda mounts layers
read-only, so nothing compiled is ever cached (-B for every row). Lambda provides boto3 and the
Powertools layer; both are imported by the handlers, so boto3 alone is the floor. Every interpreter sees
only what a function sees in Lambda (``dev.lambda_site``: boto3, Powertools and their requirements, -I -S):
this virtualenv's other packages (requests, moto...) would otherwise be imported by X-Ray's patching and
count in the rows. ``boto3 + iam_change's Powertools`` is what iam_change imports of Powertools, nothing of
ours: the part of its cold start that this package cannot change. Also prints the layer's size.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from veeam_role_auditor.dev.lambda_site import build_lambda_site

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import sys, time
sys.path[:0] = sys.argv[1:]
start = time.perf_counter()
import {module}
print(time.perf_counter() - start)
"""
# What a function's own import spends where, after boto3 and its Powertools are imported (--breakdown):
# dataclasses made (the methods each @dataclass compiles), the botocore session the module creates, regular
# expressions compiled, and the rest (module bodies, bytecode loaded, Powertools objects made).
BREAKDOWN = """
import sys, time, json
sys.path[:0] = sys.argv[1:]
import boto3, powertools_iam_change, dataclasses, re, botocore.session
spent = {"dataclasses made": 0.0, "regular expressions compiled": 0.0, "botocore session made": 0.0}
def timed(owner, name, key):
    real = getattr(owner, name)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            spent[key] += time.perf_counter() - start
    setattr(owner, name, wrapper)
timed(dataclasses, "_process_class", "dataclasses made")
timed(re, "_compile", "regular expressions compiled")
timed(botocore.session, "get_session", "botocore session made")
start = time.perf_counter()
import app
spent = {"import app, in all": time.perf_counter() - start, **spent}
print(json.dumps(spent))
"""
ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "VRA_STATE_TABLE": "state",
    "VRA_APPLIANCE_ROLE_ARNS": "arn:aws:iam::123456789012:role/veeam/VeeamImpersonation",
    "POWERTOOLS_SERVICE_NAME": "veeam-role-auditor",
    "POWERTOOLS_METRICS_NAMESPACE": "VeeamRoleAuditor",
    # what the Lambda runtime sets in every execution environment
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "AWS_LAMBDA_FUNCTION_NAME": "veeam-role-auditor-probe",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
}


def timed_import(module: str, task_root: Path, runs: int, site: Path, layer: Path | None = None) -> list[float]:
    """Seconds to import ``module`` in ``runs`` fresh interpreters that see the task root, the layer and ``site``
    (what Lambda provides), nothing else: -I -S leave out site-packages and PYTHON* variables, -B writes no
    bytecode."""
    path = [str(task_root)] + ([str(layer)] if layer else []) + [str(site)]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **ENVIRONMENT, "LAMBDA_TASK_ROOT": str(task_root)}
    samples = []
    for _ in range(runs):
        output = subprocess.run(
            [sys.executable, "-I", "-S", "-B", "-c", PROBE.format(module=module), *path],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        samples.append(float(output.stdout.strip().splitlines()[-1]))
    return samples


def print_breakdown(task_root: Path, probes: Path, layer: Path, site: Path, runs: int) -> None:
    """Where iam_change's own import goes once boto3 and its Powertools are in (median of ``runs`` interpreters)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **ENVIRONMENT, "LAMBDA_TASK_ROOT": str(task_root)}
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        output = subprocess.run(
            [sys.executable, "-I", "-S", "-B", "-c", BREAKDOWN, str(task_root), str(probes), str(layer), str(site)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        for name, seconds in json.loads(output.stdout.strip().splitlines()[-1]).items():
            samples.setdefault(name, []).append(seconds)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    medians["the rest (module bodies, bytecode, handler objects)"] = medians["import app, in all"] - sum(
        value for name, value in medians.items() if name != "import app, in all"
    )
    print(f"\niam_change's own import, after boto3 and its Powertools (median of {runs}; ms):")
    for name, value in medians.items():
        print(f"  {name:52} {value * 1000:>7.1f}")


def build_layer(artifacts: Path, *overrides: str) -> Path:
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(ROOT / "layers" / "auditor"),
            "build-AuditorLayer",
            f"ARTIFACTS_DIR={artifacts}",
            *overrides,
        ],
        check=True,
        capture_output=True,
    )
    return artifacts / "python"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--breakdown", action="store_true", help="then where iam_change's own import goes")
    args = parser.parse_args()
    probe = ROOT / "build" / "coldstart-probe"
    shutil.rmtree(probe / "lambda-site", ignore_errors=True)
    site = build_lambda_site(probe / "lambda-site")
    shipped = build_layer(probe / "layer")
    sources = build_layer(probe / "layer-sources-only", "PY313=")
    if not list(shipped.rglob("*.cpython-313.pyc")):
        print("note: no Python 3.13 found, so the built layer has no bytecode either")
    tasks = {}
    for name in ("scheduled_scan", "iam_change"):
        tasks[name] = probe / "task" / name
        tasks[name].mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "functions" / name / "app.py", tasks[name] / "app.py")
    (probe / "task" / "powertools_only.py").write_text(
        "import boto3\nfrom aws_lambda_powertools import Logger, Metrics, Tracer\n"
        "logger, metrics, tracer = Logger(), Metrics(), Tracer()\n"
    )
    # What iam_change imports of Powertools, with its Tracer (only botocore patched), and nothing of ours.
    (probe / "task" / "powertools_iam_change.py").write_text(
        "import boto3\nfrom aws_lambda_powertools import Logger, Metrics, Tracer\n"
        "from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response\n"
        "from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord\n"
        "from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig\n"
        "logger, metrics, tracer = Logger(), Metrics(), Tracer(patch_modules=('boto3',))\n"
    )
    # interleaved rounds, so that a busy moment of the machine hits every row alike
    rows: dict[str, list[float]] = {}
    plan = [
        ("boto3 alone (the floor)", "boto3", probe / "task", None),
        ("boto3 + Powertools L/M/Tracer", "powertools_only", probe / "task", None),
        ("boto3 + iam_change's Powertools", "powertools_iam_change", probe / "task", None),
        ("scheduled_scan (layer as built)", "app", tasks["scheduled_scan"], shipped),
        ("iam_change (layer as built)", "app", tasks["iam_change"], shipped),
        ("scheduled_scan (sources only)", "app", tasks["scheduled_scan"], sources),
        ("iam_change (sources only)", "app", tasks["iam_change"], sources),
    ]
    for _ in range(args.runs):
        for name, module, task_root, layer in plan:
            rows.setdefault(name, []).extend(timed_import(module, task_root, 1, site, layer))
    floor = statistics.median(rows[plan[0][0]])
    print(f"python {sys.version.split()[0]}, {args.runs} fresh interpreters each, Lambda runtime environment, ms")
    print(f"{'what':32} {'median':>8} {'min':>8} {'vs boto3':>9}")
    for name, samples in rows.items():
        median = statistics.median(samples)
        print(f"{name:32} {median * 1000:>8.1f} {min(samples) * 1000:>8.1f} {median / floor:>8.2f}x")
    if args.breakdown:
        print_breakdown(tasks["iam_change"], probe / "task", shipped, site, args.runs)
    size = sum(p.stat().st_size for p in shipped.rglob("*") if p.is_file())
    source_size = sum(p.stat().st_size for p in sources.rglob("*") if p.is_file())
    files = sum(1 for p in sources.rglob("*.py"))
    print(
        f"auditor layer: {size / 1024:.0f} KiB uncompressed with bytecode, {source_size / 1024:.0f} KiB sources only, "
        f"{files} Python files (boto3 and Powertools not bundled)"
    )


if __name__ == "__main__":
    main()
