"""The Lambda layer holds exactly the modules the two functions import, and they import with nothing else.

The layer is built as ``sam build`` builds it (layers/auditor/Makefile, target build-AuditorLayer, into an
ARTIFACTS_DIR). Lambda gives the functions boto3 (the python3.13 runtime) and Powertools (its AWS-managed
layer); the command line's rich, moto and the development-only modules are not there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.unit.package_imports import PACKAGE, modules, reached_from
from veeam_role_auditor.dev.lambda_site import build_lambda_site

HANDLERS = sorted((ROOT / "functions").glob("*/app.py"))
# Package data the functions read at run time, paths below veeam_role_auditor/: the purpose profiles.
SOURCE = ROOT / "layers" / "auditor" / PACKAGE
DATA_FILES = {path.relative_to(SOURCE).as_posix() for path in (SOURCE / "purposes" / "data").glob("*.json")}


def build_layer(artifacts: Path, *overrides: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``make build-AuditorLayer`` as sam build runs it, into ``artifacts``."""
    command = ["make", "--no-print-directory", "-C", str(ROOT / "layers" / "auditor"), "build-AuditorLayer"]
    return subprocess.run(
        [*command, f"ARTIFACTS_DIR={artifacts}", *overrides],
        check=check,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    artifacts = tmp_path_factory.mktemp("layer")
    build_layer(artifacts, "PY313=")  # sources only, as on a machine without Python 3.13
    return artifacts / "python"


def shipped(layer: Path) -> set[str]:
    package = layer / PACKAGE
    return {path.relative_to(package).as_posix() for path in package.rglob("*") if path.is_file()}


def module_files(names: set[str]) -> set[str]:
    """veeam_role_auditor-relative file paths of dotted module names."""
    paths = modules()
    return {paths[name].relative_to(paths[PACKAGE].parent).as_posix() for name in names}


def test_the_layer_holds_exactly_what_the_functions_import(layer: Path) -> None:
    assert [path.name for path in layer.parent.iterdir()] == ["python"]
    assert [path.name for path in layer.iterdir()] == [PACKAGE]
    files = shipped(layer)
    needed = module_files(reached_from(HANDLERS))
    python = {name for name in files if name.endswith(".py")}
    missing, unneeded = sorted(needed - python), sorted(python - needed)
    assert not missing, f"the functions import these, add them to LAYER_FILES in layers/auditor/Makefile: {missing}"
    assert not unneeded, f"no function imports these, take them out of LAYER_FILES: {unneeded}"
    assert files - python == DATA_FILES


def test_the_layer_leaves_out_the_command_line_and_the_development_modules(layer: Path) -> None:
    files = shipped(layer)
    for module in ("cli.py", "cli_scan.py", "cli_inputs.py", "errors.py", "__main__.py", "policy/limits.py"):
        assert (SOURCE / module).is_file(), module
        assert module not in files, module
    assert (SOURCE / "dev" / "demo.py").is_file()
    assert not [name for name in files if name.startswith("dev/")]
    assert "py.typed" not in files


def test_the_layer_names_what_it_copies_and_stops_on_a_missing_file(tmp_path: Path) -> None:
    makefile = (ROOT / "layers" / "auditor" / "Makefile").read_text()
    assert "cp -R" not in makefile
    done = build_layer(tmp_path, "PY313=", "LAYER_FILES=model.py nothing-here.py", check=False)
    assert done.returncode != 0
    assert "nothing-here.py" in done.stderr
    assert shipped(tmp_path / "python") == {"model.py"}


def test_without_python_313_the_layer_ships_sources_only(tmp_path: Path) -> None:
    output = build_layer(tmp_path, "PY313=").stdout
    assert (tmp_path / "python" / PACKAGE / "policy" / "trust.py").is_file()
    assert not list(tmp_path.rglob("__pycache__"))
    assert "no Python 3.13 found; the layer ships sources only" in output


def _python_313() -> str | None:
    found = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-s",
            "-C",
            str(ROOT / "layers" / "auditor"),
            "-f",
            "Makefile",
            "-f",
            "-",
            "print-py313",
        ],
        input="print-py313:\n\t@echo $(PY313)\n",
        capture_output=True,
        text=True,
        check=True,
    )
    return found.stdout.strip() or None


def test_the_layer_ships_bytecode_for_the_runtime_that_needs_no_source_timestamps(tmp_path: Path) -> None:
    python = _python_313()
    if python is None:
        pytest.skip("no Python 3.13 on this machine: the layer ships sources only (tested above)")
    build_layer(tmp_path, f"PY313={python}")
    package = tmp_path / "python" / PACKAGE
    sources = sorted(package.rglob("*.py"))
    compiled = sorted(package.rglob("*.pyc"))
    assert sorted(path.parent / "__pycache__" / f"{path.stem}.cpython-313.pyc" for path in sources) == compiled
    for path in compiled:
        flags = int.from_bytes(path.read_bytes()[4:8], "little")
        assert flags == 0b01, f"{path}: hash-based and unchecked (PEP 552), so zip timestamps cannot stale it"
    # Python 3.13 loads the layer from its bytecode alone: with the sources emptied, it still imports.
    for path in sources:
        path.write_text("raise ImportError('source read instead of bytecode')\n")
    subprocess.run(
        [python, "-c", "import veeam_role_auditor.policy.trust, veeam_role_auditor.checks"],
        env={"PYTHONPATH": str(tmp_path / "python"), "PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"},
        check=True,
    )


@pytest.fixture(scope="module")
def lambda_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding only boto3 and Powertools with their dependencies, as links to this virtualenv's."""
    return build_lambda_site(tmp_path_factory.mktemp("lambda-site"))


PROBE = """
import importlib, importlib.util, json, pathlib, sys
layer, site, handlers = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.path[:0] = [layer, site]
for path in handlers:
    spec = importlib.util.spec_from_file_location("app_" + pathlib.Path(path).parent.name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
loaded_by_handlers = sorted(name for name in sys.modules if name.split(".")[0] == "veeam_role_auditor")
for path in sorted(pathlib.Path(layer, "veeam_role_auditor").rglob("*.py")):
    parts = path.relative_to(layer).with_suffix("").parts
    importlib.import_module(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
print(json.dumps({
    "handlers_loaded": loaded_by_handlers,
    "files": sorted({getattr(module, "__file__", None) or "" for name, module in sys.modules.items()
                     if name.split(".")[0] == "veeam_role_auditor"}),
    "top_level": sorted({name.split(".")[0] for name in sys.modules}),
}))
"""


def lambda_environment(task_root: Path) -> dict[str, str]:
    """What the Lambda runtime sets; tracing is on (Tracing: Active in template.yaml)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "veeam-role-auditor-probe",
        "LAMBDA_TASK_ROOT": str(task_root),
        "POWERTOOLS_SERVICE_NAME": "veeam-role-auditor",
    }


def run_probe(script: str, environment: dict[str, str], *arguments: str, bytecode: bool = True) -> Any:
    """What ``script`` prints (JSON), run with -I -S (and -B without ``bytecode``) by this interpreter."""
    flags = ["-I", "-S"] if bytecode else ["-I", "-S", "-B"]
    done = subprocess.run(
        [sys.executable, *flags, "-c", script, *arguments], capture_output=True, text=True, env=environment, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_each_function_imports_with_only_the_layer_boto3_and_powertools(layer: Path, lambda_site: Path) -> None:
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "veeam-role-auditor",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    # -I -S: no site-packages (so no rich, moto or editable install of this package), no PYTHON* variables.
    report = run_probe(PROBE, environment, str(layer), str(lambda_site), *map(str, HANDLERS))
    assert "veeam_role_auditor.lambda_app" in report["handlers_loaded"]
    assert all(path.startswith(str(layer)) for path in report["files"]), report["files"]
    assert {"rich", "moto", "yaml", "pytest"}.isdisjoint(report["top_level"])
    assert {"boto3", "botocore", "aws_lambda_powertools"} <= set(report["top_level"])


def test_without_the_layer_a_function_does_not_import(lambda_site: Path, tmp_path: Path) -> None:
    # The probe can fail: an empty layer leaves the handlers' own imports unresolved.
    (tmp_path / PACKAGE).mkdir()
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", PROBE, str(tmp_path), str(lambda_site), str(HANDLERS[0])],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AWS_DEFAULT_REGION": "us-east-1"},
        check=False,
    )
    assert done.returncode != 0
    assert "ModuleNotFoundError: No module named 'veeam_role_auditor." in done.stderr


TRACING_PROBE = """
import importlib.util, json, pathlib, sys
layer, site, path = sys.argv[1:4]
sys.path[:0] = [layer, site]
spec = importlib.util.spec_from_file_location("app", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from aws_xray_sdk.core import patcher
print(json.dumps({"patched": sorted(patcher._PATCHED_MODULES), "sqlite3": "sqlite3" in sys.modules,
                  "disabled": module.tracer.disabled}))
"""


@pytest.mark.parametrize("handler", HANDLERS, ids=lambda path: path.parent.name)
def test_in_lambda_each_function_traces_its_aws_calls_and_patches_nothing_else(
    layer: Path, lambda_site: Path, handler: Path, tmp_path: Path
) -> None:
    report = run_probe(TRACING_PROBE, lambda_environment(tmp_path), str(layer), str(lambda_site), str(handler))
    # botocore's calls become X-Ray subsegments; the SDK's other patches (sqlite3, requests...) would only
    # import those libraries into every cold start.
    assert report == {"patched": ["botocore"], "sqlite3": False, "disabled": False}


BYTECODE_PROBE = """
import importlib.util, json, pathlib, sys
from importlib.machinery import SourceFileLoader
layer, site, handlers = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.path[:0] = [layer, site]
compiled = []
source_to_code = SourceFileLoader.source_to_code
def recorded(loader, data, path, *args, **kwargs):
    compiled.append(str(path))
    return source_to_code(loader, data, path, *args, **kwargs)
SourceFileLoader.source_to_code = recorded
for path in handlers:
    spec = importlib.util.spec_from_file_location("app_" + pathlib.Path(path).parent.name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
print(json.dumps({"compiled": compiled, "modules": sorted(sys.modules)}))
"""


def test_what_lambda_provides_loads_from_its_bytecode(layer: Path, lambda_site: Path, tmp_path: Path) -> None:
    """As in Lambda, whose runtime boto3 and Powertools layer ship bytecode: nothing of the site is compiled
    when the functions start (bench/coldstart_bench.py would otherwise time compiling six and typing_extensions)."""
    handlers = map(str, HANDLERS)
    environment = lambda_environment(tmp_path)
    report = run_probe(BYTECODE_PROBE, environment, str(layer), str(lambda_site), *handlers, bytecode=False)
    assert {"six", "typing_extensions", "aws_lambda_powertools", "boto3"} <= set(report["modules"])
    assert [path for path in report["compiled"] if path.startswith(str(lambda_site))] == []
