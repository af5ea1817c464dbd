"""The cycle's workflow up to the publication of the Relazione (reports.workflow.services):

- ``CycleTransition``: the audit trail of the cycle's states (who, when, from, to, comment), with
  the records that change no state (the review of the consistency report);
- ``OivMember``: the members of the Ente's OIV, listed in the documento di validazione;
- ``Remark`` and ``RemarkAnswer``: the OIV's remarks, objective by objective or on a section of
  the Relazione (optionally reopening it), and the staff's answers; they stay in the record;
- ``ObjectiveReview``: the OIV's decision on each objective (accepted / remark), append-only;
- ``RelazioneVersion``: the snapshot frozen at validation (the computed tree, the Relazione
  document, its open data and PDF, the documento di validazione) with their SHA-256 digests,
  public once published. Immutable: the services create it and afterwards only record its
  publication (``published_at``, ``published_by``); the admin shows it read-only; a correction is
  a new version (errata) and the previous one stays readable.
"""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from organization.models import Cycle, Organization
from performance.models import Objective


class CycleTransition(models.Model):
    class Action(models.TextChoices):
        START_MONITORING = "start_monitoring", "Avvio del monitoraggio"
        START_REPORTING = "start_reporting", "Avvio della rendicontazione"
        CONSISTENCY_REVIEW = "consistency_review", "Verifica del rapporto di coerenza"
        SUBMIT = "submit", "Invio all'OIV"
        RETURN = "return", "Restituzione con osservazioni"
        RESUBMIT = "resubmit", "Nuovo invio all'OIV"
        VALIDATE = "validate", "Validazione dell'OIV"
        PUBLISH = "publish", "Pubblicazione"
        ERRATA = "errata", "Errata corrige"

    cycle = models.ForeignKey(
        Cycle, on_delete=models.CASCADE, related_name="transitions", verbose_name="ciclo"
    )
    action = models.CharField("azione", max_length=30, choices=Action.choices)
    from_status = models.CharField("dallo stato", max_length=20, choices=Cycle.Status.choices)
    to_status = models.CharField("allo stato", max_length=20, choices=Cycle.Status.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="utente",
    )
    user_name = models.CharField("nome dell'utente", max_length=300, blank=True)
    at = models.DateTimeField("data e ora", default=timezone.now)
    comment = models.TextField("commento", blank=True)
    round = models.PositiveIntegerField(
        "invio n.", default=0, help_text="Numero dell'invio all'OIV a cui si riferisce."
    )
    data = models.JSONField(
        "dati", default=dict, blank=True, encoder=DjangoJSONEncoder, help_text="Dettagli."
    )

    class Meta:
        verbose_name = "passaggio di stato del ciclo"
        verbose_name_plural = "passaggi di stato del ciclo"
        ordering = ["cycle", "at", "id"]
        indexes = [models.Index(fields=["cycle", "action", "at"], name="transition_cycle_action")]

    def __str__(self) -> str:
        return f"{self.cycle.year} – {self.get_action_display()} ({self.at:%d/%m/%Y %H:%M})"


class OivMember(models.Model):
    """A member of the Ente's Organismo Indipendente di Valutazione (monocratic or collegial)."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="oiv_members", verbose_name="ente"
    )
    name = models.CharField("nome e cognome", max_length=200)
    role = models.CharField(
        "ruolo", max_length=100, default="Componente", help_text="Es. Presidente, Componente."
    )
    order = models.PositiveIntegerField("ordine", default=0)
    is_active = models.BooleanField("in carica", default=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="oiv_memberships",
        verbose_name="utente",
    )

    class Meta:
        verbose_name = "componente dell'OIV"
        verbose_name_plural = "componenti dell'OIV"
        ordering = ["organization", "order", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"


class Remark(models.Model):
    """A remark of the OIV on an objective, on a section of the Relazione or on the whole."""

    class Status(models.TextChoices):
        OPEN = "open", "Aperta"
        ANSWERED = "answered", "Con risposta"
        RESOLVED = "resolved", "Chiusa"

    cycle = models.ForeignKey(
        Cycle, on_delete=models.CASCADE, related_name="remarks", verbose_name="ciclo"
    )
    round = models.PositiveIntegerField("invio n.", default=1)
    objective = models.ForeignKey(
        Objective,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="remarks",
        verbose_name="obiettivo",
    )
    section_key = models.CharField("parte della Relazione", max_length=40, blank=True)
    subject = models.CharField(
        "oggetto", max_length=500, help_text="L'obiettivo o la sezione, com'era scritto."
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="autore",
    )
    author_name = models.CharField("nome dell'autore", max_length=300, blank=True)
    text = models.TextField("osservazione")
    reopen = models.BooleanField(
        "riapre", default=False, help_text="Restituendo la Relazione, l'oggetto torna modificabile."
    )
    status = models.CharField("stato", max_length=10, choices=Status.choices, default="open")
    created_at = models.DateTimeField("scritta il", default=timezone.now)
    resolved_at = models.DateTimeField("chiusa il", null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="chiusa da",
    )

    class Meta:
        verbose_name = "osservazione dell'OIV"
        verbose_name_plural = "osservazioni dell'OIV"
        ordering = ["cycle", "created_at", "id"]
        indexes = [models.Index(fields=["cycle", "round"], name="remark_cycle_round")]

    def __str__(self) -> str:
        return f"{self.subject[:80]}: {self.text[:80]}"


class RemarkAnswer(models.Model):
    remark = models.ForeignKey(
        Remark, on_delete=models.CASCADE, related_name="answers", verbose_name="osservazione"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="autore",
    )
    author_name = models.CharField("nome dell'autore", max_length=300, blank=True)
    text = models.TextField("risposta")
    at = models.DateTimeField("data e ora", default=timezone.now)

    class Meta:
        verbose_name = "risposta a un'osservazione"
        verbose_name_plural = "risposte alle osservazioni"
        ordering = ["remark", "at", "id"]

    def __str__(self) -> str:
        return self.text[:120]


class ObjectiveReview(models.Model):
    """The OIV's decision on an objective: every decision is a new row (the latest counts)."""

    class Decision(models.TextChoices):
        ACCEPTED = "accepted", "Accettato"
        REMARK = "remark", "Con osservazione"

    cycle = models.ForeignKey(
        Cycle, on_delete=models.CASCADE, related_name="objective_reviews", verbose_name="ciclo"
    )
    objective = models.ForeignKey(
        Objective, on_delete=models.CASCADE, related_name="reviews", verbose_name="obiettivo"
    )
    round = models.PositiveIntegerField("invio n.", default=1)
    decision = models.CharField("esito", max_length=10, choices=Decision.choices)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="esaminato da",
    )
    at = models.DateTimeField("data e ora", default=timezone.now)

    class Meta:
        verbose_name = "esame di un obiettivo"
        verbose_name_plural = "esami degli obiettivi"
        ordering = ["cycle", "at", "id"]

    def __str__(self) -> str:
        return f"{self.objective} – {self.get_decision_display()}"


def version_file_path(instance: RelazioneVersion, filename: str) -> str:
    year = instance.cycle.year
    return f"relazioni/{year}/versioni/{filename}"


class RelazioneVersion(models.Model):
    """The Relazione as validated by the OIV, frozen (see the module's docstring)."""

    class Kind(models.TextChoices):
        ORIGINAL = "original", "Versione originale"
        ERRATA = "errata", "Errata corrige"

    class Decision(models.TextChoices):
        VALID = "valid", "Validata"
        VALID_WITH_REMARKS = "valid_with_remarks", "Validata con osservazioni"

    cycle = models.ForeignKey(
        Cycle, on_delete=models.PROTECT, related_name="relazione_versions", verbose_name="ciclo"
    )
    number = models.PositiveIntegerField("versione n.")
    kind = models.CharField("tipo", max_length=10, choices=Kind.choices, default="original")
    previous = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="versione precedente",
    )
    errata_note = models.TextField("cosa è cambiato", blank=True)
    changes = models.JSONField(
        "differenze con la versione precedente", default=list, blank=True, encoder=DjangoJSONEncoder
    )
    # the frozen content
    tree_json = models.JSONField("albero calcolato", encoder=DjangoJSONEncoder)
    tree_sha256 = models.CharField("SHA-256 dell'albero", max_length=64)
    html = models.TextField("documento (HTML)")
    html_sha256 = models.CharField("SHA-256 del documento HTML", max_length=64)
    data_csv = models.TextField("dati aperti (CSV)", blank=True)
    data_json = models.TextField("dati aperti (JSON)", blank=True)
    data_csv_sha256 = models.CharField("SHA-256 dei dati aperti (CSV)", max_length=64, blank=True)
    data_json_sha256 = models.CharField("SHA-256 dei dati aperti (JSON)", max_length=64, blank=True)
    pdf = models.FileField("PDF", upload_to=version_file_path, max_length=200, blank=True)
    pdf_sha256 = models.CharField("SHA-256 del PDF", max_length=64, blank=True)
    pdf_size = models.PositiveIntegerField("dimensione del PDF (byte)", null=True, blank=True)
    pdf_signed = models.BooleanField("PDF firmato (PAdES)", default=False)
    pdf_signer = models.CharField("firmatario del PDF", max_length=300, blank=True)
    pdf_error = models.TextField("PDF non generato: motivo", blank=True)
    # the documento di validazione
    decision = models.CharField("decisione dell'OIV", max_length=20, choices=Decision.choices)
    decision_text = models.TextField("motivazione e osservazioni", blank=True)
    validated_at = models.DateTimeField("validata il")
    validated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="validata da",
    )
    oiv_members = models.JSONField("componenti dell'OIV", default=list, blank=True)
    validation_html = models.TextField("documento di validazione (HTML)")
    validation_html_sha256 = models.CharField("SHA-256 della validazione (HTML)", max_length=64)
    validation_pdf = models.FileField(
        "documento di validazione (PDF)", upload_to=version_file_path, max_length=200, blank=True
    )
    validation_pdf_sha256 = models.CharField(
        "SHA-256 della validazione (PDF)", max_length=64, blank=True
    )
    validation_pdf_signed = models.BooleanField("validazione firmata (PAdES)", default=False)
    validation_pdf_error = models.TextField("PDF della validazione non generato", blank=True)
    created_at = models.DateTimeField("creata il", default=timezone.now)
    # the only fields written after creation: the publication
    published_at = models.DateTimeField("pubblicata il", null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="pubblicata da",
    )

    CONTENT_FIELDS = (
        "cycle",
        "number",
        "kind",
        "previous",
        "errata_note",
        "changes",
        "tree_json",
        "tree_sha256",
        "html",
        "html_sha256",
        "data_csv",
        "data_json",
        "data_csv_sha256",
        "data_json_sha256",
        "pdf",
        "pdf_sha256",
        "pdf_size",
        "pdf_signed",
        "pdf_signer",
        "pdf_error",
        "decision",
        "decision_text",
        "validated_at",
        "validated_by",
        "oiv_members",
        "validation_html",
        "validation_html_sha256",
        "validation_pdf",
        "validation_pdf_sha256",
        "validation_pdf_signed",
        "validation_pdf_error",
        "created_at",
    )

    class Meta:
        verbose_name = "versione della Relazione"
        verbose_name_plural = "versioni della Relazione"
        ordering = ["cycle", "number"]
        constraints = [
            models.UniqueConstraint(fields=["cycle", "number"], name="relazioneversion_unique"),
        ]

    def __str__(self) -> str:
        return f"Relazione {self.cycle.year} – versione {self.number}"

    @property
    def is_public(self) -> bool:
        return self.published_at is not None

    @property
    def digest(self) -> str:
        """The digest shown to the public: the PDF's (the file one downloads), or the HTML
        document's when the version has no PDF."""
        return self.pdf_sha256 or self.html_sha256

    @property
    def pdf_name(self) -> str:
        return f"relazione-performance-{self.cycle.year}-v{self.number}.pdf"

    @property
    def validation_pdf_name(self) -> str:
        return f"validazione-relazione-performance-{self.cycle.year}-v{self.number}.pdf"
