"""Issue 10, finding 2: storage failures during the OIV's validation. A read-only versions folder
gives the OIV an Italian message (not a 500) and leaves nothing in the database nor on disk; a
worker killed between writing the files and the commit leaves no file under a version's name,
and the next validation yields version N with its exact file names (orphans cleaned or
replaced, never a suffixed name; a name that belongs to a version is never overwritten)."""

from __future__ import annotations

import os
import time

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from organization.models import Cycle
from reports.models.workflow import CycleTransition, RelazioneVersion
from reports.workflow import services as workflow
from tests import hardening
from tests.hardening import YEAR, S
from tests.personas import Personas

pytestmark = pytest.mark.django_db

VALIDATE = f"/lavoro/{YEAR}/ciclo/valida/"
PDF_NAME = f"relazioni/{YEAR}/versioni/relazione-performance-{YEAR}-v1.pdf"
VALIDATION_NAME = f"relazioni/{YEAR}/versioni/validazione-relazione-performance-{YEAR}-v1.pdf"


@pytest.fixture(autouse=True)
def renders(monkeypatch):
    return hardening.patch_fast_pdf(monkeypatch)


@pytest.fixture
def people(cycle_2019):
    """The personas (tests/personas.py), with first names ("Controllo", "Oiv")."""
    return Personas(cycle_2019, first_names=True)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def submitted(cycle_2019, people, media) -> Cycle:
    hardening.make_ready(cycle_2019)
    cycle = hardening.advance(cycle_2019, people, S.SUBMITTED)
    workflow.objectives_accept_all(cycle=cycle, user=people["oiv"])
    return cycle


def files_in(folder) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def oiv_client(people) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(people["oiv"])
    return client


def validate(cycle: Cycle, people) -> RelazioneVersion:
    return workflow.cycle_validate(cycle=cycle, user=people["oiv"], decision="valid")


# ------------------------------------------------------------------------ read-only folder


@pytest.mark.parametrize("folder_exists", [True, False], ids=["folder-exists", "no-folder"])
def test_a_read_only_versions_folder_gives_an_italian_message_and_nothing_is_written(
    submitted, people, media, monkeypatch, renders, folder_exists
):
    folder = hardening.versions_dir(media)
    if folder_exists:
        folder.mkdir(parents=True)
    before = CycleTransition.objects.count()
    client = oiv_client(people)
    with hardening.read_only(monkeypatch, media):
        response = client.post(VALIDATE, {"decision": "valid"})
    assert response.status_code == 302, response.status_code  # not a 500
    assert response["Location"] == f"/lavoro/{YEAR}/ciclo/"
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(
        "salvare i file della versione" in m and "nulla è stato validato" in m for m in shown
    )
    assert not any("validata" in m.lower() and "nulla" not in m for m in shown)
    page = client.get(response["Location"]).content.decode()
    assert "salvare i file della versione" in page
    submitted.refresh_from_db()
    assert submitted.status == S.SUBMITTED
    assert RelazioneVersion.objects.count() == 0
    assert CycleTransition.objects.count() == before
    assert files_in(folder) == []
    assert renders == []  # refused before seconds of rendering


def test_a_write_that_fails_midway_leaves_nothing(submitted, people, media, monkeypatch):
    """The folder is writable when the validation starts and fails on the second file (a full
    disk): no version, no file."""
    import builtins

    real_open, real_os_open = builtins.open, os.open
    folder = hardening.versions_dir(media)
    refused_writes: list[str] = []

    def full(path) -> bool:
        if hardening._inside(path, folder) and "validazione" in os.fsdecode(path):
            refused_writes.append(os.fsdecode(path))
            return True
        return False

    def os_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_CREAT) and full(path):
            raise OSError(28, "No space left on device", os.fsdecode(path))
        return real_os_open(path, flags, *args, **kwargs)

    def open_(file, mode="r", *args, **kwargs):
        if any(f in mode for f in "wax+") and isinstance(file, str | os.PathLike) and full(file):
            raise OSError(28, "No space left on device", os.fsdecode(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(builtins, "open", open_)
    with pytest.raises(workflow.TransitionRefused) as refused:
        validate(submitted, people)
    monkeypatch.setattr(os, "open", real_os_open)
    monkeypatch.setattr(builtins, "open", real_open)
    assert refused_writes
    assert "salvare i file della versione" in " ".join(refused.value.reasons)
    assert RelazioneVersion.objects.count() == 0
    assert files_in(folder) == []


# ------------------------------------------------------------------------------- a crash


def crash_while_validating(cycle, people, media, monkeypatch) -> None:
    """The worker dies after the files are written, before the commit: the row is never saved
    and no cleanup runs (nothing can be removed from the folder)."""

    class Killed(BaseException):
        pass

    def killed(self, *args, **kwargs):
        raise Killed

    with monkeypatch.context() as patched:
        patched.setattr(RelazioneVersion, "save", killed)
        with hardening.no_cleanup(patched, hardening.versions_dir(media)), pytest.raises(Killed):
            validate(cycle, people)


def test_a_crash_before_the_commit_leaves_no_file_under_a_version_name(
    submitted, people, media, monkeypatch
):
    crash_while_validating(submitted, people, media, monkeypatch)
    assert RelazioneVersion.objects.count() == 0
    left = files_in(hardening.versions_dir(media))
    assert os.path.basename(PDF_NAME) not in left, left
    assert os.path.basename(VALIDATION_NAME) not in left, left


def test_after_a_crash_the_next_validation_is_version_1_with_its_exact_names(
    submitted, people, media, monkeypatch
):
    crash_while_validating(submitted, people, media, monkeypatch)
    folder = hardening.versions_dir(media)
    # what an earlier release left after a kill: files under the final names, without a row
    (folder / os.path.basename(PDF_NAME)).write_bytes(b"%PDF orfano")
    (folder / os.path.basename(VALIDATION_NAME)).write_bytes(b"%PDF orfano")
    fresh = folder / ".relazione-performance-2019-v5.pdf.feedc0de.tmp"
    fresh.write_bytes(b"in corso")  # another validation's file being written: kept
    ten_minutes_ago = time.time() - 600
    for path in folder.iterdir():
        if path != fresh:
            os.utime(path, (ten_minutes_ago, ten_minutes_ago))

    version = validate(submitted, people)
    assert version.number == 1
    assert (version.pdf.name, version.validation_pdf.name) == (PDF_NAME, VALIDATION_NAME)
    assert workflow.version_verify(version=version).ok
    assert sorted(files_in(folder)) == sorted(
        [os.path.basename(PDF_NAME), os.path.basename(VALIDATION_NAME), fresh.name]
    )
    for path in folder.iterdir():
        assert "_" not in path.stem.split("-v")[-1], path.name  # no suffixed name


def test_a_fresh_orphan_under_the_final_name_is_replaced_not_suffixed(submitted, people, media):
    folder = hardening.versions_dir(media)
    folder.mkdir(parents=True)
    (folder / os.path.basename(PDF_NAME)).write_bytes(b"%PDF orfano appena scritto")
    version = validate(submitted, people)
    assert version.pdf.name == PDF_NAME
    with version.pdf.open("rb") as handle:
        assert hardening.sha256(handle.read()) == version.pdf_sha256
    assert len(files_in(folder)) == 2


def test_a_final_name_that_belongs_to_a_version_is_never_overwritten(submitted, people, media):
    first = validate(submitted, people)
    workflow.cycle_publish(cycle=submitted, user=people["controllo"])
    workflow.errata_open(cycle=submitted, user=people["controllo"], note="Correzione.")
    # a (damaged) row that claims the file name version 2 will want
    v2_name = PDF_NAME.replace("-v1.pdf", "-v2.pdf")
    folder = hardening.versions_dir(media)
    (folder / os.path.basename(v2_name)).write_bytes(b"%PDF di un'altra versione")
    RelazioneVersion.objects.filter(pk=first.pk).update(validation_pdf=v2_name)
    hardening.advance(submitted, people, S.SUBMITTED)
    workflow.objectives_accept_all(cycle=submitted, user=people["oiv"])
    with pytest.raises(workflow.TransitionRefused) as refused:
        validate(submitted, people)
    assert "esiste già" in " ".join(refused.value.reasons)
    assert RelazioneVersion.objects.count() == 1
    assert (folder / os.path.basename(v2_name)).read_bytes() == b"%PDF di un'altra versione"
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_move_left_undone_by_a_crash_after_the_commit_is_completed(submitted, people, media):
    """The worker died after the commit, before moving the files: the row exists, its files are
    still under their temporary names; verify_versions (or the next validation) moves them."""
    from io import StringIO

    from django.core.management import call_command

    version = validate(submitted, people)
    folder = hardening.versions_dir(media)
    final = folder / os.path.basename(PDF_NAME)
    temporary = folder / f".{final.name}.0123456789abcdef.tmp"
    os.replace(final, temporary)
    assert not workflow.version_verify(version=version).ok
    out = StringIO()
    call_command("verify_versions", stdout=out)
    assert final.is_file() and not temporary.exists()
    assert "File spostato al suo nome" in out.getvalue()
    assert workflow.version_verify(version=version).ok
