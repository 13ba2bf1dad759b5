"""`flask backup` and `flask restore`: a site backed up while it holds people, credits and
photos comes back whole in a fresh database, and a restore never lands on top of data or from a
damaged archive."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import tarfile
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select

from extensions import db
from models import User
from services import backup, ledger, media
from testkit.ledger import paid_order
from testkit.people import person
from tests.conftest import PG_ADMIN_URL, _cleanup, make_app

PHOTO = b"\xff\xd8\xff\xe0 not really a jpeg, but bytes all the same"


def build_world(app) -> dict:
    """Two people, credits bought and spent through the ledger, a photo in local media."""
    with app.app_context():
        fan, creator = person("Fan"), person("Luna", creator=True)
        paid_order(fan, 100)
        ledger.spend(fan.id, creator.id, 30, "tip", f"tip:{uuid.uuid4().hex}")
        db.session.commit()
        media.storage().write(f"u/{creator.id}/vault/photo.jpg", PHOTO, "image/jpeg")
        return {
            "emails": sorted(db.session.scalars(select(User.email))),
            "fan": (fan.id, ledger.balances(fan.id)),
            "creator": (creator.id, ledger.balances(creator.id)),
            "photo": f"u/{creator.id}/vault/photo.jpg",
        }


def with_instance(app, path: Path):
    """Local media of this app under `path` (the tests' instance directory is shared)."""
    path.mkdir(parents=True, exist_ok=True)
    app.instance_path = str(path)
    return app


def run(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


@contextlib.contextmanager
def fresh_database(dialect: str, tmp_path: Path):
    """An empty database of the same kind: a new SQLite file, or a new PostgreSQL database
    (dropped afterwards)."""
    if dialect == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    name = f"amora_restore_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def dialect_of(app) -> str:
    return (
        "postgresql" if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgres") else "sqlite"
    )


def test_a_backup_restores_into_a_fresh_database_with_its_people_credits_and_photos(app, tmp_path):
    with_instance(app, tmp_path / "source")
    world = build_world(app)
    result = run(app, "backup", str(tmp_path))
    assert result.exit_code == 0, result.output
    (archive,) = tmp_path.glob("amora-backup-*.tar.gz")

    with fresh_database(dialect_of(app), tmp_path) as url:
        restored = with_instance(make_app(url), tmp_path / "target")
        try:
            result = run(restored, "restore", str(archive))
            assert result.exit_code == 0, result.output
            assert "2 files of media" in result.output  # the photo and its content type
            with restored.app_context():
                assert sorted(db.session.scalars(select(User.email))) == world["emails"]
                for user_id, balances in (world["fan"], world["creator"]):
                    assert ledger.balances(user_id) == balances
                assert ledger.verify() == []
                assert media.storage().read(world["photo"]) == PHOTO
                assert backup.current_revision() == backup.head_revision()
            assert run(restored, "ledger", "verify").exit_code == 0
        finally:
            _cleanup(restored)


def test_the_manifest_lists_every_file_with_its_checksum(app, tmp_path):
    with_instance(app, tmp_path / "source")
    world = build_world(app)
    with app.app_context():
        path, manifest = backup.backup(app, tmp_path / "site.tar.gz")
    assert path == tmp_path / "site.tar.gz"
    with tarfile.open(path, "r:gz") as tar:
        written = json.loads(tar.extractfile("manifest.json").read())
        contents = {m.name: tar.extractfile(m).read() for m in tar if m.name != "manifest.json"}
    assert written["dialect"] == dialect_of(app)
    assert written["alembic_revision"] == manifest.alembic_revision
    assert written["media"] == {"storage": "local", "included": True}
    listed = {f["path"]: f["sha256"] for f in written["files"]}
    assert listed == {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()}
    assert f"media/{world['photo']}" in listed
    assert backup.DATABASE_FILES[dialect_of(app)] in listed


def test_with_media_on_s3_the_manifest_says_the_bucket_keeps_the_files(database_url, tmp_path):
    app = make_app(database_url, S3_BUCKET="amora-media")
    try:
        with app.app_context():
            _path, manifest = backup.backup(app, tmp_path / "site.tar.gz")
        assert manifest.media["storage"] == "s3" and manifest.media["bucket"] == "amora-media"
        assert not manifest.media["included"] and "versioning" in manifest.media["note"]
        assert all(not f["path"].startswith("media/") for f in manifest.files)
    finally:
        _cleanup(app)


def test_restore_refuses_a_database_with_data_unless_forced(app, tmp_path):
    with_instance(app, tmp_path / "source")
    world = build_world(app)
    archive = tmp_path / "site.tar.gz"
    assert run(app, "backup", str(archive)).exit_code == 0
    with app.app_context():
        person("Later")  # written after the backup

    refused = run(app, "restore", str(archive))
    assert refused.exit_code != 0 and "not empty" in refused.output

    forced = run(app, "restore", str(archive), "--force")
    assert forced.exit_code == 0, forced.output
    with app.app_context():
        assert sorted(db.session.scalars(select(User.email))) == world["emails"]
        assert ledger.verify() == []


def test_a_damaged_archive_is_refused_before_anything_is_touched(app, tmp_path):
    with_instance(app, tmp_path / "source")
    world = build_world(app)
    archive = tmp_path / "site.tar.gz"
    assert run(app, "backup", str(archive)).exit_code == 0
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(archive, "r:gz") as source, tarfile.open(damaged, "w:gz") as copy:
        for member in source:
            data = source.extractfile(member).read()
            if member.name == f"media/{world['photo']}":
                data = data.replace(b"bytes", b"BYTES")
            copy.addfile(member, io.BytesIO(data))

    with fresh_database(dialect_of(app), tmp_path) as url:
        target = with_instance(make_app(url), tmp_path / "target")
        result = run(target, "restore", str(damaged))
        assert result.exit_code != 0 and "Checksums do not match" in result.output
        with target.app_context():
            assert backup.current_revision() is None  # the database was not touched
            db.engine.dispose()
        assert not (tmp_path / "target" / "media").exists()


def test_a_backup_of_one_kind_of_database_does_not_restore_into_the_other(sqlite_url, tmp_path):
    app = with_instance(make_app(sqlite_url), tmp_path / "source")
    try:
        with app.app_context():
            _path, manifest = backup.backup(app, tmp_path / "site.tar.gz")
            manifest.dialect = "postgresql"
            with pytest.raises(backup.BackupError, match="postgresql backup"):
                backup._check_fits(manifest, "sqlite", force=True)
    finally:
        _cleanup(app)


def test_a_backup_from_newer_code_is_refused(sqlite_url, tmp_path):
    app = make_app(sqlite_url)
    try:
        with app.app_context():
            manifest = backup.Manifest(
                created_at="2026-01-01T00:00:00Z",
                alembic_revision="9999_from_the_future",
                dialect="sqlite",
                media={"storage": "local", "included": True},
            )
            with pytest.raises(backup.BackupError, match="does not know"):
                backup._check_fits(manifest, "sqlite", force=True)
            assert db.session.scalar(select(func.count()).select_from(User)) == 0
    finally:
        _cleanup(app)


def test_an_archive_entry_outside_its_own_tree_is_refused(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("media/../../outside.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises(backup.BackupError, match="Refusing"):
        backup._unpack(archive, tmp_path / "staged")
    assert not (tmp_path / "outside.txt").exists()


def test_the_archive_is_readable_by_its_owner_alone(sqlite_url, tmp_path):
    app = with_instance(make_app(sqlite_url), tmp_path / "source")
    try:
        with app.app_context():
            path, _manifest = backup.backup(app, tmp_path)
        assert path.stat().st_mode & 0o777 == 0o600
        assert not list(tmp_path.glob("*.partial"))
    finally:
        _cleanup(app)
