"""Backups of the whole portal: the database and the stored files (MEDIA_ROOT), in one archive.

The archive is a tar file (not compressed: the PostgreSQL dump is compressed already, and so are
the PDFs) with:

- ``manifest.json``: format and version, when, database vendor, the applied migrations, the
  SHA-256 of every other member and the integrity digests (below);
- ``database.dump`` (PostgreSQL, ``pg_dump --format=custom``) or ``database.sqlite3`` (SQLite,
  the online backup API: a consistent copy while the site runs);
- ``media/…``: every stored file (PDFs of the Relazione, frozen versions and their validation
  documents), except imports waiting for confirmation.

The integrity digests are what a restore must reproduce exactly: for every frozen version of the
Relazione (reports.models.workflow.RelazioneVersion, when present) a digest of its content fields
and of its files, for every stored PDF (reports.models.pdf.RelazionePdf) the SHA-256 of the file,
and for every cycle the SHA-256 of its computed tree (``score --json``). ``restore`` compares them
after restoring and fails if one differs.

The digests of the archive only say that a restore gives back what was saved: a version tampered
with before the backup would be saved, and restored, as it was. So ``backup`` first verifies every
frozen version against the digests recorded at its validation (reports.workflow.integrity.verify)
and
refuses to write an archive of a version that does not match (naming the version and the file),
and checks each version's file it puts in the archive against its digest; ``restore`` verifies
them again once restored.

The archive holds password hashes and session keys: it is readable by its owner only (0600, set
explicitly whatever the umask). Restored files are 0640 and their folders 0750 (docs/deploy.md).
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
from contextlib import closing
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder

FORMAT = "ciclo-performance-backup"
VERSION = 1
MANIFEST = "manifest.json"
PG_DUMP = "database.dump"
SQLITE_COPY = "database.sqlite3"
MEDIA = "media"
# Transient files never worth restoring (imports waiting for a confirmation in a session).
MEDIA_SKIP = ("importazioni-in-attesa",)
CHUNK = 1024 * 1024
ARCHIVE_MODE = 0o600
FILE_MODE = 0o640
FOLDER_MODE = 0o750


# ---------------------------------------------------------------------------------- helpers


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _canonical(value: Any) -> str:
    def default(item: Any) -> Any:
        if isinstance(item, Decimal):
            return str(item)
        if isinstance(item, dt.date | dt.datetime):
            return item.isoformat()
        return str(item)

    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=default)


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def database_vendor() -> str:
    return connections["default"].vendor


def pg_environment() -> tuple[dict[str, str], str]:
    """The libpq environment for pg_dump/pg_restore from settings.DATABASES["default"]."""
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    for key, variable in (
        ("HOST", "PGHOST"),
        ("PORT", "PGPORT"),
        ("USER", "PGUSER"),
        ("PASSWORD", "PGPASSWORD"),
    ):
        if db.get(key):
            env[variable] = str(db[key])
    sslmode = (db.get("OPTIONS") or {}).get("sslmode")
    if sslmode:
        env["PGSSLMODE"] = str(sslmode)
    return env, str(db["NAME"])


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    if shutil.which(command[0]) is None:
        raise CommandError(
            f"{command[0]} non trovato: installare il client di PostgreSQL della stessa versione "
            "del server (es. apt-get install postgresql-client)."
        )
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise CommandError(f"{what} non riuscito: {result.stderr.strip() or result.stdout.strip()}")


def _sqlite_copy(source: str, target: str) -> None:
    """SQLite's online backup API: a consistent copy, page by page, while others write."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def applied_migrations() -> dict[str, list[str]]:
    recorder = MigrationRecorder(connections["default"])
    out: dict[str, list[str]] = {}
    for app, name in sorted(recorder.applied_migrations()):
        out.setdefault(app, []).append(name)
    return out


def media_files(root: Path) -> Iterator[tuple[Path, str]]:
    """(path, name relative to MEDIA_ROOT with slashes) of every stored file."""
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        relative = path.relative_to(root)
        if relative.parts and relative.parts[0] in MEDIA_SKIP:
            continue
        yield path, relative.as_posix()


# ------------------------------------------------------------------------ integrity digests


def _file_digest(field_file) -> str | None:
    if not field_file:
        return None
    try:
        with field_file.open("rb") as handle:
            digest = hashlib.sha256()
            while block := handle.read(CHUNK):
                digest.update(block)
            return digest.hexdigest()
    except (OSError, ValueError):
        return "illeggibile"


def integrity_digests() -> dict[str, dict[str, Any]]:
    """What must be identical after a restore (see the module's docstring)."""
    out: dict[str, dict[str, Any]] = {"versions": {}, "pdfs": {}, "scores": {}}
    try:
        version_model = apps.get_model("reports", "RelazioneVersion")
    except LookupError:
        version_model = None
    if version_model is not None:
        fields = getattr(version_model, "CONTENT_FIELDS", None) or [
            f.name for f in version_model._meta.concrete_fields if f.name != "id"
        ]
        for version in version_model.objects.select_related("cycle").order_by("cycle__year", "pk"):
            content: dict[str, Any] = {}
            for name in fields:
                field = version_model._meta.get_field(name)
                value = getattr(version, field.attname)
                if hasattr(value, "name") and hasattr(value, "open"):  # a file
                    content[name] = {"name": value.name, "sha256": _file_digest(value)}
                else:
                    content[name] = value
            key = f"{version.cycle.year} n. {getattr(version, 'number', version.pk)}"
            out["versions"][key] = _sha256_text(_canonical(content))
    try:
        pdf_model = apps.get_model("reports", "RelazionePdf")
    except LookupError:
        pdf_model = None
    if pdf_model is not None:
        for job in pdf_model.objects.filter(status="done").select_related("cycle").order_by("pk"):
            out["pdfs"][f"{job.cycle.year} {job.content_digest[:12]}"] = _file_digest(job.file)
    cycle_model = apps.get_model("organization", "Cycle")
    for year in cycle_model.objects.order_by("year").values_list("year", flat=True).distinct():
        buffer = io.StringIO()
        try:
            call_command("score", str(year), "--json", stdout=buffer)
        except CommandError as error:  # e.g. two organizations with the same year
            out["scores"][str(year)] = f"non calcolabile: {error}"
            continue
        out["scores"][str(year)] = _sha256_text(buffer.getvalue())
    return out


def integrity_differences(expected: dict, found: dict) -> list[str]:
    problems = []
    labels = {"versions": "versione", "pdfs": "PDF", "scores": "albero calcolato"}
    for group, label in labels.items():
        before, after = expected.get(group, {}), found.get(group, {})
        for key in sorted(set(before) | set(after)):
            if key not in after:
                problems.append(f"{label} {key}: mancante dopo il ripristino")
            elif key not in before:
                problems.append(f"{label} {key}: non era nel backup")
            elif before[key] != after[key]:
                problems.append(f"{label} {key}: impronta diversa")
    return problems


# ------------------------------------------------------------------------- frozen versions


def _versions():
    """The frozen versions of the Relazione, or None when the workflow is not installed."""
    try:
        version_model = apps.get_model("reports", "RelazioneVersion")
    except LookupError:
        return None
    return version_model.objects.select_related("cycle").order_by("cycle__year", "number")


def versions_problems() -> list[str]:
    """Every frozen version verified against the digests recorded at its validation (HTML,
    computed tree, open data, documento di validazione, the PDF files): what does not match,
    in Italian, naming the version and the file."""
    versions = _versions()
    if versions is None:
        return []
    from reports.workflow import integrity

    problems: list[str] = []
    for version in versions.iterator(chunk_size=20):
        problems += integrity.verify(version=version).problems
    return problems


def version_file_digests() -> dict[str, tuple[str, str]]:
    """Name of each version's file -> (its recorded digest, what it is), for the archive."""
    versions = _versions()
    out: dict[str, tuple[str, str]] = {}
    if versions is None:
        return out
    for version in versions.only(
        "number", "cycle__year", "pdf", "pdf_sha256", "validation_pdf", "validation_pdf_sha256"
    ):
        what = f"Relazione {version.cycle.year}, versione {version.number}"
        if version.pdf:
            out[version.pdf.name] = (version.pdf_sha256, f"{what} – PDF della Relazione")
        if version.validation_pdf:
            out[version.validation_pdf.name] = (
                version.validation_pdf_sha256,
                f"{what} – PDF del documento di validazione",
            )
    return out


def _private_file(path: Path):
    """``path`` created empty for writing, readable by its owner only (whatever the umask)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    os.fchmod(fd, ARCHIVE_MODE)
    return os.fdopen(fd, "wb")


# ------------------------------------------------------------------------------------ backup


def backup(destination: Path, *, log=print, verify: bool = True) -> dict:
    """Write the archive to ``destination`` (atomically: a partial file is renamed at the end;
    0600). ``verify``: first every frozen version against its recorded digests, and each
    version's file as it goes into the archive (CommandError naming the version and the file, no
    archive written); only a test writes an archive without it."""
    destination = destination.resolve()
    destination.parent.mkdir(parents=True, exist_ok=True)
    vendor = database_vendor()
    media_root = Path(settings.MEDIA_ROOT)
    expected: dict[str, tuple[str, str]] = {}
    if verify:
        log("Verifica delle versioni congelate della Relazione…")
        problems = versions_problems()
        if problems:
            raise CommandError(
                "Backup non eseguito: versioni non integre (non corrispondono alle impronte "
                "registrate alla validazione):\n- "
                + "\n- ".join(problems)
                + "\nRipristinare i file o i dati da un backup precedente (manage.py restore), "
                "poi ripetere il backup."
            )
        expected = version_file_digests()
    with tempfile.TemporaryDirectory(prefix="ciclo-backup-", dir=destination.parent) as work:
        work_dir = Path(work)
        # 1. The database first: a file a row refers to was written before the row, so it is in
        #    the copy of the files made afterwards.
        if vendor == "postgresql":
            env, name = pg_environment()
            database_file = work_dir / PG_DUMP
            log("Copia del database (pg_dump)…")
            _run(
                [
                    "pg_dump",
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    f"--file={database_file}",
                    name,
                ],
                env,
                "pg_dump",
            )
        elif vendor == "sqlite":
            source = str(settings.DATABASES["default"]["NAME"])
            if source == ":memory:" or "mode=memory" in source:
                raise CommandError("Il database SQLite è in memoria: nulla da copiare.")
            database_file = work_dir / SQLITE_COPY
            log("Copia del database (SQLite, copia coerente a caldo)…")
            connections["default"].close()
            _sqlite_copy(source, str(database_file))
        else:
            raise CommandError(f"Database {vendor} non supportato: solo PostgreSQL e SQLite.")

        log("Impronte di controllo (versioni pubblicate, PDF, alberi calcolati)…")
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "database": {
                "vendor": vendor,
                "file": database_file.name,
                "sha256": sha256_file(database_file),
                "bytes": database_file.stat().st_size,
            },
            "migrations": applied_migrations(),
            "media": {},
            "integrity": integrity_digests(),
        }

        partial = destination.with_name(destination.name + ".partial")
        log("Scrittura dell'archivio con i file archiviati…")
        try:
            with (
                _private_file(partial) as handle,
                tarfile.open(fileobj=handle, mode="w") as archive,
            ):
                archive.add(database_file, arcname=database_file.name)
                for path, relative in media_files(media_root):
                    member = f"{MEDIA}/{relative}"
                    digest = sha256_file(path)
                    if relative in expected and expected[relative][0] != digest:
                        raise CommandError(
                            f"Backup non eseguito: {expected[relative][1]} ({relative}) non "
                            "corrisponde all'impronta registrata alla validazione (cambiato "
                            "durante il backup?)."
                        )
                    manifest["media"][relative] = digest
                    archive.add(path, arcname=member)
                data = json.dumps(manifest, indent=1, ensure_ascii=False).encode("utf-8")
                info = tarfile.TarInfo(MANIFEST)
                info.size = len(data)
                info.mtime = int(dt.datetime.now().timestamp())
                archive.addfile(info, io.BytesIO(data))
            os.replace(partial, destination)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        os.chmod(destination, ARCHIVE_MODE)
    return manifest


# ----------------------------------------------------------------------------------- restore


def read_manifest(archive: tarfile.TarFile) -> dict:
    try:
        member = archive.getmember(MANIFEST)
    except KeyError:
        raise CommandError("Archivio non valido: manca manifest.json.") from None
    handle = archive.extractfile(member)
    if handle is None:
        raise CommandError("Archivio non valido: manifest.json non leggibile.")
    manifest = json.loads(handle.read().decode("utf-8"))
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise CommandError("Archivio non valido: non è un backup di Ciclo Performance (v1).")
    return manifest


def _safe_member(name: str) -> bool:
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts


def extract_and_verify(source: Path, work_dir: Path) -> dict:
    """Extract the archive into ``work_dir`` checking every member against the manifest."""
    with tarfile.open(source, "r") as archive:
        manifest = read_manifest(archive)
        expected = {manifest["database"]["file"]: manifest["database"]["sha256"]}
        expected.update({f"{MEDIA}/{k}": v for k, v in manifest.get("media", {}).items()})
        seen = set()
        for member in archive.getmembers():
            if member.name == MANIFEST:
                continue
            if not member.isfile() or not _safe_member(member.name):
                raise CommandError(f"Archivio non valido: elemento non ammesso «{member.name}».")
            if member.name not in expected:
                raise CommandError(f"Archivio non valido: «{member.name}» non è nel manifest.")
            archive.extract(member, work_dir, filter="data")
            if sha256_file(work_dir / member.name) != expected[member.name]:
                raise CommandError(f"Archivio danneggiato: «{member.name}» non corrisponde.")
            seen.add(member.name)
        missing = sorted(set(expected) - seen)
        if missing:
            raise CommandError(f"Archivio incompleto: mancano {', '.join(missing[:5])}.")
    return manifest


def restore_database(manifest: dict, work_dir: Path, *, log=print) -> None:
    vendor = database_vendor()
    saved = manifest["database"]["vendor"]
    if vendor != saved:
        raise CommandError(
            f"Il backup è di un database {saved}, quello configurato è {vendor}: "
            "ripristinare su un database dello stesso tipo."
        )
    for connection in connections.all():
        connection.close()
    dump = work_dir / manifest["database"]["file"]
    if vendor == "postgresql":
        env, name = pg_environment()
        log("Ripristino del database (pg_restore)…")
        _run(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                f"--dbname={name}",
                str(dump),
            ],
            env,
            "pg_restore",
        )
    else:
        target = str(settings.DATABASES["default"]["NAME"])
        if target == ":memory:" or "mode=memory" in target:
            raise CommandError("Il database SQLite configurato è in memoria: non si ripristina.")
        log("Ripristino del database (SQLite)…")
        created = not Path(target).exists()
        _sqlite_copy(str(dump), target)
        if created:  # it holds password hashes: its owner's only
            os.chmod(target, ARCHIVE_MODE)


def _folder_mode(folder: Path) -> None:
    with contextlib.suppress(PermissionError):  # e.g. a mount point owned by someone else
        os.chmod(folder, FOLDER_MODE)


def restore_media(manifest: dict, work_dir: Path, *, log=print) -> None:
    """MEDIA_ROOT becomes exactly the files of the backup (it may be a mount point: its content
    is replaced, the folder itself stays). Files 0640, folders 0750, whatever the umask."""
    root = Path(settings.MEDIA_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    _folder_mode(root)
    wanted = set(manifest.get("media", {}))
    log(f"Ripristino dei file archiviati ({len(wanted)})…")
    for path, relative in list(media_files(root)):
        if relative not in wanted:
            path.unlink()
    for relative in sorted(wanted):
        source = work_dir / MEDIA / relative
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".ripristino")
        shutil.copyfile(source, partial)
        os.chmod(partial, FILE_MODE)
        os.replace(partial, target)
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        if folder.relative_to(root).parts[0] in MEDIA_SKIP:
            continue
        if not any(folder.iterdir()):
            folder.rmdir()
        else:
            _folder_mode(folder)
