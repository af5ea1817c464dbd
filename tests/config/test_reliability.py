"""Reliability: the health endpoint, the database going away (a 503 page, then recovery by
itself), the error pages, and the backup/restore round trip (every published version, stored
PDF and computed tree identical after a restore)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest
from django.db import connection
from django.db.utils import IntegrityError, OperationalError
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
ENV_VARIABLES = ("DEBUG", "DATABASE_URL", "DATABASE_REPLICA_URL", "MEDIA_ROOT")


def run(args: list[str], env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ENV_VARIABLES}
    environ.update(env)
    environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
        input="",
    )


def manage(*args: str, env: dict[str, str], timeout: int = 300) -> str:
    result = run(["manage.py", *args], env, timeout)
    assert result.returncode == 0, f"manage.py {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout


# ------------------------------------------------------------------------------------- health


@pytest.mark.django_db
def test_health_says_ok_without_a_session():
    response = Client().get("/salute/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert "no-store" in response["Cache-Control"]
    assert not response.cookies  # no session, no CSRF cookie: a load balancer's probe
    assert Client().head("/salute/").status_code == 200


@pytest.mark.django_db
def test_health_is_503_when_the_database_is_unreachable(monkeypatch):
    from config import views

    class Broken:
        vendor = "postgresql"

        def cursor(self):
            raise OperationalError("could not connect to server: Connection refused")

    monkeypatch.setattr(views, "connections", {"default": Broken()})
    response = Client().get("/salute/")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unavailable"}
    assert response["Retry-After"] == "30"


# ----------------------------------------------------------------------- database unavailable


def _refuse(*args, **kwargs):
    raise OperationalError("server closed the connection unexpectedly")


@pytest.mark.django_db
def test_a_lost_database_gives_the_503_page_and_the_next_request_works(cycle_2019, monkeypatch):
    from reports.relazione import selectors

    with monkeypatch.context() as patch:
        patch.setattr(selectors, "published_cycles", _refuse)
        response = Client().get("/trasparenza/performance/")
        assert response.status_code == 503
        assert response["Retry-After"] == "30"
        assert "no-store" in response["Cache-Control"]
        text = response.content.decode()
        assert "Servizio temporaneamente non disponibile" in text
        assert '<html lang="it">' in text
        assert "Content-Security-Policy" in response  # the headers are there as on any page
        data = Client().get("/trasparenza/performance/2019/dati.json")
    # Nothing kept about the failure: the next request is served.
    assert Client().get("/trasparenza/performance/").status_code == 200
    assert data.status_code in (404, 503)  # not published (404) or the database (503)


@pytest.mark.django_db
def test_a_lost_database_on_a_json_endpoint_answers_json(personas, monkeypatch):
    from performance.views import entry

    client = personas.client("admin")
    monkeypatch.setattr(entry, "cycle_for", _refuse)
    response = client.post(
        "/lavoro/2019/valori/anteprima/",
        data="{}",
        content_type="application/json",
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


def test_a_lost_database_outside_a_view_is_a_503_too(rf):
    """Raised by a middleware (e.g. saving the session): handler500 answers 503."""
    from config.views import error_500

    try:
        raise OperationalError("terminating connection due to administrator command")
    except OperationalError:
        response = error_500(rf.get("/lavoro/"))
    assert response.status_code == 503
    assert "temporaneamente non disponibile" in response.content.decode()


@pytest.mark.django_db
def test_other_database_errors_are_a_500_in_italian(cycle_2019, monkeypatch):
    from reports.relazione import selectors

    def broken(*args, **kwargs):
        raise IntegrityError("duplicate key")

    monkeypatch.setattr(selectors, "published_cycles", broken)
    response = Client(raise_request_exception=False).get("/trasparenza/performance/")
    assert response.status_code == 500
    assert "Si è verificato un errore" in response.content.decode()


@pytest.mark.django_db
def test_error_pages_are_in_italian(personas):
    missing = Client().get("/non-esiste/")
    assert missing.status_code == 404
    assert "Pagina non trovata" in missing.content.decode()
    client = personas.client("nessun-ruolo")
    refused = client.get("/lavoro/")
    assert refused.status_code == 403
    text = refused.content.decode()
    assert "Accesso non consentito" in text
    assert "Nessun ruolo assegnato a questo utente." in text  # the view's own reason


# Requests go through Django's WSGI handler as gunicorn calls it (the test client would skip the
# signals that recycle database connections between requests).
WSGI_CLIENT = """
import io, json
from wsgiref.util import setup_testing_defaults
from django.core.handlers.wsgi import WSGIHandler
_handler = WSGIHandler()
class Answer:
    def __init__(self, status, headers, body):
        self.status_code, self.headers, self.content = status, dict(headers), body
    def get(self, name, default=None):
        return self.headers.get(name, default)
    def json(self):
        return json.loads(self.content)
def get(path):
    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "HTTP_HOST": "localhost",
               "SERVER_NAME": "localhost", "wsgi.input": io.BytesIO(b"")}
    setup_testing_defaults(environ)
    started = {}
    def start_response(status, headers, exc_info=None):
        started["status"], started["headers"] = int(status.split()[0]), headers
    result = _handler(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()  # request_finished: what gunicorn does at the end of a request
    return Answer(started["status"], started["headers"], body)
"""


# The database really going away, in a fresh interpreter (the test database of this session on
# PostgreSQL; a file on SQLite): requests while it is gone get the 503 page and the health check
# says so; once it is back the same process serves again, nothing restarted.
OUTAGE_POSTGRESQL = (
    """
import json, os, django
django.setup()
import psycopg2
from django.db import connection
"""
    + WSGI_CLIENT
    + """
name = connection.settings_dict["NAME"]
admin = psycopg2.connect(dbname="postgres", host=connection.settings_dict["HOST"],
    port=connection.settings_dict["PORT"], user=connection.settings_dict["USER"],
    password=connection.settings_dict["PASSWORD"])
admin.autocommit = True
def sql(statement):
    with admin.cursor() as cursor:
        cursor.execute(statement)
out = {"before": get("/trasparenza/performance/").status_code}
assert connection.connection is not None  # a persistent connection (CONN_MAX_AGE)
# The server restarts: the persistent connection is cut; the next request reconnects.
sql(f"SELECT pg_terminate_backend({connection.connection.get_backend_pid()})")
out["after_restart"] = get("/trasparenza/performance/").status_code
try:
    # The database goes away: no new connection accepted, the open one cut.
    sql(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
    sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' "
        "AND pid <> pg_backend_pid() AND application_name = 'ciclo-outage-test'")
    page = get("/trasparenza/performance/")
    health = get("/salute/")
    out["down"] = {"page": page.status_code, "retry": page.get("Retry-After"),
                   "text": "temporaneamente non disponibile" in page.content.decode(),
                   "health": health.status_code, "health_json": health.json()}
finally:
    sql(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
out["back"] = {"page": get("/trasparenza/performance/").status_code,
               "health": get("/salute/").status_code}
print(json.dumps(out))
"""
)

OUTAGE_SQLITE = (
    """
import json, os, django
django.setup()
from django.core.management import call_command
from django.db import connection
"""
    + WSGI_CLIENT
    + """
out = {}
page = get("/trasparenza/performance/")  # the folder of the database does not exist
health = get("/salute/")
out["down"] = {"page": page.status_code, "retry": page.get("Retry-After"),
               "text": "temporaneamente non disponibile" in page.content.decode(),
               "health": health.status_code, "health_json": health.json()}
# The disk is back (the same process, nothing restarted).
connection.close()
connection.settings_dict["NAME"] = os.environ["SQLITE_BACK"]
call_command("migrate", verbosity=0)
out["back"] = {"page": get("/trasparenza/performance/").status_code,
               "health": get("/salute/").status_code}
print(json.dumps(out))
"""
)


def test_the_database_going_away_and_coming_back(db, tmp_path):
    if connection.vendor == "postgresql":
        settings_dict = connection.settings_dict
        url = (
            f"postgres://{settings_dict['USER']}:{settings_dict['PASSWORD'] or ''}@"
            f"{settings_dict['HOST'] or '127.0.0.1'}:{settings_dict['PORT'] or 5432}/"
            f"{settings_dict['NAME']}?application_name=ciclo-outage-test"
        )
        result = run(["-c", OUTAGE_POSTGRESQL], {"DATABASE_URL": url, "CONN_MAX_AGE": "60"})
    else:
        result = run(
            ["-c", OUTAGE_SQLITE],
            {
                "DATABASE_URL": f"sqlite:///{tmp_path}/non-esiste/db.sqlite3",
                "SQLITE_BACK": str(tmp_path / "db.sqlite3"),
            },
        )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    if connection.vendor == "postgresql":
        assert out["before"] == 200
        assert out["after_restart"] == 200  # a cut connection is replaced, not an error
    assert out["down"] == {
        "page": 503,
        "retry": "30",
        "text": True,
        "health": 503,
        "health_json": {"status": "unavailable", "database": "unavailable"},
    }
    assert out["back"] == {"page": 200, "health": 200}


# ----------------------------------------------------------------------- backup and restore

ROUND_TRIP_CHECK = """
import json, django
django.setup()
from reports.management.commands._backup import integrity_digests
out = {"integrity": integrity_digests()}
try:
    from reports.models.workflow import RelazioneVersion
    from reports.workflow.services import version_verify
    out["verified"] = {f"{v.cycle.year} n. {v.number}": version_verify(version=v).ok
                       for v in RelazioneVersion.objects.select_related("cycle")}
except ImportError:
    out["verified"] = {}
print(json.dumps(out))
"""

TAMPER = """
import shutil, django
django.setup()
from django.conf import settings
from performance.models import Actual, Target
from organization.models import Cycle
try:
    from reports.models.workflow import RelazioneVersion
    RelazioneVersion.objects.update(html="manomessa")
except ImportError:
    pass
Actual.objects.filter(pk__in=list(Actual.objects.values_list("pk", flat=True)[:30])).delete()
Target.objects.filter(pk__in=list(Target.objects.values_list("pk", flat=True)[:5])).update(
    text="cambiato")
shutil.rmtree(settings.MEDIA_ROOT)
(settings.MEDIA_ROOT / "estraneo.txt").parent.mkdir(parents=True)
(settings.MEDIA_ROOT / "estraneo.txt").write_text("non era nel backup")
"""


@pytest.fixture
def throwaway_database(tmp_path):
    """A database of the kind this suite runs on, outside the test database (backup and
    restore need committed data and connections of their own)."""
    if connection.vendor == "postgresql":
        import psycopg2

        settings_dict = connection.settings_dict
        params = {
            "host": settings_dict["HOST"] or "127.0.0.1",
            "port": settings_dict["PORT"] or 5432,
            "user": settings_dict["USER"],
            "password": settings_dict["PASSWORD"] or "",
        }
        name = f"ciclo_backup_{os.getpid()}"
        admin = psycopg2.connect(dbname="postgres", **params)
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
            cursor.execute(f'CREATE DATABASE "{name}"')
        try:
            yield (
                f"postgres://{params['user']}:{params['password']}@{params['host']}:"
                f"{params['port']}/{name}"
            )
        finally:
            with admin.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()
    else:
        yield f"sqlite:///{tmp_path}/ciclo.sqlite3"


def test_backup_and_restore_reproduce_every_published_version(throwaway_database, tmp_path):
    env = {"DATABASE_URL": throwaway_database, "MEDIA_ROOT": str(tmp_path / "media")}
    manage("migrate", "-v0", env=env)
    manage("load_cycle", "fixtures/cycle-2019.yaml", env=env)
    published = manage(
        "shell",
        "-c",
        "from bench.publishing import publish; print(publish(2019, fast_pdf=True))",
        env=env,
    )
    assert "2019: pubblicato" in published
    before = json.loads(run(["-c", ROUND_TRIP_CHECK], env).stdout.strip().splitlines()[-1])
    assert before["integrity"]["scores"]  # the 2019 tree
    versions = before["integrity"]["versions"]
    pdfs = before["integrity"]["pdfs"]
    assert versions or pdfs, "nothing published to check"

    archive = tmp_path / "backup" / "ciclo.tar"
    output = manage("backup", str(archive), env=env)
    assert "Backup completato" in output
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        names = tar.getnames()
    assert manifest["integrity"] == before["integrity"]
    assert all(f"media/{name}" in names for name in manifest["media"])
    assert manifest["media"], "the stored PDFs are in the archive"

    tamper = run(["-c", textwrap.dedent(TAMPER)], env)
    assert tamper.returncode == 0, tamper.stderr
    changed = json.loads(run(["-c", ROUND_TRIP_CHECK], env).stdout.strip().splitlines()[-1])
    assert changed["integrity"] != before["integrity"]

    output = manage("restore", str(archive), "--noinput", env=env)
    assert "Ripristino completato e verificato" in output
    after = json.loads(run(["-c", ROUND_TRIP_CHECK], env).stdout.strip().splitlines()[-1])
    assert after["integrity"] == before["integrity"]
    assert all(after["verified"].values())  # the versions' own digests (reports.workflow.services)
    media = tmp_path / "media"
    assert not (media / "estraneo.txt").exists()
    assert sorted(p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file()) == (
        sorted(manifest["media"])
    )


def test_restore_refuses_a_damaged_archive(tmp_path):
    archive = tmp_path / "rotto.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(__file__, arcname="database.dump")
    result = run(
        ["manage.py", "restore", str(archive), "--noinput"],
        {"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3", "MEDIA_ROOT": str(tmp_path / "m")},
    )
    assert result.returncode != 0
    assert "manca manifest.json" in result.stderr
