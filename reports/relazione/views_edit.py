"""Staff pages to edit the Relazione of a cycle (/lavoro/<year>/relazione/…): its front matter,
its narrative sections (Markdown with a server-rendered preview) and its context tables (a grid of
inputs). Controllo di gestione edits; every other persona gets 403, anonymous users the log-in.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from organization import permissions
from organization.models import Cycle
from performance.views.common import cycle_for, persona_required
from reports.models import Relazione, Section
from reports.relazione import selectors
from reports.relazione.forms import RelazioneForm, SectionForm, TableForm, bounded_int
from reports.relazione.rendering import (
    FIGURE_TOKENS,
    MarkdownError,
    check_markdown,
    render_section,
    section_problem_message,
)
from reports.relazione.services import (
    MAX_COLUMNS,
    MAX_ROWS,
    StaleEditError,
    context_table_update,
    relazione_load,
    relazione_update,
    section_update,
)


def _editable_cycle(request: HttpRequest, year: int) -> Cycle:
    cycle = cycle_for(request, year)
    if not permissions.can_edit_plan(request.user, cycle):
        raise PermissionDenied("Solo il controllo di gestione modifica la Relazione.")
    return cycle


def _relazione(cycle: Cycle) -> Relazione:
    relazione = Relazione.objects.filter(cycle=cycle).first()
    if relazione is None:
        raise Http404("Il ciclo non ha ancora la Relazione.")
    return relazione


def _add_service_errors(form, error: ValidationError) -> None:
    """The service's messages next to the matching fields (the rest at the top of the form)."""
    if hasattr(error, "error_dict"):
        for name, messages_ in error.message_dict.items():
            form.add_error(name if name in form.fields else None, messages_)
    else:
        form.add_error(None, error.messages)


def _rebound(data: QueryDict, version) -> QueryDict:
    """The posted data with the version of what is stored now: a second save, made after
    comparing the two texts, deliberately replaces it."""
    data = data.copy()
    data["expected_updated_at"] = version.isoformat()
    return data


# ---------------------------------------------------------------------------------- index


@persona_required
@require_http_methods(["GET", "POST"])
def relazione_edit(request: HttpRequest, year: int) -> HttpResponse:
    cycle = _editable_cycle(request, year)
    relazione = selectors.relazione_for_editing(cycle=cycle)
    form = None
    stale = None
    if request.method == "POST" and request.POST.get("action") == "create":
        if relazione is None:
            relazione_load(
                cycle=cycle,
                data={"title": f"La Relazione sulla performance {cycle.year}"},
                user=request.user,
            )
            messages.success(request, "Relazione creata: le sezioni sono vuote, da compilare.")
        return redirect("reports:relazione-edit", year=cycle.year)
    if relazione is not None:
        count = len(relazione.signatories or []) + 1
        if request.method == "POST":
            count = bounded_int(request.POST.get("signatory_count"), low=1, high=20, default=count)
            form = RelazioneForm(request.POST, signatory_count=count)
            if form.is_valid():
                try:
                    relazione_update(
                        relazione=relazione,
                        title=form.cleaned_data["title"],
                        subtitle=form.cleaned_data["subtitle"],
                        signatories=form.signatories(),
                        user=request.user,
                        expected_updated_at=form.cleaned_data["expected_updated_at"],
                    )
                except StaleEditError as error:
                    stale = error.current
                    form = RelazioneForm(
                        _rebound(request.POST, stale.updated_at), signatory_count=count
                    )
                    form.is_valid()
                    form.add_error(None, error)
                except ValidationError as error:
                    _add_service_errors(form, error)
                else:
                    messages.success(request, "Frontespizio della Relazione salvato.")
                    return redirect("reports:relazione-edit", year=cycle.year)
        else:
            form = RelazioneForm(
                initial=RelazioneForm.initial_for(relazione), signatory_count=count
            )
    tables_by_section: dict[str, list] = {}
    if relazione is not None:
        for table in relazione.context_tables.all():
            tables_by_section.setdefault(table.section_key, []).append(table)
    context = {
        "cycle": cycle,
        "relazione": relazione,
        "form": form,
        "stale": stale,
        "read_only_reason": selectors.relazione_notice(cycle=cycle),
        "rows": [
            {"section": section, "tables": tables_by_section.get(section.key, [])}
            for section in (relazione.sections.all() if relazione else [])
        ],
    }
    return render(request, "reports/relazione/edit/relazione.html", context)


# -------------------------------------------------------------------------------- sections


@persona_required
@require_http_methods(["GET", "POST"])
def section_edit(request: HttpRequest, year: int, key: str) -> HttpResponse:
    cycle = _editable_cycle(request, year)
    section = selectors.section_for_editing(relazione=_relazione(cycle), key=key)
    preview = None
    stale = None
    if request.method == "POST":
        form = SectionForm(request.POST)
        if form.is_valid():
            if request.POST.get("action") == "preview":
                body = form.cleaned_data["body"]
                try:  # the same bounds as saving: a clear message, not a slow or failed render
                    check_markdown(body)
                except MarkdownError as error:
                    form.add_error("body", section_problem_message(section, error.reason))
                else:
                    figures = selectors.relazione_figures(cycle=cycle)
                    preview = render_section(
                        Section(key=section.key, title=section.title, body=body), figures
                    )
            else:
                try:
                    section_update(
                        section=section,
                        title=form.cleaned_data["title"],
                        body=form.cleaned_data["body"],
                        user=request.user,
                        expected_updated_at=form.cleaned_data["expected_updated_at"],
                    )
                except StaleEditError as error:
                    stale = error.current
                    form = SectionForm(_rebound(request.POST, stale.updated_at))
                    form.is_valid()
                    form.add_error(None, error)
                except ValidationError as error:
                    _add_service_errors(form, error)
                else:
                    messages.success(request, f"Sezione «{form.cleaned_data['title']}» salvata.")
                    return redirect("reports:relazione-edit", year=cycle.year)
    else:
        form = SectionForm(
            initial={
                "title": section.title,
                "body": section.body,
                "expected_updated_at": section.updated_at,
            }
        )
    context = {
        "cycle": cycle,
        "section": section,
        "form": form,
        "preview": preview,
        "stale": stale,
        "tokens": [("{{" + name + "}}", label) for name, label in FIGURE_TOKENS.items()],
    }
    return render(request, "reports/relazione/edit/section.html", context)


# ---------------------------------------------------------------------------------- tables


@persona_required
@require_http_methods(["GET", "POST"])
def table_edit(request: HttpRequest, year: int, key: str) -> HttpResponse:
    cycle = _editable_cycle(request, year)
    table = selectors.context_table_for_editing(relazione=_relazione(cycle), key=key)
    stale = None
    if request.method == "POST":
        action = request.POST.get("action")
        column_count = bounded_int(
            request.POST.get("column_count"),
            low=1,
            high=MAX_COLUMNS,
            default=max(1, len(table.columns)),
        )
        row_count = bounded_int(
            request.POST.get("row_count"), low=0, high=MAX_ROWS, default=len(table.rows)
        )
        if action == "add-row":
            row_count = min(MAX_ROWS, row_count + 1)
        form = TableForm(request.POST, column_count=column_count, row_count=row_count)
        if form.is_valid() and action != "add-row":
            try:
                context_table_update(
                    table=table,
                    title=form.cleaned_data["title"],
                    columns=form.columns(),
                    rows=form.rows(),
                    footnotes=form.footnote_list(),
                    user=request.user,
                    expected_updated_at=form.cleaned_data["expected_updated_at"],
                )
            except StaleEditError as error:
                stale = error.current
                form = TableForm(
                    _rebound(request.POST, stale.updated_at),
                    column_count=column_count,
                    row_count=row_count,
                )
                form.is_valid()
                form.add_error(None, error)
            except ValidationError as error:
                _add_service_errors(form, error)
            else:
                messages.success(request, f"Tabella «{form.cleaned_data['title']}» salvata.")
                return redirect("reports:relazione-edit", year=cycle.year)
    else:
        form = TableForm(
            initial=TableForm.initial_for(table),
            column_count=max(1, len(table.columns)),
            row_count=len(table.rows) + 1,  # one blank row to add a line
        )
    context = {
        "cycle": cycle,
        "table": table,
        "form": form,
        "stale": stale,
        "section_label": Section.Key(table.section_key).label
        if table.section_key in Section.Key.values
        else table.section_key,
    }
    return render(request, "reports/relazione/edit/table.html", context)
