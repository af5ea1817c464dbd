"""The PDF of the Relazione sulla Performance: one stored file per version of the document.

A version is identified by ``content_digest``, the SHA-256 of everything the PDF is made of (the
rendered HTML of the document, the print stylesheet, the open data embedded as attachments):
the same digest means the same document, so it is rendered once and the file is served as it is.
A row is also the render job: requested (pending), picked up by the worker or a background thread
(running), stored (done) or failed with its error. See ``reports.relazione.pdf_jobs``.
"""

from django.conf import settings
from django.db import models

from organization.models import Cycle


def relazione_pdf_path(instance: "RelazionePdf", filename: str) -> str:
    year = instance.cycle.year
    return f"relazioni/{year}/relazione-{year}-{instance.content_digest[:12]}.pdf"


class RelazionePdf(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "In coda"
        RUNNING = "running", "In elaborazione"
        DONE = "done", "Pronto"
        FAILED = "failed", "Non riuscito"

    cycle = models.ForeignKey(
        Cycle, on_delete=models.CASCADE, related_name="relazione_pdfs", verbose_name="ciclo"
    )
    content_digest = models.CharField(
        "impronta dei contenuti",
        max_length=64,
        help_text="SHA-256 del documento HTML, del foglio di stile di stampa e dei dati allegati.",
    )
    is_draft = models.BooleanField(
        "bozza",
        default=True,
        help_text="Generato quando il ciclo non era pubblicato: mai servito al pubblico.",
    )
    status = models.CharField(
        "stato", max_length=10, choices=Status.choices, default=Status.PENDING
    )
    progress = models.CharField("avanzamento", max_length=200, blank=True)
    error = models.TextField("errore", blank=True)
    file = models.FileField("file", upload_to=relazione_pdf_path, max_length=200, blank=True)
    sha256 = models.CharField("SHA-256 del file", max_length=64, blank=True)
    size = models.PositiveBigIntegerField("dimensione (byte)", null=True, blank=True)
    pages = models.PositiveIntegerField("pagine", null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="richiesto da",
    )
    created_at = models.DateTimeField("richiesto il", auto_now_add=True)
    started_at = models.DateTimeField("iniziato il", null=True, blank=True)
    finished_at = models.DateTimeField("terminato il", null=True, blank=True)

    class Meta:
        verbose_name = "PDF della Relazione"
        verbose_name_plural = "PDF della Relazione"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["cycle", "content_digest"], name="relazionepdf_unique_digest"
            )
        ]
        indexes = [models.Index(fields=["cycle", "status"], name="relazionepdf_cycle_status")]

    def __str__(self) -> str:
        return f"Relazione {self.cycle.year} – PDF {self.content_digest[:12]}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def download_name(self) -> str:
        suffix = "-bozza" if self.is_draft else ""
        return f"relazione-performance-{self.cycle.year}{suffix}.pdf"
