"""Reads for entering actuals (the staff workspace's "Valori"): a unit's targets for one period
grouped by objective, with the stored values and the achievement each gives; the completeness of
every unit per period. A fixed number of queries whatever the size of the unit.

A unit's targets are those with ``unit`` = the unit. The Ente's own rows (targets with no unit:
table 3.1, the Ente's operational rows, the individual objectives of the positions) belong to the
root unit of kind "ente", so that every row of the plan has a form.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Q, QuerySet

from organization.models import Cycle, MeasurementPeriod, Unit
from performance import scoring
from performance.models import Actual, Objective, Target
from performance.rules.values import value_from_actual

_KIND_ORDER = {
    Objective.Kind.STRATEGIC: 0,
    Objective.Kind.OPERATIONAL: 1,
    Objective.Kind.INDIVIDUAL: 2,
}


def is_ente_unit(unit: Unit) -> bool:
    """The root unit that also holds the Ente's rows (targets without a unit)."""
    return unit.parent_id is None and unit.kind == Unit.Kind.ENTE


def entry_scope(unit: Unit) -> Q:
    """The targets whose values are entered in ``unit``'s form."""
    scope = Q(unit_id=unit.pk)
    if is_ente_unit(unit):
        scope |= Q(unit__isnull=True)
    return Q(indicator__objective__cycle_id=unit.cycle_id) & scope


def target_unit(*, target: Target, cycle: Cycle) -> Unit | None:
    """The unit whose form holds ``target`` (its unit, or the Ente root for the Ente's rows)."""
    if target.unit_id is not None:
        return target.unit
    return (
        Unit.objects.select_related("cycle")
        .filter(cycle=cycle, parent__isnull=True, kind=Unit.Kind.ENTE)
        .order_by("order", "id")
        .first()
    )


def target_reason(target: Target) -> str:
    """Why a row takes no value ("" when it does): neutralized objective or excluded row."""
    objective = target.indicator.objective
    if objective.status == Objective.Status.NEUTRALIZED:
        return f"Obiettivo neutralizzato: {objective.neutralization_reason}"
    if target.status == Target.Status.EXCLUDED:
        return f"Escluso dalla misurazione: {target.exclusion_reason}"
    return ""


def target_row_result(
    *,
    target: Target,
    value: scoring.Value | None,
    rules: scoring.Rules,
    override_pct: Decimal | None = None,
    override_reason: str = "",
) -> scoring.RowResult:
    """The achievement of ``target`` with ``value``, exactly as the engine scores the row."""
    objective = target.indicator.objective
    if objective.status == Objective.Status.NEUTRALIZED:
        status, reason = scoring.NEUTRALIZED, objective.neutralization_reason
    elif target.status == Target.Status.EXCLUDED:
        status, reason = scoring.EXCLUDED, target.exclusion_reason
    else:
        status, reason = scoring.ACTIVE, ""
    row = scoring.Row(
        key=f"t{target.pk}",
        label=target.indicator.name,
        spec=target.rule,
        value=value,
        weight=target.weight,
        status=status,
        reason=reason,
        override=override_pct,
        override_reason=override_reason,
    )
    return scoring.score_row(row, rules)


def actual_row_result(
    *, target: Target, actual: Actual | None, rules: scoring.Rules
) -> scoring.RowResult:
    if actual is None:
        return target_row_result(target=target, value=None, rules=rules)
    return target_row_result(
        target=target,
        value=value_from_actual(actual.__dict__),
        rules=rules,
        override_pct=actual.override_pct,
        override_reason=actual.override_reason,
    )


@dataclass
class EntryRow:
    target: Target
    actual: Actual | None
    reason: str  # "" when the row takes a value
    result: scoring.RowResult

    @property
    def editable(self) -> bool:
        return not self.reason


@dataclass
class EntryObjective:
    objective: Objective
    rows: list[EntryRow] = field(default_factory=list)


def unit_targets(*, unit: Unit) -> QuerySet[Target]:
    return (
        Target.objects.filter(entry_scope(unit))
        .select_related(
            "indicator__objective__position",
            "indicator__objective__strategic_objective",
            "office",
            "unit",
        )
        .order_by("indicator__order", "indicator_id", "order", "id")
    )


def unit_entry(
    *, unit: Unit, period: MeasurementPeriod, rules: scoring.Rules
) -> list[EntryObjective]:
    """The unit's targets grouped by objective (strategic, operational, individual), each with
    its value in ``period`` (and who recorded it) and the achievement it gives. Two queries."""
    targets = list(unit_targets(unit=unit))
    actuals = {
        a.target_id: a
        for a in Actual.objects.filter(period=period, target__in=[t.pk for t in targets])
        .select_related("recorded_by")
        .order_by()
    }
    groups: dict[int, EntryObjective] = {}
    for target in targets:
        objective = target.indicator.objective
        group = groups.setdefault(objective.pk, EntryObjective(objective=objective))
        actual = actuals.get(target.pk)
        group.rows.append(
            EntryRow(
                target=target,
                actual=actual,
                reason=target_reason(target),
                result=actual_row_result(target=target, actual=actual, rules=rules),
            )
        )

    def order(group: EntryObjective) -> tuple:
        objective = group.objective
        position = objective.position
        return (
            _KIND_ORDER.get(objective.kind, 9),
            position.order if position else 0,
            objective.order,
            objective.pk,
        )

    return sorted(groups.values(), key=order)


def _has_value() -> Q:
    return (
        Q(value_number__isnull=False)
        | Q(value_date__isnull=False)
        | Q(value_done__isnull=False)
        | Q(value_k__isnull=False)
        | Q(value_parts__isnull=False)
        | Q(override_pct__isnull=False)
    )


@dataclass
class PeriodCompleteness:
    period: MeasurementPeriod
    done: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100


@dataclass
class UnitCompleteness:
    unit: Unit
    total: int
    periods: list[PeriodCompleteness]


def entry_overview(
    *, cycle: Cycle, unit_ids: set[int] | None
) -> tuple[list[MeasurementPeriod], list[UnitCompleteness]]:
    """The periods of ``cycle`` and, for each unit with targets (all units if ``unit_ids`` is
    None), how many of the rows expecting a value have one in each period. Four queries."""
    periods = list(MeasurementPeriod.objects.filter(cycle=cycle).order_by("end_date", "id"))
    units = Unit.objects.filter(cycle=cycle).order_by("order", "id")
    if unit_ids is not None:
        units = units.filter(id__in=unit_ids)
    units = list(units)
    ente = next((u for u in units if is_ente_unit(u)), None)
    expecting = Target.objects.filter(
        indicator__objective__cycle=cycle,
        status=Target.Status.ACTIVE,
        indicator__objective__status=Objective.Status.ACTIVE,
    )
    totals: dict[int | None, int] = {
        row["unit_id"]: row["n"]
        for row in expecting.values("unit_id").annotate(n=Count("id")).order_by()
    }
    done: dict[tuple[int | None, int], int] = defaultdict(int)
    for row in (
        Actual.objects.filter(_has_value(), target__in=expecting, period__cycle=cycle)
        .values("target__unit_id", "period_id")
        .annotate(n=Count("id"))
        .order_by()
    ):
        done[(row["target__unit_id"], row["period_id"])] = row["n"]

    out = []
    for unit in units:
        keys: list[int | None] = [unit.pk]
        if unit is ente:
            keys.append(None)
        total = sum(totals.get(k, 0) for k in keys)
        if not total:
            continue
        out.append(
            UnitCompleteness(
                unit=unit,
                total=total,
                periods=[
                    PeriodCompleteness(
                        period=period,
                        done=sum(done[(k, period.pk)] for k in keys),
                        total=total,
                    )
                    for period in periods
                ],
            )
        )
    return periods, out
