"""Benchmark: a full scan against the floor (reading the account), as separate processes, same run.

Run: .venv/bin/python bench/floor_bench.py [--roles 5000] [--rounds 3] [--before DIR] [--custodian PATH]
                                          [--iam-paging] [--purposes] [--profile]

One moto server (in this process, counting the API calls it serves) holds an account of ``--roles`` roles,
half tagged for Veeam (bench/workload.py). Each measurement is a fresh interpreter, timed from start to
exit: wall seconds, CPU seconds (user + system, of that process only: the emulator's work is not in it),
peak resident memory (ru_maxrss) and the API calls it made. Rows run interleaved, one of each per round,
and the median of the rounds is printed, so that a busy moment of the machine falls on every row alike;
the minimum wall and its ratio to the floor's minimum are printed beside it, since this machine's medians
drift by 10-20% between runs of the same trees.

- floor:            ``import boto3``, then every GetAccountAuthorizationDetails page (Filter Role), as any
                    boto3 program reads the account (botocore's own timestamp parser);
- floor, auditor session: the same with the auditor's client (inventory.auditor_session);
- CLI scan:         ``veeam-role-auditor scan --format json`` into a pipe (the document is read and kept
                    to compare the trees);
- Lambda scan:      the scheduled_scan handler's invocation (imported first, not timed: coldstart_bench.py
                    times imports) in the same process shape as Lambda's, publishing to the state table,
                    Security Hub and SNS on moto, the second time for an unchanged account (the steady state);
                    its wall and CPU are the invocation's alone, beside the enumeration's alone in the
                    same process shape (``floor, in process``);
- Cloud Custodian:  ``custodian run`` with an iam-role policy (the Veeam tag, the cross-account filter on
                    the trust policy), when --custodian names its executable (a venv of its own: c7n is
                    not a dependency of this project).

``--iam-paging`` makes the emulator page GetAccountAuthorizationDetails as IAM does (moto answers in one
page): the scan assesses each page while the next is read, so this is where that shows. ``--purposes``
populates the account of bench/purpose_bench.py instead (tagged roles declare Veeam purposes; issue 14).

``--before DIR`` (a tree with ``layers/auditor`` and ``functions``, e.g. from ``git archive``) adds the same
rows for that tree, and the CLI scans' JSON documents of both trees are compared (generated_at aside).
Each tree is compiled first and runs from its bytecode, as an installed package does.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scan_bench import TAG, populate

from veeam_role_auditor.dev.emulator import client_environment, counting_moto_server, environment
from veeam_role_auditor.inventory import client_config
from veeam_role_auditor.publish.state import create_table

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"  # moto's default account

FLOOR = """
import sys, boto3
from botocore.config import Config
config = Config(retries={"mode": "adaptive", "total_max_attempts": 10}, connect_timeout=5, read_timeout=30)
iam = boto3.client("iam", config=config)
pages = iam.get_paginator("get_account_authorization_details").paginate(
    Filter=["Role"], PaginationConfig={"PageSize": 1000}
)
print(sum(len(page["RoleDetailList"]) for page in pages))
"""

FLOOR_AUDITOR = """
from veeam_role_auditor.inventory import auditor_session, client_config
iam = auditor_session().client("iam", config=client_config())
pages = iam.get_paginator("get_account_authorization_details").paginate(
    Filter=["Role"], PaginationConfig={"PageSize": 1000}
)
print(sum(len(page["RoleDetailList"]) for page in pages))
"""

# The Lambda shape: handler module imported (untimed), then one invocation timed from inside.
LAMBDA = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import app
from veeam_role_auditor import lambda_app
scan_times = []
real_scan = lambda_app.scan_account
def timed_scan(*args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        return real_scan(*args, **kwargs)
    finally:
        scan_times.append((time.perf_counter() - wall, time.process_time() - cpu))
lambda_app.scan_account = timed_scan
try:
    from veeam_role_auditor.dev.handlers import LocalContext
except ImportError:  # a tree from before the layer's development-only modules moved (issue 13)
    LocalContext = lambda_app.LocalContext
context = LocalContext(function_name="scheduled-scan", account=sys.argv[3])
event = {"source": "aws.events", "detail-type": "Scheduled Event", "resources": ["bench"], "detail": {}}
wall, cpu = time.perf_counter(), time.process_time()
if len(sys.argv) > 4:
    import cProfile
    profile = cProfile.Profile()
    summary = profile.runcall(app.lambda_handler, event, context)
    profile.dump_stats(sys.argv[4])
else:
    summary = app.lambda_handler(event, context)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
with open(sys.argv[2], "w") as out:
    json.dump({"wall": wall, "cpu": cpu, "scan": scan_times, "summary": summary}, out, default=str)
"""

FLOOR_IN_PROCESS = """
import json, sys, time
import boto3
try:
    from veeam_role_auditor.aws import Clients
    make_clients = Clients.for_lambda
except (ImportError, AttributeError):  # a tree from before the one client cache (issue 13)
    from veeam_role_auditor.lambda_app import ClientCache as make_clients
iam = make_clients()("iam") if sys.argv[3] == "auditor" else boto3.client("iam")
wall, cpu = time.perf_counter(), time.process_time()
pages = iam.get_paginator("get_account_authorization_details").paginate(
    Filter=["Role"], PaginationConfig={"PageSize": 1000}
)
roles = sum(len(page["RoleDetailList"]) for page in pages)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
with open(sys.argv[2], "w") as out:
    json.dump({"wall": wall, "cpu": cpu, "roles": roles}, out)
"""

CUSTODIAN_POLICY = f"""
policies:
  - name: veeam-roles
    resource: iam-role
    filters:
      - "tag:{TAG}": present
      - type: cross-account
"""


@dataclass
class Sample:
    wall: float
    cpu: float
    peak_mb: float
    calls: int
    inner_wall: float | None = None
    inner_cpu: float | None = None


# Started by a small launcher: a child forked from this process (moto and the account in memory) would
# count this process's pages in its ru_maxrss before exec replaces them; the launcher's are a few MB.
LAUNCHER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
process = subprocess.Popen(sys.argv[1:], stderr=subprocess.PIPE)
errors = process.stderr.read()
_, status, usage = os.wait4(process.pid, 0)
wall = time.perf_counter() - start
code = os.waitstatus_to_exitcode(status)
sys.stderr.write(json.dumps({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak_kb": usage.ru_maxrss,
                             "code": code, "errors": errors.decode(errors="replace")[-2000:]}))
"""


def run_process(argv: list[str], env: dict[str, str], counter: Any, keep: Path | None = None) -> Sample:
    """Run one process to its end: wall from start to exit, its own CPU and peak memory (wait4)."""
    calls = counter.calls
    with keep.open("wb") if keep else open(os.devnull, "wb") as stdout:
        launched = subprocess.run(
            [sys.executable, "-c", LAUNCHER, *argv], env=env, stdout=stdout, stderr=subprocess.PIPE, check=True
        )
    measured = json.loads(launched.stderr)
    if measured["code"] not in (0, 1):
        raise RuntimeError(f"{argv[:4]} exited {measured['code']}: {measured['errors']}")
    return Sample(measured["wall"], measured["cpu"], measured["peak_kb"] / 1024, counter.calls - calls)


def compile_tree(tree: Path) -> None:
    """Write the bytecode of a tree's layer and functions, as installing a package does (pip compiles at install).

    The measured interpreters write none (PYTHONDONTWRITEBYTECODE): a tree from ``git archive`` would otherwise
    be compiled again in every CLI process, 12,000 lines, 0.2 s timed as the scan's while boto3, the floor's
    only import, loads from its bytecode.
    """
    for folder in (tree / "layers" / "auditor", tree / "functions"):
        if not compileall.compile_dir(str(folder), quiet=1):
            raise RuntimeError(f"{folder}: does not compile")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--roles", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--documents", type=int, help="distinct trust policies (default: one per role)")
    parser.add_argument("--before", type=Path, help="a tree to compare (layers/auditor, functions)")
    parser.add_argument("--custodian", type=Path, help="the custodian executable of a c7n venv")
    parser.add_argument("--after", type=Path, default=ROOT, help="the tree measured as 'after' (default: this one)")
    parser.add_argument("--no-lambda", action="store_true", help="without the Lambda rows")
    parser.add_argument("--no-cli", action="store_true", help="without the command-line and Custodian rows")
    parser.add_argument("--profile", action="store_true", help="then profile one CLI scan and one Lambda invocation")
    parser.add_argument(
        "--iam-paging",
        action="store_true",
        help="GetAccountAuthorizationDetails pages as IAM does (at most 1,000 a page), not in one page as moto",
    )
    parser.add_argument(
        "--purposes",
        action="store_true",
        help="the account of bench/purpose_bench.py: tagged roles declare Veeam purposes (AWS managed policies loaded)",
    )
    args = parser.parse_args()
    trees = {"after": args.after.resolve()} | ({"before": args.before.resolve()} if args.before else {})
    for tree in trees.values():
        compile_tree(tree)
    work = Path(tempfile.mkdtemp(prefix="floor-bench-"))
    (work / "policy.yml").write_text(CUSTODIAN_POLICY)

    loaded = {"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"} if args.purposes else {}
    with (
        environment(loaded),
        counting_moto_server(paging=args.iam_paging) as (endpoint, counter),
        environment(client_environment(endpoint)),
    ):

        def client(service: str) -> Any:
            return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", config=client_config())

        started = time.perf_counter()
        if args.purposes:
            from purpose_bench import populate as populate_with_purposes

            populate_with_purposes(client("iam"), args.roles, 40)
            appliance = client("iam").get_role(RoleName="ImpersonationRole")["Role"]["Arn"]
        else:
            appliance = populate(client("iam"), args.roles, args.documents)
        dynamodb, securityhub, sns = client("dynamodb"), client("securityhub"), client("sns")
        create_table(dynamodb, "state")
        securityhub.enable_security_hub()
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        populated = time.perf_counter() - started

        base_env = {
            key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "VRA_", "POWERTOOLS_"))
        }
        base_env |= {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
            "PYTHONDONTWRITEBYTECODE": "1",
        }

        def tree_env(tree: Path, **extra: str) -> dict[str, str]:
            return base_env | {"PYTHONPATH": str(tree / "layers" / "auditor")} | extra

        lambda_env = {
            "VRA_STATE_TABLE": "state",
            "VRA_APPLIANCE_ROLE_ARNS": appliance,
            "VRA_TAG_KEY": TAG,
            "VRA_TOPIC_ARN": topic,
            "POWERTOOLS_SERVICE_NAME": "veeam-role-auditor",
            "POWERTOOLS_METRICS_NAMESPACE": "VeeamRoleAuditor",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "AWS_LAMBDA_FUNCTION_NAME": "scheduled-scan",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        }
        scan_args = ["--format", "json", "--appliance-role-arn", appliance, "--tag-key", TAG]
        scan_args += ["--endpoint-url", endpoint, "--region", "us-east-1"]
        python = sys.executable

        def inner(sample: Sample, result: Path) -> Sample:
            measured = json.loads(result.read_text())
            sample.inner_wall, sample.inner_cpu = measured["wall"], measured["cpu"]
            return sample

        plan: dict[str, Callable[[int], Sample]] = {
            "floor (boto3 as is)": lambda _: run_process([python, "-c", FLOOR], base_env, counter),
        }
        plan["floor, auditor session"] = lambda _: run_process(
            [python, "-c", FLOOR_AUDITOR], tree_env(trees["after"]), counter
        )
        for name, tree in trees.items() if not args.no_cli else ():
            plan[f"CLI scan --format json [{name}]"] = lambda round_, name=name, tree=tree: run_process(
                [python, "-m", "veeam_role_auditor", "scan", *scan_args],
                tree_env(tree),
                counter,
                keep=work / f"scan-{name}-{round_}.json",
            )
        if args.custodian and not args.no_cli:
            plan["Cloud Custodian (iam-role, cross-account)"] = lambda round_: run_process(
                [
                    str(args.custodian),
                    "run",
                    "--cache-period",
                    "0",
                    "-r",
                    "us-east-1",
                    "-s",
                    str(work / f"custodian-{round_}"),
                    str(work / "policy.yml"),
                ],
                base_env,
                counter,
            )
        if not args.no_lambda:
            for name, tree in trees.items():
                task = tree / "functions" / "scheduled_scan"
                env = tree_env(tree, **lambda_env, LAMBDA_TASK_ROOT=str(task))
                # The first publication of every finding, once, untimed: the rows measure an unchanged account.
                subprocess.run(
                    [python, "-c", LAMBDA, str(task), str(work / "first.json"), ACCOUNT], env=env, check=True
                )
                plan[f"Lambda scan, invocation [{name}]"] = lambda round_, name=name, task=task, env=env: inner(
                    run_process(
                        [python, "-c", LAMBDA, str(task), str(work / f"lambda-{name}-{round_}.json"), ACCOUNT],
                        env,
                        counter,
                    ),
                    work / f"lambda-{name}-{round_}.json",
                )
            for shape in ("stock", "auditor"):
                label = "boto3 as is" if shape == "stock" else "Lambda clients"
                plan[f"floor, in process ({label})"] = lambda round_, shape=shape: inner(
                    run_process(
                        [python, "-c", FLOOR_IN_PROCESS, "", str(work / f"floor-{shape}-{round_}.json"), shape],
                        tree_env(trees["after"], **lambda_env),
                        counter,
                    ),
                    work / f"floor-{shape}-{round_}.json",
                )

        samples: dict[str, list[Sample]] = {name: [] for name in plan}
        loads = [os.getloadavg()[0]]
        for round_ in range(args.rounds):
            for name, measure in plan.items():
                samples[name].append(measure(round_))
            loads.append(os.getloadavg()[0])
        profiles = {}
        if args.profile and not args.no_cli:
            profiles["CLI scan --format json [after]"] = work / "cli.prof"
            command = [python, "-m", "cProfile", "-o", str(work / "cli.prof"), "-m", "veeam_role_auditor", "scan"]
            # exit status 1: the account has failing findings
            subprocess.run(command + scan_args, env=tree_env(trees["after"]), stdout=subprocess.DEVNULL, check=False)
        if args.profile and not args.no_lambda:
            profiles["Lambda scan, invocation [after]"] = work / "lambda.prof"
            task = trees["after"] / "functions" / "scheduled_scan"
            command = [python, "-c", LAMBDA, str(task), str(work / "profiled.json"), ACCOUNT, str(work / "lambda.prof")]
            subprocess.run(
                command,
                env=tree_env(trees["after"], **lambda_env, LAMBDA_TASK_ROOT=str(task)),
                stdout=subprocess.DEVNULL,
                check=True,
            )

    print(
        f"{args.roles} roles (half tagged) + the appliance role, {args.documents or 'all'} distinct trust policies, "
        + ("tagged roles declaring Veeam purposes (bench/purpose_bench.py), " if args.purposes else "")
        + "moto server in the driver process"
        + (", GetAccountAuthorizationDetails paged as IAM pages it; " if args.iam_paging else " (one page); ")
        + f"median of {args.rounds} interleaved rounds; load average (1 min) during the rounds: "
        + ", ".join(f"{load:.2f}" for load in loads)
    )
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; populating (not measured): {populated:.0f} s")
    print(
        f"{'what':46} {'wall s':>7} {'CPU s':>7} {'peak MB':>8} {'calls':>6} {'in-process wall':>16} {'CPU':>6}"
        f" {'wall vs floor':>13} {'min wall':>8} {'min vs floor':>12}"
    )
    floor = statistics.median(sample.wall for sample in samples["floor (boto3 as is)"])
    floor_min = min(sample.wall for sample in samples["floor (boto3 as is)"])
    for name, rows in samples.items():
        wall = statistics.median(row.wall for row in rows)
        fastest = min(row.wall for row in rows)
        inner_walls = [row.inner_wall for row in rows if row.inner_wall is not None]
        inner_cpus = [row.inner_cpu for row in rows if row.inner_cpu is not None]
        print(
            f"{name:46} {wall:>7.2f} {statistics.median(row.cpu for row in rows):>7.2f}"
            f" {statistics.median(row.peak_mb for row in rows):>8.0f} {rows[-1].calls:>6}"
            + (
                f" {statistics.median(inner_walls):>16.2f} {statistics.median(inner_cpus):>6.2f}"
                if inner_walls
                else f" {'':>16} {'':>6}"
            )
            + f" {wall / floor:>12.2f}x"
            + f" {fastest:>8.2f} {fastest / floor_min:>11.2f}x"
        )
    if not args.no_lambda:
        scans = {
            name: [
                json.loads((work / f"lambda-{name}-{round_}.json").read_text())["scan"][0]
                for round_ in range(args.rounds)
            ]
            for name in trees
        }
        print(
            "Lambda: scan_account inside the invocation, median (wall, CPU s): "
            + "; ".join(
                f"{name} {statistics.median(s[0] for s in scan):.2f}, {statistics.median(s[1] for s in scan):.2f}"
                for name, scan in scans.items()
            )
        )
        print(
            "Lambda summary (after): " + json.dumps(json.loads((work / "lambda-after-0.json").read_text())["summary"])
        )
    documents = {}
    for name in trees if not args.no_cli else ():
        texts = {normalised(work / f"scan-{name}-{round_}.json") for round_ in range(args.rounds)}
        assert len(texts) == 1, f"the {name} tree's scans differ between rounds"
        documents[name] = texts.pop()
    for name, text in documents.items():
        print(f"CLI JSON [{name}]: {len(text):,} characters, sha256 {hashlib.sha256(text.encode()).hexdigest()[:16]}")
    if len(documents) == 2:
        same = documents["before"] == documents["after"]
        print("CLI JSON before and after: " + ("identical" if same else f"DIFFERENT (kept in {work})"))
    for name, path in profiles.items():
        print_profile(name, path)
    print(f"outputs in {work}")


# Where the time of a profiled run goes, by the code that spends it (own time of each function).
AREAS = (
    ("botocore: parsing responses", ("botocore/parsers.py", "botocore/handlers.py", "xml/etree", "pyexpat")),
    ("timestamps (auditor parser, dateutil)", ("(parse_timestamp)", "(_parse_timestamp_with_tzinfo)", "dateutil/")),
    ("snapshots from responses (inventory.py)", ("veeam_role_auditor/inventory.py",)),
    ("HTTP, waiting for the emulator", ("urllib3/", "http/client.py", "socket.py", "ssl.py", "_socket")),
    ("trust engine (policy/)", ("veeam_role_auditor/policy/",)),
    ("corrections (remediation.py)", ("veeam_role_auditor/remediation.py",)),
    ("assessment and findings", ("veeam_role_auditor/assess.py", "veeam_role_auditor/scan.py", "model.py")),
    ("publishing (publish/)", ("veeam_role_auditor/publish/",)),
    ("JSON (encode/decode)", ("json/",)),
    ("imports", ("<frozen importlib", "<frozen zipimport", "{built-in method _imp", "marshal")),
    ("botocore/boto3: the rest", ("botocore/", "boto3/")),
    ("rich and its refresh thread", ("rich/", "threading.py")),
    ("command line (cli.py, cli_scan.py)", ("veeam_role_auditor/cli",)),
)


def print_profile(name: str, path: Path) -> None:
    """Own time per area; a built-in function's time goes to the areas of its callers, in proportion."""
    import pstats

    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]

    def area_of(key: tuple[str, int, str]) -> str:
        where = f"{key[0]}:{key[1]}({key[2]})"
        return next((label for label, marks in AREAS if any(mark in where for mark in marks)), "other")

    areas: dict[str, float] = {}
    total = 0.0
    for key, (_, _, own, _, callers) in stats.items():
        total += own
        if key[0] == "~" and callers:
            spent = sum(timing[2] for timing in callers.values()) or 1.0
            for caller, timing in callers.items():
                areas[area_of(caller)] = areas.get(area_of(caller), 0.0) + own * timing[2] / spent
        else:
            areas[area_of(key)] = areas.get(area_of(key), 0.0) + own
    print(f"\nprofile of one {name} (cProfile, own time; {total:.2f} s profiled):")
    for area, seconds in sorted(areas.items(), key=lambda item: -item[1]):
        print(f"  {area:42} {seconds:>6.2f} s {seconds / total:>6.1%}")


def normalised(path: Path) -> str:
    """The JSON document with its time of generation blanked (nothing else differs between runs)."""
    text = path.read_text()
    document = json.loads(text)
    return text.replace(document["generated_at"], "GENERATED_AT", 1)


if __name__ == "__main__":
    main()
