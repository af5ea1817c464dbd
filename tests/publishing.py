"""Publish the 2019 cycle through the OIV workflow, as ``setup_demo`` does (shared by the
accessibility and HTML-validity tests): Relazione loaded, monitoring, reporting, consistency
review, submission, every objective accepted, validation (frozen version and its PDF: seconds,
WeasyPrint), publication."""

from __future__ import annotations

from pathlib import Path

from organization import roles
from organization.models import Cycle

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "Prova-accessibilita-2019"  # test users only (throw-away test database)


def users():
    """The controllo di gestione and the OIV (created once)."""
    from django.contrib.auth.models import Group, User

    from organization.roles import roles_sync

    roles_sync()
    made = []
    for username, group in (("a11y-controllo", roles.CONTROLLO), ("a11y-oiv", roles.OIV)):
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_user(
                username, password=PASSWORD, first_name="Prova", last_name=username
            )
            user.groups.add(Group.objects.get(name=group))
        made.append(user)
    return made


def publish(cycle: Cycle) -> Cycle:
    from performance.dataset import read_dataset
    from reports import services as relazione_services
    from reports import services_workflow as workflow
    from reports.models import Relazione
    from reports.models_workflow import OivMember

    controllo, oiv = users()
    if not Relazione.objects.filter(cycle=cycle).exists():
        relazione_services.relazione_load(
            cycle=cycle, data=read_dataset(ROOT / "fixtures" / "relazione-2019.yaml")
        )
    if not OivMember.objects.filter(organization_id=cycle.organization_id).exists():
        OivMember.objects.create(
            organization_id=cycle.organization_id, name="Maria Bianchi", role="Presidente"
        )
    Status = Cycle.Status
    cycle.refresh_from_db()
    if cycle.status == Status.PLANNING:
        workflow.cycle_start_monitoring(cycle=cycle, user=controllo)
        cycle.refresh_from_db()
    if cycle.status == Status.MONITORING:
        workflow.cycle_start_reporting(cycle=cycle, user=controllo)
        cycle.refresh_from_db()
    if cycle.status == Status.REPORTING:
        if workflow.consistency_reasons(cycle):
            workflow.consistency_review_record(
                cycle=cycle, user=controllo, comment="Differenze note: prevale la cifra calcolata."
            )
        workflow.cycle_submit(cycle=cycle, user=controllo)
        cycle.refresh_from_db()
    if cycle.status == Status.SUBMITTED:
        workflow.objectives_accept_all(cycle=cycle, user=oiv)
        workflow.cycle_validate(
            cycle=cycle,
            user=oiv,
            decision=workflow.RelazioneVersion.Decision.VALID,
            decision_text="La Relazione è validata.",
        )
        cycle.refresh_from_db()
    if cycle.status == Status.VALIDATED:
        workflow.cycle_publish(cycle=cycle, user=controllo)
        cycle.refresh_from_db()
    assert cycle.status == Status.PUBLISHED, cycle.status
    return cycle
