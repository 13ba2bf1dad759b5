"""The schema comes only from migrations, and the migrations match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from extensions import db


def test_migrations_match_the_models(ctx):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": True}
        )
        differences = compare_metadata(context, db.metadata)
    assert differences == [], f"run `flask db migrate`: models and migrations differ: {differences}"


def test_jobs_queued_before_the_wrappers_went_still_run():
    """Migration 0021 renames the rows of jobs queued under the old `workers.*` wrappers; every
    new name must be a function the worker can still find."""
    import importlib.util
    from pathlib import Path

    from workers.queue import _resolve

    path = Path(__file__).resolve().parent.parent / "migrations/versions/0021_job_paths.py"
    spec = importlib.util.spec_from_file_location("job_paths", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    for old, new in migration.RENAMED.items():
        assert callable(_resolve(new)), f"{old} was renamed to {new}, which does not exist"
