"""The dbt manifest the daily DAG renders its dbt tasks from (`gospulse dbt manifest`).

Airflow parses DAG files every few seconds; running `dbt ls` or `dbt parse` there would cost
seconds per parse and need dbt on the dag-processor. The manifest is written once, when the
package is installed (`make env`, the Docker image build), and the DAG only reads it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from gospulse.config import settings
from gospulse.config.dbt_project import project_dir
from gospulse.transform.run import run_dbt

MANIFEST_ENV = "GOSPULSE_DBT_MANIFEST"
MANIFEST_COMMAND = "gospulse dbt manifest"

# dbt resource types that become Airflow tasks (sources and unit tests ride along with models)
RENDERED_TYPES = ("model", "snapshot", "seed")


class ManifestMissing(FileNotFoundError):
    """The manifest file is absent: the message says which command writes it."""


def manifest_path() -> Path:
    """$GOSPULSE_DBT_MANIFEST, else dbt_project/target/manifest.json of the installed project."""
    override = settings.read(MANIFEST_ENV)
    return Path(override) if override else project_dir() / "target" / "manifest.json"


def require_manifest() -> Path:
    """The manifest path, or ManifestMissing naming the command that writes it."""
    path = manifest_path()
    if not path.is_file():
        raise ManifestMissing(
            f"dbt manifest not found at {path}: run `{MANIFEST_COMMAND}` "
            f"(`make env` runs it; the path comes from {MANIFEST_ENV})"
        )
    return path


def write_manifest(dest: Path | None = None) -> Path:
    """Run `dbt parse` on the project and put its manifest.json at dest (default manifest_path).

    dbt parses into a scratch directory and the file is moved into place in one rename, so a
    dag-processor parsing meanwhile reads the old manifest or the new one, never half of one.
    """
    dest = Path(dest) if dest is not None else manifest_path()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gospulse-dbt-parse-") as scratch:
        # parse never opens the warehouse; the path only fills the profile's env_var()
        result = run_dbt(["parse"], warehouse=Path(scratch) / "parse.duckdb")
        assert result.target_dir is not None  # run_dbt always says where dbt wrote
        written = result.target_dir / "manifest.json"
        if not written.is_file():
            raise FileNotFoundError(f"dbt parse wrote no manifest.json into {result.target_dir}")
        staged = dest.with_name(f".{dest.name}.tmp")
        shutil.copyfile(written, staged)
        staged.replace(dest)
    return dest


def manifest_nodes(path: Path, resource_types: tuple[str, ...] = RENDERED_TYPES) -> set[str]:
    """unique_ids of the project's enabled nodes of these resource types in a manifest."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    project = data["metadata"].get("project_name")
    nodes = {**data["nodes"], **data.get("unit_tests", {})}
    return {
        uid
        for uid, node in nodes.items()
        if node["resource_type"] in resource_types
        and (project is None or node.get("package_name") == project)
    }
