"""The PDF of the Relazione: requested, rendered once per version, stored, served as a file.

- ``pdf_request(cycle=, user=)``: the job for the document as it is now (its digest): an existing
  one is reused (pending, running or done: requesting twice renders once), a failed one is queued
  again, otherwise a new one is created. Cheap (no WeasyPrint): the HTML and the open data are
  rendered to compute the digest.
- ``pdf_render(job=)``: the render itself (seconds). Claims the job atomically, so running it
  twice, or from two workers, renders once; stores the file under MEDIA_ROOT
  (``relazioni/<year>/relazione-<year>-<digest12>.pdf``) and records its SHA-256 and size.
- ``pdf_public(year=)``: the latest stored PDF of a published cycle (one query), or None. The
  answer is kept in the cache for PUBLIC_CACHE_SECONDS, so serving the PDF to citizens costs
  about what serving a static file does (no database round trip); this process forgets it as
  soon as a PDF is stored or the cycle changes state (``pdf_public_forget``), other processes
  within PUBLIC_CACHE_SECONDS.
- ``pdf_public_version(year=)``: the latest published (frozen, validated) version with a PDF: when
  there is one, the year's public PDF is that one.
- ``pdf_ensure_public(cycle=)``: a citizen asked for a PDF that does not exist yet: queue one
  (unless one is already queued or failed a moment ago).

Who renders: the worker (``manage.py render_pdfs``, from cron or a service) processes pending jobs;
in development (settings.PDF_RENDER_INLINE_THREAD, default: DEBUG) a job requested from the web
is also rendered in a background thread of the web process. A citizen never waits for a render.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import IntegrityError, close_old_connections, connections, transaction
from django.db.models import Q
from django.utils import timezone

from organization.models import Cycle
from reports.models.pdf import RelazionePdf, relazione_pdf_path
from reports.relazione import pdf

logger = logging.getLogger(__name__)

Status = RelazionePdf.Status

# A job "running" for longer than this was left by a worker that died: it may be claimed again.
STALE_AFTER = dt.timedelta(minutes=15)
# A citizen's request does not queue the same failing render again before this.
RETRY_AFTER_FAILURE = dt.timedelta(minutes=15)
PROGRESS_EVERY = 0.5  # seconds between two progress writes

_render_slot = threading.Semaphore(1)  # one render at a time per web process (development)


def inline_thread_enabled() -> bool:
    return bool(getattr(settings, "PDF_RENDER_INLINE_THREAD", settings.DEBUG))


# ------------------------------------------------------------------------------- request


def pdf_request(
    *,
    cycle: Cycle,
    user: AbstractBaseUser | None = None,
    source: pdf.RelazioneSource | None = None,
    background: bool = True,
) -> RelazionePdf:
    """The job for the current version of the cycle's Relazione (created, reused or queued
    again). ``background``: start a rendering thread if settings allow it (development)."""
    if source is None:
        source = pdf.relazione_source(cycle=cycle)
    requester = user if user is not None and user.is_authenticated else None
    try:
        with transaction.atomic():
            job, created = RelazionePdf.objects.get_or_create(
                cycle=cycle,
                content_digest=source.digest,
                defaults={"is_draft": source.is_draft, "requested_by": requester},
            )
    except IntegrityError:  # pragma: no cover - created meanwhile by a concurrent request
        job, created = RelazionePdf.objects.get(cycle=cycle, content_digest=source.digest), False
    queued = created
    if not created and job.status == Status.FAILED:
        queued = _requeue(job, requester, {Status.FAILED})
    elif not created and job.status == Status.DONE and not _file_exists(job):
        logger.warning("PDF %s: file %s missing, rendering it again", job.pk, job.file.name)
        queued = _requeue(job, requester, {Status.DONE})
    if queued:
        job.refresh_from_db()
        if background:
            pdf_render_in_background(job)
    return job


def _requeue(job: RelazionePdf, requester, statuses: set[str]) -> bool:
    changes = {"status": Status.PENDING, "error": "", "progress": "", "finished_at": None}
    if requester is not None:
        changes["requested_by"] = requester
    return bool(
        RelazionePdf.objects.filter(pk=job.pk, status__in=statuses).update(
            **changes, started_at=None
        )
    )


def _file_exists(job: RelazionePdf) -> bool:
    return bool(job.file) and job.file.storage.exists(job.file.name)


PUBLIC_CACHE_SECONDS = 30


def _public_key(year: int) -> str:
    return f"reports:relazione-pdf-public:{year}"


def pdf_public(*, year: int, fresh: bool = False) -> RelazionePdf | None:
    """The PDF citizens get: the latest stored one rendered when the cycle was published.

    From the cache when it was looked up in the last PUBLIC_CACHE_SECONDS (``fresh``: from the
    database), else one query, written out: serving the file must cost about as much as serving
    a static file, and building the same query with the ORM took longer than reading the file.
    Only a found PDF is kept: a PDF that appears is served at once."""
    key = _public_key(year)
    if not fresh:
        cached = cache.get(key)
        if cached is not None:
            return cached
    sql = _PUBLIC_SQL.format(pdf=RelazionePdf._meta.db_table, cycle=Cycle._meta.db_table)
    params = [year, Cycle.Status.PUBLISHED, Status.DONE, False]
    job = next(iter(RelazionePdf.objects.raw(sql, params)), None)
    if job is None:
        cache.delete(key)
    else:
        cache.set(key, job, PUBLIC_CACHE_SECONDS)
    return job


def pdf_public_version(*, year: int) -> int | None:
    """The number of the year's latest published version that has its PDF (validated by the OIV,
    frozen), or None: the public ``relazione.pdf`` of the year is that one when there is one.
    Remembered like ``pdf_public`` (an absence too: forgotten when the cycle changes state)."""
    from reports.models.workflow import RelazioneVersion

    key = _public_version_key(year)
    number = cache.get(key)
    if number is None:
        number = (
            RelazioneVersion.objects.filter(cycle__year=year, published_at__isnull=False)
            .exclude(pdf="")
            .order_by("-number")
            .values_list("number", flat=True)
            .first()
        ) or 0
        cache.set(key, number, PUBLIC_CACHE_SECONDS)
    return number or None


def _public_version_key(year: int) -> str:
    return f"reports:relazione-version-public:{year}"


def pdf_public_forget(*, year: int) -> None:
    """A PDF was stored or the cycle changed state: the next request looks the PDF up again.
    Forgotten now and once more after the transaction commits (a request in between may have
    remembered what was there before)."""
    keys = [_public_key(year), _public_version_key(year)]
    cache.delete_many(keys)
    transaction.on_commit(lambda: cache.delete_many(keys))


_PUBLIC_SQL = (
    "SELECT p.id, p.cycle_id, p.file, p.sha256, p.size, p.finished_at"
    " FROM {pdf} p INNER JOIN {cycle} c ON c.id = p.cycle_id"
    " WHERE c.year = %s AND c.status = %s AND p.status = %s AND p.is_draft = %s"
    " ORDER BY p.finished_at DESC, p.id DESC LIMIT 1"
)


def pdf_ensure_public(*, cycle: Cycle) -> RelazionePdf | None:
    """Queue the PDF of a published cycle that has none yet (a citizen asked for it). Nothing
    when one is already queued or running, or when the last one failed a moment ago."""
    jobs = RelazionePdf.objects.filter(cycle=cycle, is_draft=False)
    if jobs.filter(status__in=[Status.PENDING, Status.RUNNING]).exists():
        return None
    if jobs.filter(
        status=Status.FAILED, finished_at__gte=timezone.now() - RETRY_AFTER_FAILURE
    ).exists():
        return None
    return pdf_request(cycle=cycle, user=None)


def pdf_pending() -> list[RelazionePdf]:
    """The jobs a worker should render, oldest first (stale running ones included)."""
    stale = timezone.now() - STALE_AFTER
    return list(
        RelazionePdf.objects.filter(
            Q(status=Status.PENDING) | Q(status=Status.RUNNING, started_at__lt=stale)
        )
        .select_related("cycle__organization")
        .order_by("created_at", "id")
    )


# -------------------------------------------------------------------------------- render


def _claim(job: RelazionePdf) -> bool:
    now = timezone.now()
    claimable = Q(status=Status.PENDING) | Q(
        status=Status.RUNNING, started_at__lt=now - STALE_AFTER
    )
    return bool(
        RelazionePdf.objects.filter(claimable, pk=job.pk).update(
            status=Status.RUNNING,
            started_at=now,
            finished_at=None,
            progress="Avvio",
            error="",
        )
    )


def pdf_render(*, job: RelazionePdf, source: pdf.RelazioneSource | None = None) -> RelazionePdf:
    """Render the job's PDF and store it. Safe to run twice: a job that is done, failed or
    being rendered elsewhere is left as it is (returned as stored)."""
    if not _claim(job):
        job.refresh_from_db()
        return job
    job.refresh_from_db()
    try:
        cycle = Cycle.objects.select_related("organization").get(pk=job.cycle_id)
        if source is None or source.digest != job.content_digest:
            source = pdf.relazione_source(cycle=cycle)
        if source.digest != job.content_digest:
            # The data changed while the job waited: render what is there now, under its digest.
            newer = RelazionePdf.objects.filter(cycle=cycle, content_digest=source.digest)
            if newer.exclude(pk=job.pk).exists():
                _finish(
                    job,
                    Status.FAILED,
                    error="I contenuti sono cambiati dopo la richiesta e la versione attuale ha "
                    "già una sua richiesta: questa non viene generata.",
                )
                return job
            job.content_digest = source.digest
            job.is_draft = source.is_draft
            job.save(update_fields=["content_digest", "is_draft"])

        rendered = pdf.render_source(source, progress=_progress_writer(job))
        name = relazione_pdf_path(job, "")
        storage = job.file.storage
        if storage.exists(name):  # left by an attempt that stopped before recording it
            storage.delete(name)
        stored = storage.save(name, ContentFile(rendered.content))
        job.file.name = stored
        job.sha256 = hashlib.sha256(rendered.content).hexdigest()
        job.size = len(rendered.content)
        job.pages = rendered.pages
        job.save(update_fields=["file", "sha256", "size", "pages"])
        _finish(job, Status.DONE)
        pdf_public_forget(year=cycle.year)
        logger.info(
            "PDF della Relazione %s: %s pagine, %s byte, %s",
            cycle.year,
            rendered.pages,
            job.size,
            stored,
        )
    except Exception as error:
        logger.exception("PDF %s of cycle %s failed", job.pk, job.cycle_id)
        _finish(job, Status.FAILED, error=f"{type(error).__name__}: {error}"[:2000])
    return job


def _finish(job: RelazionePdf, status: str, *, error: str = "") -> None:
    job.status = status
    job.error = error
    job.progress = ""
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "progress", "finished_at"])


def _progress_writer(job: RelazionePdf):
    last = [0.0, ""]

    def write(text: str) -> None:
        now = time.monotonic()
        if text == last[1] or (now - last[0] < PROGRESS_EVERY and "pagina" in text):
            return
        last[0], last[1] = now, text
        RelazionePdf.objects.filter(pk=job.pk, status=Status.RUNNING).update(progress=text[:200])

    return write


# ---------------------------------------------------------------------------- background


def pdf_render_in_background(job: RelazionePdf) -> bool:
    """Development: render the job in a thread of this process once the request's transaction
    has committed (settings.PDF_RENDER_INLINE_THREAD). Otherwise the worker renders it."""
    if not inline_thread_enabled():
        return False

    def start() -> None:
        threading.Thread(
            target=_render_thread, args=(job.pk,), name=f"relazione-pdf-{job.pk}", daemon=True
        ).start()

    transaction.on_commit(start)
    return True


def _render_thread(pk: int) -> None:
    with _render_slot:
        close_old_connections()
        try:
            job = RelazionePdf.objects.filter(pk=pk).first()
            if job is not None:
                pdf_render(job=job)
        except Exception:  # pragma: no cover - pdf_render records its own failures
            logger.exception("Background render of PDF %s failed", pk)
        finally:
            connections.close_all()
