"""Publish a year through the OIV workflow, from wherever it is: the one path that ``setup_demo``,
the tests (tests/publishing.py) and the benchmarks (bench/publishing.py) share.

Monitoring -> reporting -> (consistency review, when the report has differences) -> submitted
-> (every objective accepted) -> validated by the OIV (a frozen version with its PDF) ->
published, each step through its service (reports.workflow.services), by the users given. A state
it cannot advance from (returned with remarks, unless ``resubmit``) is left as it is: the caller
reads the cycle's status.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from organization.models import Cycle
from reports.models.workflow import OivMember, RelazioneVersion
from reports.workflow import services as workflow

# More than the steps between planning and publication: a loop that does not end is a bug.
MAX_STEPS = 12


def oiv_member_ensure(*, cycle: Cycle, name: str, role: str, **fields) -> OivMember | None:
    """An OIV member for the cycle's body when it has none (validation lists the members);
    None when there already is one."""
    if OivMember.objects.filter(organization_id=cycle.organization_id).exists():
        return None
    return OivMember.objects.create(
        organization_id=cycle.organization_id, name=name, role=role, **fields
    )


def cycle_publish_through_workflow(
    *,
    cycle: Cycle,
    controllo: AbstractBaseUser,
    oiv: AbstractBaseUser,
    comment: str = "",
    consistency_comment: str = "",
    decision_text: str = "La Relazione è validata.",
    accept_objectives: bool = True,
    resubmit: bool = False,
) -> Cycle:
    """Take ``cycle`` from its state up to published, step by step (idempotent: a published
    cycle is returned as it is). ``comment``: the comment of the opening steps;
    ``consistency_comment``: of the review of the consistency report; ``accept_objectives``: the
    OIV accepts every objective before validating; ``resubmit``: a returned cycle is submitted
    again. The services' refusals (ValidationError, PermissionDenied) reach the caller."""
    Status = Cycle.Status
    for _ in range(MAX_STEPS):
        cycle.refresh_from_db()
        status = cycle.status
        if status == Status.PLANNING:
            workflow.cycle_start_monitoring(cycle=cycle, user=controllo, comment=comment)
        elif status == Status.MONITORING:
            workflow.cycle_start_reporting(cycle=cycle, user=controllo, comment=comment)
        elif status == Status.REPORTING or (status == Status.RETURNED and resubmit):
            if workflow.consistency_reasons(cycle):
                workflow.consistency_review_record(
                    cycle=cycle, user=controllo, comment=consistency_comment
                )
            if status == Status.RETURNED:
                workflow.cycle_resubmit(cycle=cycle, user=controllo)
            else:
                workflow.cycle_submit(cycle=cycle, user=controllo)
        elif status == Status.SUBMITTED:
            if accept_objectives:
                workflow.objectives_accept_all(cycle=cycle, user=oiv)
            workflow.cycle_validate(
                cycle=cycle,
                user=oiv,
                decision=RelazioneVersion.Decision.VALID,
                decision_text=decision_text,
            )
        elif status == Status.VALIDATED:
            workflow.cycle_publish(cycle=cycle, user=controllo)
        else:  # published, or a state this path does not handle
            return cycle
    raise RuntimeError(f"{cycle.year}: pubblicazione non raggiunta in {MAX_STEPS} passaggi")
