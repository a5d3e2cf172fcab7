"""The import rules of docs/architecture.md, checked on the source (every import, including the
ones inside functions)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("policy_core", "api", "scheduler")
# the composition root and the command line it serves
COMPOSITION = {"policy_core.bootstrap", "policy_core.cli", "policy_core.projections.cli"}
# the rules as pure functions, and the plain constants and errors they share
PURE = ("policy_core.calendar", "policy_core.rating", "policy_core.settlement", "policy_core.bank")
SHARED = ("policy_core.errors", "policy_core.bounds")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module imported, names imported from it) for every import statement in the file."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [a.name for a in node.names]
            found.append((target, names))
            # ``from . import x`` imports the submodule x
            found.extend((f"{target}.{n}", []) for n in names)
    return found


def _graph() -> dict[str, list[tuple[str, list[str]]]]:
    graph = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            graph[_module_name(path)] = _imports(path)
    return graph


GRAPH = _graph()


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _violations(modules: list[str], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{m} imports {target}"
        for m in modules
        for target, _ in GRAPH[m]
        if any(_within(target, f) for f in forbidden)
    ]


def test_the_walk_sees_the_packages_and_their_lazy_imports() -> None:
    assert {"policy_core.application", "api.main", "scheduler.jobs"} <= GRAPH.keys()
    # an import inside a function counts: the composition root imports the API lazily
    assert any(t == "api.main" for t, _ in GRAPH["policy_core.bootstrap"])


def test_policy_core_imports_neither_api_nor_scheduler_outside_the_composition_root() -> None:
    core = [m for m in GRAPH if _within(m, "policy_core") and m not in COMPOSITION]
    assert _violations(core, ("api", "scheduler")) == []


def test_api_imports_neither_the_scheduler_nor_the_projection_runner() -> None:
    api = [m for m in GRAPH if _within(m, "api")]
    runner = (
        "scheduler",
        "policy_core.projections.runner",
        "policy_core.projections.engine",
        "policy_core.projections.maintenance",
        "policy_core.cli",
    )
    assert _violations(api, runner) == []


def test_api_takes_only_the_runtime_type_from_the_composition_root() -> None:
    uses = [
        (m, names)
        for m in GRAPH
        if _within(m, "api")
        for target, names in GRAPH[m]
        if target == "policy_core.bootstrap"
    ]
    assert uses, "api.deps names the Runtime type"
    assert all(names == ["Runtime"] for _, names in uses), uses


def test_scheduler_and_projections_never_import_the_api_or_the_composition_root() -> None:
    modules = [
        m
        for m in GRAPH
        if (_within(m, "scheduler") or _within(m, "policy_core.projections")) and m not in COMPOSITION
    ]
    assert _violations(modules, ("api", "policy_core.bootstrap", "policy_core.cli")) == []


def test_use_cases_and_aggregates_know_nothing_of_reads_models_or_adapters() -> None:
    inner = [m for m in GRAPH if _within(m, "policy_core.usecases") or _within(m, "policy_core.aggregates")]
    outer = ("api", "scheduler", "policy_core.projections", "policy_core.bootstrap", "policy_core.cli")
    assert _violations(inner, outer) == []


def test_aggregates_do_not_import_the_application() -> None:
    aggregates = [m for m in GRAPH if _within(m, "policy_core.aggregates")]
    assert _violations(aggregates, ("policy_core.application", "policy_core.usecases")) == []


def test_the_pure_rules_use_the_standard_library_and_each_other_only() -> None:
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    bad = [
        f"{m} imports {target}"
        for m in PURE
        for target, _ in GRAPH[m]
        if target.split(".")[0] not in stdlib and not any(_within(target, p) for p in PURE + SHARED)
    ]
    assert bad == []
