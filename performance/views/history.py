"""Workspace views: the history of an indicator, its targets and their values (patterns added to
tables.py)."""

from django.shortcuts import get_object_or_404, render
from django.urls import path

from performance import selectors
from performance.models import Indicator
from performance.views.common import cycle_for, persona_required


@persona_required
def indicator_history(request, year: int, indicator_id: int):
    cycle = cycle_for(request, year)
    indicator = get_object_or_404(
        Indicator.objects.select_related("objective"), pk=indicator_id, objective__cycle=cycle
    )
    context = {
        "cycle": cycle,
        "indicator": indicator,
        "entries": selectors.indicator_history(indicator=indicator),
    }
    return render(request, "workspace/history.html", context)


urlpatterns = [
    path(
        "<int:year>/indicatori/<int:indicator_id>/storico/",
        indicator_history,
        name="indicator-history",
    ),
]
