"""Workspace views: the albero della performance of a cycle (patterns added to tables.py)."""

from django.shortcuts import render
from django.urls import path

from performance import selectors
from performance.views.common import cycle_for, persona_required


@persona_required
def tree(request, year: int):
    cycle = cycle_for(request, year)
    context = {"cycle": cycle, **selectors.cycle_tree(cycle=cycle)}
    return render(request, "workspace/tree.html", context)


urlpatterns = [
    path("<int:year>/albero/", tree, name="tree"),
]
