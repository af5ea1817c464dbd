"""Benchmark: saving a whole unit's values form and recomputing its scores, 2019 vs a 50x plan.

    .venv/bin/python bench/entry.py                       # SQLite (in-memory test database)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/entry.py

Options: --scale N (default 50), --saves N (default 50 per series, after 2 warm-up saves), --sql
(print the queries of one save),
--unit KEY (default registro-imprese: in the synthetic plan copy 1 keeps the 2019 keys, so it is
the same 12 rows at both scales), --profile (cProfile of one save of every value at the large
scale: the POST and the recomputation, top functions by own and by cumulative time).

It works in a throw-away test database (created and destroyed here; the configured database is
never touched). For each scale it loads the plan (the 2019 dataset, then bench/synthetic.py ×N,
one at a time: the workspace finds a cycle by its year), logs in a controllo di gestione user
with django.test.Client and runs two series of saves of the unit's final-period form:

- ``one``: one value changed (the first row with a number), the other rows posted as they are;
- ``all``: every value of the unit changed (numbers, dates, "k su n", the parts of a multi row).

Before each save (not timed) the form is opened with GET through the real view and parsed as a
browser would submit it (the versions of that moment); the changed values alternate between the
2019 value and a nearby one, so every save really writes. Timed per save:

- POST of the form: the real view (parse, validate, ``unit_values_record``: all or nothing,
  optimistic locking, history), answered by its redirect;
- the recomputation of the unit's scores: the GET of the page after the save (the redirect
  target), which scores the unit's rows with the engine and shows every achievement and formula.
  Save + this page is the goal ("saving a whole unit's form and recomputing its scores");
- for information, not in the goal: ``selectors.cycle_score`` of the whole cycle after the save
  (the Ente, areas and perspectives above the unit; the public pages and the tree page do this
  on every view).

Queries are counted for every save (a connection execute wrapper, which also adds up the time
spent in the database). Goal: save + recomputation p95 < 150 ms at both scales, and the same
number of queries per save at both scales. p95 is the nearest-rank 95th percentile. Garbage
collection: everything loaded before the saves is frozen once (gc.freeze, as config/wsgi.py does
after start-up); collections during the saves are counted in. It always exits 0: it is a report;
a missed goal is printed as FAIL.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import io
import math
import os
import pstats
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402

from bench.synthetic import base_dataset, synthetic_dataset  # noqa: E402
from organization import roles  # noqa: E402
from organization.models import Cycle, Unit  # noqa: E402
from performance import parsing, scoring, selectors, selectors_entry, services  # noqa: E402
from performance.forms import value_inputs  # noqa: E402
from performance.models import Actual, Target  # noqa: E402

GOAL_SECONDS = 0.150
PERIOD = "consuntivo"
WARM_UP = 2
MODES = ("one", "all")


# ------------------------------------------------------------------------------ measurements


class QueryMeter:
    """Counts the queries on ``connection`` and the time spent executing them."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.sql: list[str] | None = None

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - start
            self.count += 1
            if self.sql is not None:
                self.sql.append(sql)

    def reset(self, *, keep_sql: bool = False) -> None:
        self.count, self.seconds = 0, 0.0
        self.sql = [] if keep_sql else None


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@dataclass
class Series:
    """One series of saves: per-save timings (s), queries and database time."""

    post: list[float] = field(default_factory=list)
    score: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # POST + score, CPU time of this process
    page: list[float] = field(default_factory=list)
    post_queries: list[int] = field(default_factory=list)
    score_queries: list[int] = field(default_factory=list)
    page_queries: list[int] = field(default_factory=list)
    post_db: list[float] = field(default_factory=list)
    score_db: list[float] = field(default_factory=list)
    rows_changed: int = 0
    post_sql: list[str] = field(default_factory=list)
    score_sql: list[str] = field(default_factory=list)

    @property
    def total(self) -> list[float]:
        """The goal: the save and the page that shows the unit's recomputed achievements."""
        return [a + b for a, b in zip(self.post, self.page, strict=True)]

    @property
    def with_cycle(self) -> list[float]:
        """For information: the save and the recomputation of the whole cycle's tree."""
        return [a + b for a, b in zip(self.post, self.score, strict=True)]

    @property
    def queries(self) -> list[int]:
        return [a + b for a, b in zip(self.post_queries, self.page_queries, strict=True)]


@dataclass
class Result:
    scale: int
    unit: str
    counts: dict[str, int]
    load: float
    series: dict[str, Series]


# --------------------------------------------------------------------------- the form's data


class FormFields(HTMLParser):
    """What a browser submits from the form #modulo-valori, as the view rendered it."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {}
        self.inside = False
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id") == "modulo-valori":
            self.inside = True
        if not self.inside:
            return
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self.data[name] = attrs.get("value") or "on"
            elif kind != "submit":
                self.data[name] = attrs.get("value") or ""
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in attrs:
            self.data[self._select] = attrs.get("value") or ""
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data


def form_data(html: str) -> dict[str, str]:
    parser = FormFields()
    parser.feed(html)
    # a textarea's content starts with the newline after the tag (the HTML parser keeps it)
    return {k: v[1:] if v.startswith("\n") else v for k, v in parser.data.items()}


_K_OF_N = re.compile(r"^\s*([\d.,]+)\s*(?:su\s*([\d.,]+))?\s*$")


def nearby(kind: str, text: str, rule: dict) -> str | None:
    """A valid value close to ``text`` for an input of ``kind`` (None: leave it as it is)."""
    text = (text or "").strip()
    if not text:
        return None
    if kind == "number":
        value = parsing.parse_number(text)
        if rule.get("kind") == "rating":
            low = Decimal(str(rule.get("scale_min", 1)))
            step = Decimal("0.1")
            return scoring.fmt(value - step if value - step >= low else value + step)
        return scoring.fmt(value - 1 if value >= 1 else value + 1)
    if kind == "date":
        return scoring.fmt_date(parsing.parse_date(text) - dt.timedelta(days=1))
    if kind == "k_of_n":
        found = _K_OF_N.match(text)
        if not found:
            return None
        k = parsing.parse_number(found.group(1))
        new_k = k - 1 if k >= 1 else k + 1
        return scoring.fmt(new_k) + (f" su {found.group(2)}" if found.group(2) else "")
    return None  # sì/no, "non realizzato": left as they are


def _part_rule(rule: dict, name: str) -> dict:
    """The rule of the input ``name`` ("p1-value": the second part's rule of a multi rule)."""
    while (found := re.match(r"^p(\d+)-(.*)$", name)) and rule.get("kind") == "multi":
        rule = (rule.get("parts") or [])[int(found.group(1))]
        name = found.group(2)
    return rule


def variants(unit: Unit, data: dict[str, str], mode: str) -> dict[str, tuple[str, str]]:
    """{input name: (the value as opened, a nearby value)} for the inputs a save changes."""
    out: dict[str, tuple[str, str]] = {}
    for target in selectors_entry.unit_targets(unit=unit):
        prefix = f"t{target.pk}-"
        changed = False
        for spec in value_inputs(target.rule):
            name = prefix + spec.name
            if name not in data:
                continue  # a row that takes no value (neutralized, excluded)
            other = nearby(spec.kind, data[name], _part_rule(target.rule, spec.name))
            if other is not None and other != data[name]:
                out[name] = (data[name], other)
                changed = True
        if changed and mode == "one":
            kinds = {spec.kind for spec in value_inputs(target.rule)}
            if "number" in kinds:
                return out
            out.clear()
    return out


# ---------------------------------------------------------------------------------- the bench


def _login() -> Client:
    groups = roles.roles_sync()
    user = User.objects.create_user("bench-controllo", first_name="Bench", last_name="Controllo")
    user.groups.add(groups[roles.CONTROLLO])
    client = Client()
    client.force_login(user)
    return client


def _save(
    client: Client, url: str, cycle: Cycle, data: dict[str, str], meter: QueryMeter
) -> tuple[float, float, float, float, int, int, int, float, float, list[str], list[str]]:
    meter.reset(keep_sql=True)
    cpu_start = time.process_time()
    start = time.perf_counter()
    response = client.post(url, data)
    post = time.perf_counter() - start
    post_queries, post_db, post_sql = meter.count, meter.seconds, meter.sql or []
    if response.status_code != 302:
        errors = re.findall(r"invalid-feedback[^>]*>([^<]+)<", response.content.decode())
        raise SystemExit(f"save refused ({response.status_code}): {errors[:5]}")

    meter.reset(keep_sql=True)
    start = time.perf_counter()
    fresh = selectors.cycle_list().get(pk=cycle.pk)  # the cycle as a view gets it
    selectors.cycle_score(cycle=fresh)
    score = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    score_queries, score_db, score_sql = meter.count, meter.seconds, meter.sql or []

    meter.reset()
    start = time.perf_counter()
    page = client.get(response["Location"])
    page_time = time.perf_counter() - start
    assert page.status_code == 200, page.status_code
    assert b"Valori salvati" in page.content, "the page after the save has no confirmation"
    return (
        post,
        score,
        cpu,
        page_time,
        post_queries,
        score_queries,
        meter.count,
        post_db,
        score_db,
        post_sql,
        score_sql,
    )


def run_series(client: Client, cycle: Cycle, unit: Unit, mode: str, saves: int) -> Series:
    url = reverse("workspace:entry-form", args=[cycle.year, unit.key, PERIOD])
    meter = QueryMeter()
    series = Series()
    opened = client.get(url)
    assert opened.status_code == 200, opened.status_code
    changes = variants(unit, form_data(opened.content.decode()), mode)
    if not changes:
        raise SystemExit(f"{unit.key}: no value to change")
    series.rows_changed = len({name.split("-", 1)[0] for name in changes})
    history_before = Actual.history.count()
    with connection.execute_wrapper(meter):
        for index in range(WARM_UP + saves):
            data = form_data(client.get(url).content.decode())  # not timed: opening the form
            for name, (first, other) in changes.items():
                data[name] = other if index % 2 == 0 else first
            post, score, cpu, page, pq, sq, gq, pdb, sdb, psql, ssql = _save(
                client, url, cycle, data, meter
            )
            if index < WARM_UP:
                continue
            series.post.append(post)
            series.score.append(score)
            series.cpu.append(cpu)
            series.page.append(page)
            series.post_queries.append(pq)
            series.score_queries.append(sq)
            series.page_queries.append(gq)
            series.post_db.append(pdb)
            series.score_db.append(sdb)
            series.post_sql, series.score_sql = psql, ssql
    written = Actual.history.count() - history_before
    expected = (WARM_UP + saves) * series.rows_changed
    if written != expected:
        raise SystemExit(f"{mode}: {written} history records written, {expected} expected")
    return series


def bench_scale(scale: int, saves: int, unit_key: str, base: dict) -> tuple[Result, Cycle, Unit]:
    call_command("flush", interactive=False, verbosity=0)  # one cycle per year at a time
    data = synthetic_dataset(scale, base)
    start = time.perf_counter()
    cycle = services.cycle_load(data=data)
    load = time.perf_counter() - start
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # planner statistics, as autovacuum would have them
    cycle = selectors.cycle_list().get(pk=cycle.pk)
    unit = Unit.objects.get(cycle=cycle, key=unit_key)
    client = _login()
    counts = {
        "units": Unit.objects.filter(cycle=cycle).count(),
        "targets": Target.objects.filter(indicator__objective__cycle=cycle).count(),
        "unit rows": selectors_entry.unit_targets(unit=unit).count(),
    }
    gc.collect()
    gc.freeze()
    try:
        series = {mode: run_series(client, cycle, unit, mode, saves) for mode in MODES}
    finally:
        gc.unfreeze()
    return Result(scale, unit_key, counts, load, series), cycle, unit


# ---------------------------------------------------------------------------------- the report


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def _spread(values: list[int]) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}–{high}"


def report(results: list[Result], saves: int) -> None:
    vendor = connection.vendor
    version = ""
    if vendor == "postgresql":
        version = f" {connection.pg_version // 10000}.{connection.pg_version % 10000}"
    elif vendor == "sqlite":
        import sqlite3

        version = f" {sqlite3.sqlite_version}"
    print()
    analyzed = ", ANALYZE after each load" if vendor == "postgresql" else ""
    name = connection.settings_dict["NAME"]
    print(f"Database: {vendor}{version} (throw-away test database {name}{analyzed})")
    print(
        f"Python {sys.version.split()[0]}, Django {django.get_version()}; {saves} saves per "
        f"series after {WARM_UP} warm-up saves; p95 = nearest rank"
    )
    print()
    columns = [(r, mode) for r in results for mode in MODES]
    rows: list[tuple[str, Callable[[Result, Series], str]]] = [
        ("units in the plan", lambda r, s: f"{r.counts['units']:,}"),
        ("targets in the plan", lambda r, s: f"{r.counts['targets']:,}"),
        ("rows in the unit's form", lambda r, s: str(r.counts["unit rows"])),
        ("rows changed per save", lambda r, s: str(s.rows_changed)),
        ("load (cycle_load, not timed)", lambda r, s: f"{r.load:,.2f} s"),
        ("save + unit page   median", lambda r, s: _ms(statistics.median(s.total))),
        ("                   p95", lambda r, s: _ms(p95(s.total))),
        ("                   max", lambda r, s: _ms(max(s.total))),
        ("  CPU (POST+cycle)  median", lambda r, s: _ms(statistics.median(s.cpu))),
        ("                   p95", lambda r, s: _ms(p95(s.cpu))),
        ("  POST (save)      median", lambda r, s: _ms(statistics.median(s.post))),
        ("                   p95", lambda r, s: _ms(p95(s.post))),
        ("    of which SQL   median", lambda r, s: _ms(statistics.median(s.post_db))),
        ("  cycle_score (info) median", lambda r, s: _ms(statistics.median(s.score))),
        ("                   p95", lambda r, s: _ms(p95(s.score))),
        ("    of which SQL   median", lambda r, s: _ms(statistics.median(s.score_db))),
        ("queries per save (POST+page)", lambda r, s: _spread(s.queries)),
        ("  POST", lambda r, s: _spread(s.post_queries)),
        ("  cycle_score (info)", lambda r, s: _spread(s.score_queries)),
        ("page after save (GET) median", lambda r, s: _ms(statistics.median(s.page))),
        ("                   p95", lambda r, s: _ms(p95(s.page))),
        ("                   queries", lambda r, s: _spread(s.page_queries)),
    ]
    width = max(len(label) for label, _ in rows) + 2
    print(f"{'':<{width}}" + "".join(f"{f'x{r.scale} {m}':>13}" for r, m in columns))
    print("-" * (width + 13 * len(columns)))
    for label, value in rows:
        print(f"{label:<{width}}" + "".join(f"{value(r, r.series[m]):>13}" for r, m in columns))
    print()

    for result in results:
        for mode in MODES:
            total = result.series[mode].total
            ok = p95(total) < GOAL_SECONDS
            print(
                f"{'PASS' if ok else 'FAIL'}: save + unit's recomputed page at scale "
                f"{result.scale} ({mode}): p95 {_ms(p95(total))} {'<' if ok else '>='} "
                f"{_ms(GOAL_SECONDS)}  (save + whole-cycle recomputation, for information: "
                f"p95 {_ms(p95(result.series[mode].with_cycle))})"
            )
    small, large = results[0], results[-1]
    for mode in MODES:
        a, b = small.series[mode].queries, large.series[mode].queries
        ok = len(set(a)) == 1 and set(a) == set(b)
        print(
            f"{'PASS' if ok else 'FAIL'}: queries per save ({mode}) constant and equal at scale "
            f"{small.scale} and {large.scale}: {_spread(a)} {'==' if ok else 'vs'} {_spread(b)}"
        )
        if not ok:
            for result in (small, large):
                print(f"\n  queries of the last save at scale {result.scale} ({mode}):")
                for sql in result.series[mode].post_sql + result.series[mode].score_sql:
                    print(f"    {sql[:160]}")


def profile(client: Client, cycle: Cycle, unit: Unit, top: int = 25) -> None:
    url = reverse("workspace:entry-form", args=[cycle.year, unit.key, PERIOD])
    data = form_data(client.get(url).content.decode())
    changes = variants(unit, data, "all")
    for name, (first, other) in changes.items():
        data[name] = other if data[name] == first else first
    steps = (
        ("POST of the form (save every value)", lambda: client.post(url, data)),
        (
            "recompute (cycle_score)",
            lambda: selectors.cycle_score(cycle=selectors.cycle_list().get(pk=cycle.pk)),
        ),
    )
    for title, function in steps:
        profiler = cProfile.Profile()
        profiler.enable()
        outcome = function()
        profiler.disable()
        if hasattr(outcome, "status_code"):
            assert outcome.status_code == 302, outcome.status_code
        for sort in ("tottime", "cumulative"):
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.strip_dirs().sort_stats(sort).print_stats(top)
            print(f"\n=== profile: {title}, sorted by {sort} ===")
            print(out.getvalue().split("\n", 5)[-1].strip("\n"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=50, help="size of the large plan (×2019)")
    parser.add_argument("--saves", type=int, default=50, help="timed saves per series")
    parser.add_argument("--unit", default="registro-imprese", help="key of the unit")
    parser.add_argument("--profile", action="store_true", help="cProfile a save at scale N")
    parser.add_argument("--sql", action="store_true", help="print the queries of one save")
    args = parser.parse_args(argv)

    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.sqlite3":
        # A name of our own, so a test database of a concurrent test run is never clobbered.
        database.setdefault("TEST", {})["NAME"] = f"test_bench_entry_{os.getpid()}"
    setup_test_environment(debug=False)
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        base = base_dataset()
        results = []
        for scale in sorted({1, args.scale}):
            print(f"scale {scale}: loading and saving…", file=sys.stderr, flush=True)
            result, cycle, unit = bench_scale(scale, args.saves, args.unit, base)
            results.append(result)
        report(results, args.saves)
        if args.sql:
            for result in results:
                series = result.series["all"]
                print(f"\nqueries of the last save at scale {result.scale} (all):")
                for sql in series.post_sql + series.score_sql:
                    print(f"  {sql[:150]}")
        if args.profile:
            user = User.objects.get(username="bench-controllo")
            client = Client()
            client.force_login(user)
            profile(client, cycle, unit)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()
    return 0


if __name__ == "__main__":
    sys.exit(main())
