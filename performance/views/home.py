from django.shortcuts import render

from organization import permissions
from performance import selectors
from performance.views.common import persona_required


@persona_required
def home(request):
    cycle = selectors.current_cycle()
    context = {"cycle": cycle}
    if cycle is not None and permissions.can_view_cycle(request.user, cycle):
        period = selectors.current_period(cycle=cycle)
        unit_ids = permissions.editable_unit_ids(request.user, cycle)
        if permissions.is_oiv(request.user):
            unit_ids = None
        context.update(
            period=period,
            organization_name=str(cycle.organization),
            completeness=selectors.unit_completeness(cycle=cycle, period=period, unit_ids=unit_ids)
            if period
            else [],
            missing=selectors.missing_values(cycle=cycle, period=period, unit_ids=unit_ids)
            if period
            else [],
            changes=selectors.latest_changes(cycle=cycle, unit_ids=unit_ids),
            can_edit_plan=permissions.can_edit_plan(request.user, cycle),
        )
    return render(request, "workspace/home.html", context)
