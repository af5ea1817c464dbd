"""A published year for benchmarks and end-to-end checks (bench/load.py, the backup round trip).

``publish(year)`` takes a loaded cycle to "published" the way the Ente does: its Relazione loaded
(fixtures/relazione-<year>.yaml) when missing, then, with the OIV workflow installed
(reports.workflow.publishing, shared with setup_demo and the tests), monitoring -> reporting ->
(consistency review) -> submitted ->
validated by the OIV (a frozen version with its PDF) -> published, by two users created for it
("bench-controllo", "bench-oiv"). Without the workflow the cycle's status is set to published and
the PDF of the Relazione rendered (reports.relazione.pdf_jobs) when that module is there.

``fast_pdf=True`` replaces the Relazione's PDF with a one-page PDF (seconds saved where the PDF's
content does not matter). Runs inside a configured Django (manage.py shell, or django.setup()).
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def _fast_pdf(enabled: bool):
    if not enabled:
        yield
        return
    try:
        pdf = importlib.import_module("reports.relazione.pdf")
    except ImportError:
        yield
        return
    original = pdf.render_relazione_pdf

    def render(*, cycle):
        import weasyprint

        html = f"<html lang='it'><body><p>Relazione {cycle.year}</p></body></html>"
        return weasyprint.HTML(string=html).write_pdf()

    pdf.render_relazione_pdf = render
    try:
        yield
    finally:
        pdf.render_relazione_pdf = original


def _user(username: str, group: str):
    from django.contrib.auth.models import Group, User

    user, _ = User.objects.get_or_create(username=username, defaults={"first_name": username})
    user.groups.add(Group.objects.get(name=group))
    return user


def publish(year: int, *, fast_pdf: bool = False) -> str:
    """Publish the cycle of ``year``; returns what was done, for the log."""
    from organization import roles
    from organization.models import Cycle
    from performance.dataset import read_dataset
    from reports.models import Relazione
    from reports.relazione.services import relazione_load

    roles.roles_sync()
    cycle = Cycle.objects.select_related("organization").get(year=year)
    dataset = ROOT / "fixtures" / f"relazione-{year}.yaml"
    if not Relazione.objects.filter(cycle=cycle).exists() and dataset.exists():
        relazione_load(cycle=cycle, data=read_dataset(dataset))
    if cycle.status == Cycle.Status.PUBLISHED:
        return f"{year}: già pubblicato"

    try:
        publishing = importlib.import_module("reports.workflow.publishing")
    except ImportError:
        publishing = None

    with _fast_pdf(fast_pdf):
        if publishing is None:
            Cycle.objects.filter(pk=cycle.pk).update(status=Cycle.Status.PUBLISHED)
            try:
                services_pdf = importlib.import_module("reports.relazione.pdf_jobs")
            except ImportError:
                return f"{year}: pubblicato (senza PDF)"
            cycle.refresh_from_db()
            job = services_pdf.pdf_request(cycle=cycle, background=False)
            services_pdf.pdf_render(job=job)
            return f"{year}: pubblicato, PDF {job.pk}"

        controllo = _user("bench-controllo", roles.CONTROLLO)
        oiv = _user("bench-oiv", roles.OIV)
        publishing.oiv_member_ensure(cycle=cycle, name="Componente OIV", role="Presidente", order=1)
        publishing.cycle_publish_through_workflow(
            cycle=cycle,
            controllo=controllo,
            oiv=oiv,
            decision_text="Validata.",
            accept_objectives=False,
            resubmit=True,
        )
        if cycle.status != Cycle.Status.PUBLISHED:
            raise RuntimeError(f"{year}: stato {cycle.status} non previsto")
        return f"{year}: pubblicato con il flusso dell'OIV"
