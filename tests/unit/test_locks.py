"""The hashed lock files in requirements/ agree with the requirements they are written from (`make lock`)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

REQUIREMENTS = ROOT / "requirements"
PINNED = re.compile(
    r"^([A-Za-z0-9._-]+)==(\S+)(?: ; [^\\]+)? \\\n((?:    --hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", re.M
)


def locked(lock: Path) -> dict[str, list[str]]:
    """Package name -> the versions the lock pins for it (one per Python or platform marker)."""
    pins: dict[str, list[str]] = {}
    for name, version, _ in PINNED.findall(lock.read_text()):
        pins.setdefault(canonicalize_name(name), []).append(version)
    return pins


def requirements_in(source: Path) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in source.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def pyproject_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in project["dependencies"] + project["optional-dependencies"]["dev"]]


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [
        ("dev.txt", pyproject_requirements() + requirements_in(REQUIREMENTS / "build.in")),
        ("sam.txt", requirements_in(REQUIREMENTS / "sam.in")),
        ("checkov.txt", requirements_in(REQUIREMENTS / "checkov.in")),
    ],
)
def test_every_requirement_is_locked_at_a_version_it_accepts(lock: str, requirements: list[Requirement]) -> None:
    pins = locked(REQUIREMENTS / lock)
    for requirement in requirements:
        versions = pins.get(canonicalize_name(requirement.name))
        assert versions, f"{requirement.name} is not in requirements/{lock}: run make lock"
        for version in versions:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"requirements/{lock} pins {requirement.name}=={version}, outside {requirement}: run make lock"
            )


@pytest.mark.parametrize("lock", ["dev.txt", "sam.txt", "checkov.txt"])
def test_every_line_of_a_lock_is_a_hashed_pin(lock: str) -> None:
    text = (REQUIREMENTS / lock).read_text()
    requirement_lines = [line for line in text.splitlines() if line and not line.startswith((" ", "#"))]
    assert len(requirement_lines) == sum(len(versions) for versions in locked(REQUIREMENTS / lock).values())
