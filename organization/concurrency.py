"""Optimistic locking, one mechanism for every form that edits a stored row: the form carries
what the user read (a value's ``version``, a Relazione section's ``updated_at``, the signed
snapshot of a plan object's fields), and the save refuses, with nothing written, when the row has
changed meanwhile.

- ``StaleError``: the refusal, a ValidationError (code "stale") with the Italian message of the
  form and ``current``, what is stored now (to show next to what the user typed). Each form keeps
  its own subclass and message (performance.services.actuals.StaleActualError,
  performance.services.entry.UnitValuesConflict, performance.services.plan.PlanConflictError,
  reports.relazione.services.StaleEditError).
- ``claim``: the compare-and-set, one conditional UPDATE of the lock field (``version`` + 1, or
  a new ``updated_at``) on the row only if it still holds the value the user read; safe on
  PostgreSQL and SQLite alike (a concurrent save finds the value already moved on).
- ``check_and_claim``: both, for a row read (and locked) by the service.

The plan form compares field by field rather than a version (a change by someone else to a field
this save leaves alone is kept, not refused): it raises a StaleError too, keyed by field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models


class StaleError(ValidationError):
    """The row was changed by someone else since the form was opened: nothing was written."""

    def __init__(self, message: Any, *, current: Any = None, code: str = "stale") -> None:
        self.current = current
        super().__init__(message, code=code)


def claim(model: type[models.Model], *, pk: Any, field: str, expected: Any, new: Any) -> bool:
    """Set ``field`` to ``new`` on the row ``pk`` if it still holds ``expected`` (True), in one
    conditional UPDATE."""
    return model._default_manager.filter(pk=pk, **{field: expected}).update(**{field: new}) == 1


def check_and_claim(
    current: models.Model,
    *,
    field: str,
    expected: Any,
    new: Any,
    stale: Callable[[models.Model], StaleError],
) -> None:
    """``current`` (as just read) must hold ``expected`` in ``field``, and is claimed (``field``
    set to ``new`` in the database and on ``current``); otherwise ``stale(current)``, with
    ``current`` refreshed, is raised."""
    if getattr(current, field) != expected:
        raise stale(current)
    if not claim(type(current), pk=current.pk, field=field, expected=expected, new=new):
        current.refresh_from_db()
        raise stale(current)
    setattr(current, field, new)
