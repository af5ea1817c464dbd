"""Reads: a cycle's plan and actuals as the scoring engine's plain data, in a fixed number of
queries whatever the size of the plan (``.values()`` rows, no model instances on the hot path)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import QuerySet

from organization.models import Cycle, MeasurementPeriod, Position, Unit
from performance import scoring
from performance.models import (
    Actual,
    Indicator,
    Objective,
    Perspective,
    StatedFigure,
    StrategicObjective,
    Target,
)
from performance.services import value_from_actual


def cycle_list() -> QuerySet[Cycle]:
    return Cycle.objects.select_related("organization").order_by("-year")


def cycle_get(*, year: int, organization_id: int | None = None) -> Cycle:
    """The cycle of a year (of the only Ente, or of the given one); DoesNotExist if none."""
    cycles = cycle_list().filter(year=year)
    if organization_id is not None:
        cycles = cycles.filter(organization_id=organization_id)
    return cycles.get()


def final_period(*, cycle: Cycle) -> MeasurementPeriod | None:
    return MeasurementPeriod.objects.filter(cycle=cycle, is_final=True).first()


def _target_label(target: dict, indicator: dict, units: dict[int, dict]) -> str:
    unit = units.get(target["unit_id"]) if target["unit_id"] else None
    return f"{indicator['name']} ({unit['name']})" if unit else indicator["name"]


def cycle_data(*, cycle: Cycle, period: MeasurementPeriod | None = None) -> scoring.CycleData:
    """Everything the engine needs to score ``cycle`` with the values of ``period`` (default:
    the final period). Nine queries, whatever the size of the plan."""
    period = period or final_period(cycle=cycle)
    rules = scoring.Rules.from_dict(cycle.rules)

    units = {
        u["id"]: u
        for u in Unit.objects.filter(cycle=cycle)
        .order_by("order", "id")
        .values("id", "parent_id", "key", "name", "kind", "aggregation", "weight")
    }
    positions = list(
        Position.objects.filter(cycle=cycle)
        .order_by("order", "id")
        .values("id", "key", "title", "holder", "kind", "weight")
    )
    perspectives = list(
        Perspective.objects.filter(cycle=cycle)
        .order_by("order", "code")
        .values("id", "code", "name", "weight")
    )
    goals = list(
        StrategicObjective.objects.filter(cycle=cycle)
        .order_by("order", "code")
        .values("id", "perspective_id", "code", "title", "weight")
    )
    objectives = list(
        Objective.objects.filter(cycle=cycle)
        .order_by("kind", "order", "id")
        .values(
            "id",
            "kind",
            "strategic_objective_id",
            "position_id",
            "code",
            "title",
            "weight",
            "status",
            "neutralization_reason",
        )
    )
    indicators = list(
        Indicator.objects.filter(objective__cycle=cycle)
        .order_by("objective_id", "order", "id")
        .values("id", "objective_id", "name")
    )
    targets = list(
        Target.objects.filter(indicator__objective__cycle=cycle)
        .order_by("indicator_id", "order", "id")
        .values("id", "indicator_id", "unit_id", "rule", "weight", "status", "exclusion_reason")
    )
    actuals: dict[int, dict] = {}
    if period is not None:
        actuals = {
            a["target_id"]: a
            for a in Actual.objects.filter(
                period=period, target__indicator__objective__cycle=cycle
            ).values(
                "target_id",
                "value_number",
                "value_date",
                "value_done",
                "value_k",
                "value_n",
                "value_parts",
                "override_pct",
                "override_reason",
            )
        }
    stated = [
        scoring.Stated(
            ref=s["ref"],
            label=s["label"],
            node=s["node"],
            value=Decimal(s["value"]),
            sum=Decimal(s["sum"]) if s["sum"] else None,
            count=s["count"],
        )
        for s in StatedFigure.objects.filter(cycle=cycle)
        .order_by("order", "id")
        .values("ref", "label", "node", "value", "sum", "count")
    ]

    objectives_by_id = {o["id"]: o for o in objectives}
    goal_code = {g["id"]: g["code"] for g in goals}
    targets_by_indicator: dict[int, list[dict]] = defaultdict(list)
    for target in targets:
        targets_by_indicator[target["indicator_id"]].append(target)

    objective_data: dict[int, scoring.ObjectiveData] = {}
    for o in objectives:
        objective_data[o["id"]] = scoring.ObjectiveData(
            key=f"o{o['id']}",
            title=o["title"],
            code=o["code"],
            strategic_code=goal_code.get(o["strategic_objective_id"], ""),
            weight=o["weight"],
            status=o["status"],
            reason=o["neutralization_reason"],
        )
    for indicator in indicators:
        objective = objectives_by_id[indicator["objective_id"]]
        rows = []
        for target in targets_by_indicator.get(indicator["id"], []):
            actual = actuals.get(target["id"])
            rows.append(
                scoring.Row(
                    key=f"t{target['id']}",
                    label=_target_label(target, indicator, units),
                    spec=target["rule"],
                    value=value_from_actual(actual) if actual else None,
                    weight=target["weight"],
                    status=target["status"],
                    reason=target["exclusion_reason"],
                    override=actual["override_pct"] if actual else None,
                    override_reason=actual["override_reason"] if actual else "",
                    objective_key=f"o{objective['id']}",
                    objective_weight=objective["weight"],
                    indicator_key=f"i{indicator['id']}",
                    unit_key=units[target["unit_id"]]["key"] if target["unit_id"] else None,
                )
            )
        objective_data[objective["id"]].indicators.append(
            scoring.IndicatorData(key=f"i{indicator['id']}", name=indicator["name"], targets=rows)
        )

    perspective_data = {
        p["id"]: scoring.PerspectiveData(code=p["code"], name=p["name"], weight=p["weight"])
        for p in perspectives
    }
    goal_data = {}
    for g in goals:
        goal_data[g["id"]] = scoring.StrategicObjectiveData(
            code=g["code"], title=g["title"], weight=g["weight"]
        )
        perspective_data[g["perspective_id"]].strategic_objectives.append(goal_data[g["id"]])
    operational = []
    position_objectives: dict[int, list] = defaultdict(list)
    for o in objectives:
        data = objective_data[o["id"]]
        if o["kind"] == Objective.Kind.STRATEGIC and o["strategic_objective_id"]:
            goal_data[o["strategic_objective_id"]].objectives.append(data)
        elif o["kind"] == Objective.Kind.OPERATIONAL:
            operational.append(data)
        elif o["kind"] == Objective.Kind.INDIVIDUAL and o["position_id"]:
            position_objectives[o["position_id"]].append(data)

    children: dict[int | None, list[dict]] = defaultdict(list)
    for unit in units.values():
        children[unit["parent_id"]].append(unit)

    def build(unit: dict) -> scoring.UnitData:
        return scoring.UnitData(
            key=unit["key"],
            name=unit["name"],
            kind=unit["kind"],
            method=unit["aggregation"] or None,
            weight=unit["weight"],
            children=[build(child) for child in children.get(unit["id"], [])],
        )

    roots = children.get(None, [])
    if len(roots) > 1:
        root = scoring.UnitData(
            key="ente",
            name=str(cycle.organization),
            kind="ente",
            children=[build(r) for r in roots],
        )
    else:
        root = build(roots[0]) if roots else None

    return scoring.CycleData(
        year=cycle.year,
        name=str(cycle.organization),
        rules=rules,
        perspectives=list(perspective_data.values()),
        operational=operational,
        units=root,
        positions=[
            scoring.PositionData(
                key=p["key"],
                title=p["title"],
                holder=p["holder"],
                kind=p["kind"],
                weight=p["weight"],
                objectives=position_objectives.get(p["id"], []),
            )
            for p in positions
        ],
        stated=stated,
    )


def cycle_score(*, cycle: Cycle, period: MeasurementPeriod | None = None) -> scoring.CycleScore:
    return scoring.score_cycle(cycle_data(cycle=cycle, period=period))


def unit_subtree(*, score: scoring.CycleScore, name_or_key: str) -> scoring.NodeResult | None:
    """A unit's node by key or by name (case-insensitive, a unique part of the name is enough)."""
    if score.units is None:
        return None
    nodes = [n for n in score.units.walk()]
    wanted = name_or_key.strip().casefold()
    for node in nodes:
        if node.key.casefold() == wanted or node.name.casefold() == wanted:
            return node
    matches = [n for n in nodes if wanted in n.name.casefold()]
    return matches[0] if len(matches) == 1 else None


def current_cycle() -> Cycle | None:
    return cycle_list().first()


def current_period(*, cycle: Cycle, today=None) -> MeasurementPeriod | None:
    """The period being measured: the first whose end is not yet past, else the final one."""
    from django.utils import timezone

    today = today or timezone.localdate()
    periods = list(MeasurementPeriod.objects.filter(cycle=cycle).order_by("end_date"))
    for period in periods:
        if period.end_date >= today:
            return period
    final = [p for p in periods if p.is_final]
    return final[0] if final else (periods[-1] if periods else None)


def scored_targets(*, cycle: Cycle) -> QuerySet[Target]:
    """Targets that expect a value: active rows of active objectives."""
    return Target.objects.filter(
        indicator__objective__cycle=cycle,
        status=Target.Status.ACTIVE,
        indicator__objective__status=Objective.Status.ACTIVE,
    )


def unit_completeness(
    *, cycle: Cycle, period: MeasurementPeriod, unit_ids: set[int] | None
) -> list[dict]:
    """Per unit: how many of its targets have a value in ``period`` (two queries)."""
    from django.db.models import Count, Q

    units = Unit.objects.filter(cycle=cycle)
    if unit_ids is not None:
        units = units.filter(id__in=unit_ids)
    counts = (
        scored_targets(cycle=cycle)
        .filter(unit__in=units)
        .values("unit_id")
        .annotate(
            total=Count("id"),
            done=Count("id", filter=Q(actuals__period=period)),
        )
    )
    by_unit = {c["unit_id"]: c for c in counts}
    out = []
    for unit in units.order_by("order", "id"):
        c = by_unit.get(unit.id)
        if not c:
            continue
        out.append(
            {
                "unit": unit,
                "total": c["total"],
                "done": c["done"],
                "percent": round(100 * c["done"] / c["total"]) if c["total"] else 100,
            }
        )
    return out


def missing_values(
    *, cycle: Cycle, period: MeasurementPeriod, unit_ids: set[int] | None, limit: int = 20
) -> list[Target]:
    targets = (
        scored_targets(cycle=cycle)
        .filter(unit__isnull=False)
        .exclude(actuals__period=period)
        .select_related("unit", "indicator__objective")
        .order_by("unit__order", "indicator__objective__order", "indicator__order", "order")
    )
    if unit_ids is not None:
        targets = targets.filter(unit_id__in=unit_ids)
    return list(targets[:limit])


def latest_changes(*, cycle: Cycle, unit_ids: set[int] | None, limit: int = 10) -> list:
    history = Actual.history.filter(target__indicator__objective__cycle=cycle).select_related(
        "history_user", "target__unit", "target__indicator", "period"
    )
    if unit_ids is not None:
        history = history.filter(target__unit_id__in=unit_ids)
    return list(history.order_by("-history_date")[:limit])
