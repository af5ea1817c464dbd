"""django-tables2 tables of the workspace (objectives, indicators/targets) and their export.

The rows are ``selectors.TableRow`` objects: every figure comes from the scoring engine, already
formatted in Italian for the page; ``value_*`` methods give the export its plain values (numbers
as numbers). Exports go through ``SafeTableExport``, which neutralizes spreadsheet formulas.
"""

from __future__ import annotations

from decimal import Decimal

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django_tables2.export import TableExport
from tablib import Dataset

EXPORT_FORMATS = ("csv", "xlsx", "ods")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
BAND_CLASSES = {
    "raggiunto": "bg-success",
    "parziale": "bg-warning text-dark",
    "non_raggiunto": "bg-danger",
}
STATUS_CLASSES = {
    "attivo": "",
    "neutralizzato": "text-muted",
    "escluso": "text-muted",
    "non_rilevato": "text-muted",
}


def escape_cell(value):
    """A text cell that a spreadsheet would read as a formula (=, +, -, @, tab, CR at the start)
    gets a leading apostrophe; numbers, dates and empty cells are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class SafeTableExport(TableExport):
    """TableExport whose every text cell (headers included) is escaped with ``escape_cell``."""

    def table_to_dataset(self, table, exclude_columns, dataset_kwargs=None):
        dataset = Dataset(**({"title": "Dati"} | (dataset_kwargs or {})))
        for i, row in enumerate(table.as_values(exclude_columns=exclude_columns)):
            cells = [escape_cell(cell) for cell in row]
            if i == 0:
                dataset.headers = cells
            else:
                dataset.append(cells)
        return dataset


def clipped(text: str, length: int):
    """A long text shortened on screen; assistive technologies read it whole."""
    short = Truncator(text).chars(length)
    if short == text:
        return text
    return format_html(
        '<span aria-hidden="true" title="{}">{}</span><span class="visually-hidden">{}</span>',
        text,
        short,
        text,
    )


def export_response(table: tables.Table, export_format: str, *, filename: str, title: str):
    exporter = SafeTableExport(export_format, table, dataset_kwargs={"title": title[:31]})
    return exporter.response(filename=f"{filename}.{export_format}")


class _ScoredTable(tables.Table):
    """Columns shared by both tables: plan context, engine figure, band, status."""

    code = tables.Column("Codice", default="—")
    kind_label = tables.Column("Tipo", order_by=("kind_sort",))
    perspective = tables.Column("Prospettiva", order_by=("perspective_sort",), default="—")
    strategic_objective = tables.Column(
        "Obiettivo strategico", order_by=("strategic_sort",), default="—"
    )
    unit = tables.Column("Unità", order_by=("unit_sort", "unit"))
    achievement = tables.Column(
        "Raggiungimento",
        accessor="achievement_display",
        order_by=("achievement_sort",),
        attrs={"td": {"class": "cell-wide"}},  # static/css/app.css (no inline style: CSP)
    )
    band_label = tables.Column("Fascia", order_by=("band_sort",), default="—")
    status_label = tables.Column("Stato", order_by=("status",))
    override = tables.Column("Rettifica", visible=False)
    note = tables.Column("Motivazione o motivo dell'esclusione", accessor="reason", visible=False)
    formula = tables.Column("Formula", visible=False)

    class Meta:
        template_name = "workspace/tables_table.html"
        order_by_field = "ordina"
        attrs = {"class": "table table-sm table-hover align-top workspace-table"}
        row_attrs = {"class": lambda record: STATUS_CLASSES.get(record.status, "")}
        empty_text = "Nessuna riga corrisponde ai filtri."

    def render_achievement(self, record):
        parts = [format_html('<span class="fw-semibold">{}</span>', record.achievement_display)]
        if record.override:
            parts.append(
                format_html(
                    ' <span class="badge badge-override" title="{}">rettifica</span>',
                    record.override_reason,
                )
            )
        if record.achievement is None:
            if record.reason:
                parts.append(format_html('<div class="small">{}</div>', record.reason))
        elif record.formula:
            parts.append(format_html('<div class="formula">{}</div>', record.formula))
            if record.reason:
                parts.append(
                    format_html('<div class="small">Escluse dal calcolo: {}</div>', record.reason)
                )
        return format_html_join("", "{}", ((part,) for part in parts))

    def value_achievement(self, record) -> Decimal | None:
        return record.achievement

    def render_band_label(self, record):
        css = BAND_CLASSES.get(record.band_key, "bg-secondary")
        return format_html('<span class="badge {}">{}</span>', css, record.band_label)

    def render_perspective(self, value):
        return clipped(value, 40)

    def render_strategic_objective(self, value):
        return clipped(value, 70)

    def value_band_label(self, record) -> str:
        return record.band_label

    def value_override(self, record) -> str:
        return "sì" if record.override else ""

    def value_formula(self, record) -> str:
        return record.formula


class ObjectiveTable(_ScoredTable):
    objective = tables.Column("Obiettivo", order_by=("objective_sort",))
    measures = tables.Column("Indicatori", attrs={"td": {"class": "num"}})

    class Meta(_ScoredTable.Meta):
        sequence = (
            "code",
            "objective",
            "kind_label",
            "perspective",
            "strategic_objective",
            "unit",
            "measures",
            "achievement",
            "band_label",
            "status_label",
            "...",
        )


class IndicatorTable(_ScoredTable):
    indicator = tables.Column("Indicatore", order_by=("title_sort",))
    objective = tables.Column("Obiettivo", order_by=("objective_sort",))
    target_text = tables.Column("Target")
    actual_text = tables.Column("Valore rilevato", default="—")
    history = tables.Column(
        "Storico",
        accessor="indicator_id",
        orderable=False,
        exclude_from_export=True,
    )

    class Meta(_ScoredTable.Meta):
        sequence = (
            "code",
            "indicator",
            "objective",
            "kind_label",
            "perspective",
            "strategic_objective",
            "unit",
            "target_text",
            "actual_text",
            "achievement",
            "band_label",
            "status_label",
            "history",
            "...",
        )

    def __init__(self, *args, year: int, **kwargs):
        self.year = year
        super().__init__(*args, **kwargs)

    def render_objective(self, value):
        return clipped(value, 110)

    def render_history(self, record):
        url = reverse("workspace:indicator-history", args=[self.year, record.indicator_id])
        return format_html(
            '<a href="{}">Storico<span class="visually-hidden"> di «{}»</span></a>',
            url,
            record.indicator,
        )
