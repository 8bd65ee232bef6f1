"""Differential test: the trust engine against @cloud-copilot/iam-simulate, a second implementation.

Not in CI: `make differential` (after `make oracle`). Generated trust policies over the keys the engine
models are decided by the engine once, and by the oracle in several concrete requests drawn from what the
engine knows (worlds.py). A "yes" or "no" must be the oracle's answer in every world; a disagreement fails
unless known_errors.py names it (the oracle's documented-wrong behaviours, each with its page) or it falls
where the guide is silent (policy.limits), which is counted and reported. A "conditional" is not compared;
the report counts how often the worlds drawn for it did get different answers.

DIFFERENTIAL_EXAMPLES (policies, default 2000), DIFFERENTIAL_WORLDS (per policy, default 4) and
DIFFERENTIAL_EXPLORE=1 (record every unexplained disagreement instead of stopping at the first) tune a run.
The statistics are printed and written to build/oracle/differential-report.json.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import generate
import oracle_client
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from known_errors import GUIDE_SILENT, KNOWN_ERRORS, Case
from worlds import draw_world, oracle_case

from veeam_role_auditor.policy import evaluate_trust, make_appliance, parse_policy, parse_role_arn
from veeam_role_auditor.policy.context import RequestContext

pytestmark = pytest.mark.skipif(not oracle_client.installed(), reason="the oracle is not installed: make oracle")

EXAMPLES = int(os.environ.get("DIFFERENTIAL_EXAMPLES", "2000"))
WORLDS = int(os.environ.get("DIFFERENTIAL_WORLDS", "4"))
EXPLORE = os.environ.get("DIFFERENTIAL_EXPLORE") == "1"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
APPLIANCE = make_appliance(generate.APPLIANCE_ARN, role_id=generate.ROLE_ID, org_id=generate.ORG)
ROLE = parse_role_arn(generate.ROLE_ARN)
REPORT = oracle_client.PREFIX / "differential-report.json"


@dataclass
class Stats:
    policies: int = 0
    decided: int = 0  # (policy, world) pairs the engine answers yes or no for
    agreements: int = 0
    known: Counter[str] = field(default_factory=Counter)
    guide_silent: Counter[str] = field(default_factory=Counter)
    unexplained: int = 0
    conditional_worlds: int = 0
    conditional_policies: int = 0
    conditional_policies_split: int = 0  # the worlds drawn got both answers from the oracle
    oracle_errors: int = 0
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def keep(self, family: str, example: dict[str, Any]) -> None:
        kept = self.examples.setdefault(family, [])
        if len(kept) < 3:
            kept.append(example)

    def summary(self) -> dict[str, Any]:
        explained = sum(self.known.values()) + sum(self.guide_silent.values())
        return {
            "oracle": f"@cloud-copilot/iam-simulate {oracle_client.version()}",
            "policies": self.policies,
            "decided_cases": self.decided,
            "agreements": self.agreements,
            "agreement_rate": round(self.agreements / self.decided, 4) if self.decided else None,
            "agreement_rate_outside_known_oracle_errors": round(
                self.agreements / (self.decided - sum(self.known.values())), 4
            )
            if self.decided
            else None,
            "agreement_rate_outside_known_errors_and_guide_silence": round(
                self.agreements / (self.decided - explained), 4
            )
            if self.decided - explained
            else None,
            "disagreements_known_oracle_errors": dict(self.known),
            "disagreements_where_the_guide_is_silent": dict(self.guide_silent),
            "disagreements_unexplained": self.unexplained,
            "conditional": {
                "policies": self.conditional_policies,
                "worlds": self.conditional_worlds,
                "policies_whose_worlds_got_both_answers": self.conditional_policies_split,
            },
            "oracle_errors": self.oracle_errors,
            "examples": self.examples,
        }


def explained_by(
    oracle: oracle_client.Oracle, case: Case, principal: str, values: dict[str, Any], engine_answer: str
) -> tuple[str, bool] | None:
    """What explains a disagreement: (names, whether only the oracle's known errors), or None.

    Explained means: rewritten as the page (or, where the guide is silent, the engine) reads it
    (``neutralize``), the policy gets the same answer from the engine, and the oracle, asked again in the
    same world, now agrees. Each applicable rewrite alone first, then every applicable one together.
    """
    applicable = [item for item in (*KNOWN_ERRORS, *GUIDE_SILENT) if item.applies(case)]
    attempts = [[item] for item in applicable]
    if len(applicable) > 1:
        attempts.append(applicable)
    for items in attempts:
        document = case.document
        for item in items:
            document = item.neutralize(document, case, values)
        again = evaluate_trust(document, ROLE, APPLIANCE, role_tags=generate.ROLE_TAGS, now=NOW)
        if again.appliance_can_assume != engine_answer:
            continue  # not the same policy for the engine: the rewrite explains nothing
        (answer,) = oracle.decide([oracle_case(document, principal, ROLE, values)])
        if (answer["result"] == "Allowed") == (engine_answer == "yes"):
            return "+".join(item.name for item in items), all(item in KNOWN_ERRORS for item in items)
    return None


def test_the_engine_agrees_with_iam_simulate_outside_its_documented_errors() -> None:
    oracle = oracle_client.Oracle()
    stats = Stats()

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(generate.trust_policies(), st.randoms(use_true_random=False))
    def check(document: dict[str, Any], rng: Any) -> None:
        policy = parse_policy(document, "trust")
        if not all("NotPrincipal" in error for error in policy.errors):
            return  # the generator writes valid policies but for NotPrincipal; malformed ones are the corpus's
        verdict = evaluate_trust(document, ROLE, APPLIANCE, role_tags=generate.ROLE_TAGS, now=NOW)
        drawn = [draw_world(policy, APPLIANCE, ROLE, generate.ROLE_TAGS, NOW, rng) for _ in range(WORLDS)]
        answers = oracle.decide([oracle_case(document, principal, ROLE, values) for principal, values in drawn])
        stats.policies += 1
        if any(answer["result"] == "error" for answer in answers):
            stats.oracle_errors += 1
            stats.keep("oracle_error", {"policy": document, "detail": answers[0].get("detail")})
            return
        allowed = [answer["result"] == "Allowed" for answer in answers]
        if verdict.appliance_can_assume == "conditional":
            stats.conditional_policies += 1
            stats.conditional_worlds += len(drawn)
            stats.conditional_policies_split += len(set(allowed)) > 1
            return
        expected = verdict.appliance_can_assume == "yes"
        context = RequestContext(APPLIANCE, resource=ROLE, resource_tags=generate.ROLE_TAGS, now=NOW)
        case = Case(document, policy, APPLIANCE, context)
        for (principal, values), oracle_allows in zip(drawn, allowed, strict=True):
            stats.decided += 1
            if oracle_allows == expected:
                stats.agreements += 1
                continue
            example = {"policy": document, "engine": verdict.appliance_can_assume, "context": values}
            explanation = explained_by(oracle, case, principal, values, verdict.appliance_can_assume)
            if explanation is not None:
                names, oracle_errors_only = explanation
                (stats.known if oracle_errors_only else stats.guide_silent)[names] += 1
                stats.keep(names, example)
            else:
                stats.unexplained += 1
                stats.keep("unexplained", {**example, "reasons": list(verdict.reasons)})
                if not EXPLORE:
                    raise AssertionError(
                        f"engine says {verdict.appliance_can_assume}, iam-simulate says"
                        f" {'Allowed' if oracle_allows else 'denied'}:\n{json.dumps(example, indent=1)}"
                    )

    try:
        check()
    finally:
        oracle.close()
        summary = stats.summary()
        REPORT.write_text(json.dumps(summary, indent=1) + "\n")
        printed = {key: value for key, value in summary.items() if key != "examples"}
        print("\ndifferential run:", json.dumps(printed, indent=1), f"\n(examples in {REPORT})")
    assert stats.unexplained == 0
