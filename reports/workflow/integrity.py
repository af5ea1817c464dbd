"""Integrity of the frozen versions of the Relazione (reports.models.workflow.RelazioneVersion)
whenever they are served, backed up or checked.

A version holds seven parts, each with the SHA-256 recorded at validation: in the database the
document (HTML), the computed tree, the documento di validazione (HTML) and the open data (CSV,
JSON); on the storage the PDF of the Relazione and the PDF of the documento di validazione.

- ``verify``: recompute the digests of the given parts (all by default) and say, in Italian,
  which version and which part (the file's name) does not match. Without ``cached`` it reads
  everything (``reports.workflow.services.version_verify``, ``manage.py verify_versions``,
  backup and restore).
- ``open_verified`` / ``check_served``: what the views call before serving a part. A text of
  the database is hashed at every request (it is in memory already: 0.7 ms for the 316 KB of
  the 2019 HTML, a tenth of the page; exact, and a change is noticed at once on every server). A
  file's verdict is remembered (Django's cache, VERDICT_SECONDS) under the version, the part,
  the digest recorded in the row and the state of the file as the open handle sees it (inode,
  size, modification and change times: rewriting it, even with the same size and modification
  time, changes its change time; replacing it changes the inode): serving a verified file costs
  an fstat and a cache lookup, and a changed file is verified again at its next request on any
  server (on a network file system, once the server sees the new attributes).
- A part that does not match is never served: ``NotIntact``, turned by the views into
  ``refused`` (503, "versione non integra", no details). The staff are alerted: a log at ERROR
  level (once per file state or content, per cache) and the cycle's page (``cycle_problems``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field

from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.cache import patch_cache_control

from reports.models.workflow import RelazioneVersion

logger = logging.getLogger(__name__)


def canonical_json(value) -> str:
    """The canonical JSON text of a frozen tree (sorted keys, no spaces): what its digest is of."""
    return json.dumps(
        value, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


VERDICT_SECONDS = 3600  # how long a file's verdict is remembered (for that state of the file)
REPORT_SECONDS = 3600  # a failure is logged again after this long, if still there
CHUNK = 1024 * 1024
MISMATCH = "non corrisponde all'impronta registrata alla validazione"


@dataclass(frozen=True)
class Part:
    key: str  # the field holding the content (a text, or the FileField)
    label: str  # Italian, in the messages
    digest_field: str
    is_file: bool = False


PARTS = {
    part.key: part
    for part in (
        Part("html", "documento HTML", "html_sha256"),
        Part("tree_json", "albero calcolato", "tree_sha256"),
        Part("validation_html", "documento di validazione (HTML)", "validation_html_sha256"),
        Part("data_csv", "dati aperti (CSV)", "data_csv_sha256"),
        Part("data_json", "dati aperti (JSON)", "data_json_sha256"),
        Part("pdf", "PDF della Relazione", "pdf_sha256", is_file=True),
        Part("validation_pdf", "PDF del documento di validazione", "validation_pdf_sha256", True),
    )
}
ALL = tuple(PARTS)
# What each public page vouches for: the page of a version shows its document and offers its
# PDF with the PDF's digest; the page of the validation, the documento and its PDF.
PAGE = ("html", "pdf")
VALIDATION_PAGE = ("validation_html", "validation_pdf")


@dataclass(frozen=True)
class Problem:
    part: str
    text: str  # Italian: "Relazione 2019, versione 1 – PDF della Relazione (nome): ..."
    seen: str = ""  # what was found (a digest, a file's state): a failure is logged once


@dataclass(frozen=True)
class Integrity:
    ok: bool
    problems: list[str]
    failed: tuple[str, ...] = ()  # the parts (PARTS keys) that do not match
    details: list[Problem] = field(default_factory=list, repr=False)


class NotIntact(Exception):
    """A part of a version does not match its digest: it must not be served."""

    def __init__(self, version: RelazioneVersion, integrity: Integrity) -> None:
        self.version = version
        self.integrity = integrity
        super().__init__("; ".join(integrity.problems))


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_sha256(handle) -> str:
    """The SHA-256 of an open file, read from its start (the handle is left at its start)."""
    handle.seek(0)
    digest = hashlib.sha256()
    while block := handle.read(CHUNK):
        digest.update(block)
    handle.seek(0)
    return digest.hexdigest()


def _name(version: RelazioneVersion) -> str:
    return f"Relazione {version.cycle.year}, versione {version.number}"


def _problem(version: RelazioneVersion, part: Part, where: str, what: str, seen: str) -> Problem:
    return Problem(part.key, f"{_name(version)} – {part.label} ({where}): {what}.", seen)


def _text(version: RelazioneVersion, part: Part) -> str:
    if part.key == "tree_json":
        return canonical_json(version.tree_json)
    return getattr(version, part.key) or ""


def _check_text(version: RelazioneVersion, part: Part) -> Problem | None:
    found = sha256_text(_text(version, part))
    if found == getattr(version, part.digest_field):
        return None
    return _problem(version, part, "nel database", MISMATCH, found)


def _open(file):
    """A local file opened for reading (its descriptor can be fstat'ed), else the storage's."""
    try:
        path = file.path
    except NotImplementedError:  # a storage without local paths
        return file.storage.open(file.name, "rb")
    return open(path, "rb")  # the caller closes it (or FileResponse does)


def _signature(handle) -> str | None:
    try:
        st = os.fstat(handle.fileno())
    except (AttributeError, OSError, ValueError):
        return None
    return f"{st.st_ino}-{st.st_size}-{st.st_mtime_ns}-{st.st_ctime_ns}"


def _verdict_key(version: RelazioneVersion, part: Part, digest: str, signature: str) -> str:
    return f"reports:version-file:{version.pk}:{part.key}:{digest}:{signature}"


def _check_handle(version: RelazioneVersion, part: Part, handle, *, cached: bool) -> Problem | None:
    file = getattr(version, part.key)
    digest = getattr(version, part.digest_field)
    signature = _signature(handle)
    key = _verdict_key(version, part, digest, signature) if signature else None
    if cached and key is not None:
        verdict = cache.get(key)
        if verdict is True:
            return None
        if verdict is False:
            return _problem(version, part, file.name, MISMATCH, signature)
    found = file_sha256(handle)
    ok = found == digest
    if key is not None:
        cache.set(key, ok, VERDICT_SECONDS)
    return None if ok else _problem(version, part, file.name, MISMATCH, f"{found}-{signature}")


def _check_file(version: RelazioneVersion, part: Part, *, cached: bool, keep: bool = False):
    """(problem or None, the open handle when ``keep`` and the file matches)."""
    file = getattr(version, part.key)
    digest = getattr(version, part.digest_field)
    if not file and not digest:
        return None, None  # no such file in this version (e.g. the PDF could not be rendered)
    if not file:
        return _problem(version, part, "nessun file", "manca (l'impronta è registrata)", ""), None
    if not digest:
        return _problem(version, part, file.name, "senza impronta registrata", ""), None
    try:
        handle = _open(file)
    except FileNotFoundError:
        return _problem(version, part, file.name, "mancante", "missing"), None
    except OSError as error:
        return _problem(version, part, file.name, "non leggibile", str(error.errno)), None
    try:
        problem = _check_handle(version, part, handle, cached=cached)
    except OSError as error:
        problem = _problem(version, part, file.name, "non leggibile", str(error.errno))
    if problem is not None or not keep:
        handle.close()
        return problem, None
    return None, handle


def _integrity(problems: list[Problem]) -> Integrity:
    return Integrity(
        ok=not problems,
        problems=[p.text for p in problems],
        failed=tuple(p.part for p in problems),
        details=problems,
    )


def verify(
    *, version: RelazioneVersion, parts: tuple[str, ...] = ALL, cached: bool = False
) -> Integrity:
    """Recompute the digests of ``parts`` of ``version`` from what is stored. ``cached``: a
    file's verdict may come from the cache (for the same state of the file)."""
    problems: list[Problem] = []
    for key in parts:
        part = PARTS[key]
        if part.is_file:
            problem, _ = _check_file(version, part, cached=cached)
        else:
            problem = _check_text(version, part)
        if problem is not None:
            problems.append(problem)
    return _integrity(problems)


def report(integrity: Integrity, *, where: str) -> None:
    """Log each failure at ERROR level, once per version, part and what was found (per cache,
    for REPORT_SECONDS): the alert for the staff's monitoring."""
    for problem in integrity.details:
        seen = sha256_text(problem.text + problem.seen)
        key = f"reports:integrity-reported:{problem.part}:{seen}"
        if cache.add(key, True, REPORT_SECONDS):
            logger.error("Frozen version failed verification (%s): %s", where, problem.text)


def check_served(*, version: RelazioneVersion, parts: tuple[str, ...], where: str) -> None:
    """NotIntact (after logging it) unless every part in ``parts`` matches its digest."""
    integrity = verify(version=version, parts=parts, cached=True)
    if not integrity.ok:
        report(integrity, where=where)
        raise NotIntact(version, integrity)


def open_verified(*, version: RelazioneVersion, key: str, where: str):
    """The file of part ``key`` opened for reading, verified (the bytes served are those of the
    file verified: the same open handle); NotIntact (after logging it) otherwise."""
    problem, handle = _check_file(version, PARTS[key], cached=True, keep=True)
    if problem is not None or handle is None:
        integrity = _integrity([problem] if problem else [])
        if problem is not None:
            report(integrity, where=where)
        raise NotIntact(version, integrity)
    return handle


def cycle_problems(*, cycle) -> list[str]:
    """What fails verification in the cycle's versions (the cycle's page shows it to the staff),
    file verdicts from the cache; logged like a refused request."""
    problems: list[str] = []
    for version in RelazioneVersion.objects.filter(cycle=cycle).select_related("cycle"):
        integrity = verify(version=version, cached=True)
        if not integrity.ok:
            report(integrity, where="pagina del ciclo")
            problems += integrity.problems
    return problems


def refused(request: HttpRequest, *, year: int, number: int) -> HttpResponse:
    """The page a citizen gets instead of a part that failed verification: 503, in Italian,
    nothing of what failed."""
    response = HttpResponse(
        render_to_string(
            "reports/workflow/version_not_intact.html",
            {"year": year, "number": number},
            request=request,
        ),
        status=503,
    )
    patch_cache_control(response, no_store=True)
    response["X-Robots-Tag"] = "noindex"
    return response
