"""Schema changes go through Alembic: an existing database upgrades in place, and migrating twice is a no-op."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from storage.db import MIGRATIONS, make_engine, migrate


def _upgrade_to(engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_a_database_of_the_first_schema_upgrades_keeping_its_rows(database_url):
    engine = make_engine(database_url)
    try:
        _upgrade_to(engine, "0001")
        with engine.begin() as db:
            db.execute(sa.text("insert into role_assignments (user_id, role, provider_scope, granted_at) "
                               "values ('U0OLD00001', 'approver', '*', CURRENT_TIMESTAMP)"))
        migrate(engine)
        migrate(engine)  # what every `resetbot run` does on start
        with engine.connect() as db:
            assert db.execute(sa.text("select user_id from role_assignments")).scalars().all() == ["U0OLD00001"]
            columns = {c["name"] for c in sa.inspect(db).get_columns("reset_requests")}
            version = db.execute(sa.text("select version_num from alembic_version")).scalar()
        assert "customer_informed_at" in columns and version == "0002"
    finally:
        engine.dispose()
