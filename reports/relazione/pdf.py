"""The Relazione sulla Performance as a PDF/A-3u, with WeasyPrint.

The same content as the public page (``reports.relazione.document`` and the document partial
``templates/reports/relazione/_relazione_document.html``) in
``templates/reports/relazione/pdf/document.html``, with
the lean print stylesheet ``static/css/relazione-print.css`` (no Bootstrap). The open data of the
cycle (``dati.csv`` and ``dati.json``, reports.relazione.open_data, the same writer as the public
files) are embedded as PDF/A-3 attachments.

- ``relazione_source(cycle=...)``: the HTML and the attachments, with ``digest``, the SHA-256 of
  everything the PDF is made of (same digest = same document: render once, see services_pdf).
- ``render_relazione_pdf(cycle=...)``: the PDF bytes (seconds: never on a citizen's request).

Static files (stylesheet, fonts) are read from the disk through the staticfiles finders (or
STATIC_ROOT), never over HTTP; any other URL is refused, so a render never touches the network.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse

from organization.models import Cycle
from reports.relazione import document, open_data

TEMPLATE = "reports/relazione/pdf/document.html"
STYLESHEET = "css/relazione-print.css"
PDF_VARIANT = "pdf/a-3u"
# Bump when the way the PDF is made changes without the HTML changing (new attachments, options):
# every digest changes, so every PDF is rendered again.
RENDERER_VERSION = "1"
DEFAULT_BASE_URL = "http://127.0.0.1:8000/"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AttachmentData:
    name: str
    description: str
    content: bytes
    relationship: str = "Data"  # PDF/A-3 AFRelationship: the data the document is made from


@dataclass
class RelazioneSource:
    """Everything one PDF is made of."""

    cycle: Cycle
    html: str
    base_url: str
    attachments: list[AttachmentData]
    is_draft: bool
    digest: str = field(default="")


def base_url() -> str:
    """The public address of the site: relative links of the document (the open data) point
    there in the PDF. settings.PUBLIC_BASE_URL, e.g. "https://performance.ente.it/"."""
    url = getattr(settings, "PUBLIC_BASE_URL", "") or DEFAULT_BASE_URL
    return url if url.endswith("/") else url + "/"


# ------------------------------------------------------------------------- static files


def static_file(path: str) -> Path | None:
    """The file of a static path ("css/relazione-print.css"): finders first (development and
    tests), then STATIC_ROOT (after collectstatic)."""
    path = path.lstrip("/")
    if not path or ".." in Path(path).parts:
        return None
    found = finders.find(path)
    if found:
        return Path(found)
    try:
        candidate = Path(staticfiles_storage.path(path))
    except NotImplementedError:  # pragma: no cover - remote storages
        return None
    return candidate if candidate.is_file() else None


def _static_prefix(base: str) -> str:
    return urljoin(base, static(""))


def url_fetcher_for(base: str | None, *, refused: str = "Indirizzo esterno non consentito nel PDF"):
    """The one WeasyPrint URL fetcher: ``data:`` URLs, the static files under ``base`` read from
    the disk (none when ``base`` is None), every other URL refused with ``refused`` (no network
    during a render)."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    prefix = _static_prefix(base) if base is not None else None

    class StaticFilesFetcher(URLFetcher):
        def fetch(self, url, headers=None):
            if url.startswith("data:"):
                return super().fetch(url, headers)
            if prefix is not None and url.startswith(prefix):
                name = unquote(urlsplit(url).path)[len(urlsplit(prefix).path) :]
                path = static_file(name)
                if path is not None:
                    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                    return URLFetcherResponse(
                        url, path.read_bytes(), {"Content-Type": content_type}
                    )
                raise ValueError(f"File statico non trovato: {name}")
            raise ValueError(f"{refused}: {url}")

    return StaticFilesFetcher(allowed_protocols={"http", "https", "data"})


# ------------------------------------------------------------------------------ sources


def relazione_source(*, cycle: Cycle) -> RelazioneSource:
    """The HTML of the PDF, its attachments and their digest (no WeasyPrint involved: a few
    hundred milliseconds, the same queries as the public page plus the open data's)."""
    base = base_url()
    built = document.build(cycle)
    context = built.context()
    year = cycle.year
    page_url = urljoin(base, reverse("public:relazione", args=[year]).lstrip("/"))
    records = built.records
    license_id = open_data.LICENSE["id"]
    attachments = [
        AttachmentData(
            "dati.csv",
            f"Dati della Relazione sulla performance {year} in formato CSV (UTF-8, virgola come "
            f"separatore, punto decimale): obiettivi, indicatori, target, valori rilevati, "
            f"percentuali di raggiungimento e formule. Licenza {license_id}.",
            open_data.csv_text(records).encode("utf-8"),
        ),
        AttachmentData(
            "dati.json",
            f"Gli stessi dati in formato JSON, con la descrizione delle colonne, i totali e le "
            f"differenze con il documento di origine. Licenza {license_id}.",
            open_data.json_text(cycle, built.score, records, source=page_url).encode("utf-8"),
        ),
    ]
    context["pdf_attachments"] = attachments
    html = render_to_string(TEMPLATE, context)
    source = RelazioneSource(
        cycle=cycle,
        html=html,
        base_url=base,
        attachments=attachments,
        is_draft=context["is_draft"],
    )
    source.digest = source_digest(source)
    return source


def source_digest(source: RelazioneSource) -> str:
    """SHA-256 of the inputs of the PDF: the HTML, the stylesheet, the attachments, the base URL
    of the links and the renderer's version."""
    import weasyprint

    digest = hashlib.sha256()

    def part(label: str, data: bytes) -> None:
        digest.update(f"{label}:{len(data)}:".encode())
        digest.update(data)

    part("renderer", f"{RENDERER_VERSION}/{weasyprint.__version__}/{PDF_VARIANT}".encode())
    part("base", source.base_url.encode())
    part("html", source.html.encode("utf-8"))
    stylesheet = static_file(STYLESHEET)
    part("css", stylesheet.read_bytes() if stylesheet else b"")
    for attachment in source.attachments:
        part(f"attachment:{attachment.name}:{attachment.description}", attachment.content)
    return digest.hexdigest()


# ------------------------------------------------------------------------------- render


@dataclass(frozen=True)
class RenderedPdf:
    content: bytes
    pages: int


def render_source(
    source: RelazioneSource, *, progress: Callable[[str], None] | None = None
) -> RenderedPdf:
    """WeasyPrint: lay out the HTML and write the PDF/A-3u with its attachments. ``progress``
    gets WeasyPrint's steps in Italian ("Impaginazione: pagina 12")."""
    import weasyprint

    thread = threading.get_ident()
    if progress is not None:
        _progress_callbacks[thread] = progress
    try:
        html = weasyprint.HTML(
            string=source.html,
            base_url=source.base_url,
            url_fetcher=url_fetcher_for(source.base_url),
        )
        # Title, author, description and keywords come from the <head>, the language from
        # <html lang="it">.
        document = html.render(pdf_variant=PDF_VARIANT)
        attachments = [
            weasyprint.Attachment(
                string=a.content,
                name=a.name,
                description=a.description,
                relationship=a.relationship,
            )
            for a in source.attachments
        ]
        if progress is not None:
            progress(f"Scrittura del PDF ({len(document.pages)} pagine)")
        content = document.write_pdf(
            pdf_variant=PDF_VARIANT, attachments=attachments, finisher=_unique_associated_files
        )
    finally:
        _progress_callbacks.pop(thread, None)
    return RenderedPdf(content, len(document.pages))


def _unique_associated_files(document, pdf_object) -> None:
    """WeasyPrint 70 lists each attachment twice in the catalog's /AF (associated files) of a
    PDF/A-3: once is what the standard expects."""
    files = pdf_object.catalog.get("AF")
    if files:
        unique = list(dict.fromkeys(files))
        del files[:]
        files.extend(unique)


def render_relazione_pdf(*, cycle: Cycle) -> bytes:
    """The PDF of the cycle's Relazione, as it is now (any status; a draft is marked BOZZA)."""
    return render_source(relazione_source(cycle=cycle)).content


_progress_callbacks: dict[int, Callable[[str], None]] = {}
_progress_lock = threading.Lock()


class _ProgressHandler(logging.Handler):
    """WeasyPrint's progress messages ("Step 5 - Creating layout - Page 12"), in Italian, to the
    callback of the thread that is rendering (the staff's progress page). They no longer reach
    the server's log: a hundred lines per render are noise there."""

    STEPS = {
        "Step 1": "Lettura del documento",
        "Step 2": "Lettura del foglio di stile",
        "Step 3": "Applicazione degli stili",
        "Step 4": "Preparazione della struttura",
        "Step 5": "Impaginazione",
        "Step 6": "Scrittura del PDF",
        "Step 7": "Metadati e allegati",
    }

    def emit(self, record: logging.LogRecord) -> None:
        callback = _progress_callbacks.get(record.thread)
        if callback is None:
            return
        try:
            message = record.getMessage()
        except Exception:  # pragma: no cover - a malformed log record
            return
        step = message[:6]
        label = self.STEPS.get(step)
        if label is None:
            return
        if step == "Step 5":
            detail = message.rsplit(" - ", 1)[-1]
            if detail.startswith("Page "):
                label = f"{label}: pagina {detail.split()[1]}"
            elif detail.startswith("Repagination"):
                label = f"{label}: aggiornamento dei numeri di pagina"
        callback(label)


def _progress_install() -> None:
    progress_logger = logging.getLogger("weasyprint.progress")
    with _progress_lock:
        if any(isinstance(h, _ProgressHandler) for h in progress_logger.handlers):
            return
        progress_logger.addHandler(_ProgressHandler(logging.INFO))
        progress_logger.setLevel(logging.INFO)
        progress_logger.propagate = False


_progress_install()  # before WeasyPrint is imported: its import logs progress too
