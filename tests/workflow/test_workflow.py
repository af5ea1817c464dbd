"""The cycle's workflow (reports.workflow.services, reports.workflow.views,
organization.editability): every transition for every persona, the preconditions with their
Italian reasons, the read-only plan/values/Relazione from the submission on, the OIV's remarks
reopening only what they name, the frozen versions with their digests, the public pages, the
errata corrige, the PAdES signature, setup_demo.

The Relazione's PDF takes seconds with WeasyPrint: here it is a one-line PDF made by WeasyPrint
(``fast_pdf``), except in the test that asks for ``real_pdf``. The test database starts with the
2019 cycle in "planning"; each test takes it where it needs (the transaction rolls back)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import itertools
import re
import sys
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from organization import editability
from organization.models import Cycle, MeasurementPeriod
from performance.dataset import read_dataset
from performance.models import Actual, Indicator, Objective, StatedFigure, Target
from performance.selectors import cycle_score, cycle_scored
from performance.services import actual_record, imports
from performance.services import plan as plan_services
from performance.services.entry import RowInput, UnitValuesInvalid, unit_values_record
from reports.models import ContextTable, Relazione, Section
from reports.models.workflow import (
    CycleTransition,
    ObjectiveReview,
    OivMember,
    RelazioneVersion,
    Remark,
    RemarkAnswer,
)
from reports.relazione import services as relazione_services
from reports.workflow import selectors
from reports.workflow import services as workflow
from tests.factories import CycleFactory
from tests.personas import Personas

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
YEAR = 2019
RI = "registro-imprese"
S = Cycle.Status
A = CycleTransition.Action
PERSONAS = ("anonimo", "nessun-ruolo", "referente-ri", "controllo", "oiv")
PANEL = f"/lavoro/{YEAR}/ciclo/"
REVIEW = f"/lavoro/{YEAR}/revisione/"
PUBLIC = f"/trasparenza/performance/{YEAR}/"
ENTRY = f"/lavoro/{YEAR}/valori/{RI}/consuntivo/"


def sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


# ------------------------------------------------------------------------------- fixtures

_counter = itertools.count(1)


def _small_pdf(text: str) -> bytes:
    import weasyprint

    html = f"<html lang='it'><head><title>{text}</title></head><body><p>{text}</p></body></html>"
    return weasyprint.HTML(string=html).write_pdf()


@pytest.fixture
def real_pdf():
    """Ask for the real PDF of the Relazione (WeasyPrint, seconds)."""
    return True


@pytest.fixture(autouse=True)
def fast_pdf(request, monkeypatch):
    """A one-page PDF instead of the Relazione's (a different one at every render)."""
    if "real_pdf" in request.fixturenames:
        return
    import reports.relazione.pdf

    def render(*, cycle):
        return _small_pdf(f"Relazione {cycle.year} n. {next(_counter)}")

    monkeypatch.setattr(reports.relazione.pdf, "render_relazione_pdf", render)


@pytest.fixture
def people(cycle_2019) -> Personas:
    """The personas (tests/personas.py), with first names: the records and pages name the actor
    ("Controllo")."""
    return Personas(cycle_2019, first_names=True)


def client_of(people: Personas, persona: str) -> Client:
    return people.client(persona)


@pytest.fixture
def ready(cycle_2019, people) -> Cycle:
    """2019 with its Relazione and the OIV's members: what the workflow needs."""
    relazione_services.relazione_load(
        cycle=cycle_2019, data=read_dataset(ROOT / "fixtures" / "relazione-2019.yaml")
    )
    OivMember.objects.create(
        organization=cycle_2019.organization, name="Maria Bianchi", role="Presidente", order=1
    )
    OivMember.objects.create(
        organization=cycle_2019.organization, name="Luca Verdi", role="Componente", order=2
    )
    return cycle_2019


def advance(cycle: Cycle, people: dict, to: str) -> Cycle:
    """Take the cycle forward to ``to`` with the services (controllo and OIV)."""
    controllo, oiv = people["controllo"], people["oiv"]
    for _ in range(10):
        if cycle.status == to:
            return cycle
        if cycle.status == S.PLANNING:
            workflow.cycle_start_monitoring(cycle=cycle, user=controllo)
        elif cycle.status == S.MONITORING:
            workflow.cycle_start_reporting(cycle=cycle, user=controllo)
        elif cycle.status == S.REPORTING:
            if workflow.consistency_reasons(cycle):
                workflow.consistency_review_record(cycle=cycle, user=controllo)
            workflow.cycle_submit(cycle=cycle, user=controllo)
        elif cycle.status == S.SUBMITTED:
            workflow.cycle_validate(cycle=cycle, user=oiv, decision="valid", decision_text="Ok.")
        elif cycle.status == S.VALIDATED:
            workflow.cycle_publish(cycle=cycle, user=controllo)
        else:
            raise AssertionError(f"cannot advance from {cycle.status}")
    raise AssertionError(f"{to} not reached")


@pytest.fixture
def submitted(ready, people) -> Cycle:
    return advance(ready, people, S.SUBMITTED)


def ri_target(text: str = "≥ 80%", kind: str = "at_least") -> Target:
    return Target.objects.select_related("indicator__objective", "unit").get(
        indicator__objective__cycle__year=YEAR, unit__key=RI, text=text, rule__kind=kind
    )


def other_ri_target(than: Target) -> Target:
    """An active Registro Imprese row of another (active) objective."""
    return (
        Target.objects.select_related("indicator__objective", "unit")
        .filter(
            indicator__objective__cycle__year=YEAR,
            unit__key=RI,
            status=Target.Status.ACTIVE,
            indicator__objective__status=Objective.Status.ACTIVE,
            rule__kind="at_least",
        )
        .exclude(indicator__objective=than.indicator.objective)
        .order_by("pk")
        .first()
    )


def final_period() -> MeasurementPeriod:
    return MeasurementPeriod.objects.get(cycle__year=YEAR, is_final=True)


def stored(target: Target) -> Actual:
    return Actual.objects.get(target=target, period__is_final=True)


def fingerprint(cycle: Cycle) -> tuple:
    """Everything a refused action must leave as it was."""
    cycle.refresh_from_db()
    _, tree = workflow.cycle_tree(cycle=cycle)
    return (
        cycle.status,
        tree,
        CycleTransition.objects.count(),
        Actual.history.count(),
        Target.history.count(),
        Indicator.history.count(),
        Objective.history.count(),
        Section.history.count(),
        ContextTable.history.count(),
        Relazione.history.count(),
        Remark.objects.count(),
        RemarkAnswer.objects.count(),
        ObjectiveReview.objects.count(),
        RelazioneVersion.objects.count(),
    )


def text_of(response) -> str:
    return response.content.decode()


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


class _Forms(HTMLParser):
    """The inputs of a page (name -> value), for posting a form as the browser would."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {}
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name") and a.get("type") not in ("submit", "checkbox"):
            self.data[a["name"]] = a.get("value") or ""
        if tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self.data[a["name"]] = ""

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data


def form_data(response) -> dict[str, str]:
    parser = _Forms()
    parser.feed(text_of(response))
    parser.data.pop("csrfmiddlewaretoken", None)
    return parser.data


# ------------------------------------------------------------------ every transition, persona

# slug -> (who may, the state after, the audit record's action, the service, its arguments)
TRANSITIONS = {
    "avvia-monitoraggio": ("controllo", S.MONITORING, A.START_MONITORING),
    "avvia-rendicontazione": ("controllo", S.REPORTING, A.START_REPORTING),
    "verifica-coerenza": ("controllo", S.REPORTING, A.CONSISTENCY_REVIEW),
    "invia": ("controllo", S.SUBMITTED, A.SUBMIT),
    "restituisci": ("oiv", S.RETURNED, A.RETURN),
    "reinvia": ("controllo", S.SUBMITTED, A.RESUBMIT),
    "valida": ("oiv", S.VALIDATED, A.VALIDATE),
    "pubblica": ("controllo", S.PUBLISHED, A.PUBLISH),
    "errata": ("controllo", S.REPORTING, A.ERRATA),
}
POSTED = {
    "comment": "Commento di prova",
    "decision": "valid",
    "decision_text": "Validata senza riserve.",
    "note": "Correzione del valore del Registro Imprese.",
}


def _service_call(slug: str, cycle: Cycle, user):
    kwargs = {"cycle": cycle, "user": user}
    return {
        "avvia-monitoraggio": lambda: workflow.cycle_start_monitoring(**kwargs),
        "avvia-rendicontazione": lambda: workflow.cycle_start_reporting(**kwargs),
        "verifica-coerenza": lambda: workflow.consistency_review_record(**kwargs),
        "invia": lambda: workflow.cycle_submit(**kwargs),
        "restituisci": lambda: workflow.cycle_return(**kwargs),
        "reinvia": lambda: workflow.cycle_resubmit(**kwargs),
        "valida": lambda: workflow.cycle_validate(**kwargs, decision="valid"),
        "pubblica": lambda: workflow.cycle_publish(**kwargs),
        "errata": lambda: workflow.errata_open(**kwargs, note="Correzione."),
    }[slug]()


def _prepare(slug: str, cycle: Cycle, people: dict) -> None:
    """Bring the cycle where ``slug`` is possible for the persona who may press it."""
    target = ri_target()
    before = {
        "avvia-monitoraggio": S.PLANNING,
        "avvia-rendicontazione": S.MONITORING,
        "verifica-coerenza": S.REPORTING,
        "invia": S.REPORTING,
        "restituisci": S.SUBMITTED,
        "reinvia": S.SUBMITTED,
        "valida": S.SUBMITTED,
        "pubblica": S.VALIDATED,
        "errata": S.PUBLISHED,
    }[slug]
    advance(cycle, people, before)
    if slug == "invia":
        workflow.consistency_review_record(cycle=cycle, user=people["controllo"])
    if slug in ("restituisci", "reinvia"):
        remark = workflow.remark_create(
            cycle=cycle,
            user=people["oiv"],
            objective=target.indicator.objective,
            text="Il valore non è documentato.",
            reopen=True,
        )
    if slug == "reinvia":
        workflow.cycle_return(cycle=cycle, user=people["oiv"])
        workflow.remark_answer(remark=remark, user=people["controllo"], text="Documentato.")


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("slug", list(TRANSITIONS))
def test_every_transition_for_every_persona(ready, people, slug, persona):
    allowed, after, action = TRANSITIONS[slug]
    _prepare(slug, ready, people)
    status_before = ready.status
    before = fingerprint(ready)
    if persona != allowed:  # the service refuses, whatever the view does
        with pytest.raises(PermissionDenied):
            _service_call(slug, ready, people[persona] or AnonymousUser())
        assert fingerprint(ready) == before

    response = client_of(people, persona).post(
        reverse("workflow:transition", args=[YEAR, slug]), POSTED
    )

    ready.refresh_from_db()
    if persona == allowed:
        assert response.status_code == 302
        assert ready.status == after
        record = CycleTransition.objects.filter(cycle=ready).latest("at", "id")
        assert (record.action, record.user, record.from_status, record.to_status) == (
            action,
            people[persona],
            status_before,
            after,
        )
        assert record.user_name == people[persona].get_full_name()
        expected = {"valida": POSTED["decision_text"], "errata": POSTED["note"]}
        assert record.comment == expected.get(slug, POSTED["comment"])
        assert record.at is not None and record.at.tzinfo is not None
    else:
        if persona == "anonimo":
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("login"))
        else:
            assert response.status_code == 403
        assert fingerprint(ready) == before


def test_an_unknown_transition_is_404(ready, people):
    response = client_of(people, "controllo").post(f"{PANEL}sconosciuta/")
    assert response.status_code == 404


@pytest.mark.parametrize("slug", ["avvia-rendicontazione", "invia", "valida", "pubblica"])
def test_a_transition_from_the_wrong_state_is_refused_with_the_reason(ready, people, slug):
    allowed = TRANSITIONS[slug][0]
    before = fingerprint(ready)  # planning: none of these is possible
    response = client_of(people, allowed).post(
        reverse("workflow:transition", args=[YEAR, slug]), POSTED, follow=True
    )
    assert response.status_code == 200
    assert "è nello stato «Pianificazione»" in text_of(response)
    assert fingerprint(ready) == before


# --------------------------------------------------------------------------- preconditions


def test_start_monitoring_needs_targets_and_a_final_period(people):
    cycle = CycleFactory()
    with pytest.raises(workflow.TransitionRefused) as raised:
        workflow.cycle_start_monitoring(cycle=cycle, user=people["controllo"])
    assert raised.value.reasons == [
        "Il Piano non ha ancora target da misurare: inserire obiettivi e target.",
        "Manca il periodo di misurazione consuntivo (di fine anno).",
    ]
    cycle.refresh_from_db()
    assert cycle.status == S.PLANNING
    assert not CycleTransition.objects.filter(cycle=cycle).exists()


def test_reporting_starts_after_the_end_of_the_final_period(ready, people):
    advance(ready, people, S.MONITORING)
    with pytest.raises(workflow.TransitionRefused) as raised:
        workflow.cycle_start_reporting(
            cycle=ready, user=people["controllo"], today=dt.date(2019, 12, 31)
        )
    assert raised.value.reasons == [
        f"Il periodo «{final_period().name}» termina il 31/12/2019: la rendicontazione si avvia "
        "dal giorno successivo."
    ]
    assert Cycle.objects.get(pk=ready.pk).status == S.MONITORING
    workflow.cycle_start_reporting(cycle=ready, user=people["controllo"], today=dt.date(2020, 1, 1))
    assert ready.status == S.REPORTING


def test_submission_lists_every_unmet_precondition_and_the_panel_shows_them(cycle_2019, people):
    OivMember.objects.create(organization=cycle_2019.organization, name="Maria Bianchi")
    advance(cycle_2019, people, S.REPORTING)
    target = ri_target()
    stored(target).delete()
    before = fingerprint(cycle_2019)
    with pytest.raises(workflow.TransitionRefused) as raised:
        workflow.cycle_submit(cycle=cycle_2019, user=people["controllo"])
    reasons = raised.value.reasons
    discrepancies = len(cycle_score(cycle=cycle_2019).discrepancies)  # more without the value
    assert reasons == [
        f"1 indicatore senza valore a consuntivo né motivo di esclusione: "
        f"{target.indicator.name} – Servizio Registro Imprese (target ≥ 80%). Registrare il "
        "valore, oppure escludere la riga indicandone il motivo.",
        "La Relazione del ciclo non è ancora stata redatta.",
        f"Il rapporto di coerenza non è stato verificato: esaminare {discrepancies} incongruenze "
        "e registrare la verifica.",
    ]
    assert fingerprint(cycle_2019) == before

    client = client_of(people, "controllo")
    page = text_of(client.get(PANEL))
    for reason in reasons:
        assert reason.replace("'", "&#x27;") in page
    assert "Indicatori senza valore a consuntivo (1)" in page

    # the remedies, through the UI: exclude the row with its reason, review the report
    response = client.post(
        reverse("workflow:exclude", args=[YEAR, target.pk]),
        {"reason": "Dato non più rilevato dal sistema camerale"},
    )
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.status == Target.Status.EXCLUDED
    assert target.exclusion_reason == "Dato non più rilevato dal sistema camerale"
    assert target.history.latest().history_user == people["controllo"]
    client.post(f"{PANEL}verifica-coerenza/", {"comment": "Differenze note."})
    relazione_services.relazione_load(cycle=cycle_2019, data={"title": "Relazione 2019"})
    client.post(f"{PANEL}invia/", {"comment": "Per la validazione."})
    cycle_2019.refresh_from_db()
    assert cycle_2019.status == S.SUBMITTED


def test_an_exclusion_needs_its_reason_and_the_controllo(ready, people):
    advance(ready, people, S.REPORTING)
    target = ri_target()
    client = client_of(people, "controllo")
    response = client.post(reverse("workflow:exclude", args=[YEAR, target.pk]), {"reason": " "})
    assert response.status_code == 302
    assert Target.objects.get(pk=target.pk).status == Target.Status.ACTIVE
    referent = client_of(people, "referente-ri")
    response = referent.post(reverse("workflow:exclude", args=[YEAR, target.pk]), {"reason": "x"})
    assert response.status_code == 403
    assert Target.objects.get(pk=target.pk).status == Target.Status.ACTIVE


def test_the_consistency_review_goes_stale_when_the_report_changes(ready, people):
    advance(ready, people, S.REPORTING)
    review = workflow.consistency_review_record(
        cycle=ready, user=people["controllo"], comment="Esaminate."
    )
    assert len(review.data["discrepancies"]) == 8
    figure = StatedFigure.objects.filter(cycle=ready).order_by("pk").first()
    StatedFigure.objects.filter(pk=figure.pk).update(value="1")
    with pytest.raises(workflow.TransitionRefused) as raised:
        workflow.cycle_submit(cycle=ready, user=people["controllo"])
    (reason,) = raised.value.reasons
    assert reason.startswith("Il rapporto di coerenza è cambiato dopo la verifica del ")
    assert reason.endswith("(Controllo): verificarlo di nuovo.")
    workflow.consistency_review_record(cycle=ready, user=people["controllo"])
    workflow.cycle_submit(cycle=ready, user=people["controllo"])
    assert ready.status == S.SUBMITTED


def test_return_needs_an_open_remark(submitted, people):
    with pytest.raises(workflow.TransitionRefused, match="almeno un'osservazione aperta"):
        workflow.cycle_return(cycle=submitted, user=people["oiv"])
    assert Cycle.objects.get(pk=submitted.pk).status == S.SUBMITTED


def test_resubmission_needs_every_remark_answered(submitted, people):
    objective = ri_target().indicator.objective
    remark = workflow.remark_create(
        cycle=submitted, user=people["oiv"], objective=objective, text="Documentare.", reopen=True
    )
    workflow.remark_create(
        cycle=submitted, user=people["oiv"], text="Osservazione generale sulla Relazione."
    )
    workflow.cycle_return(cycle=submitted, user=people["oiv"])
    with pytest.raises(workflow.TransitionRefused) as raised:
        workflow.cycle_resubmit(cycle=submitted, user=people["controllo"])
    assert raised.value.reasons == [
        "2 osservazioni dell'OIV senza risposta: rispondere a ciascuna prima del nuovo invio."
    ]
    workflow.remark_answer(remark=remark, user=people["controllo"], text="Allegato il verbale.")
    general = Remark.objects.get(objective__isnull=True)
    workflow.remark_answer(remark=general, user=people["controllo"], text="Integrata.")
    workflow.cycle_resubmit(cycle=submitted, user=people["controllo"])
    assert submitted.status == S.SUBMITTED
    assert selectors.current_round(cycle=submitted) == 2


def test_validation_needs_closed_remarks_and_the_oiv_members(submitted, people):
    remark = workflow.remark_create(
        cycle=submitted, user=people["oiv"], text="Da chiarire.", section_key="premessa"
    )
    OivMember.objects.all().update(is_active=False)
    before = fingerprint(submitted)
    with pytest.raises(workflow.TransitionRefused) as raised:
        workflow.cycle_validate(cycle=submitted, user=people["oiv"], decision="valid")
    assert raised.value.reasons == [
        "1 osservazione aperta: chiuderle, oppure restituire la Relazione perché vi si risponda.",
        "Nessun componente dell'OIV in carica è registrato: indicarli in Amministrazione › "
        "Componenti dell'OIV (compaiono nel documento di validazione).",
    ]
    assert fingerprint(submitted) == before
    workflow.remark_resolve(remark=remark, user=people["oiv"])
    OivMember.objects.all().update(is_active=True)
    with pytest.raises(Exception, match="Indicare le osservazioni"):
        workflow.cycle_validate(cycle=submitted, user=people["oiv"], decision="valid_with_remarks")
    version = workflow.cycle_validate(
        cycle=submitted,
        user=people["oiv"],
        decision="valid_with_remarks",
        decision_text="Si raccomanda di documentare le fonti.",
    )
    assert version.get_decision_display() == "Validata con osservazioni"


def test_publish_and_errata_refusals(ready, people):
    advance(ready, people, S.PUBLISHED)
    before = fingerprint(ready)
    with pytest.raises(workflow.TransitionRefused, match="è nello stato «Pubblicato»"):
        workflow.cycle_publish(cycle=ready, user=people["controllo"])
    with pytest.raises(Exception, match="Indicare che cosa si corregge"):
        workflow.errata_open(cycle=ready, user=people["controllo"], note="  ")
    assert fingerprint(ready) == before


# -------------------------------------------------------------------------- the panel


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_panel_shows_state_next_actor_and_why_not_yet(ready, people, persona):
    advance(ready, people, S.REPORTING)
    response = client_of(people, persona).get(PANEL)
    if persona == "anonimo":
        assert response.status_code == 302
        return
    if persona == "nessun-ruolo":
        assert response.status_code == 403
        return
    assert response.status_code == 200
    page = text_of(response)
    assert 'data-status="reporting"' in page and "Rendicontazione" in page
    assert "Prossimo passo – <strong>Controllo di gestione</strong>" in page
    assert "Il rapporto di coerenza non è stato verificato" in page
    assert "Avvio del monitoraggio" in page and "Avvio della rendicontazione" in page  # history
    may_act = persona == "controllo"
    assert (f'action="{PANEL}invia/"' in page) is may_act
    assert (f'action="{PANEL}verifica-coerenza/"' in page) is may_act
    assert ("Azione riservata a: Controllo di gestione." in page) is not may_act
    assert 'style="' not in page


def test_the_panel_says_who_acts_next_in_every_state(ready, people):
    client = client_of(people, "oiv")
    expected = {
        S.PLANNING: "Controllo di gestione",
        S.MONITORING: "Referenti di unità e controllo di gestione",
        S.REPORTING: "Controllo di gestione",
        S.SUBMITTED: "OIV",
        S.VALIDATED: "Controllo di gestione",
        S.PUBLISHED: "Nessuno",
    }
    for status in (S.PLANNING, S.MONITORING, S.REPORTING, S.SUBMITTED, S.VALIDATED, S.PUBLISHED):
        advance(ready, people, status)
        page = text_of(client.get(PANEL))
        assert f"Prossimo passo – <strong>{expected[status]}</strong>" in page, status


# ------------------------------------------------------------ read-only from the submission


def _edits(cycle: Cycle, user) -> dict:
    """Every kind of edit of plan, values and Relazione, through the services."""
    target = ri_target()
    objective = target.indicator.objective
    unit = target.unit
    actual = stored(target)
    section = Section.objects.get(relazione__cycle=cycle, key="premessa")
    table = ContextTable.objects.filter(relazione__cycle=cycle).order_by("pk").first()
    relazione = Relazione.objects.get(cycle=cycle)
    return {
        "unit_values_record": lambda: unit_values_record(
            unit=unit,
            period=final_period(),
            user=user,
            rows=[
                RowInput(target_id=target.pk, expected_version=actual.version, number=Decimal(91))
            ],
        ),
        "actual_record": lambda: actual_record(
            target=target,
            period=final_period(),
            user=user,
            expected_version=actual.version,
            number=Decimal(91),
        ),
        "objective_update": lambda: plan_services.objective_update(
            objective=objective,
            user=user,
            kind=objective.kind,
            title="Titolo cambiato",
            code=objective.code,
            strategic_objective=objective.strategic_objective,
            position=objective.position,
            weight=objective.weight,
        ),
        "objective_neutralize": lambda: plan_services.objective_neutralize(
            objective=objective,
            user=user,
            reason="Non più attuale",
            document_number="99",
            document_date=dt.date(2019, 9, 1),
        ),
        "indicator_create": lambda: plan_services.indicator_create(
            objective=objective, user=user, name="Nuovo indicatore"
        ),
        "target_update": lambda: plan_services.target_update(
            target=target, user=user, text="≥ 90%", rule=target.rule, unit=unit
        ),
        "target_revise": lambda: plan_services.target_revise(
            target=target,
            user=user,
            text="≥ 90%",
            rule={"kind": "at_least", "threshold": 90},
            reason="Revisione",
            document_number="98",
            document_date=dt.date(2019, 9, 1),
        ),
        "target_exclude": lambda: workflow.target_exclude(target=target, user=user, reason="x"),
        "perspective_create": lambda: plan_services.perspective_create(
            cycle=cycle, user=user, code="9", name="Nuova prospettiva"
        ),
        "unit_update": lambda: plan_services.unit_update(
            unit=unit, user=user, aggregation="", weight=2
        ),
        "cycle_rules_update": lambda: plan_services.cycle_rules_update(
            cycle=cycle, user=user, rules=cycle.rules
        ),
        "section_update": lambda: relazione_services.section_update(
            section=section, title=section.title, body="Testo nuovo.", user=user
        ),
        "context_table_update": lambda: relazione_services.context_table_update(
            table=table,
            title="Tabella cambiata",
            columns=table.columns,
            rows=table.rows,
            footnotes=table.footnotes,
            user=user,
        ),
        "relazione_update": lambda: relazione_services.relazione_update(
            relazione=relazione, title="Titolo cambiato", subtitle="", signatories=[], user=user
        ),
        "relazione_load": lambda: relazione_services.relazione_load(
            cycle=cycle, data={"title": "Relazione nuova"}, user=user, replace=True
        ),
    }


@pytest.mark.parametrize("status", [S.SUBMITTED, S.VALIDATED, S.PUBLISHED])
def test_services_refuse_every_edit_from_the_submission_on(ready, people, status):
    advance(ready, people, status)
    label = Cycle.Status(status).label
    before = fingerprint(ready)
    for name, edit in _edits(ready, people["controllo"]).items():
        with pytest.raises(editability.ReadOnlyError, match=f"è nello stato «{label}»"):
            edit()
        assert fingerprint(ready) == before, name
    # imports: the report says why, nothing is applied
    values = imports.read_table(
        content=imports.values_export(cycle=ready, format="csv"), filename="valori.csv"
    )
    report = imports.values_import(
        cycle=ready, table=values, user=people["controllo"], dry_run=False
    )
    assert not report.applied
    assert f"è nello stato «{label}»" in str(report.invalid[0])
    plan = imports.read_table(
        content=imports.plan_export(cycle=ready, format="csv"), filename="piano.csv"
    )
    report = imports.plan_import(cycle=ready, table=plan, user=people["controllo"], dry_run=False)
    assert not report.applied
    assert "L'importazione del Piano non è disponibile in questo stato." in str(report.invalid[0])
    assert fingerprint(ready) == before


def test_views_explain_and_refuse_edits_after_submission(submitted, people):
    client = client_of(people, "controllo")
    target = ri_target()
    objective = target.indicator.objective
    before = fingerprint(submitted)
    reason = "è nello stato «Inviato all&#x27;OIV»"

    page = text_of(client.get(ENTRY))  # the unit's values: read-only, with the reason
    assert reason in page and "non sono più modificabili" in page
    assert f'name="t{target.pk}-value"' not in page
    assert client.post(ENTRY, {f"t{target.pk}-value": "91"}).status_code == 403

    page = text_of(client.get(f"/lavoro/{YEAR}/piano/"))  # the plan: no edit button, the reason
    assert reason in page
    assert "Nuova prospettiva" not in page and "Regole di misurazione</a>" not in page
    assert "Avvia il ciclo 2020 da questo" in page  # next year's cycle can still start
    response = client.post(
        reverse("workspace:plan-objective", args=[YEAR, objective.pk]),
        {"kind": objective.kind, "title": "Titolo cambiato", "weight": "1", "code": ""},
    )
    assert response.status_code == 200 and reason in text_of(response)

    csv = imports.values_export(cycle=submitted, format="csv")
    response = client.post(
        f"/lavoro/{YEAR}/importa/",
        {"kind": "valori", "file": _upload("valori.csv", csv)},
    )
    assert response.status_code == 200 and reason in text_of(response)

    section = Section.objects.get(relazione__cycle=submitted, key="premessa")
    response = client.post(
        reverse("reports:relazione-section", args=[YEAR, "premessa"]),
        {
            "title": section.title,
            "body": "x",
            "expected_updated_at": section.updated_at.isoformat(),
        },
    )
    assert response.status_code == 200 and reason in text_of(response)
    assert reason in text_of(client.get(reverse("reports:relazione-edit", args=[YEAR])))
    assert fingerprint(submitted) == before


def _upload(name: str, content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="text/csv")


# --------------------------------------------------------------- reopening what was asked


def test_returning_reopens_only_what_the_oiv_asked(submitted, people):
    oiv, controllo = people["oiv"], people["controllo"]
    reopened = ri_target()  # its objective is reopened
    closed = other_ri_target(reopened)  # its objective only gets a comment
    a, b = reopened.indicator.objective, closed.indicator.objective
    workflow.remark_create(
        cycle=submitted, user=oiv, objective=a, text="Il valore non è documentato.", reopen=True
    )
    workflow.remark_create(cycle=submitted, user=oiv, objective=b, text="Solo un commento.")
    workflow.remark_create(
        cycle=submitted, user=oiv, section_key="premessa", text="Aggiornare.", reopen=True
    )
    with pytest.raises(Exception, match="Un'osservazione generale non riapre nulla"):
        workflow.remark_create(cycle=submitted, user=oiv, text="Tutto.", reopen=True)
    record = workflow.cycle_return(cycle=submitted, user=oiv, comment="Restituita.")
    assert record.data == {"objective_ids": [a.pk], "section_keys": ["premessa"], "remarks": 3}

    # values: the reopened objective's, not the other's
    period = final_period()
    actual_record(
        target=reopened,
        period=period,
        user=controllo,
        expected_version=stored(reopened).version,
        number=Decimal(91),
    )
    assert stored(reopened).value_number == Decimal(91)
    with pytest.raises(editability.ReadOnlyError, match="non è tra quelli riaperti"):
        actual_record(
            target=closed,
            period=period,
            user=controllo,
            expected_version=stored(closed).version,
            number=Decimal(1),
        )
    with pytest.raises(UnitValuesInvalid) as raised:
        unit_values_record(
            unit=reopened.unit,
            period=period,
            user=controllo,
            rows=[
                RowInput(target_id=reopened.pk, expected_version=2, number=Decimal(92)),
                RowInput(target_id=closed.pk, expected_version=1, number=Decimal(1)),
            ],
        )
    assert list(raised.value.row_errors) == [closed.pk]
    assert stored(reopened).value_number == Decimal(91)  # all or nothing

    # the unit's form: the reopened rows take values, the others say why not
    page = text_of(client_of(people, "controllo").get(ENTRY))
    assert f'name="t{reopened.pk}-value"' in page
    assert f'name="t{closed.pk}-value"' not in page
    assert editability.REOPENED_ONLY.replace("'", "&#x27;") in page

    # the plan: the reopened objective only; its structure stays closed
    plan_services.target_update(
        target=reopened, user=controllo, text=reopened.text, rule=reopened.rule,
        unit=reopened.unit, notes="Verificato con l'ufficio.",
    )  # fmt: skip
    with pytest.raises(editability.ReadOnlyError):
        plan_services.target_update(
            target=closed, user=controllo, text=closed.text, rule=closed.rule, unit=closed.unit,
            notes="x",
        )  # fmt: skip
    with pytest.raises(editability.ReadOnlyError, match="restano chiuse"):
        plan_services.perspective_create(cycle=submitted, user=controllo, code="9", name="Nuova")

    # imports of values: the other objective's row is an invalid row
    table = imports.Table.from_rows(
        ["codice_target", "periodo", "valore"],
        [[reopened.pk, period.key, "93"], [closed.pk, period.key, "2"]],
    )
    report = imports.values_import(cycle=submitted, table=table, user=controllo, dry_run=True)
    assert [(i.row, i.column) for i in report.invalid] == [(3, "codice_target")]

    # the Relazione: the reopened section only
    premessa = Section.objects.get(relazione__cycle=submitted, key="premessa")
    relazione_services.section_update(
        section=premessa, title=premessa.title, body="Premessa aggiornata.", user=controllo
    )
    other = Section.objects.get(relazione__cycle=submitted, key="contesto-normativo")
    with pytest.raises(editability.ReadOnlyError, match="non è tra quelle riaperte"):
        relazione_services.section_update(
            section=other, title=other.title, body="x", user=controllo
        )
    with pytest.raises(editability.ReadOnlyError):
        relazione_services.relazione_update(
            relazione=Relazione.objects.get(cycle=submitted),
            title="Nuovo",
            subtitle="",
            signatories=[],
            user=controllo,
        )

    # the panel lists what was reopened
    page = text_of(client_of(people, "controllo").get(PANEL))
    assert "Riaperti dall" in page and "Relazione: Premessa" in page

    # answered and sent again: closed again
    for remark in Remark.objects.filter(status=Remark.Status.OPEN):
        workflow.remark_answer(remark=remark, user=controllo, text="Fatto.")
    workflow.cycle_resubmit(cycle=submitted, user=controllo)
    with pytest.raises(editability.ReadOnlyError, match="Inviato all'OIV"):
        actual_record(
            target=reopened,
            period=period,
            user=controllo,
            expected_version=stored(reopened).version,
            number=Decimal(95),
        )


# ---------------------------------------------------------------------- remarks, review


def test_remarks_answers_and_resolution_stay_in_the_record(submitted, people):
    oiv, controllo = people["oiv"], people["controllo"]
    objective = ri_target().indicator.objective
    client = client_of(people, "oiv")
    response = client.post(
        reverse("workflow:remark-create", args=[YEAR]),
        {"objective": objective.pk, "text": "Fonte del dato?", "reopen": "1"},
    )
    assert response.status_code == 302
    remark = Remark.objects.get()
    assert (remark.objective, remark.reopen, remark.round, remark.author) == (
        objective,
        True,
        1,
        oiv,
    )
    assert remark.status == Remark.Status.OPEN
    assert ObjectiveReview.objects.get(objective=objective).decision == "remark"
    # staff answer once the Relazione is back with them; never the OIV or a referent
    with pytest.raises(workflow.TransitionRefused, match="quando l'OIV restituisce"):
        workflow.remark_answer(remark=remark, user=controllo, text="Subito.")
    workflow.cycle_return(cycle=submitted, user=oiv)
    for persona in ("oiv", "referente-ri"):
        with pytest.raises(PermissionDenied):
            workflow.remark_answer(remark=remark, user=people[persona], text="x")
        response = client_of(people, persona).post(
            reverse("workflow:remark-answer", args=[YEAR, remark.pk]), {"text": "x"}
        )
        assert response.status_code == 403
    response = client_of(people, "controllo").post(
        reverse("workflow:remark-answer", args=[YEAR, remark.pk]),
        {"text": "Il dato viene dal sistema Gedoc."},
    )
    assert response.status_code == 302
    remark.refresh_from_db()
    assert remark.status == Remark.Status.ANSWERED
    workflow.cycle_resubmit(cycle=submitted, user=controllo)
    version = workflow.cycle_validate(cycle=submitted, user=oiv, decision="valid")
    remark.refresh_from_db()
    assert (remark.status, remark.resolved_by) == (Remark.Status.RESOLVED, oiv)
    assert [a.text for a in remark.answers.all()] == ["Il dato viene dal sistema Gedoc."]
    assert "Fonte del dato?" in version.validation_html
    assert "Il dato viene dal sistema Gedoc." in version.validation_html
    page = text_of(client_of(people, "referente-ri").get(REVIEW))
    assert "Fonte del dato?" in page and "Il dato viene dal sistema Gedoc." in page


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_review_page_for_every_persona(submitted, people, persona):
    response = client_of(people, persona).get(REVIEW)
    if persona == "anonimo":
        assert response.status_code == 302
        return
    if persona == "nessun-ruolo":
        assert response.status_code == 403
        return
    assert response.status_code == 200
    page = text_of(response)
    assert "Da esaminare per primo" in page and "Obiettivo per obiettivo" in page
    assert "La Relazione come sarà pubblicata" in page and 'id="relazione-titolo"' in page
    reviewing = persona == "oiv"
    assert ("Accetta l'obiettivo" in page) is reviewing
    assert ("Restituisci con osservazioni" in page) is True
    assert (f'action="{PANEL}valida/"' in page) is reviewing
    assert 'style="' not in page


def _counts(page: str) -> dict[str, int]:
    """The attention list's groups and their counts, as shown."""
    found = re.findall(
        r'<span class="h5">([^<]+)</span> <span class="badge attention-count">(\d+)</span>', page
    )
    return {title: int(n) for title, n in found}


def test_the_attention_list_comes_first(submitted, people):
    oiv = people["oiv"]
    page = text_of(client_of(people, "oiv").get(REVIEW))
    assert page.index("Da esaminare per primo") < page.index("Obiettivo per obiettivo")
    counts = _counts(page)
    assert len(cycle_score(cycle=submitted).overrides()) == 12
    excluded = Target.objects.filter(
        indicator__objective__cycle=submitted, status=Target.Status.EXCLUDED
    ).exclude(indicator__objective__status=Objective.Status.NEUTRALIZED)
    neutralized = Objective.objects.filter(cycle=submitted, status=Objective.Status.NEUTRALIZED)
    # values loaded from the document are not "late"; one recorded by a user 60 days after the
    # end of the period is, and so is any change after the submission (below)
    assert counts == {
        "Rettifiche motivate": 12,
        "Righe escluse e obiettivi neutralizzati": excluded.count() + neutralized.count(),
        "Valori registrati in ritardo (oltre 30 giorni dalla fine del periodo)": 0,
        "Incongruenze del rapporto di coerenza": 8,
        "Modifiche dopo l'invio all'OIV": 0,
    }
    assert "valore approvato nella Relazione 2019" in page
    assert "riga ripetuta" in page
    target = ri_target()
    workflow.remark_create(
        cycle=submitted, user=oiv, objective=target.indicator.objective, text="?", reopen=True
    )
    workflow.cycle_return(cycle=submitted, user=oiv)
    actual_record(
        target=target,
        period=final_period(),
        user=people["controllo"],
        expected_version=stored(target).version,
        number=Decimal(90),
    )
    Actual.objects.filter(pk=stored(target).pk).update(
        recorded_at=dt.datetime(2020, 3, 1, 10, tzinfo=dt.UTC)
    )
    attention = selectors.attention(cycle=submitted, scored=cycle_scored(cycle=submitted))
    (late,) = attention.late
    assert late.title == f"{target.indicator.name} – Servizio Registro Imprese"
    assert "61 giorni dopo la fine del periodo (31/12/2019)" in late.detail
    (change,) = [c for c in attention.changes if c.title.startswith("Valore:")]
    assert "valore: «88» → «90»" in change.detail
    assert change.who == "controllo"
    assert {"ritardo", "modifica"} <= attention.objective_flags()[target.indicator.objective_id]


def test_the_oiv_accepts_objectives_one_by_one_or_all(submitted, people):
    objective = ri_target().indicator.objective
    for persona in ("referente-ri", "controllo"):
        response = client_of(people, persona).post(
            reverse("workflow:accept", args=[YEAR, objective.pk])
        )
        assert response.status_code == 403
    assert not ObjectiveReview.objects.exists()
    client = client_of(people, "oiv")
    assert client.post(reverse("workflow:accept", args=[YEAR, objective.pk])).status_code == 302
    review = ObjectiveReview.objects.get()
    assert (review.objective, review.decision, review.reviewer) == (
        objective,
        "accepted",
        people["oiv"],
    )
    assert workflow.validate_warnings(submitted) == [
        f"{Objective.objects.filter(cycle=submitted).count() - 1} obiettivi non ancora "
        "esaminati in questa versione (la validazione resta possibile)."
    ]
    client.post(reverse("workflow:accept-all", args=[YEAR]))
    assert ObjectiveReview.objects.count() == Objective.objects.filter(cycle=submitted).count()
    assert workflow.validate_warnings(submitted) == []


# ------------------------------------------------------------------ freezing, publishing


def test_validation_freezes_the_version_with_its_digests(ready, people):
    advance(ready, people, S.VALIDATED)
    version = RelazioneVersion.objects.get(cycle=ready)
    assert (version.number, version.kind, version.validated_by) == (1, "original", people["oiv"])
    assert version.html_sha256 == sha256(version.html)
    assert version.tree_sha256 == sha256(workflow._canonical(version.tree_json))
    assert version.validation_html_sha256 == sha256(version.validation_html)
    with version.pdf.open("rb") as handle:
        assert sha256(handle.read()) == version.pdf_sha256 == version.digest
    with version.validation_pdf.open("rb") as handle:
        content = handle.read()
    assert content.startswith(b"%PDF") and sha256(content) == version.validation_pdf_sha256
    assert workflow.version_verify(version=version).ok
    # the computed tree is the engine's
    score = cycle_score(cycle=ready)
    assert version.tree_json["strategic"]["achievement"] == float(score.strategic.achievement)
    assert len(version.tree_json["discrepancies"]) == 8
    # the document as it will be published: not a draft, its open data of this version
    assert "is-draft" not in version.html and "Bozza" not in version.html
    assert f"/trasparenza/performance/{YEAR}/versioni/1/dati.csv" in version.html
    # the documento di validazione: decision, date, members, digests
    for text in ("VALIDA", "Validata", "Maria Bianchi", "Presidente", "Luca Verdi"):
        assert text in version.validation_html
    assert version.pdf_sha256 in version.validation_html
    assert version.html_sha256 in version.validation_html
    assert version.oiv_members == [
        {"name": "Maria Bianchi", "role": "Presidente"},
        {"name": "Luca Verdi", "role": "Componente"},
    ]
    # staff see it before publication; the public does not
    staff = client_of(people, "oiv")
    page = text_of(staff.get(reverse("workflow:version", args=[YEAR, 1])))
    assert "Integrità verificata" in page and "non ancora pubblicata" in page
    page = text_of(staff.get(reverse("workflow:validation", args=[YEAR, 1])))
    assert "Documento di validazione della Relazione sulla performance 2019" in page
    assert staff.get(reverse("workflow:validation-pdf", args=[YEAR, 1])).status_code == 200
    anonymous = Client()
    for url in (
        PUBLIC,
        reverse("workflow:public-version", args=[YEAR, 1]),
        reverse("workflow:public-version-pdf", args=[YEAR, 1]),
        reverse("workflow:public-validation", args=[YEAR, 1]),
        reverse("workflow:public-archive", args=[YEAR]),
        reverse("workflow:public-version-csv", args=[YEAR, 1]),
    ):
        assert anonymous.get(url).status_code == 404, url
    assert (
        client_of(people, "anonimo").get(reverse("workflow:version", args=[YEAR, 1])).status_code
        == 302
    )


def test_the_public_page_is_the_frozen_version_and_its_pdf_matches_the_digest(ready, people):
    advance(ready, people, S.PUBLISHED)
    version = RelazioneVersion.objects.get(cycle=ready)
    assert version.published_by == people["controllo"]
    anonymous = Client()
    response = anonymous.get(PUBLIC)
    assert response.status_code == 200
    page = text_of(response)
    shown = re.search(r'id="impronta-sha256" data-sha256="([0-9a-f]{64})"', page).group(1)
    assert shown == version.pdf_sha256
    assert "Versione 1 – Versione originale" in page
    pdf_url = reverse("workflow:public-version-pdf", args=[YEAR, 1])
    assert f'href="{pdf_url}"' in page
    pdf = anonymous.get(pdf_url)
    assert pdf["Content-Type"] == "application/pdf"
    assert sha256(body(pdf)) == shown
    assert pdf["ETag"] == f'"{shown}"'
    assert anonymous.get(pdf_url, HTTP_IF_NONE_MATCH=f'"{shown}"').status_code == 304
    assert version.html in page
    # the index lists the year; the open data are the frozen ones
    assert f'href="{PUBLIC}"' in text_of(anonymous.get("/trasparenza/performance/"))
    assert text_of(anonymous.get(f"{PUBLIC}dati.csv")) == version.data_csv
    assert text_of(anonymous.get(f"{PUBLIC}dati.json")) == version.data_json
    validation = text_of(anonymous.get(reverse("workflow:public-validation", args=[YEAR, 1])))
    assert "Maria Bianchi" in validation

    # data changed behind the services' back (the admin, the shell): the public page is frozen
    target = ri_target()
    Target.objects.filter(pk=target.pk).update(text="TARGET CAMBIATO DOPO")
    assert "TARGET CAMBIATO DOPO" not in text_of(anonymous.get(PUBLIC))
    preview = client_of(people, "controllo").get(f"/lavoro/{YEAR}/relazione/anteprima/")
    assert "TARGET CAMBIATO DOPO" in text_of(preview)  # the live staff preview
    # and the services refuse any edit
    with pytest.raises(editability.ReadOnlyError, match="«Pubblicato»"):
        actual_record(
            target=target,
            period=final_period(),
            user=people["controllo"],
            expected_version=stored(target).version,
            number=Decimal(1),
        )


def test_a_frozen_version_never_changes_and_the_admin_is_read_only(ready, people):
    advance(ready, people, S.VALIDATED)
    version = RelazioneVersion.objects.get(cycle=ready)
    content = {name: str(getattr(version, name)) for name in RelazioneVersion.CONTENT_FIELDS}
    workflow.cycle_publish(cycle=ready, user=people["controllo"])
    workflow.errata_open(cycle=ready, user=people["controllo"], note="Correzione.")
    advance(ready, people, S.PUBLISHED)
    version.refresh_from_db()
    assert {n: str(getattr(version, n)) for n in RelazioneVersion.CONTENT_FIELDS} == content
    assert workflow.version_verify(version=version).ok

    admin = people.client("admin")
    change = f"/admin/reports/relazioneversion/{version.pk}/change/"
    page = admin.get(change)
    assert page.status_code == 200 and 'name="_save"' not in text_of(page)
    assert admin.post(change, {"errata_note": "x"}).status_code == 403
    assert admin.get(f"/admin/reports/relazioneversion/{version.pk}/delete/").status_code == 403
    assert admin.get("/admin/reports/relazioneversion/add/").status_code == 403
    version.refresh_from_db()
    assert {n: str(getattr(version, n)) for n in RelazioneVersion.CONTENT_FIELDS} == content


def test_an_errata_is_a_new_version_and_the_archive_keeps_both(ready, people):
    advance(ready, people, S.PUBLISHED)
    v1 = RelazioneVersion.objects.get(cycle=ready)
    controllo = client_of(people, "controllo")
    note = "Corretto il grado di soddisfazione dell'utenza del Registro Imprese."
    response = controllo.post(f"{PANEL}errata/", {"note": note})
    assert response.status_code == 302
    ready.refresh_from_db()
    assert ready.status == S.REPORTING
    anonymous = Client()
    assert "Versione 1 –" in text_of(anonymous.get(PUBLIC))  # still public while corrected
    assert f'href="{PUBLIC}"' in text_of(anonymous.get("/trasparenza/performance/"))

    rating = ri_target("≥ 4,5 (su scala da 1 a 5)", "rating")
    actual_record(
        target=rating,
        period=final_period(),
        user=people["controllo"],
        expected_version=stored(rating).version,
        number=Decimal("4.0"),
    )
    advance(ready, people, S.VALIDATED)
    v2 = RelazioneVersion.objects.get(cycle=ready, number=2)
    assert (v2.kind, v2.previous, v2.errata_note) == ("errata", v1, note)
    assert any(rating.indicator.name in c["text"] and "→" in c["text"] for c in v2.changes)
    assert note.replace("'", "&#x27;") in v2.validation_html
    assert "Errata corrige" in v2.validation_html
    assert "Versione 1 –" in text_of(anonymous.get(PUBLIC))  # v2 not public before publication
    v1_pdf = reverse("workflow:public-version-pdf", args=[YEAR, 1])
    assert anonymous.get(f"{PUBLIC}relazione.pdf")["Location"] == v1_pdf  # nor its PDF
    v2_url = reverse("workflow:public-version", args=[YEAR, 2])
    assert anonymous.get(v2_url).status_code == 404

    workflow.cycle_publish(cycle=ready, user=people["controllo"])
    page = text_of(anonymous.get(PUBLIC))
    assert "Versione 2 – Errata corrige" in page
    assert note.replace("'", "&#x27;") in page and rating.indicator.name in page
    assert v2.pdf_sha256 in page
    archive = text_of(anonymous.get(reverse("workflow:public-archive", args=[YEAR])))
    assert archive.index("Versione 2</a>") < archive.index("Versione 1</a>")
    assert v1.pdf_sha256 in archive and v2.pdf_sha256 in archive
    old = text_of(anonymous.get(reverse("workflow:public-version", args=[YEAR, 1])))
    assert "Questa versione è stata sostituita dalla" in old and v1.html in old
    pdf = anonymous.get(reverse("workflow:public-version-pdf", args=[YEAR, 1]))
    assert sha256(body(pdf)) == v1.pdf_sha256 != v2.pdf_sha256
    csv_v1 = text_of(anonymous.get(reverse("workflow:public-version-csv", args=[YEAR, 1])))
    assert csv_v1 == v1.data_csv != v2.data_csv
    assert text_of(anonymous.get(f"{PUBLIC}dati.csv")) == v2.data_csv
    # the year's PDF address leads to the latest published version's PDF
    latest = anonymous.get(f"{PUBLIC}relazione.pdf")
    assert latest.status_code == 302
    assert latest["Location"] == reverse("workflow:public-version-pdf", args=[YEAR, 2])
    assert sha256(body(anonymous.get(latest["Location"]))) == v2.pdf_sha256


def test_without_the_pdf_renderer_the_version_is_still_valid(ready, people, monkeypatch):
    # the module is missing: ImportError
    monkeypatch.setitem(sys.modules, "reports.relazione.pdf", None)
    advance(ready, people, S.PUBLISHED)
    version = RelazioneVersion.objects.get(cycle=ready)
    assert not version.pdf and version.pdf_sha256 == ""
    assert version.pdf_error.startswith(
        "ModuleNotFoundError: import of reports.relazione.pdf halted"
    )
    assert version.digest == version.html_sha256
    assert workflow.version_verify(version=version).ok
    page = text_of(Client().get(PUBLIC))
    assert "non disponibile per questa versione" in page
    assert f'data-sha256="{version.html_sha256}"' in page
    assert "fa fede il documento HTML" in version.validation_html
    assert Client().get(reverse("workflow:public-version-pdf", args=[YEAR, 1])).status_code == 404
    # no frozen PDF to lead to: the year's address offers the PDF rendered for the public
    assert Client().get(f"{PUBLIC}relazione.pdf").status_code == 503


def test_a_failing_pdf_render_is_recorded(ready, people, monkeypatch):
    import reports.relazione.pdf

    def broken(*, cycle):
        raise RuntimeError("WeasyPrint non disponibile")

    monkeypatch.setattr(reports.relazione.pdf, "render_relazione_pdf", broken)
    advance(ready, people, S.VALIDATED)
    version = RelazioneVersion.objects.get(cycle=ready)
    assert version.pdf_error == "RuntimeError: WeasyPrint non disponibile"
    page = text_of(client_of(people, "oiv").get(reverse("workflow:version", args=[YEAR, 1])))
    assert "PDF non generato alla validazione: RuntimeError" in page


def test_the_real_pdf_is_the_relazione_as_published(ready, people, real_pdf):
    from pyhanko.pdf_utils.reader import PdfFileReader

    advance(ready, people, S.VALIDATED)
    version = RelazioneVersion.objects.get(cycle=ready)
    with version.pdf.open("rb") as handle:
        content = handle.read()
    assert sha256(content) == version.pdf_sha256 and version.pdf_size == len(content)
    title = str(PdfFileReader(io.BytesIO(content)).document_meta_view.title)
    assert "Relazione sulla performance 2019" in title and "bozza" not in title.lower()


# -------------------------------------------------------------------------------- PAdES


def _self_signed(tmp_path: Path, passphrase: bytes) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Camera di Commercio di Prova"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = tmp_path / "firma.key", tmp_path / "firma.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def _verify(content: bytes, cert_path: Path):
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    (signature,) = PdfFileReader(io.BytesIO(content)).embedded_signatures
    context = ValidationContext(trust_roots=[load_cert_from_pemder(str(cert_path))])
    return signature, validate_pdf_signature(signature, context)


def test_the_published_pdfs_carry_a_pades_signature_that_verifies(
    ready, people, settings, tmp_path
):
    key, cert = _self_signed(tmp_path, b"parola-segreta")
    settings.PDF_SIGNING_KEY, settings.PDF_SIGNING_CERT = str(key), str(cert)
    settings.PDF_SIGNING_PASSPHRASE = "parola-segreta"
    advance(ready, people, S.PUBLISHED)
    version = RelazioneVersion.objects.get(cycle=ready)
    assert version.pdf_signed and version.validation_pdf_signed
    assert "Camera di Commercio di Prova" in version.pdf_signer
    downloaded = body(Client().get(reverse("workflow:public-version-pdf", args=[YEAR, 1])))
    assert sha256(downloaded) == version.pdf_sha256
    with version.validation_pdf.open("rb") as handle:
        validation = handle.read()
    for content in (downloaded, validation):
        signature, status = _verify(content, cert)
        assert signature.field_name == "FirmaEnte"
        assert status.intact and status.valid and status.trusted and status.bottom_line
        assert "Camera di Commercio di Prova" in status.signing_cert.subject.human_friendly
    assert "firmato digitalmente (PAdES)" in text_of(Client().get(PUBLIC))


def test_an_unusable_signing_key_refuses_the_validation(ready, people, settings, tmp_path):
    key, cert = _self_signed(tmp_path, b"parola-segreta")
    settings.PDF_SIGNING_KEY, settings.PDF_SIGNING_CERT = str(key), str(cert)
    settings.PDF_SIGNING_PASSPHRASE = "sbagliata"
    advance(ready, people, S.SUBMITTED)
    before = fingerprint(ready)
    media = Path(settings.MEDIA_ROOT)
    files = sorted(media.rglob("*"))
    with pytest.raises(workflow.TransitionRefused, match=r"La firma digitale .* non è riuscita"):
        workflow.cycle_validate(cycle=ready, user=people["oiv"], decision="valid")
    assert fingerprint(ready) == before
    assert sorted(media.rglob("*")) == files  # nothing left behind


# ------------------------------------------------------------------------------ setup_demo


def test_setup_demo_takes_2019_through_the_workflow_to_publication(
    cycle_2019, settings, monkeypatch
):
    settings.DEBUG = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    monkeypatch.setenv("DEMO_PASSWORD", "password-demo-2019")
    out = io.StringIO()
    call_command("setup_demo", stdout=out)
    assert "Relazione 2019 validata dall'OIV e pubblicata" in out.getvalue()
    cycle_2019.refresh_from_db()
    assert cycle_2019.status == S.PUBLISHED
    assert list(
        CycleTransition.objects.filter(cycle=cycle_2019)
        .order_by("at", "id")
        .values_list("action", "user__username")
    ) == [
        ("start_monitoring", "controllo"),
        ("start_reporting", "controllo"),
        ("consistency_review", "controllo"),
        ("submit", "controllo"),
        ("validate", "oiv"),
        ("publish", "controllo"),
    ]
    version = RelazioneVersion.objects.get(cycle=cycle_2019)
    assert version.published_at and version.pdf and version.validation_pdf
    assert "OIV monocratico" in version.validation_html
    page = text_of(Client().get(PUBLIC))
    assert version.pdf_sha256 in page
    again = io.StringIO()
    call_command("setup_demo", stdout=again)
    assert "Relazione 2019 già pubblicata." in again.getvalue()
    assert RelazioneVersion.objects.count() == 1
    assert CycleTransition.objects.filter(cycle=cycle_2019).count() == 6
