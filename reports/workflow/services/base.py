"""The workflow's common ground: roles, the refusal, the cycle's lock and the audit record."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from organization import permissions
from organization.models import Cycle
from reports.models.workflow import (
    CycleTransition,
)
from reports.relazione import pdf_jobs as services_pdf
from reports.workflow import selectors
from reports.workflow.services import steps

logger = logging.getLogger("reports.workflow.services")  # one name for the package, as before

Status = Cycle.Status
Action = CycleTransition.Action
User = AbstractBaseUser | AnonymousUser

CONTROLLO = "Controllo di gestione"
OIV = "OIV"
MISSING_LISTED = 10  # missing values named in the precondition's message


class TransitionRefused(ValidationError):
    """The transition's preconditions are not met: ``reasons`` lists each, in Italian."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = list(reasons)
        super().__init__(self.reasons, code="refused")


# ------------------------------------------------------------------------------- helpers


def _name(user: User | None) -> str:
    if user is None or not user.is_authenticated:
        return ""
    return user.get_full_name() or user.get_username()


def _real(user: User | None):
    return user if user is not None and user.is_authenticated else None


def _require_controllo(user: User | None, what: str) -> None:
    if user is None or not permissions.is_controllo(user):
        raise PermissionDenied(f"Solo il controllo di gestione può {what}.")


def _require_oiv(user: User | None, what: str) -> None:
    if user is None or not permissions.is_oiv(user):
        raise PermissionDenied(f"Solo l'OIV può {what}.")


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _date(value: dt.datetime | None) -> str:
    return timezone.localtime(value).strftime("%d/%m/%Y %H:%M") if value else ""


def sha256(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def _lock(cycle: Cycle) -> Cycle:
    return Cycle.objects.select_for_update().select_related("organization").get(pk=cycle.pk)


def _record(
    *,
    cycle: Cycle,
    user: User | None,
    action: str,
    comment: str = "",
    data: dict | None = None,
) -> CycleTransition:
    """The audit record and, when the action changes the state (STEPS), the cycle's new
    state with its history. Inside the caller's transaction, with ``cycle`` locked."""
    from_status = cycle.status
    to_status = steps.STEP[action].to_status or from_status
    round_ = selectors.current_round(cycle=cycle)
    if action in (Action.SUBMIT, Action.RESUBMIT):
        round_ += 1  # this is the new submission
    record = CycleTransition.objects.create(
        cycle=cycle,
        action=action,
        from_status=from_status,
        to_status=to_status,
        user=_real(user),
        user_name=_name(user),
        comment=(comment or "").strip(),
        round=round_,
        data=data or {},
    )
    if to_status != from_status:
        cycle.status = to_status
        cycle._history_user = _real(user)
        cycle._change_reason = Action(action).label
        cycle.save(update_fields=["status", "updated_at"])
        services_pdf.pdf_public_forget(year=cycle.year)  # published or not any more
    return record


def _refuse_state(cycle: Cycle, allowed: tuple[str, ...], why: str) -> None:
    """TransitionRefused unless the cycle is in one of the ``allowed`` states; ``why`` (Italian)
    follows the cycle's state in the message."""
    if cycle.status not in allowed:
        raise TransitionRefused(
            [f"Il ciclo {cycle.year} è nello stato «{cycle.get_status_display()}»: {why}"]
        )
