"""Benchmark: trust-policy evaluations per second on one core.

Run: .venv/bin/python bench/trust_bench.py [--count 5000] [--repeat 5]

Evaluates ``count`` distinct, realistic trust policies and compares, in the same run:
- the engine on decoded documents (what boto3 returns from GetAccountAuthorizationDetails);
- the engine on JSON text (what the raw API and the CLI see), parse cache cleared every pass;
- the floor: json.loads of the same text alone;
- the obvious alternative: string matching (is the appliance ARN or account in the text?), which is
  fast but wrong (it misses Deny, conditions, NotAction, paths and partitions).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import APPLIANCE_ACCOUNT, APPLIANCE_ARN, APPLIANCE_ID, trust_policies

from veeam_role_auditor.policy import evaluate_trust, make_appliance
from veeam_role_auditor.policy.document import _parse_text_cached

ROLE = f"arn:aws:iam::{APPLIANCE_ACCOUNT}:role/VeeamRepository"


def best_rate(run: Callable[[], object], count: int, repeat: int, before: Callable[[], None] = lambda: None) -> float:
    best = float("inf")
    for _ in range(repeat):
        before()
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return count / best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core

    documents = trust_policies(args.count)
    texts = [json.dumps(document) for document in documents]
    appliance = make_appliance(APPLIANCE_ARN, role_id=APPLIANCE_ID, org_id="o-a1b2c3d4e5")
    now = datetime.now(UTC)

    answers = Counter(evaluate_trust(d, ROLE, appliance, now=now).appliance_can_assume for d in documents)

    def engine_dicts() -> None:
        for document in documents:
            evaluate_trust(document, ROLE, appliance, now=now)

    def engine_text() -> None:
        for text in texts:
            evaluate_trust(text, ROLE, appliance, now=now)

    def json_floor() -> None:
        for text in texts:
            json.loads(text)

    def string_matching() -> None:
        for text in texts:
            _ = APPLIANCE_ARN in text or f"{APPLIANCE_ACCOUNT}:root" in text

    rows = [
        ("engine, decoded documents", best_rate(engine_dicts, args.count, args.repeat)),
        (
            "engine, JSON text (cold parse cache)",
            best_rate(engine_text, args.count, args.repeat, _parse_text_cached.cache_clear),
        ),
        ("floor: json.loads only", best_rate(json_floor, args.count, args.repeat)),
        ("alternative: string matching (wrong)", best_rate(string_matching, args.count, args.repeat)),
    ]
    print(
        f"python {platform.python_version()} on {platform.machine()}, one core, "
        f"{args.count} distinct policies, best of {args.repeat}"
    )
    print(f"verdicts: {dict(answers)}")
    print(f"{'variant':42} {'evaluations/s':>14}")
    for name, rate in rows:
        print(f"{name:42} {rate:14,.0f}")
    goal = 20_000
    print(f"goal >= {goal:,}/s on decoded documents: {'met' if rows[0][1] >= goal else 'NOT met'}")


if __name__ == "__main__":
    main()
