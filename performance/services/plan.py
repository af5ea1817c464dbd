"""Writes: managing the plan of a cycle (controllo di gestione).

Create, change and delete perspectives, strategic objectives, objectives, indicators and targets;
the unit's aggregation; the cycle's measurement rules (SMVP); the plan update (aggiornamento:
revising a target, neutralizing an objective, with the deliberation and the reason); starting next
year's cycle from this one.

Every service is keyword-only, validates before writing (ValidationError with Italian messages,
keyed by field where there is one), runs in one transaction and leaves an audit trail: the
history of django-simple-history (who, when, before → after, the reason as change reason) for
cycles, objectives, indicators and targets; the Django admin log (LogEntry) for the models
without history (perspectives, strategic objectives, units, plan documents).

The update services take an optional ``seen``, the values of the fields (``snapshot``) when the
form was opened: concurrent edits never overwrite each other silently. With ``seen``, a field
changed by someone else since then is either kept (this save does not change it: only the fields
this user changed are written) or a conflict (this save changes it too: PlanConflictError, nothing
written).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, models, transaction
from django.utils.text import slugify
from simple_history.utils import bulk_create_with_history

from organization import concurrency, editability
from organization.models import Cycle, MeasurementPeriod, PlanDocument, Position, Unit
from performance import scoring, selectors_plan
from performance.models import (
    Actual,
    Indicator,
    Objective,
    Perspective,
    StrategicObjective,
    Target,
)
from performance.rules import RULES
from performance.services.cycle import _rule_json

User = AbstractBaseUser
M = TypeVar("M", bound=models.Model)

# ------------------------------------------------------------------------------------ helpers


def _log(user: User | None, objects: Iterable[models.Model], flag: int, message: str) -> None:
    """The admin log entry of a change to a model without history (no user: nothing to log)."""
    if user is None or not getattr(user, "pk", None):
        return
    objects = list(objects)
    if objects:
        LogEntry.objects.log_actions(user.pk, objects, flag, change_message=message)


def _save(instance: models.Model, *, user: User | None, fields: list[str] | None, reason=""):
    """Save with the audit trail of simple-history (user and change reason)."""
    instance._history_user = user
    if reason:
        instance._change_reason = reason
    if fields is None:
        instance.save()
    else:
        instance.save(update_fields=fields)


def _changed(instance: models.Model, values: Mapping[str, Any]) -> list[str]:
    """Set ``values`` on ``instance``; return the names of the fields that changed."""
    changed = []
    for name, value in values.items():
        if getattr(instance, name) != value:
            setattr(instance, name, value)
            changed.append(name)
    return changed


def _labels(model: type[models.Model], names: list[str]) -> str:
    return ", ".join(str(model._meta.get_field(name).verbose_name) for name in names)


def _has_history(model: type[models.Model] | models.Model) -> bool:
    return hasattr(model, "history")


def _create(model: type[M], *, user: User | None, audit: str, **values: Any) -> M:
    """Create with the audit trail: the history record with ``audit`` as change reason, or
    (model without history) the admin log entry with ``audit`` as message."""
    if _has_history(model):
        instance = model(**values)
        _save(instance, user=user, fields=None, reason=audit)
    else:
        instance = model.objects.create(**values)
        _log(user, [instance], ADDITION, audit)
    return instance


class PlanConflictError(concurrency.StaleError):
    """Someone else changed, since the form was opened, fields this save changes too: nothing
    was written. Keyed by field; ``current`` is the snapshot of what is stored now."""

    def __init__(self, errors: dict[str, str], *, current: Mapping[str, str]) -> None:
        super().__init__(errors, current=dict(current))


def _snap(value: Any) -> str:
    """A value as a string, the same for equal values however they are held (Decimal 1 and
    1.00, a related object and its id, JSON with keys in any order)."""
    if value is None:
        return ""
    if isinstance(value, models.Model):
        return str(value.pk)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def snapshot(*, instance: models.Model, names: Iterable[str]) -> dict[str, str]:
    """The stored values of ``instance``'s fields ``names``, as compared by the update services'
    ``seen`` (a foreign key by its id)."""
    meta = instance._meta
    return {name: _snap(getattr(instance, meta.get_field(name).attname)) for name in names}


def _shown(instance: models.Model, name: str) -> str:
    """A stored value as the user reads it: a related object by its name, a choice by its
    label, a number the Italian way, a rule in words."""
    field = instance._meta.get_field(name)
    value = getattr(instance, name)
    if field.choices:
        value = dict(field.flatchoices).get(value, value)
    if value is None or value == "":
        return "(vuoto)"
    if isinstance(value, Decimal):
        value = scoring.fmt(value)
    elif name == "rule":
        value = selectors_plan.rule_summary(value)
    text = str(value)
    return text if len(text) <= 200 else f"{text[:199]}…"


def _merge(
    stored: models.Model, values: Mapping[str, Any], seen: Mapping[str, str]
) -> dict[str, Any]:
    """Of ``values``, those this user changed (they differ from ``seen``); PlanConflictError if
    someone else changed one of them meanwhile to something else."""
    current = snapshot(instance=stored, names=values)
    mine, conflicts = {}, {}
    for name, value in values.items():
        submitted = _snap(value)
        if name in seen and submitted == seen[name]:
            continue  # not changed by this user: what is stored now stays
        mine[name] = value
        if name in seen and current[name] != seen[name] and current[name] != submitted:
            conflicts[name] = (
                "Modificato da un altro utente dopo l'apertura del modulo: ora vale "
                f"«{_shown(stored, name)}». Il valore scritto è rimasto nel modulo: salvare di "
                "nuovo per sostituirlo."
            )
    if conflicts:
        conflicts[NON_FIELD_ERRORS] = (
            f"Un altro utente ha modificato {_labels(type(stored), list(conflicts))} dopo "
            "l'apertura del modulo: nulla è stato salvato. I valori attuali sono indicati "
            "accanto ai campi."
        )
        raise PlanConflictError(conflicts, current=current)
    return mine


def _update(
    instance: models.Model,
    values: Mapping[str, Any],
    *,
    user: User | None,
    seen: Mapping[str, str] | None = None,
    check: Callable[[Any], None] | None = None,
) -> None:
    """Set ``values`` and save the fields that changed (none: nothing is written), with the
    history record, or (model without history) the admin log entry naming them.

    With ``seen`` (the values when the form was opened), the row is re-read and locked first:
    only the fields this user changed are written, over what is stored now (``check`` then
    validates the merged whole); PlanConflictError if someone else changed one of them meanwhile
    (call inside a transaction)."""
    if seen is not None:
        stored = type(instance).objects.select_for_update().get(pk=instance.pk)
        values = _merge(stored, values, seen)
        for field in instance._meta.concrete_fields:
            setattr(instance, field.attname, getattr(stored, field.attname))
    changed = _changed(instance, values)
    if seen is not None and changed and check is not None:
        check(instance)
    if not changed:
        return
    if _has_history(instance):
        _save(instance, user=user, fields=changed)
    else:
        instance.save(update_fields=changed)
        _log(user, [instance], CHANGE, f"Modificati: {_labels(type(instance), changed)}.")


def _delete(
    instance: models.Model,
    *,
    user: User | None,
    dependents: models.QuerySet,
    refusal: str,
    audit: str = "",
) -> None:
    """Delete, in one transaction, unless ``dependents`` exist (then ValidationError
    ``refusal``), with the history record, or (model without history) the admin log entry with
    ``audit`` as message."""
    if dependents.exists():
        raise ValidationError(refusal)
    with transaction.atomic():
        if _has_history(instance):
            instance._history_user = user
        else:
            _log(user, [instance], DELETION, audit)
        instance.delete()


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _weight(value: Any, field: str = "weight") -> Decimal:
    try:
        weight = scoring.dec(value, "peso")
    except scoring.ScoringError as error:
        raise ValidationError({field: str(error)}) from error
    if weight < 0:
        raise ValidationError({field: "Il peso non può essere negativo."})
    return weight


def _next_order(queryset: models.QuerySet) -> int:
    highest = queryset.aggregate(highest=models.Max("order"))["highest"]
    return 0 if highest is None else highest + 1


def _same_cycle(obj: models.Model | None, cycle: Cycle, field: str, what: str) -> None:
    if obj is not None and obj.cycle_id != cycle.id:
        raise ValidationError({field: f"{what} non appartiene al ciclo {cycle.year}."})


def _editing_objective(objective: Objective):
    """The transaction of a change to the objective, its indicators or targets: ReadOnlyError
    unless they may change now (organization.editability.editing)."""
    return editability.editing(objective.cycle_id, objective=objective.pk)


# ------------------------------------------------------------------------------- perspectives


def _perspective_values(*, cycle_id, code, name, exclude_pk=None) -> tuple[str, str]:
    code, name = _text(code), _text(name)
    errors = {}
    if not code:
        errors["code"] = "Indicare il codice della prospettiva."
    elif Perspective.objects.filter(cycle_id=cycle_id, code=code).exclude(pk=exclude_pk).exists():
        errors["code"] = f"Esiste già una prospettiva con codice «{code}»."
    if not name:
        errors["name"] = "Indicare il nome della prospettiva."
    if errors:
        raise ValidationError(errors)
    return code, name


def perspective_create(
    *, cycle: Cycle, user: User | None, code: str, name: str, weight: Any = 1
) -> Perspective:
    with editability.editing(cycle):
        code, name = _perspective_values(cycle_id=cycle.id, code=code, name=name)
        return _create(
            Perspective,
            user=user,
            audit="Prospettiva aggiunta al Piano.",
            cycle=cycle,
            code=code,
            name=name,
            weight=_weight(weight),
            order=_next_order(Perspective.objects.filter(cycle=cycle)),
        )


def perspective_update(
    *,
    perspective: Perspective,
    user: User | None,
    code: str,
    name: str,
    weight: Any,
    seen: Mapping[str, str] | None = None,
) -> Perspective:
    with editability.editing(perspective.cycle_id):
        code, name = _perspective_values(
            cycle_id=perspective.cycle_id, code=code, name=name, exclude_pk=perspective.pk
        )
        _update(
            perspective,
            {"code": code, "name": name, "weight": _weight(weight)},
            user=user,
            seen=seen,
        )
        return perspective


def perspective_delete(*, perspective: Perspective, user: User | None) -> None:
    with editability.editing(perspective.cycle_id):
        _delete(
            perspective,
            user=user,
            dependents=perspective.strategic_objectives.all(),
            refusal=(
                "La prospettiva ha obiettivi strategici: eliminarli o spostarli prima di "
                "eliminarla."
            ),
            audit="Prospettiva eliminata dal Piano.",
        )


# ----------------------------------------------------------------------- strategic objectives


def _strategic_values(*, cycle, perspective, code, title, exclude_pk=None) -> tuple[str, str]:
    code, title = _text(code), _text(title)
    errors = {}
    if perspective is None:
        errors["perspective"] = "Indicare la prospettiva."
    elif perspective.cycle_id != cycle.id:
        errors["perspective"] = f"La prospettiva non appartiene al ciclo {cycle.year}."
    if not code:
        errors["code"] = "Indicare il codice dell'obiettivo strategico (es. 1.1)."
    elif StrategicObjective.objects.filter(cycle=cycle, code=code).exclude(pk=exclude_pk).exists():
        errors["code"] = f"Esiste già un obiettivo strategico con codice «{code}»."
    if not title:
        errors["title"] = "Indicare il titolo dell'obiettivo strategico."
    if errors:
        raise ValidationError(errors)
    return code, title


def strategic_objective_create(
    *,
    cycle: Cycle,
    user: User | None,
    perspective: Perspective,
    code: str,
    title: str,
    weight: Any = 1,
) -> StrategicObjective:
    with editability.editing(cycle):
        code, title = _strategic_values(
            cycle=cycle, perspective=perspective, code=code, title=title
        )
        return _create(
            StrategicObjective,
            user=user,
            audit="Obiettivo strategico aggiunto al Piano.",
            cycle=cycle,
            perspective=perspective,
            code=code,
            title=title,
            weight=_weight(weight),
            order=_next_order(StrategicObjective.objects.filter(perspective=perspective)),
        )


def strategic_objective_update(
    *,
    goal: StrategicObjective,
    user: User | None,
    perspective: Perspective,
    code: str,
    title: str,
    weight: Any,
    seen: Mapping[str, str] | None = None,
) -> StrategicObjective:
    with editability.editing(goal.cycle_id):
        code, title = _strategic_values(
            cycle=goal.cycle, perspective=perspective, code=code, title=title, exclude_pk=goal.pk
        )
        _update(
            goal,
            {"perspective": perspective, "code": code, "title": title, "weight": _weight(weight)},
            user=user,
            seen=seen,
        )
        return goal


def strategic_objective_delete(*, goal: StrategicObjective, user: User | None) -> None:
    with editability.editing(goal.cycle_id):
        _delete(
            goal,
            user=user,
            dependents=goal.objectives.all(),
            refusal=(
                "All'obiettivo strategico sono collegati degli obiettivi: eliminarli o "
                "collegarli a un altro obiettivo strategico prima di eliminarlo."
            ),
            audit="Obiettivo strategico eliminato dal Piano.",
        )


# --------------------------------------------------------------------------------- objectives


def _objective_values(
    *,
    cycle: Cycle,
    kind: str,
    title: str,
    strategic_objective: StrategicObjective | None,
    position: Position | None,
) -> dict:
    errors = {}
    if kind not in Objective.Kind.values:
        errors["kind"] = f"Tipo di obiettivo «{kind}» non valido."
    if not _text(title):
        errors["title"] = "Indicare il titolo dell'obiettivo."
    if strategic_objective is not None and strategic_objective.cycle_id != cycle.id:
        errors["strategic_objective"] = "L'obiettivo strategico non appartiene al ciclo."
    if position is not None and position.cycle_id != cycle.id:
        errors["position"] = "La posizione non appartiene al ciclo."
    if kind == Objective.Kind.STRATEGIC and strategic_objective is None:
        errors["strategic_objective"] = (
            "Un obiettivo strategico va collegato al suo obiettivo strategico codificato (1.1…)."
        )
    if kind == Objective.Kind.INDIVIDUAL and position is None:
        errors["position"] = "Un obiettivo individuale richiede la posizione."
    if kind != Objective.Kind.INDIVIDUAL and position is not None:
        errors["position"] = "Solo gli obiettivi individuali hanno una posizione."
    if errors:
        raise ValidationError(errors)
    return {
        "kind": kind,
        "title": _text(title),
        "strategic_objective": strategic_objective,
        "position": position,
    }


def objective_create(
    *,
    cycle: Cycle,
    user: User | None,
    kind: str,
    title: str,
    code: str = "",
    strategic_objective: StrategicObjective | None = None,
    position: Position | None = None,
    weight: Any = 1,
) -> Objective:
    with editability.editing(cycle):
        values = _objective_values(
            cycle=cycle,
            kind=kind,
            title=title,
            strategic_objective=strategic_objective,
            position=position,
        )
        return _create(
            Objective,
            user=user,
            audit="Obiettivo aggiunto al Piano",
            cycle=cycle,
            code=_text(code),
            weight=_weight(weight),
            order=_next_order(Objective.objects.filter(cycle=cycle)),
            **values,
        )


def objective_update(
    *,
    objective: Objective,
    user: User | None,
    kind: str,
    title: str,
    code: str = "",
    strategic_objective: StrategicObjective | None = None,
    position: Position | None = None,
    weight: Any = 1,
    seen: Mapping[str, str] | None = None,
) -> Objective:
    with _editing_objective(objective):
        values = _objective_values(
            cycle=objective.cycle,
            kind=kind,
            title=title,
            strategic_objective=strategic_objective,
            position=position,
        )
        values.update(code=_text(code), weight=_weight(weight))
        _update(objective, values, user=user, seen=seen, check=_objective_check)
        return objective


def _objective_check(objective: Objective) -> None:
    """The kind, strategic objective and position of an objective go together (checked again
    after a merge with someone else's changes)."""
    _objective_values(
        cycle=objective.cycle,
        kind=objective.kind,
        title=objective.title,
        strategic_objective=objective.strategic_objective,
        position=objective.position,
    )


def objective_delete(*, objective: Objective, user: User | None) -> None:
    with _editing_objective(objective):
        _delete(
            objective,
            user=user,
            dependents=objective.indicators.all(),
            refusal=(
                "L'obiettivo ha indicatori: eliminarli prima di eliminare l'obiettivo "
                "(per toglierlo dalla misurazione dopo l'approvazione del Piano, neutralizzarlo)."
            ),
        )


# ---------------------------------------------------------------------------------- indicators

INDICATOR_FIELDS = (  # what indicator_create/indicator_update take (and the form edits)
    "name",
    "unit_of_measure",
    "direction",
    "baseline_value",
    "baseline_year",
    "baseline_text",
    "source",
    "notes",
)


def _indicator_values(values: Mapping[str, Any]) -> dict:
    unknown = set(values) - set(INDICATOR_FIELDS)
    if unknown:
        raise TypeError(f"campi sconosciuti: {', '.join(sorted(unknown))}")
    out = {
        "name": _text(values.get("name")),
        "unit_of_measure": _text(values.get("unit_of_measure")),
        "direction": values.get("direction") or Indicator.Direction.HIGHER,
        "baseline_value": values.get("baseline_value"),
        "baseline_year": values.get("baseline_year"),
        "baseline_text": _text(values.get("baseline_text")),
        "source": _text(values.get("source")),
        "notes": _text(values.get("notes")),
    }
    errors = {}
    if not out["name"]:
        errors["name"] = "Indicare il nome dell'indicatore."
    if out["direction"] not in Indicator.Direction.values:
        errors["direction"] = f"Direzione «{out['direction']}» non valida."
    if out["baseline_value"] is not None:
        try:
            out["baseline_value"] = scoring.dec(out["baseline_value"], "valore di partenza")
        except scoring.ScoringError as error:
            errors["baseline_value"] = str(error)
    year = out["baseline_year"]
    if year is not None and not (1990 <= int(year) <= 2100):
        errors["baseline_year"] = "Anno di partenza non valido."
    if errors:
        raise ValidationError(errors)
    return out


def indicator_create(*, objective: Objective, user: User | None, **values: Any) -> Indicator:
    """Create an indicator (fields: name, unit_of_measure, direction, baseline_value,
    baseline_year, baseline_text, source, notes)."""
    with _editing_objective(objective):
        cleaned = _indicator_values(values)
        return _create(
            Indicator,
            user=user,
            audit="Indicatore aggiunto al Piano",
            objective=objective,
            order=_next_order(Indicator.objects.filter(objective=objective)),
            **cleaned,
        )


def indicator_update(
    *,
    indicator: Indicator,
    user: User | None,
    seen: Mapping[str, str] | None = None,
    **values: Any,
) -> Indicator:
    with _editing_objective(indicator.objective):
        cleaned = _indicator_values(values)
        _update(indicator, cleaned, user=user, seen=seen)
        return indicator


def indicator_delete(*, indicator: Indicator, user: User | None) -> None:
    with _editing_objective(indicator.objective):
        _delete(
            indicator,
            user=user,
            dependents=indicator.targets.all(),
            refusal="L'indicatore ha dei target: eliminarli prima di eliminare l'indicatore.",
        )


# ------------------------------------------------------------------------------------- targets


def _target_values(
    *,
    cycle: Cycle,
    unit: Unit | None,
    office: Unit | None,
    text: str,
    rule: Mapping,
    weight: Any,
    notes: str,
) -> dict:
    errors = {}
    for field, value, what in (("unit", unit, "L'unità"), ("office", office, "L'ufficio")):
        if value is not None and value.cycle_id != cycle.id:
            errors[field] = f"{what} non appartiene al ciclo {cycle.year}."
    if not _text(text):
        errors["text"] = "Indicare il target come approvato nel Piano."
    try:
        normalized = _rule_json(rule)
    except scoring.ScoringError as error:
        errors["rule"] = str(error)
    try:
        weight = _weight(weight)
    except ValidationError as error:
        errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    return {
        "unit": unit,
        "office": office,
        "text": _text(text),
        "rule": normalized,
        "weight": weight,
        "notes": _text(notes),
    }


def target_create(
    *,
    indicator: Indicator,
    user: User | None,
    text: str,
    rule: Mapping,
    unit: Unit | None = None,
    office: Unit | None = None,
    weight: Any = 1,
    notes: str = "",
) -> Target:
    """A new scored row of ``indicator``: for ``unit`` (None: the Ente figure)."""
    with _editing_objective(indicator.objective):
        values = _target_values(
            cycle=indicator.objective.cycle,
            unit=unit,
            office=office,
            text=text,
            rule=rule,
            weight=weight,
            notes=notes,
        )
        return _create(
            Target,
            user=user,
            audit="Target aggiunto al Piano",
            indicator=indicator,
            order=_next_order(Target.objects.filter(indicator=indicator)),
            **values,
        )


def target_update(
    *,
    target: Target,
    user: User | None,
    text: str,
    rule: Mapping,
    unit: Unit | None = None,
    office: Unit | None = None,
    weight: Any = 1,
    notes: str = "",
    seen: Mapping[str, str] | None = None,
) -> Target:
    """Correct a target while the plan is being written (a change after approval is a revision:
    ``target_revise``, which keeps the original)."""
    with _editing_objective(target.indicator.objective):
        values = _target_values(
            cycle=target.indicator.objective.cycle,
            unit=unit,
            office=office,
            text=text,
            rule=rule,
            weight=weight,
            notes=notes,
        )
        _update(target, values, user=user, seen=seen)
        return target


def target_delete(*, target: Target, user: User | None) -> None:
    with _editing_objective(target.indicator.objective):
        _delete(
            target,
            user=user,
            dependents=target.actuals.all(),
            refusal=(
                "Il target ha valori rilevati: non può essere eliminato (si può escluderlo dalla "
                "misurazione con un motivo, o neutralizzare l'obiettivo)."
            ),
        )


# ------------------------------------------------------------------------ units and documents


def unit_update(
    *,
    unit: Unit,
    user: User | None,
    aggregation: str,
    weight: Any,
    seen: Mapping[str, str] | None = None,
) -> Unit:
    """The unit's aggregation method ("" = the cycle's default for its kind) and weight."""
    with editability.editing(unit.cycle_id):
        aggregation = aggregation or ""
        if aggregation not in Unit.Aggregation.values:
            raise ValidationError(
                {"aggregation": f"Metodo di aggregazione «{aggregation}» non valido."}
            )
        _update(unit, {"aggregation": aggregation, "weight": _weight(weight)}, user=user, seen=seen)
        return unit


def plan_document_create(
    *,
    cycle: Cycle,
    user: User | None,
    number: str,
    date: dt.date | None,
    kind: str = PlanDocument.Kind.AGGIORNAMENTO,
    title: str = "",
    body: str = "Giunta Camerale",
) -> PlanDocument:
    """A deliberation of the cycle (by default a plan update); an identical one (same kind,
    number and date) is reused."""
    number = _text(number)
    errors = {}
    if kind not in PlanDocument.Kind.values:
        errors["kind"] = f"Tipo di documento «{kind}» non valido."
    if not number:
        errors["document_number"] = "Indicare il numero della deliberazione."
    if date is None:
        errors["document_date"] = "Indicare la data della deliberazione (gg/mm/aaaa)."
    if errors:
        raise ValidationError(errors)
    existing = PlanDocument.objects.filter(cycle=cycle, kind=kind, number=number, date=date).first()
    if existing is not None:
        return existing
    if not _text(title):
        label = PlanDocument.Kind(kind).label
        title = f"{label} {cycle.year}"
    base = slugify(f"{kind}-{number}-{date:%Y%m%d}")[:40] or kind
    key, suffix = base, 1
    taken = set(PlanDocument.objects.filter(cycle=cycle).values_list("key", flat=True))
    while key in taken:
        suffix += 1
        key = f"{base}-{suffix}"
    with transaction.atomic():
        return _create(
            PlanDocument,
            user=user,
            audit="Deliberazione registrata.",
            cycle=cycle,
            key=key,
            kind=kind,
            title=_text(title),
            body=_text(body),
            number=number,
            date=date,
        )


def _update_document(
    *,
    cycle: Cycle,
    user: User | None,
    document: PlanDocument | None,
    document_number: str,
    document_date: dt.date | None,
) -> PlanDocument:
    """The deliberation of a plan update: the chosen one, or a new one from number and date."""
    if document is not None:
        if document.cycle_id != cycle.id:
            raise ValidationError({"document": "La deliberazione non appartiene al ciclo."})
        if document.kind != PlanDocument.Kind.AGGIORNAMENTO:
            raise ValidationError(
                {"document": "Scegliere una deliberazione di aggiornamento del Piano."}
            )
        return document
    if not _text(document_number) and document_date is None:
        raise ValidationError(
            {
                "document": "Indicare la deliberazione di aggiornamento del Piano, oppure numero "
                "e data di una nuova deliberazione."
            }
        )
    return plan_document_create(cycle=cycle, user=user, number=document_number, date=document_date)


# -------------------------------------------------------------------------------- plan update


def target_revise(
    *,
    target: Target,
    user: User | None,
    text: str,
    rule: Mapping,
    reason: str,
    document: PlanDocument | None = None,
    document_number: str = "",
    document_date: dt.date | None = None,
) -> Target:
    """Revise an approved target by the plan update (aggiornamento).

    The target as first approved is kept in ``original_text``/``original_rule`` (set by the first
    revision only: a second revision keeps the first original); ``revised_by`` is the
    deliberation (chosen, or created from number and date); the reason is the change reason of
    the history record.
    """
    with _editing_objective(target.indicator.objective):
        cycle = target.indicator.objective.cycle
        reason = _text(reason)
        text = _text(text)
        errors = {}
        if not reason:
            errors["reason"] = "Indicare il motivo della revisione del target."
        if not text:
            errors["text"] = "Indicare il nuovo target come approvato nell'aggiornamento."
        try:
            normalized = _rule_json(rule)
        except scoring.ScoringError as error:
            errors["rule"] = str(error)
            normalized = None
        if normalized is not None and text == target.text and normalized == target.rule:
            errors["text"] = "Il nuovo target è uguale a quello attuale: nulla da rivedere."
        if errors:
            raise ValidationError(errors)
        document = _update_document(
            cycle=cycle,
            user=user,
            document=document,
            document_number=document_number,
            document_date=document_date,
        )
        target = Target.objects.select_for_update().get(pk=target.pk)
        fields = ["text", "rule", "revised_by"]
        if not target.original_text and target.original_rule is None:
            target.original_text = target.text
            target.original_rule = target.rule
            fields += ["original_text", "original_rule"]
        target.text = text
        target.rule = normalized
        target.revised_by = document
        _save(target, user=user, fields=fields, reason=f"Revisione ({document}): {reason}")
        return target


def objective_neutralize(
    *,
    objective: Objective,
    user: User | None,
    reason: str,
    document: PlanDocument | None = None,
    document_number: str = "",
    document_date: dt.date | None = None,
) -> Objective:
    """Neutralize an objective by the plan update: it leaves every average (the engine lists it
    with the reason, never as 0)."""
    with _editing_objective(objective):
        reason = _text(reason)
        if objective.status == Objective.Status.NEUTRALIZED:
            raise ValidationError("L'obiettivo è già neutralizzato.")
        if not reason:
            raise ValidationError({"reason": "Indicare il motivo della neutralizzazione."})
        document = _update_document(
            cycle=objective.cycle,
            user=user,
            document=document,
            document_number=document_number,
            document_date=document_date,
        )
        objective.status = Objective.Status.NEUTRALIZED
        objective.neutralization_reason = reason
        objective.neutralized_by = document
        _save(
            objective,
            user=user,
            fields=["status", "neutralization_reason", "neutralized_by"],
            reason=f"Neutralizzazione ({document}): {reason}",
        )
        return objective


# ---------------------------------------------------------------------------- measurement rules

_RULE_SECTIONS = (
    "rounding",
    "roll_up_uses_rounded",
    "lateness",
    "bands",
    "aggregation",
    "weight_total",
)


def _rules_parse(data: Mapping) -> scoring.Rules:
    try:
        return scoring.Rules.from_dict(data)
    except scoring.ScoringError as error:
        raise ValidationError(str(error)) from error
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValidationError(f"regole non valide ({error})") from error


def rules_validate(rules: Mapping) -> scoring.Rules:
    """The cycle's measurement rules, checked by scoring.Rules.from_dict section by section, so
    that each message names its section (ValidationError keyed by section)."""
    if not isinstance(rules, Mapping):
        raise ValidationError("Le regole di misurazione devono essere una mappa.")
    errors: dict[str, list[str]] = {}
    unknown = set(rules) - set(_RULE_SECTIONS)
    if unknown:
        errors["__all__"] = [f"Sezioni sconosciute: {', '.join(sorted(unknown))}."]
    for section in _RULE_SECTIONS:
        if section in rules:
            try:
                _rules_parse({section: rules[section]})
            except ValidationError as error:
                errors[section] = error.messages
    if errors:
        raise ValidationError(errors)
    return _rules_parse(rules)


def cycle_rules_update(*, cycle: Cycle, user: User | None, rules: Mapping) -> Cycle:
    """Replace the cycle's measurement rules (the SMVP as data), validated by
    scoring.Rules.from_dict and stored in its normal form (Rules.to_dict)."""
    with editability.editing(cycle, for_update=True):
        parsed = rules_validate(rules)
        cycle.rules = parsed.to_dict()
        _save(
            cycle,
            user=user,
            fields=["rules", "updated_at"],
            reason="Regole di misurazione modificate",
        )
        return cycle


# ------------------------------------------------------------------------- starting next year

_YEAR = re.compile(r"(?<!\d)(19|20)\d{2}(?!\d)")


def _next_year_date(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return dt.date(day.year + 1, 2, 28)


def _shift_years(text: str, years: set[int]) -> str:
    """Every mention of one of ``years`` in ``text`` one year later ("entro il 31.07.2019")."""
    if not years or not text:
        return text

    def replace(match: re.Match) -> str:
        year = int(match.group(0))
        return str(year + 1) if year in years else match.group(0)

    return _YEAR.sub(replace, text)


def _date_keys(rule: Mapping) -> tuple[str, ...]:
    """The keys of a rule's dates (a deadline's "due"; each kind's module in performance/rules/)."""
    kind = rule.get("kind")
    found = RULES.get(kind) if isinstance(kind, str) else None
    return tuple(p.key for p in found.params if p.kind == "date") if found else ()


def _rule_dues(rule: Any) -> set[int]:
    if not isinstance(rule, Mapping):
        return set()
    dates = _date_keys(rule)
    if dates:
        return {dt.date.fromisoformat(str(rule[key])).year for key in dates if rule.get(key)}
    if rule.get("kind") == "multi":
        return {year for part in rule.get("parts") or [] for year in _rule_dues(part)}
    return set()


def _rule_next_year(rule: Any) -> Any:
    """The rule with every deadline one year later."""
    if not isinstance(rule, Mapping):
        return rule
    out = dict(rule)
    for key in _date_keys(out):
        if out.get(key):
            out[key] = _next_year_date(dt.date.fromisoformat(str(out[key]))).isoformat()
    if out.get("kind") == "multi":
        years = _rule_dues(out)
        out["parts"] = [_rule_next_year(part) for part in out.get("parts") or []]
        out["labels"] = [_shift_years(str(label), years) for label in out.get("labels") or []]
    return out


def _baseline_text(indicator: Indicator, actual: Mapping, target: Target, year: int) -> dict:
    """Next year's baseline from this year's value: "n. 90 nel 2019"."""
    number = actual.get("value_number")
    uom = indicator.unit_of_measure.strip()
    if number is not None:
        figure = scoring.fmt(number)
        if uom == "%":
            text = f"{figure}%"
        elif uom.lower() in ("n.", "n", "num.", "numero"):
            text = f"{uom} {figure}"
        elif uom and uom.lower() != "data":
            text = f"{figure} {uom}"
        else:
            text = figure
        return {
            "baseline_value": number,
            "baseline_year": year,
            "baseline_text": f"{text} nel {year}",
        }
    if actual.get("value_date") is not None:
        text = f"realizzato il {scoring.fmt_date(actual['value_date'])}"
    elif actual.get("value_k") is not None:
        n = actual.get("value_n") or (target.rule or {}).get("n")
        total = f" su {scoring.fmt(scoring.dec(n))}" if n is not None else ""
        text = f"{scoring.fmt(actual['value_k'])}{total} nel {year}"
    elif actual.get("value_done") is not None:
        text = f"{'realizzato' if actual['value_done'] else 'non realizzato'} nel {year}"
    elif actual.get("text"):
        text = f"{actual['text']} nel {year}"
    else:
        return {}
    return {"baseline_value": None, "baseline_year": year, "baseline_text": text[:300]}


def cycle_start_next(*, cycle: Cycle, user: User | None) -> Cycle:
    """Start next year's cycle from this one, in one transaction.

    Copied: the organization structure (units tree with referents, positions), the measurement
    periods one year later, perspectives, strategic objectives, objectives (not the neutralized
    ones), indicators and targets (deadlines one year later, with the year in the text; original
    and revision cleared; repeated rows dropped; every row measured; report notes and published
    figures cleared). Not copied: deliberations (a new year has new ones), actuals, stated
    figures. This year's final values become next year's baselines (the Ente-level target's, or
    the only target's). Refused if next year's cycle exists.
    """
    year = cycle.year + 1
    if Cycle.objects.filter(organization_id=cycle.organization_id, year=year).exists():
        raise ValidationError(f"Il ciclo {year} esiste già: non può essere avviato di nuovo.")
    reason = f"Avvio del ciclo {year} dal ciclo {cycle.year}"
    try:
        with transaction.atomic():
            new = _start_next(cycle=cycle, user=user, year=year, reason=reason)
    except IntegrityError as error:
        if Cycle.objects.filter(organization_id=cycle.organization_id, year=year).exists():
            # started at the same moment by someone else
            raise ValidationError(
                f"Il ciclo {year} esiste già: non può essere avviato di nuovo."
            ) from error
        raise
    return new


def _start_next(*, cycle: Cycle, user: User | None, year: int, reason: str) -> Cycle:
    title_years = set(range(cycle.year - 5, cycle.year + 6))
    new = Cycle(
        organization_id=cycle.organization_id,
        year=year,
        title=_shift_years(cycle.title, title_years),
        status=Cycle.Status.PLANNING,
        rules=cycle.rules,
    )
    _save(new, user=user, fields=None, reason=reason)

    periods = list(MeasurementPeriod.objects.filter(cycle=cycle).order_by("end_date"))
    MeasurementPeriod.objects.bulk_create(
        MeasurementPeriod(
            cycle=new,
            key=p.key,
            name=_shift_years(p.name, {cycle.year, p.end_date.year}),
            end_date=_next_year_date(p.end_date),
            is_final=p.is_final,
        )
        for p in periods
    )

    # units, parents before children (one insert per level of the tree)
    units = list(Unit.objects.filter(cycle=cycle).order_by("order", "id"))
    unit_map: dict[int, Unit] = {}
    level = [u for u in units if u.parent_id is None]
    while level:
        copies = [
            Unit(
                cycle=new,
                parent=unit_map.get(u.parent_id) if u.parent_id else None,
                key=u.key,
                name=u.name,
                kind=u.kind,
                aggregation=u.aggregation,
                weight=u.weight,
                offices=u.offices,
                order=u.order,
            )
            for u in level
        ]
        Unit.objects.bulk_create(copies)
        unit_map.update({u.id: c for u, c in zip(level, copies, strict=True)})
        ids = {u.id for u in level}
        level = [u for u in units if u.parent_id in ids]
    through = Unit.referents.through
    through.objects.bulk_create(
        through(unit_id=unit_map[r.unit_id].id, user_id=r.user_id)
        for r in through.objects.filter(unit__cycle=cycle)
    )

    positions = list(Position.objects.filter(cycle=cycle).order_by("order", "id"))
    position_copies = [
        Position(
            cycle=new,
            key=p.key,
            kind=p.kind,
            title=p.title,
            holder=p.holder,
            unit=unit_map.get(p.unit_id) if p.unit_id else None,
            weight=p.weight,
            order=p.order,
        )
        for p in positions
    ]
    Position.objects.bulk_create(position_copies)
    position_map = {p.id: c for p, c in zip(positions, position_copies, strict=True)}

    perspectives = list(Perspective.objects.filter(cycle=cycle).order_by("order", "code"))
    perspective_copies = [
        Perspective(cycle=new, code=p.code, name=p.name, weight=p.weight, order=p.order)
        for p in perspectives
    ]
    Perspective.objects.bulk_create(perspective_copies)
    perspective_map = {p.id: c for p, c in zip(perspectives, perspective_copies, strict=True)}
    goals = list(StrategicObjective.objects.filter(cycle=cycle).order_by("order", "code"))
    goal_copies = [
        StrategicObjective(
            cycle=new,
            perspective=perspective_map[g.perspective_id],
            code=g.code,
            title=g.title,
            weight=g.weight,
            order=g.order,
        )
        for g in goals
    ]
    StrategicObjective.objects.bulk_create(goal_copies)
    goal_map = {g.id: c for g, c in zip(goals, goal_copies, strict=True)}

    objectives = list(
        Objective.objects.filter(cycle=cycle, status=Objective.Status.ACTIVE).order_by(
            "kind", "order", "id"
        )
    )
    objective_copies = [
        Objective(
            cycle=new,
            kind=o.kind,
            strategic_objective=goal_map.get(o.strategic_objective_id),
            position=position_map.get(o.position_id),
            code=o.code,
            title=o.title,
            weight=o.weight,
            order=o.order,
        )
        for o in objectives
    ]
    bulk_create_with_history(
        objective_copies, Objective, default_user=user, default_change_reason=reason
    )
    objective_map = {o.id: c for o, c in zip(objectives, objective_copies, strict=True)}

    indicators = list(
        Indicator.objects.filter(objective_id__in=objective_map).order_by(
            "objective_id", "order", "id"
        )
    )
    targets = list(
        Target.objects.filter(indicator__in=indicators, is_duplicate=False).order_by(
            "indicator_id", "order", "id"
        )
    )
    final = MeasurementPeriod.objects.filter(cycle=cycle, is_final=True).first()
    actuals = {}
    if final is not None:
        actuals = {
            a["target_id"]: a
            for a in Actual.objects.filter(period=final, target__in=targets).values(
                "target_id",
                "value_number",
                "value_date",
                "value_done",
                "value_k",
                "value_n",
                "text",
            )
        }
    targets_by_indicator: dict[int, list[Target]] = defaultdict(list)
    for target in targets:
        targets_by_indicator[target.indicator_id].append(target)

    indicator_copies = []
    for i in indicators:
        copy = Indicator(
            objective=objective_map[i.objective_id],
            name=i.name,
            unit_of_measure=i.unit_of_measure,
            direction=i.direction,
            baseline_value=i.baseline_value,
            baseline_year=i.baseline_year,
            baseline_text=i.baseline_text,
            source=i.source,
            notes=i.notes,
            order=i.order,
        )
        rows = targets_by_indicator.get(i.id, [])
        ente = [t for t in rows if t.unit_id is None]
        source = ente[0] if ente else (rows[0] if len(rows) == 1 else None)
        if source is not None and source.id in actuals:
            for name, value in _baseline_text(i, actuals[source.id], source, cycle.year).items():
                setattr(copy, name, value)
        indicator_copies.append(copy)
    bulk_create_with_history(
        indicator_copies, Indicator, default_user=user, default_change_reason=reason
    )
    indicator_map = {i.id: c for i, c in zip(indicators, indicator_copies, strict=True)}

    target_copies = [
        Target(
            indicator=indicator_map[t.indicator_id],
            unit=unit_map.get(t.unit_id) if t.unit_id else None,
            office=unit_map.get(t.office_id) if t.office_id else None,
            text=_shift_years(t.text, _rule_dues(t.rule)),
            rule=_rule_next_year(t.rule),
            weight=t.weight,
            order=t.order,
        )
        for t in targets
    ]
    bulk_create_with_history(target_copies, Target, default_user=user, default_change_reason=reason)
    return new
