"""Issue 10, finding 1: a frozen version tampered with after validation (its PDF replaced on
disk, its HTML or open data edited in the database) is never served: the public pages answer
503 "versione non integra" without details, the staff are alerted (a log at ERROR level, the
cycle's page naming the version and the file), the verdict on a file is remembered only for the
file as it was verified (a change is noticed at the next request), and ``manage.py
verify_versions`` checks every version for cron."""

from __future__ import annotations

import logging
import os
import re
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from reports.models.workflow import RelazioneVersion
from reports.workflow import services as workflow
from tests import hardening
from tests.hardening import YEAR, S, body
from tests.personas import Personas

pytestmark = pytest.mark.django_db

PUBLIC = f"/trasparenza/performance/{YEAR}/"
PANEL = f"/lavoro/{YEAR}/ciclo/"
VERSION_PDF = f"{PUBLIC}versioni/1/relazione.pdf"
REFUSED = "versione non integra"


@pytest.fixture(autouse=True)
def fast_pdf(monkeypatch):
    return hardening.patch_fast_pdf(monkeypatch)


@pytest.fixture
def people(cycle_2019):
    """The personas (tests/personas.py), with first names ("Controllo", "Oiv")."""
    return Personas(cycle_2019, first_names=True)


@pytest.fixture
def published(cycle_2019, people, settings, tmp_path) -> RelazioneVersion:
    settings.MEDIA_ROOT = tmp_path / "media"
    hardening.make_ready(cycle_2019)
    hardening.advance(cycle_2019, people, S.PUBLISHED)
    return RelazioneVersion.objects.select_related("cycle").get(cycle=cycle_2019)


def staff(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def assert_refused(response, version: RelazioneVersion) -> None:
    """503, in Italian, and nothing of the attack: no digest, no file name, no file."""
    assert response.status_code == 503, response.status_code
    text = body(response).decode()
    assert REFUSED in text.lower()
    assert "ETag" not in response
    for secret in (version.pdf_sha256, version.html_sha256, "relazioni/", ".pdf"):
        if secret:
            assert secret not in text, secret
    assert "no-store" in response["Cache-Control"]


def errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def replace_in_place(path, content: bytes) -> None:
    """Overwrite a file keeping its size and modification time (what a careful attacker does)."""
    before = os.stat(path)
    content = content[: before.st_size].ljust(before.st_size, b"\n")
    with open(path, "r+b") as handle:
        handle.write(content)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


# --------------------------------------------------------------------------- the PDF file


def test_a_pdf_replaced_on_disk_is_refused_at_once_and_reported(published, people, caplog):
    version = published
    anonymous = Client()
    assert anonymous.get(VERSION_PDF).status_code == 200  # verified (and remembered)
    assert anonymous.get(PUBLIC).status_code == 200

    replace_in_place(version.pdf.path, hardening.small_pdf("Relazione falsificata"))
    caplog.set_level(logging.INFO)
    assert_refused(anonymous.get(VERSION_PDF), version)
    # not even "your copy is still valid" to whoever has the original
    assert_refused(
        anonymous.get(VERSION_PDF, HTTP_IF_NONE_MATCH=f'"{version.pdf_sha256}"'), version
    )
    # the year's address leads there, and the page that vouches for the PDF is refused too
    assert anonymous.get(f"{PUBLIC}relazione.pdf")["Location"] == VERSION_PDF
    assert_refused(anonymous.get(PUBLIC), version)
    assert_refused(anonymous.get(f"{PUBLIC}versioni/1/"), version)
    # the staff's download of the file as well
    oiv = staff(people["oiv"])
    assert_refused(oiv.get(f"/lavoro/{YEAR}/ciclo/versioni/1/relazione.pdf"), version)

    logged = "\n".join(errors(caplog))
    assert "versione 1" in logged and version.pdf.name in logged
    page = staff(people["controllo"]).get(PANEL).content.decode()
    alert = re.search(r'<div[^>]*id="integrita"[^>]*>(.*?)</div>', page, re.S)
    assert alert is not None, "no integrity alert on the cycle's page"
    assert "versione 1" in alert.group(1).lower()
    assert "PDF della Relazione" in alert.group(1) and version.pdf.name in alert.group(1)
    assert not workflow.version_verify(version=version).ok


def test_a_verified_file_is_hashed_once_and_its_verdict_follows_the_file(published, monkeypatch):
    from reports.workflow import integrity

    hashed: list[str] = []
    real = integrity.file_sha256

    def counting(handle):
        hashed.append("x")
        return real(handle)

    monkeypatch.setattr(integrity, "file_sha256", counting)
    anonymous = Client()
    for _ in range(3):
        response = anonymous.get(VERSION_PDF)
        assert response.status_code == 200
        assert hardening.sha256(body(response)) == published.pdf_sha256
    assert len(hashed) == 1  # then remembered
    # the original bytes written back by another program: a new file state, verified again
    original = open(published.pdf.path, "rb").read()  # noqa: SIM115
    time.sleep(0.01)
    with open(published.pdf.path, "wb") as handle:
        handle.write(original)
    assert anonymous.get(VERSION_PDF).status_code == 200
    assert len(hashed) == 2


def test_the_validation_pdf_replaced_is_refused(published, people):
    version = published
    url = reverse("workflow:public-validation-pdf", args=[YEAR, 1])
    assert Client().get(url).status_code == 200
    with open(version.validation_pdf.path, "wb") as handle:
        handle.write(hardening.small_pdf("Validazione falsificata"))
    assert_refused(Client().get(url), version)
    assert_refused(Client().get(reverse("workflow:public-validation", args=[YEAR, 1])), version)
    page = staff(people["controllo"]).get(PANEL).content.decode()
    assert "PDF del documento di validazione" in page and version.validation_pdf.name in page


def test_a_missing_pdf_file_is_refused(published):
    os.remove(published.pdf.path)
    response = Client().get(VERSION_PDF)
    assert response.status_code == 503 and REFUSED in body(response).decode().lower()


# ------------------------------------------------------------------ what the database holds


def test_the_frozen_html_edited_in_the_database_is_refused(published, people, caplog):
    version = published
    RelazioneVersion.objects.filter(pk=version.pk).update(
        html=version.html.replace("Relazione", "Relazione manomessa", 1)
    )
    caplog.set_level(logging.INFO)
    assert_refused(Client().get(PUBLIC), version)
    assert_refused(Client().get(f"{PUBLIC}versioni/1/"), version)
    assert "manomessa" not in body(Client().get(PUBLIC)).decode()
    assert Client().get(VERSION_PDF).status_code == 200  # the PDF is intact: still served
    logged = "\n".join(errors(caplog))
    assert "versione 1" in logged and "documento HTML" in logged
    page = staff(people["controllo"]).get(PANEL).content.decode()
    assert "documento HTML" in page


def test_the_open_data_edited_in_the_database_are_refused(published):
    version = published
    RelazioneVersion.objects.filter(pk=version.pk).update(
        data_csv=version.data_csv + "manomesso,1\n",
        data_json=version.data_json.replace("{", '{"manomesso": 1, ', 1),
    )
    for url in (
        f"{PUBLIC}dati.csv",
        f"{PUBLIC}dati.json",
        f"{PUBLIC}versioni/1/dati.csv",
        f"{PUBLIC}versioni/1/dati.json",
    ):
        assert_refused(Client().get(url), version)
    version.refresh_from_db()
    problems = " ".join(workflow.version_verify(version=version).problems)
    assert "dati aperti (CSV)" in problems and "dati aperti (JSON)" in problems


def test_the_validation_html_edited_is_refused(published):
    version = published
    RelazioneVersion.objects.filter(pk=version.pk).update(
        validation_html=version.validation_html + "<p>aggiunto</p>"
    )
    assert_refused(Client().get(reverse("workflow:public-validation", args=[YEAR, 1])), version)


def test_an_intact_version_is_served_and_verified(published, people):
    version = published
    anonymous = Client()
    response = anonymous.get(VERSION_PDF)
    assert response.status_code == 200 and response["ETag"] == f'"{version.pdf_sha256}"'
    assert (
        anonymous.get(VERSION_PDF, HTTP_IF_NONE_MATCH=f'"{version.pdf_sha256}"').status_code == 304
    )
    for url in (PUBLIC, f"{PUBLIC}dati.csv", f"{PUBLIC}dati.json", f"{PUBLIC}versioni/1/"):
        assert anonymous.get(url).status_code == 200, url
    assert workflow.version_verify(version=version).ok
    page = staff(people["controllo"]).get(PANEL).content.decode()
    assert 'id="integrita"' not in page


# ------------------------------------------------------------------------- verify_versions


def test_verify_versions_checks_every_version_and_fails_on_a_mismatch(published):
    out = StringIO()
    call_command("verify_versions", stdout=out)
    assert "Versioni verificate: 1" in out.getvalue()
    with open(published.pdf.path, "ab") as handle:
        handle.write(b"%% aggiunto\n")
    with pytest.raises(CommandError) as refused:
        call_command("verify_versions", stdout=StringIO())
    message = str(refused.value)
    assert "Relazione 2019, versione 1" in message
    assert "PDF della Relazione" in message and published.pdf.name in message


def test_verify_versions_removes_old_orphans_only(published):
    folder = hardening.versions_dir(published.pdf.storage.location)
    old = folder / "relazione-performance-2019-v7.pdf"
    old_temp = folder / ".relazione-performance-2019-v8.pdf.0123abcd.tmp"
    fresh = folder / "relazione-performance-2019-v9.pdf"
    for path in (old, old_temp, fresh):
        path.write_bytes(b"%PDF orfano")
    ten_minutes_ago = time.time() - 600
    for path in (old, old_temp):
        os.utime(path, (ten_minutes_ago, ten_minutes_ago))
    out = StringIO()
    call_command("verify_versions", stdout=out)
    assert not old.exists() and not old_temp.exists()
    assert fresh.exists()  # maybe a validation in progress
    assert os.path.exists(published.pdf.path) and os.path.exists(published.validation_pdf.path)
    assert "relazione-performance-2019-v7.pdf" in out.getvalue()
