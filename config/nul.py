"""NUL characters (``\\x00``) in what the site receives.

PostgreSQL cannot store or compare a text containing NUL: psycopg2 refuses the query with a
ValueError, which would be a server error (SQLite stores it, silently). So NUL is refused in
every text input:

- POSTed form fields: Django's ``forms.CharField`` refuses NUL (ProhibitNullCharactersValidator);
  ``name_nul_errors`` gives a form's fields the Italian message naming the field, and the form
  shows it next to the field, keeping what was typed;
- the views that read ``request.POST`` directly (the workflow's comments, remarks, reasons)
  check with ``nul_refusals`` and refuse with the same message, saving nothing;
- JSON bodies: checked by the view that reads them (the live preview, performance/views/entry.py).

``NulInputMiddleware`` is the safety net (last in settings.MIDDLEWARE):

- a path, a query string (names or values) or a cookie with NUL: 400 before the view, an Italian
  JSON answer for JSON clients and ``.json`` addresses, the site's 400 page otherwise (handler400,
  templates/400.html). No query parameter of the site is typed by hand in a form whose error
  would be worth showing. A session cookie with NUL is never looked up: the session is emptied
  and the cookie deleted;
- a database driver's error about NUL raised by a view (a NUL that got through anyway): 400,
  not 500. POSTed fields are not checked here: the forms say which field is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import BadRequest
from django.core.validators import ProhibitNullCharactersValidator
from django.db import DataError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import get_resolver, get_urlconf
from django.utils.cache import patch_cache_control

NUL = "\x00"
REFUSED = "contiene un carattere non ammesso (NUL)"
# the code of Django's ProhibitNullCharactersValidator (forms.CharField)
NUL_ERROR_CODE = ProhibitNullCharactersValidator.code
# psycopg2: "A string literal cannot contain NUL (0x00) characters."; psycopg 3: "PostgreSQL
# text fields cannot contain NUL (0x00) bytes"
_DRIVER_MESSAGE = "NUL (0x00)"


def has_nul(value: object) -> bool:
    return isinstance(value, str) and NUL in value


def nul_message(label: str) -> str:
    return f"{label}: {REFUSED}"


def nul_refusals(data: Mapping[str, Any], labels: Mapping[str, str]) -> list[str]:
    """The Italian refusal of each field of ``data`` (a QueryDict or a dict) named in ``labels``
    (field name -> label) whose value contains NUL."""
    out = []
    for name, label in labels.items():
        values = data.getlist(name) if hasattr(data, "getlist") else [data.get(name)]
        if any(has_nul(value) for value in values):
            out.append(nul_message(label))
    return out


def name_nul_errors(fields: Mapping[str, Any]) -> None:
    """Give every text field of a form (``form.fields``: the form's own copies) the Italian
    message for NUL naming the field, instead of Django's "I caratteri null non sono ammessi."."""
    for name, field in fields.items():
        if any(isinstance(v, ProhibitNullCharactersValidator) for v in field.validators):
            # Django formats the message with the validator's params: a "%" of the label
            # ("Rettifica % del...") must be escaped
            label = str(field.label or name).replace("%", "%%")
            field.error_messages[NUL_ERROR_CODE] = nul_message(label)


def _first_with_nul(items: Iterable[tuple[str, Iterable[str]]]) -> str | None:
    for name, values in items:
        if NUL in name or any(NUL in value for value in values):
            return name.replace(NUL, "\\0")
    return None


def _wants_json(request: HttpRequest) -> bool:
    return (
        request.path.endswith(".json")
        or request.content_type == "application/json"
        or "application/json" in request.headers.get("Accept", "")
    )


def bad_request(request: HttpRequest, message: str) -> HttpResponse:
    """400 in Italian: JSON for a JSON client, otherwise the site's 400 page (handler400)."""
    if _wants_json(request):
        response: HttpResponse = JsonResponse({"ok": False, "message": message}, status=400)
    else:
        handler = get_resolver(get_urlconf()).resolve_error_handler(400)
        response = handler(request, BadRequest(message))
    patch_cache_control(response, no_store=True)
    return response


def _forget_session(request: HttpRequest) -> None:
    """A session cookie with NUL must never be looked up (the middleware that look at the user
    on the way out would query it): an empty session and nobody signed in. SessionMiddleware
    then deletes the cookie, so the browser's next request is fine."""
    if NUL in request.COOKIES.get(settings.SESSION_COOKIE_NAME, ""):
        request.session = import_module(settings.SESSION_ENGINE).SessionStore()
        request.user = AnonymousUser()


class NulInputMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if NUL in request.path_info:
            return bad_request(request, f"L'indirizzo {REFUSED}.")
        name = _first_with_nul(request.GET.lists())
        if name is not None:
            return bad_request(request, f"Il parametro «{name}» dell'indirizzo {REFUSED}.")
        name = _first_with_nul((key, [value]) for key, value in request.COOKIES.items())
        if name is not None:
            _forget_session(request)
            return bad_request(request, f"Il cookie «{name}» {REFUSED}.")
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, ValueError | DataError) and _DRIVER_MESSAGE in str(exception):
            return bad_request(request, f"La richiesta {REFUSED}.")
        return None
