"""`make lint`, CI and the pre-commit hooks run the same checks, and the import contracts
hold only the exceptions listed in pyproject (each a module issue 34 still has to move)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).parent.parent


def lint_commands() -> list[str]:
    """The tools `make lint` runs, by name (`ruff check`, `ruff format --check`, …)."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    return [
        re.sub(r"^\$\(BIN\)/", "", line.strip())
        for line in recipe.splitlines()[1:]
        if line.startswith("\t")
    ]


def test_pre_commit_runs_what_make_lint_runs():
    hooks = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    entries = [
        re.sub(r"^\.venv/bin/", "", hook["entry"]).replace(" --force-exclude", "")
        for repo in hooks["repos"]
        for hook in repo["hooks"]
    ]
    commands = lint_commands()
    assert {"lint-imports", "ruff check .", "mypy"} <= set(commands)
    assert "sqlfluff lint dbt_project --processes 2" in commands
    assert sorted(entries) == sorted(c.removesuffix(" .") for c in commands)


def test_every_ignored_import_names_a_module_that_exists():
    """An exception whose module was moved or deleted must go from the list, or the contract
    would keep allowing an import nobody makes."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    assert {c["name"] for c in contracts} >= {
        "only orchestration imports airflow or cosmos",
        "emulators import nothing from gospulse",
    }
    for contract in contracts:
        for rule in contract.get("ignore_imports", []):
            importer = rule.split(" -> ")[0]
            path = ROOT / importer.replace(".", "/")
            assert path.with_suffix(".py").is_file() or (path / "__init__.py").is_file(), rule
