"""Workspace views: imports and exports of the plan and of the values (see performance/urls.py).

Controllo di gestione: everything. Referente di unità: the values of their own units only (import,
and the sheet to fill in). OIV and users without a role: 403. Anonymous users: log-in.

An import takes two steps: the upload is checked (dry run: nothing is written) and the report is
shown; the file waits (performance/services/imports/pending.py: a PendingImport of the uploader,
the file under MEDIA_ROOT with a random token shown only in the uploader's page) until it is
confirmed (claimed once, validated again and applied all or nothing) or cancelled. A second
confirmation of the same token (a double click, two tabs, a replayed request) is told that the
import was already applied, is being applied or was cancelled, and writes nothing.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from organization import permissions
from organization.models import Cycle, MeasurementPeriod
from performance.rules.base import fmt as fmt_number
from performance.services import imports
from performance.views.common import cycle_for, persona_required

# The token of the user's last upload (the report page's, to cancel it at the next upload).
SESSION_KEY = "workspace_pending_import"


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label="Cosa contiene il file", widget=forms.RadioSelect)
    file = forms.FileField(
        label="File da importare",
        help_text=(
            f"Formati ammessi: .xlsx (Excel), .ods (LibreOffice), .csv; al massimo "
            f"{imports.MAX_UPLOAD_BYTES // (1024 * 1024)} MB, "
            f"{fmt_number(imports.MAX_ROWS)} righe, {imports.MAX_COLUMNS} colonne."
        ),
    )

    def __init__(self, *args, kinds: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(kind, imports.KINDS[kind]) for kind in kinds]
        if len(kinds) == 1:
            self.fields["kind"].initial = kinds[0]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        try:
            imports.file_format(upload.name)
        except imports.ImportFileError as error:
            raise forms.ValidationError(error.messages) from None
        if upload.size > imports.MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"Il file supera il limite di {imports.MAX_UPLOAD_BYTES // (1024 * 1024)} MB."
            )
        if upload.size == 0:
            raise forms.ValidationError("Il file è vuoto.")
        return upload


def _access(request, year: int) -> tuple[Cycle, bool, set[int] | None]:
    """(cycle, may import the plan, units whose values may be imported: None = all)."""
    cycle = cycle_for(request, year)
    user = request.user
    if permissions.is_controllo(user):
        return cycle, True, None
    if permissions.is_referent(user):
        return cycle, False, permissions.referent_unit_ids(user, cycle)
    raise PermissionDenied("Importazioni ed esportazioni: riservate al controllo di gestione.")


# ------------------------------------------------------------------ the file between two steps


def _forget(request, token: str) -> None:
    """The session no longer points to the import ``token``."""
    if (request.session.get(SESSION_KEY) or {}).get("token") == token:
        request.session.pop(SESSION_KEY, None)


def _store(request, *, cycle: Cycle, kind: str, filename: str, content: bytes) -> str:
    """Keep the checked file for its confirmation; the previous upload of the session, if still
    waiting, is cancelled (one import waits per session, as the report page shows one)."""
    previous = (request.session.get(SESSION_KEY) or {}).get("token", "")
    earlier = imports.pending_get(token=previous, user=request.user)
    if earlier is not None:
        with contextlib.suppress(imports.ImportRefused):  # applied, cancelled... meanwhile
            imports.pending_cancel(earlier)
    pending = imports.pending_create(
        user=request.user, cycle=cycle, kind=kind, filename=filename, content=content
    )
    request.session[SESSION_KEY] = {"token": pending.token, "year": cycle.year}
    return pending.token


def _context(cycle: Cycle, can_plan: bool, **extra) -> dict:
    return {
        "cycle": cycle,
        "can_plan": can_plan,
        "formats": imports.FORMATS,
        "periods": MeasurementPeriod.objects.filter(cycle=cycle).order_by("end_date"),
        "max_mb": imports.MAX_UPLOAD_BYTES // (1024 * 1024),
        **extra,
    }


# ---------------------------------------------------------------------------------------- views


@persona_required
@require_http_methods(["GET", "POST"])
def import_upload(request, year: int):
    cycle, can_plan, _ = _access(request, year)
    kinds = [imports.PLAN, imports.VALUES] if can_plan else [imports.VALUES]
    form = ImportForm(request.POST or None, request.FILES or None, kinds=kinds)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        kind = form.cleaned_data["kind"]
        content = upload.read()
        try:
            report = imports.import_file(
                cycle=cycle,
                kind=kind,
                content=content,
                filename=upload.name,
                user=request.user,
                dry_run=True,
            )
        except imports.ImportFileError as error:
            form.add_error("file", error.messages)
        else:
            token = _store(request, cycle=cycle, kind=kind, filename=upload.name, content=content)
            context = _context(
                cycle, can_plan, report=report, token=token, filename=Path(upload.name).name
            )
            return render(request, "workspace/import_report.html", context)
    return render(request, "workspace/import_upload.html", _context(cycle, can_plan, form=form))


@persona_required
@require_POST
def import_confirm(request, year: int):
    cycle, can_plan, _ = _access(request, year)
    token = request.POST.get("token", "")
    pending = imports.pending_get(token=token, user=request.user, cycle=cycle)
    if pending is None:
        messages.error(
            request, "Nessuna importazione in attesa di conferma: caricare di nuovo il file."
        )
        return redirect("workspace:import", year=cycle.year)
    _forget(request, pending.token)
    if "annulla" in request.POST:
        try:
            imports.pending_cancel(pending)
        except imports.ImportRefused as refusal:
            messages.warning(request, " ".join(refusal.messages))
        else:
            messages.info(request, "Importazione annullata: nessuna modifica applicata.")
        return redirect("workspace:import", year=cycle.year)
    if pending.kind == imports.PLAN and not can_plan:
        raise PermissionDenied("Solo il controllo di gestione può importare il piano.")
    try:
        report = imports.pending_apply(pending, user=request.user)
    except imports.ImportRefused as refusal:
        messages.warning(request, " ".join(refusal.messages))
        return redirect("workspace:import", year=cycle.year)
    except imports.ImportFileError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("workspace:import", year=cycle.year)
    if report.applied:
        messages.success(request, f"Importazione completata: {report.summary()}.")
        return redirect("workspace:import", year=cycle.year)
    context = _context(cycle, can_plan, report=report, filename=pending.original_name)
    context["failed"] = True
    return render(request, "workspace/import_report.html", context)


def _download(content: bytes, fmt: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=imports.CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@persona_required
@require_GET
def export_plan(request, year: int, fmt: str):
    if fmt not in imports.FORMATS:
        raise Http404("Formato non disponibile.")
    cycle, can_plan, _ = _access(request, year)
    if not can_plan:
        raise PermissionDenied("Solo il controllo di gestione può esportare il piano.")
    content = imports.plan_export(cycle=cycle, format=fmt)
    return _download(content, fmt, f"piano-{cycle.year}.{fmt}")


@persona_required
@require_GET
def export_values(request, year: int, fmt: str):
    """All recorded values; with ?periodo=<key> one row per target for that period (a sheet to
    fill in). A referent gets the rows of their units only."""
    if fmt not in imports.FORMATS:
        raise Http404("Formato non disponibile.")
    cycle, _, unit_ids = _access(request, year)
    period = None
    if request.GET.get("periodo"):
        if "\x00" in request.GET["periodo"]:  # PostgreSQL refuses it in a query: 400, not 500
            from django.core.exceptions import BadRequest  # (config.nul refuses it before)

            raise BadRequest("Il periodo indicato contiene un carattere non ammesso (NUL).")
        period = get_object_or_404(MeasurementPeriod, cycle=cycle, key=request.GET["periodo"])
    content = imports.values_export(cycle=cycle, format=fmt, period=period, unit_ids=unit_ids)
    suffix = f"-{period.key}" if period else ""
    return _download(content, fmt, f"valori-{cycle.year}{suffix}.{fmt}")


urlpatterns = [
    path("<int:year>/importa/", import_upload, name="import"),
    path("<int:year>/importa/conferma/", import_confirm, name="import-confirm"),
    path("<int:year>/esporta/piano.<str:fmt>", export_plan, name="export-plan"),
    path("<int:year>/esporta/valori.<str:fmt>", export_values, name="export-values"),
]
