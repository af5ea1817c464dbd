"""Writes: recording the actual values of targets."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from organization.models import MeasurementPeriod
from performance import editability, scoring
from performance.models import Actual, Target

# --------------------------------------------------------------------------- recording actuals


class StaleActualError(ValidationError):
    """The value was changed by someone else since the form was opened."""

    def __init__(self, current: Actual) -> None:
        self.current = current
        super().__init__(
            "Il valore è stato modificato da un altro utente dopo l'apertura del modulo: "
            "ricaricare e confrontare i valori prima di salvare.",
            code="stale",
        )


def actual_fields(
    *,
    target: Target,
    user: AbstractBaseUser | None,
    number: Decimal | None = None,
    date: dt.date | None = None,
    done: bool | None = None,
    k: Decimal | None = None,
    n: Decimal | None = None,
    parts: list[dict] | None = None,
    text: str = "",
    note: str = "",
    source: str = "",
    measured_on: dt.date | None = None,
    override_pct: Decimal | None = None,
    override_reason: str = "",
) -> dict:
    """The Actual fields to write for a value, checked against the target's rule and the override
    rules first (ValidationError by field otherwise). Shared by actual_record and
    performance.services.entry.unit_values_record."""
    if override_pct is not None:
        if not override_reason.strip():
            raise ValidationError({"override_reason": "La rettifica richiede una motivazione."})
        if not Decimal(0) <= override_pct <= Decimal(100):
            raise ValidationError({"override_pct": "La percentuale deve essere tra 0 e 100."})
    try:
        value = scoring.Value(
            number=number,
            date=date,
            done=done,
            k=k,
            n=n,
            parts=None if parts is None else tuple(scoring.Value.from_dict(p) for p in parts),
        )
        if not value.is_empty():
            scoring.score_rule(target.rule, value, scoring.Rules())
    except scoring.ScoringError as error:
        raise ValidationError({"value": str(error)}) from error
    return {
        "value_number": number,
        "value_date": date,
        "value_done": done,
        "value_k": k,
        "value_n": n,
        "value_parts": parts,
        "text": text,
        "note": note,
        "source": source,
        "measured_on": measured_on,
        "override_pct": override_pct,
        "override_reason": override_reason.strip() if override_pct is not None else "",
        "recorded_by": user,
        "recorded_at": timezone.now(),
    }


def actual_record(
    *,
    target: Target,
    period: MeasurementPeriod,
    user: AbstractBaseUser | None,
    expected_version: int | None,
    number: Decimal | None = None,
    date: dt.date | None = None,
    done: bool | None = None,
    k: Decimal | None = None,
    n: Decimal | None = None,
    parts: list[dict] | None = None,
    text: str = "",
    note: str = "",
    source: str = "",
    measured_on: dt.date | None = None,
    override_pct: Decimal | None = None,
    override_reason: str = "",
) -> Actual:
    """Record (create or change) the value of a target for a period.

    ``expected_version`` is the version the user saw (None when there was no value): if the stored
    value has moved on since, nothing is written and StaleActualError carries the current value.
    The value is checked against the target's rule before anything is saved.
    """
    if period.cycle_id != target.indicator.objective.cycle_id:
        raise ValidationError("Il periodo non appartiene al ciclo del target.")
    editability.ensure_editable(
        target.indicator.objective.cycle_id, objective=target.indicator.objective_id
    )
    fields = actual_fields(
        target=target,
        user=user,
        number=number,
        date=date,
        done=done,
        k=k,
        n=n,
        parts=parts,
        text=text,
        note=note,
        source=source,
        measured_on=measured_on,
        override_pct=override_pct,
        override_reason=override_reason,
    )
    with transaction.atomic():
        current = Actual.objects.select_for_update().filter(target=target, period=period).first()
        if current is None:
            if expected_version not in (None, 0):
                raise ValidationError("Il valore atteso non esiste più: ricaricare il modulo.")
            actual = Actual(target=target, period=period, version=1, **fields)
            actual._history_user = user
            actual.save()
            return actual
        if expected_version != current.version:
            raise StaleActualError(current)
        # Compare-and-set on the version: safe on PostgreSQL and SQLite alike.
        claimed = Actual.objects.filter(pk=current.pk, version=expected_version).update(
            version=expected_version + 1
        )
        if claimed != 1:
            current.refresh_from_db()
            raise StaleActualError(current)
        for name, field_value in fields.items():
            setattr(current, name, field_value)
        current.version = expected_version + 1
        current._history_user = user
        current.save(update_fields=[*fields, "version"])  # records the history entry
        return current
