"""Site-wide views: the health endpoint of the load balancer and the error pages.

- ``/salute/`` (name "health"): 200 ``{"status": "ok", "database": "ok"}`` after a ``SELECT 1`` on
  the database (and on the read replica when there is one); 503 JSON when a database cannot be
  reached. No log-in, no session, no cookie, never cached.
- ``handler400``/``handler403``/``handler404``/``handler500``: the Italian pages in templates/; a
  500 caused by a lost database connection (raised outside a view, e.g. saving the session)
  becomes the 503 page.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError, connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe

from config.middleware import current_exception_is_database_unavailable, unavailable_response

logger = logging.getLogger("config.availability")


@require_safe
def health(request: HttpRequest) -> JsonResponse:
    status = 200
    payload: dict[str, str] = {"status": "ok"}
    for alias in settings.DATABASES:
        key = "database" if alias == "default" else f"database_{alias}"
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        except DatabaseError as error:
            logger.error("Health check: database %s unavailable (%s)", alias, error)
            payload[key] = "unavailable"
            if alias == "default":
                payload["status"] = "unavailable"
                status = 503
            else:  # a replica down: the public pages fall back on the primary (config.db)
                payload["status"] = "degraded" if status == 200 else payload["status"]
        else:
            payload[key] = "ok"
    response = JsonResponse(payload, status=status)
    if status == 503:
        response["Retry-After"] = "30"
    patch_cache_control(response, no_store=True)
    return response


def _page(template: str, status: int, request: HttpRequest | None = None, **context):
    """An error page. Without ``request`` it is rendered without context processors (no
    database query, so it works whatever failed); with it, the header shows the user."""
    return HttpResponse(loader.render_to_string(template, context, request=request), status=status)


def error_400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Rendered without the request: a bad Host header (DisallowedHost) is refused before the
    user is known, and reading the host again would fail once more."""
    return _page("400.html", 400)


def error_403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The reason is the view's own Italian message (PermissionDenied("…"))."""
    message = str(exception) if exception is not None else ""
    return _page("403.html", 403, request, message=message)


def error_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page("404.html", 404, request)


def error_500(request: HttpRequest) -> HttpResponse:
    if current_exception_is_database_unavailable():
        return unavailable_response(request)
    return _page("500.html", 500)


def lockout(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """django-axes: too many failed log-ins for this user name from this address, from this
    address or for this user name (config/login_limits.py): 429, saying which."""
    from django.shortcuts import render

    from config.login_limits import PAIR, lockout_reasons

    hours = settings.AXES_COOLOFF_TIME
    minutes = round(float(hours) * 60) if isinstance(hours, int | float) else None
    try:
        reasons = lockout_reasons(request, credentials)
    except Exception:  # the page must come out whatever: the reason is a courtesy
        logger.exception("Lock-out reason not available")
        reasons = []
    reason = reasons[0] if reasons else None
    response = render(
        request,
        "registration/lockout.html",
        {
            "failure_limit": reason.limit if reason else settings.AXES_FAILURE_LIMIT,
            "scope": reason.kind if reason else PAIR,
            "minutes": minutes,
        },
        status=429,
    )
    if minutes:
        response["Retry-After"] = str(minutes * 60)
    patch_cache_control(response, no_store=True)
    return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form posted without a valid CSRF token (expired page, cookies refused): in Italian."""
    logger.warning("CSRF failure on %s: %s", request.path, reason)
    return _page("403_csrf.html", 403)
