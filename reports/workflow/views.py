"""The cycle's workflow in the browser (reports.workflow.services), included from config/urls.py
at the site root (namespace "workflow"):

Staff (log-in; controllo di gestione, OIV, referenti of the cycle; the others 403):

- ``/lavoro/<year>/ciclo/``: the cycle's state, who acts next, the transitions this user may
  press and, for the others, the Italian reasons; the history of transitions; the versions.
- ``/lavoro/<year>/ciclo/<azione>/`` (POST): a transition.
- ``/lavoro/<year>/revisione/``: the OIV's review: what deserves attention first, then objective
  by objective (accept / remark, with "reopen"), the remarks with the staff's answers, and the
  Relazione as it will be published.
- ``/lavoro/<year>/ciclo/versioni/<n>/``: a frozen version (before and after publication), its
  PDF and its documento di validazione.

Public (no log-in; published versions only, 404 otherwise):

- ``/trasparenza/performance/<year>/`` (reports.trasparenza.views.relazione): the latest published
version;
- ``/trasparenza/performance/<year>/versioni/``: every published version (the archive);
- ``/trasparenza/performance/<year>/versioni/<n>/``: a version, with ``relazione.pdf``,
  ``dati.csv``, ``dati.json``, ``validazione/`` and ``validazione.pdf``.
"""

from __future__ import annotations

import re

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_POST

from config.nul import nul_refusals
from organization import editability, permissions
from organization.models import Cycle
from performance.models import Objective, Target
from performance.selectors import cycle_scored
from performance.views.common import cycle_for, persona_required
from reports.models.workflow import RelazioneVersion, Remark
from reports.relazione import files
from reports.relazione import pdf_jobs as services_pdf
from reports.relazione import selectors as report_selectors
from reports.relazione.document import relazione_context
from reports.workflow import integrity, selectors, services


def _private(response: HttpResponse) -> HttpResponse:
    response["X-Robots-Tag"] = "noindex, nofollow"
    patch_cache_control(response, private=True, no_store=True)
    return response


def _refused(request: HttpRequest, error: ValidationError) -> None:
    for message in error.messages:
        messages.error(request, message)


# The texts these views read from request.POST (no form field to refuse NUL): their labels.
POSTED_TEXTS = {
    "comment": "Commento",
    "decision": "Decisione",
    "decision_text": "Testo della decisione",
    "note": "Nota dell'errata corrige",
    "reason": "Motivo dell'esclusione",
    "text": "Osservazione",
    "section_key": "Sezione della Relazione",
    "objective": "Obiettivo",
}
_ID = re.compile(r"[0-9]{1,18}")  # an id of the URL or the form: ASCII digits, a bigint


def _nul_refused(request: HttpRequest, labels: dict[str, str] | None = None) -> bool:
    """True (and the Italian messages, naming the fields) if a posted text contains NUL: the
    view saves nothing and goes back to its page, as for any refusal."""
    refusals = nul_refusals(request.POST, labels or POSTED_TEXTS)
    for message in refusals:
        messages.error(request, message)
    return bool(refusals)


def _actions(cycle: Cycle, user) -> list[dict]:
    return [
        {"option": option, "step": services.STEP[option.action]}
        for option in services.transition_options(cycle=cycle, user=user)
    ]


# ----------------------------------------------------------------------------- the panel


@persona_required
@require_GET
def panel(request: HttpRequest, year: int) -> HttpResponse:
    cycle = cycle_for(request, year)
    who, what = services.NEXT_ACTOR[cycle.status]
    scope = editability.edit_scope(cycle, fresh=False)
    missing = (
        selectors.missing_values(cycle=cycle)
        if cycle.status in (Cycle.Status.REPORTING, Cycle.Status.RETURNED)
        else []
    )
    context = {
        "cycle": cycle,
        "steps": Cycle.Status.choices,
        "next_actor": who,
        "next_action": what,
        "actions": _actions(cycle, request.user),
        "history": selectors.transitions(cycle=cycle),
        "versions": selectors.versions(cycle=cycle),
        "scope": scope,
        "read_only_reason": scope.refusal(),
        "reopened_objectives": list(
            Objective.objects.filter(pk__in=scope.objective_ids).order_by("kind", "order")
        )
        if scope.objective_ids
        else [],
        "reopened_sections": [
            report_selectors.section_label(k) for k in sorted(scope.section_keys)
        ],
        "missing": missing,
        "can_exclude": permissions.is_controllo(request.user)
        and cycle.status in (Cycle.Status.REPORTING, Cycle.Status.RETURNED),
        "remark_counts": selectors.remark_counts(cycle=cycle),
        "decisions": services.RelazioneVersion.Decision.choices,
        "members": selectors.oiv_members(cycle=cycle),
        "is_oiv": permissions.is_oiv(request.user),
        "is_controllo": permissions.is_controllo(request.user),
    }
    if context["is_controllo"] or context["is_oiv"]:  # versions failing verification
        context["integrity_problems"] = integrity.cycle_problems(cycle=cycle)
    return _private(render(request, "reports/workflow/panel.html", context))


@persona_required
@require_POST
def transition(request: HttpRequest, year: int, action: str) -> HttpResponse:
    cycle = cycle_for(request, year)
    step = services.STEP_BY_SLUG.get(action)  # the steps' table: slug, service, message
    if step is None:
        raise Http404("Azione sconosciuta.")
    back = request.POST.get("next") == "revisione"
    if _nul_refused(request):
        return _back_to(cycle, back)
    try:
        result = step.service(cycle=cycle, user=request.user, post=request.POST)
    except ValidationError as error:
        _refused(request, error)
    else:
        messages.success(request, step.success)
        if step.done_url is not None:
            return redirect(step.done_url(cycle, result))
    return _back_to(cycle, back)


def _back_to(cycle: Cycle, review: bool) -> HttpResponse:
    if review:
        return redirect("workflow:review", year=cycle.year)
    return redirect("workflow:panel", year=cycle.year)


@persona_required
@require_POST
def exclude(request: HttpRequest, year: int, pk: int) -> HttpResponse:
    cycle = cycle_for(request, year)
    target = get_object_or_404(
        Target.objects.select_related("indicator__objective", "unit"),
        pk=pk,
        indicator__objective__cycle=cycle,
    )
    if _nul_refused(request, {"reason": POSTED_TEXTS["reason"]}):
        return redirect(reverse("workflow:panel", args=[cycle.year]) + "#mancanti")
    try:
        services.target_exclude(
            target=target, user=request.user, reason=request.POST.get("reason", "")
        )
    except ValidationError as error:
        _refused(request, error)
    else:
        messages.success(request, f"Riga esclusa dalla misurazione: {target.indicator.name[:120]}.")
    return redirect(reverse("workflow:panel", args=[cycle.year]) + "#mancanti")


# ---------------------------------------------------------------------------- the review


@persona_required
@require_GET
def review(request: HttpRequest, year: int) -> HttpResponse:
    cycle = cycle_for(request, year)
    scored = cycle_scored(cycle=cycle)
    tree_sha256 = ""
    if selectors.submitted_tree_sha256(cycle=cycle):  # are the figures still those submitted?
        tree_sha256 = services.cycle_tree(cycle=cycle, score=scored.score)[1]
    attention = selectors.attention(cycle=cycle, scored=scored, tree_sha256=tree_sha256)
    remarks = selectors.remarks(cycle=cycle)
    display = report_selectors.target_display_fields(cycle=cycle)
    groups = selectors.review_objectives(
        cycle=cycle,
        scored=scored,
        display=display,
        remarks_=remarks,
        flags=attention.objective_flags(),
    )
    is_oiv = permissions.is_oiv(request.user)
    is_controllo = permissions.is_controllo(request.user)
    reviewing = is_oiv and cycle.status == Cycle.Status.SUBMITTED
    answering = is_controllo and cycle.status == Cycle.Status.RETURNED
    has_relazione = report_selectors.relazione_get(cycle=cycle) is not None
    document = None
    if has_relazione:
        document = relazione_context(services._public_view(cycle))
    objectives_total = sum(len(items) for _, items in groups)
    examined = sum(1 for _, items in groups for o in items if o.state != "todo")
    context = {
        "cycle": cycle,
        "attention": attention,
        "late_title": (
            f"Valori registrati in ritardo (oltre {attention.late_days} giorni dalla fine del "
            "periodo)"
        ),
        "groups": groups,
        "objectives_total": objectives_total,
        "objectives_examined": examined,
        "other_remarks": [r for r in remarks if not r.objective_id],
        "remark_counts": selectors.remark_counts(cycle=cycle),
        "section_choices": report_selectors.section_choices(),
        "reviewing": reviewing,
        "answering": answering,
        "is_oiv": is_oiv,
        "actions": _actions(cycle, request.user) if cycle.status == Cycle.Status.SUBMITTED else [],
        "round": selectors.current_round(cycle=cycle),
        "decisions": RelazioneVersion.Decision.choices,
        "document": document,
        "scope": editability.edit_scope(cycle, fresh=False),
    }
    if document is not None:
        # the document's own variables (title, year...) for the included partial
        context = {**document, **context}
    return _private(render(request, "reports/workflow/review.html", context))


def _review_back(cycle: Cycle, anchor: str = "") -> HttpResponse:
    url = reverse("workflow:review", args=[cycle.year])
    return redirect(f"{url}#{anchor}" if anchor else url)


@persona_required
@require_POST
def accept(request: HttpRequest, year: int, pk: int) -> HttpResponse:
    cycle = cycle_for(request, year)
    objective = get_object_or_404(Objective, pk=pk, cycle=cycle)
    try:
        services.objective_accept(cycle=cycle, objective=objective, user=request.user)
    except ValidationError as error:
        _refused(request, error)
    else:
        messages.success(request, f"Obiettivo accettato: {objective.title[:120]}.")
    return _review_back(cycle, f"obiettivo-{objective.pk}")


@persona_required
@require_POST
def accept_all(request: HttpRequest, year: int) -> HttpResponse:
    cycle = cycle_for(request, year)
    try:
        count = services.objectives_accept_all(cycle=cycle, user=request.user)
    except ValidationError as error:
        _refused(request, error)
    else:
        messages.success(request, f"Obiettivi accettati: {count}.")
    return _review_back(cycle, "obiettivi")


@persona_required
@require_POST
def remark_create(request: HttpRequest, year: int) -> HttpResponse:
    cycle = cycle_for(request, year)
    if _nul_refused(
        request, {name: POSTED_TEXTS[name] for name in ("text", "section_key", "objective")}
    ):
        return _review_back(cycle, "osservazioni")
    objective = None
    objective_id = request.POST.get("objective", "")
    if objective_id:
        if not _ID.fullmatch(objective_id):  # not isdigit(): it takes "²", int() does not
            raise Http404("Obiettivo sconosciuto.")
        objective = get_object_or_404(Objective, pk=int(objective_id), cycle=cycle)
    try:
        remark = services.remark_create(
            cycle=cycle,
            user=request.user,
            text=request.POST.get("text", ""),
            objective=objective,
            section_key=request.POST.get("section_key", ""),
            reopen=request.POST.get("reopen") in ("1", "on", "true"),
        )
    except ValidationError as error:
        _refused(request, error)
        return _review_back(cycle, f"obiettivo-{objective.pk}" if objective else "osservazioni")
    messages.success(request, "Osservazione registrata.")
    return _review_back(cycle, f"osservazione-{remark.pk}")


def _remark(cycle: Cycle, pk: int) -> Remark:
    remark = get_object_or_404(Remark, pk=pk, cycle=cycle)
    remark.cycle = cycle
    return remark


@persona_required
@require_POST
def remark_answer(request: HttpRequest, year: int, pk: int) -> HttpResponse:
    cycle = cycle_for(request, year)
    remark = _remark(cycle, pk)
    if _nul_refused(request, {"text": "Risposta"}):
        return _review_back(cycle, f"osservazione-{remark.pk}")
    try:
        services.remark_answer(remark=remark, user=request.user, text=request.POST.get("text", ""))
    except ValidationError as error:
        _refused(request, error)
    else:
        messages.success(request, "Risposta registrata.")
    return _review_back(cycle, f"osservazione-{remark.pk}")


@persona_required
@require_POST
def remark_resolve(request: HttpRequest, year: int, pk: int) -> HttpResponse:
    cycle = cycle_for(request, year)
    remark = _remark(cycle, pk)
    try:
        services.remark_resolve(remark=remark, user=request.user)
    except ValidationError as error:
        _refused(request, error)
    else:
        messages.success(request, "Osservazione chiusa.")
    return _review_back(cycle, f"osservazione-{remark.pk}")


# ------------------------------------------------------------------------ frozen versions
#
# Every part of a frozen version is verified before it is served (reports.workflow.integrity): a
# part
# that does not match the digest recorded at validation gets 503 "versione non integra".


def _where(request: HttpRequest | None) -> str:
    return f"{request.method} {request.path}" if request is not None else "pagina pubblica"


def _refused_version(request: HttpRequest | None, version: RelazioneVersion) -> HttpResponse:
    return integrity.refused(request, year=version.cycle.year, number=version.number)


def _file(request: HttpRequest, version: RelazioneVersion, key: str, filename: str) -> HttpResponse:
    """The file of part ``key`` ("pdf", "validation_pdf") of a version: the open handle that
    was verified, or the refusal (not even a 304 for a file that does not match)."""
    try:
        handle = integrity.open_verified(version=version, key=key, where=_where(request))
    except integrity.NotIntact:
        return _refused_version(request, version)
    etag = f'"{getattr(version, integrity.PARTS[key].digest_field)}"'
    if files.etag_matches(request, etag):
        handle.close()
        response = HttpResponse(status=304)
        response["ETag"] = etag
        return response
    return files.pdf_response(handle, filename=filename, etag=etag)


def _verified_page(
    request: HttpRequest, version: RelazioneVersion, parts: tuple[str, ...], template: str
) -> HttpResponse:
    """A public page of a version, once the parts it shows and vouches for are verified."""
    try:
        integrity.check_served(version=version, parts=parts, where=_where(request))
    except integrity.NotIntact:
        return _refused_version(request, version)
    return _public_response(render(request, template, _version_context(version, public=True)))


def _staff_version(request: HttpRequest, year: int, number: int) -> tuple[Cycle, RelazioneVersion]:
    cycle = cycle_for(request, year)
    version = selectors.version_get(cycle=cycle, number=number)
    if version is None:
        raise Http404("Versione inesistente.")
    return cycle, version


def _version_context(version: RelazioneVersion, *, public: bool) -> dict:
    versions = selectors.public_versions(year=version.cycle.year)
    later = [v for v in versions if v.number > version.number]
    return {
        "cycle": version.cycle,
        "year": version.cycle.year,
        "version": version,
        "version_label": f"Versione {version.number}",
        "versions": versions,
        "superseded_by": later[-1] if later else None,
        "latest_public": versions[0] if versions else None,
        "public": public,
        "organization_name": str(version.cycle.organization),
    }


@persona_required
@require_GET
def version(request: HttpRequest, year: int, number: int) -> HttpResponse:
    _, found = _staff_version(request, year, number)
    context = _version_context(found, public=False)
    context["integrity"] = services.version_verify(version=found)
    return _private(render(request, "reports/workflow/version.html", context))


@persona_required
@require_GET
def version_pdf(request: HttpRequest, year: int, number: int) -> HttpResponse:
    _, found = _staff_version(request, year, number)
    if not found.pdf:
        raise Http404("La versione non ha il PDF.")
    return _private(_file(request, found, "pdf", found.pdf_name))


@persona_required
@require_GET
def validation(request: HttpRequest, year: int, number: int) -> HttpResponse:
    _, found = _staff_version(request, year, number)
    context = _version_context(found, public=False)
    return _private(render(request, "reports/workflow/validation_page.html", context))


@persona_required
@require_GET
def validation_pdf(request: HttpRequest, year: int, number: int) -> HttpResponse:
    _, found = _staff_version(request, year, number)
    if not found.validation_pdf:
        raise Http404("Il documento di validazione non ha il PDF.")
    return _private(_file(request, found, "validation_pdf", found.validation_pdf_name))


# --------------------------------------------------------------------------------- public


def _public(year: int, number: int | None = None) -> RelazioneVersion:
    found = selectors.public_version(year=year, number=number)
    if found is None:
        raise Http404("Nessuna versione pubblicata.")
    return found


# What serving a file of a published version reads: the row without its texts (the HTML, the
# tree and the open data are hundreds of KB), remembered like the public PDF of the year
# (reports.relazione.pdf_jobs.PUBLIC_CACHE_SECONDS; building the query costs more than serving the
# file): the PDF is served within 2x of a static file. A published version does not change;
# the file itself is verified at every request (reports.workflow.integrity.open_verified).
_FILE_FIELDS = (
    "id",
    "number",
    "cycle",
    "cycle__year",
    "published_at",
    "pdf",
    "pdf_sha256",
    "validation_pdf",
    "validation_pdf_sha256",
)


def _public_file(year: int, number: int) -> RelazioneVersion:
    key = f"reports:version-public-file:{year}:{number}"
    found = cache.get(key)
    if found is None:
        found = (
            RelazioneVersion.objects.filter(
                cycle__year=year, number=number, published_at__isnull=False
            )
            .select_related("cycle")
            .only(*_FILE_FIELDS)
            .first()
        )
        if found is None:
            raise Http404("Nessuna versione pubblicata.")
        cache.set(key, found, services_pdf.PUBLIC_CACHE_SECONDS)
    return found


def _public_response(response: HttpResponse) -> HttpResponse:
    if response.status_code in (200, 304):  # never a refusal (503, no-store)
        patch_cache_control(response, public=True, max_age=300)
    return response


def public_relazione(request: HttpRequest, year: int) -> HttpResponse | None:
    """The year's page when a version is published (reports.trasparenza.views.relazione): its latest
    published version, frozen. None when the year has no published version."""
    found = selectors.public_version(year=year)
    if found is None:
        return None
    return _verified_page(request, found, integrity.PAGE, "reports/workflow/public_version.html")


@require_GET
def public_archive(request: HttpRequest, year: int) -> HttpResponse:
    versions = selectors.public_versions(year=year)
    if not versions:
        raise Http404("Nessuna versione pubblicata.")
    context = {
        "year": year,
        "versions": versions,
        "organization_name": str(versions[0].cycle.organization),
    }
    return _public_response(render(request, "reports/workflow/public_archive.html", context))


@require_GET
def public_version(request: HttpRequest, year: int, number: int) -> HttpResponse:
    found = _public(year, number)
    return _verified_page(request, found, integrity.PAGE, "reports/workflow/public_version.html")


@require_GET
def public_version_pdf(request: HttpRequest, year: int, number: int) -> HttpResponse:
    found = _public_file(year, number)
    if not found.pdf:
        raise Http404("Questa versione non ha il PDF.")
    return _public_response(_file(request, found, "pdf", found.pdf_name))


def _data(request: HttpRequest | None, found: RelazioneVersion, fmt: str) -> HttpResponse:
    part = "data_csv" if fmt == "csv" else "data_json"
    try:
        integrity.check_served(version=found, parts=(part,), where=_where(request))
    except integrity.NotIntact:
        return _refused_version(request, found)
    year = found.cycle.year
    response = files.open_data_response(
        found.data_csv if fmt == "csv" else found.data_json,
        fmt=fmt,
        filename=f"relazione-performance-{year}-v{found.number}.{fmt}",
    )
    return _public_response(response)


@require_GET
def public_version_csv(request: HttpRequest, year: int, number: int) -> HttpResponse:
    return _data(request, _public(year, number), "csv")


@require_GET
def public_version_json(request: HttpRequest, year: int, number: int) -> HttpResponse:
    return _data(request, _public(year, number), "json")


def public_data(year: int, fmt: str, request: HttpRequest | None = None) -> HttpResponse | None:
    """The year's open data when a version is published (reports.trasparenza.views.data_csv /
    data_json):
    the frozen data of the latest published version. None otherwise."""
    found = selectors.public_version(year=year)
    return _data(request, found, fmt) if found is not None else None


@require_GET
def public_validation(request: HttpRequest, year: int, number: int) -> HttpResponse:
    found = _public(year, number)
    return _verified_page(
        request, found, integrity.VALIDATION_PAGE, "reports/workflow/validation_page.html"
    )


@require_GET
def public_validation_pdf(request: HttpRequest, year: int, number: int) -> HttpResponse:
    found = _public_file(year, number)
    if not found.validation_pdf:
        raise Http404("Il documento di validazione non ha il PDF.")
    return _public_response(_file(request, found, "validation_pdf", found.validation_pdf_name))
