"""Runs devtools/oracle/decide.mjs (Node, @cloud-copilot/iam-simulate) as one long-lived process."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PREFIX = ROOT / "build" / "oracle"
PACKAGE = PREFIX / "node_modules" / "@cloud-copilot" / "iam-simulate" / "package.json"


def installed() -> bool:
    """Whether `make oracle` has installed the package and Node is on PATH."""
    return PACKAGE.is_file() and shutil.which("node") is not None


def version() -> str:
    return str(json.loads(PACKAGE.read_text())["version"])


class Oracle:
    """Sends cases to the Node process, one JSON line each, and reads its answers in order."""

    def __init__(self) -> None:
        node = shutil.which("node")
        assert node is not None
        self._process = subprocess.Popen(  # noqa: S603 - a fixed script of this repository
            [node, str(HERE / "decide.mjs")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={"PATH": str(Path(node).parent), "ORACLE_PREFIX": str(PREFIX)},
        )
        self._next_id = 0

    def decide(self, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The oracle's answer for each case: {"result": Allowed|ExplicitlyDenied|ImplicitlyDenied|error}."""
        process = self._process
        assert process.stdin is not None
        assert process.stdout is not None
        numbered = []
        for case in cases:
            self._next_id += 1
            numbered.append({**case, "id": self._next_id})
        # Write from a thread: a large batch would otherwise fill both pipes and block.
        payload = "".join(json.dumps(case) + "\n" for case in numbered)
        writer = threading.Thread(target=self._write, args=(payload,))
        writer.start()
        answers = [json.loads(process.stdout.readline()) for _ in numbered]
        writer.join()
        for case, answer in zip(numbered, answers, strict=True):
            assert answer["id"] == case["id"], "the oracle answered out of order"
        return answers

    def _write(self, payload: str) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(payload)
        self._process.stdin.flush()

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=30)
