"""Soak: a long model-based run of the real handlers on moto against the independent oracle.

Run by hand:
    .venv/bin/python bench/soak.py --roles 2000 --rounds 50 --seed 1

The same driver and oracle as tests/integration/test_model_based.py (tests/integration/model_based.py),
at size: an account of ``--roles`` random roles (random trust-policy templates, 75% tagged for Veeam),
a first scheduled scan, then ``--rounds`` rounds of random IAM changes delivered as CloudTrail events
(sometimes twice, sometimes not at all), delayed re-checks from the SQS queue (shuffled, batched,
duplicated) and scheduled scans. After every round the active Security Hub findings and the alerts
received must equal the oracle's exactly; a last, settling round (the queued re-checks and a scan, with
no change) must import and alert nothing. Prints one line per round; exits 1 on the first divergence
with the seed, the round, the round's change log and the diff (replay with the same arguments).

moto runs in-process (``mock_aws``); most of the time goes to moto serializing the state table's Scan
during each full scan (about 2 ms per item), so a round of a 2,000-role account takes tens of seconds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

from moto import mock_aws

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration.model_based import ROOT, Divergence, Knobs, World


def _fake_credentials() -> None:
    """Fake credentials and region, so nothing can ever reach a real account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        os.environ[name] = value
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)


def _code_state() -> str:
    """Which code ran: the commit and whether the working tree differed from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    changed = [line[3:] for line in dirty if line.strip()]
    return head + (f" with {len(changed)} modified files: {', '.join(changed)}" if changed else " (clean)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--roles", type=int, default=2000, help="roles created before the first scan")
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--changes", type=int, nargs=2, default=(10, 30), metavar=("MIN", "MAX"))
    parser.add_argument(
        "--all-delivered-rounds",
        type=float,
        default=0.3,
        help="share of rounds whose changes all arrive as events (no scan forced); 0 replays runs made before",
    )
    parser.add_argument(
        "--instance-profile-toggles",
        type=float,
        default=0.05,
        help="share of rounds that take the appliance out of (or back into) its instance profile; 0 as before",
    )
    parser.add_argument("--min-alert-severity", default="MEDIUM")
    parser.add_argument("--digest-threshold", type=int, default=100_000, help="high: one message per transition")
    parser.add_argument(
        "--verify-every", type=int, default=10, help="cross-check Security Hub through GetFindings every N rounds"
    )
    args = parser.parse_args()
    _fake_credentials()
    # Powertools warns when an invocation adds no metric (an event for a role never audited): expected.
    warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
    print(f"code: {_code_state()}", flush=True)
    print(
        f"seed {args.seed}: {args.roles} roles, {args.rounds} rounds, {args.changes[0]}-{args.changes[1]} changes "
        f"per round ({args.all_delivered_rounds:.0%} of rounds all by event), alerts at {args.min_alert_severity} "
        f"and above, digest above {args.digest_threshold}",
        flush=True,
    )
    started = time.perf_counter()
    with mock_aws():
        world = World(
            seed=args.seed,
            roles=args.roles,
            setenv=os.environ.__setitem__,
            unsetenv=lambda name: os.environ.pop(name, None),
            min_alert_severity=args.min_alert_severity,
            digest_threshold=args.digest_threshold,
            knobs=Knobs(
                changes_per_round=(args.changes[0], args.changes[1]),
                all_delivered_round=args.all_delivered_rounds,
                instance_profile_toggle=args.instance_profile_toggles,
            ),
            verify_security_hub_api_every=args.verify_every,
            progress=lambda line: print(line, flush=True),
        )
        try:
            stats = world.run(args.rounds)
        except Divergence as divergence:
            print(str(divergence), flush=True)
            print(f"totals before the divergence: {world.stats.summary()}", flush=True)
            print(f"wall time {time.perf_counter() - started:.0f} s", flush=True)
            return 1
    totals = stats.summary()
    print("no divergence", flush=True)
    parts = [
        f"rounds {totals['rounds'] - 2} (+ the initial scan and the settling round)",
        f"changes {totals['changes']}",
        f"events delivered {totals['events']}",
        f"duplicate events {totals['duplicates']} ({totals['late_duplicates']} a round late)",
        f"re-checks {totals['rechecks']} in {totals['recheck_batches']} batches "
        f"({totals['recheck_duplicates']} duplicated)",
        f"scheduled scans {totals['scans']}",
        f"full scans in all {totals['full_scans']}",
        f"findings compared {totals['findings_compared']}",
        f"alerts compared {totals['alerts']} ({totals['digests']} digests)",
        f"GetFindings cross-checks {totals['security_hub_api_checks']}",
        "divergences 0",
    ]
    print(", ".join(parts), flush=True)
    print(f"wall time {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
