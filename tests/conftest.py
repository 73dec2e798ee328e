"""The database every storage-touching test runs on: SQLite always, PostgreSQL when available.

`.ci/run` starts a local PostgreSQL and sets RESETBOT_TEST_POSTGRES_URL; each test then
gets a fresh database of its own. Without it the PostgreSQL runs are skipped, so a
developer without PostgreSQL still gets the SQLite run.
"""

from __future__ import annotations

import os
import secrets

import pytest
import sqlalchemy as sa
from hypothesis import settings

# CI explores the same examples every run (a red build is then reproducible); developers get new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

POSTGRES_URL = os.environ.get("RESETBOT_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def fresh_postgres_database() -> tuple[str, callable]:
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = "rb_" + secrets.token_hex(6)
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'resetbot.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("RESETBOT_TEST_POSTGRES_URL is not set (.ci/run starts a PostgreSQL)")
    url, drop = fresh_postgres_database()
    try:
        yield url
    finally:
        drop()
