"""System checks of the Relazione (``manage.py check --deploy``, docs/deploy.md §4).

- ``reports.E001``: PUBLIC_BASE_URL is not set, or is not an https address of a public host. The
  links inside the PDF of the Relazione (its open data) are made with it, and the PDF frozen and
  signed at validation cannot be corrected afterwards: without it they would point at
  http://127.0.0.1:8000/ (reports.relazione.pdf.DEFAULT_BASE_URL). An error when DEBUG is off, a
  warning in
  development (where ``check --deploy`` is only a rehearsal).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


def public_base_url_problem(url: str) -> str | None:
    """Why ``url`` is not a production PUBLIC_BASE_URL, or None."""
    url = (url or "").strip()
    if not url:
        return "PUBLIC_BASE_URL is not set"
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return f"PUBLIC_BASE_URL {url!r} is not a valid URL"
    if parts.scheme != "https":
        return f"PUBLIC_BASE_URL {url!r} is not an https URL"
    if not host or host in LOCAL_HOSTS or host.endswith(".localhost"):
        return f"PUBLIC_BASE_URL {url!r} does not name the site's public host"
    if parts.query or parts.fragment:
        return f"PUBLIC_BASE_URL {url!r} has a query or a fragment"
    return None


@checks.register(checks.Tags.security, deploy=True)
def check_public_base_url(app_configs=None, **kwargs):
    problem = public_base_url_problem(getattr(settings, "PUBLIC_BASE_URL", ""))
    if problem is None:
        return []
    level = checks.Warning if settings.DEBUG else checks.Error
    return [
        level(
            f"{problem}: the links inside the PDF of the Relazione (frozen and signed at "
            "validation) would point at the wrong address, e.g. http://127.0.0.1:8000/.",
            hint="Set PUBLIC_BASE_URL to the site's public address, e.g. "
            "https://performance.ente.it/ (docs/deploy.md §3).",
            id="reports.E001",
        )
    ]
