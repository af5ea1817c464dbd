"""Benchmark: load + scoring of the whole performance tree, 2019 plan vs a plan 50 times larger.

    .venv/bin/python bench/scoring.py                       # SQLite (in-memory test database)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/scoring.py

Options: --scale N (default 50), --runs N (default 7, after one warm-up), --profile (cProfile of
one read + score at the large scale, top functions by own time and by cumulative time).

It works in a throw-away test database (created and destroyed here, the configured database is
never touched), loads the 2019 dataset (scale 1) and the synthetic plan (bench/synthetic.py) with
``cycle_load``, then times ``cycle_score`` (read + score), ``cycle_data`` (read) and
``scoring.score_cycle`` (score) and counts the queries of one ``cycle_score``. Goal (PostgreSQL):
read + score of the large plan under 0.5 s (median), with as many queries as for the 2019 plan.
It always exits 0: it is a report; a missed goal is printed as FAIL.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
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
from django.test.utils import (  # noqa: E402
    CaptureQueriesContext,
    setup_test_environment,
    teardown_test_environment,
)

from bench.synthetic import base_dataset, dataset_counts, synthetic_dataset  # noqa: E402
from organization.models import Cycle, Unit  # noqa: E402
from performance import scoring, selectors, services  # noqa: E402
from performance.models import Actual, Indicator, Objective, Target  # noqa: E402

GOAL_SECONDS = 0.5


@dataclass
class Timing:
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)


@dataclass
class Result:
    scale: int
    dataset: dict[str, int]
    db: dict[str, int]
    load: float
    queries: int
    sql: list[str]
    rows_scored: int
    discrepancies: int
    read: Timing
    score: Timing
    total: Timing
    peak_bytes: int


def _timed(function: Callable[[], object], runs: int) -> Timing:
    function()  # warm-up
    timing = Timing()
    for _ in range(runs):
        gc.collect()
        gc.freeze()  # as config/wsgi.py does after start-up: long-lived objects are not rescanned
        start = time.perf_counter()
        function()
        timing.samples.append(time.perf_counter() - start)
        gc.unfreeze()
    return timing


def _rows_scored(score: scoring.CycleScore) -> int:
    trees = [score.strategic, score.operational, score.units, *score.individual]
    return sum(len(tree.all_rows()) for tree in trees if tree is not None)


def _fresh(cycle: Cycle) -> Cycle:
    """The cycle as a view gets it (``cycle_get``: one query, the Ente joined)."""
    return selectors.cycle_list().get(pk=cycle.pk)


def bench_scale(scale: int, runs: int, base: dict) -> tuple[Result, Cycle]:
    data = synthetic_dataset(scale, base)
    start = time.perf_counter()
    cycle = services.cycle_load(data=data)
    load = time.perf_counter() - start
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Planner statistics, as autovacuum would have them on a live database.
            cursor.execute("ANALYZE")
    cycle = _fresh(cycle)

    targets = Target.objects.filter(indicator__objective__cycle=cycle)
    db = {
        "units": Unit.objects.filter(cycle=cycle).count(),
        "objectives": Objective.objects.filter(cycle=cycle).count(),
        "indicators": Indicator.objects.filter(objective__cycle=cycle).count(),
        "targets": targets.count(),
        "actuals": Actual.objects.filter(target__in=targets).count(),
    }

    with CaptureQueriesContext(connection) as captured:
        score = selectors.cycle_score(cycle=cycle)
    sql = [q["sql"] for q in captured.captured_queries]

    cycle_data = selectors.cycle_data(cycle=cycle)
    read = _timed(lambda: selectors.cycle_data(cycle=cycle), runs)
    score_only = _timed(lambda: scoring.score_cycle(cycle_data), runs)
    total = _timed(lambda: selectors.cycle_score(cycle=cycle), runs)

    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    selectors.cycle_score(cycle=cycle)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    result = Result(
        scale=scale,
        dataset=dataset_counts(data),
        db=db,
        load=load,
        queries=len(sql),
        sql=sql,
        rows_scored=_rows_scored(score),
        discrepancies=len(score.discrepancies),
        read=read,
        score=score_only,
        total=total,
        peak_bytes=peak,
    )
    return result, cycle


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def report(results: list[Result], runs: int) -> None:
    vendor = connection.vendor
    version = ""
    if vendor == "postgresql":
        version = f" {connection.pg_version // 10000}.{connection.pg_version % 10000}"
    elif vendor == "sqlite":
        import sqlite3

        version = f" {sqlite3.sqlite_version}"
    print()
    name = connection.settings_dict["NAME"]
    analyzed = ", ANALYZE after each load" if vendor == "postgresql" else ""
    print(f"Database: {vendor}{version} (throw-away test database {name}{analyzed})")
    print(f"Python {sys.version.split()[0]}, Django {django.get_version()}; ", end="")
    print(f"timings: median / max of {runs} runs after 1 warm-up")
    print()
    rows: list[tuple[str, Callable[[Result], str]]] = [
        ("units", lambda r: f"{r.db['units']:,}"),
        ("positions", lambda r: f"{r.dataset['positions']:,}"),
        ("objectives", lambda r: f"{r.db['objectives']:,}"),
        ("indicators", lambda r: f"{r.db['indicators']:,}"),
        ("targets (scored rows in the plan)", lambda r: f"{r.db['targets']:,}"),
        ("actuals", lambda r: f"{r.db['actuals']:,}"),
        ("row results in the score (all trees)", lambda r: f"{r.rows_scored:,}"),
        ("stated figures / discrepancies", lambda r: f"{r.dataset['stated']} / {r.discrepancies}"),
        ("load (cycle_load, setup, not timed)", lambda r: f"{r.load:,.2f} s"),
        ("queries per cycle_score", lambda r: str(r.queries)),
        ("read  (cycle_data)     median", lambda r: _ms(r.read.median)),
        ("                       max", lambda r: _ms(r.read.max)),
        ("score (score_cycle)    median", lambda r: _ms(r.score.median)),
        ("                       max", lambda r: _ms(r.score.max)),
        ("total (cycle_score)    median", lambda r: _ms(r.total.median)),
        ("                       max", lambda r: _ms(r.total.max)),
        ("peak memory of one cycle_score", lambda r: f"{r.peak_bytes / 2**20:,.1f} MiB"),
    ]
    label_width = max(len(label) for label, _ in rows) + 2
    header = "".join(f"{'scale ' + str(r.scale):>14}" for r in results)
    print(f"{'':<{label_width}}{header}")
    print("-" * (label_width + 14 * len(results)))
    for label, value in rows:
        print(f"{label:<{label_width}}" + "".join(f"{value(r):>14}" for r in results))
    print()

    small, large = results[0], results[-1]
    time_ok = large.total.median < GOAL_SECONDS
    scope = (
        "the goal applies to PostgreSQL"
        if vendor == "postgresql"
        else f"the goal applies to PostgreSQL; this run is on {vendor}, for information"
    )
    print(
        f"{'PASS' if time_ok else 'FAIL'}: read + score at scale {large.scale}: median "
        f"{_ms(large.total.median)} {'<' if time_ok else '>='} {_ms(GOAL_SECONDS)} ({scope})"
    )
    queries_ok = large.queries == small.queries
    print(
        f"{'PASS' if queries_ok else 'FAIL'}: queries at scale {large.scale} == queries at "
        f"scale {small.scale}: {large.queries} {'==' if queries_ok else '!='} {small.queries}"
    )
    if not queries_ok:
        for result in (small, large):
            print(f"\n  queries at scale {result.scale}:")
            for sql in result.sql:
                print(f"    {sql[:160]}")


def profile(cycle: Cycle, top: int = 25) -> None:
    data = selectors.cycle_data(cycle=cycle)
    for title, function in (
        ("read + score (cycle_score)", lambda: selectors.cycle_score(cycle=cycle)),
        ("score only (score_cycle)", lambda: scoring.score_cycle(data)),
    ):
        profiler = cProfile.Profile()
        profiler.enable()
        function()
        profiler.disable()
        for sort in ("tottime", "cumulative"):
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.strip_dirs().sort_stats(sort).print_stats(top)
            print(f"\n=== profile: {title}, sorted by {sort} ===")
            print(out.getvalue().split("\n", 5)[-1].strip("\n"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=50, help="size of the large plan (×2019)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs after one warm-up")
    parser.add_argument("--profile", action="store_true", help="cProfile the large plan")
    args = parser.parse_args(argv)

    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.sqlite3":
        # A name of our own, so a test database of a concurrent test run is never clobbered.
        database.setdefault("TEST", {})["NAME"] = f"test_bench_scoring_{os.getpid()}"
    setup_test_environment(debug=False)
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        base = base_dataset()
        results = []
        large_cycle = None
        for scale in sorted({1, args.scale}):
            print(f"scale {scale}: loading and timing…", file=sys.stderr, flush=True)
            result, large_cycle = bench_scale(scale, args.runs, base)
            results.append(result)
        report(results, args.runs)
        if args.profile and large_cycle is not None:
            profile(large_cycle)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()
    return 0


if __name__ == "__main__":
    sys.exit(main())
