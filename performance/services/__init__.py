"""Writes. Every service is keyword-only, validates before writing, runs in one transaction and
leaves an audit trail (django-simple-history: who, when, old and new values)."""

from performance.rules.values import value_from_actual
from performance.services.actuals import StaleActualError, actual_record
from performance.services.cycle import cycle_delete, cycle_load

__all__ = [
    "StaleActualError",
    "actual_record",
    "cycle_delete",
    "cycle_load",
    "value_from_actual",
]
