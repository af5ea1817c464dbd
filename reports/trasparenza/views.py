"""The public Relazione sulla Performance (Amministrazione Trasparente) and its open data: read
only (the document is reports.relazione.document, the files reports.relazione.open_data; a year
with a published frozen version shows that, reports.workflow.views).

- ``/trasparenza/performance/``: the published years.
- ``/trasparenza/performance/<year>/``: the Relazione of a published cycle (404 otherwise).
- ``/trasparenza/performance/<year>/dati.csv`` and ``dati.json``: every objective, indicator,
  target, value, achievement and roll-up with its formula (CC-BY 4.0, docs/open-data.md).
- ``/lavoro/<year>/relazione/anteprima/``: the same page for staff, any status, marked "Bozza".
"""

from __future__ import annotations

from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from organization.models import Cycle
from performance.views.common import cycle_for, persona_required
from reports.relazione import files, open_data
from reports.relazione import selectors as report_selectors
from reports.relazione.document import relazione_context
from reports.workflow.views import public_data, public_relazione


def index(request):
    cycles = list(report_selectors.published_cycles())
    organization_name = str(cycles[0].organization) if cycles else ""
    return render(
        request,
        "reports/trasparenza/index.html",
        {"cycles": cycles, "organization_name": organization_name, "license": open_data.LICENSE},
    )


def _published_or_404(year: int) -> Cycle:
    cycle = report_selectors.published_cycle(year=year)
    if cycle is None:
        raise Http404("Nessuna Relazione pubblicata per questo anno.")
    return cycle


def relazione(request, year: int):
    frozen = public_relazione(request, year)  # the published version, when there is one
    if frozen is not None:
        return frozen
    cycle = _published_or_404(year)
    return render(request, "reports/trasparenza/relazione.html", relazione_context(cycle))


@persona_required
def preview(request, year: int):
    cycle = cycle_for(request, year)
    response = render(
        request, "reports/trasparenza/relazione.html", relazione_context(cycle, preview=True)
    )
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def data_csv(request, year: int):
    frozen = public_data(year, "csv", request)  # the published version's data, if any
    if frozen is not None:
        return frozen
    cycle = _published_or_404(year)
    _, records = open_data.records(cycle)
    return files.open_data_response(
        open_data.csv_text(records), fmt="csv", filename=f"relazione-performance-{year}.csv"
    )


def data_json(request, year: int):
    frozen = public_data(year, "json", request)  # the published version's data, if any
    if frozen is not None:
        return frozen
    cycle = _published_or_404(year)
    score, records = open_data.records(cycle)
    page = request.build_absolute_uri(reverse("public:relazione", args=[year]))
    payload = open_data.payload(
        cycle,
        score,
        records,
        source=page,
        generated_at=timezone.now().isoformat(timespec="seconds"),
    )
    response = JsonResponse(payload, json_dumps_params={"ensure_ascii": False, "indent": 1})
    return files.open_data_headers(response)
