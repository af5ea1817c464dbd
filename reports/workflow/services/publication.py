"""The publication of the validated Relazione and the errata corrige after it."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from organization.models import Cycle
from reports.models.workflow import (
    CycleTransition,
    RelazioneVersion,
)
from reports.workflow.services import steps
from reports.workflow.services.base import Action, User, _lock, _real, _record


def cycle_publish(*, cycle: Cycle, user: User, comment: str = "") -> RelazioneVersion:
    """Publish the latest validated version: the only write on a frozen version (its
    publication date and who published it)."""
    steps._require(user, Action.PUBLISH)
    with transaction.atomic():
        locked = _lock(cycle)
        steps._check(locked, Action.PUBLISH)
        version = RelazioneVersion.objects.select_for_update().filter(cycle=locked).latest("number")
        now = timezone.now()
        RelazioneVersion.objects.filter(pk=version.pk, published_at__isnull=True).update(
            published_at=now, published_by=_real(user)
        )
        _record(
            cycle=locked,
            user=user,
            action=Action.PUBLISH,
            comment=comment,
            data={"version": version.number, "sha256": version.digest},
        )
    cycle.status = locked.status
    version.refresh_from_db()
    return version


def errata_open(*, cycle: Cycle, user: User, note: str) -> CycleTransition:
    """A correction after publication: the cycle goes back to "reporting" (everything editable
    again), with ``note`` saying what is to be corrected and why; the validation that follows
    freezes a new version (errata corrige) that carries the note and the list of differences,
    while the published one stays public until the new one is published, then readable in the
    archive."""
    steps._require(user, Action.ERRATA)  # before the note is looked at
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "Indicare che cosa si corregge e perché."})
    return steps._transition(cycle=cycle, user=user, action=Action.ERRATA, comment=note)
