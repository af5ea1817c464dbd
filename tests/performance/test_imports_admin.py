"""The admin's import and export of the plan (targets) and of the values, through the same
Resources as the workspace pages (performance.services.imports.resources): the export writes the
formats' columns, the import reads within the limits, runs the dry run, then applies on
confirmation, and is refused with the Italian reason in a cycle submitted to the OIV."""

from __future__ import annotations

import contextlib
import copy
import io
import threading

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from organization import roles
from organization.models import Cycle
from performance.models import Actual, PendingImport, Target
from performance.services import imports
from tests.factories import UserFactory
from tests.performance.test_imports import rendered, value_row

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="amministratore", is_staff=True, is_superuser=True))
    return client


def admin_url(model, view: str) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}")


def formats(model) -> list[str]:
    from performance.admin import ActualAdmin, TargetAdmin

    admin_class = TargetAdmin if model is Target else ActualAdmin
    return [f().get_extension() for f in admin_class.import_formats]


def dry_run(client, model, content: bytes, cycle: Cycle, fmt: str = "csv"):
    file = io.BytesIO(content)
    file.name = f"file.{fmt}"
    return client.post(
        admin_url(model, "import"),
        {"cycle": cycle.pk, "format": formats(model).index(fmt), "import_file": file},
    )


def test_the_admin_exports_the_plan_with_the_formats_columns(admin_client, cycle_2019):
    form = admin_client.get(admin_url(Target, "export")).context["form"]
    data = {name: field.initial for name, field in form.fields.items() if field.initial}
    response = admin_client.post(admin_url(Target, "export"), {**data, "resource": 0, "format": 2})
    assert response.status_code == 200
    text = response.content.decode("utf-8-sig")
    header = text.splitlines()[0]
    assert header.split(",")[:3] == ["codice_target", "codice_obiettivo", "codice_indicatore"]
    assert len(text.splitlines()) > Target.objects.count() // 2


def test_the_admin_imports_values_after_a_dry_run(admin_client, cycle_2019):
    target = (
        Target.objects.filter(indicator__objective__cycle=cycle_2019, rule__kind="at_least")
        .exclude(actuals__period__key="monitoraggio")
        .order_by("id")
        .first()
    )
    content = rendered(
        list(imports.VALUE_COLUMNS), [value_row(target, "7", periodo="monitoraggio")], "csv"
    )
    response = dry_run(admin_client, Actual, content, cycle_2019)
    assert response.status_code == 200
    result = response.context["result"]
    assert not result.has_errors() and not result.has_validation_errors()
    assert not Actual.objects.filter(target=target, period__key="monitoraggio").exists()
    confirm = response.context["confirm_form"]
    applied = admin_client.post(
        admin_url(Actual, "process_import"),
        {name: field.initial for name, field in confirm.fields.items()} | confirm.initial,
        follow=True,
    )
    assert applied.status_code == 200
    assert Actual.objects.get(target=target, period__key="monitoraggio").value_number == 7


def test_the_admin_reads_within_the_limits_and_reports_invalid_rows(admin_client, cycle_2019):
    wide = (";".join(f"c{i}" for i in range(1, 202)) + "\r\n" + ";" * 200 + "x").encode()
    response = dry_run(admin_client, Actual, wide, cycle_2019)
    assert "dati nella colonna 201" in response.content.decode()
    target = Target.objects.filter(indicator__objective__cycle=cycle_2019).first()
    content = rendered(
        list(imports.VALUE_COLUMNS), [value_row(target, "3", periodo="inesistente")], "csv"
    )
    response = dry_run(admin_client, Actual, content, cycle_2019)
    result = response.context["result"]
    assert result.has_validation_errors()
    assert "il periodo «inesistente» non esiste" in response.content.decode()
    content = rendered(
        list(imports.VALUE_COLUMNS), [value_row(target, "3", nota="con\x00NUL")], "csv"
    )
    response = dry_run(admin_client, Actual, content, cycle_2019)
    assert [row.number for row in response.context["result"].invalid_rows] == [2]
    assert "U+0000" in response.content.decode() and "confirm_form" not in response.context


def test_the_admin_import_respects_the_cycle_lock(admin_client, cycle_2019):
    Cycle.objects.filter(pk=cycle_2019.pk).update(status=Cycle.Status.SUBMITTED)
    content = imports.plan_export(cycle=cycle_2019, format="csv")
    before = Target.objects.count()
    response = dry_run(admin_client, Target, content, cycle_2019)
    result = response.context["result"]
    assert result.has_validation_errors() and "confirm_form" not in response.context
    assert "importazione del Piano non è disponibile in questo stato." in (
        response.content.decode()
    )
    assert Target.objects.count() == before


def test_the_oiv_neither_imports_nor_exports_in_the_admin(client, cycle_2019):
    user = UserFactory(username="valutatore", is_staff=True)
    user.groups.add(roles.roles_sync()[roles.OIV])
    client.force_login(user)
    assert client.get(admin_url(Target, "import")).status_code == 403
    assert client.get(admin_url(Actual, "export")).status_code == 403


def confirm_data(response) -> dict:
    confirm = response.context["confirm_form"]
    return {name: field.initial for name, field in confirm.fields.items()} | confirm.initial


def test_the_admin_applies_a_confirmed_file_once(admin_client, cycle_2019):
    """The confirmation claims the PendingImport of the dry run, as on the workspace pages: the
    same confirmation sent twice applies the file once, the second gets the Italian reason."""
    target = (
        Target.objects.filter(indicator__objective__cycle=cycle_2019, rule__kind="at_least")
        .exclude(actuals__period__key="monitoraggio")
        .order_by("id")
        .first()
    )
    content = rendered(
        list(imports.VALUE_COLUMNS), [value_row(target, "7", periodo="monitoraggio")], "csv"
    )
    data = confirm_data(dry_run(admin_client, Actual, content, cycle_2019))
    pending = PendingImport.objects.get(token=data["pending_token"])
    assert pending.state == "pending" and pending.kind == "valori"
    before = Actual.objects.count()
    first = admin_client.post(admin_url(Actual, "process_import"), data, follow=True)
    assert first.status_code == 200 and "già applicata" not in first.content.decode()
    assert Actual.objects.count() == before + 1
    second = admin_client.post(admin_url(Actual, "process_import"), data, follow=True)
    assert second.status_code == 200
    assert "Importazione già applicata" in second.content.decode()
    assert Actual.objects.count() == before + 1
    assert Actual.objects.filter(target=target, period__key="monitoraggio").count() == 1
    pending.refresh_from_db()
    assert pending.state == "applied"


def test_the_admin_confirmation_needs_the_pending_import_of_its_dry_run(admin_client, cycle_2019):
    target = Target.objects.filter(indicator__objective__cycle=cycle_2019).order_by("id").first()
    content = rendered(list(imports.VALUE_COLUMNS), [value_row(target, "7")], "csv")
    data = confirm_data(dry_run(admin_client, Actual, content, cycle_2019))
    before = Actual.objects.count()
    forged = admin_client.post(
        admin_url(Actual, "process_import"), data | {"pending_token": "0" * 32}, follow=True
    )
    assert "non è più disponibile" in forged.content.decode()
    assert Actual.objects.count() == before


needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite: one in-memory connection shared by the threads (covered in sequence above)",
)


@needs_postgresql
def test_two_admin_confirmations_at_the_same_time_apply_the_file_once(committed_db, monkeypatch):
    from performance.services.imports.resources import ValuesResource

    cycle = Cycle.objects.get(year=2019)
    client = Client()
    client.force_login(UserFactory(username="amministratore-2", is_staff=True, is_superuser=True))
    target = (
        Target.objects.filter(indicator__objective__cycle=cycle, rule__kind="at_least")
        .exclude(actuals__period__key="monitoraggio")
        .order_by("id")
        .first()
    )
    content = rendered(
        list(imports.VALUE_COLUMNS), [value_row(target, "7", periodo="monitoraggio")], "csv"
    )
    data = confirm_data(dry_run(client, Actual, content, cycle))
    before = Actual.objects.count()
    together = threading.Barrier(2, timeout=3)  # without the claim both would apply
    real = ValuesResource.import_data

    def at_the_same_time(self, dataset, dry_run=False, **kwargs):
        if not dry_run:
            with contextlib.suppress(threading.BrokenBarrierError):
                together.wait()
        return real(self, dataset, dry_run=dry_run, **kwargs)

    monkeypatch.setattr(ValuesResource, "import_data", at_the_same_time)
    pages: list = [None, None]

    def confirmation(index: int) -> None:
        browser = Client(raise_request_exception=False)
        browser.cookies = copy.deepcopy(client.cookies)
        try:
            pages[index] = browser.post(
                admin_url(Actual, "process_import"), data, follow=True
            ).content.decode()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=confirmation, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    refused = ("Importazione già in corso", "Importazione già applicata")
    assert sum(any(reason in page for reason in refused) for page in pages) == 1
    assert Actual.objects.count() == before + 1
    assert PendingImport.objects.get(token=data["pending_token"]).state == "applied"
