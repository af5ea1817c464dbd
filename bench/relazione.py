"""Benchmark: the public Relazione (HTML page), the generation of its PDF and serving the PDF.

    .venv/bin/python bench/relazione.py                     # SQLite (in-memory test database)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/relazione.py

Options: --scale N (default 50), --runs N (HTML requests timed at 2019 size, default 30; at the
large scale a fifth of them, at least 3), --serve-runs N (default 50), --skip-pdf.

It works in a throw-away test database (created and destroyed here, the configured database is
never touched) and a temporary MEDIA_ROOT. It loads the 2019 dataset with its Relazione narrative
(fixtures/relazione-2019.yaml) and the synthetic plan (bench/synthetic.py, the 2019 plan ×N, with
the same narrative), publishes one cycle at a time and measures, through django.test.Client and
the whole middleware stack (server time, no network):

1. GET /trasparenza/performance/2019/ : median and p95 of the response time, and the number of
   queries (CaptureQueriesContext), at 2019 size and at scale N.
   Goal: median under 150 ms and at most 20 queries for 2019; the same count at scale N.
2. The 2019 PDF: request + render + store (reports.relazione.pdf_jobs, WeasyPrint), wall and CPU
time.
   Goal: under 15 s.
3. GET /trasparenza/performance/2019/relazione.pdf (the stored file, reports.relazione.views_pdf)
against a
   static file of the same size served by django.views.static.serve, --serve-runs requests each.
   Goal: median within 2× of the static file. Which file is public is looked up once and
   remembered for a short while (reports.relazione.pdf_jobs.pdf_public), so most requests make no
   query, as in production.
4. What happens after the OIV workflow. The 2019 cycle is taken through it (submission, every
   objective accepted, ``cycle_validate``: frozen version, its PDF and the documento di
   validazione, how long the OIV waits; publication), then the same public URL serves the frozen
   version (reports.workflow.views.public_relazione): median, p95 and queries, for information.
   This is what citizens get once a Relazione is published; section 1 measures the live
   rendering (a cycle published without a frozen version, the worst case). The year's
   relazione.pdf then leads to the frozen version's PDF, whose digest is verified when served
   (reports.workflow.integrity): that URL against a static file of the same size, with the goal of
   section 3 (within 2×).

It always exits 0: it is a report; a missed goal is printed as FAIL.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import (  # noqa: E402
    CaptureQueriesContext,
    setup_test_environment,
    teardown_test_environment,
)
from django.urls import path  # noqa: E402
from django.views.static import serve  # noqa: E402

from bench.synthetic import base_dataset, dataset_counts, synthetic_dataset  # noqa: E402
from organization.models import Cycle  # noqa: E402
from performance import services  # noqa: E402
from performance.dataset import read_dataset  # noqa: E402
from reports.relazione.services import relazione_load  # noqa: E402

RELAZIONE_DATASET = ROOT / "fixtures" / "relazione-2019.yaml"
YEAR = 2019
PAGE = f"/trasparenza/performance/{YEAR}/"
PDF = f"/trasparenza/performance/{YEAR}/relazione.pdf"

GOAL_PAGE_SECONDS = 0.150
GOAL_PAGE_QUERIES = 20
GOAL_PDF_SECONDS = 15.0
GOAL_SERVE_RATIO = 2.0


@dataclass
class Timing:
    samples: list[float] = field(default_factory=list)  # wall clock
    cpu: list[float] = field(default_factory=list)  # CPU time of this process

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    @property
    def max(self) -> float:
        return max(self.samples)


@dataclass
class PageResult:
    scale: int
    targets: int
    html_bytes: int
    queries: int
    sql: list[str]
    timing: Timing


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def _get(client: Client, url: str) -> tuple[int, int]:
    """One request, the body read to the end (a streamed file too): status and size."""
    response = client.get(url)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    response.close()
    return response.status_code, len(body)


def _timed(client: Client, url: str, runs: int) -> Timing:
    _get(client, url)  # warm-up
    timing = Timing()
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        status, _ = _get(client, url)
        timing.samples.append(time.perf_counter() - start)
        timing.cpu.append(time.process_time() - cpu)
        if status != 200:
            raise RuntimeError(f"GET {url}: HTTP {status}")
    return timing


def _publish_only(cycle: Cycle) -> None:
    """The public URL shows the published cycle of the year: one at a time."""
    Cycle.objects.filter(year=YEAR).exclude(pk=cycle.pk).update(status=Cycle.Status.REPORTING)
    Cycle.objects.filter(pk=cycle.pk).update(status=Cycle.Status.PUBLISHED)


def _load(scale: int, base: dict, narrative: dict) -> tuple[Cycle, int]:
    data = synthetic_dataset(scale, base)
    cycle = services.cycle_load(data=data)
    relazione_load(cycle=cycle, data=narrative)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # planner statistics, as autovacuum would have them
    return cycle, dataset_counts(data)["targets"]


def bench_page(cycle: Cycle, scale: int, targets: int, runs: int) -> PageResult:
    _publish_only(cycle)
    client = Client()
    status, size = _get(client, PAGE)
    if status != 200:
        raise RuntimeError(f"GET {PAGE}: HTTP {status}")
    with CaptureQueriesContext(connection) as captured:
        _get(client, PAGE)
    # read them now: every request clears the connection's query log (reset_queries)
    sql = [q["sql"] for q in captured.captured_queries]
    timing = _timed(client, PAGE, runs)
    return PageResult(
        scale=scale, targets=targets, html_bytes=size, queries=len(sql), sql=sql, timing=timing
    )


@dataclass
class PdfResult:
    wall: float
    cpu: float
    pages: int
    size: int
    status: str
    error: str


def bench_pdf(cycle: Cycle) -> tuple[PdfResult, object]:
    from reports.relazione import pdf_jobs as services_pdf

    _publish_only(cycle)
    cycle = Cycle.objects.select_related("organization").get(pk=cycle.pk)
    start, cpu = time.perf_counter(), time.process_time()
    job = services_pdf.pdf_request(cycle=cycle, background=False)
    job = services_pdf.pdf_render(job=job)
    result = PdfResult(
        wall=time.perf_counter() - start,
        cpu=time.process_time() - cpu,
        pages=job.pages or 0,
        size=job.size or 0,
        status=job.status,
        error=job.error,
    )
    return result, job


@dataclass
class ServeResult:
    size: int
    queries: int
    pdf: Timing
    static: Timing

    @property
    def ratio(self) -> float:
        return self.pdf.median / self.static.median


def bench_serve(stored, runs: int, folder: Path, url: str = PDF) -> ServeResult:
    """The stored PDF (``stored``: its FieldFile) through its view at ``url`` against the same
    bytes as a static file, both through the whole middleware stack (a URL conf with
    config.urls plus django.views.static.serve)."""
    import config.urls

    static_dir = Path(tempfile.mkdtemp(prefix="static-copy-", dir=folder))
    with stored.open("rb") as handle:
        (static_dir / "copia.pdf").write_bytes(handle.read())
    urlconf = types.ModuleType("bench_relazione_urls")
    urlconf.urlpatterns = [
        *config.urls.urlpatterns,
        path("bench-static/<path:path>", serve, {"document_root": str(static_dir)}),
    ]
    with override_settings(ROOT_URLCONF=urlconf):
        client = Client()
        status, size = _get(client, url)
        if status != 200:
            raise RuntimeError(f"GET {url}: HTTP {status}")
        with CaptureQueriesContext(connection) as captured:
            _get(client, url)
        queries = len(captured.captured_queries)
        static_timing = _timed(client, "/bench-static/copia.pdf", runs)
        pdf_timing = _timed(client, url, runs)
        # and once more the static file, so neither side profits from running last
        for timing, address in ((static_timing, "/bench-static/copia.pdf"), (pdf_timing, url)):
            again = _timed(client, address, runs)
            timing.samples += again.samples
            timing.cpu += again.cpu
    return ServeResult(size, queries, pdf_timing, static_timing)


def report_serve(serve: ServeResult, label: str, what: str) -> None:
    print(f"  {'':<26}{'median':>11}{'p95':>11}{'max':>11}{'CPU median':>12}")
    for name, timing in ((label, serve.pdf), ("static file", serve.static)):
        print(
            f"  {name:<26}{_ms(timing.median):>11}{_ms(timing.p95):>11}"
            f"{_ms(timing.max):>11}{_ms(timing.cpu_median):>12}"
        )
    ok = serve.ratio <= GOAL_SERVE_RATIO
    print(
        f"{'PASS' if ok else 'FAIL'}: {what} / static file = {serve.ratio:.2f}× "
        f"{'<=' if ok else '>'} {GOAL_SERVE_RATIO:.0f}×"
    )


@dataclass
class PublishedResult:
    validate_wall: float
    pdf_error: str
    queries: int
    html_bytes: int
    timing: Timing
    redirect: str = ""  # where the year's relazione.pdf leads
    serve: ServeResult | None = None  # the frozen version's PDF against a static file


def bench_published(cycle: Cycle, runs: int, serve_runs: int, folder: Path) -> PublishedResult:
    """Take the cycle through the OIV workflow (bench users), time the validation, then time the
    public page serving the frozen version."""
    from django.contrib.auth.models import User

    from organization import roles
    from reports.models.workflow import OivMember
    from reports.workflow import services as workflow

    groups = roles.roles_sync()
    controllo = User.objects.create_user("bench-controllo", password=None)
    controllo.groups.add(groups[roles.CONTROLLO])
    oiv = User.objects.create_user("bench-oiv", password=None)
    oiv.groups.add(groups[roles.OIV])
    OivMember.objects.get_or_create(
        organization_id=cycle.organization_id, defaults={"name": "OIV di prova", "role": "OIV"}
    )
    # every cycle of the year back to reporting (the bench published them by hand)
    Cycle.objects.filter(year=YEAR).update(status=Cycle.Status.REPORTING)
    cycle = Cycle.objects.select_related("organization").get(pk=cycle.pk)
    if workflow.consistency_reasons(cycle):
        workflow.consistency_review_record(cycle=cycle, user=controllo, comment="Differenze note.")
    workflow.cycle_submit(cycle=cycle, user=controllo)
    workflow.objectives_accept_all(cycle=cycle, user=oiv)
    start = time.perf_counter()
    version = workflow.cycle_validate(
        cycle=cycle, user=oiv, decision=workflow.RelazioneVersion.Decision.VALID
    )
    validate_wall = time.perf_counter() - start
    workflow.cycle_publish(cycle=cycle, user=controllo)
    client = Client()
    status, size = _get(client, PAGE)
    if status != 200:
        raise RuntimeError(f"GET {PAGE}: HTTP {status}")
    with CaptureQueriesContext(connection) as captured:
        _get(client, PAGE)
    queries = len(captured.captured_queries)
    timing = _timed(client, PAGE, runs)
    redirect, served = "", None
    if version.pdf:
        # the year's stable address leads to the frozen version's PDF (verified when served)
        redirect = client.get(PDF).get("Location", "")
        served = bench_serve(version.pdf, serve_runs, folder, url=redirect or PDF)
    return PublishedResult(
        validate_wall=validate_wall,
        pdf_error=version.pdf_error,
        queries=queries,
        html_bytes=size,
        timing=timing,
        redirect=redirect,
        serve=served,
    )


def report_published(result: PublishedResult) -> None:
    print()
    print("4. After the OIV workflow")
    error = f" (PDF not rendered: {result.pdf_error})" if result.pdf_error else ""
    print(
        f"  cycle_validate (frozen version + its PDF + documento di validazione): "
        f"{result.validate_wall:,.2f} s{error}"
    )
    print(
        f"  GET {PAGE} serving the frozen version: {result.html_bytes / 1024:,.0f} KiB, "
        f"{result.queries} queries, median {_ms(result.timing.median)}, "
        f"p95 {_ms(result.timing.p95)}, CPU median {_ms(result.timing.cpu_median)}"
    )
    if result.serve is not None:
        serve = result.serve
        print(
            f"  GET {PDF} leads to {result.redirect or '(no redirect)'}: the frozen version's "
            f"PDF ({serve.size / 1024:,.0f} KiB, its digest verified, the verdict remembered "
            f"for the file's state) vs a static file of the same size, {len(serve.pdf.samples)} "
            f"requests each, {serve.queries} queries per request"
        )
        report_serve(serve, "frozen version's PDF", "frozen version's PDF")


def report(pages: list[PageResult], pdf: PdfResult | None, serve: ServeResult | None, args) -> None:
    vendor = connection.vendor
    version = ""
    if vendor == "postgresql":
        version = f" {connection.pg_version // 10000}.{connection.pg_version % 10000}"
    elif vendor == "sqlite":
        import sqlite3

        version = f" {sqlite3.sqlite_version}"
    import weasyprint

    print()
    print(
        f"Database: {vendor}{version} (throw-away test database {connection.settings_dict['NAME']})"
    )
    print(
        f"Python {sys.version.split()[0]}, Django {django.get_version()}, WeasyPrint "
        f"{weasyprint.__version__}; {os.cpu_count()} CPU, load average "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    print()
    print("1. Public HTML page GET " + PAGE + " (server time: django.test.Client, all middleware)")
    rows = [
        ("targets in the plan", lambda r: f"{r.targets:,}"),
        ("HTML size", lambda r: f"{r.html_bytes / 1024:,.0f} KiB"),
        ("queries per request", lambda r: str(r.queries)),
        ("requests timed", lambda r: str(len(r.timing.samples))),
        ("median", lambda r: _ms(r.timing.median)),
        ("p95", lambda r: _ms(r.timing.p95)),
        ("max", lambda r: _ms(r.timing.max)),
        ("CPU time, median", lambda r: _ms(r.timing.cpu_median)),
    ]
    width = max(len(label) for label, _ in rows) + 4
    print(f"{'':<{width}}" + "".join(f"{'scale ' + str(r.scale):>14}" for r in pages))
    print("-" * (width + 14 * len(pages)))
    for label, value in rows:
        print(f"  {label:<{width - 2}}" + "".join(f"{value(r):>14}" for r in pages))
    print()
    small, large = pages[0], pages[-1]
    ok = small.timing.median < GOAL_PAGE_SECONDS
    print(
        f"{'PASS' if ok else 'FAIL'}: 2019 page median {_ms(small.timing.median)} "
        f"{'<' if ok else '>='} {_ms(GOAL_PAGE_SECONDS)}"
    )
    ok = small.queries <= GOAL_PAGE_QUERIES
    print(
        f"{'PASS' if ok else 'FAIL'}: 2019 page queries {small.queries} "
        f"{'<=' if ok else '>'} {GOAL_PAGE_QUERIES}"
    )
    ok = large.queries == small.queries
    print(
        f"{'PASS' if ok else 'FAIL'}: queries at scale {large.scale} == at scale {small.scale}: "
        f"{large.queries} {'==' if ok else '!='} {small.queries}"
    )
    if not ok:
        for result in (small, large):
            print(f"\n  queries at scale {result.scale}:")
            for sql in result.sql:
                print(f"    {sql[:160]}")
    print(
        f"info: scale {large.scale} page median {_ms(large.timing.median)} "
        f"(no goal: {large.html_bytes / 2**20:,.1f} MiB of HTML)"
    )

    if pdf is not None:
        print()
        print("2. PDF of the 2019 Relazione (request + WeasyPrint render + store, once)")
        print(f"  status {pdf.status}, {pdf.pages} pages, {pdf.size / 1024:,.0f} KiB")
        print(f"  wall {pdf.wall:,.2f} s, CPU {pdf.cpu:,.2f} s (this process)")
        ok = pdf.status == "done" and pdf.wall < GOAL_PDF_SECONDS
        error = f" ({pdf.error})" if pdf.error else ""
        print(
            f"{'PASS' if ok else 'FAIL'}: PDF generation {pdf.wall:,.2f} s "
            f"{'<' if ok else '>='} {GOAL_PDF_SECONDS:.0f} s{error}"
        )
    if serve is not None:
        print()
        print(
            f"3. Serving the stored PDF ({serve.size / 1024:,.0f} KiB) vs a static file of the "
            f"same size (django.views.static.serve), {len(serve.pdf.samples)} requests each"
        )
        print(
            f"  queries per PDF request: {serve.queries} (the lookup of the public PDF is "
            "remembered for reports.relazione.pdf_jobs.PUBLIC_CACHE_SECONDS; the first request "
            "after that makes one)"
        )
        report_serve(serve, "stored PDF (views_pdf)", "stored PDF")


def _load_note() -> None:
    load = os.getloadavg()[0]
    cpus = os.cpu_count() or 1
    if load > cpus:
        print(
            f"\nnote: load average {load:.2f} on {cpus} CPU while measuring: the wall times "
            "include waiting for a CPU; the CPU times show the cost of the work itself."
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=50, help="size of the large plan (×2019)")
    parser.add_argument("--runs", type=int, default=30, help="timed HTML requests at 2019 size")
    parser.add_argument("--serve-runs", type=int, default=50, help="timed PDF/static requests")
    parser.add_argument("--skip-pdf", action="store_true", help="no PDF render nor serving")
    args = parser.parse_args(argv)

    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.sqlite3":
        # A name of our own, so a test database of a concurrent test run is never clobbered.
        database.setdefault("TEST", {})["NAME"] = f"test_bench_relazione_{os.getpid()}"
    setup_test_environment(debug=False)
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    folder = Path(tempfile.mkdtemp(prefix="bench-relazione-"))
    try:
        with override_settings(
            MEDIA_ROOT=folder / "media", PDF_RENDER_INLINE_THREAD=False, ALLOWED_HOSTS=["*"]
        ):
            base = base_dataset()
            narrative = read_dataset(RELAZIONE_DATASET)
            print("scale 1: loading…", file=sys.stderr, flush=True)
            small_cycle, small_targets = _load(1, base, narrative)
            print("scale 1: HTML page…", file=sys.stderr, flush=True)
            pages = [bench_page(small_cycle, 1, small_targets, args.runs)]
            pdf_result = serve_result = None
            if not args.skip_pdf:
                print("scale 1: PDF…", file=sys.stderr, flush=True)
                pdf_result, job = bench_pdf(small_cycle)
                if pdf_result.status == "done":
                    print("scale 1: serving the PDF…", file=sys.stderr, flush=True)
                    serve_result = bench_serve(job.file, args.serve_runs, folder)
            if args.scale > 1:
                print(f"scale {args.scale}: loading…", file=sys.stderr, flush=True)
                large_cycle, large_targets = _load(args.scale, base, narrative)
                print(f"scale {args.scale}: HTML page…", file=sys.stderr, flush=True)
                pages.append(
                    bench_page(large_cycle, args.scale, large_targets, max(3, args.runs // 5))
                )
            report(pages, pdf_result, serve_result, args)
            if not args.skip_pdf:
                print("scale 1: OIV workflow and the frozen version…", file=sys.stderr, flush=True)
                report_published(bench_published(small_cycle, args.runs, args.serve_runs, folder))
            _load_note()
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()
    return 0


if __name__ == "__main__":
    sys.exit(main())
