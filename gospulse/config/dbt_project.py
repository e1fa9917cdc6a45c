"""Where the dbt project is, for every stage that reads it: the runs of dbt (gospulse.transform),
the raw gate's and the ranking's thresholds in its vars."""

from __future__ import annotations

from pathlib import Path

from gospulse.config import settings

PROJECT_DIR_ENV = "GOSPULSE_DBT_PROJECT_DIR"


def project_dir() -> Path:
    """The dbt project: $GOSPULSE_DBT_PROJECT_DIR, else dbt_project/ next to the package."""
    override = settings.read(PROJECT_DIR_ENV)
    path = Path(override) if override else Path(__file__).resolve().parents[2] / "dbt_project"
    if not (path / "dbt_project.yml").is_file():
        raise FileNotFoundError(f"no dbt_project.yml in {path} (set {PROJECT_DIR_ENV})")
    return path
