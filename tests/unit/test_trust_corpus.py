"""The corpus of trust policies with expected verdicts (tests/fixtures/trust_corpus.json).

Each case carries a one-line reason naming the IAM rule it pins down.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import FIXTURES
from veeam_role_auditor.policy import RISKS, evaluate_trust, make_appliance

CORPUS = json.loads((FIXTURES / "trust_corpus.json").read_text())
DEFAULTS = CORPUS["defaults"]
NOW = datetime.fromisoformat(DEFAULTS["now"])


def _evaluate(case: dict[str, Any]) -> dict[str, Any]:
    appliance_args = {**DEFAULTS["appliance"], **case.get("appliance", {})}
    appliance = make_appliance(
        appliance_args["role_arn"],
        role_id=appliance_args["role_id"],
        org_id=appliance_args["org_id"],
        external_id=appliance_args["external_id"],
        has_boundary=appliance_args.get("has_boundary", False),
    )
    verdict = evaluate_trust(
        case["policy"],
        case.get("role_arn", DEFAULTS["role_arn"]),
        appliance,
        role_tags=case.get("role_tags"),
        now=NOW,
    )
    return verdict.to_dict()


@pytest.mark.parametrize("case", CORPUS["cases"], ids=[case["name"] for case in CORPUS["cases"]])
def test_corpus_case_gives_expected_verdict(case: dict[str, Any]) -> None:
    result = _evaluate(case)
    expected = case["expect"]
    assert (result["appliance_can_assume"], result["via"], result["risks"]) == (
        expected["appliance_can_assume"],
        expected["via"],
        expected["risks"],
    ), case["reason"]
    assert result["reasons"], "every verdict says why"
    for line in case.get("reasons_include", []):
        assert line in result["reasons"]


def test_corpus_covers_every_risk_and_answer() -> None:
    risks = {risk for case in CORPUS["cases"] for risk in case["expect"]["risks"]}
    answers = {case["expect"]["appliance_can_assume"] for case in CORPUS["cases"]}
    vias = {case["expect"]["via"] for case in CORPUS["cases"]}
    assert risks == set(RISKS)
    assert answers == {"yes", "no", "conditional"}
    assert vias == {"role_arn", "account_root", "wildcard", None}


def test_every_corpus_case_has_a_reason() -> None:
    assert all(case["reason"].strip() for case in CORPUS["cases"])


def test_a_case_page_names_the_documentation_it_relies_on() -> None:
    pages = [case["page"] for case in CORPUS["cases"] if "page" in case]
    assert len(pages) >= 40
    assert all(isinstance(page, str) and page.strip() for page in pages)
