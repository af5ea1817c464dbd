"""The plan (perspectives, strategic and operational objectives, individual objectives,
indicators, targets) and the actual values measured against it.

A *target* is one scored row of the document's tables: an indicator's target for one unit (or for
the Ente as a whole when ``unit`` is empty) with its text as approved and its machine-readable
``rule`` (see performance/scoring.py). A target revised by the plan update keeps the original
beside it; an objective removed by the update is neutralized with its reason.
"""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from organization.models import Cycle, MeasurementPeriod, PlanDocument, Position, Unit


class Perspective(models.Model):
    """A Balanced Scorecard perspective (prospettiva)."""

    cycle = models.ForeignKey(Cycle, on_delete=models.CASCADE, related_name="perspectives")
    code = models.CharField("codice", max_length=10)
    name = models.CharField("nome", max_length=300)
    weight = models.DecimalField("peso", max_digits=9, decimal_places=4, default=1)
    order = models.PositiveIntegerField("ordine", default=0)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "prospettiva"
        verbose_name_plural = "prospettive"
        ordering = ["cycle", "order", "code"]
        constraints = [
            models.UniqueConstraint(fields=["cycle", "code"], name="perspective_unique_code")
        ]

    def __str__(self) -> str:
        return f"{self.code}. {self.name}"


class StrategicObjective(models.Model):
    """A coded strategic objective (1.1 ... 4.1) of a perspective."""

    cycle = models.ForeignKey(Cycle, on_delete=models.CASCADE, related_name="strategic_objectives")
    perspective = models.ForeignKey(
        Perspective,
        on_delete=models.CASCADE,
        related_name="strategic_objectives",
        verbose_name="prospettiva",
    )
    code = models.CharField("codice", max_length=10)
    title = models.CharField("titolo", max_length=500)
    weight = models.DecimalField("peso", max_digits=9, decimal_places=4, default=1)
    order = models.PositiveIntegerField("ordine", default=0)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "obiettivo strategico"
        verbose_name_plural = "obiettivi strategici"
        ordering = ["cycle", "order", "code"]
        constraints = [
            models.UniqueConstraint(fields=["cycle", "code"], name="strategicobjective_unique_code")
        ]

    def __str__(self) -> str:
        return f"{self.code} – {self.title}"


class Objective(models.Model):
    """An objective with indicators: strategic (table 3.1), operational or individual."""

    class Kind(models.TextChoices):
        STRATEGIC = "strategic", "Strategico"
        OPERATIONAL = "operational", "Operativo"
        INDIVIDUAL = "individual", "Individuale"

    class Status(models.TextChoices):
        ACTIVE = "active", "Attivo"
        NEUTRALIZED = "neutralized", "Neutralizzato"

    cycle = models.ForeignKey(Cycle, on_delete=models.CASCADE, related_name="objectives")
    kind = models.CharField("tipo", max_length=20, choices=Kind.choices)
    strategic_objective = models.ForeignKey(
        StrategicObjective,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="objectives",
        verbose_name="obiettivo strategico",
    )
    position = models.ForeignKey(
        Position,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="objectives",
        verbose_name="posizione (obiettivi individuali)",
    )
    code = models.CharField("codice", max_length=20, blank=True)
    title = models.TextField("titolo")
    weight = models.DecimalField("peso", max_digits=9, decimal_places=4, default=1)
    order = models.PositiveIntegerField("ordine", default=0)
    status = models.CharField("stato", max_length=20, choices=Status.choices, default="active")
    neutralization_reason = models.TextField("motivo della neutralizzazione", blank=True)
    neutralized_by = models.ForeignKey(
        PlanDocument,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="neutralized_objectives",
        verbose_name="neutralizzato con",
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = "obiettivo"
        verbose_name_plural = "obiettivi"
        ordering = ["cycle", "kind", "order", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind="individual") | models.Q(position__isnull=False),
                name="objective_individual_has_position",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="neutralized") | ~models.Q(neutralization_reason=""),
                name="objective_neutralized_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return self.title[:120]


class Indicator(models.Model):
    class Direction(models.TextChoices):
        HIGHER = "higher", "Più alto è meglio"
        LOWER = "lower", "Più basso è meglio"

    objective = models.ForeignKey(
        Objective, on_delete=models.CASCADE, related_name="indicators", verbose_name="obiettivo"
    )
    name = models.TextField("indicatore")
    unit_of_measure = models.CharField("unità di misura", max_length=60, blank=True)
    direction = models.CharField(
        "direzione", max_length=10, choices=Direction.choices, default=Direction.HIGHER
    )
    baseline_value = models.DecimalField(
        "valore di partenza", max_digits=18, decimal_places=4, null=True, blank=True
    )
    baseline_year = models.PositiveSmallIntegerField("anno di partenza", null=True, blank=True)
    baseline_text = models.CharField("valore di partenza (nota)", max_length=300, blank=True)
    source = models.CharField("fonte", max_length=300, blank=True)
    notes = models.TextField("note", blank=True)
    order = models.PositiveIntegerField("ordine", default=0)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "indicatore"
        verbose_name_plural = "indicatori"
        ordering = ["objective", "order", "id"]

    def __str__(self) -> str:
        return self.name[:120]


class Target(models.Model):
    """One scored row: an indicator's target for a unit, for the Ente (no unit) or a position."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Misurato"
        EXCLUDED = "excluded", "Escluso dalla misurazione"

    indicator = models.ForeignKey(
        Indicator, on_delete=models.CASCADE, related_name="targets", verbose_name="indicatore"
    )
    unit = models.ForeignKey(
        Unit,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="targets",
        verbose_name="unità (vuoto: Ente)",
    )
    office = models.ForeignKey(
        Unit,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="office_targets",
        verbose_name="ufficio responsabile",
    )
    text = models.CharField("target come approvato", max_length=500)
    rule = models.JSONField("regola di calcolo", encoder=DjangoJSONEncoder)
    original_text = models.CharField("target originario", max_length=500, blank=True)
    original_rule = models.JSONField(
        "regola originaria", null=True, blank=True, encoder=DjangoJSONEncoder
    )
    revised_by = models.ForeignKey(
        PlanDocument,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="revised_targets",
        verbose_name="rivisto con",
    )
    status = models.CharField("stato", max_length=20, choices=Status.choices, default="active")
    exclusion_reason = models.TextField("motivo dell'esclusione", blank=True)
    is_duplicate = models.BooleanField("riga ripetuta", default=False)
    weight = models.DecimalField("peso", max_digits=9, decimal_places=4, default=1)
    order = models.PositiveIntegerField("ordine", default=0)
    footnote = models.TextField("nota a piè di pagina", blank=True)
    notes = models.TextField("note", blank=True)
    published_pct = models.DecimalField(
        "% pubblicata",
        max_digits=7,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="La percentuale stampata nel documento di origine, per il confronto.",
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = "target"
        verbose_name_plural = "target"
        ordering = ["indicator", "order", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="excluded") | ~models.Q(exclusion_reason=""),
                name="target_excluded_has_reason",
            ),
        ]

    def __str__(self) -> str:
        where = self.unit.name if self.unit_id and self.unit else "Ente"
        return f"{self.text} ({where})"


class Actual(models.Model):
    """The value measured for a target in a period, with who and when (optimistic locking on
    ``version``)."""

    target = models.ForeignKey(
        Target, on_delete=models.CASCADE, related_name="actuals", verbose_name="target"
    )
    period = models.ForeignKey(
        MeasurementPeriod, on_delete=models.PROTECT, related_name="actuals", verbose_name="periodo"
    )
    value_number = models.DecimalField(
        "valore", max_digits=18, decimal_places=4, null=True, blank=True
    )
    value_date = models.DateField("data", null=True, blank=True)
    value_done = models.BooleanField("realizzato", null=True, blank=True)
    value_k = models.DecimalField(
        "k (su n)", max_digits=12, decimal_places=2, null=True, blank=True
    )
    value_n = models.DecimalField(
        "n (totale)", max_digits=12, decimal_places=2, null=True, blank=True
    )
    value_parts = models.JSONField("parti", null=True, blank=True, encoder=DjangoJSONEncoder)
    text = models.CharField("valore come scritto", max_length=300, blank=True)
    measured_on = models.DateField("data di rilevazione", null=True, blank=True)
    note = models.TextField("nota", blank=True)
    source = models.CharField("fonte", max_length=300, blank=True)
    override_pct = models.DecimalField(
        "% rettificata", max_digits=7, decimal_places=2, null=True, blank=True
    )
    override_reason = models.TextField("motivazione della rettifica", blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="rilevato da",
    )
    recorded_at = models.DateTimeField("rilevato il", default=timezone.now)
    version = models.PositiveIntegerField("versione", default=1)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "valore rilevato"
        verbose_name_plural = "valori rilevati"
        ordering = ["target", "period"]
        constraints = [
            models.UniqueConstraint(fields=["target", "period"], name="actual_unique_period"),
            models.CheckConstraint(
                condition=models.Q(override_pct__isnull=True) | ~models.Q(override_reason=""),
                name="actual_override_has_reason",
            ),
            models.CheckConstraint(
                condition=models.Q(override_pct__isnull=True)
                | (models.Q(override_pct__gte=0) & models.Q(override_pct__lte=100)),
                name="actual_override_in_range",
            ),
        ]

    def __str__(self) -> str:
        return self.text or f"{self.target} – {self.period}"


# The Actual fields that hold the value itself, the ones the scoring engine's Value is built from
# (performance.rules.values.value_from_actual): what reads and writes of a value select.
ACTUAL_VALUE_FIELDS = (
    "value_number",
    "value_date",
    "value_done",
    "value_k",
    "value_n",
    "value_parts",
)


class StatedFigure(models.Model):
    """A figure the plan or report text states (e.g. section 1's summary), compared with the
    computed one by the consistency report. ``value`` keeps the decimals as written."""

    cycle = models.ForeignKey(Cycle, on_delete=models.CASCADE, related_name="stated_figures")
    ref = models.CharField("dove", max_length=200)
    label = models.CharField("voce", max_length=300)
    node = models.CharField("riferimento al calcolo", max_length=100)
    value = models.CharField("valore dichiarato", max_length=30)
    sum = models.CharField("somma dichiarata", max_length=30, blank=True)
    count = models.PositiveIntegerField("numero dichiarato", null=True, blank=True)
    order = models.PositiveIntegerField("ordine", default=0)

    class Meta:
        verbose_name = "valore dichiarato"
        verbose_name_plural = "valori dichiarati"
        ordering = ["cycle", "order", "id"]

    def __str__(self) -> str:
        return f"{self.ref} – {self.label}: {self.value}"


class PendingImport(models.Model):
    """A file uploaded to the workspace's import page, checked by a dry run and waiting for its
    confirmation (performance/services/imports/pending.py). The file itself stays in
    MEDIA_ROOT/importazioni-in-attesa/<token>.<format> until the import ends; this row says whose
    it is and what became of it. A confirmation claims the row (pending -> applying) with one
    conditional update, so that two confirmations of the same token never both apply."""

    class State(models.TextChoices):
        PENDING = "pending", "in attesa di conferma"
        APPLYING = "applying", "in corso"
        APPLIED = "applied", "applicata"
        CANCELLED = "cancelled", "annullata"
        FAILED = "failed", "non applicata"

    class Kind(models.TextChoices):  # performance.services.imports.KINDS
        PLAN = "piano", "piano"
        VALUES = "valori", "valori rilevati"

    token = models.CharField("codice", max_length=32, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name="caricata da",
    )
    cycle = models.ForeignKey(
        Cycle, on_delete=models.CASCADE, related_name="pending_imports", verbose_name="ciclo"
    )
    kind = models.CharField("contenuto", max_length=10, choices=Kind)
    format = models.CharField("formato", max_length=4)
    original_name = models.CharField("nome del file", max_length=200, blank=True)
    sha256 = models.CharField("impronta SHA-256", max_length=64)
    size = models.PositiveIntegerField("dimensione (byte)")
    state = models.CharField("stato", max_length=10, choices=State, default=State.PENDING)
    outcome = models.TextField("esito", blank=True)
    created_at = models.DateTimeField("caricata il", default=timezone.now)
    finished_at = models.DateTimeField("conclusa il", null=True, blank=True)

    class Meta:
        verbose_name = "importazione in attesa"
        verbose_name_plural = "importazioni in attesa"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "created_at"], name="pending_import_state")]

    def __str__(self) -> str:
        return f"{self.original_name or self.token} ({self.get_state_display()})"
