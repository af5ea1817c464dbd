"""The files of a frozen version (the PDF of the Relazione and of the documento di validazione,
reports.models.workflow.RelazioneVersion) on the storage, written by the validation
(reports.workflow.services.cycle_validate) so that neither a storage failure nor a worker killed
half-way leaves a file under a version's name without its row, and a version always gets its
exact names (``relazione-performance-2019-v4.pdf``, never Django's ``…-v4_DnQPrmM.pdf``):

1. ``probe`` before the seconds of rendering: the versions folder accepts a file, or OSError
   (the OIV is told at once);
2. ``write_temporary``: each file under a temporary name in its final folder
   (``.<name>.<random>.tmp``), flushed to disk, then 0640 (FILE_UPLOAD_PERMISSIONS);
3. ``claim``, in the validation's transaction: a final name that belongs to a version row is
   refused (``NameTaken``); a file there without a row is an orphan, which the move replaces;
4. ``move_into_place`` once the row is committed (transaction.on_commit): os.replace, atomic in
   the same folder;
5. ``discard``: the temporary files, when anything fails before the commit.

``orphans_clean`` removes what a killed worker (or an earlier release) left: a file in a
versions folder that no row refers to, once older than ORPHAN_AGE (younger ones may belong to a
validation in progress). A temporary file whose version row was committed but whose move did not
happen (the worker died right after the commit) is moved into place instead, if its digest is the
row's. It runs at the start of every validation (the cycle's folder) and in ``manage.py
verify_versions`` (every folder).

Files only on a storage with local paths (FileSystemStorage: MEDIA_ROOT, shared by the servers).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import posixpath
import re
import secrets
import time
from dataclasses import dataclass
from types import SimpleNamespace

from django.db.models import Q

from reports.models.workflow import RelazioneVersion, version_file_path

logger = logging.getLogger(__name__)

ORPHAN_AGE = dt.timedelta(minutes=5)
ROOT_FOLDER = "relazioni"
_TEMPORARY = re.compile(r"^\.(?P<final>.+)\.[0-9a-f]{8,32}\.tmp$")
_PROBE = ".prova-di-scrittura"


class NameTaken(Exception):
    """The final name of a new file belongs to a version already: it is never overwritten."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)


@dataclass
class Pending:
    """A file written under a temporary name, to be moved to its final name after the commit."""

    name: str  # the final name on the storage (what the FileField holds)
    path: str  # the final path
    temporary: str  # the temporary path, in the same folder
    moved: bool = False


def _storage():
    return RelazioneVersion._meta.get_field("pdf").storage


def folder(year: int) -> str:
    """The versions folder of a year, as a storage name (``relazioni/2019/versioni``)."""
    stub = SimpleNamespace(cycle=SimpleNamespace(year=year))
    return posixpath.dirname(version_file_path(stub, "x"))


def file_name(version: RelazioneVersion, field_name: str, filename: str) -> str:
    """The storage name a version's file gets: exactly ``filename`` in its folder."""
    return version._meta.get_field(field_name).generate_filename(version, filename)


def _modes(storage) -> tuple[int, int]:
    return (
        getattr(storage, "file_permissions_mode", None) or 0o640,
        getattr(storage, "directory_permissions_mode", None) or 0o750,
    )


def _ensure_folder(path: str, mode: int) -> None:
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, mode)
        except FileExistsError:
            continue
        os.chmod(directory, mode)  # whatever the umask


def _write(path: str, content: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _remove(path)
        raise
    os.close(fd)
    os.chmod(path, mode)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:
        logger.warning("Could not remove %s", path, exc_info=True)


def probe(*, year: int) -> None:
    """OSError unless a file can be written (and removed) in the year's versions folder."""
    storage = _storage()
    file_mode, dir_mode = _modes(storage)
    path = storage.path(folder(year))
    _ensure_folder(path, dir_mode)
    probe_path = os.path.join(path, f"{_PROBE}.{secrets.token_hex(8)}.tmp")
    _write(probe_path, b"ok", file_mode)
    os.unlink(probe_path)


def write_temporary(name: str, content: bytes) -> Pending:
    """Write ``content`` under a temporary name next to the final ``name`` (OSError if the
    storage refuses it: nothing is left)."""
    storage = _storage()
    file_mode, dir_mode = _modes(storage)
    path = storage.path(name)
    directory, base = os.path.split(path)
    _ensure_folder(directory, dir_mode)
    temporary = os.path.join(directory, f".{base}.{secrets.token_hex(8)}.tmp")
    _write(temporary, content, file_mode)
    return Pending(name=name, path=path, temporary=temporary)


def _referenced(name: str) -> bool:
    return RelazioneVersion.objects.filter(Q(pdf=name) | Q(validation_pdf=name)).exists()


def claim(pending: list[Pending]) -> None:
    """NameTaken if a final name belongs to a version row (in the caller's transaction, with
    the cycle locked); a file there without a row is an orphan, replaced by the move."""
    for item in pending:
        if _referenced(item.name):
            raise NameTaken(item.name)
        if os.path.lexists(item.path):
            logger.warning("Orphan file %s (no version row) will be replaced", item.name)


def move_into_place(pending: list[Pending]) -> None:
    """Each temporary file to its final name. Run after the commit: a failure is logged (the
    version then fails verification until orphans_clean completes the move)."""
    for item in pending:
        if item.moved:
            continue
        try:
            os.replace(item.temporary, item.path)
        except OSError:
            logger.exception(
                "Version file %s not moved into place (still %s): verify_versions completes "
                "the move",
                item.name,
                item.temporary,
            )
        else:
            item.moved = True


def discard(pending: list[Pending]) -> None:
    for item in pending:
        if not item.moved:
            _remove(item.temporary)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def _folders(year: int | None) -> list[str]:
    if year is not None:
        return [folder(year)]
    root = _storage().path(ROOT_FOLDER)
    if not os.path.isdir(root):
        return []
    return sorted(
        folder(int(entry.name))
        for entry in os.scandir(root)
        if entry.is_dir(follow_symlinks=False) and entry.name.isdigit()
    )


def orphans_clean(
    *, year: int | None = None, older_than: dt.timedelta = ORPHAN_AGE
) -> tuple[list[str], list[str]]:
    """Remove the files of the versions folders (the year's, or all) that no version row refers
    to and are older than ``older_than``; complete the moves a crash after the commit left
    undone. Returns (removed, completed) storage names. An OSError on one file is logged and
    the others are handled."""
    storage = _storage()
    digests: dict[str, str] = {}
    for pdf, pdf_sha256, validation, validation_sha256 in RelazioneVersion.objects.values_list(
        "pdf", "pdf_sha256", "validation_pdf", "validation_pdf_sha256"
    ):
        for name, digest in ((pdf, pdf_sha256), (validation, validation_sha256)):
            if name:
                digests[name] = digest
    cutoff = time.time() - older_than.total_seconds()
    removed: list[str] = []
    completed: list[str] = []
    for name_of_folder in _folders(year):
        path_of_folder = storage.path(name_of_folder)
        if not os.path.isdir(path_of_folder):
            continue
        for entry in sorted(os.scandir(path_of_folder), key=lambda e: e.name):
            if not entry.is_file(follow_symlinks=False):
                continue
            name = posixpath.join(name_of_folder, entry.name)
            if name in digests:
                continue
            try:
                temporary = _TEMPORARY.match(entry.name)
                final = posixpath.join(name_of_folder, temporary["final"]) if temporary else ""
                if (
                    final in digests
                    and not os.path.lexists(storage.path(final))
                    and _sha256(entry.path) == digests[final]
                ):
                    os.replace(entry.path, storage.path(final))
                    logger.warning("Version file %s moved into place after a crash", final)
                    completed.append(final)
                    continue
                if entry.stat(follow_symlinks=False).st_mtime > cutoff:
                    continue  # maybe a validation in progress
                os.unlink(entry.path)
            except FileNotFoundError:
                continue
            except OSError:
                logger.warning("Orphan file %s not removed", name, exc_info=True)
                continue
            logger.warning("Orphan file %s removed (no version row)", name)
            removed.append(name)
    return removed, completed
