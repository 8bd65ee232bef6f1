"""The Lambda handlers of a checkout (functions/*/app.py), loaded and called as Lambda does, outside Lambda:
for the demo, the tests and the benchmarks."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

# layers/auditor/veeam_role_auditor/dev/handlers.py: the checkout is four folders up.
ROOT = Path(__file__).resolve().parents[4]
FUNCTIONS = ROOT / "functions"
EVENTS = ROOT / "events"


@dataclass
class LocalContext:
    """The attributes of the context object Lambda passes to a Python handler."""

    function_name: str
    account: str = "123456789012"
    region: str = "us-east-1"
    partition: str = "aws"
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    remaining_ms: int = 900_000

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:{self.partition}:lambda:{self.region}:{self.account}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def load_handler(function: str, *, name: str | None = None) -> ModuleType:
    """A fresh copy of functions/<function>/app.py, as a cold start loads it: its own clients, metrics and
    module state. It is registered in ``sys.modules`` as ``name`` (default ``handler_<function>``); give
    each copy that must live beside another its own name."""
    path = FUNCTIONS / function / "app.py"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the handlers are loaded from a checkout of the repository")
    spec = importlib.util.spec_from_file_location(name or f"handler_{function}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} cannot be loaded as a module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def load_event(name: str) -> Any:
    """A sample event of events/ (a path below it: ``cloudtrail/UpdateAssumeRolePolicy.json``)."""
    return json.loads((EVENTS / name).read_text())
