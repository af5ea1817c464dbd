"""Cross-cutting middleware of the site (see MIDDLEWARE in config/settings.py).

- ``SecurityHeadersMiddleware``: the Permissions-Policy header (settings.PERMISSIONS_POLICY);
  Django's SecurityMiddleware and django-csp set the other security headers.
- ``PrivateCacheMiddleware``: ``Cache-Control: private, no-store`` on the workspace, the admin,
  the log-in and every response to a signed-in user (pages, exports, downloads: nothing of the
  staff stays in a browser's or a proxy's cache); the public pages (/trasparenza/, /static/,
  /salute/) keep the headers their views set (public caching, ETag, immutable static files).
- ``RequestSizeLimitMiddleware``: a request body larger than settings.MAX_REQUEST_BYTES is
  refused with 413 before Django reads it (the reverse proxy has the same limit).
- ``DatabaseUnavailableMiddleware``: the database cannot be reached (stopped, restarting, network
  down): a plain Italian 503 page with Retry-After instead of a server error. Nothing is kept
  about the failure: Django closes a connection that raised such an error at the end of the
  request and checks a persistent one before reusing it (CONN_HEALTH_CHECKS), so the next request
  opens a new connection and the service recovers by itself as soon as the database is back.
- ``client_ip``: the client address for django-axes, behind settings.TRUSTED_PROXY_COUNT proxies.
"""

from __future__ import annotations

import logging
import sys
import time

from django.conf import settings
from django.db.utils import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.utils.cache import patch_cache_control

logger = logging.getLogger("config.availability")

RETRY_AFTER_SECONDS = 30
# The errors a lost or refused database connection raises (psycopg2 and sqlite3 alike, as
# Django wraps them). An IntegrityError or a DataError is a bug or a bad input, not this.
UNAVAILABLE_ERRORS = (OperationalError, InterfaceError)


def _header_value(policy: dict[str, list[str]]) -> str:
    parts = []
    for feature, origins in policy.items():
        parts.append(f"{feature}=({' '.join(origins)})")
    return ", ".join(parts)


class SecurityHeadersMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.permissions_policy = _header_value(getattr(settings, "PERMISSIONS_POLICY", {}))

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.permissions_policy:
            response.headers.setdefault("Permissions-Policy", self.permissions_policy)
        return response


class PrivateCacheMiddleware:
    PRIVATE_PREFIXES = ("/lavoro/", "/admin/", "/accedi/", "/esci/")
    PUBLIC_PREFIXES = ("/trasparenza/", "/static/", "/salute/")

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        path = request.path_info
        if path.startswith(self.PUBLIC_PREFIXES):
            return response
        if path.startswith(self.PRIVATE_PREFIXES) or _signed_in(request):
            patch_cache_control(response, private=True, no_store=True)
        return response


def _signed_in(request: HttpRequest) -> bool:
    """Without a session cookie nobody is signed in: the session is not even looked at."""
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return False
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)


class RequestSizeLimitMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = getattr(settings, "MAX_REQUEST_BYTES", None)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if limit and length > limit:
            megabytes = limit / (1024 * 1024)
            response = HttpResponse(
                loader.render_to_string(
                    "413.html", {"limit_mb": f"{megabytes:.0f}".replace(".", ",")}
                ),
                status=413,
            )
            response["Connection"] = "close"
            return response
        return self.get_response(request)


# ------------------------------------------------------------------------ database unavailable


def is_database_unavailable(error: BaseException | None) -> bool:
    return isinstance(error, UNAVAILABLE_ERRORS)


_last_logged = 0.0


def _log(error: BaseException, request: HttpRequest | None) -> None:
    """One line at most every 10 seconds per process (a stopped database fails every request)."""
    global _last_logged
    now = time.monotonic()
    if now - _last_logged >= 10:
        _last_logged = now
        path = request.path if request is not None else "-"
        logger.error("Database unavailable (%s: %s) on %s", type(error).__name__, error, path)


def unavailable_response(request: HttpRequest | None) -> HttpResponse:
    """503, in Italian, without touching the database (no context processors, no session)."""
    wants_json = request is not None and (
        request.path.endswith((".json", "/salute/"))
        or "application/json" in request.headers.get("Accept", "")
    )
    if wants_json:
        response: HttpResponse = JsonResponse(
            {
                "status": "unavailable",
                "database": "unavailable",
                "message": "Servizio temporaneamente non disponibile: riprovare tra poco.",
            },
            status=503,
        )
    else:
        response = HttpResponse(
            loader.render_to_string("503.html", {"retry_after": RETRY_AFTER_SECONDS}),
            status=503,
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    patch_cache_control(response, no_store=True)
    return response


class DatabaseUnavailableMiddleware:
    """Turns a lost database connection raised by a view into the 503 page (``handler500``,
    config/views.py, does the same for one raised by another middleware)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_database_unavailable(exception):
            return None
        _log(exception, request)
        return unavailable_response(request)


def current_exception_is_database_unavailable() -> bool:
    return is_database_unavailable(sys.exc_info()[1])


# ------------------------------------------------------------------------------ client address


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or behind N trusted proxies the N-th address from the
    right of X-Forwarded-For (the one the outermost trusted proxy saw; the left part of the
    header is written by the client and is never trusted)."""
    proxies = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    remote = request.META.get("REMOTE_ADDR")
    if proxies <= 0:
        return remote
    forwarded = [item.strip() for item in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [item for item in forwarded if item]
    if len(forwarded) >= proxies:
        return forwarded[-proxies]
    return remote
