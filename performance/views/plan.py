"""Workspace views: managing the plan (/lavoro/<year>/piano/), see performance/urls.py.

Everyone who may see the cycle reads the plan; only the controllo di gestione changes it
(organization.permissions.can_edit_plan): the others get 403 on every page that writes, GET or
POST. Views are thin: check the permission, validate the form, call a service, redirect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_http_methods, require_POST

from organization import editability, permissions
from organization.models import Cycle, Unit
from performance import forms_plan, selectors_plan
from performance.models import Indicator, Objective, Perspective, StrategicObjective, Target
from performance.services import plan as services
from performance.views.common import cycle_for, persona_required

# ------------------------------------------------------------------------------------ helpers

# where an object stands on the plan page (units: the structure table)
_ANCHORS = {
    Perspective: "prospettiva",
    StrategicObjective: "strategico",
    Objective: "obiettivo",
    Indicator: "indicatore",
    Target: "target",
}

# what the target forms pass to their services (the forms also hold the rule's parts)
_TARGET_FIELDS = ("unit", "office", "text", "rule", "weight", "notes")
_TARGET_UPDATE_FIELDS = (*_TARGET_FIELDS, "seen")
_REVISION_FIELDS = ("text", "rule", "reason", "document", "document_number", "document_date")


def _cycle(request: HttpRequest, year: int, *, edit: bool = True) -> Cycle:
    cycle = cycle_for(request, year)
    if edit and not permissions.can_edit_plan(request.user, cycle):
        raise PermissionDenied("Solo il controllo di gestione può modificare il Piano.")
    return cycle


def _plan_url(cycle: Cycle, anchor: str = "") -> str:
    url = reverse("workspace:plan", args=[cycle.year])
    return f"{url}#{anchor}" if anchor else url


def _anchor(obj: models.Model) -> str:
    if isinstance(obj, Unit):
        return "struttura"
    return f"{_ANCHORS[obj._meta.model]}-{obj.pk}"


def _render(request: HttpRequest, template: str, cycle: Cycle, **context) -> HttpResponse:
    return render(
        request,
        f"workspace/{template}",
        {"cycle": cycle, "plan_url": _plan_url(cycle), **context},
    )


def _initial(obj: models.Model, names: Iterable[str]) -> dict:
    """The current values of ``obj``'s fields ``names`` (a foreign key by its id), e.g. those of
    the form that changes it."""
    return {name: getattr(obj, obj._meta.get_field(name).attname) for name in names}


def _pick(data: dict, names: tuple[str, ...]) -> dict:
    return {name: data[name] for name in names}


def _objective(cycle: Cycle, pk: int) -> Objective:
    return get_object_or_404(Objective.objects.select_related("cycle"), pk=pk, cycle=cycle)


def _indicator(cycle: Cycle, pk: int) -> Indicator:
    return get_object_or_404(
        Indicator.objects.select_related("objective__cycle"), pk=pk, objective__cycle=cycle
    )


def _target(cycle: Cycle, pk: int) -> Target:
    return get_object_or_404(
        Target.objects.select_related(
            "indicator__objective__cycle", "unit", "office", "revised_by"
        ),
        pk=pk,
        indicator__objective__cycle=cycle,
    )


def _submit(
    request: HttpRequest,
    cycle: Cycle,
    form: forms_plan.PlanForm,
    *,
    save: Callable[[dict], Any],
    message: str | Callable[[Any], str],
    url: Callable[[Any], str] | None = None,
) -> HttpResponse | None:
    """On a valid POST: ``save`` the cleaned data through the service, say so and redirect to
    the saved object on the plan page (or to ``url(saved)``). None otherwise: the page shows the
    form again, with the service's objections next to the fields they name (after a concurrent
    change: the values as typed, with the lock renewed, so that saving again replaces it)."""
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        saved = save(form.cleaned_data)
    except services.PlanConflictError as error:
        form.renew_seen(error.current)
        form.add_service_errors(error)
        return None
    except ValidationError as error:
        form.add_service_errors(error)
        return None
    messages.success(request, message if isinstance(message, str) else message(saved))
    return redirect(url(saved) if url else _plan_url(cycle, _anchor(saved)))


def _form_view(
    request: HttpRequest,
    cycle: Cycle,
    *,
    form: forms_plan.PlanForm,
    save: Callable[[dict], Any],
    message: str | Callable[[Any], str],
    url: Callable[[Any], str] | None = None,
    template: str = "plan_form.html",
    **context,
) -> HttpResponse:
    """A page with a plan form: ``_submit``, or the form on ``template`` with ``context``."""
    response = _submit(request, cycle, form, save=save, message=message, url=url)
    if response is None:
        response = _render(request, template, cycle, form=form, **context)
    return response


def _delete(
    request: HttpRequest, cycle: Cycle, obj: models.Model, what: str, delete: Callable[[], None]
) -> HttpResponse:
    """POST: delete through the service, or say why not."""
    try:
        delete()
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
        return redirect(_plan_url(cycle, _anchor(obj)))
    messages.success(request, f"{what} eliminato: «{str(obj)[:80]}».")
    return redirect(_plan_url(cycle))


# -------------------------------------------------------------------------------- the overview


@persona_required
def plan(request: HttpRequest, year: int) -> HttpResponse:
    cycle = _cycle(request, year, edit=False)
    overview = selectors_plan.plan_overview(cycle=cycle)
    may_edit = permissions.can_edit_plan(request.user, cycle)
    scope = editability.edit_scope(cycle, fresh=False)  # submitted to the OIV: read-only
    return _render(
        request,
        "plan_overview.html",
        cycle,
        overview=overview,
        can_edit=may_edit and scope.values,
        can_edit_structure=may_edit and scope.everything,
        can_start_next=may_edit,
        read_only_reason=scope.values_refusal() if may_edit else "",
        reopened_only=may_edit and scope.is_partial,
    )


# -------------------------------------------------------------------------------- perspectives


@persona_required
@require_http_methods(["GET", "POST"])
def perspective_create(request: HttpRequest, year: int) -> HttpResponse:
    cycle = _cycle(request, year)
    return _form_view(
        request,
        cycle,
        form=forms_plan.PerspectiveForm(request.POST or None),
        save=lambda data: services.perspective_create(cycle=cycle, user=request.user, **data),
        message=lambda created: f"Prospettiva «{created}» aggiunta.",
        title="Nuova prospettiva",
    )


@persona_required
@require_http_methods(["GET", "POST"])
def perspective_update(request: HttpRequest, year: int, pk: int) -> HttpResponse:
    cycle = _cycle(request, year)
    perspective = get_object_or_404(Perspective, pk=pk, cycle=cycle)
    initial = _initial(perspective, forms_plan.PerspectiveForm.base_fields)
    return _form_view(
        request,
        cycle,
        form=forms_plan.PerspectiveForm(request.POST or None, initial=initial, editing=perspective),
        save=lambda data: services.perspective_update(
            perspective=perspective, user=request.user, **data
        ),
        message="Prospettiva modificata.",
        title=f"Prospettiva {perspective.code}",
        subject=perspective,
        delete_url=reverse("workspace:plan-perspective-delete", args=[cycle.year, perspective.pk]),
    )


@persona_required
@require_POST
def perspective_delete(request: HttpRequest, year: int, pk: int) -> HttpResponse:
    cycle = _cycle(request, year)
    perspective = get_object_or_404(Perspective, pk=pk, cycle=cycle)
    return _delete(
        request,
        cycle,
        perspective,
        "Prospettiva",
        lambda: services.perspective_delete(perspective=perspective, user=request.user),
    )


# ------------------------------------------------------------------------ strategic objectives


@persona_required
@require_http_methods(["GET", "POST"])
def strategic_create(request: HttpRequest, year: int) -> HttpResponse:
    cycle = _cycle(request, year)
    initial = {}
    if request.GET.get("prospettiva"):
        initial["perspective"] = request.GET["prospettiva"]
    return _form_view(
        request,
        cycle,
        form=forms_plan.StrategicObjectiveForm(request.POST or None, cycle=cycle, initial=initial),
        save=lambda data: services.strategic_objective_create(
            cycle=cycle, user=request.user, **data
        ),
        message=lambda goal: f"Obiettivo strategico {goal.code} aggiunto.",
        title="Nuovo obiettivo strategico",
    )


@persona_required
@require_http_methods(["GET", "POST"])
def strategic_update(request: HttpRequest, year: int, pk: int) -> HttpResponse:
    cycle = _cycle(request, year)
    goal = get_object_or_404(StrategicObjective, pk=pk, cycle=cycle)
    initial = _initial(goal, forms_plan.StrategicObjectiveForm.base_fields)
    return _form_view(
        request,
        cycle,
        form=forms_plan.StrategicObjectiveForm(
            request.POST or None, cycle=cycle, initial=initial, editing=goal
        ),
        save=lambda data: services.strategic_objective_update(goal=goal, user=request.user, **data),
        message=lambda saved: f"Obiettivo strategico {saved.code} modificato.",
        title=f"Obiettivo strategico {goal.code}",
        subject=goal,
        delete_url=reverse("workspace:plan-strategic-delete", args=[cycle.year, goal.pk]),
    )


@persona_required
@require_POST
def strategic_delete(request: HttpRequest, year: int, pk: int) -> HttpResponse:
    cycle = _cycle(request, year)
    goal = get_object_or_404(StrategicObjective, pk=pk, cycle=cycle)
    return _delete(
        request,
        cycle,
        goal,
        "Obiettivo strategico",
        lambda: services.strategic_objective_delete(goal=goal, user=request.user),
    )


# -------------------------------------------------------------------------------- objectives


@persona_required
@require_http_methods(["GET", "POST"])
def objective_create(request: HttpRequest, year: int) -> HttpResponse:
    cycle = _cycle(request, year)
    initial = {"kind": request.GET.get("tipo") or Objective.Kind.OPERATIONAL}
    for param, name in (("strategico", "strategic_objective"), ("posizione", "position")):
        if request.GET.get(param):
            initial[name] = request.GET[param]
    return _form_view(
        request,
        cycle,
        form=forms_plan.ObjectiveForm(request.POST or None, cycle=cycle, initial=initial),
        save=lambda data: services.objective_create(cycle=cycle, user=request.user, **data),
        message="Obiettivo aggiunto: ora si possono aggiungere gli indicatori.",
        url=lambda objective: reverse("workspace:plan-objective", args=[cycle.year, objective.pk]),
        title="Nuovo obiettivo",
    )


@persona_required
@require_http_methods(["GET", "POST"])
def objective_update(request: HttpRequest, year: int, pk: int) -> HttpResponse:
    cycle = _cycle(request, year)
    objective = _objective(cycle, pk)
    initial = _initial(objective, forms_plan.ObjectiveForm.base_fields)
    form = forms_plan.ObjectiveForm(
        request.POST or None, cycle=cycle, initial=initial, editing=objective
    )
    response = _submit(
        request,
        cycle,
        form,
        save=lambda data: services.objective_update(objective=objective, user=request.user, **data),
        message="Obiettivo modificato.",
    )
    if response is not None:
        return response
    return _render(
        request,
        "plan_objective.html",
        cycle,
        form=form,
        objective=objective,
        indicators=list(objective.indicators.order_by("order", "id")),
        history=selectors_plan.objective_history(objective=objective),
    )


@persona_required
@require_POST
def objective_delete(request: HttpRequest, year: int, pk: int) -> HttpResponse:
    cycle = _cycle(request, year)
    objective = _objective(cycle, pk)
    return _delete(
        request,
        cycle,
        objective,
        "Obiettivo",
        lambda: services.objective_delete(objective=objective, user=request.user),
    )


@persona_required
@require_http_methods(["GET", "POST"])
def objective_neutralize(request: HttpRequest, year: int, pk: int) -> HttpResponse:
    cycle = _cycle(request, year)
    objective = _objective(cycle, pk)
    if objective.status == Objective.Status.NEUTRALIZED:
        messages.info(request, "L'obiettivo è già neutralizzato.")
        return redirect(_plan_url(cycle, _anchor(objective)))
    return _form_view(
        request,
        cycle,
        form=forms_plan.ObjectiveNeutralizeForm(request.POST or None, cycle=cycle),
        save=lambda data: services.objective_neutralize(
            objective=objective, user=request.user, **data
        ),
        message="Obiettivo neutralizzato: non entra più in nessuna media del calcolo.",
        template="plan_neutralize.html",
        objective=objective,
    )


# -------------------------------------------------------------------------------- indicators


@persona_required
@require_http_methods(["GET", "POST"])
def indicator_create(request: HttpRequest, year: int, objective_pk: int) -> HttpResponse:
    cycle = _cycle(request, year)
    objective = _objective(cycle, objective_pk)
    return _form_view(
        request,
        cycle,
        form=forms_plan.IndicatorForm(request.POST or None),
        save=lambda data: services.indicator_create(objective=objective, user=request.user, **data),
        message="Indicatore aggiunto: ora si possono aggiungere i target.",
        url=lambda indicator: reverse(
            "workspace:plan-target-create", args=[cycle.year, indicator.pk]
        ),
        title="Nuovo indicatore",
        parent=objective,
        datalist=forms_plan.UNITS_OF_MEASURE,
    )


@persona_required
@require_http_methods(["GET", "POST"])
def indicator_update(request: HttpRequest, year: int, pk: int) -> HttpResponse:
    cycle = _cycle(request, year)
    indicator = _indicator(cycle, pk)
    initial = _initial(indicator, forms_plan.IndicatorForm.base_fields)
    return _form_view(
        request,
        cycle,
        form=forms_plan.IndicatorForm(request.POST or None, initial=initial, editing=indicator),
        save=lambda data: services.indicator_update(indicator=indicator, user=request.user, **data),
        message="Indicatore modificato.",
        title="Indicatore",
        parent=indicator.objective,
        subject=indicator,
        datalist=forms_plan.UNITS_OF_MEASURE,
        delete_url=reverse("workspace:plan-indicator-delete", args=[cycle.year, indicator.pk]),
    )


@persona_required
@require_POST
def indicator_delete(request: HttpRequest, year: int, pk: int) -> HttpResponse:
    cycle = _cycle(request, year)
    indicator = _indicator(cycle, pk)
    return _delete(
        request,
        cycle,
        indicator,
        "Indicatore",
        lambda: services.indicator_delete(indicator=indicator, user=request.user),
    )


# ----------------------------------------------------------------------------------- targets


@persona_required
@require_http_methods(["GET", "POST"])
def target_create(request: HttpRequest, year: int, indicator_pk: int) -> HttpResponse:
    cycle = _cycle(request, year)
    indicator = _indicator(cycle, indicator_pk)
    initial = {"kind": "at_least", "weight": 1}
    return _form_view(
        request,
        cycle,
        form=forms_plan.TargetForm(request.POST or None, cycle=cycle, initial=initial),
        save=lambda data: services.target_create(
            indicator=indicator, user=request.user, **_pick(data, _TARGET_FIELDS)
        ),
        message=lambda target: f"Target «{target.text}» aggiunto.",
        template="plan_target_form.html",
        indicator=indicator,
        target=None,
    )


def _rule_texts(target: Target) -> dict:
    """The target's rule, and the original one of a revised target, in words."""
    original = target.original_rule
    return {
        "rule_text": selectors_plan.rule_summary(target.rule),
        "original_rule_text": selectors_plan.rule_summary(original) if original else "",
    }


@persona_required
@require_http_methods(["GET", "POST"])
def target_update(request: HttpRequest, year: int, pk: int) -> HttpResponse:
    cycle = _cycle(request, year)
    target = _target(cycle, pk)
    initial = {
        **_initial(target, ("unit", "office", "text", "weight", "notes")),
        **forms_plan.rule_initial(target.rule),
    }
    form = forms_plan.TargetForm(request.POST or None, cycle=cycle, initial=initial, editing=target)
    response = _submit(
        request,
        cycle,
        form,
        save=lambda data: services.target_update(
            target=target, user=request.user, **_pick(data, _TARGET_UPDATE_FIELDS)
        ),
        message="Target modificato.",
    )
    if response is not None:
        return response
    return _render(
        request,
        "plan_target_form.html",
        cycle,
        form=form,
        indicator=target.indicator,
        target=target,
        **_rule_texts(target),
        history=selectors_plan.target_history(target=target),
        delete_url=reverse("workspace:plan-target-delete", args=[cycle.year, target.pk]),
    )


@persona_required
@require_POST
def target_delete(request: HttpRequest, year: int, pk: int) -> HttpResponse:
    cycle = _cycle(request, year)
    target = _target(cycle, pk)
    return _delete(
        request,
        cycle,
        target,
        "Target",
        lambda: services.target_delete(target=target, user=request.user),
    )


@persona_required
@require_http_methods(["GET", "POST"])
def target_revise(request: HttpRequest, year: int, pk: int) -> HttpResponse:
    cycle = _cycle(request, year)
    target = _target(cycle, pk)
    initial = {"text": target.text, **forms_plan.rule_initial(target.rule)}
    form = forms_plan.TargetReviseForm(request.POST or None, cycle=cycle, initial=initial)
    response = _submit(
        request,
        cycle,
        form,
        save=lambda data: services.target_revise(
            target=target, user=request.user, **_pick(data, _REVISION_FIELDS)
        ),
        message="Target rivisto: il target originario resta registrato.",
    )
    if response is not None:
        return response
    return _render(
        request, "plan_revise.html", cycle, form=form, target=target, **_rule_texts(target)
    )


# --------------------------------------------------------------------- units, rules, next year


@persona_required
@require_http_methods(["GET", "POST"])
def unit_update(request: HttpRequest, year: int, pk: int) -> HttpResponse:
    cycle = _cycle(request, year)
    unit = get_object_or_404(Unit, pk=pk, cycle=cycle)
    return _form_view(
        request,
        cycle,
        form=forms_plan.UnitForm(
            request.POST or None,
            initial=_initial(unit, forms_plan.UnitForm.base_fields),
            editing=unit,
        ),
        save=lambda data: services.unit_update(unit=unit, user=request.user, **data),
        message=lambda saved: f"Unità «{saved.name}» modificata.",
        title=unit.name,
        subject=unit,
    )


@persona_required
@require_http_methods(["GET", "POST"])
def rules_update(request: HttpRequest, year: int) -> HttpResponse:
    cycle = _cycle(request, year)
    initial, rounding_initial, bands_initial = forms_plan.CycleRulesForm.initial_from(cycle.rules)
    data = request.POST or None
    form = forms_plan.CycleRulesForm(data, initial=initial)
    rounding = forms_plan.RoundingFormSet(data, initial=rounding_initial, prefix="arr")
    bands = forms_plan.BandFormSet(data, initial=bands_initial, prefix="fasce")
    section_errors: dict[str, list[str]] = {}
    if request.method == "POST":
        valid = all([form.is_valid(), rounding.is_valid(), bands.is_valid()])
        if valid and forms_plan.rounding_levels_repeated(rounding):
            section_errors["rounding"] = [
                "Livello ripetuto: "
                + ", ".join(forms_plan.rounding_levels_repeated(rounding))
                + "."
            ]
            valid = False
        if valid:
            rules = forms_plan.rules_from_forms(form, rounding, bands)
            try:
                services.cycle_rules_update(cycle=cycle, user=request.user, rules=rules)
            except ValidationError as error:
                for section, errors in error.message_dict.items():
                    key = "general" if section == "__all__" else section
                    section_errors.setdefault(key, []).extend(errors)
            else:
                messages.success(request, "Regole di misurazione aggiornate.")
                return redirect(_plan_url(cycle))
    return _render(
        request,
        "plan_rules.html",
        cycle,
        form=form,
        rounding=rounding,
        bands=bands,
        section_errors=section_errors,
    )


@persona_required
@require_http_methods(["GET", "POST"])
def start_next(request: HttpRequest, year: int) -> HttpResponse:
    cycle = _cycle(request, year)
    if request.method == "POST":
        try:
            new = services.cycle_start_next(cycle=cycle, user=request.user)
        except ValidationError as error:
            for message in error.messages:
                messages.error(request, message)
            return redirect(_plan_url(cycle))
        messages.success(
            request,
            f"Ciclo {new.year} avviato dal {cycle.year}: verificare il Piano, aggiornare testi "
            "e valori di partenza, registrare la deliberazione di approvazione.",
        )
        return redirect("workspace:plan", new.year)
    overview = selectors_plan.plan_overview(cycle=cycle)
    return _render(request, "plan_start_next.html", cycle, overview=overview)


P = "<int:year>/piano/"

urlpatterns = [
    path(P, plan, name="plan"),
    path(f"{P}prospettive/nuova/", perspective_create, name="plan-perspective-create"),
    path(f"{P}prospettive/<int:pk>/", perspective_update, name="plan-perspective"),
    path(f"{P}prospettive/<int:pk>/elimina/", perspective_delete, name="plan-perspective-delete"),
    path(f"{P}obiettivi-strategici/nuovo/", strategic_create, name="plan-strategic-create"),
    path(f"{P}obiettivi-strategici/<int:pk>/", strategic_update, name="plan-strategic"),
    path(
        f"{P}obiettivi-strategici/<int:pk>/elimina/",
        strategic_delete,
        name="plan-strategic-delete",
    ),
    path(f"{P}obiettivi/nuovo/", objective_create, name="plan-objective-create"),
    path(f"{P}obiettivi/<int:pk>/", objective_update, name="plan-objective"),
    path(f"{P}obiettivi/<int:pk>/elimina/", objective_delete, name="plan-objective-delete"),
    path(
        f"{P}obiettivi/<int:pk>/neutralizza/",
        objective_neutralize,
        name="plan-objective-neutralize",
    ),
    path(
        f"{P}obiettivi/<int:objective_pk>/indicatori/nuovo/",
        indicator_create,
        name="plan-indicator-create",
    ),
    path(f"{P}indicatori/<int:pk>/", indicator_update, name="plan-indicator"),
    path(f"{P}indicatori/<int:pk>/elimina/", indicator_delete, name="plan-indicator-delete"),
    path(
        f"{P}indicatori/<int:indicator_pk>/target/nuovo/",
        target_create,
        name="plan-target-create",
    ),
    path(f"{P}target/<int:pk>/", target_update, name="plan-target"),
    path(f"{P}target/<int:pk>/elimina/", target_delete, name="plan-target-delete"),
    path(f"{P}target/<int:pk>/rivedi/", target_revise, name="plan-target-revise"),
    path(f"{P}unita/<int:pk>/", unit_update, name="plan-unit"),
    path(f"{P}regole/", rules_update, name="plan-rules"),
    path(f"{P}nuovo-ciclo/", start_next, name="plan-start-next"),
]
