"""Zip deploy/superset/dashboard/ into the bundle `superset import-dashboards -p` reads.

Run by the superset service of docker-compose.yml at every start (the Superset image's own
Python, with its PyYAML) and by tests/test_dashboard.py. Usage:

    BI_DB_PASSWORD=... python build_bundle.py SOURCE_DIR TARGET_ZIP
"""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

import yaml

# Superset strips the first folder off every name in the ZIP (remove_root in
# superset/commands/importers/v1/utils.py): its exports put one there, so the bundle needs one
BUNDLE_ROOT = "gospulse_dashboard"
PASSWORD_ENV = "BI_DB_PASSWORD"


def with_password(text: str, password: str, where: str) -> str:
    """A database YAML of the bundle with `password` added.

    The first import needs it: ImportV1DatabaseSchema.validate_password refuses a masked URI
    without a password unless a database with the file's uuid exists, and the one
    `superset set-database-uri` created has a random uuid. Only the temporary ZIP holds it.
    """
    config = yaml.safe_load(text)
    if not isinstance(config, dict) or "sqlalchemy_uri" not in config:
        raise ValueError(f"{where}: not a Superset database file (no sqlalchemy_uri)")
    config["password"] = password
    return yaml.safe_dump(config, allow_unicode=True, sort_keys=False)


def build_bundle(source: Path, target: Path, password: str) -> list[str]:
    """Write every YAML file under source into the ZIP target; returns their bundle paths."""
    files = sorted(source.rglob("*.yaml"))
    names = [path.relative_to(source).as_posix() for path in files]
    if "metadata.yaml" not in names:
        raise ValueError(f"{source}: no metadata.yaml, so Superset would not read a v1 bundle")
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for path, name in zip(files, names, strict=True):
            text = path.read_text(encoding="utf-8")
            if name.startswith("databases/"):
                text = with_password(text, password, str(path))
            bundle.writestr(f"{BUNDLE_ROOT}/{name}", text)
    return names


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    password = os.environ.get(PASSWORD_ENV, "")
    if not password:
        print(f"set {PASSWORD_ENV}: the bundle's database needs it", file=sys.stderr)
        return 2
    names = build_bundle(Path(argv[0]), Path(argv[1]), password)
    print(f"{argv[1]}: {len(names)} files from {argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
