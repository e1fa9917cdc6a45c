"""Every package the code imports is declared in pyproject.toml: the package's own code in
[project] dependencies, the tests and benchmarks in the dev group as well. A module that only
comes in through another package (fastapi through Airflow, pandas through GX) would vanish
the day that package stops bringing it."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ("gospulse", "extractors", "expectations", "emulators", "dags")
DEV = ("tests", "bench")
# our own top-level modules, and the benchmark scripts importing each other
OURS = {*PACKAGE, *DEV, "api_world", "bench_import", "bench_top", "bench_transform",
        "synthetic_federal", "profile_incremental_sql", "profile_change_scores",
        "warehouse_fixtures", "pg_fixtures"}  # fmt: skip


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(*groups: str) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = list(project["project"]["dependencies"])
    for group in groups:
        requirements += project["dependency-groups"][group]
    return {canonical(re.split(r"[\s<>=~!\[;]", r, maxsplit=1)[0]) for r in requirements}


def imported(folders: tuple[str, ...]) -> dict[str, str]:
    """Top-level modules imported (absolute imports) under `folders`: module -> first file."""
    found: dict[str, str] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def undeclared(modules: dict[str, str], allowed: set[str]) -> list[str]:
    """The imports no declared distribution provides, with the file that imports each."""
    provided = importlib.metadata.packages_distributions()
    missing = []
    for module, where in sorted(modules.items()):
        if module in sys.stdlib_module_names or module in OURS or module == "__future__":
            continue
        distributions = {canonical(d) for d in provided.get(module, [])}
        # a meta-package (apache-airflow) declares its parts (apache-airflow-core, -task-sdk)
        if not any(d in allowed or d.rsplit("-", 1)[0] in allowed for d in distributions) and not (
            distributions and any(d.startswith("apache-airflow") for d in distributions)
            and "apache-airflow" in allowed
        ):  # fmt: skip
            missing.append(f"{module} (imported in {where}; from {sorted(distributions)})")
    return missing


def test_the_package_imports_only_what_it_declares():
    assert undeclared(imported(PACKAGE), declared()) == []


def test_tests_and_benchmarks_import_only_what_is_declared_for_development():
    assert undeclared(imported(DEV), declared("dev")) == []


def test_an_import_nobody_declared_is_named_with_its_file():
    modules = {"pandas": "gospulse/x.py", "yaml": "gospulse/y.py", "json": "gospulse/z.py"}
    without_pandas = declared() - {"pandas"}
    assert undeclared(modules, without_pandas) == [
        "pandas (imported in gospulse/x.py; from ['pandas'])"
    ]
