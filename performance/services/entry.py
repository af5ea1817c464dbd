"""Writes: recording all the values of one unit for one period at once (the unit's form).

All or nothing: every row is checked against its target's rule (the same checks as
``actual_record``, through the shared ``actual_fields``) and against the version the user opened
it with; if any row is invalid or was changed by someone else in the meantime, nothing is written.
Otherwise every changed row is written in one transaction, with its history entry, in a fixed
number of queries whatever the number of rows (bulk reads and writes; on SQLite, Django splits a
bulk write in batches of 999 parameters, i.e. one more query every ~40 rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, F, IntegerField, When
from django.db.models import Value as V
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from organization import concurrency, editability, permissions
from organization.models import Cycle, MeasurementPeriod, Unit
from performance import scoring
from performance.models import ACTUAL_VALUE_FIELDS, Actual, Target
from performance.rules.values import value_from_actual
from performance.selectors_entry import entry_scope, target_reason
from performance.services.actuals import ActualValue, actual_fields

# The cycle states in which values can no longer change (sent to, or validated by, the OIV);
# a cycle returned by the OIV accepts the values of the objectives it reopened
# (organization.editability).
CLOSED_STATES = tuple(editability.CLOSED_STATES)

# The Actual fields written for a value (the keys of actuals.actual_fields).
_WRITTEN_FIELDS = (
    *ACTUAL_VALUE_FIELDS,
    "text",
    "note",
    "source",
    "measured_on",
    "override_pct",
    "override_reason",
    "recorded_by",
    "recorded_at",
)


def cycle_accepts_values(cycle: Cycle) -> bool:
    """May any value of ``cycle`` change (the instance's state; the service reads it again)?"""
    return editability.edit_scope(cycle, fresh=False).values


@dataclass(frozen=True, kw_only=True)
class RowInput(ActualValue):
    """One row of the unit's form, parsed (Decimals, dates): the value of one target.

    ``expected_version`` is the version of the stored value when the form was opened (None: there
    was no value). ``text`` is the value as typed; it is kept only when the value changes.
    """

    target_id: int
    expected_version: int | None


@dataclass(frozen=True)
class Conflict:
    """A row changed by someone else since the form was opened: what the user typed and what is
    stored now (None: the stored value was deleted)."""

    row: RowInput
    current: Actual | None


class UnitValuesInvalid(ValidationError):
    """Some rows are invalid; ``row_errors`` maps a target id to {field: [messages]} (fields:
    "value", "override_pct", "override_reason", "__all__")."""

    def __init__(self, row_errors: dict[int, dict[str, list[str]]]) -> None:
        self.row_errors = row_errors
        super().__init__(
            "Alcuni valori non sono validi: nessun valore è stato salvato.", code="invalid"
        )


class UnitValuesConflict(concurrency.StaleError):
    """Some rows were changed by someone else since the form was opened."""

    def __init__(self, conflicts: list[Conflict]) -> None:
        self.conflicts = conflicts
        super().__init__(
            "Alcuni valori sono stati modificati da un altro utente dopo l'apertura del modulo: "
            "nessun valore è stato salvato.",
            current=[conflict.current for conflict in conflicts],
        )


@dataclass
class UnitValuesResult:
    created: list[Actual] = field(default_factory=list)
    updated: list[Actual] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)  # target ids


def _same(current: Actual, fields: dict) -> bool:
    """Does writing ``fields`` leave ``current`` as it is? (``text`` and who/when aside)"""
    return (
        value_from_actual(current.__dict__) == value_from_actual(fields)
        and current.note == fields["note"]
        and current.source == fields["source"]
        and current.override_pct == fields["override_pct"]
        and current.override_reason == fields["override_reason"]
    )


def _blank(fields: dict) -> bool:
    return (
        value_from_actual(fields) is None
        and fields["override_pct"] is None
        and not fields["note"]
        and not fields["source"]
    )


def _row_fields(*, target: Target, row: RowInput, user: AbstractBaseUser | None) -> dict:
    errors: dict[str, list[str]] = {}
    if len(row.source) > 300:
        errors["source"] = ["La fonte può avere al massimo 300 caratteri."]
    if errors:
        raise ValidationError(errors)
    try:
        return actual_fields(
            target=target, user=user, **{**row.as_kwargs(), "text": row.text[:300]}
        )
    except scoring.ScoringError as error:
        raise ValidationError({"value": str(error)}) from error


def _validate(
    *, unit: Unit, user: AbstractBaseUser | None, rows: list[RowInput]
) -> dict[int, dict]:
    """The fields to write per target id; UnitValuesInvalid with every row's errors otherwise."""
    errors: dict[int, dict[str, list[str]]] = {}
    seen: set[int] = set()
    for row in rows:
        if row.target_id in seen:
            errors[row.target_id] = {"__all__": ["Il target compare più volte nel modulo."]}
        seen.add(row.target_id)
    targets = (
        Target.objects.filter(entry_scope(unit))
        .select_related("indicator__objective")
        .in_bulk(list(seen))
    )
    prepared: dict[int, dict] = {}
    for row in rows:
        if row.target_id in errors:
            continue
        target = targets.get(row.target_id)
        if target is None:
            errors[row.target_id] = {"__all__": ["Il target non appartiene a questa unità."]}
            continue
        reason = target_reason(target)
        if reason:
            errors[row.target_id] = {"__all__": [f"{reason}. Non si registrano valori."]}
            continue
        try:
            prepared[row.target_id] = _row_fields(target=target, row=row, user=user)
        except ValidationError as error:
            errors[row.target_id] = (
                error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
            )
    if errors:
        raise UnitValuesInvalid(errors)
    return prepared


def _conflicts(
    *, period: MeasurementPeriod, rows: list[RowInput], prepared: dict[int, dict]
) -> list[Conflict]:
    """The rows whose stored value moved on from the version they were opened with and differs
    from what was typed (read again, with who recorded it)."""
    current = {
        a.target_id: a
        for a in Actual.objects.filter(
            period=period, target_id__in=[r.target_id for r in rows]
        ).select_related("recorded_by")
    }
    out = []
    for row in rows:
        actual = current.get(row.target_id)
        version = actual.version if actual else None
        if version == (row.expected_version or None):
            continue
        if actual is not None and _same(actual, prepared[row.target_id]):
            continue
        out.append(Conflict(row=row, current=actual))
    return out


def _differs(actual: Actual, name: str, fields: dict) -> bool:
    """Whether saving ``fields`` changes the field ``name`` of ``actual`` (the user by id: no
    query)."""
    if name == "recorded_by":
        return actual.recorded_by_id != getattr(fields[name], "pk", None)
    return getattr(actual, name) != fields[name]


def unit_values_record(
    *,
    unit: Unit,
    period: MeasurementPeriod,
    user: AbstractBaseUser | None,
    rows: list[RowInput],
) -> UnitValuesResult:
    """Record the values of ``unit``'s targets for ``period``, all or nothing.

    Raises PermissionDenied if ``user`` may not enter the unit's values; UnitValuesInvalid (with
    every row's errors) if any row is invalid; UnitValuesConflict (with what was typed and what is
    stored, who and when) if any row was changed by someone else since the form was opened. A row
    equal to the stored value is left alone (no new version), even if its version is older.
    """
    if not permissions.can_enter_values(user, unit):
        raise PermissionDenied("L'utente non può registrare i valori di questa unità.")
    if period.cycle_id != unit.cycle_id:
        raise ValidationError("Il periodo non appartiene al ciclo dell'unità.")
    scope = editability.edit_scope(unit.cycle_id)
    if not scope.values:
        raise editability.ReadOnlyError(scope.values_refusal())
    prepared = _validate(unit=unit, user=user, rows=rows)
    result = UnitValuesResult()
    try:
        with transaction.atomic():
            # Read again with the cycle's row locked until the commit (editability): a
            # submission to the OIV meanwhile is seen here, and one after waits for this write.
            scope = editability.edit_scope(unit.cycle_id)
            if not scope.values:
                raise editability.ReadOnlyError(scope.values_refusal())
            objective_of = (
                {}
                if scope.everything
                else dict(
                    Target.objects.filter(pk__in=list(prepared)).values_list(
                        "id", "indicator__objective_id"
                    )
                )
            )
            current = {
                a.target_id: a
                for a in Actual.objects.select_for_update()
                .filter(period=period, target_id__in=list(prepared))
                .order_by()
            }
            creates: list[Actual] = []
            updates: list[Actual] = []
            changed_fields: set[str] = set()  # written by bulk_update: only what changed
            conflicts: list[RowInput] = []
            closed: dict[int, dict[str, list[str]]] = {}  # rows the OIV did not reopen
            for row in rows:
                fields = prepared[row.target_id]
                actual = current.get(row.target_id)
                changes = not _blank(fields) if actual is None else not _same(actual, fields)
                objective_id = objective_of.get(row.target_id)
                if changes and not scope.allows(objective_id=objective_id):
                    closed[row.target_id] = {"__all__": [scope.refusal(objective_id=objective_id)]}
                    continue
                if actual is None:
                    if row.expected_version not in (None, 0):
                        conflicts.append(row)
                    elif _blank(fields):
                        result.unchanged.append(row.target_id)
                    else:
                        creates.append(
                            Actual(target_id=row.target_id, period=period, version=1, **fields)
                        )
                    continue
                if _same(actual, fields):
                    result.unchanged.append(row.target_id)
                    continue
                if row.expected_version != actual.version:
                    conflicts.append(row)
                    continue
                if value_from_actual(actual.__dict__) == value_from_actual(fields):
                    fields["text"] = actual.text  # same value: keep it as first written
                fields["measured_on"] = fields["measured_on"] or actual.measured_on
                changed_fields.update(name for name in fields if _differs(actual, name, fields))
                for name, value in fields.items():
                    setattr(actual, name, value)
                updates.append(actual)
            if closed:
                raise UnitValuesInvalid(closed)
            if conflicts:
                raise UnitValuesConflict(_conflicts(period=period, rows=rows, prepared=prepared))
            if updates:
                # Compare-and-set on every version in one statement: safe on PostgreSQL and
                # SQLite alike (the rows are also locked above where the database can).
                claim = transaction.savepoint()
                claimed = (
                    Actual.objects.filter(pk__in=[a.pk for a in updates])
                    .filter(
                        version=Case(
                            *(When(pk=a.pk, then=V(a.version)) for a in updates),
                            output_field=IntegerField(),
                        )
                    )
                    .update(version=F("version") + 1)
                )
                if claimed != len(updates):
                    # Another writer got in between the read and the compare-and-set: undo
                    # the claims, read again and report it.
                    transaction.savepoint_rollback(claim)
                    raise UnitValuesConflict(
                        _conflicts(period=period, rows=rows, prepared=prepared)
                    )
                transaction.savepoint_commit(claim)
                for actual in updates:
                    actual.version += 1
                written = [name for name in _WRITTEN_FIELDS if name in changed_fields]
                bulk_update_with_history(
                    updates, Actual, fields=[*written, "version"], default_user=user
                )
            if creates:
                bulk_create_with_history(creates, Actual, default_user=user)
    except IntegrityError:
        # A value was created meanwhile (unique target and period): nothing was written (the
        # transaction rolled back); report every row that moved.
        raise UnitValuesConflict(_conflicts(period=period, rows=rows, prepared=prepared)) from None
    result.created, result.updated = creates, updates
    return result
