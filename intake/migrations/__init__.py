"""Alembic migrations, run by `testimony init` (and `intake.schema.upgrade`)."""
