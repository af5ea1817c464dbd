"""The rows of the exports of the plan and of the values (`plan_rows`, `values_rows`: one dict
per row, column -> value), the readable columns of a stored rule and the hint on how to write a
value. The files are written by the Resources (`resources.PlanResource`, `ValuesResource`)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from organization.models import Cycle, MeasurementPeriod
from performance import scoring
from performance.models import Actual, Indicator, Objective, Target
from performance.rules import rule_columns
from performance.rules import value_hint as value_hint  # how to write a target's value
from performance.rules.values import value_from_actual
from performance.services.imports.columns import (
    _OBJECTIVE_KIND_NAMES,
    _PLAN_ORDER,
    _RULE_PARAMETERS,
)


def _rule_columns(rule: dict) -> dict[str, Any]:
    """The readable columns of a stored rule (each kind's: its module in performance/rules/)."""
    return rule_columns(rule, _RULE_PARAMETERS)


def _plan_targets(*, cycle: Cycle) -> list[Target]:
    return list(
        Target.objects.filter(indicator__objective__cycle=cycle)
        .select_related(
            "unit",
            "office",
            "revised_by",
            "indicator__objective__position",
            "indicator__objective__neutralized_by",
            "indicator__objective__strategic_objective__perspective",
        )
        .order_by(*_PLAN_ORDER)
    )


def plan_rows(*, cycle: Cycle) -> list[dict[str, Any]]:
    """One row per target of the cycle, in the order of the plan (three queries)."""
    rows = []
    for target in _plan_targets(cycle=cycle):
        indicator = target.indicator
        objective = indicator.objective
        goal = objective.strategic_objective
        perspective = goal.perspective if goal else None
        neutralized = objective.status == Objective.Status.NEUTRALIZED
        rows.append(
            {
                "codice_target": target.id,
                "codice_obiettivo": objective.id,
                "codice_indicatore": indicator.id,
                "tipo_obiettivo": _OBJECTIVE_KIND_NAMES[objective.kind],
                "posizione": objective.position.key if objective.position else "",
                "prospettiva_codice": perspective.code if perspective else "",
                "prospettiva_nome": perspective.name if perspective else "",
                "obiettivo_strategico_codice": goal.code if goal else "",
                "obiettivo_strategico_titolo": goal.title if goal else "",
                "obiettivo_titolo": objective.title,
                "obiettivo_peso": objective.weight,
                "obiettivo_stato": "neutralizzato" if neutralized else "attivo",
                "motivo_neutralizzazione": objective.neutralization_reason,
                "neutralizzato_con": objective.neutralized_by.key
                if objective.neutralized_by
                else "",
                "indicatore_nome": indicator.name,
                "unita_misura": indicator.unit_of_measure,
                "direzione": "più basso"
                if indicator.direction == Indicator.Direction.LOWER
                else "più alto",
                "baseline_valore": indicator.baseline_value,
                "baseline_anno": indicator.baseline_year,
                "baseline_testo": indicator.baseline_text,
                "fonte": indicator.source,
                "indicatore_note": indicator.notes,
                "unita": target.unit.key if target.unit else "",
                "ufficio": target.office.key if target.office else "",
                "target_testo": target.text,
                **_rule_columns(target.rule),
                "stato": "escluso" if target.status == Target.Status.EXCLUDED else "misurato",
                "motivo_esclusione": target.exclusion_reason,
                "riga_ripetuta": "sì" if target.is_duplicate else "",
                "peso": target.weight,
                "testo_originario": target.original_text,
                "rivisto_con": target.revised_by.key if target.revised_by else "",
                "nota_pie_pagina": target.footnote,
                "note": target.notes,
                "percentuale_pubblicata": target.published_pct,
            }
        )
    return rows


def _content_key(target: Target) -> tuple[str, ...]:
    """What identifies a target without its code (the values format's columns)."""
    objective = target.indicator.objective
    return (
        objective.kind,
        objective.position.key if objective.position else "",
        objective.strategic_objective.code if objective.strategic_objective else "",
        objective.title,
        target.indicator.name,
        target.unit.key if target.unit else "",
        target.text,
    )


def _repetitions(targets: Sequence[Target]) -> dict[int, int]:
    """target id -> its rank among targets with the same content key (only where repeated)."""
    by_key: dict[tuple, list[Target]] = defaultdict(list)
    for target in targets:
        by_key[_content_key(target)].append(target)
    ranks = {}
    for same in by_key.values():
        if len(same) > 1:
            for rank, target in enumerate(same, start=1):
                ranks[target.id] = rank
    return ranks


def _value_cell(actual: Actual) -> Any:
    value = value_from_actual(actual.__dict__)
    if value is None:
        return None
    if value.parts is not None:
        return "; ".join(_part_text(part) for part in value.parts)
    return _single_value(value)


def _single_value(value: scoring.Value) -> Any:
    if value.k is not None:
        if value.n is None:
            return value.k
        return f"{scoring.fmt(value.k)} su {scoring.fmt(value.n)}"
    if value.date is not None:
        return value.date
    if value.done is not None:
        return "sì" if value.done else "no"
    return value.number


def _part_text(part: scoring.Value | None) -> str:
    if part is None or part.is_empty():
        return ""
    value = _single_value(part)
    if isinstance(value, Decimal):
        return scoring.fmt(value)
    if isinstance(value, dt.date):
        return scoring.fmt_date(value)
    return str(value)


def values_rows(
    *,
    cycle: Cycle,
    period: MeasurementPeriod | None = None,
    unit_ids: set[int] | None = None,
) -> list[dict[str, Any]]:
    """One row per recorded value (all periods); with ``period``, one row per target for that
    period, empty where there is no value yet (a sheet to fill in). ``unit_ids`` restricts the
    rows to those units' targets (None: every target)."""
    targets = _plan_targets(cycle=cycle)
    ranks = _repetitions(targets)
    actuals = Actual.objects.filter(target__indicator__objective__cycle=cycle).select_related(
        "period"
    )
    if period is not None:
        actuals = actuals.filter(period=period)
    by_target: dict[int, list[Actual]] = defaultdict(list)
    for actual in actuals.order_by("period__end_date", "period_id"):
        by_target[actual.target_id].append(actual)
    rows = []
    for target in targets:
        if unit_ids is not None and target.unit_id not in unit_ids:
            continue
        found = by_target.get(target.id, [])
        if period is not None:
            pairs = [(period, found[0] if found else None)]
        else:
            pairs = [(actual.period, actual) for actual in found]
        kind, position, goal, title, indicator, unit, text = _content_key(target)
        for row_period, actual in pairs:
            rows.append(
                {
                    "codice_target": target.id,
                    "periodo": row_period.key,
                    "tipo_obiettivo": _OBJECTIVE_KIND_NAMES[kind],
                    "posizione": position,
                    "obiettivo_strategico_codice": goal,
                    "obiettivo_titolo": title,
                    "indicatore_nome": indicator,
                    "unita": unit,
                    "target_testo": text,
                    "ripetizione": ranks.get(target.id),
                    "formato_valore": value_hint(target.rule),
                    "valore": _value_cell(actual) if actual else None,
                    "valore_testo": actual.text if actual else "",
                    "nota": actual.note if actual else "",
                    "fonte": actual.source if actual else "",
                    "data_rilevazione": actual.measured_on if actual else None,
                    "rettifica_pct": actual.override_pct if actual else None,
                    "rettifica_motivazione": actual.override_reason if actual else "",
                }
            )
    return rows
