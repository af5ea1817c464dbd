"""The admin: every registered model's pages load, permissions of the OIV persona, and a bounded
number of queries for the Target changelist."""

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from simple_history.admin import SimpleHistoryAdmin

from organization import roles
from performance.models import Target
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
MODELS = [
    pytest.param(model, model_admin, id=model._meta.label) for model, model_admin in REGISTERED
]


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def superuser_client(client):
    client.force_login(UserFactory(username="superutente", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def oiv_client(client):
    groups = roles.roles_sync()
    user = UserFactory(username="valutatore", is_staff=True)
    user.groups.add(groups[roles.OIV])
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


# Written by reports.services_workflow only: shown read-only, never added from the admin.
READ_ONLY = {
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

        from reports.models_workflow import (
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
    **{label: _workflow(label) for label in (*READ_ONLY, "reports.OivMember")},
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
