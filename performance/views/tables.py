"""Workspace views: the objectives and indicators tables of a cycle, with filters, sorting and
export (?_export=csv|xlsx|ods). The albero della performance (tree.py) and the history of an
indicator (history.py) add their patterns here (see performance/urls.py)."""

from django.shortcuts import render
from django.urls import path
from django_tables2 import RequestConfig

from performance import filters, selectors
from performance import tables as workspace_tables
from performance.views import history, tree
from performance.views.common import cycle_for, persona_required


def _table_page(request, year: int, *, kind: str):
    cycle = cycle_for(request, year)
    form = filters.TableFilterForm(
        request.GET or None, choices=selectors.table_filter_choices(cycle=cycle)
    )
    if kind == "objectives":
        rows = selectors.objective_table_rows(cycle=cycle, filters=form.filters())
        table = workspace_tables.ObjectiveTable(rows)
        title, filename = "Obiettivi", f"obiettivi-{cycle.year}"
    else:
        rows = selectors.target_table_rows(cycle=cycle, filters=form.filters())
        table = workspace_tables.IndicatorTable(rows, year=cycle.year)
        title, filename = "Indicatori e target", f"indicatori-{cycle.year}"
    RequestConfig(request, paginate=False).configure(table)
    table.caption = f"{title} del ciclo {cycle.year}"
    export_format = request.GET.get("_export")
    if export_format in workspace_tables.EXPORT_FORMATS:
        return workspace_tables.export_response(
            table, export_format, filename=filename, title=f"{title} {cycle.year}"
        )
    return render(
        request,
        f"workspace/tables_{kind}.html",
        {
            "cycle": cycle,
            "table": table,
            "form": form,
            "title": title,
            "count": len(rows),
            "export_formats": workspace_tables.EXPORT_FORMATS,
        },
    )


@persona_required
def objectives(request, year: int):
    return _table_page(request, year, kind="objectives")


@persona_required
def indicators(request, year: int):
    return _table_page(request, year, kind="indicators")


urlpatterns = [
    path("<int:year>/obiettivi/", objectives, name="objectives"),
    path("<int:year>/indicatori/", indicators, name="indicators"),
    *tree.urlpatterns,
    *history.urlpatterns,
]
