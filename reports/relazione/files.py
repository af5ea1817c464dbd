"""The file responses of the Relazione's downloads, one way for every view that serves them: the
PDF of a year (reports.relazione.views_pdf), the PDFs of a frozen version (reports.workflow.views),
the open data (reports.trasparenza.views, the frozen versions)."""

from __future__ import annotations

from typing import BinaryIO

from django.http import FileResponse, HttpRequest, HttpResponse

from reports.relazione import open_data


def etag_matches(request: HttpRequest, etag: str) -> bool:
    """Does the request's If-None-Match name ``etag`` (weak or strong) or "*"?"""
    tags = [
        tag.strip().removeprefix("W/")
        for tag in request.headers.get("If-None-Match", "").split(",")
    ]
    return etag in tags or "*" in tags


def pdf_response(handle: BinaryIO, *, filename: str, etag: str) -> FileResponse:
    """A PDF shown in the browser (``inline``), with its ETag; FileResponse closes ``handle``."""
    response = FileResponse(handle, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["ETag"] = etag
    response["X-Content-Type-Options"] = "nosniff"
    return response


def open_data_response(
    content: str, *, fmt: str, filename: str, content_type: str | None = None
) -> HttpResponse:
    """dati.csv or dati.json (``fmt``), shown inline, with the license's Link and open to any
    origin (CORS)."""
    if content_type is None:
        content_type = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return open_data_headers(response)


def open_data_headers(response: HttpResponse) -> HttpResponse:
    response["Link"] = open_data.LICENSE_LINK
    response["Access-Control-Allow-Origin"] = "*"
    return response
