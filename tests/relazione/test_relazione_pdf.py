"""The PDF of the Relazione (reports.relazione.pdf, reports.relazione.pdf_jobs,
reports.relazione.views_pdf).

The real 2019 PDF is rendered once per test session (``rendered``, a few seconds, marked slow):
its pages, metadata, PDF/A identification, attachments and table of contents are read back with
pypdf. Every other test replaces WeasyPrint with a fake renderer (``fake_render``): the jobs, the
digest, the stored files, the public and staff views and the worker are tested without waiting.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from organization import roles
from organization.models import Cycle, Unit
from performance.dataset import read_dataset
from reports.models import Section
from reports.models.pdf import RelazionePdf
from reports.relazione import pdf
from reports.relazione import pdf_jobs as services_pdf
from reports.relazione.services import relazione_load
from tests.factories import UserFactory
from tests.personas import Personas

ROOT = Path(__file__).resolve().parents[2]
RELAZIONE_2019 = ROOT / "fixtures" / "relazione-2019.yaml"
YEAR = 2019
PUBLIC = f"/trasparenza/performance/{YEAR}/relazione.pdf"
STAFF = f"/lavoro/{YEAR}/relazione/pdf/"
FAKE_PDF = b"%PDF-1.7\n% finto PDF dei test\n%%EOF\n"

Status = RelazionePdf.Status


# ------------------------------------------------------------------------------- helpers


def publish(cycle: Cycle) -> Cycle:
    cycle.status = Cycle.Status.PUBLISHED
    cycle.save()
    return cycle


def user(username: str, group: str | None = None, unit: Unit | None = None):
    roles.roles_sync()
    account = UserFactory(username=username)
    if group:
        account.groups.add(Group.objects.get(name=group))
    if unit is not None:
        unit.referents.add(account)
    return account


def client_for(account=None) -> Client:
    client = Client()
    if account is not None:
        client.force_login(account)
    return client


# this file's names for the personas (tests/personas.py); its referent is Promozione's
PERSONAS = {
    "controllo": "controllo",
    "oiv": "oiv",
    "referente": "referente-altro",
    "senza-ruolo": "nessun-ruolo",
}


def persona(name: str, cycle: Cycle):
    return Personas(cycle)[PERSONAS[name]]


def done_job(cycle: Cycle, content: bytes = FAKE_PDF, *, is_draft: bool = False) -> RelazionePdf:
    """A stored PDF as the worker leaves it (in the test MEDIA_ROOT)."""
    job = RelazionePdf.objects.create(
        cycle=cycle, content_digest=hashlib.sha256(content).hexdigest(), is_draft=is_draft
    )
    from django.core.files.base import ContentFile

    job.file.save("x.pdf", ContentFile(content), save=False)
    job.sha256 = hashlib.sha256(content).hexdigest()
    job.size = len(content)
    job.pages = 1
    job.status = Status.DONE
    job.finished_at = timezone.now()
    job.save()
    return job


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """Files under a temporary MEDIA_ROOT; no background threads (the worker is explicit)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PDF_RENDER_INLINE_THREAD = False
    return settings.MEDIA_ROOT


@pytest.fixture
def relazione(cycle_2019):
    return relazione_load(cycle=cycle_2019, data=read_dataset(RELAZIONE_2019))


@dataclass
class FakeRender:
    calls: int = 0
    fail: bool = False

    def __call__(self, source, *, progress=None):
        self.calls += 1
        if progress is not None:
            progress("Impaginazione: pagina 1")
        if self.fail:
            raise RuntimeError("WeasyPrint non disponibile")
        return pdf.RenderedPdf(FAKE_PDF + source.digest.encode(), 1)


@pytest.fixture
def fake_render(monkeypatch) -> FakeRender:
    fake = FakeRender()
    monkeypatch.setattr(pdf, "render_source", fake)
    return fake


# --------------------------------------------------------------- the real PDF, rendered once


@dataclass
class Rendered:
    content: bytes
    job_file: str
    digest: str
    title: str
    organization_name: str
    public_csv: bytes
    public_json: dict
    media_root: Path

    @property
    def reader(self):
        import pypdf

        return pypdf.PdfReader(io.BytesIO(self.content))


@pytest.fixture(scope="session")
def rendered(django_db_setup, django_db_blocker, tmp_path_factory) -> Rendered:
    """The 2019 PDF (published, with the reference narrative), rendered once per session by
    the real service; the database changes are rolled back, the bytes are kept."""
    media_root = tmp_path_factory.mktemp("media-pdf")
    with (
        django_db_blocker.unblock(),
        override_settings(MEDIA_ROOT=media_root, PDF_RENDER_INLINE_THREAD=False),
        transaction.atomic(),
    ):
        cycle = Cycle.objects.select_related("organization").get(year=YEAR)
        relazione = relazione_load(cycle=cycle, data=read_dataset(RELAZIONE_2019))
        publish(cycle)
        job = services_pdf.pdf_request(cycle=cycle, background=False)
        job = services_pdf.pdf_render(job=job)
        assert job.status == Status.DONE, job.error
        content = job.file.read()
        job.file.close()
        client = Client()
        public_csv = client.get(f"/trasparenza/performance/{YEAR}/dati.csv").content
        public_json = client.get(f"/trasparenza/performance/{YEAR}/dati.json").json()
        result = Rendered(
            content=content,
            job_file=job.file.name,
            digest=job.content_digest,
            title=relazione.title,
            organization_name=cycle.organization.name,
            public_csv=public_csv,
            public_json=public_json,
            media_root=media_root,
        )
        transaction.set_rollback(True)
    return result


@pytest.fixture(scope="session")
def pages(rendered) -> list[str]:
    return [page.extract_text() or "" for page in rendered.reader.pages]


@pytest.mark.slow
def test_the_pdf_renders_with_many_a4_pages(rendered):
    assert rendered.content.startswith(b"%PDF-")
    reader = rendered.reader
    assert len(reader.pages) > 10
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4 in points
    assert re.fullmatch(
        rf"relazioni/{YEAR}/relazione-{YEAR}-{rendered.digest[:12]}\.pdf", rendered.job_file
    )


@pytest.mark.slow
def test_metadata_title_author_language_keywords(rendered):
    reader = rendered.reader
    info = reader.metadata
    assert info.title == rendered.title
    assert info.author == rendered.organization_name
    assert "Relazione sulla performance" in info["/Keywords"]
    assert str(YEAR) in info.subject
    assert reader.trailer["/Root"]["/Lang"] == "it"


@pytest.mark.slow
def test_pdf_a_3u_identification_in_the_xmp_metadata(rendered):
    root = rendered.reader.trailer["/Root"]
    xmp = root["/Metadata"].get_object().get_data().decode()
    assert 'pdfaid:part="3"' in xmp
    assert 'pdfaid:conformance="U"' in xmp
    assert rendered.title in xmp  # dc:title
    assert root["/OutputIntents"][0].get_object()["/S"] == "/GTS_PDFA1"


@pytest.mark.slow
def test_the_open_data_are_embedded_as_associated_files(rendered):
    reader = rendered.reader
    attachments = reader.attachments
    assert sorted(attachments) == ["dati.csv", "dati.json"]
    # the same CSV as the public file
    assert attachments["dati.csv"][0] == rendered.public_csv
    rows = list(csv.reader(io.StringIO(attachments["dati.csv"][0].decode("utf-8"))))
    assert len(rows) > 100
    data = json.loads(attachments["dati.json"][0])
    assert data["license"] == "CC-BY-4.0"
    assert data["records"] == rendered.public_json["records"]
    assert data["totals"] == rendered.public_json["totals"]
    # PDF/A-3: each file listed once in /AF, with its relationship, MIME type and description
    files = [ref.get_object() for ref in reader.trailer["/Root"]["/AF"]]
    assert sorted(f["/UF"] for f in files) == ["dati.csv", "dati.json"]
    for spec in files:
        assert spec["/AFRelationship"] == "/Data"
        assert "Licenza CC-BY-4.0" in spec["/Desc"]
    subtypes = {f["/UF"]: f["/EF"]["/F"].get_object()["/Subtype"] for f in files}
    assert subtypes == {"dati.csv": "/text/csv", "dati.json": "/application/json"}


@pytest.mark.slow
def test_title_page_and_page_numbers(rendered, pages):
    assert rendered.title in pages[0]
    assert rendered.organization_name.upper() in pages[0]
    total = len(pages)
    for number in (1, 3, total):
        assert f"Pagina {number} di {total}" in pages[number - 1]
    assert rendered.title in pages[2]  # the running header, from page 2 on


@pytest.mark.slow
def test_the_table_of_contents_has_the_right_page_numbers(pages):
    toc = pages[1]
    assert "Sommario" in toc
    entries = dict(
        (label.strip(), int(number))
        for label, number in re.findall(r"^(.+?)\s*\.{3,}\s*(\d+)\s*$", toc, re.M)
    )
    for label in (
        "Premessa",
        "1. I principali risultati raggiunti",
        "3.1 Rendicontazione degli obiettivi strategici",
        "3.2 Rendicontazione degli obiettivi operativi",
        "Note sul calcolo",
        "Dati aperti",
    ):
        assert label in entries, f"{label!r} manca dal sommario: {sorted(entries)}"
        page = entries[label]
        assert 1 < page <= len(pages)
        assert label in pages[page - 1], f"{label!r} non è a pagina {page}"
    numbers = list(entries.values())
    assert numbers == sorted(numbers)


@pytest.mark.slow
def test_table_headers_repeat_on_every_page_of_a_long_table(pages):
    # the operational tables run over several pages: each page shows the header again
    header_pages = [i for i, text in enumerate(pages) if "Dati al 31.12." in text]
    assert len(header_pages) >= 3
    assert any(b == a + 1 for a, b in itertools.pairwise(header_pages))


@pytest.mark.slow
def test_the_engines_figures_are_in_the_pdf(pages):
    text = "\n".join(pages)
    for figure in ("98,1%", "93,04%", "79,75%"):
        assert figure in text


# ------------------------------------------------------------------------ sources, digest


def test_the_digest_is_stable_and_follows_the_content(relazione, cycle_2019):
    first = pdf.relazione_source(cycle=cycle_2019)
    again = pdf.relazione_source(cycle=cycle_2019)
    assert first.digest == again.digest
    assert re.fullmatch(r"[0-9a-f]{64}", first.digest)
    assert first.html == again.html

    section = Section.objects.get(relazione=relazione, key="premessa")
    section.body += "\n\nUna frase aggiunta."
    section.save()
    changed = pdf.relazione_source(cycle=cycle_2019)
    assert changed.digest != first.digest
    assert "Una frase aggiunta." in changed.html


def test_the_html_is_the_shared_document_with_the_print_stylesheet(relazione, cycle_2019):
    source = pdf.relazione_source(cycle=cycle_2019)
    html = source.html
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert '<html lang="it">' in html
    assert f"<title>{relazione.title} (bozza)</title>" in html  # 2019 is not published here
    assert f'<meta name="author" content="{cycle_2019.organization.name}">' in html
    assert 'id="relazione-titolo"' in html  # the document partial
    assert "relazione-print.css" in html
    assert "bootstrap" not in html.lower()
    assert "BOZZA" in html and source.is_draft
    assert [a.name for a in source.attachments] == ["dati.csv", "dati.json"]

    publish(cycle_2019)
    published = pdf.relazione_source(cycle=cycle_2019)
    assert not published.is_draft
    assert "BOZZA" not in published.html
    assert published.digest != source.digest


def test_static_files_are_read_from_the_disk_and_the_network_is_refused():
    fetcher = pdf.url_fetcher_for("https://performance.example.org/")
    css = fetcher("https://performance.example.org/static/css/relazione-print.css")
    assert css.content_type == "text/css"
    assert b"@page" in css.read()
    font = fetcher(
        "https://performance.example.org/static/fonts/Titillium_Web/"
        "titillium-web-v10-latin-ext_latin-regular.ttf"
    )
    assert len(font.read()) > 10_000
    for url in (
        "https://example.com/tracker.png",
        "https://performance.example.org/static/../config/settings.py",
        "https://performance.example.org/static/css/non-esiste.css",
        "file:///etc/passwd",
    ):
        with pytest.raises(ValueError):
            fetcher(url)


# ---------------------------------------------------------------------------- services


def test_requesting_twice_renders_once(cycle_2019, fake_render, media):
    controllo = persona("controllo", cycle_2019)
    job = services_pdf.pdf_request(cycle=cycle_2019, user=controllo)
    assert job.status == Status.PENDING and job.requested_by == controllo and job.is_draft
    assert services_pdf.pdf_request(cycle=cycle_2019, user=controllo).pk == job.pk

    job = services_pdf.pdf_render(job=job)
    assert job.status == Status.DONE
    assert services_pdf.pdf_render(job=job).status == Status.DONE  # safe to run twice
    again = services_pdf.pdf_request(cycle=cycle_2019, user=controllo)
    assert again.pk == job.pk and again.status == Status.DONE
    assert fake_render.calls == 1
    assert RelazionePdf.objects.count() == 1

    content = FAKE_PDF + job.content_digest.encode()
    assert job.file.name == f"relazioni/{YEAR}/relazione-{YEAR}-{job.content_digest[:12]}.pdf"
    assert (media / job.file.name).read_bytes() == content
    assert job.sha256 == hashlib.sha256(content).hexdigest()
    assert job.size == len(content) and job.pages == 1
    assert job.started_at <= job.finished_at


def test_a_new_version_is_a_new_job(relazione, cycle_2019, fake_render):
    first = services_pdf.pdf_request(cycle=cycle_2019)
    services_pdf.pdf_render(job=first)
    section = Section.objects.get(relazione=relazione, key="risultati")
    section.body = "Testo cambiato."
    section.save()
    second = services_pdf.pdf_request(cycle=cycle_2019)
    assert second.pk != first.pk and second.content_digest != first.content_digest
    services_pdf.pdf_render(job=second)
    assert fake_render.calls == 2
    second.refresh_from_db()
    assert second.file.name != first.file.name


def test_a_failed_render_is_recorded_and_requested_again(cycle_2019, fake_render):
    fake_render.fail = True
    job = services_pdf.pdf_render(job=services_pdf.pdf_request(cycle=cycle_2019))
    assert job.status == Status.FAILED
    assert "WeasyPrint non disponibile" in job.error
    assert not job.file

    fake_render.fail = False
    again = services_pdf.pdf_request(cycle=cycle_2019)
    assert again.pk == job.pk and again.status == Status.PENDING and again.error == ""
    assert services_pdf.pdf_render(job=again).status == Status.DONE


def test_a_running_job_is_not_rendered_twice_unless_stale(cycle_2019, fake_render):
    job = services_pdf.pdf_request(cycle=cycle_2019)
    RelazionePdf.objects.filter(pk=job.pk).update(status=Status.RUNNING, started_at=timezone.now())
    assert services_pdf.pdf_render(job=job).status == Status.RUNNING
    assert services_pdf.pdf_pending() == []
    RelazionePdf.objects.filter(pk=job.pk).update(
        started_at=timezone.now() - services_pdf.STALE_AFTER * 2
    )
    assert [j.pk for j in services_pdf.pdf_pending()] == [job.pk]
    assert services_pdf.pdf_render(job=job).status == Status.DONE
    assert fake_render.calls == 1


def test_content_changed_while_waiting_renders_the_current_version(
    relazione, cycle_2019, fake_render
):
    job = services_pdf.pdf_request(cycle=cycle_2019)
    old = job.content_digest
    Section.objects.filter(relazione=relazione, key="premessa").update(body="Nuova premessa.")
    job = services_pdf.pdf_render(job=job)
    assert job.status == Status.DONE
    assert job.content_digest != old
    assert job.content_digest == pdf.relazione_source(cycle=cycle_2019).digest


def test_a_lost_file_is_rendered_again(cycle_2019, fake_render, media):
    job = services_pdf.pdf_render(job=services_pdf.pdf_request(cycle=cycle_2019))
    (media / job.file.name).unlink()
    again = services_pdf.pdf_request(cycle=cycle_2019)
    assert again.pk == job.pk and again.status == Status.PENDING
    assert services_pdf.pdf_render(job=again).status == Status.DONE
    assert (media / again.file.name).exists()


def test_progress_is_recorded_while_rendering(cycle_2019, monkeypatch):
    seen = []

    def render(source, *, progress=None):
        progress("Lettura del documento")
        seen.append(RelazionePdf.objects.get().progress)
        return pdf.RenderedPdf(FAKE_PDF, 1)

    monkeypatch.setattr(pdf, "render_source", render)
    job = services_pdf.pdf_render(job=services_pdf.pdf_request(cycle=cycle_2019))
    assert seen == ["Lettura del documento"]
    assert job.progress == ""


def test_weasyprint_progress_messages_become_italian():
    import logging

    messages = []
    handler = pdf._ProgressHandler()
    pdf._progress_callbacks[__import__("threading").get_ident()] = messages.append
    try:
        for text in (
            "Step 1 - Fetching and parsing HTML - HTML string",
            "Step 5 - Creating layout - Page 12",
            "Step 5 - Creating layout - Repagination #1",
            "Step 6 - Creating PDF",
            "Qualcos'altro",
        ):
            handler.emit(logging.LogRecord("weasyprint.progress", 20, "", 0, text, None, None))
    finally:
        pdf._progress_callbacks.clear()
    assert messages == [
        "Lettura del documento",
        "Impaginazione: pagina 12",
        "Impaginazione: aggiornamento dei numeri di pagina",
        "Scrittura del PDF",
    ]


# ------------------------------------------------------------------------------ the worker


def test_render_pdfs_processes_the_pending_jobs(cycle_2019, fake_render):
    job = services_pdf.pdf_request(cycle=cycle_2019)
    out = io.StringIO()
    call_command("render_pdfs", stdout=out)
    job.refresh_from_db()
    assert job.status == Status.DONE
    assert "PDF pronto" in out.getvalue()
    out = io.StringIO()
    call_command("render_pdfs", stdout=out)
    assert "Nessun PDF in attesa" in out.getvalue()
    assert fake_render.calls == 1


def test_render_pdfs_year_renders_now_and_published_queues_changes(cycle_2019, fake_render):
    out = io.StringIO()
    call_command("render_pdfs", "--year", str(YEAR), stdout=out)
    job = RelazionePdf.objects.get()
    assert job.status == Status.DONE and job.is_draft
    call_command("render_pdfs", "--year", str(YEAR), stdout=out)
    assert "già pronto" in out.getvalue()
    assert fake_render.calls == 1

    publish(cycle_2019)  # the status is on the title page: a new version
    call_command("render_pdfs", "--published", stdout=io.StringIO())
    public = RelazionePdf.objects.get(is_draft=False)
    assert public.status == Status.DONE
    assert fake_render.calls == 2


def test_render_pdfs_unknown_year(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Non esiste un ciclo 1999"):
        call_command("render_pdfs", "--year", "1999")


# ---------------------------------------------------------------------------- public file


def test_the_public_url_serves_the_stored_file(cycle_2019):
    publish(cycle_2019)
    job = done_job(cycle_2019)
    with CaptureQueriesContext(connection) as queries:
        response = Client().get(PUBLIC)
    assert response.status_code == 200
    assert len(queries) <= 2
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        f'inline; filename="relazione-performance-{YEAR}.pdf"'
    )
    assert response["Content-Length"] == str(len(FAKE_PDF))
    assert response["ETag"] == f'"{job.sha256}"'
    assert "Last-Modified" in response
    assert b"".join(response.streaming_content) == FAKE_PDF

    cached = Client().get(PUBLIC, HTTP_IF_NONE_MATCH=f'"{job.sha256}"')
    assert cached.status_code == 304
    assert cached["ETag"] == f'"{job.sha256}"'
    assert Client().get(PUBLIC, HTTP_IF_NONE_MATCH='"altro"').status_code == 200
    head = Client().head(PUBLIC)
    assert head.status_code == 200 and head["Content-Length"] == str(len(FAKE_PDF))
    assert Client().post(PUBLIC).status_code == 405


def test_the_latest_public_version_is_served_never_a_draft(cycle_2019):
    publish(cycle_2019)
    done_job(cycle_2019, FAKE_PDF + b"vecchio")
    newer = done_job(cycle_2019, FAKE_PDF + b"nuovo")
    done_job(cycle_2019, FAKE_PDF + b"bozza", is_draft=True)
    response = Client().get(PUBLIC)
    assert response["ETag"] == f'"{newer.sha256}"'


@pytest.mark.slow
def test_the_public_url_serves_the_real_pdf(cycle_2019, rendered, settings):
    publish(cycle_2019)
    settings.MEDIA_ROOT = rendered.media_root
    RelazionePdf.objects.create(
        cycle=cycle_2019,
        content_digest=rendered.digest,
        is_draft=False,
        status=Status.DONE,
        file=rendered.job_file,
        sha256=hashlib.sha256(rendered.content).hexdigest(),
        size=len(rendered.content),
        finished_at=timezone.now(),
    )
    response = Client().get(PUBLIC)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == rendered.content


def test_no_pdf_yet_is_503_with_retry_after_and_queues_one(cycle_2019, fake_render):
    publish(cycle_2019)
    response = Client().get(PUBLIC)
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    text = response.content.decode()
    assert "in preparazione" in text and "Riprovare" in text
    assert f"/trasparenza/performance/{YEAR}/" in text  # the HTML page meanwhile
    job = RelazionePdf.objects.get()
    assert job.status == Status.PENDING and not job.is_draft and job.requested_by is None
    assert fake_render.calls == 0  # the citizen does not wait for a render

    assert Client().get(PUBLIC).status_code == 503
    assert RelazionePdf.objects.count() == 1

    services_pdf.pdf_render(job=job)
    assert Client().get(PUBLIC).status_code == 200


def test_only_a_draft_pdf_is_503(cycle_2019, fake_render):
    publish(cycle_2019)
    done_job(cycle_2019, is_draft=True)
    assert Client().get(PUBLIC).status_code == 503


def test_a_recent_failure_is_not_retried_at_each_request(cycle_2019, fake_render):
    publish(cycle_2019)
    fake_render.fail = True
    Client().get(PUBLIC)
    services_pdf.pdf_render(job=RelazionePdf.objects.get())
    assert Client().get(PUBLIC).status_code == 503
    assert RelazionePdf.objects.get().status == Status.FAILED


def test_a_cycle_not_published_has_no_public_pdf(cycle_2019, fake_render):
    done_job(cycle_2019)  # e.g. published, then withdrawn
    assert Client().get(PUBLIC).status_code == 404
    assert Client().get("/trasparenza/performance/1999/relazione.pdf").status_code == 404
    assert RelazionePdf.objects.count() == 1


def test_a_missing_file_is_503_not_500(cycle_2019, fake_render, media):
    publish(cycle_2019)
    job = done_job(cycle_2019)
    (media / job.file.name).unlink()
    assert Client().get(PUBLIC).status_code == 503


# ------------------------------------------------------------------------- staff preview


def test_anonymous_users_go_to_the_log_in(cycle_2019):
    job = done_job(cycle_2019, is_draft=True)
    for url in (
        STAFF,
        f"{STAFF}{job.pk}/",
        f"{STAFF}{job.pk}/stato.json",
        f"{STAFF}{job.pk}/scarica/",
    ):
        response = Client().get(url)
        assert response.status_code == 302 and "/accedi/" in response["Location"], url
    assert Client().post(STAFF).status_code == 302
    assert RelazionePdf.objects.count() == 1


def test_users_without_a_role_are_refused(cycle_2019):
    job = done_job(cycle_2019, is_draft=True)
    client = client_for(persona("senza-ruolo", cycle_2019))
    for url in (STAFF, f"{STAFF}{job.pk}/scarica/"):
        assert client.get(url).status_code == 403
    assert client.post(STAFF).status_code == 403


@pytest.mark.parametrize("name", ["controllo", "oiv"])
def test_controllo_and_oiv_generate_a_preview_of_any_state(name, cycle_2019, fake_render):
    assert cycle_2019.status != Cycle.Status.PUBLISHED
    client = client_for(persona(name, cycle_2019))
    page = client.get(STAFF)
    assert page.status_code == 200
    assert "Genera PDF" in page.content.decode()
    assert page["X-Robots-Tag"] == "noindex, nofollow"

    response = client.post(STAFF)
    job = RelazionePdf.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{STAFF}{job.pk}/"
    assert job.requested_by.username == name and job.is_draft

    progress = client.get(response["Location"]).content.decode()
    assert "In coda" in progress
    assert '<meta http-equiv="refresh" content="2">' in progress  # without JavaScript
    assert "pdf-progress.js" in progress
    assert f'data-status-url="{STAFF}{job.pk}/stato.json"' in progress

    state = client.get(f"{STAFF}{job.pk}/stato.json").json()
    assert state["status"] == "pending" and not state["finished"]
    assert state["download_url"] is None

    services_pdf.pdf_render(job=job)
    state = client.get(f"{STAFF}{job.pk}/stato.json").json()
    assert state["finished"] and state["status"] == "done"
    assert state["download_url"] == f"{STAFF}{job.pk}/scarica/"
    assert "Pronto" in state["message_html"]
    done_page = client.get(f"{STAFF}{job.pk}/").content.decode()
    assert "http-equiv" not in done_page
    assert f'href="{STAFF}{job.pk}/scarica/"' in done_page

    download = client.get(state["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"] == (
        f'inline; filename="relazione-performance-{YEAR}-bozza.pdf"'
    )
    assert b"".join(download.streaming_content).startswith(b"%PDF")

    # a second request of the same version: the same job, no new render
    assert client.post(STAFF)["Location"] == f"{STAFF}{job.pk}/"
    assert fake_render.calls == 1


def test_referents_download_but_do_not_generate(cycle_2019, fake_render):
    job = done_job(cycle_2019, is_draft=True)
    client = client_for(persona("referente", cycle_2019))
    page = client.get(STAFF)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Genera PDF" not in text
    assert f"{STAFF}{job.pk}/scarica/" in text
    assert client.post(STAFF).status_code == 403
    assert client.get(f"{STAFF}{job.pk}/scarica/").status_code == 200
    assert client.get(f"{STAFF}{job.pk}/stato.json").status_code == 200
    assert RelazionePdf.objects.count() == 1


def test_referents_of_another_cycle_are_refused(cycle_2019):
    job = done_job(cycle_2019, is_draft=True)
    client = client_for(user("referente-altrove", roles.REFERENTE))
    assert client.get(STAFF).status_code == 403
    assert client.get(f"{STAFF}{job.pk}/scarica/").status_code == 403


def test_a_pending_or_failed_job_has_no_download(cycle_2019, fake_render):
    client = client_for(persona("controllo", cycle_2019))
    job = services_pdf.pdf_request(cycle=cycle_2019)
    assert client.get(f"{STAFF}{job.pk}/scarica/").status_code == 404
    fake_render.fail = True
    services_pdf.pdf_render(job=job)
    state = client.get(f"{STAFF}{job.pk}/stato.json").json()
    assert state["status"] == "failed" and "WeasyPrint non disponibile" in state["error"]
    page = client.get(f"{STAFF}{job.pk}/").content.decode()
    assert "non è riuscita" in page
    assert client.get(f"{STAFF}{job.pk}/scarica/").status_code == 404


def test_a_job_of_another_year_is_404(cycle_2019):
    job = done_job(cycle_2019, is_draft=True)
    client = client_for(persona("controllo", cycle_2019))
    assert client.get(f"/lavoro/2020/relazione/pdf/{job.pk}/").status_code == 404
    assert client.get(f"{STAFF}{job.pk + 1000}/").status_code == 404


def test_the_staff_page_of_a_published_cycle_links_the_public_file(cycle_2019):
    publish(cycle_2019)
    done_job(cycle_2019)
    text = client_for(persona("oiv", cycle_2019)).get(STAFF).content.decode()
    assert f'href="{PUBLIC}"' in text


def test_inline_thread_renders_in_the_background(
    cycle_2019, fake_render, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """Development: a job requested from the web starts a rendering thread after the commit."""
    settings.PDF_RENDER_INLINE_THREAD = True
    started = []

    class Thread:
        def __init__(self, target, args, **kwargs):
            self.target, self.args = target, args

        def start(self):
            started.append(self.args)
            self.target(*self.args)

    monkeypatch.setattr(services_pdf.threading, "Thread", Thread)
    # the thread's own connection handling would close the test's connection: not here
    monkeypatch.setattr(services_pdf, "close_old_connections", lambda: None)
    monkeypatch.setattr(
        services_pdf, "connections", type("C", (), {"close_all": staticmethod(lambda: None)})
    )
    with django_capture_on_commit_callbacks(execute=True):
        job = services_pdf.pdf_request(cycle=cycle_2019)
    assert started == [(job.pk,)]
    job.refresh_from_db()
    assert job.status == Status.DONE and fake_render.calls == 1

    settings.PDF_RENDER_INLINE_THREAD = False
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert not services_pdf.pdf_render_in_background(job)
    assert callbacks == []


def test_print_stylesheet_has_the_print_features():
    css = (ROOT / "static" / "css" / "relazione-print.css").read_text()
    for feature in (
        "size: A4",
        'counter(page) " di " counter(pages)',
        "target-counter(attr(href url), page)",
        "leader(",
        "display: table-header-group",
        "break-inside: avoid",
        "break-after: avoid",
        "string-set: doctitle",
    ):
        assert feature in css, feature
    assert "@import" not in css  # no other stylesheet (Bootstrap would slow the render down)


# --------------------------------------------------------------- the public PDF, remembered


def test_once_looked_up_the_public_pdf_is_served_without_a_query(cycle_2019):
    publish(cycle_2019)
    job = done_job(cycle_2019)
    assert Client().get(PUBLIC).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        response = Client().get(PUBLIC)
    assert response.status_code == 200
    assert response["ETag"] == f'"{job.sha256}"'
    assert len(queries) == 0


def test_a_new_pdf_replaces_the_remembered_one_at_once(
    relazione, cycle_2019, fake_render, django_capture_on_commit_callbacks
):
    publish(cycle_2019)
    old = done_job(cycle_2019, FAKE_PDF + b"vecchio")
    assert Client().get(PUBLIC)["ETag"] == f'"{old.sha256}"'  # remembered
    with django_capture_on_commit_callbacks(execute=True):
        job = services_pdf.pdf_request(cycle=cycle_2019, background=False)
        job = services_pdf.pdf_render(job=job)
    assert job.status == Status.DONE and job.sha256 != old.sha256
    assert Client().get(PUBLIC)["ETag"] == f'"{job.sha256}"'


def test_a_remembered_pdf_whose_file_is_gone_is_looked_up_again(cycle_2019, media):
    publish(cycle_2019)
    old = done_job(cycle_2019, FAKE_PDF + b"vecchio")
    assert Client().get(PUBLIC)["ETag"] == f'"{old.sha256}"'  # remembered
    (media / old.file.name).unlink()
    newer = done_job(cycle_2019, FAKE_PDF + b"nuovo")
    response = Client().get(PUBLIC)
    assert response.status_code == 200
    assert response["ETag"] == f'"{newer.sha256}"'


def test_leaving_the_published_state_forgets_the_remembered_pdf(
    cycle_2019, django_capture_on_commit_callbacks
):
    from reports.workflow import services as services_workflow

    publish(cycle_2019)
    done_job(cycle_2019)
    assert Client().get(PUBLIC).status_code == 200  # remembered
    controllo = user("controllo-errata", roles.CONTROLLO)
    with django_capture_on_commit_callbacks(execute=True):
        services_workflow.errata_open(cycle=cycle_2019, user=controllo, note="Cifra da correggere.")
    cycle_2019.refresh_from_db()
    assert cycle_2019.status == Cycle.Status.REPORTING
    assert Client().get(PUBLIC).status_code == 404
