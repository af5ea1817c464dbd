"""The import of the plan format, the whole file at once (for `resources.PlanResource`): each
row is parsed, then objectives, indicators and targets (with perspectives and strategic
objectives) are matched to the stored ones by code or content, compared, and created or updated
all together."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import models
from simple_history.utils import bulk_create_with_history

from organization.models import Cycle, PlanDocument, Position, Unit
from performance import scoring
from performance.models import Indicator, Objective, Perspective, StrategicObjective, Target
from performance.parsing import DateWindow, cycle_date_window
from performance.rules import RULES
from performance.services.cycle import _rule_json
from performance.services.imports.columns import (
    _COMBINE,
    _OBJECTIVE_KIND_NAMES,
    _RULE_ALIASES,
    PLAN_COLUMNS,
    RULE_NAMES,
)
from performance.services.imports.common import (
    ImportReport,
    _by_key_or_name,
    _choice,
    _date,
    _id,
    _limited,
    _lookup,
    _number,
    _RowError,
    _same,
    _show,
    _text,
)
from performance.services.imports.exports import _plan_targets, _rule_columns
from performance.services.imports.reading import Table

_OBJECTIVE_FIELDS = {
    "kind": "tipo_obiettivo",
    "position": "posizione",
    "goal_code": "obiettivo_strategico_codice",
    "title": "obiettivo_titolo",
    "weight": "obiettivo_peso",
    "status": "obiettivo_stato",
    "neutralization_reason": "motivo_neutralizzazione",
    "neutralized_by": "neutralizzato_con",
}
_INDICATOR_FIELDS = {
    "name": "indicatore_nome",
    "unit_of_measure": "unita_misura",
    "direction": "direzione",
    "baseline_value": "baseline_valore",
    "baseline_year": "baseline_anno",
    "baseline_text": "baseline_testo",
    "source": "fonte",
    "notes": "indicatore_note",
}
_TARGET_FIELDS = {
    "unit": "unita",
    "office": "ufficio",
    "text": "target_testo",
    "rule": "regola",
    "status": "stato",
    "exclusion_reason": "motivo_esclusione",
    "is_duplicate": "riga_ripetuta",
    "weight": "peso",
    "original_text": "testo_originario",
    "revised_by": "rivisto_con",
    "footnote": "nota_pie_pagina",
    "notes": "note",
    "published_pct": "percentuale_pubblicata",
}
_OBJECTIVE_DEFAULTS = {
    "position": None,
    "goal_code": "",
    "weight": Decimal(1),
    "status": Objective.Status.ACTIVE,
    "neutralization_reason": "",
    "neutralized_by": None,
}
_INDICATOR_DEFAULTS = {
    "unit_of_measure": "",
    "direction": Indicator.Direction.HIGHER,
    "baseline_value": None,
    "baseline_year": None,
    "baseline_text": "",
    "source": "",
    "notes": "",
}
_TARGET_DEFAULTS = {
    "unit": None,
    "office": None,
    "status": Target.Status.ACTIVE,
    "exclusion_reason": "",
    "is_duplicate": False,
    "weight": Decimal(1),
    "original_text": "",
    "revised_by": None,
    "footnote": "",
    "notes": "",
    "published_pct": None,
}


@dataclass
class _PlanRow:
    number: int
    target_code: str = ""
    objective_code: str = ""
    indicator_code: str = ""
    target: Target | None = None  # the target named by codice_target, if of this cycle
    objective: dict[str, Any] = field(default_factory=dict)
    goal: dict[str, Any] = field(default_factory=dict)
    indicator: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)  # the target's fields
    errors: list[tuple[str, str]] = field(default_factory=list)
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    created: bool = False


@dataclass
class _Group:
    """An objective or indicator the rows point to: existing (``instance`` saved) or new."""

    first: _PlanRow
    rows: list[_PlanRow] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    instance: Any = None
    is_new: bool = False


class _PlanImport:
    def __init__(self, *, cycle: Cycle, table: Table, user: Any, report: ImportReport) -> None:
        self.cycle = cycle
        self.window = cycle_date_window(cycle.year)  # deadlines within the cycle's years
        self.table = table
        self.user = user
        self.report = report
        self.units = _by_key_or_name(Unit.objects.filter(cycle=cycle), "name")
        self.positions = _by_key_or_name(Position.objects.filter(cycle=cycle), "title")
        self.documents = {d.key: d for d in PlanDocument.objects.filter(cycle=cycle)}
        self.perspectives = {p.code: p for p in Perspective.objects.filter(cycle=cycle)}
        self.goals = {
            g.code: g
            for g in StrategicObjective.objects.filter(cycle=cycle).select_related("perspective")
        }
        self.objectives = list(
            Objective.objects.filter(cycle=cycle)
            .select_related("position", "strategic_objective", "neutralized_by")
            .order_by("order", "id")
        )
        self.objectives_by_id = {o.id: o for o in self.objectives}
        self.indicators = list(
            Indicator.objects.filter(objective__cycle=cycle).order_by(
                "objective__order", "objective_id", "order", "id"
            )
        )
        self.indicators_by_id = {i.id: i for i in self.indicators}
        self.targets = _plan_targets(cycle=cycle)
        self.targets_by_id = {t.id: t for t in self.targets}
        self.resource: Any = None  # the PlanResource, whose widgets read the cells
        self.rows: list[_PlanRow] = []
        self.new_perspectives: list[Perspective] = []
        self.new_goals: list[StrategicObjective] = []
        self.changed_structure: list[Perspective | StrategicObjective] = []
        self.objective_groups: list[_Group] = []
        self.indicator_groups: list[_Group] = []

    # parsing ------------------------------------------------------------------------------
    def parse(self) -> None:
        claimed_codes: dict[int, int] = {}
        for sheet_row in self.table.rows:
            row = _PlanRow(number=sheet_row.number)
            for column, value in sheet_row.cells.items():
                if column not in PLAN_COLUMNS:
                    continue
                try:
                    self._cell(row, column, value)
                except _RowError as error:
                    row.errors.append((error.column, error.message))
            if self.table.has("regola"):
                try:
                    self._rule(row, sheet_row.cells)
                except _RowError as error:
                    row.errors.append((error.column, error.message))
            row.target_code = _text(sheet_row.cells.get("codice_target"))
            row.objective_code = _text(sheet_row.cells.get("codice_obiettivo"))
            row.indicator_code = _text(sheet_row.cells.get("codice_indicatore"))
            target_id = _id(row.target_code)
            if target_id is not None and target_id in self.targets_by_id:
                if target_id in claimed_codes:
                    row.errors.append(
                        (
                            "codice_target",
                            f"codice ripetuto: è già alla riga {claimed_codes[target_id]}",
                        )
                    )
                else:
                    claimed_codes[target_id] = row.number
                    row.target = self.targets_by_id[target_id]
            self.rows.append(row)

    def _clean(self, column: str, value: Any) -> Any:
        """A cell read by the widget of its column in the Resource (`PlanResource`)."""
        try:
            return self.resource.fields[column].widget.clean(value)
        except ValueError as error:
            raise _RowError(column, str(error)) from None

    def _cell(self, row: _PlanRow, column: str, value: Any) -> None:
        text = _text(value)
        required = {
            "tipo_obiettivo",
            "obiettivo_titolo",
            "indicatore_nome",
            "target_testo",
            "regola",
        }
        if column in required and not text:
            raise _RowError(column, "obbligatoria: non può essere vuota")
        if column == "tipo_obiettivo":
            row.objective["kind"] = self._clean(column, value)
        elif column == "posizione":
            position = _lookup(self.positions, text) if text else None
            if text and position is None:
                raise _RowError(column, f"la posizione «{text}» non esiste nel ciclo")
            row.objective["position"] = position
        elif column == "obiettivo_strategico_codice":
            row.objective["goal_code"] = _limited(text, column, 10)
        elif column == "obiettivo_strategico_titolo":
            if text:
                row.goal["title"] = _limited(text, column, 500)
        elif column == "prospettiva_codice":
            if text:
                row.goal["perspective_code"] = _limited(text, column, 10)
        elif column == "prospettiva_nome":
            if text:
                row.goal["perspective_name"] = _limited(text, column, 300)
        elif column == "obiettivo_titolo":
            row.objective["title"] = text
        elif column in ("obiettivo_peso", "peso"):
            weight = self._clean(column, value)
            if weight is not None and not Decimal(0) <= weight < Decimal(100000):
                raise _RowError(column, "il peso deve essere tra 0 e 99.999")
            target = row.objective if column == "obiettivo_peso" else row.values
            target["weight"] = Decimal(1) if weight is None else weight
        elif column == "obiettivo_stato":
            row.objective["status"] = self._clean(column, value)
        elif column == "motivo_neutralizzazione":
            row.objective["neutralization_reason"] = text
        elif column in ("neutralizzato_con", "rivisto_con"):
            document = self.documents.get(text) if text else None
            if text and document is None:
                raise _RowError(column, f"il documento «{text}» non esiste nel ciclo")
            key = "neutralized_by" if column == "neutralizzato_con" else "revised_by"
            (row.objective if column == "neutralizzato_con" else row.values)[key] = document
        elif column == "indicatore_nome":
            row.indicator["name"] = text
        elif column == "unita_misura":
            row.indicator["unit_of_measure"] = _limited(text, column, 60)
        elif column == "direzione":
            row.indicator["direction"] = self._clean(column, value) or Indicator.Direction.HIGHER
        elif column == "baseline_valore":
            row.indicator["baseline_value"] = self._clean(column, value)
        elif column == "baseline_anno":
            year = self._clean(column, value)
            if year is not None and (year != year.to_integral_value() or not 1900 <= year <= 2200):
                raise _RowError(column, f"«{text}» non è un anno")
            row.indicator["baseline_year"] = None if year is None else int(year)
        elif column == "baseline_testo":
            row.indicator["baseline_text"] = _limited(text, column, 300)
        elif column == "fonte":
            row.indicator["source"] = _limited(text, column, 300)
        elif column == "indicatore_note":
            row.indicator["notes"] = text
        elif column in ("unita", "ufficio"):
            unit = _lookup(self.units, text) if text else None
            if text and unit is None:
                raise _RowError(column, f"l'unità «{text}» non esiste nel ciclo {self.cycle.year}")
            row.values["unit" if column == "unita" else "office"] = unit
        elif column == "target_testo":
            row.values["text"] = _limited(text, column, 500)
        elif column == "stato":
            row.values["status"] = self._clean(column, value)
        elif column == "motivo_esclusione":
            row.values["exclusion_reason"] = text
        elif column == "riga_ripetuta":
            row.values["is_duplicate"] = self._clean(column, value)
        elif column == "testo_originario":
            row.values["original_text"] = _limited(text, column, 500)
        elif column == "nota_pie_pagina":
            row.values["footnote"] = text
        elif column == "note":
            row.values["notes"] = text
        elif column == "percentuale_pubblicata":
            published = self._clean(column, value)
            if published is not None and not Decimal(0) <= published <= Decimal(100):
                raise _RowError(column, "la percentuale deve essere tra 0 e 100")
            row.values["published_pct"] = published

    def _rule(self, row: _PlanRow, cells: dict[str, Any]) -> None:
        kind = _choice(cells.get("regola"), _RULE_ALIASES, "regola")
        if kind is None:
            return  # reported as an empty required column
        if kind == "multi":
            part_kinds = [p.strip() for p in _text(cells.get("parti_regole")).split(";")]
            if len([p for p in part_kinds if p]) < 2:
                raise _RowError("parti_regole", "servono almeno due regole separate da «;»")
            parts = []
            for index, part in enumerate(part_kinds):
                part_kind = _choice(part, _RULE_ALIASES, "parti_regole")
                if part_kind in (None, "multi"):
                    raise _RowError("parti_regole", f"regola della parte {index + 1} non valida")

                def slot(column: str, index: int = index, count: int = len(part_kinds)) -> Any:
                    slots = [s.strip() for s in _text(cells.get(column)).split(";")]
                    if len(slots) == 1:
                        return slots[0] or None
                    if len(slots) != count:
                        raise _RowError(
                            column, f"servono {count} valori separati da «;», uno per parte"
                        )
                    return slots[index] or None

                parts.append(self._spec(part_kind, slot, f" (parte {index + 1})", self.window))
            labels = [label.strip() for label in _text(cells.get("parti_etichette")).split(";")]
            spec: dict[str, Any] = {
                "kind": "multi",
                "parts": parts,
                "labels": labels if any(labels) else [],
                "combine": _choice(cells.get("parti_combinazione"), _COMBINE, "parti_combinazione")
                or "mean",
            }
        else:
            spec = self._spec(kind, cells.get, "", self.window)
        try:
            row.values["rule"] = _rule_json(spec)
        except scoring.ScoringError as error:
            raise _RowError("regola", str(error)) from None

    @staticmethod
    def _spec(
        kind: str, cell: Callable[[str], Any], where: str, window: DateWindow | None = None
    ) -> dict[str, Any]:
        def need(column: str, parse: Callable[[Any, str], Any]) -> Any:
            value = parse(cell(column), column)
            if value is None:
                raise _RowError(column, f"obbligatoria per la regola «{RULE_NAMES[kind]}»{where}")
            return value

        def optional(column: str, default: Any) -> Any:
            value = _number(cell(column), column)
            return default if value is None else value

        spec: dict[str, Any] = {"kind": kind}
        for param in RULES[kind].params:  # each kind's columns: its module in performance/rules/
            if param.kind == "json":
                continue  # the parts of a multi-part rule: read by _rule
            if param.kind == "date":
                spec[param.key] = need(param.column, lambda value, col: _date(value, col, window))
            elif param.default is not None:
                spec[param.key] = optional(param.column, Decimal(param.default))
            elif param.required:
                spec[param.key] = need(param.column, _number)
            else:
                value = _number(cell(param.column), param.column)
                if value is not None:
                    spec[param.key] = value
        return spec

    # resolving ----------------------------------------------------------------------------
    def resolve(self) -> None:
        rows = [row for row in self.rows if not row.errors]
        self._structure(rows)
        rows = [row for row in rows if not row.errors]
        self._objectives(rows)
        rows = [row for row in rows if not row.errors]
        self._indicators(rows)
        rows = [row for row in rows if not row.errors]
        self._targets(rows)

    def _structure(self, rows: list[_PlanRow]) -> None:
        """Perspectives and strategic objectives: created when missing, renamed or moved."""
        goals: dict[str, tuple[_PlanRow, dict]] = {}
        perspectives: dict[str, tuple[_PlanRow, str]] = {}
        for row in rows:
            code = row.objective.get("goal_code")
            if code:
                self._agree(goals, code, row, row.goal, "obiettivo strategico")
            pcode = row.goal.get("perspective_code")
            if pcode and "perspective_name" in row.goal:
                if pcode in perspectives and perspectives[pcode][1] != row.goal["perspective_name"]:
                    first = perspectives[pcode][0].number
                    row.errors.append(("prospettiva_nome", f"diverso da quello della riga {first}"))
                perspectives.setdefault(pcode, (row, row.goal["perspective_name"]))
        order = max((p.order for p in self.perspectives.values()), default=-1)
        for pcode, (row, name) in perspectives.items():
            existing = self.perspectives.get(pcode)
            if existing is None:
                order += 1
                created = Perspective(cycle=self.cycle, code=pcode, name=name, order=order)
                self.perspectives[pcode] = created
                self.new_perspectives.append(created)
                self.report.new_items.append(f"Prospettiva {pcode} «{name}»")
            elif existing.name != name:
                row.changes.append(("prospettiva_nome", existing.name, name))
                existing.name = name
                self.changed_structure.append(existing)
        order = max((g.order for g in self.goals.values()), default=-1)
        for code, (row, info) in goals.items():
            existing = self.goals.get(code)
            pcode = info.get("perspective_code")
            perspective = self.perspectives.get(pcode) if pcode else None
            if pcode and perspective is None:
                row.errors.append(
                    ("prospettiva_nome", f"obbligatorio per creare la prospettiva «{pcode}»")
                )
                continue
            if existing is None:
                if not info.get("title") or perspective is None:
                    column = "obiettivo_strategico_titolo" if perspective else "prospettiva_codice"
                    row.errors.append(
                        (column, f"obbligatorio per creare l'obiettivo strategico «{code}»")
                    )
                    continue
                order += 1
                created = StrategicObjective(
                    cycle=self.cycle,
                    perspective=perspective,
                    code=code,
                    title=info["title"],
                    order=order,
                )
                self.goals[code] = created
                self.new_goals.append(created)
                self.report.new_items.append(f"Obiettivo strategico {code} «{info['title']}»")
                continue
            changed = False
            if info.get("title") and info["title"] != existing.title:
                row.changes.append(("obiettivo_strategico_titolo", existing.title, info["title"]))
                existing.title = info["title"]
                changed = True
            if perspective is not None and (
                perspective.pk is None or perspective.pk != existing.perspective_id
            ):
                row.changes.append(
                    ("prospettiva_codice", existing.perspective.code, perspective.code)
                )
                existing.perspective = perspective
                changed = True
            if changed:
                self.changed_structure.append(existing)

    @staticmethod
    def _agree(
        seen: dict[str, tuple[_PlanRow, dict]], code: str, row: _PlanRow, info: dict, what: str
    ) -> None:
        if code not in seen:
            seen[code] = (row, dict(info))
            return
        first, known = seen[code]
        for key, column in (
            ("title", "obiettivo_strategico_titolo"),
            ("perspective_code", "prospettiva_codice"),
        ):
            if key in info and key in known and info[key] != known[key]:
                row.errors.append(
                    (column, f"diverso dalla riga {first.number} per lo stesso {what} «{code}»")
                )
            elif key in info:
                known[key] = info[key]

    def _merge(self, group: _Group, section: str, columns: dict[str, str], what: str) -> None:
        """The group's values: each from the first row giving it; other rows must agree."""
        first_seen: dict[str, _PlanRow] = {}
        for row in group.rows:
            values = getattr(row, section)
            for key, value in values.items():
                if key not in columns:
                    continue
                if key not in group.values:
                    group.values[key] = value
                    first_seen[key] = row
                elif not _same(group.values[key], value):
                    row.errors.append(
                        (
                            columns[key],
                            f"«{_show(value)}» diverso da «{_show(group.values[key])}» della "
                            f"riga {first_seen[key].number} per lo stesso {what}",
                        )
                    )

    def _objectives(self, rows: list[_PlanRow]) -> None:
        def content(values: dict, instance: Objective | None = None) -> tuple | None:
            if instance is not None:
                return (
                    instance.kind,
                    instance.position.key if instance.position else "",
                    instance.strategic_objective.code if instance.strategic_objective else "",
                    instance.title,
                )
            if "kind" not in values or "title" not in values:
                return None
            position = values.get("position")
            return (
                values["kind"],
                position.key if position else "",
                values.get("goal_code", ""),
                values["title"],
            )

        groups: dict[tuple, _Group] = {}
        for row in rows:
            own = self.objectives_by_id.get(_id(row.objective_code) or 0)
            if own is not None:
                key: tuple = ("id", own.id)
            elif row.objective_code:
                key = ("code", row.objective_code)
            elif row.target is not None:
                key = ("id", row.target.indicator.objective_id)
            elif content(row.objective) is not None:
                key = ("content", content(row.objective))
            else:
                for key_name, column in (("kind", "tipo_obiettivo"), ("title", "obiettivo_titolo")):
                    if key_name not in row.objective:
                        row.errors.append((column, "obbligatoria per un nuovo target"))
                continue
            group = groups.setdefault(key, _Group(first=row))
            group.rows.append(row)
            if key[0] == "id":
                group.instance = self.objectives_by_id[key[1]]
        for group in groups.values():
            self._merge(group, "objective", _OBJECTIVE_FIELDS, "obiettivo")
        claimed = {g.instance.id for g in groups.values() if g.instance is not None}
        by_content: dict[tuple, list[Objective]] = defaultdict(list)
        for objective in self.objectives:
            by_content[content({}, objective)].append(objective)
        order = max((o.order for o in self.objectives), default=0)
        for key, group in groups.items():
            if group.instance is None:
                wanted = content(group.values)
                candidates = by_content.get(wanted, []) if wanted else []
                if key[0] == "code":
                    candidates = [c for c in candidates if c.id not in claimed]
                if candidates:
                    group.instance = candidates[0]
                    claimed.add(group.instance.id)
            if group.instance is None:
                order += 1
                self._new_objective(group, order)
            else:
                self._update_objective(group)
            self.objective_groups.append(group)
            for row in group.rows:
                row.objective["_group"] = group

    def _objective_state(self, group: _Group, base: dict[str, Any]) -> dict[str, Any] | None:
        values = {**base, **group.values}
        row = group.first
        errors = []
        kind = values.get("kind")
        if kind == Objective.Kind.INDIVIDUAL and values.get("position") is None:
            errors.append(("posizione", "obbligatoria per un obiettivo individuale"))
        if kind != Objective.Kind.INDIVIDUAL and values.get("position") is not None:
            errors.append(("posizione", "solo gli obiettivi individuali hanno una posizione"))
        code = values.get("goal_code") or ""
        goal = self.goals.get(code) if code else None
        if kind == Objective.Kind.STRATEGIC and not code:
            errors.append(
                ("obiettivo_strategico_codice", "obbligatorio per un obiettivo strategico")
            )
        elif code and goal is None:
            errors.append(
                (
                    "obiettivo_strategico_codice",
                    f"l'obiettivo strategico «{code}» non esiste: indicare titolo e prospettiva",
                )
            )
        inferred = "status" not in group.values and "neutralization_reason" in group.values
        if values.get("status") is None or inferred:
            values["status"] = (
                Objective.Status.NEUTRALIZED
                if values.get("neutralization_reason")
                else Objective.Status.ACTIVE
            )
        if values["status"] == Objective.Status.NEUTRALIZED:
            if not values.get("neutralization_reason"):
                errors.append(("motivo_neutralizzazione", "obbligatorio se neutralizzato"))
        elif values.get("neutralization_reason"):
            errors.append(("motivo_neutralizzazione", "indicato per un obiettivo attivo"))
        elif values.get("neutralized_by") is not None:
            errors.append(("neutralizzato_con", "indicato per un obiettivo attivo"))
        if errors:
            row.errors.extend(errors)
            return None
        values["strategic_objective"] = goal
        values.pop("goal_code", None)
        return values

    def _new_objective(self, group: _Group, order: int) -> None:
        row = group.first
        missing = [
            c
            for k, c in (("kind", "tipo_obiettivo"), ("title", "obiettivo_titolo"))
            if k not in group.values
        ]
        if missing:
            for column in missing:
                row.errors.append((column, "obbligatoria per un nuovo obiettivo"))
            return
        values = self._objective_state(group, _OBJECTIVE_DEFAULTS)
        if values is None:
            return
        group.is_new = True
        group.instance = Objective(cycle=self.cycle, order=order, **values)
        kind = _OBJECTIVE_KIND_NAMES[values["kind"]]
        self.report.new_items.append(f"Obiettivo {kind} «{_show(values['title'])}»")

    def _update_objective(self, group: _Group) -> None:
        instance: Objective = group.instance
        current = {
            "kind": instance.kind,
            "position": instance.position,
            "goal_code": instance.strategic_objective.code if instance.strategic_objective else "",
            "title": instance.title,
            "weight": instance.weight,
            "status": instance.status,
            "neutralization_reason": instance.neutralization_reason,
            "neutralized_by": instance.neutralized_by,
        }
        values = self._objective_state(group, current)
        if values is None:
            return
        current["strategic_objective"] = instance.strategic_objective
        changed = {}
        for key, value in values.items():
            before = current[key]
            if _same(before, value):
                continue
            changed[key] = value
            if key == "strategic_objective":
                column = _OBJECTIVE_FIELDS["goal_code"]
                before, value = (before.code if before else ""), (value.code if value else "")
            else:
                column = _OBJECTIVE_FIELDS[key]
            group.first.changes.append((column, _show(before), _show(value)))
        group.values = changed

    def _indicators(self, rows: list[_PlanRow]) -> None:
        groups: dict[tuple, _Group] = {}
        for row in rows:
            objective_group = row.objective["_group"]
            own = self.indicators_by_id.get(_id(row.indicator_code) or 0)
            if own is not None:
                key: tuple = ("id", own.id)
            elif row.indicator_code:
                key = (id(objective_group), "code", row.indicator_code)
            elif row.target is not None:
                key = ("id", row.target.indicator_id)
            elif "name" in row.indicator:
                key = (id(objective_group), "content", row.indicator["name"])
            else:
                row.errors.append(("indicatore_nome", "obbligatoria per un nuovo indicatore"))
                continue
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Group(first=row)
                group.values["_objective"] = objective_group
            elif group.values["_objective"] is not objective_group:
                row.errors.append(
                    (
                        "codice_indicatore",
                        "lo stesso indicatore è in un altro obiettivo alla riga "
                        f"{group.first.number}",
                    )
                )
                continue
            group.rows.append(row)
            if key[0] == "id":
                group.instance = self.indicators_by_id[key[1]]
        claimed = {g.instance.id for g in groups.values() if g.instance is not None}
        by_objective: dict[int, list[Indicator]] = defaultdict(list)
        for indicator in self.indicators:
            by_objective[indicator.objective_id].append(indicator)
        next_order: dict[int, int] = {}
        for key, group in groups.items():
            objective_group: _Group = group.values.pop("_objective")
            self._merge(group, "indicator", _INDICATOR_FIELDS, "indicatore")
            objective = objective_group.instance
            if group.instance is None and not objective_group.is_new:
                candidates = [
                    i
                    for i in by_objective.get(objective.id, [])
                    if i.name == group.values.get("name")
                    and (key[1] == "content" or i.id not in claimed)
                ]
                if candidates:
                    group.instance = candidates[0]
                    claimed.add(group.instance.id)
            if group.instance is None:
                if "name" not in group.values:
                    group.first.errors.append(
                        ("indicatore_nome", "obbligatoria per un nuovo indicatore")
                    )
                    continue
                siblings = [] if objective_group.is_new else by_objective.get(objective.id, [])
                start = max((i.order for i in siblings), default=-1)
                next_order[id(objective_group)] = next_order.get(id(objective_group), start) + 1
                group.is_new = True
                group.instance = Indicator(
                    objective=objective,
                    order=next_order[id(objective_group)],
                    **{**_INDICATOR_DEFAULTS, **group.values},
                )
                self.report.new_items.append(f"Indicatore «{_show(group.values['name'])}»")
            else:
                instance: Indicator = group.instance
                changed = {}
                for key_name, value in group.values.items():
                    before = getattr(instance, key_name)
                    if not _same(before, value):
                        changed[key_name] = value
                        group.first.changes.append(
                            (_INDICATOR_FIELDS[key_name], _show(before), _show(value))
                        )
                if objective_group.is_new or instance.objective_id != objective.id:
                    changed["objective"] = objective
                    before = self.objectives_by_id[instance.objective_id].title
                    group.first.changes.append(
                        ("obiettivo_titolo", _show(before), _show(objective.title))
                    )
                group.values = changed
            self.indicator_groups.append(group)
            for row in group.rows:
                row.indicator["_group"] = group

    def _targets(self, rows: list[_PlanRow]) -> None:
        claimed = {row.target.id for row in rows if row.target is not None}
        by_indicator: dict[int, list[Target]] = defaultdict(list)
        for target in self.targets:
            by_indicator[target.indicator_id].append(target)
        next_order: dict[int, int] = {}
        for row in rows:
            group: _Group = row.indicator["_group"]
            indicator = group.instance
            if row.target is None and not group.is_new:
                unit = row.values.get("unit")
                candidates = [
                    t
                    for t in by_indicator.get(indicator.id, [])
                    if t.id not in claimed
                    and t.text == row.values.get("text")
                    and t.unit_id == (unit.id if unit else None)
                ]
                if candidates:
                    row.target = candidates[0]
                    claimed.add(row.target.id)
            if row.target is None:
                self._new_target(row, group, by_indicator, next_order)
            else:
                self._update_target(row, group)

    def _target_state(self, row: _PlanRow, values: dict[str, Any]) -> bool:
        inferred = "status" not in row.values and "exclusion_reason" in row.values
        if values.get("status") is None or inferred:
            values["status"] = (
                Target.Status.EXCLUDED if values.get("exclusion_reason") else Target.Status.ACTIVE
            )
        if values["status"] == Target.Status.EXCLUDED and not values.get("exclusion_reason"):
            row.errors.append(("motivo_esclusione", "obbligatorio per un target escluso"))
        elif values["status"] == Target.Status.ACTIVE and values.get("exclusion_reason"):
            row.errors.append(("motivo_esclusione", "indicato per un target misurato"))
        return not row.errors

    def _new_target(
        self,
        row: _PlanRow,
        group: _Group,
        by_indicator: dict[int, list[Target]],
        next_order: dict[int, int],
    ) -> None:
        missing = [
            c for k, c in (("text", "target_testo"), ("rule", "regola")) if k not in row.values
        ]
        for column in missing:
            row.errors.append((column, "obbligatoria per un nuovo target"))
        values = {**_TARGET_DEFAULTS, **row.values}
        if missing or not self._target_state(row, values):
            return
        siblings = [] if group.is_new else by_indicator.get(group.instance.id, [])
        start = max((t.order for t in siblings), default=-1)
        next_order[id(group)] = next_order.get(id(group), start) + 1
        row.target = Target(indicator=group.instance, order=next_order[id(group)], **values)
        row.created = True

    def _update_target(self, row: _PlanRow, group: _Group) -> None:
        target = row.target
        assert target is not None
        current = {key: getattr(target, key) for key in _TARGET_FIELDS}
        values = {**current, **row.values}
        if not self._target_state(row, values):
            return
        changed = {}
        for key, value in values.items():
            before = current[key]
            same = _same_rule(before, value) if key in ("rule",) else _same(before, value)
            if not same:
                changed[key] = value
                shown = (
                    (_rule_text(before), _rule_text(value))
                    if key == "rule"
                    else (_show(before), _show(value))
                )
                row.changes.append((_TARGET_FIELDS[key], *shown))
        if group.is_new or target.indicator_id != group.instance.id:
            changed["indicator"] = group.instance
            row.changes.append(
                ("indicatore_nome", _show(target.indicator.name), _show(group.instance.name))
            )
        row.values = changed

    # writing ------------------------------------------------------------------------------
    def apply(self) -> None:
        user = self.user if isinstance(self.user, AbstractBaseUser) else None
        Perspective.objects.bulk_create(self.new_perspectives)
        for item in self.changed_structure:
            if isinstance(item, Perspective):
                item.save(update_fields=["name"])
        StrategicObjective.objects.bulk_create(self.new_goals)
        for item in self.changed_structure:
            if isinstance(item, StrategicObjective):
                item.save(update_fields=["title", "perspective"])
        self._write(self.objective_groups, Objective, user)
        self._write(self.indicator_groups, Indicator, user)
        new_targets = []
        for row in self.rows:
            if row.target is None:
                continue
            if row.created:
                new_targets.append(row.target)
            elif row.values:
                self._save(row.target, row.values, user)
        _bulk_create(new_targets, Target, user)

    def _write(self, groups: list[_Group], model: type[models.Model], user: Any) -> None:
        new = [g.instance for g in groups if g.is_new and g.instance is not None]
        _bulk_create(new, model, user)
        for group in groups:
            if not group.is_new and group.instance is not None and group.values:
                self._save(group.instance, group.values, user)

    @staticmethod
    def _save(instance: models.Model, values: dict[str, Any], user: Any) -> None:
        for key, value in values.items():
            setattr(instance, key, value)
        instance._history_user = user
        instance.save()


def _bulk_create(instances: list[models.Model], model: type[models.Model], user: Any) -> None:
    """Create with history; foreign keys to objects created just before are resolved by
    Django from the related instances."""
    if instances:
        bulk_create_with_history(instances, model, default_user=user)


def _same_rule(before: Any, after: Any) -> bool:
    try:
        return scoring.validate_spec(before) == scoring.validate_spec(after)
    except scoring.ScoringError:
        return before == after


def _rule_text(rule: Any) -> str:
    if not isinstance(rule, dict):
        return _show(rule)
    columns = _rule_columns(rule)
    details = [
        f"{k} {_show(v)}" for k, v in columns.items() if k != "regola" and v not in ("", None)
    ]
    return columns.get("regola", "") + (f" ({', '.join(details)})" if details else "")


def _plan_row_label(row: _PlanRow) -> str:
    target = row.target
    if target is None:
        return ""
    indicator_group = row.indicator.get("_group")
    indicator = indicator_group.instance if indicator_group else target.indicator
    unit = row.values.get("unit", target.unit) if not row.created else target.unit
    where = unit.name if unit else "Ente"
    return _show(f"{indicator.name} – {where} – {target.text}")
