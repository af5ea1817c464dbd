"""Helpers of the hardening tests (issue 10, "attack run"): the 2019 cycle taken through the OIV
workflow with a one-page PDF instead of the Relazione's (WeasyPrint, milliseconds), and a
versions folder that behaves as a read-only or crashed file system.

Plain functions: each test file declares its fixtures with them."""

from __future__ import annotations

import builtins
import errno
import hashlib
import itertools
import os
from contextlib import contextmanager
from pathlib import Path

from organization.models import Cycle
from performance.dataset import read_dataset

ROOT = Path(__file__).resolve().parents[1]
YEAR = 2019
S = Cycle.Status
_counter = itertools.count(1)


def small_pdf(text: str) -> bytes:
    import weasyprint

    html = f"<html lang='it'><head><title>{text}</title></head><body><p>{text}</p></body></html>"
    return weasyprint.HTML(string=html).write_pdf()


def patch_fast_pdf(monkeypatch) -> list[int]:
    """A one-page PDF instead of the Relazione's (a different one at every render); returns the
    list that counts the renders."""
    import reports.relazione.pdf

    renders: list[int] = []

    def render(*, cycle):
        renders.append(1)
        return small_pdf(f"Relazione {cycle.year} n. {next(_counter)}")

    monkeypatch.setattr(reports.relazione.pdf, "render_relazione_pdf", render)
    return renders


def make_ready(cycle: Cycle) -> Cycle:
    from reports.models.workflow import OivMember
    from reports.relazione import services as relazione_services

    relazione_services.relazione_load(
        cycle=cycle, data=read_dataset(ROOT / "fixtures" / "relazione-2019.yaml")
    )
    OivMember.objects.create(
        organization=cycle.organization, name="Maria Bianchi", role="Presidente", order=1
    )
    return cycle


def advance(cycle: Cycle, people: dict, to: str) -> Cycle:
    """Forward to ``to`` with the services (validation: "valid")."""
    from reports.workflow import services as workflow

    controllo, oiv = people["controllo"], people["oiv"]
    for _ in range(10):
        cycle.refresh_from_db()
        if cycle.status == to:
            return cycle
        if cycle.status == S.PLANNING:
            workflow.cycle_start_monitoring(cycle=cycle, user=controllo)
        elif cycle.status == S.MONITORING:
            workflow.cycle_start_reporting(cycle=cycle, user=controllo)
        elif cycle.status == S.REPORTING:
            if workflow.consistency_reasons(cycle):
                workflow.consistency_review_record(cycle=cycle, user=controllo)
            workflow.cycle_submit(cycle=cycle, user=controllo)
        elif cycle.status == S.SUBMITTED:
            workflow.cycle_validate(cycle=cycle, user=oiv, decision="valid", decision_text="Ok.")
        elif cycle.status == S.VALIDATED:
            workflow.cycle_publish(cycle=cycle, user=controllo)
        else:
            raise AssertionError(f"cannot advance from {cycle.status}")
    raise AssertionError(f"{to} not reached")


def versions_dir(media_root, year: int = YEAR) -> Path:
    return Path(media_root) / "relazioni" / str(year) / "versioni"


def sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _inside(path, folder: Path) -> bool:
    try:
        return Path(os.fsdecode(path)).resolve().is_relative_to(folder.resolve())
    except (TypeError, ValueError):
        return False


@contextmanager
def read_only(monkeypatch, folder: Path):
    """``folder`` (and everything under it) behaves as a read-only file system: creating,
    writing, renaming or removing a file there raises OSError (EROFS), whatever the code that
    tries it (Django's storage, os, open). Tests may run as root, for whom chmod stops nothing."""

    def refuse(path):
        raise OSError(errno.EROFS, "Read-only file system", os.fsdecode(path))

    real_open, real_os_open = builtins.open, os.open
    real_mkdir, real_replace, real_rename = os.mkdir, os.replace, os.rename
    real_remove, real_unlink = os.remove, os.unlink

    def open_(file, mode="r", *args, **kwargs):
        writes = any(flag in mode for flag in "wax+")
        if writes and isinstance(file, str | bytes | os.PathLike) and _inside(file, folder):
            refuse(file)
        return real_open(file, mode, *args, **kwargs)

    def os_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and _inside(path, folder):
            refuse(path)
        return real_os_open(path, flags, *args, **kwargs)

    def guard(real):
        def call(path, *args, **kwargs):
            if _inside(path, folder) or (args and _inside(args[0], folder)):
                refuse(path)
            return real(path, *args, **kwargs)

        return call

    reals = {
        "mkdir": real_mkdir,
        "replace": real_replace,
        "rename": real_rename,
        "remove": real_remove,
        "unlink": real_unlink,
    }
    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(os, "open", os_open)
    for name, real in reals.items():
        monkeypatch.setattr(os, name, guard(real))
    try:
        yield
    finally:
        monkeypatch.setattr(builtins, "open", real_open)
        monkeypatch.setattr(os, "open", real_os_open)
        for name, real in reals.items():
            monkeypatch.setattr(os, name, real)


@contextmanager
def no_cleanup(monkeypatch, folder: Path):
    """Files under ``folder`` cannot be removed (os.remove, os.unlink do nothing there): what a
    worker killed in the middle of a validation leaves on disk, since no cleanup runs."""
    real_remove, real_unlink = os.remove, os.unlink

    def keep(real):
        def call(path, *args, **kwargs):
            if _inside(path, folder):
                return None
            return real(path, *args, **kwargs)

        return call

    monkeypatch.setattr(os, "remove", keep(real_remove))
    monkeypatch.setattr(os, "unlink", keep(real_unlink))
    try:
        yield
    finally:
        monkeypatch.setattr(os, "remove", real_remove)
        monkeypatch.setattr(os, "unlink", real_unlink)
