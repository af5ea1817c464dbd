"""Security settings and behaviour: the deployment check, the headers (in development and with the
production settings), CSRF on every form, log-in rate limiting (django-axes), sanitized rich
text, upload limits, the read replica's routing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from performance.services import imports
from tests.factories import PASSWORD, UserFactory

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_KEY = "Kp3" * 16 + "zQ"  # 50 characters, not the development key
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": PRODUCTION_KEY,
    "ALLOWED_HOSTS": "performance.example.org",
    "PUBLIC_BASE_URL": "https://performance.example.org/",
    "DATABASE_URL": "sqlite://:memory:",
    "DJANGO_SETTINGS_MODULE": "config.settings",
}
ENV_VARIABLES = (
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "PUBLIC_BASE_URL",
    "DATABASE_URL",
    "DATABASE_REPLICA_URL",
    "DJANGO_SETTINGS_MODULE",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
)


def run_production(args: list[str], **extra: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ENV_VARIABLES}
    environ.update(PRODUCTION_ENV, **extra)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


# ---------------------------------------------------------------------------- check --deploy


def test_check_deploy_with_the_production_settings_has_no_warning():
    result = run_production(["manage.py", "check", "--deploy", "--fail-level", "WARNING"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


# ----------------------------------------------------------------------------------- headers

# The production settings in a fresh interpreter, answering through Django's test client (the
# static files storage set to the plain one: the manifest needs collectstatic, done at deploy).
PRODUCTION_PROBE = """
import json, config.settings as s
s.STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
import django; django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
from django.conf import settings
settings.ALLOWED_HOSTS = ["performance.example.org", "testserver"]
client = Client(HTTP_HOST="performance.example.org")
out = {}
plain = client.get("/accedi/")
out["http"] = {"status": plain.status_code, "location": plain.get("Location", "")}
health = client.get("/salute/")
out["health_http"] = health.status_code
page = client.get("/accedi/", secure=True)
out["page"] = {"status": page.status_code, "headers": dict(page.headers)}
out["cookies"] = {
    name: {"secure": bool(m["secure"]), "httponly": bool(m["httponly"]), "samesite": m["samesite"],
           "path": m["path"], "domain": m["domain"]}
    for name, m in page.cookies.items()
}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def production() -> dict:
    result = run_production(["-c", PRODUCTION_PROBE])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_redirects_to_https_but_not_the_health_check(production):
    assert production["http"]["status"] == 301
    assert production["http"]["location"] == "https://performance.example.org/accedi/"
    assert production["health_http"] in (200, 503)  # the probe's database may not exist


def test_production_headers(production):
    headers = {k.lower(): v for k, v in production["page"]["headers"].items()}
    assert production["page"]["status"] == 200
    assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert "camera=()" in headers["permissions-policy"]
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "upgrade-insecure-requests" in csp


def test_production_cookies_are_secure_host_only_and_http_only(production):
    cookie = production["cookies"]["__Host-csrftoken"]
    assert cookie == {
        "secure": True,
        "httponly": True,
        "samesite": "Lax",
        "path": "/",
        "domain": "",
    }


def csp_directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    out = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/trasparenza/performance/", "/accedi/", "/salute/"])
def test_security_headers_on_every_kind_of_page(url):
    response = Client().get(url)
    directives = csp_directives(response)
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    policy = response["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in policy


# Templates printed to PDF by WeasyPrint, never served as pages: their inline stylesheet is
# not subject to the browser's policy.
PDF_ONLY_TEMPLATES = {
    "reports/relazione/pdf/document.html",
    "reports/workflow/validation_document.html",
}


def test_templates_have_no_inline_script_or_style():
    """The policy refuses inline scripts, style attributes and event handlers: none in our
    templates (the URL walk checks the rendered pages too)."""
    problems = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        if str(path.relative_to(ROOT / "templates")) in PDF_ONLY_TEMPLATES:
            continue
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"<script\b([^>]*)>", text):
            if "src=" not in match.group(1) and "application/json" not in match.group(1):
                problems.append(f"{path.relative_to(ROOT)}: inline <script>")
        if re.search(r"<style\b", text):
            problems.append(f"{path.relative_to(ROOT)}: <style> element")
        if re.search(r"\sstyle=\"", text):
            problems.append(f"{path.relative_to(ROOT)}: style attribute")
        if re.search(r"\son[a-z]+=\"", text):
            problems.append(f"{path.relative_to(ROOT)}: event handler attribute")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------- CSRF


def test_every_post_form_of_the_templates_has_the_csrf_token():
    missing = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"<form\b[^>]*>(.*?)</form>", text, flags=re.S | re.I):
            opening = match.group(0)[: match.group(0).index(">") + 1]
            if re.search(r"method=\"post\"", opening, flags=re.I) and (
                "csrf_token" not in match.group(1)
            ):
                missing.append(f"{path.relative_to(ROOT)}: {opening}")
    assert not missing, "POST forms without {% csrf_token %}:\n" + "\n".join(missing)


def test_no_view_is_exempt_from_csrf():
    exempt = []
    for folder in ("config", "organization", "performance", "reports"):
        for path in (ROOT / folder).rglob("*.py"):
            if "csrf_exempt" in path.read_text(encoding="utf-8"):
                exempt.append(str(path.relative_to(ROOT)))
    assert not exempt


@pytest.mark.django_db
def test_a_post_without_the_csrf_token_is_refused_in_italian(personas):
    user = personas.controllo
    client = personas.client("controllo", enforce_csrf_checks=True)
    response = client.post("/lavoro/2019/valori/registro-imprese/consuntivo/", {})
    assert response.status_code == 403
    assert "Il modulo non può essere inviato" in response.content.decode()
    anonymous = Client(enforce_csrf_checks=True).post(
        "/accedi/", {"username": user.username, "password": PASSWORD}
    )
    assert anonymous.status_code == 403


def test_csrf_cookie_is_not_readable_by_scripts():
    assert settings.CSRF_COOKIE_HTTPONLY is True
    assert settings.SESSION_COOKIE_HTTPONLY is True


# ------------------------------------------------------------------------ log-in rate limiting


def _log_in(client: Client, username: str, password: str, ip: str = "10.1.2.3"):
    return client.post("/accedi/", {"username": username, "password": password}, REMOTE_ADDR=ip)


@pytest.mark.django_db
def test_axes_backend_is_first():
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"


@pytest.mark.django_db
def test_log_in_is_locked_after_too_many_failures_then_shows_an_italian_page(settings):
    settings.AXES_FAILURE_LIMIT = 3
    user = UserFactory(username="bersaglio")
    client = Client()
    for _ in range(2):
        response = _log_in(client, "bersaglio", "sbagliata")
        assert response.status_code == 200  # the form again, with the error
        assert "_auth_user_id" not in client.session
    locked = _log_in(client, "bersaglio", "sbagliata")
    assert locked.status_code == 429
    text = locked.content.decode()
    assert "Accesso temporaneamente bloccato" in text
    assert "15 minuti" in text
    assert locked["Retry-After"] == "900"
    # Locked out: even the right password is refused, from that address.
    again = _log_in(client, "bersaglio", PASSWORD)
    assert again.status_code == 429
    assert "_auth_user_id" not in client.session
    # Another address, or another user name from the same address, is not locked.
    other = Client()
    assert _log_in(other, "bersaglio", PASSWORD, ip="10.9.9.9").status_code == 302
    assert int(other.session["_auth_user_id"]) == user.pk


@pytest.mark.django_db
def test_a_successful_log_in_resets_the_count(settings):
    settings.AXES_FAILURE_LIMIT = 3
    UserFactory(username="distratto")
    client = Client()
    for _ in range(2):
        _log_in(client, "distratto", "sbagliata")
    assert _log_in(client, "distratto", PASSWORD).status_code == 302
    client.post("/esci/")
    for _ in range(2):
        _log_in(client, "distratto", "sbagliata")
    assert _log_in(client, "distratto", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_the_admin_log_in_is_rate_limited_too(settings):
    settings.AXES_FAILURE_LIMIT = 2
    UserFactory(username="capo", is_staff=True, is_superuser=True)
    client = Client()
    for _ in range(2):
        client.post("/admin/login/", {"username": "capo", "password": "x"}, REMOTE_ADDR="10.0.0.7")
    response = client.post(
        "/admin/login/", {"username": "capo", "password": PASSWORD}, REMOTE_ADDR="10.0.0.7"
    )
    assert response.status_code == 429


def test_client_ip_behind_trusted_proxies(rf, settings):
    from config.middleware import client_ip

    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.1.1.1, 2.2.2.2")
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == "10.0.0.1"  # no proxy: the header is the client's invention
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "2.2.2.2"  # what the proxy saw, not what the client wrote
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_ip(request) == "1.1.1.1"
    settings.TRUSTED_PROXY_COUNT = 3
    assert client_ip(request) == "10.0.0.1"


# ------------------------------------------------------------------------ sanitized rich text


def test_markdown_is_sanitized():
    from reports.relazione.rendering import render_markdown

    html = render_markdown(
        "<script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src=x onerror=alert(1)>"
        '\n\n<a href="https://example.org" onclick="x()">ok</a> <p style="color:red">t</p>'
        "\n\n<iframe src=https://example.org></iframe>"
    )
    lowered = html.lower()
    for bad in ("<script", "javascript:", "onerror", "onclick", "<img", "style=", "<iframe"):
        assert bad not in lowered
    assert 'href="https://example.org"' in html
    assert 'rel="noopener noreferrer"' in html


def test_a_markdown_text_is_rendered_once_and_stays_sanitized():
    """The public page renders the same sections at every request: the sanitized HTML of a text
    is remembered (a pure function of the text), and what is remembered is the sanitized one."""
    from reports.relazione.rendering import render_markdown

    text = "Testo con *enfasi* <script>alert(1)</script> unico per questa prova."
    render_markdown.cache_clear()
    first = render_markdown(text)
    again = render_markdown(text)
    assert again is first
    assert render_markdown.cache_info().hits == 1
    assert "<em>enfasi</em>" in again and "<script" not in again.lower()
    assert render_markdown(text + " Altro.") != first


# ------------------------------------------------------------------------------ upload limits


def test_upload_limits_are_set():
    assert settings.MAX_REQUEST_BYTES > imports.MAX_UPLOAD_BYTES
    assert settings.FILE_UPLOAD_MAX_MEMORY_SIZE <= 5 * 1024 * 1024
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE <= 5 * 1024 * 1024
    # The largest form (a context table: 500 rows x 30 columns) fits.
    from reports.relazione.services import MAX_COLUMNS, MAX_ROWS

    assert settings.DATA_UPLOAD_MAX_NUMBER_FIELDS > MAX_ROWS * (MAX_COLUMNS + 1) + MAX_COLUMNS


@pytest.mark.django_db
def test_a_request_body_over_the_limit_is_refused_before_it_is_read(settings):
    settings.MAX_REQUEST_BYTES = 1000
    response = Client().post("/accedi/", data=b"x" * 2000, content_type="application/octet-stream")
    assert response.status_code == 413
    assert "supera il limite" in response.content.decode()


@pytest.fixture
def controllo_client(personas, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    return personas.client("controllo")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("valori.exe", b"MZ\x90\x00", "Formato non ammesso"),
        ("valori.pdf", b"%PDF-1.7", "Formato non ammesso"),
        ("valori.xlsx", b"non un foglio", "non è un foglio"),
        ("valori.ods", b"PK\x03\x04 rotto", "non è un foglio"),
        ("valori.csv", b"", "vuoto"),
    ],
)
def test_imports_accept_only_spreadsheets(controllo_client, name, content, message):
    upload = SimpleUploadedFile(name, content, content_type="application/octet-stream")
    response = controllo_client.post(
        "/lavoro/2019/importa/", {"kind": imports.VALUES, "file": upload}
    )
    assert response.status_code == 200
    assert message in response.content.decode()


@pytest.mark.django_db
def test_imports_refuse_a_file_over_the_limit(controllo_client, monkeypatch):
    monkeypatch.setattr(imports, "MAX_UPLOAD_BYTES", 100)
    upload = SimpleUploadedFile("valori.csv", b"codice_target;valore\n" + b"1;2\n" * 100)
    response = controllo_client.post(
        "/lavoro/2019/importa/", {"kind": imports.VALUES, "file": upload}
    )
    assert response.status_code == 200
    assert "supera il limite" in response.content.decode()


# ----------------------------------------------------------------------------- read replica


def test_replica_router_sends_only_public_reads_of_the_portal_data(settings):
    from django.contrib.sessions.models import Session

    from config import db
    from performance.models import Target

    router = db.ReadReplicaRouter()
    assert router.db_for_read(Target) is None  # outside a public request: the primary
    token = db._use_replica.set(True)
    try:
        assert router.db_for_read(Target) == "replica"
        assert router.db_for_read(Session) is None  # sessions, users, axes: the primary
    finally:
        db._use_replica.reset(token)
    assert router.db_for_write(Target) == "default"
    assert router.allow_migrate("replica", "performance") is False


@pytest.mark.django_db
def test_without_a_replica_public_pages_read_the_primary(cycle_2019):
    from config import db

    assert not db.replica_configured()
    assert Client().get("/trasparenza/performance/").status_code == 200


# ------------------------------------------------------------------------------ static files


def test_templates_refer_only_to_static_files_that_exist():
    """In production the static storage is a strict manifest (hashed names): a {% static %} of a
    missing file, or of a folder, would make the page a server error there only."""
    from django.contrib.staticfiles import finders

    missing = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        for name in re.findall(r"{%\s*static\s+['\"]([^'\"]+)['\"]", text):
            found = finders.find(name)
            if not found or not Path(found).is_file():
                missing.append(f"{path.relative_to(ROOT)}: {name}")
    assert not missing, "\n".join(missing)


def test_production_static_storage_tolerates_the_prefix_and_folders(tmp_path):
    from config.storage import StaticFilesStorage

    (tmp_path / "fonts").mkdir()
    (tmp_path / "staticfiles.json").write_text(
        json.dumps({"version": "1.1", "paths": {"css/app.css": "css/app.123.css"}, "hash": "x"})
    )
    storage = StaticFilesStorage(location=str(tmp_path), base_url="/static/")
    assert storage.url("css/app.css") == "/static/css/app.123.css"
    assert storage.url("") == "/static/"
    assert storage.url("fonts") == "/static/fonts"
    with pytest.raises(ValueError, match="Missing staticfiles manifest entry"):
        storage.url("css/manca.css")
