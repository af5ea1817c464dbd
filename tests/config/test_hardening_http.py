"""Attack run, finding 2: HTTP responses of the workspace and the error pages.

- Workspace pages and exports had no ``Cache-Control: private, no-store`` (a shared computer's
  browser, or a proxy, kept them): now every workspace, admin and log-in response, and every
  response to a signed-in user, has it (config.middleware.PrivateCacheMiddleware); the public
  pages under /trasparenza/ keep their own headers (public caching, ETag).
- The 400 page was Django's English default: now templates/400.html, in Italian.
- Every 403 wrote a full traceback to the log: now one line (config.log_filters), while a 500
  keeps its traceback.
"""

from __future__ import annotations

import hashlib
import io
import logging

import pytest
from django.core.files.base import ContentFile
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.utils import timezone

from organization.models import Cycle
from reports.models.pdf import RelazionePdf
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

YEAR = 2019


def _private(response) -> bool:
    directives = {d.strip() for d in response.get("Cache-Control", "").split(",")}
    return {"private", "no-store"} <= directives and "public" not in directives


# ----------------------------------------------------------------------------- Cache-Control


@pytest.mark.parametrize(
    "url",
    [
        "/lavoro/",
        f"/lavoro/{YEAR}/valori/",
        f"/lavoro/{YEAR}/obiettivi/",
        f"/lavoro/{YEAR}/indicatori/?_export=csv",
        f"/lavoro/{YEAR}/obiettivi/?_export=xlsx",
        f"/lavoro/{YEAR}/esporta/piano.csv",
        f"/lavoro/{YEAR}/esporta/valori.xlsx",
        f"/lavoro/{YEAR}/albero/",
        f"/lavoro/{YEAR}/relazione/anteprima/",
        "/admin/",
    ],
)
def test_workspace_pages_and_exports_are_private_and_not_stored(cycle_2019, personas, url):
    client = personas.client("controllo")
    if url == "/admin/":
        client.force_login(personas.admin)
    response = client.get(url)
    assert response.status_code == 200, url
    assert _private(response), (url, response.get("Cache-Control"))


def test_a_stored_pdf_download_is_private_and_not_stored(cycle_2019, personas):
    job = _done_job(cycle_2019)
    response = personas.client("controllo").get(f"/lavoro/{YEAR}/relazione/pdf/{job.pk}/scarica/")
    assert response.status_code == 200
    assert _private(response)


@pytest.mark.parametrize("url", ["/lavoro/", f"/lavoro/{YEAR}/valori/", "/accedi/", "/admin/"])
def test_the_log_in_and_its_redirects_are_not_stored_either(db, url):
    response = Client().get(url)
    assert response.status_code in (200, 302)
    assert _private(response)


def test_a_signed_in_user_gets_private_responses_outside_the_workspace_too(cycle_2019, personas):
    response = personas.client("controllo").get("/")  # the redirect to the public index
    assert response.status_code == 302
    assert _private(response)


def _done_job(cycle: Cycle) -> RelazionePdf:
    content = b"%PDF-1.7\n% prova\n%%EOF\n"
    digest = hashlib.sha256(content).hexdigest()
    job = RelazionePdf.objects.create(cycle=cycle, content_digest=digest, is_draft=False)
    job.file.save("prova.pdf", ContentFile(content), save=False)
    job.sha256, job.size, job.pages = digest, len(content), 1
    job.status, job.finished_at = RelazionePdf.Status.DONE, timezone.now()
    job.save()
    return job


@pytest.mark.parametrize("signed_in", [False, True])
def test_public_pages_keep_their_own_caching_and_etag(cycle_2019, personas, signed_in):
    cycle_2019.status = Cycle.Status.PUBLISHED
    cycle_2019.save()
    job = _done_job(cycle_2019)
    client = personas.client("controllo") if signed_in else Client()
    pdf = client.get(f"/trasparenza/performance/{YEAR}/relazione.pdf")
    assert pdf.status_code == 200
    assert pdf["Cache-Control"] == "public, max-age=300"
    assert pdf["ETag"] == f'"{job.sha256}"'
    again = client.get(
        f"/trasparenza/performance/{YEAR}/relazione.pdf", HTTP_IF_NONE_MATCH=f'"{job.sha256}"'
    )
    assert again.status_code == 304
    index = client.get("/trasparenza/performance/")
    assert index.status_code == 200
    assert "no-store" not in index.get("Cache-Control", "")
    assert client.get(f"/trasparenza/performance/{YEAR}/dati.csv").get("Cache-Control") is None


@pytest.mark.parametrize(
    "path", ["/static/css/app.css", "/trasparenza/performance/2019/versioni/1/relazione.pdf"]
)
def test_the_middleware_leaves_public_and_static_headers_alone(db, path):
    from config.middleware import PrivateCacheMiddleware

    def view(request):
        response = HttpResponse("x")
        response["Cache-Control"] = "max-age=31536000, public, immutable"
        response["ETag"] = '"abc"'
        return response

    request = RequestFactory().get(path)
    request.COOKIES["sessionid"] = "x"
    request.user = UserFactory()  # signed in
    response = PrivateCacheMiddleware(view)(request)
    assert response["Cache-Control"] == "max-age=31536000, public, immutable"
    assert response["ETag"] == '"abc"'


# ------------------------------------------------------------------------------ the 400 page


def test_the_400_page_is_in_italian(db):
    response = Client().get("/trasparenza/performance/", HTTP_HOST="attaccante.example")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Richiesta non valida" in html
    assert '<html lang="it"' in html
    assert "Bad Request" not in html


# ---------------------------------------------------------------------------------- the log


@pytest.fixture
def console():
    """What the site's console handler (LOGGING in config/settings.py) writes."""
    handlers = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    assert handlers, "the console handler of LOGGING"
    buffer = io.StringIO()
    previous = [h.setStream(buffer) for h in handlers]
    yield buffer
    for handler, stream in zip(handlers, previous, strict=True):
        handler.setStream(stream)


def test_a_403_is_logged_on_one_line_without_the_traceback(cycle_2019, personas, console):
    response = personas.client("oiv").get(f"/lavoro/{YEAR}/relazione/")
    assert response.status_code == 403
    lines = [line for line in console.getvalue().splitlines() if line.strip()]
    forbidden = [line for line in lines if "Forbidden (Permission denied)" in line]
    assert forbidden == [
        f"Forbidden (Permission denied): /lavoro/{YEAR}/relazione/ (PermissionDenied: "
        "Solo il controllo di gestione modifica la Relazione.)"
    ]
    assert "Traceback" not in console.getvalue()


def test_a_bad_host_is_logged_on_one_line(db, console):
    assert Client().get("/", HTTP_HOST="attaccante.example").status_code == 400
    text = console.getvalue()
    assert "Invalid HTTP_HOST header: 'attaccante.example'" in text
    assert "Traceback" not in text
    assert len([line for line in text.splitlines() if line.strip()]) == 1


def test_a_500_keeps_its_traceback(cycle_2019, personas, console, monkeypatch):
    from reports.trasparenza import views as views_public

    def broken(*args, **kwargs):
        raise RuntimeError("difetto di prova")

    monkeypatch.setattr(views_public, "relazione_context", broken)
    client = personas.client("controllo")
    client.raise_request_exception = False
    response = client.get(f"/lavoro/{YEAR}/relazione/anteprima/")
    assert response.status_code == 500
    text = console.getvalue()
    assert f"Internal Server Error: /lavoro/{YEAR}/relazione/anteprima/" in text
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: difetto di prova" in text
