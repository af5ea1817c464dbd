"""Reads for the Relazione sulla Performance: its narrative, its context tables and the display
fields of the plan's rows (what the engine's results do not carry: target text as approved, value
as written, footnotes, baselines). Each function is one query, whatever the size of the plan.

Shared module: the Relazione's public pages and its editing pages both read from here; append.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import FilteredRelation, Q, QuerySet, Subquery

from organization import editability
from organization.models import Cycle, MeasurementPeriod, PlanDocument
from performance import scoring
from performance.models import Target
from performance.rules.values import actual_text
from reports.models import ContextTable, Relazione, Section

FRONT_MATTER_LABEL = "Frontespizio (titolo, sottotitolo, firmatari)"

# ------------------------------------------------------------------------- public cycles


def published_cycles() -> QuerySet[Cycle]:
    """The cycles whose Relazione is public, latest first: published, or with a published
    version (which stays public while an errata corrige is being prepared)."""
    return (
        Cycle.objects.filter(
            Q(status=Cycle.Status.PUBLISHED) | Q(relazione_versions__published_at__isnull=False)
        )
        .distinct()
        .select_related("organization")
        .order_by("-year", "id")
    )


def published_cycle(*, year: int) -> Cycle | None:
    """The published cycle of ``year`` (None if there is none: the page is a 404)."""
    return published_cycles().filter(year=year).first()


# ------------------------------------------------------------------------------ narrative


def relazione_get(*, cycle: Cycle) -> Relazione | None:
    return Relazione.objects.filter(cycle=cycle).select_related("approval_document").first()


def relazione_sections(*, cycle: Cycle) -> dict[str, Section]:
    """The narrative sections of the cycle's Relazione by key (empty bodies left out)."""
    sections = Section.objects.filter(relazione__cycle=cycle).order_by("order", "id")
    return {s.key: s for s in sections if (s.body or "").strip()}


def relazione_context_tables(*, cycle: Cycle) -> dict[str, list[ContextTable]]:
    """The context tables of the cycle's Relazione, grouped by the section they follow."""
    out: dict[str, list[ContextTable]] = defaultdict(list)
    for table in ContextTable.objects.filter(relazione__cycle=cycle).order_by("order", "id"):
        out[table.section_key].append(table)
    return dict(out)


def cycle_documents(*, cycle: Cycle) -> list[PlanDocument]:
    return list(PlanDocument.objects.filter(cycle=cycle).order_by("date", "id"))


def relazione_figures(
    score: scoring.CycleScore | None = None,
    *,
    cycle: Cycle | None = None,
    period: MeasurementPeriod | None = None,
) -> dict[str, Decimal | None]:
    """The figures the narrative's tokens ({{strategici}}, {{operativi}}) stand for, for
    reports.relazione.rendering.render_section: from a score already computed, or scoring
    ``cycle``."""
    if score is None:
        if cycle is None:
            raise TypeError("relazione_figures: serve score oppure cycle")
        from performance.selectors import cycle_score

        score = cycle_score(cycle=cycle, period=period)
    return {
        "strategici": score.strategic.achievement,
        "operativi": score.operational.achievement,
    }


# ----------------------------------------------------------------- display fields of the rows


def _value_text(row: dict) -> str:
    """The final value as written; when nothing was written, its value in Italian form."""
    return actual_text(
        text=row["actual_text"],
        number=row["actual_number"],
        date=row["actual_date"],
        done=row["actual_done"],
        k=row["actual_k"],
        n=row["actual_n"],
        parts=row["actual_parts"],
        percent=row["unit_of_measure"] == "%",
    )


_DISPLAY_FIELDS = {
    "id": "id",
    "text": "text",
    "original_text": "original_text",
    "footnote": "footnote",
    "notes": "notes",
    "status": "status",
    "exclusion_reason": "exclusion_reason",
    "published_pct": "published_pct",
    "rule": "rule",
    "order": "order",
    "unit_id": "unit_id",
    "unit_key": "unit__key",
    "unit_name": "unit__name",
    "office_name": "office__name",
    "revised_by": "revised_by__title",
    "indicator_id": "indicator_id",
    "indicator": "indicator__name",
    "unit_of_measure": "indicator__unit_of_measure",
    "direction": "indicator__direction",
    "baseline_value": "indicator__baseline_value",
    "baseline_year": "indicator__baseline_year",
    "baseline_text": "indicator__baseline_text",
    "indicator_source": "indicator__source",
    "indicator_notes": "indicator__notes",
    "objective_id": "indicator__objective_id",
    "objective": "indicator__objective__title",
    "objective_code": "indicator__objective__code",
    "objective_kind": "indicator__objective__kind",
    "strategic_code": "indicator__objective__strategic_objective__code",
    "position_key": "indicator__objective__position__key",
    "position_holder": "indicator__objective__position__holder",
    "position_kind": "indicator__objective__position__kind",
    "actual_text": "final__text",
    "actual_number": "final__value_number",
    "actual_date": "final__value_date",
    "actual_done": "final__value_done",
    "actual_k": "final__value_k",
    "actual_n": "final__value_n",
    "actual_parts": "final__value_parts",
    "actual_note": "final__note",
    "actual_source": "final__source",
    "measured_on": "final__measured_on",
}


def target_display_fields(*, cycle: Cycle) -> dict[str, dict]:
    """Per target, keyed like the engine's rows ("t<id>"): the text as approved, the value of the
    final period as written (``value``), footnote, notes, indicator, objective, unit, baseline.

    One query: the final period's value is a filtered LEFT JOIN, the rest plain joins.
    """
    final_period = MeasurementPeriod.objects.filter(cycle=cycle, is_final=True).values("id")[:1]
    rows = (
        Target.objects.filter(indicator__objective__cycle=cycle)
        .annotate(
            final=FilteredRelation("actuals", condition=Q(actuals__period=Subquery(final_period)))
        )
        .order_by()
        .values(*_DISPLAY_FIELDS.values())
    )
    out: dict[str, dict] = {}
    for raw in rows:
        row = {name: raw[field] for name, field in _DISPLAY_FIELDS.items()}
        row["key"] = f"t{row['id']}"
        row["objective_key"] = f"o{row['objective_id']}"
        row["indicator_key"] = f"i{row['indicator_id']}"
        row["rule_kind"] = (row["rule"] or {}).get("kind", "")
        row["value"] = _value_text(row)
        out[row["key"]] = row
    return out


# ---------------------------------------------------------------------------- editing pages


def relazione_for_editing(*, cycle: Cycle) -> Relazione | None:
    """The Relazione of a cycle with its sections (and who last changed them) and its context
    tables, for the editing index (None if the cycle has no Relazione yet)."""
    return (
        Relazione.objects.filter(cycle=cycle)
        .select_related("approval_document")
        .prefetch_related("sections__updated_by", "context_tables")
        .first()
    )


def section_for_editing(*, relazione: Relazione, key: str) -> Section:
    """A section by its key (404 if the Relazione has no such section)."""
    from django.shortcuts import get_object_or_404

    return get_object_or_404(
        Section.objects.select_related("updated_by"), relazione=relazione, key=key
    )


def context_table_for_editing(*, relazione: Relazione, key: str) -> ContextTable:
    """A context table by its key (404 if the Relazione has no such table)."""
    from django.shortcuts import get_object_or_404

    return get_object_or_404(ContextTable, relazione=relazione, key=key)


# ------------------------------------------------------------------ sections and notices


def section_label(key: str) -> str:
    if key == "frontespizio":
        return FRONT_MATTER_LABEL
    return Section.Key(key).label if key in Section.Key.values else key


def section_choices() -> list[tuple[str, str]]:
    return [("frontespizio", FRONT_MATTER_LABEL), *Section.Key.choices]


def relazione_notice(*, cycle: Cycle) -> str:
    """What the Relazione's editing pages say about the cycle's state ("" when all of it may
    change)."""
    scope = editability.edit_scope(cycle, fresh=False)
    if scope.everything:
        return ""
    if scope.status == Cycle.Status.RETURNED and scope.section_keys:
        parts = ", ".join(section_label(key) for key in sorted(scope.section_keys))
        return (
            f"Il ciclo {cycle.year} è stato restituito dall'OIV con osservazioni: della Relazione "
            f"si possono modificare solo le parti riaperte ({parts})."
        )
    return scope.refusal(section_key="")
