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
    from reports.models import Relazione
    from reports.relazione import services as relazione_services
    from reports.workflow import publishing

    controllo, oiv = users()
    if not Relazione.objects.filter(cycle=cycle).exists():
        relazione_services.relazione_load(
            cycle=cycle, data=read_dataset(ROOT / "fixtures" / "relazione-2019.yaml")
        )
    publishing.oiv_member_ensure(cycle=cycle, name="Maria Bianchi", role="Presidente")
    publishing.cycle_publish_through_workflow(
        cycle=cycle,
        controllo=controllo,
        oiv=oiv,
        consistency_comment="Differenze note: prevale la cifra calcolata.",
    )
    assert cycle.status == Cycle.Status.PUBLISHED, cycle.status
    return cycle
