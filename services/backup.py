"""Backups: one tar.gz holding the database, the local media and a manifest; and its restore.

An archive holds

* `database/amora.sqlite3` (SQLite's online backup API: a consistent copy while the app runs)
  or `database/amora.pgdump` (`pg_dump --format=custom`),
* `media/…`, the files under instance/media when media is on local disk (with S3 the bucket
  keeps its own copies through the store's versioning or replication: the manifest says so),
* `manifest.json`: when, the Alembic revision, the dialect, and every file with its size and
  sha256.

The database is copied before the media: media keys are never reused, so every file the copied
database refers to is in the archive (a few newer files may come along unreferenced).

A restore goes into an empty database (a fresh one, or one `flask db upgrade` built with no rows
yet) of the same kind, and only after every checksum has matched. Stop the web process and the
worker first: a restore replaces the database under them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import create_engine, inspect, literal, select, table, text
from sqlalchemy.engine import URL

import config
from core import clock
from extensions import db

FORMAT = 1
MANIFEST = "manifest.json"
DATABASE_FILES = {"sqlite": "database/amora.sqlite3", "postgresql": "database/amora.pgdump"}
MEDIA_DIR = "media"
CHUNK = 1 << 20


class BackupError(RuntimeError):
    """The backup or restore cannot go on; the message says why and what to do."""


@dataclass
class Manifest:
    created_at: str
    alembic_revision: str
    dialect: str
    media: dict
    files: list[dict] = field(default_factory=list)
    format: int = FORMAT

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        data = json.loads(raw)
        if data.get("format") != FORMAT:
            raise BackupError(f"Unknown archive format {data.get('format')!r}.")
        return cls(**data)


@dataclass(frozen=True)
class Restored:
    dialect: str
    alembic_revision: str
    media_files: int
    media_note: str | None


# --- where things are ---------------------------------------------------------------------------


def media_root(app: Flask) -> Path | None:
    """The local media directory, or None when media lives in an S3 bucket."""
    if app.config.get("S3_BUCKET"):
        return None
    return Path(app.instance_path) / "media"


def _database_url() -> URL:
    return db.engine.url


def _dialect() -> str:
    name = db.engine.dialect.name
    if name not in DATABASE_FILES:
        raise BackupError(f"Backups support SQLite and PostgreSQL, not {name}.")
    return name


def current_revision() -> str | None:
    if "alembic_version" not in inspect(db.engine).get_table_names():
        return None
    return db.session.scalar(text("SELECT version_num FROM alembic_version"))


def _migrations() -> ScriptDirectory:
    return ScriptDirectory(str(config.ROOT / "migrations"))


def head_revision() -> str | None:
    """The newest migration this code has."""
    return _migrations().get_current_head()


def _known_revision(revision: str) -> bool:
    try:
        return _migrations().get_revision(revision) is not None
    except Exception:  # alembic raises several kinds for an unknown or malformed id
        return False


# --- backup --------------------------------------------------------------------------------------


def archive_path(dest: Path, at: dt.datetime) -> Path:
    """DEST itself, or a timestamped file inside it when it is a directory."""
    if dest.is_dir():
        return dest / f"amora-backup-{at:%Y%m%dT%H%M%SZ}.tar.gz"
    return dest


def backup(app: Flask, dest: Path) -> tuple[Path, Manifest]:
    """Write the archive to `dest` (a file, or a directory to put a timestamped file in)."""
    dialect = _dialect()
    revision = current_revision()
    if revision is None:
        raise BackupError("The database has no Alembic revision: run `flask db upgrade` first.")
    now = clock.now()
    path = archive_path(dest, now)
    root = media_root(app)
    manifest = Manifest(
        created_at=now.isoformat(timespec="seconds") + "Z",
        alembic_revision=revision,
        dialect=dialect,
        media=_media_note(app, root),
    )
    partial = path.with_name(path.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="amora-backup-") as scratch:
        dump = Path(scratch) / "database"
        _dump_database(dialect, dump)
        try:
            # Readable by the owner alone from the first byte: it holds every account's data.
            with (
                open(partial, "wb", opener=lambda p, f: os.open(p, f, 0o600)) as raw,
                tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as archive,
            ):
                _add(archive, manifest, DATABASE_FILES[dialect], dump)
                for file, name in _media_files(root):
                    _add(archive, manifest, name, file)
                _add_bytes(archive, MANIFEST, manifest.to_json())
            os.replace(partial, path)  # a half-written archive never has the final name
        finally:
            partial.unlink(missing_ok=True)
    return path, manifest


def _media_note(app: Flask, root: Path | None) -> dict:
    if root is None:
        return {
            "storage": "s3",
            "bucket": app.config["S3_BUCKET"],
            "included": False,
            "note": "Media is in the S3 bucket, backed up by the store's versioning or "
            "replication, not by this archive.",
        }
    return {"storage": "local", "included": True}


def _dump_database(dialect: str, target: Path) -> None:
    if dialect == "sqlite":
        _sqlite_backup(Path(_database_url().database or ""), target)
    else:
        _pg_dump(_database_url(), target)


def _sqlite_backup(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy while the app keeps reading and writing."""
    with (
        contextlib.closing(sqlite3.connect(source)) as live,
        contextlib.closing(sqlite3.connect(target)) as copy,
    ):
        live.backup(copy)


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string for pg_dump/pg_restore, and the environment carrying the
    password (an argument would show it to every user of `ps`)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _pg_dump(url: URL, target: Path) -> None:
    dsn, env = _libpq(url)
    command = ["pg_dump", "--format=custom", "--no-owner", "--no-acl", f"--file={target}", dsn]
    _run(command, env)


def _run(command: list[str], env: dict[str, str]) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(
            f"{command[0]} is not installed (Debian: apt-get install postgresql-client)."
        )
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()}")


def _media_files(root: Path | None) -> Iterator[tuple[Path, str]]:
    if root is None or not root.is_dir():
        return
    for file in sorted(root.rglob("*")):
        if file.is_file() and not file.is_symlink():
            yield file, f"{MEDIA_DIR}/{file.relative_to(root).as_posix()}"


class _Hashing:
    """Reads through to `raw`, hashing what passes."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw, self.sha256 = raw, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.sha256.update(data)
        return data


def _add(archive: tarfile.TarFile, manifest: Manifest, name: str, file: Path) -> None:
    with file.open("rb") as raw:
        info = archive.gettarinfo(fileobj=raw, arcname=name)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        hashing = _Hashing(raw)
        archive.addfile(info, hashing)
    manifest.files.append({"path": name, "size": info.size, "sha256": hashing.sha256.hexdigest()})


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(clock.now().timestamp()), 0o600
    archive.addfile(info, io.BytesIO(data))


# --- restore -------------------------------------------------------------------------------------


def restore(app: Flask, archive: Path, *, force: bool = False) -> Restored:
    """Restore `archive` into this app's database (and local media). Refuses a database that
    holds any row unless `force`; verifies every checksum before touching anything."""
    dialect = _dialect()
    with tempfile.TemporaryDirectory(prefix="amora-restore-", dir=_scratch_dir(app)) as scratch:
        staged = Path(scratch)
        manifest = _unpack(archive, staged)
        _check_fits(manifest, dialect, force)
        dump = staged / DATABASE_FILES[dialect]
        if dialect == "sqlite":
            _restore_sqlite(dump)
        else:
            _restore_postgresql(dump)
        restored_revision = current_revision()
        if restored_revision != manifest.alembic_revision:
            raise BackupError(
                f"The restored database is at revision {restored_revision}, the manifest says "
                f"{manifest.alembic_revision}."
            )
        copied, note = _restore_media(app, manifest, staged)
    return Restored(dialect, manifest.alembic_revision, copied, note)


def _scratch_dir(app: Flask) -> Path:
    """Staging beside the media directory, so media is moved into place, not copied across
    file systems."""
    path = Path(app.instance_path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _unpack(archive: Path, staged: Path) -> Manifest:
    """Extract into `staged`, then check the files against the manifest, both ways."""
    hashes: dict[str, str] = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            name = _safe_name(member)
            target = staged / name
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            if source is None:
                raise BackupError(f"{member.name} in the archive is not a file.")
            digest = hashlib.sha256()
            with source, target.open("wb") as out:
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            hashes[name] = digest.hexdigest()
    if MANIFEST not in hashes:
        raise BackupError("The archive has no manifest.json: it is not an Amora backup.")
    manifest = Manifest.from_json((staged / MANIFEST).read_bytes())
    del hashes[MANIFEST]
    expected = {entry["path"]: entry["sha256"] for entry in manifest.files}
    if expected.keys() != hashes.keys():
        missing = sorted(expected.keys() - hashes.keys())
        extra = sorted(hashes.keys() - expected.keys())
        raise BackupError(
            f"The archive does not match its manifest: missing {missing}, extra {extra}."
        )
    damaged = sorted(name for name, digest in hashes.items() if expected[name] != digest)
    if damaged:
        raise BackupError(f"Checksums do not match for {damaged}: the archive is damaged.")
    return manifest


def _safe_name(member: tarfile.TarInfo) -> str:
    """Only regular files at relative paths inside the archive's own tree."""
    path = PurePosixPath(member.name)
    if not member.isfile() or path.is_absolute() or ".." in path.parts:
        raise BackupError(f"Refusing archive entry {member.name!r}.")
    if path.as_posix() != MANIFEST and path.parts[0] not in ("database", MEDIA_DIR):
        raise BackupError(f"Unexpected archive entry {member.name!r}.")
    return path.as_posix()


def _check_fits(manifest: Manifest, dialect: str, force: bool) -> None:
    if manifest.dialect != dialect:
        raise BackupError(
            f"This is a {manifest.dialect} backup; the configured database is {dialect}."
        )
    if not _known_revision(manifest.alembic_revision):
        raise BackupError(
            f"The backup is at migration {manifest.alembic_revision}, which this code does not "
            "know: restore with the code version that made it (or a newer one)."
        )
    if not force and (table_name := _first_table_with_rows()) is not None:
        raise BackupError(
            f"The database is not empty (table {table_name} has rows): restore into a fresh "
            "database, or pass --force to replace everything in it."
        )


def _first_table_with_rows() -> str | None:
    for name in inspect(db.engine).get_table_names():
        if name == "alembic_version":
            continue
        if db.session.scalar(select(literal(1)).select_from(table(name)).limit(1)) is not None:
            return name
    return None


def _restore_sqlite(dump: Path) -> None:
    path = Path(_database_url().database or "")
    db.session.remove()
    db.engine.dispose()
    path.parent.mkdir(parents=True, exist_ok=True)
    incoming = path.with_name(path.name + ".restoring")
    shutil.copyfile(dump, incoming)
    # A write-ahead log left from the old file would be replayed into the new one.
    for suffix in ("-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    os.replace(incoming, path)


def _restore_postgresql(dump: Path) -> None:
    url = _database_url()
    db.session.remove()
    db.engine.dispose()
    _empty_postgresql(url)
    dsn, env = _libpq(url)
    command = [
        "pg_restore",
        "--no-owner",
        "--no-acl",
        "--exit-on-error",
        "--single-transaction",
        f"--dbname={dsn}",
        str(dump),
    ]
    _run(command, env)


def _empty_postgresql(url: URL) -> None:
    """Drop whatever `flask db upgrade` (or --force) left: tables, functions, triggers. The
    database's owner may do this; a fresh database is left alone."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            if inspect(connection).get_table_names():
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def _restore_media(app: Flask, manifest: Manifest, staged: Path) -> tuple[int, str | None]:
    if not manifest.media.get("included"):
        return 0, manifest.media.get("note")
    root = media_root(app)
    files = [entry["path"] for entry in manifest.files if entry["path"].startswith(f"{MEDIA_DIR}/")]
    if root is None:
        return 0, (
            f"The archive holds {len(files)} media files but media is configured on S3: "
            "they were not uploaded."
        )
    for name in files:
        target = root / PurePosixPath(name).relative_to(MEDIA_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged / name, target)
    return len(files), None
