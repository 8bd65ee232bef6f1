"""What a function finds importable in Lambda besides the layer: the runtime's boto3 and the Powertools layer.

:func:`build_lambda_site` fills a folder with links to exactly those distributions (and what they require)
in this virtualenv, nothing else: no rich, moto or requests. Run an interpreter with ``-I -S`` (no
site-packages, no ``PYTHON*`` variables) and that folder on ``sys.path``, and a handler imports what it would
import in Lambda. tests/unit/test_layer.py and bench/coldstart_bench.py use it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from pathlib import Path

from packaging.requirements import Requirement

# Lambda's python3.13 runtime provides boto3; the AWS-managed Powertools layer provides Powertools with all
# its extras, of which the functions use the tracer (aws-xray-sdk).
PROVIDED = {"boto3": set(), "aws-lambda-powertools": {"tracer"}}


def requirements(distribution: str, extras: set[str]) -> set[str]:
    """The distributions ``distribution[extras]`` installs, itself included (this machine's markers)."""
    found: set[str] = set()
    todo = [(distribution, extras)]
    while todo:
        name, wanted = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        found.add(key)
        for line in importlib.metadata.requires(name) or []:
            requirement = Requirement(line)
            environments = [{"extra": extra} for extra in wanted | {""}]
            if requirement.marker is None or any(requirement.marker.evaluate(env) for env in environments):
                todo.append((requirement.name, set(requirement.extras)))
    return found


def top_level(distribution: str) -> set[str]:
    """The importable names a distribution installs (packages and single-file modules)."""
    files = importlib.metadata.files(distribution) or []
    names = set()
    for file in files:
        first = file.parts[0]
        if first.endswith((".dist-info", ".egg-info", ".pth")) or first in ("..", "__pycache__", "bin"):
            continue
        names.add(first[: -len(".py")] if first.endswith(".py") else first)
    return {name for name in names if name.isidentifier()}


def build_lambda_site(site: Path) -> Path:
    """``site`` holding only what Lambda provides (:data:`PROVIDED`), as links to this virtualenv's files.

    With their bytecode, as Lambda has it: the runtime's boto3 and the Powertools layer ship compiled files
    (the layer's canary fails when a cold start compiles any of its sources). A package's ``__pycache__``
    comes with its folder; a single-file module's (six.py, typing_extensions.py) sits in site-packages'
    own ``__pycache__``, linked here beside the module, or each interpreter would compile it again.
    """
    site.mkdir(parents=True, exist_ok=True)
    for distribution, extras in PROVIDED.items():
        for name in requirements(distribution, extras):
            located = importlib.metadata.distribution(name)
            for top in top_level(name):
                source = Path(str(located.locate_file(top)))
                source = source if source.exists() else source.with_suffix(".py")
                target = site / source.name
                if source.exists() and not target.exists():
                    target.symlink_to(source)
                    if source.is_file():
                        _link_bytecode(source, target)
    return site


def _link_bytecode(source: Path, target: Path) -> None:
    """Link ``source``'s bytecode where the interpreter looks for ``target``'s (valid: same mtime and size)."""
    compiled = Path(importlib.util.cache_from_source(str(source)))
    if compiled.exists():
        linked = Path(importlib.util.cache_from_source(str(target)))
        linked.parent.mkdir(exist_ok=True)
        if not linked.exists():
            linked.symlink_to(compiled)
