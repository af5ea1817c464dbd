"""Imports waiting for their confirmation: the file checked by a dry run at the upload, applied
at most once when it is confirmed (`PendingImport`).

The upload writes the file to MEDIA_ROOT/importazioni-in-attesa/<token>.<format> (a random
token, shown only in the uploader's report page and kept in the uploader's session) and a row
with who uploaded it, for which cycle, what it contains and its SHA-256. The confirmation
*claims* the row before anything is read: one conditional UPDATE ``pending -> applying``, in a
transaction of its own that also reads the row with ``select_for_update``. On PostgreSQL a
second, simultaneous UPDATE waits for the first one's row lock and then finds the row no longer
pending; SQLite has one writer at a time. So of two confirmations of the same token exactly one
applies the file; the other gets the Italian reason ("Importazione già applicata", "già in
corso", "annullata") and writes nothing. Cancelling is the same conditional update
(``pending -> cancelled``).

The file stays on disk rather than in the row: up to 5 MB for a few minutes is no data worth a
database (its WAL, its read replica, its backups); MEDIA_ROOT is shared by the application
servers already (docs/deploy.md), and the SHA-256 and size in the row tell whether the file on
disk is still the one checked. The row stays when the import ends (applied, cancelled, failed),
without the file: it is what answers a confirmation sent twice, and a record of the imports.

The writes of the import and the row's "applied" are committed together: a worker that dies while
applying leaves nothing applied and the row "applying" (never applied again; the clean-up marks
it failed after 24 hours). A file waits at most `PENDING_MAX_AGE` (24 hours): later, its
confirmation is refused and the clean-up run at every upload marks it cancelled and deletes the
file (and any file of the folder older than that, such as one left by a crash).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from organization.models import Cycle
from performance.models import PendingImport
from performance.services import imports as _package
from performance.services.imports.common import ImportFileError, ImportReport
from performance.services.imports.reading import file_format

PENDING_FOLDER = "importazioni-in-attesa"
PENDING_MAX_AGE = dt.timedelta(hours=24)
_TOKEN = re.compile(r"[0-9a-f]{32}")
State = PendingImport.State

REFUSALS = {
    State.APPLIED: (
        "Importazione già applicata: il file è stato importato una volta sola, nessuna modifica "
        "ripetuta."
    ),
    State.APPLYING: (
        "Importazione già in corso: il file viene applicato da un'altra richiesta, nessuna "
        "modifica ripetuta. Ricaricare la pagina tra qualche istante per vederne l'esito."
    ),
    State.CANCELLED: (
        "Importazione annullata: nessuna modifica applicata. Caricare di nuovo il file."
    ),
    State.FAILED: "Importazione non applicata: caricare di nuovo il file.",
}
EXPIRED = "Importazione scaduta (più di 24 ore dal caricamento): caricare di nuovo il file."
MISSING = "Il file caricato non è più disponibile: caricarlo di nuovo."


class ImportRefused(ImportFileError):
    """The pending import is not (or no longer) waiting: applied, being applied, cancelled..."""


def pending_folder() -> Path:
    folder = Path(settings.MEDIA_ROOT) / PENDING_FOLDER
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def pending_path(pending: PendingImport) -> Path:
    return pending_folder() / f"{pending.token}.{pending.format}"


def pending_create(
    *, user: AbstractBaseUser, cycle: Cycle, kind: str, filename: str, content: bytes
) -> PendingImport:
    """Keep ``content`` (checked by a dry run) until it is confirmed or cancelled."""
    pending_remove_stale()
    token = secrets.token_hex(16)
    fmt = file_format(filename)
    (pending_folder() / f"{token}.{fmt}").write_bytes(content)
    return PendingImport.objects.create(
        token=token,
        user=user,
        cycle=cycle,
        kind=kind,
        format=fmt,
        original_name=Path(filename).name[:200],
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
    )


def pending_get(
    *, token: str, user: AbstractBaseUser, cycle: Cycle | None = None
) -> PendingImport | None:
    """The import of ``token`` if ``user`` uploaded it (for ``cycle``), whatever its state."""
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        return None
    found = PendingImport.objects.filter(token=token, user=user)
    if cycle is not None:
        found = found.filter(cycle=cycle)
    return found.select_related("cycle").first()


def _expired(pending: PendingImport) -> bool:
    return pending.created_at < timezone.now() - PENDING_MAX_AGE


def _move(pending: PendingImport, *, to: str, outcome: str = "") -> bool:
    """pending -> ``to`` if it is still pending (True) and the file is no longer needed."""
    moved = PendingImport.objects.filter(pk=pending.pk, state=State.PENDING).update(
        state=to, outcome=outcome, finished_at=timezone.now()
    )
    if moved:
        pending_path(pending).unlink(missing_ok=True)
    return bool(moved)


def _refusal(pending: PendingImport) -> str:
    current = PendingImport.objects.filter(pk=pending.pk).values_list("state", flat=True).first()
    if current is None:
        return MISSING
    if current == State.PENDING:  # expired
        _move(pending, to=State.CANCELLED, outcome="scaduta")
        return EXPIRED
    return REFUSALS[State(current)]


def pending_claim(pending: PendingImport) -> None:
    """Take the import for applying it (pending -> applying), or raise ImportRefused with the
    reason: only one request can ever take it."""
    if _expired(pending):
        raise ImportRefused(_refusal(pending))
    try:
        with transaction.atomic():
            claimed = PendingImport.objects.filter(
                pk=pending.pk,
                state=State.PENDING,
                created_at__gte=timezone.now() - PENDING_MAX_AGE,
            ).update(state=State.APPLYING)
            # on PostgreSQL: the row as it is now, locked until the claim is committed
            row = PendingImport.objects.select_for_update().filter(pk=pending.pk).first()
    except OperationalError as error:
        # SQLite: another request is writing (the other confirmation): it has the import
        if connection.vendor == "sqlite" and "locked" in str(error):
            raise ImportRefused(REFUSALS[State.APPLYING]) from None
        raise
    if not claimed or row is None:
        raise ImportRefused(_refusal(pending))
    pending.state = row.state


def pending_finish(pending: PendingImport, *, state: str, outcome: str = "") -> None:
    """applying -> ``state`` (applied or failed)."""
    PendingImport.objects.filter(pk=pending.pk, state=State.APPLYING).update(
        state=state, outcome=outcome[:2000], finished_at=timezone.now()
    )
    pending.state = state


def pending_cancel(pending: PendingImport) -> None:
    """pending -> cancelled (the file is deleted), or ImportRefused if it is no longer pending."""
    if not _move(pending, to=State.CANCELLED, outcome="annullata da chi l'ha caricata"):
        raise ImportRefused(_refusal(pending))
    pending.state = State.CANCELLED


def pending_content(pending: PendingImport) -> bytes | None:
    """The file as it was checked, or None if it is missing or no longer the same."""
    try:
        content = pending_path(pending).read_bytes()
    except OSError:
        return None
    if len(content) != pending.size or hashlib.sha256(content).hexdigest() != pending.sha256:
        return None
    return content


def pending_apply(pending: PendingImport, *, user: AbstractBaseUser) -> ImportReport:
    """Claim the import, validate the file again and apply it all or nothing (import_file).
    ImportRefused if it is not waiting any more; ImportFileError if the file is gone, can no
    longer be read, or conflicts with what was written meanwhile (nothing is applied). The
    report says whether it was applied (it is not if a row is invalid now)."""
    pending_claim(pending)
    try:
        content = pending_content(pending)
        if content is None:
            raise ImportFileError(MISSING)
        with transaction.atomic():  # the writes and "applied" are committed together
            report = _package.import_file(
                cycle=pending.cycle,
                kind=pending.kind,
                content=content,
                filename=f"file.{pending.format}",
                user=user,
                dry_run=False,
            )
            if report.applied:
                pending_finish(pending, state=State.APPLIED, outcome=report.summary())
    except ImportFileError as error:
        pending_finish(pending, state=State.FAILED, outcome=" ".join(error.messages))
        raise
    except BaseException as error:
        pending_finish(pending, state=State.FAILED, outcome=f"errore: {type(error).__name__}")
        raise
    finally:
        pending_path(pending).unlink(missing_ok=True)  # whatever the outcome: not needed again
    if not report.applied:
        pending_finish(pending, state=State.FAILED, outcome=f"righe non valide: {report.summary()}")
    return report


def pending_remove_stale() -> None:
    """Imports waiting for more than 24 hours are cancelled, those whose application never
    ended (a crashed worker) failed, and their files deleted, as any older file of the folder."""
    limit = timezone.now() - PENDING_MAX_AGE
    now = timezone.now()
    for state, to, outcome in (
        (State.PENDING, State.CANCELLED, "scaduta"),
        (State.APPLYING, State.FAILED, "interrotta"),
    ):
        stale = list(PendingImport.objects.filter(state=state, created_at__lt=limit))
        if stale:
            PendingImport.objects.filter(pk__in=[p.pk for p in stale], state=state).update(
                state=to, outcome=outcome, finished_at=now
            )
            for pending in stale:
                pending_path(pending).unlink(missing_ok=True)
    oldest = time.time() - PENDING_MAX_AGE.total_seconds()
    for item in pending_folder().iterdir():
        if item.is_file() and item.stat().st_mtime < oldest:
            item.unlink(missing_ok=True)
