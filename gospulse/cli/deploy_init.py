"""One-off set-up steps of the docker compose deployment (run by its `airflow-init` service).

Airflow 3's default SimpleAuthManager invents a password for every configured user it finds
without one and prints it to the api-server log. A deployment should not have a secret in its
logs, so the init service writes the admin's password from `.env` into the passwords file
before the api-server starts; the api-server then finds the user and generates nothing.

    python -m gospulse.cli.deploy_init
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

PASSWORDS_FILE_ENV = "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
ADMIN_USER_ENV = "AIRFLOW_ADMIN_USER"
ADMIN_PASSWORD_ENV = "AIRFLOW_ADMIN_PASSWORD"


class DeployConfigError(ValueError):
    """A deployment setting is missing or unusable; the message names the variable."""


def write_auth_password(path: Path, user: str, password: str) -> None:
    """Set `user`'s password in a SimpleAuthManager passwords file, keeping other users."""
    if not user:
        raise DeployConfigError(f"{ADMIN_USER_ENV} is empty: name the Airflow admin user")
    if not password:
        raise DeployConfigError(f"{ADMIN_PASSWORD_ENV} is empty: set it in .env")
    passwords: dict[str, str] = {}
    if path.exists():
        text = path.read_text(encoding="utf-8").strip()
        try:
            passwords = json.loads(text) if text else {}
        except json.JSONDecodeError as exc:
            raise DeployConfigError(f"{path} is not a JSON object of user passwords") from exc
        if not isinstance(passwords, dict):
            raise DeployConfigError(f"{path} is not a JSON object of user passwords")
    passwords[user] = password
    path.parent.mkdir(parents=True, exist_ok=True)
    # created 0600: the file holds plaintext passwords (how SimpleAuthManager keeps them)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(json.dumps(passwords) + "\n")
    os.chmod(path, 0o600)


def main(env: dict[str, str] | None = None) -> int:
    """Write the admin password named by the environment; exit 1 with the reason otherwise."""
    env = dict(os.environ) if env is None else env
    target = env.get(PASSWORDS_FILE_ENV, "")
    try:
        if not target:
            raise DeployConfigError(f"{PASSWORDS_FILE_ENV} is not set")
        write_auth_password(
            Path(target), env.get(ADMIN_USER_ENV, "admin"), env.get(ADMIN_PASSWORD_ENV, "")
        )
    except DeployConfigError as exc:
        print(f"deploy init: {exc}", file=sys.stderr)
        return 1
    # the user's name only; the password never reaches a log
    print(f"deploy init: Airflow user {env.get(ADMIN_USER_ENV, 'admin')!r} set in {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
