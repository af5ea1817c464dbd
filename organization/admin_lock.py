"""The cycle's read-only rule in the Django admin (organization.editability).

Every service refuses to change the plan, the actual values and the Relazione of a cycle that was
submitted to the OIV, validated or published (and, once returned, everything the OIV did not
reopen). The admin writes models directly, so its pages of those models apply the same rule:

- CycleLockedAdmin (a ModelAdmin mixin): ``has_change_permission`` and ``has_delete_permission``
  are False for an object the cycle's scope does not allow to change, so Django shows its change
  page read-only (as with view permission) with a warning giving the reason, and refuses the
  POST, the delete page and the bulk "delete selected" action (Django asks
  ``has_delete_permission`` for each object it would delete, cascades included). Its form refuses,
  with the Italian reason, an object added to (or moved into) a closed cycle, and a revert from
  the history of a locked object.
- CycleLockedInline (an InlineModelAdmin mixin): no add, change or delete of the rows when the
  parent object's scope does not allow its rows to change.

The returned state follows editability object by object: a reopened objective reopens itself, its
indicators, targets and values; a reopened section its text and the context tables shown after
it; ``FRONT_MATTER`` the Relazione's own fields. Inlines of sections and context tables, whose
rows may differ from one another, are editable only while the whole cycle is.

The scope of a cycle is read once per request (one query, two when returned); the lock of a saved
object is read from the database (one query, cached per request) so a stale instance never
unlocks it. Changelists ask ``has_change_permission`` without an object: nothing is read there.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db import models
from django.http import HttpRequest

from organization import editability

LOCKED_ADMIN = "Modifica e cancellazione sono disabilitate anche dall'amministrazione."


@dataclass(frozen=True)
class LockPath:
    """How an object reaches what editability asks about, as dotted attribute paths (``pk``,
    ``cycle_id``, ``indicator.objective_id``...): its cycle, its objective (None: not tied to one)
    and its Relazione section, either a path (``section``) or a fixed key (``section_key``)."""

    cycle: str
    objective: str | None = None
    section: str | None = None
    section_key: str | None = None

    def orm(self, path: str) -> str:
        return path.replace(".", "__")


def _follow(obj: models.Model, path: str):
    """``obj.a.b_id`` for ``"a.b_id"``; None when a step is empty or not saved yet."""
    value = obj
    for name in path.split("."):
        try:
            value = getattr(value, name)
        except ObjectDoesNotExist:
            return None
        if value is None:
            return None
    return value


def cycle_scope(request: HttpRequest, cycle_id: int) -> editability.EditScope:
    """The cycle's EditScope, read once per request."""
    cache = request.__dict__.setdefault("_admin_edit_scopes", {})
    if cycle_id not in cache:
        cache[cycle_id] = editability.edit_scope(cycle_id)
    return cache[cycle_id]


def _refusal(request: HttpRequest, cycle_id, objective_id, section_key) -> str:
    if cycle_id is None:
        return ""
    scope = cycle_scope(request, int(cycle_id))
    return scope.refusal(objective_id=objective_id, section_key=section_key)


def instance_refusal(request: HttpRequest, obj: models.Model, lock: LockPath) -> str:
    """Why ``obj``, with the values it has in memory (a form's instance), may not be saved
    now ("" when it may; also when it is not attached to a cycle yet)."""
    return _refusal(
        request,
        _follow(obj, lock.cycle),
        _follow(obj, lock.objective) if lock.objective else None,
        _follow(obj, lock.section) if lock.section else lock.section_key,
    )


def _locks(queryset: models.QuerySet, lock: LockPath) -> list[tuple]:
    """(pk, cycle_id, objective_id, section_key) of the rows, read in one query."""
    fields = ["pk", lock.orm(lock.cycle)]
    fields += [lock.orm(lock.objective)] if lock.objective else []
    fields += [lock.orm(lock.section)] if lock.section else []
    rows = []
    for row in queryset.order_by().values_list(*fields):
        pk, cycle_id, rest = row[0], row[1], list(row[2:])
        objective_id = rest.pop(0) if lock.objective else None
        section_key = rest.pop(0) if lock.section else lock.section_key
        rows.append((pk, cycle_id, objective_id, section_key))
    return rows


def stored_refusals(
    request: HttpRequest, queryset: models.QuerySet, lock: LockPath
) -> dict[object, str]:
    """{pk: reason} of the saved rows of ``queryset`` that may not change now (as stored in the
    database; cached per request for stored_refusal)."""
    cache = request.__dict__.setdefault("_admin_locks", {})
    label = queryset.model._meta.label
    refused = {}
    for pk, cycle_id, objective_id, section_key in _locks(queryset, lock):
        reason = _refusal(request, cycle_id, objective_id, section_key)
        cache[(label, pk, lock)] = reason
        if reason:
            refused[pk] = reason
    return refused


def stored_refusal(request: HttpRequest, obj: models.Model, lock: LockPath) -> str:
    """Why the saved object ``obj`` may not change now ("" when it may, or is not saved)."""
    if obj.pk is None:
        return ""
    key = (obj._meta.label, obj.pk, lock)
    cache = request.__dict__.setdefault("_admin_locks", {})
    if key not in cache:
        manager = type(obj)._default_manager
        cache[key] = stored_refusals(request, manager.filter(pk=obj.pk), lock).get(obj.pk, "")
    return cache[key]


class CycleLockedAdmin:
    """ModelAdmin mixin (first in the bases) for a model that belongs to a cycle: see the module
    docstring. Subclasses set ``cycle_lock``."""

    cycle_lock: LockPath

    def locked_reason(self, request: HttpRequest, obj: models.Model | None) -> str:
        return "" if obj is None else stored_refusal(request, obj, self.cycle_lock)

    def has_change_permission(self, request, obj=None):
        if not super().has_change_permission(request, obj):
            return False
        return not self.locked_reason(request, obj)

    def has_delete_permission(self, request, obj=None):
        if not super().has_delete_permission(request, obj):
            return False
        return not self.locked_reason(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        """The admin's form, refusing an object the cycle's scope does not allow (added to a
        closed cycle, moved into one, or reverted from the history of a locked object)."""
        form = super().get_form(request, obj, change=change, **kwargs)
        lock = self.cycle_lock

        class CycleLockedForm(form):
            def _post_clean(self):
                super()._post_clean()
                reason = instance_refusal(request, self.instance, lock)
                if reason:
                    self.add_error(None, reason)

        CycleLockedForm.__name__ = form.__name__
        return CycleLockedForm

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "GET":
            obj = self.get_object(request, unquote(object_id))
            reason = self.locked_reason(request, obj)
            if reason:
                messages.warning(request, f"{reason} {LOCKED_ADMIN}")
        return super().change_view(request, object_id, form_url, extra_context)

    def get_deleted_objects(self, objs, request):
        """Read the locks of the objects to delete in one query (the bulk action asks
        has_delete_permission of each) and say why locked ones cannot be deleted."""
        pks = [obj.pk for obj in objs]
        refused = stored_refusals(
            request, self.model._default_manager.filter(pk__in=pks), self.cycle_lock
        )
        if refused and not request.POST.get("post"):
            for reason in dict.fromkeys(refused.values()):
                messages.error(request, f"{reason} {LOCKED_ADMIN}")
        return super().get_deleted_objects(objs, request)

    def delete_model(self, request, obj):
        reason = stored_refusal(request, obj, self.cycle_lock)
        if reason:
            raise PermissionDenied(reason)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        refused = stored_refusals(request, queryset, self.cycle_lock)
        if refused:
            raise PermissionDenied(next(iter(refused.values())))
        super().delete_queryset(request, queryset)


class CycleLockedInline:
    """InlineModelAdmin mixin (first in the bases): no add, change or delete of the rows when
    the parent object's scope does not allow them. ``parent_lock`` says how the parent reaches
    its cycle and, when every row shares it, the objective (an inline of rows whose section may
    differ sets neither objective nor section: the whole cycle must be open)."""

    parent_lock: LockPath

    def _parent_open(self, request, obj) -> bool:
        return obj is None or not stored_refusal(request, obj, self.parent_lock)

    def has_add_permission(self, request, obj):
        return super().has_add_permission(request, obj) and self._parent_open(request, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._parent_open(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._parent_open(request, obj)
