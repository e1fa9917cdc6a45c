"""Compatibility shim for the locked celery 5.7 with apache-airflow-providers-celery 3.26.

Celery 5.7 dropped the `retry` decorator from `celery.backends.database` (its backends now
retry on their own), but the provider still imports it, so the CeleryExecutor, the scheduler
and `airflow celery worker` fail at import. The stack harness puts this folder on PYTHONPATH
of the components only while the locked celery lacks `retry`; pinning celery<5.7 (or a
provider release without the import) makes it unnecessary.
"""

from __future__ import annotations

import functools
import time


def _install() -> None:
    try:
        from celery.backends import database
    except ImportError:  # celery or SQLAlchemy absent: nothing imports the provider
        return
    if hasattr(database, "retry"):
        return
    from sqlalchemy.exc import DatabaseError, InterfaceError, InvalidRequestError

    def retry(fun):
        """Call `fun` again (three tries in all) when the result database drops a connection."""

        @functools.wraps(fun)
        def wrapper(*args, **kwargs):
            for attempt in range(2):
                try:
                    return fun(*args, **kwargs)
                except (DatabaseError, InterfaceError, InvalidRequestError):
                    time.sleep(0.5 * (attempt + 1))
            return fun(*args, **kwargs)

        return wrapper

    database.retry = retry


_install()
