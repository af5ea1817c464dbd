"""The transitions of the cycle up to the OIV's decision: monitoring, reporting, the review of
the consistency report, submission, resubmission and return with remarks."""

from __future__ import annotations

import datetime as dt

from organization.models import Cycle
from performance.selectors import cycle_score
from reports.models.workflow import (
    CycleTransition,
    Remark,
)
from reports.workflow import selectors
from reports.workflow.services import steps
from reports.workflow.services.base import Action, User
from reports.workflow.services.freezing import cycle_tree
from reports.workflow.services.preconditions import start_reporting_reasons

# ----------------------------------------------------------------------------- transitions


def cycle_start_monitoring(*, cycle: Cycle, user: User, comment: str = "") -> CycleTransition:
    return steps._transition(
        cycle=cycle,
        user=user,
        action=Action.START_MONITORING,
        comment=comment,
    )


def cycle_start_reporting(
    *, cycle: Cycle, user: User, comment: str = "", today: dt.date | None = None
) -> CycleTransition:
    return steps._transition(
        cycle=cycle,
        user=user,
        action=Action.START_REPORTING,
        check=lambda c: start_reporting_reasons(c, today),
        comment=comment,
    )


def consistency_review_record(*, cycle: Cycle, user: User, comment: str = "") -> CycleTransition:
    """Record that the consistency report was reviewed, with the discrepancies it listed: the
    submission requires a review whose list is still the current one."""

    def data(locked: Cycle) -> dict:
        return {"discrepancies": selectors.discrepancy_messages(cycle_score(cycle=locked))}

    return steps._transition(
        cycle=cycle, user=user, action=Action.CONSISTENCY_REVIEW, comment=comment, data=data
    )


def _submission_data(locked: Cycle) -> dict:
    """What a submission records: the digest of the computed tree the OIV receives (the review
    and the validation compare it with the tree as it is then)."""
    _, digest = cycle_tree(cycle=locked)
    return {"tree_sha256": digest}


def cycle_submit(*, cycle: Cycle, user: User, comment: str = "") -> CycleTransition:
    """Send the Relazione to the OIV: from now on plan, values and Relazione are read-only."""
    return steps._transition(
        cycle=cycle,
        user=user,
        action=Action.SUBMIT,
        comment=comment,
        data=_submission_data,
    )


def cycle_resubmit(*, cycle: Cycle, user: User, comment: str = "") -> CycleTransition:
    """Send the Relazione back to the OIV after answering its remarks."""
    return steps._transition(
        cycle=cycle,
        user=user,
        action=Action.RESUBMIT,
        comment=comment,
        data=_submission_data,
    )


def cycle_return(*, cycle: Cycle, user: User, comment: str = "") -> CycleTransition:
    """The OIV returns the Relazione with its open remarks; only the objectives and sections of
    the remarks marked "reopen" become editable (recorded in the transition's data)."""

    def data(locked: Cycle) -> dict:
        round_ = selectors.current_round(cycle=locked)
        reopened = Remark.objects.filter(
            cycle=locked, round=round_, reopen=True, status=Remark.Status.OPEN
        ).values_list("objective_id", "section_key")
        return {
            "objective_ids": sorted({o for o, _ in reopened if o}),
            "section_keys": sorted({s for _, s in reopened if s}),
            "remarks": selectors.open_remarks(cycle=locked, round=round_).count(),
        }

    return steps._transition(
        cycle=cycle,
        user=user,
        action=Action.RETURN,
        comment=comment,
        data=data,
    )
