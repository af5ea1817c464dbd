"""Workspace views: entering actuals ("Valori").

- ``entry-index``: the units this user may enter (all of them, read-only, for the OIV), with a
  link and the completeness for every measurement period;
- ``entry-form``: one form per unit and period, all or nothing (controllo di gestione: every
  unit; a referent: their units; the OIV: read-only; anyone else: 403);
- ``entry-preview``: POST (JSON, CSRF-protected) a target and the raw inputs of its row, get the
  achievement and its formula as the engine computes them, or the Italian error per input. A
  malformed body (not JSON, NaN/Infinity, too deep or too large, wrong types) is a 400 in JSON
  with an Italian message.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_http_methods, require_POST

from organization import editability, permissions
from organization.models import MeasurementPeriod, Unit
from performance import json_input, parsing, scoring, selectors_entry
from performance.forms import (
    FormGroup,
    FormRow,
    UnitValuesForm,
    actual_display,
    conflict_initial,
    parse_row,
)
from performance.models import Target
from performance.services.actuals import actual_fields
from performance.services.entry import (
    UnitValuesConflict,
    UnitValuesInvalid,
    cycle_accepts_values,
    unit_values_record,
)
from performance.views.common import cycle_for, persona_required


@persona_required
def entry_index(request: HttpRequest, year: int) -> HttpResponse:
    cycle = cycle_for(request, year)
    unit_ids = permissions.editable_unit_ids(request.user, cycle)
    read_only = permissions.is_oiv(request.user) and unit_ids is not None
    if read_only:
        unit_ids = None
    periods, units = selectors_entry.entry_overview(cycle=cycle, unit_ids=unit_ids)
    return render(
        request,
        "workspace/entry_index.html",
        {"cycle": cycle, "periods": periods, "units": units, "read_only": read_only},
    )


def _unit_and_period(request: HttpRequest, year: int, unit_key: str, period_key: str):
    cycle = cycle_for(request, year)
    unit = get_object_or_404(Unit, cycle=cycle, key=unit_key)
    unit.cycle = cycle  # already loaded (with its organization)
    period = get_object_or_404(MeasurementPeriod, cycle=cycle, key=period_key)
    return cycle, unit, period


@persona_required
@require_http_methods(["GET", "POST"])
def entry_form(request: HttpRequest, year: int, unit_key: str, period_key: str) -> HttpResponse:
    cycle, unit, period = _unit_and_period(request, year, unit_key, period_key)
    may_enter = permissions.can_enter_values(request.user, unit)
    if not may_enter and not permissions.is_oiv(request.user):
        raise PermissionDenied("Questa unità non è tra quelle assegnate all'utente.")
    editable = may_enter and cycle_accepts_values(cycle)
    scope = editability.edit_scope(cycle, fresh=False)
    rules = scoring.Rules.from_dict(cycle.rules)
    groups = selectors_entry.unit_entry(unit=unit, period=period, rules=rules)
    editability.mark_entry_rows(groups, scope)  # returned by the OIV: only what it reopened
    conflicts: set[int] = set()
    status = 200
    if request.method == "POST":
        if not editable:
            raise PermissionDenied("I valori di questa unità non sono modificabili dall'utente.")
        form = UnitValuesForm(request.POST, groups=groups, year=cycle.year)
        if form.is_valid():
            try:
                result = unit_values_record(
                    unit=unit, period=period, user=request.user, rows=form.rows_to_save
                )
            except UnitValuesInvalid as error:
                form.add_row_errors(error.row_errors)
                status = 400
            except UnitValuesConflict as error:
                # Nothing saved: show the form again with what was typed, the stored values
                # (read again) and the versions they now have.
                groups = selectors_entry.unit_entry(unit=unit, period=period, rules=rules)
                editability.mark_entry_rows(groups, scope)
                current = {c.row.target_id: c.current for c in error.conflicts}
                form = UnitValuesForm(
                    groups=groups, initial=conflict_initial(request.POST, current), year=cycle.year
                )
                conflicts = set(current)
                status = 409
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
                status = 400
            else:
                messages.success(request, _saved_message(result))
                return redirect(request.path)
        else:
            status = 400
    else:
        form = UnitValuesForm(groups=groups, year=cycle.year) if editable else None
    context = {
        "cycle": cycle,
        "unit": unit,
        "period": period,
        "periods": MeasurementPeriod.objects.filter(cycle=cycle).order_by("end_date", "id"),
        "editable": editable,
        "may_enter": may_enter,
        "read_only_reason": scope.values_refusal(),
        "reopened_only": scope.is_partial,
        "form": form,
        "groups": form.form_groups(conflicts=conflicts) if form else _read_only(groups),
        "errors": form.error_summary() if form is not None and form.is_bound else [],
        "conflicts": conflicts,
        "preview_url": reverse("workspace:entry-preview", args=[cycle.year]),
    }
    return render(request, "workspace/entry_form.html", context, status=status)


def _read_only(groups: list[selectors_entry.EntryObjective]) -> list[FormGroup]:
    return [
        FormGroup(
            objective=group.objective,
            rows=[
                FormRow(entry=row, stored=actual_display(row.target.rule, row.actual))
                for row in group.rows
            ],
        )
        for group in groups
    ]


def _saved_message(result) -> str:
    created, updated = len(result.created), len(result.updated)
    if not created and not updated:
        return "Nessun valore modificato."
    parts = []
    if created:
        parts.append(f"{created} {'nuovo' if created == 1 else 'nuovi'}")
    if updated:
        parts.append(f"{updated} {'modificato' if updated == 1 else 'modificati'}")
    return f"Valori salvati ({', '.join(parts)}): le percentuali sotto sono ricalcolate."


# The preview's body: a row's inputs (an override's reason is at most 2,000 characters).
PREVIEW_MAX_BYTES = 32 * 1024
PREVIEW_MAX_INPUTS = 100
PREVIEW_MAX_INPUT_CHARS = 4000
MAX_ID = 2**63 - 1  # a BigAutoField
_ID = re.compile(r"[0-9]{1,19}")


class _BadPreview(ValueError):
    """A malformed preview request; the message is Italian."""


def _preview_payload(request: HttpRequest) -> tuple[int, dict[str, Any]]:
    """(target id, inputs) of the preview's body, checked: or _BadPreview."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > PREVIEW_MAX_BYTES:  # refused before reading it
        raise _BadPreview(f"corpo troppo grande (al massimo {PREVIEW_MAX_BYTES // 1024} KB)")
    try:
        payload = json_input.loads(request.body or b"{}", max_bytes=PREVIEW_MAX_BYTES)
    except json_input.JSONInputError as error:
        raise _BadPreview(str(error)) from None
    if not isinstance(payload, dict):
        raise _BadPreview('attesi un oggetto JSON {"target": ..., "inputs": {...}}')
    target = payload.get("target")
    if isinstance(target, str) and _ID.fullmatch(target):
        target = int(target)  # the page's script sends the id as a string
    if isinstance(target, bool) or not isinstance(target, int) or not 0 < target <= MAX_ID:
        raise _BadPreview("«target» dev'essere il numero di un target")
    inputs = payload.get("inputs")
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, dict) or len(inputs) > PREVIEW_MAX_INPUTS:
        raise _BadPreview("«inputs» dev'essere un oggetto con i campi della riga")
    for name, value in inputs.items():
        if value is not None and not isinstance(value, str | bool):
            raise _BadPreview(f"«inputs.{name[:40]}» dev'essere un testo")
        if isinstance(value, str) and len(value) > PREVIEW_MAX_INPUT_CHARS:
            raise _BadPreview(f"«inputs.{name[:40]}» è troppo lungo")
    return target, inputs


@persona_required
@require_POST
def entry_preview(request: HttpRequest, year: int) -> JsonResponse:
    """{"target": id, "inputs": {"value": "4,6", "override_pct": "", ...}} -> the achievement."""
    cycle = cycle_for(request, year)
    try:
        target_id, inputs = _preview_payload(request)
    except _BadPreview as error:
        return JsonResponse(
            {"ok": False, "message": f"Richiesta non valida: {error}.", "errors": {}}, status=400
        )
    target = get_object_or_404(
        Target.objects.select_related("indicator__objective", "unit__cycle"),
        pk=target_id,
        indicator__objective__cycle=cycle,
    )
    unit = selectors_entry.target_unit(target=target, cycle=cycle)
    if unit is None or not permissions.can_enter_values(request.user, unit):
        raise PermissionDenied("Questa unità non è tra quelle assegnate all'utente.")
    rules = scoring.Rules.from_dict(cycle.rules)
    reason = selectors_entry.target_reason(target)
    if reason:
        return JsonResponse({"ok": False, "message": reason, "errors": {}})
    parsed = parse_row(target.rule, inputs, window=parsing.cycle_date_window(cycle.year))
    if parsed.errors:
        return JsonResponse(
            {"ok": False, "errors": parsed.errors, "message": next(iter(parsed.errors.values()))}
        )
    try:  # the service's checks, nothing written
        actual_fields(
            target=target,
            user=None,
            number=parsed.number,
            date=parsed.date,
            done=parsed.done,
            k=parsed.k,
            n=parsed.n,
            parts=parsed.parts,
            override_pct=parsed.override_pct,
            override_reason=parsed.override_reason,
        )
    except ValidationError as error:
        found = error.message_dict if hasattr(error, "error_dict") else {"value": error.messages}
        errors = {k: _capitalized(" ".join(v)) for k, v in found.items()}
        return JsonResponse({"ok": False, "errors": errors, "message": next(iter(errors.values()))})
    except scoring.ScoringError as error:
        errors = {"value": _capitalized(str(error))}
        return JsonResponse({"ok": False, "errors": errors, "message": next(iter(errors.values()))})
    result = selectors_entry.target_row_result(
        target=target,
        value=parsed.value(),
        rules=rules,
        override_pct=parsed.override_pct,
        override_reason=parsed.override_reason,
    )
    return JsonResponse(
        {
            "ok": True,
            "achievement": None if result.achievement is None else str(result.achievement),
            "display": scoring.fmt_pct(result.achievement),
            "formula": result.formula,
            "override": result.override,
            "band": result.band.label if result.band else None,
        }
    )


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


urlpatterns = [
    path("<int:year>/valori/", entry_index, name="entry-index"),
    path("<int:year>/valori/anteprima/", entry_preview, name="entry-preview"),
    path(
        "<int:year>/valori/<slug:unit_key>/<slug:period_key>/",
        entry_form,
        name="entry-form",
    ),
]
