"""Writes: recording the actual values of targets."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypedDict, Unpack

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.utils import timezone

from organization import concurrency, editability
from organization.models import MeasurementPeriod
from performance import scoring
from performance.models import ACTUAL_VALUE_FIELDS, Actual, Target
from performance.rules.values import value_from_actual

# --------------------------------------------------------------------------- recording actuals


class StaleActualError(concurrency.StaleError):
    """The value was changed by someone else since the form was opened."""

    def __init__(self, current: Actual) -> None:
        super().__init__(
            "Il valore è stato modificato da un altro utente dopo l'apertura del modulo: "
            "ricaricare e confrontare i valori prima di salvare.",
            current=current,
        )


@dataclass(frozen=True)
class ActualValue:
    """A value to record for a target: the keyword arguments of ``actual_fields`` and
    ``actual_record`` (any other name is a TypeError), also the base of the unit form's rows
    (performance.services.entry.RowInput, performance.forms.ParsedRow)."""

    number: Decimal | None = None
    date: dt.date | None = None
    done: bool | None = None
    k: Decimal | None = None
    n: Decimal | None = None
    parts: list[dict | None] | None = None
    text: str = ""
    note: str = ""
    source: str = ""
    measured_on: dt.date | None = None
    override_pct: Decimal | None = None
    override_reason: str = ""

    @classmethod
    def of(cls, actual: Actual | None) -> ActualValue:
        """The value an Actual holds (no Actual: the empty value)."""
        if actual is None:
            return cls()
        return cls(**{f.name: getattr(actual, _STORED.get(f.name, f.name)) for f in _FIELDS})

    def as_kwargs(self) -> dict[str, Any]:
        """The value as the keyword arguments of ``actual_fields`` and ``actual_record``."""
        return {f.name: getattr(self, f.name) for f in _FIELDS}


_FIELDS = dataclasses.fields(ActualValue)
# the Actual's column of each part of the value ("number" -> "value_number"...)
_STORED = {name.removeprefix("value_"): name for name in ACTUAL_VALUE_FIELDS}


class ActualValueArgs(TypedDict, total=False):
    """The types of ``**value`` in ``actual_fields`` and ``actual_record``: the fields of
    ActualValue (tests/performance/test_actual_record.py checks that the two agree)."""

    number: Decimal | None
    date: dt.date | None
    done: bool | None
    k: Decimal | None
    n: Decimal | None
    parts: list[dict | None] | None
    text: str
    note: str
    source: str
    measured_on: dt.date | None
    override_pct: Decimal | None
    override_reason: str


def actual_fields(
    *, target: Target, user: AbstractBaseUser | None, **value: Unpack[ActualValueArgs]
) -> dict:
    """The Actual fields to write for a value (``value``: the fields of ActualValue), checked
    against the target's rule and the override rules first (ValidationError by field
    otherwise). Shared by actual_record and performance.services.entry.unit_values_record."""
    return _checked_fields(target=target, user=user, value=ActualValue(**value))


def _checked_fields(*, target: Target, user: AbstractBaseUser | None, value: ActualValue) -> dict:
    if value.override_pct is not None:
        if not value.override_reason.strip():
            raise ValidationError({"override_reason": "La rettifica richiede una motivazione."})
        if not Decimal(0) <= value.override_pct <= Decimal(100):
            raise ValidationError({"override_pct": "La percentuale deve essere tra 0 e 100."})
    fields = {
        "value_number": value.number,
        "value_date": value.date,
        "value_done": value.done,
        "value_k": value.k,
        "value_n": value.n,
        "value_parts": value.parts,
        "text": value.text,
        "note": value.note,
        "source": value.source,
        "measured_on": value.measured_on,
        "override_pct": value.override_pct,
        "override_reason": value.override_reason.strip() if value.override_pct is not None else "",
        "recorded_by": user,
        "recorded_at": timezone.now(),
    }
    try:
        scored = value_from_actual(fields)
        if scored is not None:
            scoring.score_rule(target.rule, scored, scoring.Rules())
    except scoring.ScoringError as error:
        raise ValidationError({"value": str(error)}) from error
    return fields


def actual_record(
    *,
    target: Target,
    period: MeasurementPeriod,
    user: AbstractBaseUser | None,
    expected_version: int | None,
    **value: Unpack[ActualValueArgs],
) -> Actual:
    """Record (create or change) the value of a target for a period.

    ``expected_version`` is the version the user saw (None when there was no value): if the stored
    value has moved on since, nothing is written and StaleActualError carries the current value.
    The value (``value``: the fields of ActualValue) is checked against the target's rule before
    anything is saved.
    """
    checked = ActualValue(**value)  # TypeError for an unknown name, before anything is read
    if period.cycle_id != target.indicator.objective.cycle_id:
        raise ValidationError("Il periodo non appartiene al ciclo del target.")
    with editability.editing(
        target.indicator.objective.cycle_id, objective=target.indicator.objective_id
    ):  # the cycle's row locked until the commit: a submission to the OIV waits for this write
        fields = _checked_fields(target=target, user=user, value=checked)
        current = Actual.objects.select_for_update().filter(target=target, period=period).first()
        if current is None:
            if expected_version not in (None, 0):
                raise ValidationError("Il valore atteso non esiste più: ricaricare il modulo.")
            actual = Actual(target=target, period=period, version=1, **fields)
            actual._history_user = user
            actual.save()
            return actual
        # Compare-and-set on the version: safe on PostgreSQL and SQLite alike.
        concurrency.check_and_claim(
            current,
            field="version",
            expected=expected_version,
            new=(expected_version or 0) + 1,
            stale=StaleActualError,
        )
        for name, field_value in fields.items():
            setattr(current, name, field_value)
        current._history_user = user
        current.save(update_fields=[*fields, "version"])  # records the history entry
        return current
