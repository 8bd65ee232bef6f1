"""Shared test configuration: hypothesis profiles and paths to fixtures and sample events."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
EVENTS = ROOT / "events"

# "ci" keeps the suite fast; "long" is the large run quoted in notes:
#   HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/unit/test_policy_properties.py
settings.register_profile("ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=100_000, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
