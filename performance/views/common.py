"""Shared pieces of the workspace views: access checks and the cycle of the URL."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from organization import permissions
from organization.models import Cycle


def persona_required(view):
    """Logged-in workspace personas only: anonymous users go to the log-in, others get 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not permissions.is_staff_persona(request.user):
            raise PermissionDenied("Nessun ruolo assegnato a questo utente.")
        return view(request, *args, **kwargs)

    return wrapper


def cycle_for(request, year: int) -> Cycle:
    """The cycle of ``year`` if this user may see it (404 otherwise: no hint it exists)."""
    cycle = get_object_or_404(Cycle.objects.select_related("organization"), year=year)
    if not permissions.can_view_cycle(request.user, cycle):
        raise PermissionDenied("Questo ciclo non è tra quelli assegnati all'utente.")
    return cycle
