"""Issue 10, findings 1 and 3 for backups: ``manage.py backup`` verifies every frozen version
before writing the archive and refuses a tampered one; ``restore`` verifies the versions after
restoring (a backup taken after tampering is not "verificato"); the archive is readable by its
owner only (0600, it holds password hashes and session keys) and the restored files are 0640,
their folders 0750 (docs/deploy.md), whatever the umask.

Backup and restore need committed data and connections of their own: a throw-away SQLite
database and MEDIA_ROOT, published once for the module (the OIV workflow with a one-page PDF),
copied for each test."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV_VARIABLES = ("DEBUG", "DATABASE_URL", "DATABASE_REPLICA_URL", "MEDIA_ROOT", "CACHE_URL")
PDF_FILE = "relazioni/2019/versioni/relazione-performance-2019-v1.pdf"


def run(args: list[str], env: dict[str, str], umask: int = 0o000) -> subprocess.CompletedProcess:
    """A Python process of the project (umask 0 by default: the modes must not depend on it)."""
    environ = {k: v for k, v in os.environ.items() if k not in ENV_VARIABLES}
    environ.update(env)
    environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
        input="",
        preexec_fn=lambda: os.umask(umask),
    )


def manage_ok(*args: str, env: dict[str, str]) -> str:
    result = run(["manage.py", *args], env)
    assert result.returncode == 0, f"manage.py {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def published_site(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sito-pubblicato")
    env = {"DATABASE_URL": f"sqlite:///{folder}/ciclo.sqlite3", "MEDIA_ROOT": str(folder / "media")}
    manage_ok("migrate", "-v0", env=env)
    manage_ok("load_cycle", "fixtures/cycle-2019.yaml", env=env)
    out = manage_ok(
        "shell",
        "-c",
        "from bench.publishing import publish; print(publish(2019, fast_pdf=True))",
        env=env,
    )
    assert "2019: pubblicato" in out
    assert (folder / "media" / PDF_FILE).is_file()  # its exact name (moved after the commit)
    return folder


@pytest.fixture
def site(published_site, tmp_path) -> dict[str, str]:
    """A copy of the published site for one test: its environment."""
    shutil.copy(published_site / "ciclo.sqlite3", tmp_path / "ciclo.sqlite3")
    shutil.copytree(published_site / "media", tmp_path / "media")
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path}/ciclo.sqlite3",
        "MEDIA_ROOT": str(tmp_path / "media"),
    }


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -------------------------------------------------------------------------------- modes


def test_the_archive_is_0600_and_restored_files_0640_folders_0750(site, tmp_path):
    archive = tmp_path / "backup" / "ciclo.tar"
    manage_ok("backup", str(archive), env=site)
    assert oct(mode(archive)) == oct(0o600)

    media = Path(site["MEDIA_ROOT"])
    shutil.rmtree(media / "relazioni")
    output = manage_ok("restore", str(archive), "--noinput", env=site)
    assert "Ripristino completato e verificato" in output
    files = [p for p in media.rglob("*") if p.is_file()]
    folders = [p for p in media.rglob("*") if p.is_dir()]
    assert files and folders
    assert {p.relative_to(media).as_posix(): oct(mode(p)) for p in files} == {
        p.relative_to(media).as_posix(): oct(0o640) for p in files
    }
    assert {p.relative_to(media).as_posix(): oct(mode(p)) for p in folders} == {
        p.relative_to(media).as_posix(): oct(0o750) for p in folders
    }
    assert oct(mode(media)) == oct(0o750)


def test_the_archive_is_0600_with_the_usual_umask_too(site, tmp_path):
    archive = tmp_path / "ciclo.tar"
    result = run(["manage.py", "backup", str(archive)], site, umask=0o022)
    assert result.returncode == 0, result.stderr
    assert oct(mode(archive)) == oct(0o600)


# ------------------------------------------------------------------------- verification

TAMPER_DATABASE = """
import django
django.setup()
from reports.models.workflow import RelazioneVersion
version = RelazioneVersion.objects.get(number=1)
RelazioneVersion.objects.filter(pk=version.pk).update(html=version.html + "<p>manomesso</p>")
"""


def test_backup_refuses_a_tampered_version_and_writes_no_archive(site, tmp_path):
    archive = tmp_path / "ciclo.tar"
    with open(Path(site["MEDIA_ROOT"]) / PDF_FILE, "ab") as handle:
        handle.write(b"%% aggiunto dopo la validazione\n")
    result = run(["manage.py", "backup", str(archive)], site)
    assert result.returncode != 0, result.stdout
    assert "Relazione 2019, versione 1" in result.stderr
    assert "PDF della Relazione" in result.stderr and PDF_FILE in result.stderr
    assert not archive.exists()
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob("ciclo-backup-*"))

    tampered = run(["-c", textwrap.dedent(TAMPER_DATABASE)], site)
    assert tampered.returncode == 0, tampered.stderr
    result = run(["manage.py", "backup", str(archive)], site)
    assert result.returncode != 0
    assert "documento HTML" in result.stderr and "Relazione 2019, versione 1" in result.stderr


BACKUP_AFTER_TAMPERING = """
import inspect, sys
from pathlib import Path
import django
django.setup()
from django.conf import settings
from reports.management.commands import _backup
pdf = Path(settings.MEDIA_ROOT) / {pdf!r}
pdf.write_bytes(pdf.read_bytes() + b"%% aggiunto dopo la validazione\\n")
# what an earlier release wrote: an archive of the tampered state, consistent with itself
kwargs = {{"verify": False}} if "verify" in inspect.signature(_backup.backup).parameters else {{}}
_backup.backup(Path(sys.argv[1]), log=lambda message: None, **kwargs)
"""


def test_restore_verifies_the_versions_after_restoring(site, tmp_path):
    archive = tmp_path / "dopo-la-manomissione.tar"
    script = textwrap.dedent(BACKUP_AFTER_TAMPERING.format(pdf=PDF_FILE))
    made = run(["-c", script, str(archive)], site)
    assert made.returncode == 0, made.stderr
    result = run(["manage.py", "restore", str(archive), "--noinput"], site)
    assert result.returncode != 0, result.stdout
    assert "verificato" not in result.stdout
    assert "Relazione 2019, versione 1" in result.stderr
    assert "PDF della Relazione" in result.stderr and PDF_FILE in result.stderr
