"""Reads for managing the plan: the plan of a cycle as a tree (perspectives → strategic
objectives → objectives → indicators → targets), in a fixed number of queries."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from organization.models import Cycle, PlanDocument, Position, Unit
from performance.models import Indicator, Objective, Perspective, StrategicObjective, Target
from performance.rules import RULES, rule_summary

# each kind's label (its module in performance/rules/) and the rule in words: "≥ 4",
# "entro il 31/07/2019", "variazione −20% su 524" (rules.rule_summary)
RULE_KIND_LABELS = {kind: rule.label for kind, rule in RULES.items()}


@dataclass
class GoalBlock:
    goal: StrategicObjective | None
    objectives: list[Objective] = field(default_factory=list)


@dataclass
class PerspectiveBlock:
    perspective: Perspective
    goals: list[GoalBlock] = field(default_factory=list)


@dataclass
class PositionBlock:
    position: Position
    objectives: list[Objective] = field(default_factory=list)


@dataclass
class PlanOverview:
    cycle: Cycle
    perspectives: list[PerspectiveBlock]
    operational: list[GoalBlock]
    individual: list[PositionBlock]
    units: list[Unit]
    counts: dict[str, int]
    next_year_exists: bool


def plan_overview(*, cycle: Cycle) -> PlanOverview:
    """The whole plan of ``cycle`` for the plan page (nine queries, whatever its size).

    Each objective gets ``indicator_list``; each indicator ``target_list``; each target
    ``rule_text``, ``original_rule_text`` and ``revision_reason`` (from its history)."""
    perspectives = list(Perspective.objects.filter(cycle=cycle).order_by("order", "code"))
    goals = list(StrategicObjective.objects.filter(cycle=cycle).order_by("order", "code"))
    objectives = list(
        Objective.objects.filter(cycle=cycle)
        .select_related("strategic_objective", "position", "neutralized_by")
        .order_by("order", "id")
    )
    indicators = list(
        Indicator.objects.filter(objective__cycle=cycle).order_by("objective_id", "order", "id")
    )
    targets = list(
        Target.objects.filter(indicator__objective__cycle=cycle)
        .select_related("unit", "office", "revised_by")
        .order_by("indicator_id", "order", "id")
    )
    positions = list(Position.objects.filter(cycle=cycle).order_by("order", "id"))
    units = list(Unit.objects.filter(cycle=cycle).order_by("order", "id"))
    revised_ids = [t.id for t in targets if t.revised_by_id or t.original_text]
    reasons: dict[int, str] = {}
    if revised_ids:
        for record in (
            Target.history.filter(id__in=revised_ids, history_change_reason__startswith="Revisione")
            .order_by("history_date")
            .values("id", "history_change_reason")
        ):
            reasons[record["id"]] = record["history_change_reason"]

    targets_by_indicator: dict[int, list[Target]] = defaultdict(list)
    for target in targets:
        target.rule_text = rule_summary(target.rule)
        target.original_rule_text = (
            rule_summary(target.original_rule) if target.original_rule else ""
        )
        target.revision_reason = reasons.get(target.id, "")
        targets_by_indicator[target.indicator_id].append(target)
    indicators_by_objective: dict[int, list[Indicator]] = defaultdict(list)
    for indicator in indicators:
        indicator.target_list = targets_by_indicator.get(indicator.id, [])
        indicators_by_objective[indicator.objective_id].append(indicator)
    for objective in objectives:
        objective.indicator_list = indicators_by_objective.get(objective.id, [])

    goal_blocks = {g.id: GoalBlock(goal=g) for g in goals}
    perspective_blocks = {p.id: PerspectiveBlock(perspective=p) for p in perspectives}
    for goal in goals:
        perspective_blocks[goal.perspective_id].goals.append(goal_blocks[goal.id])
    operational: dict[int | None, GoalBlock] = {}
    for goal in goals:
        operational[goal.id] = GoalBlock(goal=goal)
    operational[None] = GoalBlock(goal=None)
    position_blocks = {p.id: PositionBlock(position=p) for p in positions}
    for objective in objectives:
        if objective.kind == Objective.Kind.STRATEGIC and objective.strategic_objective_id:
            goal_blocks[objective.strategic_objective_id].objectives.append(objective)
        elif objective.kind == Objective.Kind.OPERATIONAL:
            operational[objective.strategic_objective_id].objectives.append(objective)
        elif objective.kind == Objective.Kind.INDIVIDUAL and objective.position_id:
            position_blocks[objective.position_id].objectives.append(objective)
        else:  # a strategic objective without its code: shown with the operational ones
            operational[None].objectives.append(objective)

    parents = {unit.id: unit.parent_id for unit in units}
    for unit in units:
        depth, parent = 0, unit.parent_id
        while parent is not None and depth < len(units):
            depth, parent = depth + 1, parents.get(parent)
        unit.depth = depth

    counts = {
        "objectives": len(objectives),
        "neutralized": sum(1 for o in objectives if o.status == Objective.Status.NEUTRALIZED),
        "indicators": len(indicators),
        "targets": len(targets),
        "revised": sum(1 for t in targets if t.revised_by_id or t.original_text),
    }
    next_year_exists = Cycle.objects.filter(
        organization_id=cycle.organization_id, year=cycle.year + 1
    ).exists()
    return PlanOverview(
        cycle=cycle,
        perspectives=list(perspective_blocks.values()),
        operational=[block for block in operational.values() if block.objectives],
        individual=list(position_blocks.values()),
        units=units,
        counts=counts,
        next_year_exists=next_year_exists,
    )


def update_documents(*, cycle: Cycle):
    """The cycle's plan-update deliberations, for the revise and neutralize forms."""
    return PlanDocument.objects.filter(cycle=cycle, kind=PlanDocument.Kind.AGGIORNAMENTO).order_by(
        "date", "id"
    )


def target_history(*, target: Target, limit: int = 20) -> list:
    """The target's change history, newest first, with who changed it."""
    return list(
        Target.history.filter(id=target.id)
        .select_related("history_user")
        .order_by("-history_date")[:limit]
    )


def objective_history(*, objective: Objective, limit: int = 20) -> list:
    return list(
        Objective.history.filter(id=objective.id)
        .select_related("history_user")
        .order_by("-history_date")[:limit]
    )
