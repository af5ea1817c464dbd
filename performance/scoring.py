"""The scoring engine: achievements and roll-ups of the albero della performance.

Pure Python, no ORM: plain data in (`Rules`, `Row`, `Node`), results out (`RowResult`,
`NodeResult`), each with the formula that produced it and the list of what it left out and why.
Selectors turn database rows into this plain data; nothing here knows about Django models.

Numbers are `Decimal` throughout; percentages are 0–100.

Rules per target kind (one module each in `performance/rules/`, listed in `RULES`):

- ``at_least`` (higher is better): met -> 100%; otherwise actual/threshold, floor 0.
  A zero threshold is all-or-nothing.
- ``at_most`` (lower is better): met -> 100%; otherwise 1 − (actual − threshold)/|threshold|,
  floor 0 (for a positive threshold: 10 allowed, 12 measured -> 80%).
- ``change`` against a baseline: the change in percent (actual − baseline)/baseline; a reduction
  target (−20%) is met at −20% or less, otherwise achieved change / required change, floor 0.
- ``deadline``: on or before the due date -> 100%; late: 100 − points_per_day × days late
  (the cycle's lateness rule, after its grace days), never below the rule's floor; not done -> 0%.
- ``milestone``: done -> 100%, not done -> 0%.
- ``rating`` on a scale: met -> 100%; otherwise (actual − scale_min)/(threshold − scale_min).
- ``thresholds`` (minimum / target): below the minimum 0%; at the minimum ``minimum_score``;
  linear up to 100% at the target.
- ``k_of_n`` coverage: k/n, capped at 100% ("almeno 1 addetto per ufficio": 13 of 14 -> 92,86%).
- ``multi``: every part scored by its own rule, then their mean (or minimum).

Every row result is capped to 0–100 and rounded by the cycle's ``row`` rounding. A manual override
replaces the rule's figure, needs a justification and is always reported as an override.
Rows that are neutralized, excluded or not measured leave every average (they are listed,
never counted as 0).

Roll-ups (`Node.method`): ``own_rows`` (mean of the node's rows), ``subtree_rows`` (mean of every
row below), ``objectives`` (mean per objective, then of objectives), ``children`` (mean of the
children's figures). Means are weighted by ``weight``; when ``Rules.weight_total`` is set and the
weights of a level do not add up to it they are rescaled and the factor is written in the formula.
Each level is rounded by the rounding of its kind; with ``roll_up_uses_rounded`` (the document's
practice) the level above uses the rounded figures.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal

# The rules of each target kind (performance/rules/) and the numbers and values they read:
# re-exported, this module is the engine's public API.
from performance.rules import RULE_KINDS as RULE_KINDS
from performance.rules import RULES as RULES
from performance.rules import rule_summary as rule_summary
from performance.rules import score_rule as score_rule
from performance.rules import validate_spec as validate_spec
from performance.rules.base import HUNDRED as HUNDRED
from performance.rules.base import ONE as ONE
from performance.rules.base import ZERO as ZERO
from performance.rules.base import RuleResult as RuleResult
from performance.rules.base import ScoringError as ScoringError
from performance.rules.base import Value as Value
from performance.rules.base import _fmt as _fmt  # the uncached formatter (tests compare)
from performance.rules.base import as_date as as_date
from performance.rules.base import clamp as clamp
from performance.rules.base import dec as dec
from performance.rules.base import fmt as fmt
from performance.rules.base import fmt_date as fmt_date
from performance.rules.base import fmt_pct as fmt_pct
from performance.rules.base import r2 as r2

ROUNDING_MODES = {
    "half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
    "up": ROUND_UP,
    "down": ROUND_DOWN,
}
METHODS = ("own_rows", "subtree_rows", "objectives", "children")
ACTIVE, NEUTRALIZED, EXCLUDED = "active", "neutralized", "excluded"


# --------------------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Rounding:
    decimals: int = 2
    mode: str = "half_up"

    def __post_init__(self) -> None:
        if self.mode not in ROUNDING_MODES:
            raise ScoringError(f"arrotondamento: modalità «{self.mode}» sconosciuta")
        if not 0 <= self.decimals <= 6:
            raise ScoringError("arrotondamento: i decimali vanno da 0 a 6")

    @functools.cached_property
    def _quantum(self) -> Decimal:  # computed once (not a field: eq, repr, to_dict unchanged)
        return Decimal(1).scaleb(-self.decimals)

    def apply(self, value: Decimal) -> Decimal:
        return value.quantize(self._quantum, rounding=ROUNDING_MODES[self.mode])


@dataclass(frozen=True)
class Band:
    key: str
    label: str
    minimum: Decimal
    inclusive: bool = True

    def contains(self, value: Decimal) -> bool:
        return value >= self.minimum if self.inclusive else value > self.minimum


@dataclass(frozen=True)
class Lateness:
    points_per_day: Decimal = ONE
    floor: Decimal = ZERO
    grace_days: int = 0


DEFAULT_BANDS = (
    Band("raggiunto", "Raggiunto", Decimal(90), inclusive=False),
    Band("parziale", "Parzialmente raggiunto", Decimal(70), inclusive=True),
    Band("non_raggiunto", "Non raggiunto", ZERO, inclusive=True),
)
DEFAULT_AGGREGATION = {
    "strategic": "children",
    "perspective": "subtree_rows",
    "strategic_objective": "subtree_rows",
    "objective": "own_rows",
    "operational": "subtree_rows",
    "position": "own_rows",
    "ente": "own_rows",
    "group": "children",
    "area": "subtree_rows",
}


@dataclass(frozen=True)
class Rules:
    """The cycle's measurement rules (its SMVP), as data."""

    rounding: Mapping[str, Rounding] = field(
        default_factory=lambda: {"default": Rounding(2), "row": Rounding(0)}
    )
    roll_up_uses_rounded: bool = True
    lateness: Lateness = field(default_factory=Lateness)
    bands: tuple[Band, ...] = DEFAULT_BANDS
    aggregation: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_AGGREGATION))
    weight_total: Decimal | None = None

    def rounding_for(self, kind: str) -> Rounding:
        return self.rounding.get(kind) or self.rounding.get("default") or Rounding(2)

    def method_for(self, kind: str) -> str:
        return self.aggregation.get(kind) or DEFAULT_AGGREGATION.get(kind) or "own_rows"

    def band_for(self, value: Decimal | None) -> Band | None:
        if value is None:
            return None
        for band in self.bands:
            if value >= band.minimum if band.inclusive else value > band.minimum:  # band.contains
                return band
        return None

    @classmethod
    def from_dict(cls, data: Mapping | None) -> Rules:
        """Parse the JSON/YAML form (see docs/dataset-format.md, "rules")."""
        data = data or {}
        rounding = {"default": Rounding(2), "row": Rounding(0)}
        for kind, spec in (data.get("rounding") or {}).items():
            if not isinstance(spec, Mapping):
                raise ScoringError(f"arrotondamento «{kind}»: indicare decimals e mode")
            try:
                decimals = int(spec.get("decimals", 2))
            except (TypeError, ValueError):
                raise ScoringError(f"arrotondamento «{kind}»: decimali non validi") from None
            rounding[kind] = Rounding(decimals, str(spec.get("mode", "half_up")))
        late = data.get("lateness") or {}
        lateness = Lateness(
            points_per_day=dec(late.get("points_per_day", 1), "penalità per giorno di ritardo"),
            floor=dec(late.get("floor", 0), "soglia minima per ritardo"),
            grace_days=int(late.get("grace_days", 0)),
        )
        if lateness.points_per_day < 0 or not ZERO <= lateness.floor <= HUNDRED:
            raise ScoringError("ritardo: penalità negativa o soglia fuori da 0–100")
        bands = (
            tuple(
                Band(
                    str(b["key"]),
                    str(b.get("label", b["key"])),
                    dec(b["min"], "fascia"),
                    bool(b.get("inclusive", True)),
                )
                for b in data.get("bands") or []
            )
            or DEFAULT_BANDS
        )
        aggregation = dict(DEFAULT_AGGREGATION)
        for kind, method in (data.get("aggregation") or {}).items():
            if method not in METHODS:
                raise ScoringError(f"aggregazione «{kind}»: metodo «{method}» sconosciuto")
            aggregation[kind] = method
        total = data.get("weight_total")
        return cls(
            rounding=rounding,
            roll_up_uses_rounded=bool(data.get("roll_up_uses_rounded", True)),
            lateness=lateness,
            bands=tuple(sorted(bands, key=lambda b: b.minimum, reverse=True)),
            aggregation=aggregation,
            weight_total=None if total in (None, "") else dec(total, "totale pesi"),
        )

    def to_dict(self) -> dict:
        return {
            "rounding": {
                k: {"decimals": r.decimals, "mode": r.mode} for k, r in self.rounding.items()
            },
            "roll_up_uses_rounded": self.roll_up_uses_rounded,
            "lateness": {
                "points_per_day": str(self.lateness.points_per_day),
                "floor": str(self.lateness.floor),
                "grace_days": self.lateness.grace_days,
            },
            "bands": [
                {"key": b.key, "label": b.label, "min": str(b.minimum), "inclusive": b.inclusive}
                for b in self.bands
            ],
            "aggregation": dict(self.aggregation),
            "weight_total": None if self.weight_total is None else str(self.weight_total),
        }


# ------------------------------------------------------------------------------------------ rows


@dataclass(slots=True)
class Row:
    """One scored row: a target with its value (or the Ente-level mean of several units' rows)."""

    key: str
    label: str
    spec: Mapping | None = None
    value: Value | None = None
    weight: Decimal = ONE
    status: str = ACTIVE
    reason: str = ""
    override: Decimal | None = None
    override_reason: str = ""
    objective_key: str = ""
    objective_weight: Decimal = ONE
    indicator_key: str = ""
    unit_key: str | None = None
    derived_from: tuple[Row, ...] = ()


@dataclass(slots=True)
class RowResult:
    key: str
    label: str
    achievement: Decimal | None
    formula: str
    rule_value: Decimal | None = None
    raw: Decimal | None = None  # the achievement before the row rounding (or the override)
    override: bool = False
    override_reason: str = ""
    excluded_reason: str = ""
    band: Band | None = None
    weight: Decimal = ONE
    objective_key: str = ""
    objective_weight: Decimal = ONE
    unit_key: str | None = None


def score_row(row: Row, rules: Rules, cache: dict | None = None) -> RowResult:
    """Score one row. ``cache`` (one per scoring run) scores a row met in several trees once."""
    if cache is not None:
        cache_key = (row.key, row.status)
        found = cache.get(cache_key)
        if found is None:
            found = cache[cache_key] = _score_row(row, rules, cache)
        return found
    return _score_row(row, rules, None)


def _row_identity(row: Row) -> dict:
    """What a row's result repeats of the row."""
    return {
        "key": row.key,
        "label": row.label,
        "weight": row.weight,
        "objective_key": row.objective_key,
        "objective_weight": row.objective_weight,
        "unit_key": row.unit_key,
    }


def _unmeasured(row: Row, reason: str) -> RowResult:
    """A row left out of every average, with the reason (as its formula too)."""
    return RowResult(achievement=None, formula=reason, excluded_reason=reason, **_row_identity(row))


def _score_row(row: Row, rules: Rules, cache: dict | None) -> RowResult:
    rounding = rules.rounding_for("row")
    if row.status == NEUTRALIZED:
        return _unmeasured(row, f"neutralizzato: {row.reason}" if row.reason else "neutralizzato")
    if row.status == EXCLUDED:
        return _unmeasured(row, row.reason or "escluso dalla misurazione")
    rule_value: Decimal | None
    if row.derived_from:
        parts = [score_row(part, rules, cache) for part in row.derived_from]
        measured = [_row_figure(p, rules) for p in parts if p.achievement is not None]
        if not measured and row.override is None:
            return _unmeasured(row, "nessuna unità ha un valore misurato")
        rule_value = sum(measured, ZERO) / len(measured) if measured else None
        formula = (
            f"media delle unità: ({' + '.join(fmt(m) for m in measured)})/{len(measured)}"
            f" = {fmt_pct(r2(rule_value))}"
            if measured
            else ""
        )
    elif row.value is None or row.value.is_empty():
        if row.override is None:
            return _unmeasured(row, "valore non rilevato")
        rule_value, formula = None, ""
    else:
        try:
            result = score_rule(row.spec or {}, row.value, rules)
        except ScoringError as error:
            if row.override is None:
                return _unmeasured(row, f"non calcolabile: {error}")
            rule_value, formula = None, f"non calcolabile: {error}"
        else:
            rule_value, formula = result.pct, result.formula
    if row.override is not None:
        if not row.override_reason.strip():
            raise ScoringError(f"{row.label}: la rettifica manuale richiede una motivazione")
        achievement = rounding.apply(clamp(row.override))
        by_rule = (
            f" (la regola darebbe {fmt_pct(rounding.apply(rule_value))}: {formula})"
            if rule_value is not None
            else (f" ({formula})" if formula else "")
        )
        formula = f"valore rettificato {fmt_pct(achievement)}{by_rule}"
        formula += f" — {row.override_reason}"
        return RowResult(
            achievement=achievement,
            formula=formula,
            rule_value=rule_value,
            raw=clamp(row.override),
            override=True,
            override_reason=row.override_reason,
            band=rules.band_for(achievement),
            **_row_identity(row),
        )
    assert rule_value is not None
    achievement = rounding.apply(rule_value)
    if achievement != rule_value.normalize() and not formula.endswith(f"= {fmt_pct(achievement)}"):
        formula += f" ≈ {fmt_pct(achievement)}"
    return RowResult(
        achievement=achievement,
        formula=formula,
        rule_value=rule_value,
        raw=rule_value,
        band=rules.band_for(achievement),
        **_row_identity(row),
    )


# ----------------------------------------------------------------------------------------- nodes


@dataclass
class Node:
    """A node of a tree to score: a perspective, an objective, a unit, a position..."""

    key: str
    name: str
    kind: str
    code: str = ""
    method: str | None = None  # None: the rules' default for the kind
    weight: Decimal = ONE
    rows: list[Row] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)


@dataclass
class Exclusion:
    label: str
    reason: str


@dataclass
class NodeResult:
    key: str
    name: str
    kind: str
    code: str
    achievement: Decimal | None
    formula: str
    raw: Decimal | None = None
    method: str = ""
    total: Decimal | None = None  # the sum in the formula (equal weights)
    count: int = 0
    rescale_factor: Decimal | None = None
    band: Band | None = None
    rows: list[RowResult] = field(default_factory=list)
    children: list[NodeResult] = field(default_factory=list)
    excluded: list[Exclusion] = field(default_factory=list)

    def walk(self) -> Iterable[NodeResult]:
        """This node and every node below it, depth first, parents before their children."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            if node.children:
                stack.extend(reversed(node.children))

    def all_rows(self) -> list[RowResult]:
        return _rows_below([self])


def _rows_below(nodes: Sequence[NodeResult]) -> list[RowResult]:
    """The rows of ``nodes`` and of everything below them, in `NodeResult.walk` order."""
    out: list[RowResult] = []
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        out.extend(node.rows)
        if node.children:
            stack.extend(reversed(node.children))
    return out


def _row_figure(row: RowResult, rules: Rules) -> Decimal:
    """The figure a row contributes to a roll-up: rounded, or raw without roll_up_uses_rounded."""
    if not rules.roll_up_uses_rounded and row.raw is not None:
        return row.raw
    assert row.achievement is not None
    return row.achievement


def _figure(result: NodeResult | RowResult, rules: Rules) -> Decimal | None:
    if isinstance(result, NodeResult) and not rules.roll_up_uses_rounded:
        return result.raw
    return result.achievement


def _mean(
    items: Sequence[tuple[Decimal, Decimal]], rules: Rules, style: str
) -> tuple[Decimal, str, Decimal, Decimal | None]:
    """Weighted mean of (value, weight); returns (mean, formula, total, rescale factor)."""
    weights = [w for _, w in items]
    total_weight = sum(weights, ZERO)
    if total_weight <= 0:
        raise ScoringError("pesi: la somma dei pesi deve essere maggiore di 0")
    first = weights[0]
    equal = all(w == first for w in weights)
    factor, note = None, ""
    # Every weight equal to the first: the level is weighted iff that one is not 1.
    weighted_level = first != ONE if equal else not all(w == ONE for w in weights)
    if rules.weight_total is not None and weighted_level and total_weight != rules.weight_total:
        factor = rules.weight_total / total_weight
        note = (
            f" [pesi riscalati × {fmt(r2(factor))}: somma {fmt(total_weight)}"
            f" invece di {fmt(rules.weight_total)}]"
        )
    if equal:
        total = sum([v for v, _ in items], ZERO)
        mean = total / len(items)
        if style == "list" and len(items) <= 8:
            formula = f"({' + '.join(fmt(v) for v, _ in items)})/{len(items)}"
        else:
            formula = f"{fmt(total)}/{len(items)}"
        return mean, formula + note, total, factor
    weighted = sum((v * w for v, w in items), ZERO)
    mean = weighted / total_weight
    terms = " + ".join(f"{fmt(w)} × {fmt(v)}" for v, w in items[:8])
    if len(items) > 8:
        terms += " + …"
    return mean, f"({terms})/{fmt(total_weight)}{note}", weighted, factor


def score_tree(node: Node, rules: Rules, cache: dict | None = None) -> NodeResult:
    """Score a node and everything below it (``cache``: see `score_row`)."""
    children = [score_tree(child, rules, cache) for child in node.children]
    rows = [score_row(row, rules, cache) for row in node.rows]
    method = node.method or rules.method_for(node.kind)
    if method not in METHODS:
        raise ScoringError(f"{node.name}: metodo di aggregazione «{method}» sconosciuto")
    result = NodeResult(
        key=node.key,
        name=node.name,
        kind=node.kind,
        code=node.code,
        achievement=None,
        formula="",
        method=method,
        rows=rows,
        children=children,
    )
    items: list[tuple[Decimal, Decimal]] = []
    style = "sum"
    if method in ("own_rows", "subtree_rows", "objectives"):
        scope = rows if method != "subtree_rows" else rows + _rows_below(children)
        result.excluded = [
            Exclusion(r.label, r.excluded_reason) for r in scope if r.achievement is None
        ]
        measured = [r for r in scope if r.achievement is not None]
        if method == "objectives":
            style = "list"
            by_objective: dict[str, list[RowResult]] = {}
            for row in measured:
                by_objective.setdefault(row.objective_key, []).append(row)
            objective_rounding = rules.rounding_for("objective")
            for group in by_objective.values():
                mean, _, _, _ = _mean(
                    [(_row_figure(r, rules), r.weight) for r in group], rules, "sum"
                )
                value = objective_rounding.apply(mean) if rules.roll_up_uses_rounded else mean
                items.append((value, group[0].objective_weight))
        else:
            items = [(_row_figure(r, rules), r.weight) for r in measured]
    else:
        style = "list"
        for child_node, child in zip(node.children, children, strict=True):
            figure = _figure(child, rules)
            if figure is None:
                result.excluded.append(Exclusion(child.name, "nessun valore misurato"))
            else:
                items.append((figure, child_node.weight))
    if not items:
        result.formula = "nessun elemento misurato"
        return result
    mean, formula, total, factor = _mean(items, rules, style)
    rounded = rules.rounding_for(node.kind).apply(mean)
    result.raw = mean
    result.achievement = rounded
    result.total = total
    result.count = len(items)
    result.rescale_factor = factor
    result.band = rules.band_for(rounded)
    result.formula = f"{formula} = {fmt_pct(rounded)}"
    return result


# ------------------------------------------------------------------------ a whole cycle's tree


@dataclass
class IndicatorData:
    key: str
    name: str
    targets: list[Row] = field(default_factory=list)


@dataclass
class ObjectiveData:
    key: str
    title: str
    code: str = ""
    strategic_code: str = ""
    weight: Decimal = ONE
    status: str = ACTIVE
    reason: str = ""
    indicators: list[IndicatorData] = field(default_factory=list)


@dataclass
class StrategicObjectiveData:
    code: str
    title: str
    weight: Decimal = ONE
    objectives: list[ObjectiveData] = field(default_factory=list)


@dataclass
class PerspectiveData:
    code: str
    name: str
    weight: Decimal = ONE
    strategic_objectives: list[StrategicObjectiveData] = field(default_factory=list)


@dataclass
class UnitData:
    key: str
    name: str
    kind: str
    method: str | None = None
    weight: Decimal = ONE
    children: list[UnitData] = field(default_factory=list)


@dataclass
class PositionData:
    key: str
    title: str
    holder: str = ""
    kind: str = "posizione_organizzativa"
    weight: Decimal = ONE
    objectives: list[ObjectiveData] = field(default_factory=list)


@dataclass(frozen=True)
class Stated:
    """A figure the plan or report text states, to compare with the computed one."""

    ref: str
    label: str
    node: str
    value: Decimal
    sum: Decimal | None = None
    count: int | None = None


@dataclass
class CycleData:
    year: int
    name: str
    rules: Rules
    perspectives: list[PerspectiveData]
    operational: list[ObjectiveData]
    units: UnitData | None
    positions: list[PositionData]
    stated: list[Stated] = field(default_factory=list)


@dataclass(frozen=True)
class Check:
    stated: Stated
    field: str  # "valore", "somma", "numero"
    stated_value: Decimal
    computed: Decimal | None
    formula: str
    ok: bool

    @property
    def message(self) -> str:
        return (
            f"{self.stated.ref} – {self.stated.label}: la fonte indica {self.field} "
            f"{fmt(self.stated_value)}, il calcolo dà {fmt(self.computed)}"
            + (f" ({self.formula})" if self.formula else "")
        )


@dataclass
class CycleScore:
    year: int
    name: str
    strategic: NodeResult
    operational: NodeResult
    units: NodeResult | None
    individual: list[NodeResult]
    counts: dict[str, int]
    checks: list[Check]

    @property
    def discrepancies(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def overrides(self) -> list[RowResult]:
        seen: dict[str, RowResult] = {}
        for tree in (self.strategic, self.operational, self.units, *self.individual):
            if tree is None:
                continue
            for row in tree.all_rows():
                if row.override:
                    seen.setdefault(row.key, row)
        return list(seen.values())

    def find(self, ref: str) -> NodeResult | None:
        kind, _, key = ref.partition(":")
        if kind == "strategic":
            return self.strategic
        if kind == "operational":
            return self.operational
        trees = {
            "perspective": [self.strategic],
            "strategic-objective": [self.strategic],
            "unit": [self.units] if self.units else [],
            "position": self.individual,
        }.get(kind, [])
        wanted_kind = {
            "perspective": "perspective",
            "strategic-objective": "strategic_objective",
            "position": "position",
        }.get(kind)
        for tree in trees:
            for node in tree.walk():
                if wanted_kind and node.kind != wanted_kind:
                    continue
                if node.key == key or (node.code and node.code == key):
                    return node
        return None


def _objective_rows(
    objective: ObjectiveData, indicator: IndicatorData, rows: Iterable[Row]
) -> list[Row]:
    """Rows as scored: an objective neutralized in the plan update neutralizes its rows."""
    out = []
    for row in rows:
        if objective.status != ACTIVE and row.status == ACTIVE:
            row = replace(row, status=objective.status, reason=objective.reason)
        out.append(row)
    return out


def ente_row(indicator: IndicatorData) -> Row | None:
    """The indicator's row in the Ente table: the Ente-level target if there is one, else the
    only unit's target, else the mean of the units' figures (first row of each unit)."""
    if not indicator.targets:
        return None
    for row in indicator.targets:
        if row.unit_key is None:
            return row
    first_by_unit: dict[str, Row] = {}
    for row in indicator.targets:
        first_by_unit.setdefault(row.unit_key or "", row)
    if len(first_by_unit) == 1:
        return next(iter(first_by_unit.values()))
    parts = tuple(first_by_unit.values())
    head = parts[0]
    return Row(
        key=f"ente:{indicator.key}",
        label=head.label,
        objective_key=head.objective_key,
        objective_weight=head.objective_weight,
        indicator_key=indicator.key,
        weight=head.weight,
        unit_key=None,
        derived_from=parts,
    )


def _objective_node(objective: ObjectiveData, rows: list[Row]) -> Node:
    return Node(
        key=objective.key,
        name=objective.title,
        kind="objective",
        code=objective.code,
        weight=objective.weight,
        rows=rows,
    )


def _position_rows(position: PositionData) -> list[Row]:
    """The rows of a position's node, as `score_cycle` scores them."""
    return [
        row
        for objective in position.objectives
        for indicator in objective.indicators
        for row in _objective_rows(objective, indicator, indicator.targets)
    ]


def _seed_cache(cache: dict, rows: Iterable[Row], results: Iterable[RowResult]) -> None:
    """Put in a `score_row` cache the results already computed for ``rows`` (the rows of a
    scored node and its ``rows``, in order), so that scoring them again reuses them."""
    for row, result in zip(rows, results, strict=True):
        cache.setdefault((row.key, row.status), result)


def position_objectives(data: CycleData, score: CycleScore) -> list[NodeResult]:
    """Each objective of the positions scored as a node of its own (the objectives' table of the
    individual plan), reusing the rows ``score`` (of ``data``) has already scored."""
    cache: dict = {}
    for position, tree in zip(data.positions, score.individual, strict=True):
        _seed_cache(cache, _position_rows(position), tree.rows)
    out = []
    for position in data.positions:
        for objective in position.objectives:
            rows = [
                row
                for indicator in objective.indicators
                for row in _objective_rows(objective, indicator, indicator.targets)
            ]
            out.append(score_tree(_objective_node(objective, rows), data.rules, cache))
    return out


def score_cycle(data: CycleData) -> CycleScore:
    """Score a whole cycle: strategic tree, Ente table, units, positions, consistency checks."""
    rules = data.rules
    cache: dict = {}

    strategic = Node("strategic", "Obiettivi strategici", "strategic")
    for perspective in data.perspectives:
        p_node = Node(
            f"perspective:{perspective.code}",
            perspective.name,
            "perspective",
            code=perspective.code,
            weight=perspective.weight,
        )
        for goal in perspective.strategic_objectives:
            g_node = Node(
                f"strategic-objective:{goal.code}",
                goal.title,
                "strategic_objective",
                code=goal.code,
                weight=goal.weight,
            )
            for objective in goal.objectives:
                rows = [
                    row
                    for indicator in objective.indicators
                    for row in _objective_rows(objective, indicator, indicator.targets)
                ]
                g_node.children.append(_objective_node(objective, rows))
            p_node.children.append(g_node)
        strategic.children.append(p_node)

    operational = Node("operational", "Obiettivi operativi dell'Ente", "operational")
    goals: dict[str, Node] = {}
    titles = {goal.code: goal.title for p in data.perspectives for goal in p.strategic_objectives}
    ente_rows: list[Row] = []
    unit_rows: dict[str, list[Row]] = {}
    for objective in data.operational:
        rows = []
        for indicator in objective.indicators:
            candidate = ente_row(indicator)
            if candidate is not None:
                rows.extend(_objective_rows(objective, indicator, [candidate]))
            for row in _objective_rows(objective, indicator, indicator.targets):
                if row.unit_key is not None:
                    unit_rows.setdefault(row.unit_key, []).append(row)
        ente_rows.extend(rows)
        code = objective.strategic_code
        if code not in goals:
            goals[code] = Node(
                f"operational:{code}",
                titles.get(code, code or "Senza obiettivo strategico"),
                "strategic_objective",
                code=code,
            )
            operational.children.append(goals[code])
        goals[code].children.append(_objective_node(objective, rows))

    units = None
    if data.units is not None:

        def build(unit: UnitData) -> Node:
            rows = ente_rows if unit.kind == "ente" else unit_rows.get(unit.key, [])
            return Node(
                unit.key,
                unit.name,
                unit.kind,
                method=unit.method,
                weight=unit.weight,
                rows=list(rows),
                children=[build(child) for child in unit.children],
            )

        units = score_tree(build(data.units), rules, cache)

    individual = []
    for position in data.positions:
        rows = _position_rows(position)
        node = Node(position.key, position.title, "position", weight=position.weight, rows=rows)
        individual.append(score_tree(node, rules, cache))

    strategic_result = score_tree(strategic, rules, cache)
    operational_result = score_tree(operational, rules, cache)
    counts = {}
    for name, tree in (("strategic", strategic_result), ("operational", operational_result)):
        objectives = [n for n in tree.walk() if n.kind == "objective" and n.achievement is not None]
        counts[f"{name}:total"] = len(objectives)
        counts[f"{name}:full"] = sum(1 for n in objectives if n.achievement == HUNDRED)
    score = CycleScore(
        year=data.year,
        name=data.name,
        strategic=strategic_result,
        operational=operational_result,
        units=units,
        individual=individual,
        counts=counts,
        checks=[],
    )
    score.checks = [check for stated in data.stated for check in _checks(score, stated)]
    return score


def _decimals(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _same(stated: Decimal, computed: Decimal | None) -> bool:
    if computed is None:
        return False
    places = Decimal(1).scaleb(-_decimals(stated))
    return computed.quantize(places, rounding=ROUND_HALF_UP) == stated


def _checks(score: CycleScore, stated: Stated) -> list[Check]:
    if stated.node.startswith("count:"):
        computed = score.counts.get(stated.node.removeprefix("count:"))
        value = None if computed is None else Decimal(computed)
        return [Check(stated, "numero", stated.value, value, "", _same(stated.value, value))]
    node = score.find(stated.node)
    if node is None:
        return [Check(stated, "valore", stated.value, None, "nodo non trovato", False)]
    checks = [
        Check(
            stated,
            "valore",
            stated.value,
            node.achievement,
            node.formula,
            _same(stated.value, node.achievement),
        )
    ]
    if stated.sum is not None:
        checks.append(
            Check(
                stated, "somma", stated.sum, node.total, node.formula, _same(stated.sum, node.total)
            )
        )
    if stated.count is not None:
        computed = Decimal(node.count)
        checks.append(
            Check(
                stated,
                "numero",
                Decimal(stated.count),
                computed,
                node.formula,
                computed == stated.count,
            )
        )
    return checks


# ---------------------------------------------------------------------------------- JSON form


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(r2(value))


def row_to_dict(row: RowResult) -> dict:
    return {
        "key": row.key,
        "name": row.label,
        "kind": "target",
        "code": "",
        "achievement": _number(row.achievement),
        "formula": row.formula,
        "override": row.override,
        "override_reason": row.override_reason,
        "excluded": row.excluded_reason or None,
        "band": row.band.key if row.band else None,
        "children": [],
    }


def node_to_dict(node: NodeResult, with_rows: bool = True) -> dict:
    children = [node_to_dict(child, with_rows) for child in node.children]
    if with_rows:
        children += [row_to_dict(row) for row in node.rows]
    return {
        "key": node.key,
        "name": node.name,
        "kind": node.kind,
        "code": node.code or None,
        "achievement": _number(node.achievement),
        "formula": node.formula,
        "method": node.method,
        "band": node.band.key if node.band else None,
        "excluded": [{"name": e.label, "reason": e.reason} for e in node.excluded],
        "children": children,
    }


def cycle_to_dict(score: CycleScore, with_rows: bool = True) -> dict:
    strategic = node_to_dict(score.strategic, with_rows)
    return {
        "cycle": score.year,
        "name": score.name,
        "strategic": {
            "achievement": strategic["achievement"],
            "formula": strategic["formula"],
            "perspectives": strategic["children"],
        },
        "operational": node_to_dict(score.operational, with_rows),
        "units": node_to_dict(score.units, with_rows) if score.units else None,
        "individual": [node_to_dict(p, with_rows) for p in score.individual],
        "counts": score.counts,
        "overrides": [row_to_dict(row) for row in score.overrides()],
        "discrepancies": [
            {
                "ref": c.stated.ref,
                "label": c.stated.label,
                "node": c.stated.node,
                "field": c.field,
                "stated": float(c.stated_value),
                "computed": _number(c.computed),
                "formula": c.formula,
                "message": c.message,
            }
            for c in score.discrepancies
        ],
    }
