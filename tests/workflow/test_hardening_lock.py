"""Issue 10, finding 2 and 15: from the submission to the OIV on, nothing that changes a computed
figure changes by any route (the admin included: periods, units and their tree, positions,
perspectives, the rules, weights, aggregation); whatever changes anyway (by a route outside the
product, or while the OIV reopened something) shows in the OIV's review, and the figures the OIV
would validate are those it received; value writes and the submission never cross."""

from __future__ import annotations

import threading
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import connection, connections, transaction

from organization import editability
from organization.models import Cycle, MeasurementPeriod, PlanDocument, Position, Unit
from performance.models import Perspective, StrategicObjective
from performance.services import actual_record
from performance.services import plan as plan_services
from reports.workflow import selectors
from reports.workflow import services as workflow
from tests.config.test_admin import form_data, set_status, superuser_client, url  # noqa: F401
from tests.workflow.test_workflow import (  # noqa: F401
    REVIEW,
    S,
    advance,
    client_of,
    fast_pdf,
    people,
    ready,
    submitted,
)

pytestmark = pytest.mark.django_db

# ------------------------------------------------------------------------------ the admin


@pytest.fixture
def structure():
    """A cycle in "reporting" with two periods, an area with a service and an office, a position,
    a perspective with a strategic objective and a plan document."""
    from tests.factories import (
        CycleFactory,
        MeasurementPeriodFactory,
        ObjectiveFactory,
        PlanDocumentFactory,
        TargetFactory,
    )

    cycle = CycleFactory(status=Cycle.Status.REPORTING)
    monitoring = MeasurementPeriodFactory(cycle=cycle, key="monitoraggio", is_final=False)
    final = MeasurementPeriodFactory(cycle=cycle, key="consuntivo", is_final=True)
    ente = Unit.objects.create(cycle=cycle, key="ente", name="Ente", kind=Unit.Kind.ENTE)
    area = Unit.objects.create(
        cycle=cycle, parent=ente, key="area", name="Area", kind=Unit.Kind.AREA
    )
    other_area = Unit.objects.create(
        cycle=cycle, parent=ente, key="altra", name="Altra area", kind=Unit.Kind.AREA
    )
    office = Unit.objects.create(
        cycle=cycle, parent=area, key="ufficio", name="Ufficio", kind=Unit.Kind.UFFICIO
    )
    position = Position.objects.create(
        cycle=cycle, key="sg", kind=Position.Kind.SEGRETARIO_GENERALE, title="Segretario Generale"
    )
    perspective = Perspective.objects.create(cycle=cycle, code="1", name="Imprese")
    goal = StrategicObjective.objects.create(
        cycle=cycle, perspective=perspective, code="1.1", title="Semplificare"
    )
    objective = ObjectiveFactory(cycle=cycle)
    TargetFactory(indicator__objective=objective, unit=office)
    return SimpleNamespace(
        cycle=cycle,
        monitoring=monitoring,
        final=final,
        area=area,
        other_area=other_area,
        office=office,
        position=position,
        perspective=perspective,
        goal=goal,
        objective=objective,
        document=PlanDocumentFactory(cycle=cycle),
    )


# (model, object of the structure, field, value as posted, value as stored)
CHANGES = [
    pytest.param(MeasurementPeriod, "final", "is_final", False, False, id="period-is_final"),
    pytest.param(MeasurementPeriod, "monitoring", "end_date", "30/09/2045", None, id="period-date"),
    pytest.param(Unit, "office", "parent", "other_area", "other_area", id="unit-parent"),
    pytest.param(Unit, "office", "weight", "3", Decimal("3"), id="unit-weight"),
    pytest.param(Unit, "area", "aggregation", "own_rows", "own_rows", id="unit-aggregation"),
    pytest.param(Position, "position", "weight", "2", Decimal("2"), id="position-weight"),
    pytest.param(Perspective, "perspective", "weight", "2", Decimal("2"), id="perspective"),
    pytest.param(StrategicObjective, "goal", "weight", "2", Decimal("2"), id="strategic"),
    pytest.param(PlanDocument, "document", "number", "99", "99", id="document"),
    pytest.param(Cycle, "cycle", "title", "Altro titolo", "Altro titolo", id="cycle-title"),
]


def _posted(structure, value):
    """A unit's key in ``structure`` stands for its primary key (a foreign key's value)."""
    if isinstance(value, str) and hasattr(structure, value):
        return getattr(structure, value).pk
    return value


def _stored(obj, field: str):
    value = getattr(type(obj).objects.get(pk=obj.pk), field)
    return value.pk if isinstance(value, Unit) else value


def _form(superuser_client, structure, model, name, field, posted):  # noqa: F811
    obj = getattr(structure, name)
    change = url(model, "change", obj.pk)
    page = superuser_client.get(change)
    data = form_data(page)
    if posted is False:
        data.pop(field, None)  # an unchecked box is not posted
    else:
        data[field] = _posted(structure, posted)
    return obj, change, data


@pytest.mark.parametrize(("model", "name", "field", "posted", "stored"), CHANGES)
def test_the_structure_of_an_open_cycle_changes_from_the_admin(
    superuser_client,  # noqa: F811
    structure,
    model,
    name,
    field,
    posted,
    stored,
):
    obj, change, data = _form(superuser_client, structure, model, name, field, posted)
    response = superuser_client.post(change, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    if stored is not None:
        assert _stored(obj, field) == _posted(structure, stored)


@pytest.mark.parametrize("status", [S.SUBMITTED, S.RETURNED, S.VALIDATED, S.PUBLISHED])
@pytest.mark.parametrize(("model", "name", "field", "posted", "stored"), CHANGES)
def test_the_structure_of_a_closed_cycle_is_read_only_in_the_admin(
    superuser_client,  # noqa: F811
    structure,
    status,
    model,
    name,
    field,
    posted,
    stored,
):
    """Submitted (the OIV reviews it), returned (even with an objective reopened: a return
    reopens objectives and sections, never the structure or the rules), validated, published."""
    obj, change, data = _form(superuser_client, structure, model, name, field, posted)
    before = _stored(obj, field)
    set_status(structure.cycle, status, objective_ids=[structure.objective.pk])

    page = superuser_client.get(change)
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    assert not page.context["has_delete_permission"]
    warnings = [str(m) for m in page.context["messages"]]
    assert any(f"Il ciclo {structure.cycle.year}" in m for m in warnings), warnings
    assert superuser_client.post(change, data).status_code == 403
    assert _stored(obj, field) == before

    delete = url(model, "delete", obj.pk)
    assert superuser_client.get(delete).status_code == 403
    assert superuser_client.post(delete, {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (MeasurementPeriod, {"key": "nuovo", "name": "Nuovo", "end_date": "31/12/2045"}),
        (Unit, {"key": "nuova", "name": "Nuova", "kind": "ufficio", "weight": "1", "order": "0"}),
        (Position, {"key": "po", "kind": "dirigente", "title": "Dirigente", "weight": "1"}),
        (PlanDocument, {"key": "nuovo", "kind": "piano", "title": "Piano"}),
    ],
    ids=["period", "unit", "position", "document"],
)
def test_nothing_is_added_to_a_closed_cycle_from_the_admin(
    superuser_client,  # noqa: F811
    structure,
    model,
    data,
):
    set_status(structure.cycle, S.SUBMITTED)
    before = model.objects.count()
    post = {"cycle": structure.cycle.pk, "order": "0", "_save": "Salva", **data}
    if model is Unit:
        post.update({"children-TOTAL_FORMS": "0", "children-INITIAL_FORMS": "0"})
    response = superuser_client.post(url(model, "add"), post)
    assert response.status_code == 200
    errors = str(response.context["adminform"].form.errors)
    assert f"Il ciclo {structure.cycle.year} è nello stato" in errors
    assert model.objects.count() == before


def test_the_periods_and_documents_inlines_of_a_closed_cycle_are_read_only(
    superuser_client,  # noqa: F811
    structure,
):
    change = url(Cycle, "change", structure.cycle.pk)
    set_status(structure.cycle, S.SUBMITTED)
    page = superuser_client.get(change)
    for inline in page.context["inline_admin_formsets"]:
        assert not inline.has_add_permission
        assert not inline.has_change_permission
        assert not inline.has_delete_permission


def test_a_revert_from_the_history_does_not_change_the_state_of_the_cycle(
    superuser_client,  # noqa: F811
    structure,
):
    from django.urls import reverse

    cycle = structure.cycle
    first = cycle.history.order_by("history_id").first()
    Cycle.objects.filter(pk=cycle.pk).update(status=S.MONITORING)  # open, later than `first`
    revert = reverse("admin:organization_cycle_simple_history", args=[cycle.pk, first.history_id])
    form = superuser_client.get(revert).context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data["title"] = "Titolo ripristinato"
    assert superuser_client.post(revert, data).status_code == 302
    cycle.refresh_from_db()
    assert (cycle.title, cycle.status) == ("Titolo ripristinato", S.MONITORING)


# ------------------------------------------------------- the attack of the issue, on 2019


def _digest(cycle: Cycle) -> str:
    return workflow.cycle_tree(cycle=cycle)[1]


def test_the_attack_on_the_submitted_2019_is_refused_and_the_tree_stays(
    submitted,  # noqa: F811
    superuser_client,  # noqa: F811
):
    """With 2019 submitted, controllo di gestione in /admin/ switched the final period and moved
    a unit under another area: both saved, and every figure became "n.d."."""
    digest = _digest(submitted)
    assert selectors.submitted_tree_sha256(cycle=submitted) == digest

    final = MeasurementPeriod.objects.get(cycle=submitted, is_final=True)
    change = url(MeasurementPeriod, "change", final.pk)
    data = form_data(superuser_client.get(change))
    data.pop("is_final", None)
    assert superuser_client.post(change, data).status_code == 403

    unit = Unit.objects.get(cycle=submitted, key="registro-imprese")
    other = Unit.objects.filter(cycle=submitted, kind=Unit.Kind.AREA).exclude(pk=unit.parent_id)
    change = url(Unit, "change", unit.pk)
    data = form_data(superuser_client.get(change), parent=other.first().pk)
    assert superuser_client.post(change, data).status_code == 403

    assert MeasurementPeriod.objects.get(pk=final.pk).is_final
    assert Unit.objects.get(pk=unit.pk).parent_id == unit.parent_id
    assert _digest(submitted) == digest


def test_a_change_by_a_route_outside_the_product_is_shown_to_the_oiv_and_blocks_validation(
    submitted,  # noqa: F811
    people,  # noqa: F811
):
    """Whatever changes a figure after the submission (here a plain ORM save, as a shell or a
    future bug would do it) shows at the top of the OIV's review with what changed; the OIV
    cannot validate figures it did not receive."""
    review = client_of(people, "oiv").get(REVIEW)
    assert "Le cifre calcolate sono cambiate" not in review.content.decode()
    assert review.context["attention"].changes == []

    final = MeasurementPeriod.objects.get(cycle=submitted, is_final=True)
    final.is_final = False
    final.save()  # no check: the database row changes
    unit = Unit.objects.get(cycle=submitted, key="registro-imprese")
    unit.weight = Decimal("5")
    unit.save()

    review = client_of(people, "oiv").get(REVIEW)
    page = review.content.decode()
    attention = review.context["attention"]
    assert attention.tree_changed
    assert "Le cifre calcolate sono cambiate dopo l'ultimo invio all'OIV" in page
    titles = {item.title: item.detail for item in attention.changes}
    assert "consuntivo di fine anno: «True» → «False»" in titles[f"Periodo di misurazione: {final}"]
    assert "peso: «1» → «5»" in titles[f"Unità organizzativa: {unit.name}"]

    reasons = workflow.validate_reasons(submitted)
    assert any("non sono più quelle inviate all'OIV" in r for r in reasons), reasons
    with pytest.raises(workflow.TransitionRefused):
        workflow.cycle_validate(
            cycle=submitted, user=people["oiv"], decision="valid", decision_text="Ok."
        )
    assert Cycle.objects.get(pk=submitted.pk).status == S.SUBMITTED

    # put back as it was: the figures are again those submitted, the validation is possible
    final.is_final = True
    final.save()
    unit.weight = Decimal("1")
    unit.save()
    assert not workflow.tree_changed_reasons(submitted)


def test_changes_while_reopened_are_listed_and_the_new_submission_records_the_new_figures(
    submitted,  # noqa: F811
    people,  # noqa: F811
):
    from tests.workflow.test_workflow import ri_target

    target = ri_target()
    objective = target.indicator.objective
    workflow.remark_create(
        cycle=submitted,
        user=people["oiv"],
        text="Verificare il valore.",
        objective=objective,
        reopen=True,
    )
    workflow.cycle_return(cycle=submitted, user=people["oiv"])
    submitted.refresh_from_db()
    assert submitted.status == S.RETURNED
    # the structure stays closed: only the reopened objective's values
    with pytest.raises(editability.ReadOnlyError):
        plan_services.unit_update(
            unit=target.unit, user=people["controllo"], aggregation="", weight=2
        )
    with pytest.raises(editability.ReadOnlyError):
        plan_services.cycle_rules_update(cycle=submitted, user=people["controllo"], rules={})

    final = MeasurementPeriod.objects.get(cycle=submitted, is_final=True)
    actual = target.actuals.get(period=final)
    actual_record(
        target=target,
        period=final,
        user=people["controllo"],
        expected_version=actual.version,
        number=Decimal("1"),
        text="1",
    )
    review = client_of(people, "controllo").get(REVIEW)
    changes = review.context["attention"].changes
    assert any(
        item.title.startswith("Valore:") and item.objective_id == objective.pk for item in changes
    )

    for remark in selectors.open_remarks(cycle=submitted):
        workflow.remark_answer(remark=remark, user=people["controllo"], text="Corretto.")
    workflow.consistency_review_record(cycle=submitted, user=people["controllo"])
    workflow.cycle_resubmit(cycle=submitted, user=people["controllo"])
    submitted.refresh_from_db()
    assert selectors.submitted_tree_sha256(cycle=submitted) == _digest(submitted)
    review = client_of(people, "oiv").get(REVIEW)
    assert not review.context["attention"].tree_changed
    assert not workflow.tree_changed_reasons(submitted)


# --------------------------------------------- value writes and the submission, concurrently


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite: one writer at a time (and the test database is one shared connection)",
)
def test_a_value_saved_while_the_cycle_is_being_submitted_waits_and_is_refused(committed_db):
    """The submission locks the cycle's row; a value save that starts meanwhile waits for it and
    then sees the new state (before the fix it read the old state and wrote)."""
    from tests.factories import (
        ActualFactory,
        CycleFactory,
        MeasurementPeriodFactory,
        ObjectiveFactory,
        TargetFactory,
        UserFactory,
    )

    cycle = CycleFactory(status=Cycle.Status.REPORTING)
    period = MeasurementPeriodFactory(cycle=cycle, is_final=True)
    target = TargetFactory(indicator__objective=ObjectiveFactory(cycle=cycle))
    actual = ActualFactory(target=target, period=period, value_number=Decimal("7"))
    user = UserFactory(username="controllo-concorrente")
    locked, done = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def submission() -> None:
        try:
            with transaction.atomic():
                Cycle.objects.select_for_update().get(pk=cycle.pk)  # as workflow._lock does
                Cycle.objects.filter(pk=cycle.pk).update(status=Cycle.Status.SUBMITTED)
                locked.set()
                done.wait(1.0)  # the value save starts now and must wait for this commit
        finally:
            connections.close_all()

    def save() -> None:
        locked.wait(5)
        try:
            actual_record(
                target=target,
                period=period,
                user=user,
                expected_version=actual.version,
                number=Decimal("9"),
                text="9",
            )
            outcome["saved"] = True
        except editability.ReadOnlyError as error:
            outcome["refused"] = str(error)
        finally:
            done.set()
            connections.close_all()

    threads = [threading.Thread(target=submission), threading.Thread(target=save)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert "saved" not in outcome, outcome
    assert "Inviato all'OIV" in outcome["refused"]
    actual.refresh_from_db()
    assert actual.value_number == Decimal("7")


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite: one writer at a time (and the test database is one shared connection)",
)
def test_a_submission_waits_for_a_value_save_already_checked(committed_db):
    """A value save holds the cycle's row (shared) from its check to its commit: the submission
    waits, and the figures it records include the value."""
    from tests.factories import (
        ActualFactory,
        CycleFactory,
        MeasurementPeriodFactory,
        ObjectiveFactory,
        TargetFactory,
    )

    cycle = CycleFactory(status=Cycle.Status.REPORTING)
    period = MeasurementPeriodFactory(cycle=cycle, is_final=True)
    target = TargetFactory(indicator__objective=ObjectiveFactory(cycle=cycle))
    ActualFactory(target=target, period=period, value_number=Decimal("7"))
    checked, submitted_at = threading.Event(), {}

    def writer() -> None:
        try:
            with editability.editing(cycle.pk):
                checked.set()
                threading.Event().wait(0.5)  # the submission starts and must wait
                submitted_at["write"] = Cycle.objects.get(pk=cycle.pk).status
        finally:
            connections.close_all()

    def submit() -> None:
        checked.wait(5)
        try:
            with transaction.atomic():
                Cycle.objects.select_for_update().get(pk=cycle.pk)
                submitted_at["lock"] = "after" if "write" in submitted_at else "before"
                Cycle.objects.filter(pk=cycle.pk).update(status=Cycle.Status.SUBMITTED)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer), threading.Thread(target=submit)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert submitted_at == {"write": Cycle.Status.REPORTING, "lock": "after"}


def test_a_submitted_cycle_is_not_replaced_by_load_cycle(submitted, dataset_2019):  # noqa: F811
    """``load_cycle --replace`` deleted the cycle with its values and frozen versions, whatever
    its state: a closed cycle is refused with the reason, and nothing changes."""
    import copy

    from django.core.exceptions import ValidationError

    from performance.services import cycle_load

    digest = _digest(submitted)
    with pytest.raises(ValidationError) as refused:
        cycle_load(data=copy.deepcopy(dataset_2019), replace=True)
    assert "è nello stato «Inviato all'OIV»" in str(refused.value)
    assert Cycle.objects.get(pk=submitted.pk).status == S.SUBMITTED
    assert _digest(submitted) == digest
