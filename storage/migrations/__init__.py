"""Alembic migrations of the schema in storage/models.py (run by storage.db.migrate)."""
