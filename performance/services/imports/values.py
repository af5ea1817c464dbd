"""The import of the values format, row by row (for `resources.ValuesResource`): each row
names a target (by code or by its columns) and a period; its value is read by the widget of the
target's rule kind, checked, compared with the stored one and recorded through actual_record."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError

from organization import editability, permissions
from organization.models import Cycle, MeasurementPeriod, Unit
from performance import scoring
from performance.models import ACTUAL_VALUE_FIELDS, Actual, Target
from performance.parsing import (
    cycle_date_window,
)
from performance.rules.values import value_from_actual
from performance.services.actuals import ActualValue, actual_record
from performance.services.imports.columns import _OBJECTIVE_KINDS, _PLAN_ORDER
from performance.services.imports.common import (
    ImportReport,
    _by_key_or_name,
    _choice,
    _id,
    _limited,
    _lookup,
    _number,
    _RowError,
    _same,
    _show,
    _text,
)
from performance.services.imports.exports import _content_key, _part_text, _single_value
from performance.services.imports.reading import SheetRow, Table


@dataclass
class _ValueRow:
    number: int
    target: Target
    period: MeasurementPeriod
    current: Actual | None
    fields: dict[str, Any]
    changes: list[tuple[str, str, str]]


_ACTUAL_COLUMNS = {
    "number": "valore",
    "date": "valore",
    "done": "valore",
    "k": "valore",
    "n": "valore",
    "parts": "valore",
    "text": "valore_testo",
    "note": "nota",
    "source": "fonte",
    "measured_on": "data_rilevazione",
    "override_pct": "rettifica_pct",
    "override_reason": "rettifica_motivazione",
}
_ERROR_COLUMNS = {
    "value": "valore",
    "override_pct": "rettifica_pct",
    "override_reason": "rettifica_motivazione",
}


def _actual_fields(actual: Actual | None) -> dict[str, Any]:
    return ActualValue.of(actual).as_kwargs()


def _value_of(fields: dict[str, Any]) -> scoring.Value | None:
    """The engine's Value of a row's fields (named as ActualValue's: ``number`` for the Actual's
    ``value_number``...), None when empty: value_from_actual's."""
    return value_from_actual(
        {name: fields.get(name.removeprefix("value_")) for name in ACTUAL_VALUE_FIELDS}
    )


def _value_show(fields: dict[str, Any]) -> str:
    value = _value_of(fields)
    if value is None:
        return "—"
    if value.parts is not None:
        return "; ".join(_part_text(p) or "—" for p in value.parts)
    return _show(_single_value(value))


class _ValuesImport:
    def __init__(self, *, cycle: Cycle, table: Table, user: Any, report: ImportReport) -> None:
        self.cycle = cycle
        self.window = cycle_date_window(cycle.year)  # values' dates within the cycle's years
        self.table = table
        self.user = user
        self.report = report
        self.targets = list(
            Target.objects.filter(indicator__objective__cycle=cycle)
            .select_related(
                "unit",
                "indicator__objective__position",
                "indicator__objective__strategic_objective",
            )
            .order_by(*_PLAN_ORDER)
        )
        self.targets_by_id = {t.id: t for t in self.targets}
        self.by_title: dict[tuple[str, str, str], list[Target]] = defaultdict(list)
        for target in self.targets:
            key = _content_key(target)
            self.by_title[(key[3], key[4], key[6])].append(target)
        periods = list(MeasurementPeriod.objects.filter(cycle=cycle))
        self.periods = _by_key_or_name(periods, "name")
        self.actuals = {
            (a.target_id, a.period_id): a
            for a in Actual.objects.filter(target__indicator__objective__cycle=cycle)
        }
        self.editable = None if user is None else permissions.editable_unit_ids(user, cycle)
        self.scope: editability.EditScope | None = None  # set by ValuesResource
        self.resource: Any = None  # the ValuesResource, whose widgets read the cells
        self.units = {u.id: u for u in Unit.objects.filter(cycle=cycle)}
        self.units_by_key = _by_key_or_name(self.units.values(), "name")

    def _clean(self, column: str, cells: dict[str, Any], **kwargs: Any) -> Any:
        """A cell read by the widget of its column in the Resource (`ValuesResource`)."""
        try:
            return self.resource.fields[column].widget.clean(cells.get(column), **kwargs)
        except ValueError as error:
            raise _RowError(column, str(error)) from None

    def _target(self, cells: dict[str, Any]) -> Target:
        code = _text(cells.get("codice_target"))
        target = self.targets_by_id.get(_id(code) or 0) if code else None
        if target is not None:
            return target
        title = _text(cells.get("obiettivo_titolo"))
        name = _text(cells.get("indicatore_nome"))
        text = _text(cells.get("target_testo"))
        if not (title and name and text):
            if code:
                raise _RowError(
                    "codice_target", f"«{code}» non è un target del ciclo {self.cycle.year}"
                )
            raise _RowError(
                "codice_target",
                "indicare il codice del target, oppure obiettivo_titolo, indicatore_nome e "
                "target_testo",
            )
        candidates = self.by_title.get((title, name, text), [])
        filters = {
            "tipo_obiettivo": 0,
            "posizione": 1,
            "obiettivo_strategico_codice": 2,
            "unita": 5,
        }
        for column, index in filters.items():
            if not self.table.has(column):
                continue
            wanted = _text(cells.get(column))
            if column == "tipo_obiettivo" and wanted:
                wanted = _choice(wanted, _OBJECTIVE_KINDS, column) or ""
            if column == "unita" and wanted:
                unit = _lookup(self.units_by_key, wanted)
                wanted = unit.key if unit else wanted
            candidates = [t for t in candidates if _content_key(t)[index] == wanted]
        repetition = _number(cells.get("ripetizione"), "ripetizione")
        if repetition is not None:
            rank = int(repetition) if repetition == repetition.to_integral_value() else 0
            if not 1 <= rank <= len(candidates):
                raise _RowError(
                    "ripetizione",
                    f"{_show(repetition)}: i target con queste colonne sono {len(candidates)}",
                )
            return candidates[rank - 1]
        if not candidates:
            raise _RowError(
                "target_testo",
                f"nessun target del ciclo {self.cycle.year} ha obiettivo, indicatore, unità e "
                "testo indicati",
            )
        if len(candidates) > 1:
            raise _RowError(
                "ripetizione",
                f"{len(candidates)} target hanno le stesse colonne: indicare codice_target o "
                "ripetizione",
            )
        return candidates[0]

    def row(self, sheet_row: SheetRow, seen: dict[tuple[int, int], int]) -> _ValueRow | None:
        cells = sheet_row.cells
        target = self._target(cells)
        period_text = _text(cells.get("periodo"))
        if not period_text:
            raise _RowError("periodo", "obbligatoria: indicare il periodo di misurazione")
        period = _lookup(self.periods, period_text)
        if period is None:
            keys = ", ".join(sorted(p.key for p in set(self.periods.values())))
            raise _RowError("periodo", f"il periodo «{period_text}» non esiste (periodi: {keys})")
        if self.editable is not None and target.unit_id not in self.editable:
            where = f"dell'unità «{target.unit.name}»" if target.unit else "dell'Ente (senza unità)"
            raise _RowError(
                "unita", f"il target è {where}, che non è tra le unità assegnate all'utente"
            )
        objective_id = target.indicator.objective_id
        if self.scope is not None and not self.scope.allows(objective_id=objective_id):
            raise _RowError("codice_target", self.scope.refusal(objective_id=objective_id))
        key = (target.id, period.id)
        if key in seen:
            raise _RowError("codice_target", f"stesso target e periodo della riga {seen[key]}")
        seen[key] = sheet_row.number
        current = self.actuals.get(key)
        given: dict[str, Any] = {}
        errors: list[_RowError] = []

        def collect(parse: Callable[[], None]) -> None:
            try:
                parse()
            except _RowError as error:
                errors.append(error)

        def value() -> None:
            parsed = self._clean("valore", cells, rule=target.rule, window=self.window)
            if parsed:
                given.update(
                    {k: parsed.get(k) for k in ("number", "date", "done", "k", "n", "parts")}
                )

        def texts() -> None:
            for column, name, limit in (
                ("valore_testo", "text", 300),
                ("nota", "note", None),
                ("fonte", "source", 300),
                ("rettifica_motivazione", "override_reason", None),
            ):
                text = _text(cells.get(column))
                if text:
                    given[name] = _limited(text, column, limit) if limit else text

        def measured() -> None:
            day = self._clean("data_rilevazione", cells, window=self.window)
            if day is not None:
                given["measured_on"] = day

        def override() -> None:
            pct = self._clean("rettifica_pct", cells)
            if pct is not None:
                if not Decimal(0) <= pct <= Decimal(100):
                    raise _RowError("rettifica_pct", "la percentuale deve essere tra 0 e 100")
                given["override_pct"] = pct

        for parse in (value, texts, measured, override):
            collect(parse)
        if errors:
            raise errors[0] if len(errors) == 1 else _MultipleErrors(errors)
        if not given:
            return None  # an empty row never deletes anything
        fields = {**_actual_fields(current), **given}
        if "override_pct" in given and not fields["override_reason"].strip():
            raise _RowError("rettifica_motivazione", "obbligatoria con la rettifica")
        if "override_reason" in given and fields["override_pct"] is None:
            raise _RowError("rettifica_pct", "la motivazione è indicata senza la rettifica")
        value_now = _value_of(fields)
        if value_now is not None:
            try:
                scoring.score_rule(target.rule, value_now, scoring.Rules())
            except scoring.ScoringError as error:
                raise _RowError("valore", str(error)) from None
        before = _actual_fields(current)
        changes = []
        if _value_of(before) != value_now:
            changes.append(("valore", _value_show(before), _value_show(fields)))
        for name in ("text", "note", "source", "measured_on", "override_pct", "override_reason"):
            if not _same(before[name], fields[name]):
                changes.append((_ACTUAL_COLUMNS[name], _show(before[name]), _show(fields[name])))
        return _ValueRow(sheet_row.number, target, period, current, fields, changes)

    def apply(self, row: _ValueRow) -> None:
        fields = row.fields
        actual_record(
            target=row.target,
            period=row.period,
            user=self.user if isinstance(self.user, AbstractBaseUser) else None,
            expected_version=row.current.version if row.current else None,
            **ActualValue(**fields).as_kwargs(),
        )


class _MultipleErrors(Exception):
    def __init__(self, errors: list[_RowError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


def _error_items(error: ValidationError) -> list[tuple[str, list[str]]]:
    if hasattr(error, "error_dict"):
        return [
            (_ERROR_COLUMNS.get(name, ""), [str(m) for e in errors for m in e.messages])
            for name, errors in error.error_dict.items()
        ]
    return [("", list(error.messages))]
