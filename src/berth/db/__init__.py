"""Metadata in SQL: models, sessions, Alembic migrations."""
