"""The Ente, its performance cycles with their plan documents and measurement rules, and the
organizational structure of each cycle (it changes from year to year)."""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from simple_history.models import HistoricalRecords


class Organization(models.Model):
    name = models.CharField("denominazione", max_length=300)
    short_name = models.CharField("denominazione breve", max_length=100)
    tax_code = models.CharField("codice fiscale", max_length=16, blank=True)
    website = models.URLField("sito istituzionale", blank=True)

    class Meta:
        verbose_name = "ente"
        verbose_name_plural = "enti"

    def __str__(self) -> str:
        return self.short_name or self.name


class Cycle(models.Model):
    """One performance cycle (one year) of an Ente."""

    class Status(models.TextChoices):
        PLANNING = "planning", "Pianificazione"
        MONITORING = "monitoring", "Monitoraggio"
        REPORTING = "reporting", "Rendicontazione"
        SUBMITTED = "submitted", "Inviato all'OIV"
        RETURNED = "returned", "Restituito con osservazioni"
        VALIDATED = "validated", "Validato dall'OIV"
        PUBLISHED = "published", "Pubblicato"

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="cycles", verbose_name="ente"
    )
    year = models.PositiveSmallIntegerField("anno")
    title = models.CharField("titolo", max_length=300, blank=True)
    status = models.CharField(
        "stato", max_length=20, choices=Status.choices, default=Status.PLANNING
    )
    rules = models.JSONField(
        "regole di misurazione (SMVP)",
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="Arrotondamenti, penalità per ritardo, fasce, metodi di aggregazione.",
    )
    created_at = models.DateTimeField("creato il", auto_now_add=True)
    updated_at = models.DateTimeField("aggiornato il", auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "ciclo della performance"
        verbose_name_plural = "cicli della performance"
        ordering = ["-year"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "year"], name="cycle_unique_year")
        ]

    def __str__(self) -> str:
        return f"{self.organization} – {self.year}"


class PlanDocument(models.Model):
    """A deliberation of the cycle: the Piano, its update (aggiornamento), the SMVP..."""

    class Kind(models.TextChoices):
        PIANO = "piano", "Piano della performance"
        AGGIORNAMENTO = "aggiornamento", "Aggiornamento del Piano"
        SMVP = "smvp", "Sistema di misurazione e valutazione"
        RELAZIONE = "relazione", "Relazione sulla performance"
        OTHER = "other", "Altro documento"

    cycle = models.ForeignKey(Cycle, on_delete=models.CASCADE, related_name="documents")
    key = models.SlugField("codice", max_length=50)
    kind = models.CharField("tipo", max_length=20, choices=Kind.choices)
    title = models.CharField("titolo", max_length=300)
    body = models.CharField("organo", max_length=100, blank=True)
    number = models.CharField("numero deliberazione", max_length=30, blank=True)
    date = models.DateField("data deliberazione", null=True, blank=True)
    url = models.URLField("collegamento", blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "documento di programmazione"
        verbose_name_plural = "documenti di programmazione"
        ordering = ["cycle", "date", "id"]
        constraints = [
            models.UniqueConstraint(fields=["cycle", "key"], name="plandocument_unique_key")
        ]

    def __str__(self) -> str:
        reference = f" n. {self.number}" if self.number else ""
        when = f" del {self.date:%d.%m.%Y}" if self.date else ""
        return f"{self.title}{reference}{when}"


class MeasurementPeriod(models.Model):
    cycle = models.ForeignKey(Cycle, on_delete=models.CASCADE, related_name="periods")
    key = models.SlugField("codice", max_length=50)
    name = models.CharField("nome", max_length=200)
    end_date = models.DateField("data di riferimento")
    is_final = models.BooleanField("consuntivo di fine anno", default=False)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "periodo di misurazione"
        verbose_name_plural = "periodi di misurazione"
        ordering = ["cycle", "end_date"]
        constraints = [
            models.UniqueConstraint(fields=["cycle", "key"], name="period_unique_key"),
            models.UniqueConstraint(
                fields=["cycle"], condition=models.Q(is_final=True), name="period_one_final"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Unit(models.Model):
    """A node of the organizational tree of one cycle."""

    class Kind(models.TextChoices):
        ENTE = "ente", "Ente"
        GROUP = "group", "Raggruppamento"
        AREA = "area", "Area"
        SERVIZIO = "servizio", "Servizio"
        UFFICIO = "ufficio", "Ufficio"
        AZIENDA_SPECIALE = "azienda_speciale", "Azienda speciale"

    class Aggregation(models.TextChoices):
        DEFAULT = "", "Predefinito del ciclo"
        OWN_ROWS = "own_rows", "Media delle righe dell'unità"
        SUBTREE_ROWS = "subtree_rows", "Media di tutte le righe sottostanti"
        OBJECTIVES = "objectives", "Media per obiettivo"
        CHILDREN = "children", "Media delle unità figlie"

    cycle = models.ForeignKey(Cycle, on_delete=models.CASCADE, related_name="units")
    parent = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="children",
        verbose_name="unità superiore",
    )
    key = models.SlugField("codice", max_length=60)
    name = models.CharField("nome", max_length=200)
    kind = models.CharField("tipo", max_length=20, choices=Kind.choices)
    aggregation = models.CharField(
        "aggregazione", max_length=20, choices=Aggregation.choices, blank=True
    )
    weight = models.DecimalField("peso", max_digits=9, decimal_places=4, default=1)
    offices = models.PositiveSmallIntegerField("numero di uffici", null=True, blank=True)
    order = models.PositiveIntegerField("ordine", default=0)
    referents = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="referent_units",
        verbose_name="referenti",
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = "unità organizzativa"
        verbose_name_plural = "unità organizzative"
        ordering = ["cycle", "order", "id"]
        constraints = [models.UniqueConstraint(fields=["cycle", "key"], name="unit_unique_key")]

    def __str__(self) -> str:
        return self.name


class Position(models.Model):
    """A position with individual objectives: the Segretario Generale, a posizione organizzativa."""

    class Kind(models.TextChoices):
        SEGRETARIO_GENERALE = "segretario_generale", "Segretario Generale"
        DIRIGENTE = "dirigente", "Dirigente"
        POSIZIONE_ORGANIZZATIVA = "posizione_organizzativa", "Posizione organizzativa"

    cycle = models.ForeignKey(Cycle, on_delete=models.CASCADE, related_name="positions")
    key = models.SlugField("codice", max_length=60)
    kind = models.CharField("tipo", max_length=30, choices=Kind.choices)
    title = models.CharField("denominazione", max_length=300)
    holder = models.CharField("titolare", max_length=200, blank=True)
    unit = models.ForeignKey(
        Unit,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="positions",
        verbose_name="unità",
    )
    weight = models.DecimalField("peso", max_digits=9, decimal_places=4, default=1)
    order = models.PositiveIntegerField("ordine", default=0)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "posizione"
        verbose_name_plural = "posizioni"
        ordering = ["cycle", "order", "id"]
        constraints = [models.UniqueConstraint(fields=["cycle", "key"], name="position_unique_key")]

    def __str__(self) -> str:
        return f"{self.title} ({self.holder})" if self.holder else self.title
