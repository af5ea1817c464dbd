"""The PDF of the Relazione: the public file and the staff's preview (reports.relazione.pdf_jobs).

- ``/trasparenza/performance/<year>/relazione.pdf``: the stored PDF of a published cycle, served
  as a file (one query, no rendering). None stored yet: 503 with Retry-After, and a render is
  queued: a citizen never waits for WeasyPrint.
- ``/lavoro/<year>/relazione/pdf/``: the staff page. Controllo di gestione and OIV generate a PDF
  of any cycle state (POST); every persona who sees the cycle downloads the stored ones.
- ``/lavoro/<year>/relazione/pdf/<id>/``: progress of a render (polls ``stato.json`` every 2 s
  with static/js/pdf-progress.js; without JavaScript a meta refresh), then the download link.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseNotModified, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.http import http_date
from django.views.decorators.http import require_GET, require_http_methods, require_safe

from organization import permissions
from performance.views.common import cycle_for, persona_required
from reports.models.pdf import RelazionePdf
from reports.relazione import files
from reports.relazione import pdf_jobs as services_pdf
from reports.relazione import selectors as report_selectors

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 60
POLL_SECONDS = 2
STAFF_JOBS_SHOWN = 10


def can_request_pdf(user) -> bool:
    """Controllo di gestione (and Amministratore) and OIV generate PDFs of any cycle state."""
    return permissions.is_controllo(user) or permissions.is_oiv(user)


def _etag(job: RelazionePdf) -> str:
    return f'"{job.sha256}"'


def _file_response(request, job: RelazionePdf, filename: str) -> HttpResponse:
    etag = _etag(job)
    if files.etag_matches(request, etag):
        response = HttpResponseNotModified()
        response["ETag"] = etag
        return response
    try:
        handle = open(job.file.path, "rb")  # noqa: SIM115 - FileResponse closes it
    except NotImplementedError:  # a storage without local paths
        handle = job.file.storage.open(job.file.name, "rb")
    response = files.pdf_response(handle, filename=filename, etag=etag)
    if "Content-Length" not in response:  # FileResponse measures the file when it can
        response["Content-Length"] = str(job.size)
    if job.finished_at:
        response["Last-Modified"] = http_date(job.finished_at.timestamp())
    return response


# ---------------------------------------------------------------------------------- public


@require_safe
def relazione_pdf(request, year: int):
    number = services_pdf.pdf_public_version(year=year)
    if number is not None:  # validated and published: the frozen version's PDF, with its digest
        response = redirect("workflow:public-version-pdf", year=year, number=number)
        patch_cache_control(response, public=True, max_age=300)
        return response
    job = services_pdf.pdf_public(year=year)
    for fresh in (False, True):  # a remembered PDF whose file is gone: look it up again
        if fresh:
            job = services_pdf.pdf_public(year=year, fresh=True)
        if job is None:
            break
        try:
            response = _file_response(request, job, f"relazione-performance-{year}.pdf")
        except OSError:
            logger.error("PDF %s: stored file %s cannot be read", job.pk, job.file.name)
        else:
            patch_cache_control(response, public=True, max_age=300)
            return response
    cycle = report_selectors.published_cycle(year=year)
    if cycle is None:
        raise Http404("Nessuna Relazione pubblicata per questo anno.")
    services_pdf.pdf_ensure_public(cycle=cycle)
    response = HttpResponse(
        render_to_string(
            "reports/relazione/pdf/unavailable.html",
            {
                "year": year,
                "organization_name": str(cycle.organization),
                "retry_after": RETRY_AFTER_SECONDS,
            },
            request=request,
        ),
        status=503,
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    patch_cache_control(response, no_store=True)
    return response


# ----------------------------------------------------------------------------------- staff


def _job_for(request, year: int, pk: int) -> RelazionePdf:
    cycle = cycle_for(request, year)
    job = get_object_or_404(RelazionePdf.objects.select_related("requested_by"), pk=pk, cycle=cycle)
    job.cycle = cycle
    return job


def _private(response: HttpResponse) -> HttpResponse:
    response["X-Robots-Tag"] = "noindex, nofollow"
    patch_cache_control(response, private=True, no_store=True)
    return response


@persona_required
@require_http_methods(["GET", "POST"])
def staff(request, year: int):
    cycle = cycle_for(request, year)
    may_request = can_request_pdf(request.user)
    if request.method == "POST":
        if not may_request:
            raise PermissionDenied("Solo il controllo di gestione e l'OIV generano il PDF.")
        job = services_pdf.pdf_request(cycle=cycle, user=request.user)
        return redirect("pdf:progress", year=year, pk=job.pk)
    jobs = list(
        RelazionePdf.objects.filter(cycle=cycle)
        .select_related("requested_by")
        .order_by("-created_at", "-id")[:STAFF_JOBS_SHOWN]
    )
    for job in jobs:
        job.cycle = cycle
    public = (
        services_pdf.pdf_public(year=year, fresh=True)
        if cycle.status == cycle.Status.PUBLISHED
        else None
    )
    return _private(
        render(
            request,
            "reports/relazione/pdf/staff.html",
            {
                "cycle": cycle,
                "year": year,
                "jobs": jobs,
                "may_request": may_request,
                "public_job": public,
                "is_published": cycle.status == cycle.Status.PUBLISHED,
            },
        )
    )


def _status_payload(job: RelazionePdf, year: int) -> dict:
    done = job.status == RelazionePdf.Status.DONE
    return {
        "id": job.pk,
        "status": job.status,
        "status_label": job.get_status_display(),
        "progress": job.progress,
        "finished": job.is_finished,
        "error": job.error if job.status == RelazionePdf.Status.FAILED else "",
        "pages": job.pages if done else None,
        "size": job.size if done else None,
        "download_url": reverse("pdf:download", args=[year, job.pk]) if done else None,
        "message_html": render_to_string(
            "reports/relazione/pdf/job_summary.html", {"job": job}
        ).strip(),
    }


@persona_required
@require_GET
def progress(request, year: int, pk: int):
    job = _job_for(request, year, pk)
    return _private(
        render(
            request,
            "reports/relazione/pdf/progress.html",
            {
                "cycle": job.cycle,
                "year": year,
                "job": job,
                "poll_seconds": POLL_SECONDS,
                "status_url": reverse("pdf:status", args=[year, job.pk]),
                "may_request": can_request_pdf(request.user),
            },
        )
    )


@persona_required
@require_GET
def status(request, year: int, pk: int):
    job = _job_for(request, year, pk)
    return _private(JsonResponse(_status_payload(job, year)))


@persona_required
@require_safe
def download(request, year: int, pk: int):
    job = _job_for(request, year, pk)
    if job.status != RelazionePdf.Status.DONE or not job.file:
        raise Http404("Il PDF non è ancora pronto.")
    try:
        response = _file_response(request, job, job.download_name)
    except OSError as error:
        raise Http404("Il file del PDF non è più disponibile: generarlo di nuovo.") from error
    return _private(response)
