"""Reads: a cycle's plan and actuals as the scoring engine's plain data, in a fixed number of
queries whatever the size of the plan (``.values()`` rows, no model instances on the hot path)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import QuerySet

from organization.models import Cycle, MeasurementPeriod, Position, Unit
from performance import scoring
from performance.models import (
    ACTUAL_VALUE_FIELDS,
    Actual,
    Indicator,
    Objective,
    Perspective,
    StatedFigure,
    StrategicObjective,
    Target,
)
from performance.rules.values import actual_text, value_from_actual


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


def cycle_data(*, cycle: Cycle, period: MeasurementPeriod | None = None) -> scoring.CycleData:
    """Everything the engine needs to score ``cycle`` with the values of ``period`` (default:
    the final period). Ten queries (nine when ``period`` is given), whatever the size of the
    plan."""
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
    # The two big queries return tuples (cheaper than dicts at 10,000 rows).
    targets = list(
        Target.objects.filter(indicator__objective__cycle=cycle)
        .order_by("indicator_id", "order", "id")
        .values_list(
            "id", "indicator_id", "unit_id", "rule", "weight", "status", "exclusion_reason"
        )
    )
    actuals: dict[int, dict] = {}
    if period is not None:
        fields = (*ACTUAL_VALUE_FIELDS, "override_pct", "override_reason")
        actuals = {
            row[0]: dict(zip(fields, row[1:], strict=True))
            for row in Actual.objects.filter(period=period).values_list("target_id", *fields)
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
    targets_by_indicator: dict[int, list[tuple]] = defaultdict(list)
    for target in targets:
        targets_by_indicator[target[1]].append(target)
    unit_keys = {unit_id: unit["key"] for unit_id, unit in units.items()}

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
        objective_key = f"o{objective['id']}"
        indicator_key = f"i{indicator['id']}"
        rows = []
        for target_id, _, unit_id, rule, weight, status, reason in targets_by_indicator.get(
            indicator["id"], ()
        ):
            actual = actuals.get(target_id)
            rows.append(
                scoring.Row(
                    key=f"t{target_id}",
                    label=(
                        f"{indicator['name']} ({units[unit_id]['name']})"
                        if unit_id
                        else indicator["name"]
                    ),
                    spec=rule,
                    value=value_from_actual(actual) if actual else None,
                    weight=weight,
                    status=status,
                    reason=reason,
                    override=actual["override_pct"] if actual else None,
                    override_reason=actual["override_reason"] if actual else "",
                    objective_key=objective_key,
                    objective_weight=objective["weight"],
                    indicator_key=indicator_key,
                    unit_key=unit_keys[unit_id] if unit_id else None,
                )
            )
        objective_data[objective["id"]].indicators.append(
            scoring.IndicatorData(key=indicator_key, name=indicator["name"], targets=rows)
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


# ------------------------------------------------------ workspace: tables, tree, history (reads)
#
# The staff workspace's read pages (performance/views/tables.py, tree.py, history.py). Every
# achievement comes from the scoring engine (one ``score_cycle`` per request), joined to the
# plan's rows by key ("t<id>" for a target, "o<id>" for an objective); nothing is recomputed here.

ROW_STATUSES = {
    "attivo": "Attivo",
    "neutralizzato": "Neutralizzato",
    "escluso": "Escluso",
    "non_rilevato": "Non rilevato",
}
KIND_ORDER = {"strategic": 0, "operational": 1, "individual": 2}
OBJECTIVE_KIND_KEYS = {
    "strategico": "strategic",
    "operativo": "operational",
    "individuale": "individual",
}


@dataclass
class ScoredCycle:
    """A cycle's score with the plain data it came from and the figures of its individual
    objectives (the engine scores positions as a whole; each objective is scored here by the
    engine's ``objective`` rule, so the tables can show it)."""

    cycle: Cycle
    period: MeasurementPeriod | None
    data: scoring.CycleData
    score: scoring.CycleScore
    rows: dict[str, scoring.RowResult]
    objectives: dict[str, scoring.NodeResult]


def cycle_scored(*, cycle: Cycle, period: MeasurementPeriod | None = None) -> ScoredCycle:
    """Score ``cycle`` once and index the results by key (the queries of ``cycle_data``)."""
    period = period or final_period(cycle=cycle)
    data = cycle_data(cycle=cycle, period=period)
    score = scoring.score_cycle(data)
    rows: dict[str, scoring.RowResult] = {}
    objectives: dict[str, scoring.NodeResult] = {}
    for tree in (score.strategic, score.operational, score.units, *score.individual):
        if tree is None:
            continue
        for node in tree.walk():
            if node.kind == "objective":
                objectives.setdefault(node.key, node)
            for row in node.rows:
                rows.setdefault(row.key, row)
    # The positions' rows are already scored (in score.individual): their objectives reuse
    # those results instead of scoring every individual row a second time.
    for node in scoring.position_objectives(data, score):
        objectives.setdefault(node.key, node)
        for row in node.rows:
            rows.setdefault(row.key, row)
    return ScoredCycle(
        cycle=cycle, period=period, data=data, score=score, rows=rows, objectives=objectives
    )


def _value_text(actual: dict | None) -> str:
    """The actual as written; when nothing was written, its value in Italian form."""
    if actual is None:
        return ""
    return actual_text(
        text=actual["text"],
        number=actual["value_number"],
        date=actual["value_date"],
        done=actual["value_done"],
        k=actual["value_k"],
        n=actual["value_n"],
        parts=actual["value_parts"],
    )


def _row_status(*, neutralized: bool, result: scoring.RowResult | None, excluded: bool) -> str:
    if neutralized:
        return "neutralizzato"
    if excluded:
        return "escluso"
    if result is None or result.achievement is None:
        return "non_rilevato"
    return "attivo"


@dataclass
class TableRow:
    """One row of the workspace tables (a target or an objective), every field ready to show."""

    pk: int
    kind: str
    kind_label: str
    code: str
    objective: str
    perspective: str
    perspective_id: int | None
    perspective_sort: tuple
    strategic_objective: str
    strategic_sort: tuple
    unit: str
    unit_ids: frozenset[int]
    unit_sort: int
    achievement: Decimal | None
    achievement_display: str
    formula: str
    override: bool
    override_reason: str
    reason: str
    band_key: str
    band_label: str
    band_sort: int
    status: str
    status_label: str
    objective_id: int = 0
    indicator_id: int = 0
    indicator: str = ""
    target_text: str = ""
    actual_text: str = ""
    measures: int = 0

    @property
    def kind_sort(self) -> int:
        return KIND_ORDER.get(self.kind, len(KIND_ORDER))

    @property
    def achievement_sort(self) -> Decimal:
        return self.achievement if self.achievement is not None else Decimal(-1)

    @property
    def title_sort(self) -> str:
        return (self.indicator or self.objective).casefold()

    @property
    def objective_sort(self) -> str:
        return self.objective.casefold()


@dataclass
class TableFilters:
    """The table filters as plain values (see performance/filters.py)."""

    kind: str = ""
    perspective: int | None = None
    unit: int | None = None
    status: str = ""
    band: str = ""
    text: str = ""


def cycle_bands(*, cycle: Cycle) -> tuple[scoring.Band, ...]:
    return scoring.Rules.from_dict(cycle.rules).bands


def table_filter_choices(*, cycle: Cycle) -> dict:
    """Choices of the table filters: perspectives, units in tree order (with depth), bands."""
    perspectives = list(
        Perspective.objects.filter(cycle=cycle)
        .order_by("order", "code")
        .values_list("id", "code", "name")
    )
    units = list(
        Unit.objects.filter(cycle=cycle).order_by("order", "id").values("id", "parent_id", "name")
    )
    children: dict[int | None, list[dict]] = defaultdict(list)
    for unit in units:
        children[unit["parent_id"]].append(unit)
    ordered: list[tuple[int, str, int]] = []

    def visit(parent_id: int | None, depth: int) -> None:
        for unit in children.get(parent_id, []):
            ordered.append((unit["id"], unit["name"], depth))
            visit(unit["id"], depth + 1)

    visit(None, 0)
    return {
        "perspectives": [(pk, f"{code}. {name}") for pk, code, name in perspectives],
        "units": ordered,
        "bands": [(band.key, band.label) for band in cycle_bands(cycle=cycle)],
    }


def _unit_index(*, cycle: Cycle) -> tuple[dict[int, dict], dict[int, int], frozenset[int]]:
    """Units by id (with their ancestors' ids), their position in tree order, the roots (the
    Ente: rows without a unit belong to it)."""
    units = {
        u["id"]: u
        for u in Unit.objects.filter(cycle=cycle)
        .order_by("order", "id")
        .values("id", "parent_id", "name")
    }
    roots = frozenset(u["id"] for u in units.values() if u["parent_id"] is None)
    children: dict[int | None, list[int]] = defaultdict(list)
    for unit in units.values():
        children[unit["parent_id"]].append(unit["id"])
    order: dict[int, int] = {}

    def visit(parent_id: int | None) -> None:
        for unit_id in children.get(parent_id, []):
            order[unit_id] = len(order)
            visit(unit_id)

    visit(None)
    for unit in units.values():
        ancestors, parent = [], unit["parent_id"]
        while parent is not None and parent not in ancestors and parent in units:
            ancestors.append(parent)
            parent = units[parent]["parent_id"]
        unit["ancestors"] = frozenset(ancestors)
    return units, order, roots


def _matches(row: TableRow, filters: TableFilters, units: dict[int, dict]) -> bool:
    if filters.kind and row.kind != OBJECTIVE_KIND_KEYS.get(filters.kind, filters.kind):
        return False
    if filters.perspective is not None and row.perspective_id != filters.perspective:
        return False
    if filters.unit is not None and not any(
        unit_id == filters.unit or filters.unit in units[unit_id]["ancestors"]
        for unit_id in row.unit_ids
        if unit_id in units
    ):
        return False
    if filters.status and row.status != filters.status:
        return False
    if filters.band and row.band_key != filters.band:
        return False
    if filters.text:
        wanted = filters.text.casefold()
        haystack = " ".join(
            (row.code, row.objective, row.indicator, row.target_text, row.actual_text)
        ).casefold()
        if wanted not in haystack:
            return False
    return True


def _band_fields(band: scoring.Band | None, bands: tuple[scoring.Band, ...]) -> dict:
    if band is None:
        return {"band_key": "", "band_label": "", "band_sort": len(bands)}
    rank = next((i for i, b in enumerate(bands) if b.key == band.key), len(bands))
    return {"band_key": band.key, "band_label": band.label, "band_sort": rank}


def _plan_context(objective: Objective) -> dict:
    goal = objective.strategic_objective
    perspective = goal.perspective if goal else None
    return {
        "objective_id": objective.id,
        "kind": objective.kind,
        "kind_label": objective.get_kind_display(),
        "code": objective.code,
        "objective": objective.title,
        "perspective": str(perspective) if perspective else "",
        "perspective_id": perspective.id if perspective else None,
        "perspective_sort": (perspective.order, perspective.code) if perspective else (10**9, ""),
        "strategic_objective": str(goal) if goal else "",
        "strategic_sort": (goal.order, goal.code) if goal else (10**9, ""),
    }


def target_table_rows(
    *, cycle: Cycle, filters: TableFilters | None = None, scored: ScoredCycle | None = None
) -> list[TableRow]:
    """One row per target of the cycle with its value of the final period and the engine's
    achievement, filtered. A fixed number of queries (those of ``cycle_scored`` plus three)."""
    scored = scored or cycle_scored(cycle=cycle)
    filters = filters or TableFilters()
    units, unit_order, roots = _unit_index(cycle=cycle)
    bands = scored.data.rules.bands
    targets = (
        Target.objects.filter(indicator__objective__cycle=cycle)
        .select_related(
            "unit",
            "indicator__objective__strategic_objective__perspective",
            "indicator__objective__position",
        )
        .order_by(
            "indicator__objective__kind",
            "indicator__objective__order",
            "indicator__objective_id",
            "indicator__order",
            "indicator_id",
            "order",
            "id",
        )
    )
    actuals: dict[int, dict] = {}
    if scored.period is not None:
        actuals = {
            a["target_id"]: a
            for a in Actual.objects.filter(
                period=scored.period, target__indicator__objective__cycle=cycle
            ).values("target_id", "text", *ACTUAL_VALUE_FIELDS)
        }
    out = []
    for target in targets:
        indicator = target.indicator
        objective = indicator.objective
        result = scored.rows.get(f"t{target.id}")
        neutralized = objective.status == Objective.Status.NEUTRALIZED
        excluded = target.status == Target.Status.EXCLUDED
        unit_id = target.unit_id
        if unit_id is None and objective.position is not None:
            unit_id = objective.position.unit_id
        if target.unit is not None:
            unit_name = target.unit.name
        elif objective.position is not None:
            unit_name = objective.position.title
        else:
            unit_name = "Ente"
        status = _row_status(neutralized=neutralized, result=result, excluded=excluded)
        reason = ""
        if result is not None and result.achievement is None:
            reason = result.excluded_reason
        elif result is None:
            reason = "non compreso nell'albero della performance"
        out.append(
            TableRow(
                pk=target.id,
                **_plan_context(objective),
                indicator_id=indicator.id,
                indicator=indicator.name,
                unit=unit_name,
                unit_ids=frozenset({unit_id}) if unit_id else roots,
                unit_sort=unit_order.get(unit_id, -1) if unit_id else -1,
                target_text=target.text,
                actual_text=_value_text(actuals.get(target.id)),
                achievement=result.achievement if result else None,
                achievement_display=scoring.fmt_pct(result.achievement if result else None),
                formula=result.formula if result else "",
                override=bool(result and result.override),
                override_reason=result.override_reason if result else "",
                reason=reason,
                **_band_fields(result.band if result else None, bands),
                status=status,
                status_label=ROW_STATUSES[status],
            )
        )
    out.sort(key=lambda row: row.kind_sort)  # stable: plan order within each kind
    return [row for row in out if _matches(row, filters, units)]


def objective_table_rows(
    *, cycle: Cycle, filters: TableFilters | None = None, scored: ScoredCycle | None = None
) -> list[TableRow]:
    """One row per objective with the engine's figure (its node in the strategic tree, in the
    Ente's operational table, or the individual objective), filtered. Fixed number of queries."""
    scored = scored or cycle_scored(cycle=cycle)
    filters = filters or TableFilters()
    units, unit_order, roots = _unit_index(cycle=cycle)
    bands = scored.data.rules.bands
    objectives = (
        Objective.objects.filter(cycle=cycle)
        .select_related("strategic_objective__perspective", "position")
        .order_by("kind", "order", "id")
    )
    targets = Target.objects.filter(indicator__objective__cycle=cycle).values(
        "indicator__objective_id", "indicator_id", "unit_id", "unit__name", "status"
    )
    by_objective: dict[int, list[dict]] = defaultdict(list)
    for target in targets:
        by_objective[target["indicator__objective_id"]].append(target)
    out = []
    for objective in objectives:
        node = scored.objectives.get(f"o{objective.id}")
        own = by_objective.get(objective.id, [])
        unit_ids = {t["unit_id"] for t in own if t["unit_id"]}
        if objective.position is not None:
            unit_name = objective.position.title
            if objective.position.unit_id:
                unit_ids.add(objective.position.unit_id)
        else:
            names = sorted(
                {(unit_order.get(t["unit_id"], 0), t["unit__name"]) for t in own if t["unit_id"]}
            )
            unit_name = ", ".join(name for _, name in names) or "Ente"
        neutralized = objective.status == Objective.Status.NEUTRALIZED
        excluded = bool(own) and all(t["status"] == Target.Status.EXCLUDED for t in own)
        achievement = node.achievement if node else None
        if neutralized:
            status = "neutralizzato"
        elif excluded:
            status = "escluso"
        elif achievement is None:
            status = "non_rilevato"
        else:
            status = "attivo"
        if neutralized:
            reason = objective.neutralization_reason
        elif node is None:
            reason = "non compreso nell'albero della performance"
        else:
            reason = "; ".join(f"{e.label}: {e.reason}" for e in node.excluded)
        out.append(
            TableRow(
                pk=objective.id,
                **_plan_context(objective),
                unit=unit_name,
                unit_ids=frozenset(unit_ids) or roots,
                unit_sort=min((unit_order.get(u, 0) for u in unit_ids), default=-1),
                measures=len({t["indicator_id"] for t in own}),
                achievement=achievement,
                achievement_display=scoring.fmt_pct(achievement),
                formula=node.formula if node else "",
                override=bool(node and any(row.override for row in node.rows)),
                override_reason="; ".join(
                    row.override_reason for row in (node.rows if node else []) if row.override
                ),
                reason=reason,
                **_band_fields(node.band if node else None, bands),
                status=status,
                status_label=ROW_STATUSES[status],
            )
        )
    out.sort(key=lambda row: row.kind_sort)  # stable: plan order within each kind
    return [row for row in out if _matches(row, filters, units)]


@dataclass
class TreeRow:
    """A row of the albero della performance, ready to show."""

    key: str
    label: str
    achievement_display: str
    formula: str
    band_key: str = ""
    band_label: str = ""
    override: bool = False
    override_reason: str = ""
    excluded_reason: str = ""


@dataclass
class TreeNode:
    """A node of the albero della performance with its figure, formula and what it left out."""

    key: str
    code: str
    name: str
    kind: str
    achievement_display: str
    formula: str
    band_key: str = ""
    band_label: str = ""
    rows: list[TreeRow] = field(default_factory=list)
    children: list[TreeNode] = field(default_factory=list)
    excluded: list[tuple[str, str]] = field(default_factory=list)
    excluded_note: str = ""
    rows_note: str = ""


def _tree_row(row: scoring.RowResult) -> TreeRow:
    return TreeRow(
        key=row.key,
        label=row.label,
        achievement_display=scoring.fmt_pct(row.achievement),
        formula=row.formula,
        band_key=row.band.key if row.band else "",
        band_label=row.band.label if row.band else "",
        override=row.override,
        override_reason=row.override_reason,
        excluded_reason=row.excluded_reason,
    )


def _tree_node(node: scoring.NodeResult, *, rows: bool = True) -> TreeNode:
    """The presentation of a scored node. Exclusions of child nodes are listed; excluded rows
    are shown where they stand (with their reason) and only counted on the node."""
    out = TreeNode(
        key=node.key,
        code=node.code,
        name=node.name,
        kind=node.kind,
        achievement_display=scoring.fmt_pct(node.achievement),
        formula=node.formula,
        band_key=node.band.key if node.band else "",
        band_label=node.band.label if node.band else "",
        children=[_tree_node(child) for child in node.children],
    )
    if node.method == "children":
        out.excluded = [(e.label, e.reason) for e in node.excluded]
    elif len(node.excluded) == 1:
        out.excluded_note = "1 riga esclusa dal calcolo"
    elif node.excluded:
        out.excluded_note = f"{len(node.excluded)} righe escluse dal calcolo"
    if rows:
        out.rows = [_tree_row(row) for row in node.rows]
    elif node.rows:
        out.rows_note = f"{len(node.rows)} righe: sono quelle degli obiettivi operativi dell'Ente."
    return out


def cycle_tree(*, cycle: Cycle, scored: ScoredCycle | None = None) -> dict:
    """The albero della performance of a cycle for the workspace page: strategic tree, the Ente's
    operational table, the unit tree, the individual objectives (position -> objective -> rows),
    the overrides and the consistency report. The queries of ``cycle_scored``, nothing more."""
    scored = scored or cycle_scored(cycle=cycle)
    score = scored.score
    units = None
    if score.units is not None:
        units = _tree_node(score.units, rows=score.units.kind != "ente")
        units.children = [_tree_node(child) for child in score.units.children]
    individual = []
    for position, node in zip(scored.data.positions, score.individual, strict=True):
        item = _tree_node(node, rows=False)
        item.rows_note = ""
        item.children = [
            _tree_node(scored.objectives[objective.key])
            for objective in position.objectives
            if objective.key in scored.objectives
        ]
        individual.append(item)
    return {
        "strategic": _tree_node(score.strategic),
        "operational": _tree_node(score.operational),
        "units": units,
        "individual": individual,
        "summary": {name.replace(":", "_"): value for name, value in score.counts.items()},
        "overrides": [_tree_row(row) for row in score.overrides()],
        "checks_total": len(score.checks),
        "discrepancies": [
            {
                "ref": check.stated.ref,
                "label": check.stated.label,
                "field": check.field,
                "stated": scoring.fmt(check.stated_value),
                "computed": scoring.fmt(check.computed),
                "formula": check.formula,
                "message": check.message,
            }
            for check in score.discrepancies
        ],
    }


# ----------------------------------------------------------------------- history of an indicator

HISTORY_ACTIONS = {"+": "Creazione", "~": "Modifica", "-": "Eliminazione"}
_HISTORY_SKIP = {
    Indicator: {"id"},
    Target: {"id", "indicator"},
    Actual: {"id", "target", "version", "recorded_by", "recorded_at"},
}


@dataclass
class HistoryChange:
    field: str
    label: str
    old: str
    new: str


@dataclass
class HistoryEntry:
    when: object  # datetime
    who: str
    subject: str
    action: str
    changes: list[HistoryChange]
    reason: str = ""
    order: tuple = ()


def _history_value(model, name: str, value) -> str:
    import datetime as dt
    import json

    from django.utils import timezone

    if value is None or value == "":
        return "—"
    model_field = model._meta.get_field(name)
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return "sì" if value else "no"
    if isinstance(value, Decimal):
        return scoring.fmt(value)
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).strftime("%d/%m/%Y %H:%M")
    if isinstance(value, dt.date):
        return scoring.fmt_date(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, Objective):
        return value.title  # its str() is cut at 120 characters
    return str(value)


def _history_entries(records: list, model, subject) -> list[HistoryEntry]:
    """Entries of one model's history: each record diffed against the previous record of the
    same object (records must be ordered by object and date). No queries."""
    skip = _HISTORY_SKIP[model]
    fields = [f for f in model._meta.concrete_fields if f.editable and f.name not in skip]
    names = [f.name for f in fields]
    labels = {f.name: str(f.verbose_name) for f in fields}
    previous: dict[int, object] = {}
    out = []
    for record in records:
        before = previous.get(record.id)
        changes: list[HistoryChange] = []
        if before is not None and record.history_type != "-":
            delta = record.diff_against(before, included_fields=names, foreign_keys_are_objs=True)
            by_name = {change.field: change for change in delta.changes}
            for name in names:
                if name in by_name:
                    change = by_name[name]
                    changes.append(
                        HistoryChange(
                            name,
                            labels[name],
                            _history_value(model, name, change.old),
                            _history_value(model, name, change.new),
                        )
                    )
        elif record.history_type == "+" or before is None:
            for name in names:
                value = getattr(record, name)
                if value in (None, "", [], {}):
                    continue
                changes.append(
                    HistoryChange(name, labels[name], "—", _history_value(model, name, value))
                )
        previous[record.id] = record
        user = record.history_user
        out.append(
            HistoryEntry(
                when=record.history_date,
                who=(user.get_full_name() or user.get_username()) if user else "caricamento dati",
                subject=subject(record),
                action=HISTORY_ACTIONS.get(record.history_type, record.history_type),
                changes=changes,
                reason=record.history_change_reason or "",
                order=(record.history_date, record.history_id),
            )
        )
    return out


def indicator_history(*, indicator: Indicator) -> list[HistoryEntry]:
    """Every change of an indicator, of its targets and of their values, newest first: who,
    when, and old -> new for each changed field (Italian field labels). Three queries."""
    by_object = ("id", "history_date", "history_id")
    indicators = list(
        Indicator.history.filter(id=indicator.id)
        .select_related("history_user", "objective")
        .order_by(*by_object)
    )
    targets = list(
        Target.history.filter(indicator_id=indicator.id)
        .select_related("history_user", "unit", "office", "revised_by")
        .order_by(*by_object)
    )
    target_ids = {record.id for record in targets}
    actuals = list(
        Actual.history.filter(target_id__in=target_ids)
        .select_related("history_user", "period")
        .order_by(*by_object)
    )

    def target_subject(record) -> str:
        return f"Target – {record.unit.name if record.unit else 'Ente'}: {record.text}"

    where = {record.id: record.unit.name if record.unit else "Ente" for record in targets}

    def actual_subject(record) -> str:
        return f"Valore rilevato – {record.period} – {where.get(record.target_id, 'Ente')}"

    entries = [
        *_history_entries(indicators, Indicator, lambda record: "Indicatore"),
        *_history_entries(targets, Target, target_subject),
        *_history_entries(actuals, Actual, actual_subject),
    ]
    entries.sort(key=lambda entry: entry.order, reverse=True)
    return entries
