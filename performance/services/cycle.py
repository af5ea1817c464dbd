"""Writes: loading (and deleting) a whole cycle from a dataset.

Every service is keyword-only, validates before writing, runs in one transaction and leaves an
audit trail (django-simple-history records who changed what, old and new values).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from organization import editability
from organization.models import (
    Cycle,
    MeasurementPeriod,
    Organization,
    PlanDocument,
    Position,
    Unit,
)
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
from performance.rules.values import value_from_actual

# ------------------------------------------------------------------------------ loading a cycle


@dataclass
class _Errors:
    """The errors found in a dataset, each as ``path: message``; raised together as one
    ValidationError (also used by reports.relazione.services to load the Relazione)."""

    messages: list[str] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        self.messages.append(f"{path}: {message}")

    def raise_if_any(self) -> None:
        if self.messages:
            raise ValidationError(self.messages)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _rule_json(spec: Mapping) -> dict:
    """A rule as stored: the validated spec, Decimals and dates as strings."""
    normalized = scoring.validate_spec(spec)

    def plain(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(normalized)


def _value_fields(actual: Mapping | None, path: str, errors: _Errors) -> dict | None:
    """The Actual model fields for a dataset `actual:` mapping (None: not measured)."""
    if actual is None:
        return None
    if not isinstance(actual, Mapping):
        errors.add(path, "il valore rilevato deve essere una mappa (value, date, done, k, parts)")
        return None
    try:
        value = scoring.Value.from_dict(actual)
    except scoring.ScoringError as error:
        errors.add(path, str(error))
        return None
    parts = actual.get("parts")
    return {
        "value_number": value.number if value else None,
        "value_date": value.date if value else None,
        "value_done": value.done if value else None,
        "value_k": value.k if value else None,
        "value_n": value.n if value else None,
        "value_parts": None if parts is None else [_plain_value(p) for p in parts],
        "text": _text(actual.get("text")),
        "note": _text(actual.get("note")),
        "source": _text(actual.get("source")),
    }


def _plain_value(part: Mapping | None) -> dict | None:
    if part is None:
        return None
    out = {}
    for key in ("value", "number", "k", "n"):
        if part.get(key) is not None:
            out["value" if key == "number" else key] = str(part[key])
    if part.get("date") is not None:
        out["date"] = str(part["date"])
    if part.get("done") is not None:
        out["done"] = bool(part["done"])
    return out


@dataclass
class _PendingTarget:
    target: Target
    actual: dict | None
    published: Decimal | None
    override_note: str
    path: str


def cycle_load(
    *, data: Mapping, replace: bool = False, user: AbstractBaseUser | None = None
) -> Cycle:
    """Create a whole cycle from a dataset (docs/dataset-format.md), in one transaction.

    Every problem is collected with its place in the file and reported at once (ValidationError);
    nothing is written unless everything is valid. With ``replace`` an existing cycle of the same
    Ente and year is deleted first; without it, an existing cycle is an error.
    """
    errors = _Errors()
    org_data = data.get("organization") or {}
    cycle_data = data.get("cycle") or {}
    year = cycle_data.get("year")
    if not org_data.get("name"):
        errors.add("organization.name", "manca la denominazione dell'Ente")
    if not isinstance(year, int) or not 1990 <= year <= 2100:
        errors.add("cycle.year", "anno mancante o non valido")
    try:
        rules = scoring.Rules.from_dict(data.get("rules"))
    except (scoring.ScoringError, AttributeError, KeyError, TypeError, ValueError) as error:
        errors.add("rules", str(error))
        rules = scoring.Rules()
    errors.raise_if_any()

    with transaction.atomic():
        organization, _ = Organization.objects.get_or_create(
            name=org_data["name"], defaults={"short_name": _text(org_data.get("short_name"))}
        )
        existing = Cycle.objects.filter(organization=organization, year=year).first()
        if existing is not None:
            if not replace:
                raise ValidationError(
                    [f"cycle.year: il ciclo {year} esiste già (usare --replace per sostituirlo)"]
                )
            reason = editability.edit_scope(existing).refusal()  # the row locked until commit
            if reason:  # submitted to the OIV, validated, published: never replaced
                raise ValidationError([f"cycle.year: {reason}"])
            cycle_delete(cycle=existing)
        cycle = Cycle.objects.create(
            organization=organization,
            year=year,
            title=_text(cycle_data.get("title")),
            rules=rules.to_dict(),
        )
        loader = _CycleLoader(cycle=cycle, rules=rules, errors=errors, user=user)
        loader.load(data)
        errors.raise_if_any()  # rolls the transaction back
    return cycle


def cycle_delete(*, cycle: Cycle) -> None:
    """Delete a cycle with everything in it (plan, actuals, structure)."""
    with transaction.atomic():
        Actual.objects.filter(target__indicator__objective__cycle=cycle).delete()
        Target.objects.filter(indicator__objective__cycle=cycle).delete()
        Objective.objects.filter(cycle=cycle).delete()
        StrategicObjective.objects.filter(cycle=cycle).delete()
        Unit.objects.filter(cycle=cycle).update(parent=None)
        cycle.delete()


class _CycleLoader:
    def __init__(
        self,
        *,
        cycle: Cycle,
        rules: scoring.Rules,
        errors: _Errors,
        user: AbstractBaseUser | None,
    ) -> None:
        self.cycle = cycle
        self.rules = rules
        self.errors = errors
        self.user = user
        self.documents: dict[str, PlanDocument] = {}
        self.units: dict[str, Unit] = {}
        self.positions: dict[str, Position] = {}
        self.goals: dict[str, StrategicObjective] = {}
        self.final_period: MeasurementPeriod | None = None
        self.objectives: list[tuple[Objective, list]] = []  # (objective, indicators data)
        self.order = 0

    def _key(self, data: Mapping, path: str, seen: Mapping, field: str = "key") -> str | None:
        """The element's code, if present and not repeated (else the error is recorded)."""
        key = data.get(field)
        if key is None or str(key).strip() == "":
            self.errors.add(f"{path}.{field}", "manca il codice")
            return None
        key = str(key)
        if key in seen:
            self.errors.add(f"{path}.{field}", f"codice «{key}» ripetuto")
            return None
        return key

    def _weight(self, data: Mapping, path: str) -> Decimal:
        try:
            weight = scoring.dec(data.get("weight", 1), "peso")
        except scoring.ScoringError as error:
            self.errors.add(f"{path}.weight", str(error))
            return Decimal(1)
        if weight < 0:
            self.errors.add(f"{path}.weight", "il peso non può essere negativo")
            return Decimal(1)
        return weight

    def load(self, data: Mapping) -> None:
        self._documents(data.get("documents") or [])
        self._periods(data.get("periods") or [])
        for index, unit in enumerate(data.get("units") or []):
            self._unit(unit, None, f"units[{index}]")
        self._positions(data.get("positions") or [])
        self._perspectives(data.get("perspectives") or [])
        for index, objective in enumerate(data.get("operational") or []):
            self._objective(objective, Objective.Kind.OPERATIONAL, f"operational[{index}]")
        for p_index, block in enumerate(data.get("individual") or []):
            path = f"individual[{p_index}]"
            position = self.positions.get(block.get("position"))
            if position is None:
                self.errors.add(
                    f"{path}.position", f"posizione «{block.get('position')}» sconosciuta"
                )
                continue
            for index, objective in enumerate(block.get("objectives") or []):
                self._objective(
                    objective,
                    Objective.Kind.INDIVIDUAL,
                    f"{path}.objectives[{index}]",
                    position=position,
                )
        if self.errors.messages:
            return
        self._write_plan()
        self._stated(data.get("stated") or [])

    # structure ---------------------------------------------------------------------------
    def _documents(self, documents: list) -> None:
        kinds = set(PlanDocument.Kind.values)
        for index, doc in enumerate(documents):
            path = f"documents[{index}]"
            key = self._key(doc, path, self.documents)
            if key is None:
                continue
            if doc.get("kind") not in kinds:
                self.errors.add(f"{path}.kind", f"tipo «{doc.get('kind')}» non valido")
                continue
            self.documents[key] = PlanDocument.objects.create(
                cycle=self.cycle,
                key=key,
                kind=doc["kind"],
                title=_text(doc.get("title")),
                body=_text(doc.get("body")),
                number=_text(doc.get("number")),
                date=doc.get("date"),
            )

    def _periods(self, periods: list) -> None:
        seen: dict[str, MeasurementPeriod] = {}
        for index, period in enumerate(periods):
            key = self._key(period, f"periods[{index}]", seen)
            if key is None:
                continue
            if not isinstance(period.get("end"), dt.date):
                self.errors.add(f"periods[{index}].end", "data di fine mancante o non valida")
                continue
            if period.get("final") and self.final_period is not None:
                self.errors.add(
                    f"periods[{index}].final", "un solo periodo può essere di consuntivo"
                )
                continue
            created = seen[key] = MeasurementPeriod.objects.create(
                cycle=self.cycle,
                key=key,
                name=_text(period.get("name")),
                end_date=period["end"],
                is_final=bool(period.get("final")),
            )
            if created.is_final:
                self.final_period = created
        if self.final_period is None:
            self.errors.add("periods", "manca il periodo di consuntivo (final: true)")

    def _unit(self, unit: Mapping, parent: Unit | None, path: str) -> None:
        kind = unit.get("kind")
        if kind not in Unit.Kind.values:
            self.errors.add(f"{path}.kind", f"tipo di unità «{kind}» non valido")
            return
        aggregation = unit.get("aggregation") or ""
        if aggregation not in Unit.Aggregation.values:
            self.errors.add(f"{path}.aggregation", f"metodo «{aggregation}» non valido")
            return
        key = self._key(unit, path, self.units)
        if key is None:
            return
        self.order += 1
        created = Unit.objects.create(
            cycle=self.cycle,
            parent=parent,
            key=key,
            name=_text(unit.get("name")),
            kind=kind,
            aggregation=aggregation,
            weight=self._weight(unit, path),
            offices=unit.get("offices"),
            order=self.order,
        )
        self.units[created.key] = created
        for index, child in enumerate(unit.get("children") or []):
            self._unit(child, created, f"{path}.children[{index}]")

    def _positions(self, positions: list) -> None:
        for index, position in enumerate(positions):
            path = f"positions[{index}]"
            key = self._key(position, path, self.positions)
            if key is None:
                continue
            unit_key = position.get("unit")
            if unit_key and unit_key not in self.units:
                self.errors.add(f"{path}.unit", f"unità «{unit_key}» sconosciuta")
                continue
            if position.get("kind") not in Position.Kind.values:
                self.errors.add(f"{path}.kind", f"tipo «{position.get('kind')}» non valido")
                continue
            self.positions[key] = Position.objects.create(
                cycle=self.cycle,
                key=key,
                kind=position["kind"],
                title=_text(position.get("title")),
                holder=_text(position.get("holder")),
                unit=self.units.get(unit_key) if unit_key else None,
                weight=self._weight(position, path),
                order=index,
            )

    def _perspectives(self, perspectives: list) -> None:
        seen_perspectives: dict[str, Perspective] = {}
        for p_index, perspective in enumerate(perspectives):
            path = f"perspectives[{p_index}]"
            code = self._key(perspective, path, seen_perspectives, field="code")
            if code is None:
                continue
            created = seen_perspectives[code] = Perspective.objects.create(
                cycle=self.cycle,
                code=code,
                name=_text(perspective.get("name")),
                weight=self._weight(perspective, path),
                order=p_index,
            )
            for g_index, goal in enumerate(perspective.get("strategic_objectives") or []):
                g_path = f"{path}.strategic_objectives[{g_index}]"
                code = self._key(goal, g_path, self.goals, field="code")
                if code is None:
                    continue
                self.goals[code] = StrategicObjective.objects.create(
                    cycle=self.cycle,
                    perspective=created,
                    code=code,
                    title=_text(goal.get("title")),
                    weight=self._weight(goal, g_path),
                    order=g_index,
                )
                for index, objective in enumerate(goal.get("objectives") or []):
                    self._objective(
                        {**objective, "strategic": code},
                        Objective.Kind.STRATEGIC,
                        f"{g_path}.objectives[{index}]",
                    )

    # objectives ---------------------------------------------------------------------------
    def _objective(
        self, data: Mapping, kind: str, path: str, position: Position | None = None
    ) -> None:
        code = data.get("strategic")
        goal = None
        if code is not None:
            goal = self.goals.get(str(code))
            if goal is None:
                self.errors.add(f"{path}.strategic", f"obiettivo strategico «{code}» sconosciuto")
        if not _text(data.get("title")):
            self.errors.add(f"{path}.title", "manca il titolo dell'obiettivo")
        self.order += 1
        objective = Objective(
            cycle=self.cycle,
            kind=kind,
            strategic_objective=goal,
            position=position,
            code=_text(data.get("code")),
            title=_text(data.get("title")),
            weight=self._weight(data, path),
            order=self.order,
        )
        neutralized = data.get("neutralized")
        for target in (t for i in data.get("indicators") or [] for t in i.get("targets") or []):
            neutralized = neutralized or target.get("neutralized")
        if neutralized:
            reason = _text(neutralized.get("reason"))
            if not reason:
                self.errors.add(
                    f"{path}.neutralized.reason", "manca il motivo della neutralizzazione"
                )
            objective.status = Objective.Status.NEUTRALIZED
            objective.neutralization_reason = reason
            document = neutralized.get("document")
            if document is not None and document not in self.documents:
                self.errors.add(
                    f"{path}.neutralized.document", f"documento «{document}» sconosciuto"
                )
            objective.neutralized_by = self.documents.get(document)
        if not data.get("indicators"):
            self.errors.add(f"{path}.indicators", "l'obiettivo non ha indicatori")
        self.objectives.append((objective, self._indicators(data.get("indicators") or [], path)))

    def _indicators(self, indicators: list, path: str) -> list:
        out = []
        for i_index, data in enumerate(indicators):
            i_path = f"{path}.indicators[{i_index}]"
            baseline = data.get("baseline") or {}
            direction = data.get("direction", "higher")
            if direction not in Indicator.Direction.values:
                self.errors.add(f"{i_path}.direction", f"direzione «{direction}» non valida")
            indicator = Indicator(
                name=_text(data.get("name")),
                unit_of_measure=_text(data.get("unit_of_measure")),
                direction=direction,
                baseline_value=baseline.get("value"),
                baseline_year=baseline.get("year"),
                baseline_text=_text(baseline.get("text")),
                source=_text(data.get("source")),
                notes=_text(data.get("notes")),
                order=i_index,
            )
            if not indicator.name:
                self.errors.add(f"{i_path}.name", "manca il nome dell'indicatore")
            targets = [
                self._target(t, f"{i_path}.targets[{t_index}]", t_index)
                for t_index, t in enumerate(data.get("targets") or [])
            ]
            if not targets:
                self.errors.add(f"{i_path}.targets", "l'indicatore non ha target")
            out.append((indicator, [t for t in targets if t is not None]))
        return out

    def _target(self, data: Mapping, path: str, index: int) -> _PendingTarget | None:
        try:
            rule = _rule_json(data.get("rule") or {})
        except scoring.ScoringError as error:
            self.errors.add(f"{path}.rule", str(error))
            return None
        unit_key, office_key = data.get("unit"), data.get("office")
        for name, key in (("unit", unit_key), ("office", office_key)):
            if key is not None and key not in self.units:
                self.errors.add(f"{path}.{name}", f"unità «{key}» sconosciuta")
                return None
        original_rule = None
        original = data.get("original") or {}
        if original.get("rule"):
            try:
                original_rule = _rule_json(original["rule"])
            except scoring.ScoringError as error:
                self.errors.add(f"{path}.original.rule", str(error))
        revised_by = data.get("revised_by")
        if revised_by is not None and revised_by not in self.documents:
            self.errors.add(f"{path}.revised_by", f"documento «{revised_by}» sconosciuto")
        excluded = _text(data.get("excluded"))
        if data.get("duplicate_of") and not excluded:
            excluded = "riga ripetuta"
        target = Target(
            unit=self.units.get(unit_key) if unit_key else None,
            office=self.units.get(office_key) if office_key else None,
            text=_text(data.get("text")),
            rule=rule,
            original_text=_text(original.get("text")),
            original_rule=original_rule,
            revised_by=self.documents.get(revised_by) if revised_by else None,
            status=Target.Status.EXCLUDED if excluded else Target.Status.ACTIVE,
            exclusion_reason=excluded,
            is_duplicate=bool(data.get("duplicate_of")),
            weight=self._weight(data, path),
            order=index,
            footnote=_text(data.get("footnote")),
            notes=_text(data.get("notes")),
            published_pct=data.get("published"),
        )
        if not target.text:
            self.errors.add(f"{path}.text", "manca il testo del target come approvato")
        actual = _value_fields(data.get("actual"), f"{path}.actual", self.errors)
        published = data.get("published")
        if published is not None:
            try:
                published = scoring.dec(published, "percentuale pubblicata")
            except scoring.ScoringError as error:
                self.errors.add(f"{path}.published", str(error))
                published = None
            else:
                if not 0 <= published <= 100:
                    self.errors.add(
                        f"{path}.published", "la percentuale pubblicata deve essere tra 0 e 100"
                    )
                    published = None
        return _PendingTarget(target, actual, published, _text(data.get("override_note")), path)

    def _write_plan(self) -> None:
        objectives = [objective for objective, _ in self.objectives]
        bulk_create_with_history(objectives, Objective, default_user=self.user)
        if objectives and objectives[0].pk is None:  # backends without RETURNING
            raise RuntimeError("bulk_create did not return primary keys")
        indicators: list[Indicator] = []
        for objective, items in self.objectives:
            for indicator, _ in items:
                indicator.objective = objective
                indicators.append(indicator)
        bulk_create_with_history(indicators, Indicator, default_user=self.user)
        pending: list[_PendingTarget] = []
        for _, items in self.objectives:
            for indicator, targets in items:
                for item in targets:
                    item.target.indicator = indicator
                    pending.append(item)
        bulk_create_with_history([p.target for p in pending], Target, default_user=self.user)
        now = timezone.now()
        actuals = []
        for item in pending:
            fields = item.actual
            override, reason = self._override(item)
            if fields is None and override is None:
                continue
            actuals.append(
                Actual(
                    target=item.target,
                    period=self.final_period,
                    recorded_by=self.user,
                    recorded_at=now,
                    override_pct=override,
                    override_reason=reason,
                    **(fields or {}),
                )
            )
        bulk_create_with_history(actuals, Actual, default_user=self.user)

    def _override(self, item: _PendingTarget) -> tuple[Decimal | None, str]:
        """The published figure becomes an override when no rule gives it."""
        if item.published is None or item.target.status != Target.Status.ACTIVE:
            return None, ""
        value = value_from_actual(item.actual) if item.actual else None
        row = scoring.Row(key=item.path, label=item.target.text, spec=item.target.rule, value=value)
        result = scoring.score_row(row, self.rules)
        if result.achievement is not None and result.achievement == item.published:
            return None, ""
        reason = f"valore approvato nella Relazione {self.cycle.year}"
        if item.override_note:
            reason += f": {item.override_note}"
        return item.published, reason

    def _stated(self, stated: list) -> None:
        rows = []
        for index, data in enumerate(stated):
            path = f"stated[{index}]"
            try:
                value = scoring.dec(data.get("value"), f"{path}.value")
                total = None if data.get("sum") is None else scoring.dec(data["sum"], "sum")
            except scoring.ScoringError as error:
                self.errors.add(path, str(error))
                continue
            rows.append(
                StatedFigure(
                    cycle=self.cycle,
                    ref=_text(data.get("ref")),
                    label=_text(data.get("label")),
                    node=_text(data.get("node")),
                    value=str(value),
                    sum="" if total is None else str(total),
                    count=data.get("count"),
                    order=index,
                )
            )
        StatedFigure.objects.bulk_create(rows)
