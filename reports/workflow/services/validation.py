"""The validation by the OIV: freezes the version and writes the documento di validazione."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from organization.models import Cycle
from reports.models.workflow import (
    RelazioneVersion,
    Remark,
)
from reports.workflow import selectors, version_storage
from reports.workflow.services import steps
from reports.workflow.services.base import (
    Action,
    Status,
    TransitionRefused,
    User,
    _lock,
    _name,
    _real,
    _record,
    logger,
    sha256,
)
from reports.workflow.services.freezing import _sign, cycle_tree, freeze, version_changes
from reports.workflow.services.validation_document import _render_validation_pdf, validation_context

STORAGE_REFUSED = (
    "Non è stato possibile salvare i file della versione (PDF della Relazione e documento di "
    "validazione) nell'archivio dei documenti: nulla è stato validato. Avvisare "
    "l'amministratore del sistema (spazio su disco, permessi o disponibilità della cartella dei "
    "documenti) e ripetere la validazione."
)


def _storage_prepare(*, year: int) -> None:
    """Before the seconds of rendering: remove what an interrupted validation left in the
    year's versions folder (reports.workflow.version_storage.orphans_clean) and check that the
    folder
    takes a file (TransitionRefused with STORAGE_REFUSED otherwise)."""
    try:
        version_storage.orphans_clean(year=year)
    except OSError:
        logger.warning("Relazione %s: orphan version files not cleaned", year, exc_info=True)
    try:
        version_storage.probe(year=year)
    except OSError as error:
        logger.exception("Relazione %s: the versions folder does not take files", year)
        raise TransitionRefused([STORAGE_REFUSED]) from error


def cycle_validate(
    *,
    cycle: Cycle,
    user: User,
    decision: str = RelazioneVersion.Decision.VALID,
    decision_text: str = "",
    comment: str = "",
) -> RelazioneVersion:
    """The OIV validates the Relazione (art. 14 c. 4 lett. c D.Lgs. 150/2009): the documento di
    validazione (HTML and PDF) with the decision, the date and the members, and the frozen
    version that will be published. The rendering (seconds) happens before the transaction; in
    the transaction the state, the preconditions and the data's digest are checked again."""
    steps._require(user, Action.VALIDATE)
    decision_text = (decision_text or "").strip()
    if decision not in RelazioneVersion.Decision.values:
        raise ValidationError({"decision": "Scegliere l'esito della validazione."})
    if decision == RelazioneVersion.Decision.VALID_WITH_REMARKS and not decision_text:
        raise ValidationError(
            {"decision_text": "Indicare le osservazioni che accompagnano la validazione."}
        )
    current = Cycle.objects.select_related("organization").get(pk=cycle.pk)
    steps._check(current, Action.VALIDATE)
    previous = RelazioneVersion.objects.filter(cycle=current).order_by("-number").first()
    number = previous.number + 1 if previous else 1
    kind = RelazioneVersion.Kind.ERRATA if previous else RelazioneVersion.Kind.ORIGINAL
    errata = selectors.last_transition(cycle=current, actions=[Action.ERRATA])
    errata_note = errata.comment if (previous and errata) else ""
    _storage_prepare(year=current.year)

    frozen = freeze(cycle=current, number=number)
    members = [{"name": m.name, "role": m.role} for m in selectors.oiv_members(cycle=current)]
    validated_at = timezone.now()
    context = validation_context(
        cycle=current,
        number=number,
        kind=kind,
        frozen=frozen,
        decision=decision,
        decision_text=decision_text,
        members=members,
        validated_at=validated_at,
        validator=_name(user),
        errata_note=errata_note,
    )
    validation_html = render_to_string("reports/workflow/validation_body.html", context)
    validation_pdf, validation_error = None, ""
    try:
        document = render_to_string(
            "reports/workflow/validation_document.html", {**context, "body": validation_html}
        )
        validation_pdf = _render_validation_pdf(document)
    except Exception as error:
        logger.exception("Documento di validazione %s v%s: PDF not rendered", current.year, number)
        validation_error = f"{type(error).__name__}: {error}"[:2000]
    validation_signed = False
    if validation_pdf is not None:
        validation_pdf, validation_signed, _ = _sign(
            validation_pdf,
            reason=f"Documento di validazione della Relazione sulla performance {current.year}",
            location=str(current.organization),
        )
    changes = version_changes(previous.tree_json, frozen.tree) if previous else []

    version = RelazioneVersion(
        cycle=current,
        number=number,
        kind=kind,
        previous=previous,
        errata_note=errata_note,
        changes=changes,
        tree_json=frozen.tree,
        tree_sha256=frozen.tree_sha256,
        html=frozen.html,
        html_sha256=frozen.html_sha256,
        data_csv=frozen.data_csv,
        data_json=frozen.data_json,
        data_csv_sha256=sha256(frozen.data_csv),
        data_json_sha256=sha256(frozen.data_json),
        pdf_sha256=frozen.pdf_sha256,
        pdf_size=len(frozen.pdf) if frozen.pdf is not None else None,
        pdf_signed=frozen.pdf_signed,
        pdf_signer=frozen.pdf_signer,
        pdf_error=frozen.pdf_error,
        decision=decision,
        decision_text=decision_text,
        validated_at=validated_at,
        validated_by=_real(user),
        oiv_members=members,
        validation_html=validation_html,
        validation_html_sha256=sha256(validation_html),
        validation_pdf_sha256=sha256(validation_pdf) if validation_pdf is not None else "",
        validation_pdf_signed=validation_signed,
        validation_pdf_error=validation_error,
        created_at=validated_at,
    )
    # The files under temporary names now, at their own names once the row is committed
    # (reports.workflow.version_storage): never a file of a version without its row, nor a suffixed
    # name.
    pending: list[version_storage.Pending] = []
    outermost = not transaction.get_connection().in_atomic_block
    try:
        files = [
            ("pdf", version.pdf_name, frozen.pdf),
            ("validation_pdf", version.validation_pdf_name, validation_pdf),
        ]
        try:
            for field_name, filename, content in files:
                if content is not None:
                    name = version_storage.file_name(version, field_name, filename)
                    pending.append(version_storage.write_temporary(name, content))
                    setattr(version, field_name, name)
        except OSError as error:
            logger.exception("Relazione %s v%s: version files not written", current.year, number)
            raise TransitionRefused([STORAGE_REFUSED]) from error
        with transaction.atomic():
            locked = _lock(current)
            steps._check(locked, Action.VALIDATE)
            latest = RelazioneVersion.objects.filter(cycle=locked).order_by("-number").first()
            if (latest.number if latest else 0) != number - 1:
                raise TransitionRefused(["Un'altra validazione è stata registrata nel frattempo."])
            _, digest = cycle_tree(cycle=locked)
            if digest != frozen.tree_sha256:
                raise TransitionRefused(
                    ["I dati del ciclo sono cambiati durante la validazione: ripeterla."]
                )
            try:
                version_storage.claim(pending)
            except version_storage.NameTaken as taken:
                logger.error("Relazione %s v%s: %s is a version's", locked.year, number, taken)
                raise TransitionRefused(
                    [
                        f"Il file «{taken.name}» esiste già e appartiene a un'altra versione: "
                        "nulla è stato validato. Verificare le versioni (manage.py "
                        "verify_versions) e avvisare l'amministratore del sistema."
                    ]
                ) from taken
            version.cycle = locked
            version.save()
            now = timezone.now()
            Remark.objects.filter(cycle=locked, status=Remark.Status.ANSWERED).update(
                status=Remark.Status.RESOLVED, resolved_at=now, resolved_by=_real(user)
            )
            _record(
                cycle=locked,
                user=user,
                action=Action.VALIDATE,
                comment=comment or decision_text,
                data={
                    "version": number,
                    "decision": decision,
                    "sha256": version.digest,
                    "html_sha256": version.html_sha256,
                    "tree_sha256": version.tree_sha256,
                },
            )
            if outermost:
                transaction.on_commit(lambda: version_storage.move_into_place(pending))
        if not outermost:
            # Inside a caller's transaction (a script, the test suite) the commit is the
            # caller's: the files move now; an outer rollback leaves orphans for orphans_clean.
            version_storage.move_into_place(pending)
    except BaseException:
        version_storage.discard(pending)
        raise
    cycle.status = Status.VALIDATED
    return version
