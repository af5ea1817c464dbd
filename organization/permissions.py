"""Who may do what (the personas of the README), as plain functions used by views and services.

- Controllo di gestione (and Amministratore, superusers): everything on plan and actuals.
- Referente di unità: actuals of the units assigned to them (and of the offices inside those
  units); read-only elsewhere in their cycle.
- OIV: reads everything, edits nothing.
- Anonymous: public pages only.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User

from organization import roles
from organization.models import Cycle, Unit


def _groups(user: User | AnonymousUser) -> set[str]:
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_role_names", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._role_names = cached
    return cached


def is_controllo(user: User | AnonymousUser) -> bool:
    return user.is_authenticated and (
        user.is_superuser or bool(_groups(user) & {roles.CONTROLLO, roles.AMMINISTRATORE})
    )


def is_oiv(user: User | AnonymousUser) -> bool:
    return roles.OIV in _groups(user)


def is_referent(user: User | AnonymousUser) -> bool:
    return roles.REFERENTE in _groups(user)


def is_staff_persona(user: User | AnonymousUser) -> bool:
    """Any logged-in persona of the workspace."""
    return is_controllo(user) or is_oiv(user) or is_referent(user)


def referent_unit_ids(user: User | AnonymousUser, cycle: Cycle) -> set[int]:
    """The units a referent may enter values for: their units and every unit below them."""
    if not user.is_authenticated:
        return set()
    units = list(Unit.objects.filter(cycle=cycle).values_list("id", "parent_id"))
    assigned = set(Unit.objects.filter(cycle=cycle, referents=user).values_list("id", flat=True))
    children: dict[int | None, list[int]] = {}
    for unit_id, parent_id in units:
        children.setdefault(parent_id, []).append(unit_id)
    out: set[int] = set()
    stack = list(assigned)
    while stack:
        unit_id = stack.pop()
        if unit_id in out:
            continue
        out.add(unit_id)
        stack.extend(children.get(unit_id, []))
    return out


def can_view_cycle(user: User | AnonymousUser, cycle: Cycle) -> bool:
    if is_controllo(user) or is_oiv(user):
        return True
    return is_referent(user) and bool(referent_unit_ids(user, cycle))


def can_edit_plan(user: User | AnonymousUser, cycle: Cycle) -> bool:
    return is_controllo(user)


def can_enter_values(user: User | AnonymousUser, unit: Unit) -> bool:
    """May this user record actuals for the targets of ``unit``?"""
    if is_controllo(user):
        return True
    return is_referent(user) and unit.id in referent_unit_ids(user, unit.cycle)


def editable_unit_ids(user: User | AnonymousUser, cycle: Cycle) -> set[int] | None:
    """None means "all units" (controllo di gestione)."""
    if is_controllo(user):
        return None
    if is_referent(user):
        return referent_unit_ids(user, cycle)
    return set()
