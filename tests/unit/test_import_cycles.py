"""The package's modules import each other without cycles, lazy imports included (tests/unit/package_imports.py)."""

from __future__ import annotations

from tests.unit.package_imports import cycles, graph


def test_no_module_of_the_package_imports_itself_through_others() -> None:
    found = cycles(graph())
    assert found == [], "import cycles (break them with a module both sides can import, as errors.py does):\n" + (
        "\n".join(" <-> ".join(component) for component in found)
    )


def test_the_cycle_finder_finds_lazy_and_package_cycles() -> None:
    # cli -> cli_scan lazily and cli_scan -> cli at the top: the cycle this package had (issue 13).
    assert cycles({"cli": {"cli_scan", "text"}, "cli_scan": {"cli"}, "text": set()}) == [["cli", "cli_scan"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_reads_lazy_imports_and_skips_type_checking_ones() -> None:
    edges = graph()
    # cli imports cli_scan inside command_scan (lazily): still an edge.
    assert "veeam_role_auditor.cli_scan" in edges["veeam_role_auditor.cli"]
    # cli_scan imports rich only under TYPE_CHECKING or lazily; the package's own modules are what counts.
    assert "veeam_role_auditor.cli" not in edges["veeam_role_auditor.cli_scan"]
    # `from .publish.state import X` runs publish/__init__.py first: an edge to the package too.
    assert {"veeam_role_auditor.publish", "veeam_role_auditor.publish.state"} <= edges["veeam_role_auditor.lambda_app"]
