"""`flask backup DEST` and `flask restore ARCHIVE [--force]` (services/backup.py does the work)."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app

from services import backup


def register(app: Flask) -> None:
    @app.cli.command("backup")
    @click.argument("dest", type=click.Path(path_type=Path))
    def backup_command(dest: Path) -> None:
        """Write the database, local media and a manifest to one tar.gz (DEST: a file, or a
        directory for a timestamped one). Safe while the app runs."""
        try:
            path, manifest = backup.backup(current_app, dest)
        except backup.BackupError as exc:
            raise click.ClickException(str(exc)) from exc
        media = sum(1 for f in manifest.files if f["path"].startswith("media/"))
        click.echo(
            f"{path}: {manifest.dialect} database at migration {manifest.alembic_revision}, "
            f"{media} files of media ({manifest.media['storage']} storage)"
        )

    @app.cli.command("restore")
    @click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--force", is_flag=True, help="Replace a database that already holds data.")
    def restore_command(archive: Path, force: bool) -> None:
        """Restore a `flask backup` archive into an empty database, after checking every
        checksum. Stop the web process and the worker first."""
        try:
            restored = backup.restore(current_app, archive, force=force)
        except backup.BackupError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(
            f"Restored the {restored.dialect} database at migration "
            f"{restored.alembic_revision} and {restored.media_files} files of media."
        )
        if restored.media_note:
            click.echo(restored.media_note)
        click.echo("Next: `flask db upgrade` (if this code is newer), then `flask ledger verify`.")
