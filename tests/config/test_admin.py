"""The admin: every registered model's pages load, permissions of the OIV persona, and a bounded
number of queries for the Target changelist."""

from decimal import Decimal
from types import SimpleNamespace

import pytest
from django import forms as forms_
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from simple_history.admin import SimpleHistoryAdmin

from organization import roles
from organization.models import Cycle
from performance.models import Actual, Objective, PendingImport, Target
from reports.models import Relazione, Section
from reports.models.workflow import CycleTransition
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
MODELS = [
    pytest.param(model, model_admin, id=model._meta.label) for model, model_admin in REGISTERED
]


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def superuser_client(client, personas):
    client.force_login(personas.admin)
    return client


@pytest.fixture
def oiv_client(client, personas):
    """The OIV persona (tests/personas.py), given access to the admin (is_staff)."""
    user = personas.oiv
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client.force_login(user)
    return client


def test_the_project_models_are_registered():
    labels = {model._meta.label for model, _ in REGISTERED}
    assert {
        "organization.Organization",
        "organization.Cycle",
        "organization.PlanDocument",
        "organization.MeasurementPeriod",
        "organization.Unit",
        "organization.Position",
        "performance.Perspective",
        "performance.StrategicObjective",
        "performance.Objective",
        "performance.Indicator",
        "performance.Target",
        "performance.Actual",
        "performance.StatedFigure",
    } <= labels


@pytest.mark.parametrize(("model", "model_admin"), MODELS)
def test_changelist_with_search_and_add_page(superuser_client, cycle_2019, model, model_admin):
    changelist = superuser_client.get(url(model, "changelist"), {"q": "Pavia"})
    assert changelist.status_code == 200
    if model_admin.search_fields:
        assert 'name="q"' in changelist.content.decode()
    assert superuser_client.get(url(model, "changelist")).status_code == 200
    add = superuser_client.get(url(model, "add"))
    assert add.status_code == (403 if model._meta.label in READ_ONLY | AXES else 200)


# Written by reports.workflow.services only: shown read-only, never added from the admin.
READ_ONLY = {
    "performance.PendingImport",
    "reports.CycleTransition",
    "reports.ObjectiveReview",
    "reports.RelazioneVersion",
    "reports.Remark",
}


# django-axes' records of log-in attempts (config/settings.py): written by axes, read-only here.
AXES = {"axes.AccessAttempt", "axes.AccessFailureLog", "axes.AccessLog"}


def _axes(label: str):
    def build(cycle):
        from django.apps import apps

        fields = {"user_agent": "test", "ip_address": "10.0.0.1", "username": "x", "path_info": "/"}
        extra = {"axes.AccessAttempt": {"get_data": "", "post_data": "", "failures_since_start": 1}}
        return apps.get_model(label).objects.create(**fields, **extra.get(label, {}))

    return build


def _workflow(label: str):
    def build(cycle):
        from django.utils import timezone

        from reports.models.workflow import (
            CycleTransition,
            ObjectiveReview,
            OivMember,
            RelazioneVersion,
            Remark,
        )

        objective = cycle.objectives.order_by("pk").first()
        return {
            "reports.CycleTransition": lambda: CycleTransition.objects.create(
                cycle=cycle,
                action="start_monitoring",
                from_status="planning",
                to_status="monitoring",
            ),
            "reports.OivMember": lambda: OivMember.objects.create(
                organization=cycle.organization, name="Maria Bianchi", role="Presidente"
            ),
            "reports.Remark": lambda: Remark.objects.create(
                cycle=cycle, objective=objective, subject="Obiettivo", text="Osservazione."
            ),
            "reports.ObjectiveReview": lambda: ObjectiveReview.objects.create(
                cycle=cycle, objective=objective, decision="accepted"
            ),
            "reports.RelazioneVersion": lambda: RelazioneVersion.objects.create(
                cycle=cycle,
                number=1,
                tree_json={},
                tree_sha256="0" * 64,
                html="<p>Relazione</p>",
                html_sha256="0" * 64,
                decision="valid",
                validated_at=timezone.now(),
                validation_html="<p>Validazione</p>",
                validation_html_sha256="0" * 64,
            ),
        }[label]()

    return build


def _relazione(cycle):
    from reports.models import Relazione

    return Relazione.objects.get_or_create(
        cycle=cycle, defaults={"title": "La Relazione sulla performance 2019"}
    )[0]


# Objects for the registered models the 2019 plan does not contain. A model registered later
# with neither data in the 2019 cycle nor a builder here makes the change-page test fail.
BUILDERS = {
    "auth.Group": lambda cycle: roles.roles_sync()[roles.OIV],
    "reports.Relazione": _relazione,
    "reports.Section": lambda cycle: _relazione(cycle).sections.create(
        key="premessa", title="Premessa", body="Testo della **premessa**."
    ),
    "reports.ContextTable": lambda cycle: _relazione(cycle).context_tables.create(
        key="imprese",
        section_key="contesto-economico",
        title="Imprese registrate",
        columns=["Anno", "Imprese"],
        rows=[["2019", "46.000"]],
    ),
    "performance.PendingImport": lambda cycle: PendingImport.objects.create(
        token="0" * 32,
        user=UserFactory(username="importatore"),
        cycle=cycle,
        kind=PendingImport.Kind.VALUES,
        format="csv",
        sha256="0" * 64,
        size=10,
    ),
    **{
        label: _workflow(label)
        for label in (*READ_ONLY, "reports.OivMember")
        if label.startswith("reports.")
    },
    **{label: _axes(label) for label in AXES},
}


@pytest.mark.parametrize(("model", "model_admin"), MODELS)
def test_change_page_of_a_2019_object(superuser_client, cycle_2019, model, model_admin):
    obj = model._default_manager.order_by("pk").last()
    if obj is None and model._meta.label in BUILDERS:
        obj = BUILDERS[model._meta.label](cycle_2019)
    assert obj is not None, f"no {model._meta.label} to open: add a builder to BUILDERS"
    response = superuser_client.get(url(model, "change", obj.pk))
    assert response.status_code == 200
    assert response.context["original"] == obj
    if isinstance(model_admin, SimpleHistoryAdmin):
        assert superuser_client.get(url(model, "history", obj.pk)).status_code == 200


def test_target_search_finds_the_2019_row(superuser_client, cycle_2019):
    response = superuser_client.get(
        url(Target, "changelist"), {"q": '"Attivazione del Data Management"'}
    )
    assert response.status_code == 200
    results = list(response.context["cl"].result_list)
    assert [t.indicator.name for t in results] == ["Attivazione del Data Management"]


@pytest.mark.parametrize(("model", "model_admin"), MODELS)
def test_anonymous_is_sent_to_the_login(client, model, model_admin):
    response = client.get(url(model, "changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_oiv_can_view_targets_but_not_add_or_change(oiv_client, cycle_2019):
    assert oiv_client.get(url(Target, "changelist")).status_code == 200
    assert oiv_client.get(url(Target, "add")).status_code == 403
    target = Target.objects.filter(indicator__objective__cycle=cycle_2019).first()
    change = oiv_client.get(url(Target, "change", target.pk))
    assert change.status_code == 200  # read-only view
    assert not change.context["has_change_permission"]
    assert oiv_client.post(url(Target, "change", target.pk), {"text": "x"}).status_code == 403
    assert oiv_client.post(url(Target, "delete", target.pk), {"post": "yes"}).status_code == 403
    assert Target.objects.filter(pk=target.pk, text=target.text).exists()


def test_staff_without_a_group_cannot_view_targets(client, cycle_2019):
    client.force_login(UserFactory(username="senza-ruolo", is_staff=True))
    assert client.get(url(Target, "changelist")).status_code == 403


TARGET_CHANGELIST_QUERIES = 15


def test_target_changelist_queries_are_bounded(superuser_client, cycle_2019):
    """Full pages of 100 rows, the last page, a search and a filter: the same few queries."""
    response = superuser_client.get(url(Target, "changelist"))  # warm caches (content types...)
    assert response.status_code == 200
    counts = {}
    for params in ({}, {"p": "2"}, {"q": "entro"}, {"status": "excluded"}, {"q": "Metrico"}):
        with CaptureQueriesContext(connection) as context:
            response = superuser_client.get(url(Target, "changelist"), params)
        assert response.status_code == 200
        assert len(response.context["cl"].result_list) > 0
        counts[str(params)] = len(context.captured_queries)
    assert len(response.context["cl"].result_list) < 100 == response.context["cl"].list_per_page
    assert len(set(counts.values())) == 1, counts
    assert max(counts.values()) < TARGET_CHANGELIST_QUERIES, counts


# ------------------------------------------------- the cycle's read-only rule in the admin
# (organization.admin_lock): once a cycle is submitted, validated or published, the admin may show
# the plan, the values and the Relazione but not change, add or delete them.


@pytest.fixture
def plan():
    """A cycle in "reporting" with one objective, target, value and Relazione section (and a
    second objective, for the returned state)."""
    from reports.models import Relazione
    from tests.factories import (
        ActualFactory,
        CycleFactory,
        MeasurementPeriodFactory,
        ObjectiveFactory,
        TargetFactory,
    )

    cycle = CycleFactory(status=Cycle.Status.REPORTING)
    period = MeasurementPeriodFactory(cycle=cycle)
    target = TargetFactory(indicator__objective=ObjectiveFactory(cycle=cycle))
    other = TargetFactory(indicator__objective=ObjectiveFactory(cycle=cycle))
    relazione = Relazione.objects.create(cycle=cycle, title="Relazione sulla performance")
    return SimpleNamespace(
        cycle=cycle,
        period=period,
        target=target,
        actual=ActualFactory(target=target, period=period, value_number=Decimal("7")),
        other_actual=ActualFactory(target=other, period=period, value_number=Decimal("8")),
        section=relazione.sections.create(key="premessa", title="Premessa", body="Testo."),
        other_section=relazione.sections.create(key="organico", title="Organico", body="Testo."),
    )


def set_status(cycle, status, *, objective_ids=(), section_keys=()):
    Cycle.objects.filter(pk=cycle.pk).update(status=status)
    if status == Cycle.Status.RETURNED:
        CycleTransition.objects.create(
            cycle=cycle,
            action=CycleTransition.Action.RETURN,
            from_status=Cycle.Status.SUBMITTED,
            to_status=Cycle.Status.RETURNED,
            data={"objective_ids": list(objective_ids), "section_keys": list(section_keys)},
        )


def form_data(response, **changes) -> dict:
    """The POST of the admin page in ``response`` as shown (its form and inline formsets), with
    ``changes`` applied to the main form."""
    data = {"_save": "Salva"}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        forms.extend(inline.formset.forms)
    for form in forms:
        for name, field in form.fields.items():
            key, value = form.add_prefix(name), field.prepare_value(form[name].value())
            if isinstance(field, forms_.NullBooleanField):
                data[key] = {True: "true", False: "false"}.get(value, "unknown")
            elif isinstance(field, forms_.BooleanField):
                if value:
                    data[key] = "on"
            elif value is not None:
                data[key] = value
    data.update(changes)
    return data


# (model, the field changed, its new value as posted and as stored, the plan's object)
CHANGES = [
    pytest.param(Actual, "value_number", "9", Decimal("9"), "actual", id="Actual"),
    pytest.param(Target, "text", "≥ 12", "≥ 12", "target", id="Target"),
    pytest.param(Section, "body", "Testo nuovo.", "Testo nuovo.", "section", id="Section"),
]


@pytest.mark.parametrize(("model", "field", "posted", "stored", "name"), CHANGES)
def test_an_open_cycle_is_changed_from_the_admin(
    superuser_client, plan, model, field, posted, stored, name
):
    obj = getattr(plan, name)
    change = url(model, "change", obj.pk)
    page = superuser_client.get(change)
    assert page.context["has_change_permission"]
    response = superuser_client.post(change, form_data(page, **{field: posted}))
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert getattr(model.objects.get(pk=obj.pk), field) == stored


@pytest.mark.parametrize("status", [Cycle.Status.SUBMITTED, Cycle.Status.PUBLISHED])
@pytest.mark.parametrize(("model", "field", "posted", "stored", "name"), CHANGES)
def test_a_closed_cycle_is_read_only_in_the_admin(
    superuser_client, plan, status, model, field, posted, stored, name
):
    obj = getattr(plan, name)
    before = getattr(obj, field)
    change = url(model, "change", obj.pk)
    data = form_data(superuser_client.get(change), **{field: posted})  # valid while open
    set_status(plan.cycle, status)

    page = superuser_client.get(change)
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    assert not page.context["has_delete_permission"]
    warnings = [str(m) for m in page.context["messages"]]
    assert any(f"Il ciclo {plan.cycle.year} è nello stato" in m for m in warnings), warnings
    assert superuser_client.post(change, data).status_code == 403
    assert getattr(model.objects.get(pk=obj.pk), field) == before

    delete = url(model, "delete", obj.pk)
    assert superuser_client.get(delete).status_code == 403
    assert superuser_client.post(delete, {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()


def test_bulk_delete_leaves_the_rows_of_a_closed_cycle(superuser_client, plan):
    from tests.factories import ActualFactory, CycleFactory, ObjectiveFactory, TargetFactory

    open_cycle = CycleFactory(status=Cycle.Status.REPORTING)
    open_actual = ActualFactory(target=TargetFactory(indicator__objective__cycle=open_cycle))
    set_status(plan.cycle, Cycle.Status.PUBLISHED)
    locked = [plan.actual.pk, plan.other_actual.pk]
    action = {"action": "delete_selected", "_selected_action": [*locked, open_actual.pk]}

    confirm = superuser_client.post(url(Actual, "changelist"), action)
    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert f"Il ciclo {plan.cycle.year} è nello stato «Pubblicato»" in page
    response = superuser_client.post(url(Actual, "changelist"), {**action, "post": "yes"})
    assert response.status_code == 403
    assert Actual.objects.filter(pk__in=[*locked, open_actual.pk]).count() == 3

    # the same action on the open cycle's row alone deletes it
    only_open = {"action": "delete_selected", "_selected_action": [open_actual.pk], "post": "yes"}
    assert superuser_client.post(url(Actual, "changelist"), only_open).status_code == 302
    assert not Actual.objects.filter(pk=open_actual.pk).exists()
    assert Actual.objects.filter(pk__in=locked).count() == 2
    # deleting an objective of the closed cycle would delete its targets and values: refused
    objective = plan.target.indicator.objective
    response = superuser_client.post(
        url(Objective, "changelist"),
        {"action": "delete_selected", "_selected_action": [objective.pk], "post": "yes"},
    )
    assert response.status_code == 403
    assert Objective.objects.filter(pk=objective.pk).exists()
    assert ObjectiveFactory._meta.model.objects.filter(cycle=plan.cycle).count() == 2


def _add_target(plan) -> dict:
    return {
        "indicator": plan.target.indicator_id,
        "text": "≥ 20",
        "rule": '{"kind": "at_least", "threshold": "20"}',
        "original_rule": "null",
        "status": "active",
        "weight": "1",
        "order": "5",
        "actuals-TOTAL_FORMS": "0",
        "actuals-INITIAL_FORMS": "0",
        "_save": "Salva",
    }


def _add_actual(plan) -> dict:
    from tests.factories import TargetFactory

    target = TargetFactory(indicator=plan.target.indicator)  # no value yet
    return {
        "target": target.pk,
        "period": plan.period.pk,
        "value_number": "11",
        "value_done": "unknown",
        "value_parts": "null",
        "_save": "Salva",
    }


@pytest.mark.parametrize(
    ("model", "build"), [(Target, _add_target), (Actual, _add_actual)], ids=["Target", "Actual"]
)
def test_nothing_is_added_to_a_published_cycle_from_the_admin(superuser_client, plan, model, build):
    data = build(plan)
    set_status(plan.cycle, Cycle.Status.PUBLISHED)
    count = model.objects.count()
    response = superuser_client.post(url(model, "add"), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.non_field_errors()
    assert any("pubblicati non sono più modificabili" in e for e in errors), errors
    assert model.objects.count() == count

    set_status(plan.cycle, Cycle.Status.REPORTING)  # the same form, once the cycle is open
    assert superuser_client.post(url(model, "add"), data).status_code == 302
    assert model.objects.count() == count + 1


def test_a_returned_cycle_opens_only_what_the_oiv_reopened(superuser_client, plan):
    objective = plan.target.indicator.objective
    pages = {
        "open": [url(Actual, "change", plan.actual.pk), url(Section, "change", plan.section.pk)],
        "closed": [
            url(Actual, "change", plan.other_actual.pk),
            url(Section, "change", plan.other_section.pk),
            url(Objective, "change", plan.other_actual.target.indicator.objective_id),
        ],
    }
    set_status(
        plan.cycle, Cycle.Status.RETURNED, objective_ids=[objective.pk], section_keys=["premessa"]
    )
    for page in pages["open"]:
        assert superuser_client.get(page).context["has_change_permission"], page
    for page in pages["closed"]:
        response = superuser_client.get(page)
        assert not response.context["has_change_permission"], page
        assert any("riapert" in str(m) for m in response.context["messages"]), page

    data = form_data(superuser_client.get(pages["open"][0]), value_number="3")
    assert superuser_client.post(pages["open"][0], data).status_code == 302
    assert Actual.objects.get(pk=plan.actual.pk).value_number == Decimal("3")
    # the Relazione's own page (front matter not reopened) and its sections inline: read-only
    relazione = superuser_client.get(url(Relazione, "change", plan.section.relazione_id))
    assert not relazione.context["has_change_permission"]
    inline = relazione.context["inline_admin_formsets"][0]
    assert not inline.has_change_permission and not inline.has_add_permission


def test_a_locked_object_is_not_reverted_from_its_history(superuser_client, plan):
    change = url(Target, "change", plan.target.pk)
    data = form_data(superuser_client.get(change), text="≥ 99")
    assert superuser_client.post(change, data).status_code == 302  # a second history record
    first = plan.target.history.order_by("history_id").first()
    set_status(plan.cycle, Cycle.Status.SUBMITTED)
    revert = reverse(
        "admin:performance_target_simple_history", args=[plan.target.pk, first.history_id]
    )
    response = superuser_client.post(revert, {**data, "text": first.text})
    assert Target.objects.get(pk=plan.target.pk).text == "≥ 99"
    assert response.status_code in (200, 403)


def test_the_rules_of_a_closed_cycle_are_read_only(superuser_client, plan):
    """The rules, and with them the whole cycle (its title, documents and periods: the figures
    and the Relazione depend on them), are read-only once the cycle is closed (issue 10)."""
    change = url(Cycle, "change", plan.cycle.pk)
    assert "rules" in superuser_client.get(change).context["adminform"].form.fields
    set_status(plan.cycle, Cycle.Status.VALIDATED)
    page = superuser_client.get(change)
    assert "rules" not in page.context["adminform"].form.fields
    assert not page.context["has_change_permission"]
    assert not page.context["has_delete_permission"]


def test_the_state_of_a_cycle_changes_only_through_the_workflow(superuser_client, plan):
    """A published cycle cannot be moved back to "reporting" from the admin (it would reopen
    everything without the errata corrige): the state is read-only there, in every state."""
    change = url(Cycle, "change", plan.cycle.pk)
    assert "status" not in superuser_client.get(change).context["adminform"].form.fields
    set_status(plan.cycle, Cycle.Status.PUBLISHED)
    page = superuser_client.get(change)
    assert "status" not in page.context["adminform"].form.fields
    data = form_data(page)
    data["status"] = Cycle.Status.REPORTING
    superuser_client.post(change, data)
    plan.cycle.refresh_from_db()
    assert plan.cycle.status == Cycle.Status.PUBLISHED


def test_the_admin_does_not_overwrite_a_value_changed_since_its_page_was_opened(
    superuser_client, plan
):
    """Optimistic locking, as in the entry form: the admin page of a value opened before a
    referent saved a new one refuses to save over it, says why, and keeps the referent's value."""
    change = url(Actual, "change", plan.actual.pk)
    stale = form_data(superuser_client.get(change), value_number="9")
    Actual.objects.filter(pk=plan.actual.pk).update(value_number=Decimal("8"), version=2)

    response = superuser_client.post(change, stale)
    assert response.status_code == 200
    assert "modificato da un altro utente" in str(response.context["adminform"].form.errors)
    actual = Actual.objects.get(pk=plan.actual.pk)
    assert (actual.value_number, actual.version) == (Decimal("8"), 2)

    fresh = form_data(superuser_client.get(change), value_number="9")
    assert superuser_client.post(change, fresh).status_code == 302
    actual.refresh_from_db()
    assert (actual.value_number, actual.version) == (Decimal("9"), 3)
