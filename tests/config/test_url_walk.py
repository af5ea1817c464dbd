"""Every URL pattern of the project, for every persona: the answer each may get.

The patterns are read from the URL conf (``get_resolver()``), so a new view is walked as soon as
it is routed: a pattern whose parameters cannot be filled from ``VALUES``/``BY_URL`` below fails
the test with a message saying what to add, and a new top-level area fails until it is classified
in ``area()``. Each concrete URL is requested with GET and with an empty POST by:

    anonimo        public pages only; /lavoro/ and /admin/ send to the log-in
    nessun-ruolo   logged in without a role: 403 on /lavoro/, the admin's log-in on /admin/
    referente-ri   referent of the Servizio Registro Imprese: writes only its values
    controllo      controllo di gestione: everything in /lavoro/
    oiv            reads everything, writes nothing (except what OIV_MAY_POST lists)
    admin          superuser: everything, the admin too

and for every answer: never a 5xx (except the deliberate, documented ``EXPECTED_503``); every
HTML page of the walk has no inline script, style attribute or event handler (the Content
Security Policy refuses them) and a CSRF token in every POST form.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from django.utils.regex_helper import normalize

from organization.models import Cycle, MeasurementPeriod, Unit
from performance.dataset import read_dataset
from performance.models import Actual, Indicator, Objective, Perspective, StrategicObjective, Target
from reports.models import ContextTable, Section
from reports.models.workflow import Remark
from reports.relazione.services import relazione_load

pytestmark = pytest.mark.django_db

YEAR = 2019
RI = "registro-imprese"
PERSONAS = ("anonimo", "nessun-ruolo", "referente-ri", "controllo", "oiv", "admin")


# ------------------------------------------------------------------------------ the patterns


@dataclass(frozen=True)
class Endpoint:
    route: str  # as written in the URL conf, for messages
    name: str  # "namespace:name", or the route when the pattern has no name
    regex: str  # the whole regex, for filling the parameters


def endpoints(patterns=None, prefix: str = "", route: str = "", namespace: str = "") -> Iterator:
    """Every URLPattern under the root URL conf, with its full regex (as reverse() builds it)."""
    if patterns is None:
        patterns = get_resolver().url_patterns
    for pattern in patterns:
        regex = pattern.pattern.regex.pattern.removeprefix("^")
        text = str(pattern.pattern).removeprefix("^")
        if isinstance(pattern, URLResolver):
            ns = ":".join(filter(None, [namespace, pattern.namespace or ""]))
            yield from endpoints(pattern.url_patterns, prefix + regex, route + text, ns)
        else:
            assert isinstance(pattern, URLPattern)
            name = f"{namespace}:{pattern.name}" if namespace else pattern.name
            yield Endpoint(route=route + text, name=name or route + text, regex=prefix + regex)


# ----------------------------------------------------------------------- filling the parameters

# A parameter by its name, whatever the pattern ("what": a key of the objects built below).
VALUES = {
    "year": "year",
    "unit_key": "unit_key",
    "period_key": "period_key",
    "indicator_id": "indicator",
    "indicator_pk": "indicator",
    "objective_pk": "objective",
    "fmt": "format",
    "app_label": "app_label",
    "content_type_id": "content_type",
    "url": "unknown_admin_path",
    "number": "version",
    "action": "transition",
}
# A parameter whose meaning depends on the pattern: (URL name, parameter) -> what.
BY_URL = {
    ("workspace:plan-perspective", "pk"): "perspective",
    ("workspace:plan-perspective-delete", "pk"): "perspective",
    ("workspace:plan-strategic", "pk"): "strategic",
    ("workspace:plan-strategic-delete", "pk"): "strategic",
    ("workspace:plan-objective", "pk"): "objective",
    ("workspace:plan-objective-delete", "pk"): "objective",
    ("workspace:plan-objective-neutralize", "pk"): "objective",
    ("workspace:plan-indicator", "pk"): "indicator",
    ("workspace:plan-indicator-delete", "pk"): "indicator",
    ("workspace:plan-target", "pk"): "target",
    ("workspace:plan-target-delete", "pk"): "target",
    ("workspace:plan-target-revise", "pk"): "target",
    ("workspace:plan-unit", "pk"): "unit",
    ("pdf:progress", "pk"): "pdf",
    ("pdf:status", "pk"): "pdf",
    ("pdf:download", "pk"): "pdf",
    ("reports:relazione-section", "key"): "section",
    ("reports:relazione-table", "key"): "table",
    ("workflow:exclude", "pk"): "target",
    ("workflow:accept", "pk"): "objective",
    ("workflow:remark-answer", "pk"): "remark",
    ("workflow:remark-resolve", "pk"): "remark",
    ("admin:view_on_site", "object_id"): "target",
    ("admin:auth_user_password_change", "id"): "admin_user",
}
ADMIN_MODEL = re.compile(r"^admin/(?P<app>[a-z_]+)/(?P<model>[a-z_]+)/")


class MissingValue(Exception):
    pass


def admin_object(endpoint: Endpoint, world: dict, *, history: bool) -> str:
    """The first object of the model of an admin pattern (or of its history)."""
    match = ADMIN_MODEL.match(endpoint.route)
    if not match:
        raise MissingValue
    try:
        model = apps.get_model(match["app"], match["model"])
    except LookupError:
        raise MissingValue from None
    obj = model._default_manager.order_by("pk").first()
    if obj is None:
        return "0"  # no row (e.g. django-axes' logs): the admin answers "does not exist"
    if not history:
        return str(obj.pk)
    record = obj.history.order_by("pk").first() if hasattr(obj, "history") else None
    return str(record.pk) if record else "0"


def value(endpoint: Endpoint, param: str, world: dict) -> str:
    what = BY_URL.get((endpoint.name, param)) or VALUES.get(param)
    if what is not None:
        return str(world[what])
    # The admin's object pages: object_id (ModelAdmin), _0/_1 (simple_history's positional
    # object id and history id).
    if param in ("object_id", "_0"):
        return admin_object(endpoint, world, history=False)
    if param in ("history_id", "_1"):
        return admin_object(endpoint, world, history=True)
    raise MissingValue


def concrete_url(endpoint: Endpoint, world: dict) -> str:
    template, params = normalize("^" + endpoint.regex)[0]
    try:
        values = {param: value(endpoint, param, world) for param in params}
    except MissingValue:
        missing = [p for p in params if (endpoint.name, p) not in BY_URL and p not in VALUES]
        pytest.fail(
            f"URL pattern {endpoint.route!r} ({endpoint.name}): no value for {missing}. Add the "
            "parameter to VALUES (same meaning everywhere) or BY_URL (by URL name) in "
            "tests/config/test_url_walk.py, and the object it names to the `world` fixture.",
            pytrace=False,
        )
    return "/" + template % values


# --------------------------------------------------------------------------------- the world


@pytest.fixture
def world(cycle_2019, personas, tmp_path, settings) -> dict:
    """The 2019 cycle published, with its Relazione and a stored PDF; a value of every kind of
    object the patterns name; the personas."""
    from reports.models.pdf import RelazionePdf

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PDF_RENDER_INLINE_THREAD = False
    relazione = relazione_load(
        cycle=cycle_2019, data=read_dataset(settings.BASE_DIR / "fixtures" / "relazione-2019.yaml")
    )
    Cycle.objects.filter(pk=cycle_2019.pk).update(status=Cycle.Status.PUBLISHED)
    cycle_2019.refresh_from_db()
    pdf = RelazionePdf(
        cycle=cycle_2019,
        content_digest="0" * 64,
        is_draft=False,
        status=RelazionePdf.Status.DONE,
        sha256="1" * 64,
        size=9,
        pages=1,
        finished_at=timezone.now(),
    )
    pdf.file.save("walk.pdf", ContentFile(b"%PDF-1.7\n"), save=False)
    pdf.save()
    unit = Unit.objects.get(cycle=cycle_2019, key=RI)
    target = Target.objects.filter(unit=unit).order_by("pk").first()

    for persona in PERSONAS:  # every walker exists before the walk (tests/personas.py)
        personas[persona]
    remark = Remark.objects.create(
        cycle=cycle_2019,
        objective=target.indicator.objective,
        subject=target.indicator.objective.title[:80],
        author=personas["oiv"],
        text="Osservazione di prova.",
    )

    return {
        "year": YEAR,
        "unit_key": RI,
        "period_key": MeasurementPeriod.objects.get(cycle=cycle_2019, is_final=True).key,
        "perspective": Perspective.objects.filter(cycle=cycle_2019).order_by("pk").first().pk,
        "strategic": StrategicObjective.objects.filter(cycle=cycle_2019).order_by("pk")[0].pk,
        "objective": target.indicator.objective_id,
        "indicator": target.indicator_id,
        "target": target.pk,
        "unit": unit.pk,
        "pdf": pdf.pk,
        "section": Section.objects.filter(relazione=relazione).order_by("order")[0].key,
        "table": ContextTable.objects.filter(relazione=relazione).order_by("order")[0].key,
        "format": "csv",
        "app_label": "performance",
        "content_type": ContentType.objects.get_for_model(Target).pk,
        "unknown_admin_path": "pagina-inesistente/",
        "admin_user": personas["admin"].pk,
        "remark": remark.pk,
        "version": 1,  # none published in this world: the version pages answer 404
        "transition": "valida",
        "personas": personas,
    }


# ----------------------------------------------------------------------- what each may answer

# The one deliberate 5xx: none so far (a published year's PDF not rendered yet is a 503 with
# Retry-After, but the world has one stored).
EXPECTED_503: set[str] = set()

# Views that accept any method and only read (a POST renders the page): not writes.
READS_ANY_METHOD = {
    "workspace:home",
    "workspace:entry-index",
    "workspace:objectives",
    "workspace:indicators",
    "workspace:tree",
    "workspace:indicator-history",
    "workspace:plan",
    "public:preview",
}
# POSTs the OIV may make (its own actions): generating the PDF of the Relazione, the review of
# the Relazione (accepting objectives, remarks) and its transitions (return, validate),
# logging out.
OIV_MAY_POST = {
    "pdf:staff",
    "workflow:transition",
    "workflow:accept",
    "workflow:accept-all",
    "workflow:remark-create",
    "workflow:remark-resolve",
    "logout",
}
# Views that answer a refused POST with a redirect and the Italian reason as a message (the
# workflow's services decide who may act): for the personas who may not act there, a 302 is
# allowed; that nothing was written is checked at the end of the walk.
REFUSE_WITH_MESSAGE = {
    "workflow:transition",
    "workflow:exclude",
    "workflow:accept",
    "workflow:accept-all",
    "workflow:remark-create",
    "workflow:remark-answer",
    "workflow:remark-resolve",
}
# POSTs the referent of Registro Imprese may make: its values (form, live preview), imports of
# its values, logging out.
REFERENT_MAY_POST = {
    "workspace:entry-form",
    "workspace:entry-preview",
    "workspace:import",
    "workspace:import-confirm",
    "logout",
}


def area(endpoint: Endpoint) -> str:
    route = endpoint.route
    if route == "" or route.startswith("trasparenza/"):
        return "public"
    if route in ("accedi/", "esci/", "salute/"):
        return route.strip("/")
    if route.startswith("lavoro/"):
        return "workspace"
    if route.startswith("admin/"):
        return "admin"
    pytest.fail(
        f"URL pattern {route!r} ({endpoint.name}) is in no area: classify it in area() of "
        "tests/config/test_url_walk.py and say who may open it.",
        pytrace=False,
    )


def check(persona: str, method: str, endpoint: Endpoint, response) -> str | None:
    """None if the answer is allowed, otherwise what is wrong."""
    status = response.status_code
    location = response.get("Location", "")
    kind = area(endpoint)
    staff = persona in ("referente-ri", "controllo", "oiv", "admin")

    if status >= 500:
        if status == 503 and endpoint.name in EXPECTED_503 and response.get("Retry-After"):
            return None
        return f"server error {status}"

    if kind == "public":
        allowed = {200, 302, 404} if method == "GET" else {200, 302, 404, 405}
        return None if status in allowed else f"public page answered {status}"
    if kind == "salute":
        expected = 200 if method == "GET" else 405
        return None if status == expected else f"health answered {status}"
    if kind == "accedi":
        return None if status == 200 else f"log-in page answered {status}"
    if kind == "esci":
        expected = 405 if method == "GET" else 302
        return None if status == expected else f"log-out answered {status}"

    if kind == "workspace":
        if persona == "anonimo":
            ok = status == 302 and location.startswith("/accedi/?next=")
            return None if ok else f"anonymous got {status} {location}, not the log-in"
        if persona == "nessun-ruolo":
            return None if status == 403 else f"a user without a role got {status}, not 403"
        if method == "POST":
            may_post = {"oiv": OIV_MAY_POST, "referente-ri": REFERENT_MAY_POST}.get(persona)
            if (
                may_post is not None
                and endpoint.name not in may_post
                and endpoint.name not in READS_ANY_METHOD
                and status < 400
                and not (endpoint.name in REFUSE_WITH_MESSAGE and status == 302)
            ):
                return f"{persona} may not write here, but a POST answered {status}"
            return None
        if persona in ("controllo", "admin"):  # may open everything: never a 403
            ok = status in (200, 302, 404, 405)  # 405: a POST-only view
            return None if ok else f"{persona} GET answered {status}"
        return None if status in (200, 302, 403, 404, 405) else f"{persona} GET answered {status}"

    if kind == "admin":
        if persona == "admin":
            return None if status in (200, 302, 403, 404, 405) else f"admin answered {status}"
        if endpoint.name == "admin:login":
            return None if status in (200, 302) else f"admin log-in answered {status}"
        if endpoint.name == "admin:logout":
            return None if status in (302, 405) else f"admin log-out answered {status}"
        ok = status == 302 and (location.startswith("/admin/login/") or not staff)
        return None if ok else f"{persona} (not staff) got {status} {location} on the admin"
    return f"unknown area {kind}"


# ------------------------------------------------------------------ what every page must not do


class _PageChecker(HTMLParser):
    """Inline scripts, style attributes and event handlers (refused by the Content Security
    Policy), and POST forms without the CSRF token."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._script_inline = False
        self._form_post: list[bool] = []
        self._form_has_token: list[bool] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        values = dict(attrs)
        if "style" in names:
            self.problems.append(f"style attribute on <{tag}>")
        handlers = sorted(name for name in names if name.startswith("on"))
        if handlers:
            self.problems.append(f"event handler {handlers} on <{tag}>")
        if tag == "script":
            kind = (values.get("type") or "").lower()
            data_block = kind in ("application/json", "application/ld+json", "text/template")
            self._script_inline = "src" not in names and not data_block
        if tag == "style":
            self.problems.append("inline <style> element")
        if tag == "form":
            self._form_post.append((values.get("method") or "get").lower() == "post")
            self._form_has_token.append(False)
        if tag == "input" and values.get("name") == "csrfmiddlewaretoken" and self._form_has_token:
            self._form_has_token[-1] = True

    def handle_data(self, data: str) -> None:
        if self._script_inline and data.strip():
            self.problems.append(f"inline <script>: {data.strip()[:60]!r}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script_inline = False
        if tag == "form" and self._form_post:
            post, token = self._form_post.pop(), self._form_has_token.pop()
            if post and not token:
                self.problems.append("POST form without csrfmiddlewaretoken")


# Known inline styles of third-party templates, harmless when the policy blocks them:
# (path pattern, problem, why).
THIRD_PARTY_COSMETIC = [
    (
        re.compile(r"^/admin/.+/history/$"),
        "style attribute on <p>",
        "django-simple-history's paginator: style='border-top: 0', a border more when blocked",
    ),
]


def page_problems(url: str, response) -> list[str]:
    if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
        return []
    checker = _PageChecker()
    checker.feed(response.content.decode("utf-8", errors="replace"))
    tolerated = {problem for path, problem, _ in THIRD_PARTY_COSMETIC if path.match(url)}
    # each kind of problem once per page
    return [p for p in dict.fromkeys(checker.problems) if p not in tolerated]


# -------------------------------------------------------------------------------------- tests


def test_every_pattern_is_walked():
    """The walk covers the whole URL conf (a sanity check of endpoints())."""
    found = list(endpoints())
    names = {e.name for e in found}
    assert {"public:relazione", "workspace:entry-form", "health", "admin:index"} <= names
    assert len(found) >= 100


ENDS_THE_SESSION = {"logout", "admin:logout"}


def _client(world: dict, persona: str) -> Client:
    return world["personas"].client(persona)


def data_snapshot() -> dict[str, int]:
    """Sizes that any write changes: the history of the tracked data (django-simple-history
    records every save and delete) and the workflow's records."""
    from reports.models import workflow as models_workflow

    sizes = {
        f"{model.__name__} (storico)": model.history.count()
        for model in (Actual, Target, Indicator, Objective, Cycle, Section)
    }
    for name in ("CycleTransition", "Remark", "RemarkAnswer", "ObjectiveReview"):
        model = getattr(models_workflow, name, None)
        if model is not None:
            sizes[name] = model.objects.count()
    return sizes


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_url_answers_each_persona_as_allowed(world, persona):
    urls = [(endpoint, concrete_url(endpoint, world)) for endpoint in endpoints()]
    errors: list[str] = []
    before = data_snapshot()
    # Every GET first, then the POSTs (an admin's POST may delete what a later GET shows).
    client = _client(world, persona)
    for method in ("GET", "POST"):
        for endpoint, url in urls:
            response = client.get(url) if method == "GET" else client.post(url, {})
            if endpoint.name in ENDS_THE_SESSION:
                client = _client(world, persona)
            problem = check(persona, method, endpoint, response)
            if problem:
                errors.append(f"{method} {url} ({endpoint.name}): {problem}")
            for item in page_problems(url, response):
                errors.append(f"{method} {url} ({endpoint.name}): {item}")
    if persona in ("anonimo", "nessun-ruolo", "referente-ri", "oiv"):
        # Empty POSTs: refused or invalid, for these personas nothing is written.
        assert data_snapshot() == before, f"{persona}'s requests changed the data"
    assert not errors, f"{len(errors)} answers not allowed for {persona}:\n" + "\n".join(errors)
