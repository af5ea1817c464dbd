"""Load test: gunicorn (2 workers) with the production settings on a throw-away PostgreSQL
database, on loopback, with simulated users for a bounded time.

    .venv/bin/python bench/load.py                      # 100 users for 60 s
    .venv/bin/python bench/load.py --users 20 --duration 10
    make load

Setup (nothing of the configured database is touched): a new database ``ciclo_load_<pid>``
(CREATE DATABASE on --pg-url's server), migrate, the 2019 cycle and its Relazione loaded and
published (bench/publishing.py: the OIV workflow, with the real PDF), the 2020 cycle started from
it (open: values may be entered), one referent per unit of 2020 with values to enter;
collectstatic (WhiteNoise's compressed manifest, as in production); gunicorn on a free port of
127.0.0.1 with DEBUG=0.

The users, each in a loop with a think time (--think, uniform between half and one and a half
of it): the public pages of 2019 (index, the Relazione, dati.csv, dati.json, relazione.pdf,
which leads with a redirect to the published version's PDF: the redirect is followed and the
whole download, redirect and file, is timed as one request of "relazione.pdf"),
and --staff of them are referents saving their unit's values form of 2020 (log-in through the
log-in page first; each save reads the form, changes one value, posts it with the versions it
read, and follows the redirect). Requests go through the headers a reverse proxy adds
(X-Forwarded-Proto: https, X-Forwarded-For: one address per user).

Bounded: the run stops after --duration seconds (and at most --max-requests requests); every
request has a timeout; gunicorn is stopped and the database dropped at the end, whatever happens.
Prints throughput, errors and p50/p95/p99 per endpoint, then PASS/FAIL for "no error" and
"public pages p95 < 200 ms". Exit code 0 when both pass, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
YEAR = 2019
NEXT = YEAR + 1
PUBLIC_GOAL_MS = 200.0
PUBLIC = ("index", "relazione", "dati.csv", "dati.json", "relazione.pdf")
PUBLIC_URLS = {
    "index": "/trasparenza/performance/",
    "relazione": f"/trasparenza/performance/{YEAR}/",
    "dati.csv": f"/trasparenza/performance/{YEAR}/dati.csv",
    "dati.json": f"/trasparenza/performance/{YEAR}/dati.json",
    "relazione.pdf": f"/trasparenza/performance/{YEAR}/relazione.pdf",
}
# How often a citizen opens each page (weights).
PUBLIC_MIX = {"index": 2, "relazione": 4, "dati.csv": 1, "dati.json": 1, "relazione.pdf": 1}


def log(message: str) -> None:
    print(message, flush=True)


# ------------------------------------------------------------------------------------ setup

SETUP = """
import json
from django.contrib.auth.models import Group, User
from organization import roles
from organization.models import Cycle, MeasurementPeriod, Unit
from performance.models import Target
from performance.rules import RULES
from performance.services.plan import cycle_start_next
from bench.publishing import publish

print(publish({year}), flush=True)
previous = Cycle.objects.get(year={year})
current = Cycle.objects.filter(year={next}).first() or cycle_start_next(cycle=previous, user=None)
period = MeasurementPeriod.objects.filter(cycle=current).order_by("-is_final", "end_date").first()
number_kinds = [kind for kind, rule in RULES.items() if rule.entry_input == "number"]
units = []
for unit in Unit.objects.filter(cycle=current).order_by("order", "pk"):
    if Target.objects.filter(unit=unit, rule__kind__in=number_kinds).exists():
        units.append(unit)
group = Group.objects.get(name=roles.REFERENTE)
staff = []
for index, unit in enumerate(units[:{staff}]):
    user, _ = User.objects.get_or_create(username=f"carico-{{index + 1}}")
    user.set_password({password!r})
    user.save()
    user.groups.add(group)
    unit.referents.add(user)
    staff.append({{"username": user.username, "unit": unit.key}})
print("SETUP " + json.dumps({{"period": period.key, "staff": staff}}), flush=True)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Environment:
    pg_url: str
    database: str
    work: Path
    env: dict[str, str]
    port: int
    gunicorn: subprocess.Popen | None = None
    created: bool = False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _admin_sql(pg_url: str, statement: str) -> None:
    subprocess.run(
        ["psql", pg_url, "-v", "ON_ERROR_STOP=1", "-qc", statement],
        check=True,
        capture_output=True,
        text=True,
    )


def _manage(env: Environment, *args: str) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env.env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)}:\n{result.stdout}\n{result.stderr}")
    for line in result.stderr.strip().splitlines()[-5:]:
        log(f"  manage.py {args[0]}: {line}")
    return result.stdout


def environment_for(args: argparse.Namespace) -> Environment:
    database = f"ciclo_load_{os.getpid()}"
    parts = urlsplit(args.pg_url)
    db_url = parts._replace(path=f"/{database}").geturl()
    work = Path(tempfile.mkdtemp(prefix="ciclo-load-"))
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_REPLICA_URL")
    }
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=db_url,
        CONN_MAX_AGE="60",
        MEDIA_ROOT=str(work / "media"),
        STATIC_ROOT=str(work / "static"),
        PDF_RENDER_INLINE_THREAD="0",
        TRUSTED_PROXY_COUNT="1",
        LOG_LEVEL="WARNING",
    )
    return Environment(pg_url=args.pg_url, database=database, work=work, env=env, port=free_port())


def prepare(environment: Environment, args: argparse.Namespace) -> dict:
    _admin_sql(args.pg_url, f'CREATE DATABASE "{environment.database}"')
    environment.created = True
    password = secrets.token_urlsafe(16)
    started = time.perf_counter()
    log("collectstatic (compressed manifest, as in production: the PDFs need it too)…")
    _manage(environment, "collectstatic", "--noinput", "-v0")
    log(f"database {environment.database}: migrate, load {YEAR}, publish, start {NEXT}…")
    _manage(environment, "migrate", "-v0")
    _manage(environment, "load_cycle", "fixtures/cycle-2019.yaml")
    output = _manage(
        environment,
        "shell",
        "-c",
        SETUP.format(year=YEAR, next=NEXT, staff=args.staff, password=password),
    )
    info = json.loads(output.split("SETUP ", 1)[1].strip().splitlines()[0])
    info["password"] = password
    published = next((line for line in output.splitlines() if line.startswith(f"{YEAR}:")), "")
    log(f"  {published}; {len(info['staff'])} referents of {NEXT} with values to enter")
    if (ROOT / "reports" / "management" / "commands" / "render_pdfs.py").exists():
        log("the PDF worker: render_pdfs --published…")
        rendered = _manage(environment, "render_pdfs", "--published").strip().splitlines()
        log(f"  {rendered[-1] if rendered else ''}")
    log(f"setup done in {time.perf_counter() - started:.0f} s")
    return info


def start_gunicorn(env: Environment, args: argparse.Namespace) -> None:
    gunicorn = shutil.which("gunicorn", path=str(Path(PYTHON).parent)) or "gunicorn"
    command = [
        gunicorn,
        "config.wsgi",
        "--workers",
        str(args.workers),
        "--bind",
        f"127.0.0.1:{env.port}",
        "--forwarded-allow-ips",
        "127.0.0.1",
        "--timeout",
        "60",
        "--graceful-timeout",
        "5",
    ]
    if args.threads > 1:
        command += ["--worker-class", "gthread", "--threads", str(args.threads)]
    handle = open(env.work / "gunicorn.out", "wb")  # noqa: SIM115 - closed with the process
    env.gunicorn = subprocess.Popen(
        command, cwd=ROOT, env=env.env, stdout=handle, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if env.gunicorn.poll() is not None:
            raise RuntimeError((env.work / "gunicorn.out").read_text()[-3000:])
        try:
            if httpx.get(f"{env.base_url}/salute/", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("gunicorn did not answer /salute/ within 30 s")


def teardown(env: Environment) -> None:
    if env.gunicorn is not None and env.gunicorn.poll() is None:
        env.gunicorn.send_signal(signal.SIGTERM)
        try:
            env.gunicorn.wait(timeout=15)
        except subprocess.TimeoutExpired:
            env.gunicorn.kill()
            env.gunicorn.wait(timeout=5)
    if env.created:
        try:
            _admin_sql(env.pg_url, f'DROP DATABASE IF EXISTS "{env.database}" WITH (FORCE)')
        except subprocess.CalledProcessError as error:
            log(f"could not drop {env.database}: {error.stderr}")
    shutil.rmtree(env.work, ignore_errors=True)


# ---------------------------------------------------------------------------- the clients


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    redirects: int = 0

    def record(self, name: str, seconds: float, status: int, ok: bool, detail: str = "") -> None:
        self.requests += 1
        self.latencies[name].append(seconds)
        self.statuses[name][status] += 1
        if not ok:
            self.errors.append(f"{name}: {status} {detail}".strip())


class _Form(HTMLParser):
    """The fields of the values form, as a browser would post them."""

    def __init__(self) -> None:
        super().__init__()
        self.data: list[tuple[str, str]] = []
        self._textarea: str | None = None
        self._select: str | None = None
        self._option: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind in ("submit", "button", "file"):
                return
            self.data.append((name, a.get("value") or ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self.data.append((name, ""))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.data.append((self._select, a.get("value") or ""))

    def handle_data(self, data):
        if self._textarea is not None:
            name, value = self.data[-1]
            self.data[-1] = (name, value + data)

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None


_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class Session:
    """One simulated user: its cookies (sent by hand: the production cookies are Secure and the
    loopback is plain HTTP behind a "proxy"), its address."""

    def __init__(self, client: httpx.AsyncClient, base_url: str, address: str) -> None:
        self.client = client
        self.base_url = base_url
        self.cookies: dict[str, str] = {}
        self.headers = {
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": address,
            "Accept-Language": "it",
        }

    async def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = dict(self.headers)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method == "POST":
            host = urlsplit(self.base_url).netloc
            headers["Origin"] = f"https://{host}"
            headers["Referer"] = f"https://{host}{path}"
        response = await self.client.request(method, path, headers=headers, **kwargs)
        for name, value in response.cookies.items():
            self.cookies[name] = value
        return response


async def timed(stats: Stats, name: str, session: Session, method: str, path: str, **kwargs):
    start = time.perf_counter()
    try:
        response = await session.request(method, path, **kwargs)
    except httpx.HTTPError as error:
        stats.record(name, time.perf_counter() - start, 0, False, type(error).__name__)
        return None
    elapsed = time.perf_counter() - start
    return response, elapsed


REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 3


async def download(stats: Stats, session: Session, name: str, path: str) -> None:
    """GET ``path`` as a browser does: same-site redirects followed (the year's relazione.pdf
    leads to the published version's PDF), the time of the whole download (every hop, every
    body) recorded once under ``name``; an error unless it ends in 200."""
    start = time.perf_counter()
    own_host = urlsplit(session.base_url).netloc
    hops = 0
    while True:
        try:
            response = await session.request("GET", path)
            await response.aread()
        except httpx.HTTPError as error:
            stats.record(name, time.perf_counter() - start, 0, False, type(error).__name__)
            return
        location = response.headers.get("location", "")
        if response.status_code not in REDIRECTS or not location:
            break
        target = urlsplit(location)
        if hops >= MAX_REDIRECTS or (target.netloc and target.netloc != own_host):
            break  # too many, or to another site: recorded as what it is
        path = target.path + (f"?{target.query}" if target.query else "")
        hops += 1
    elapsed = time.perf_counter() - start
    stats.redirects += hops
    ok = response.status_code == 200
    detail = "" if ok else f"after {hops} redirect(s), Location {location or '-'}"
    stats.record(name, elapsed, response.status_code, ok, detail)


async def citizen(stats: Stats, session: Session, stop: float, args) -> None:
    names = list(PUBLIC_MIX)
    weights = [PUBLIC_MIX[n] for n in names]
    while time.monotonic() < stop and stats.requests < args.max_requests:
        name = random.choices(names, weights)[0]
        await download(stats, session, name, PUBLIC_URLS[name])
        await asyncio.sleep(random.uniform(0.5, 1.5) * args.think)


async def log_in(stats: Stats, session: Session, username: str, password: str) -> bool:
    result = await timed(stats, "log-in", session, "GET", "/accedi/")
    if result is None:
        return False
    page, elapsed = result
    stats.record("log-in", elapsed, page.status_code, page.status_code == 200)
    token = _CSRF.search(page.text)
    if token is None:
        stats.errors.append("log-in: no CSRF token in the page")
        return False
    result = await timed(
        stats,
        "log-in",
        session,
        "POST",
        "/accedi/",
        data={"csrfmiddlewaretoken": token.group(1), "username": username, "password": password},
    )
    if result is None:
        return False
    response, elapsed = result
    ok = response.status_code == 302 and response.headers.get("location", "").endswith("/lavoro/")
    stats.record("log-in", elapsed, response.status_code, ok, response.text[:200] if not ok else "")
    return ok


async def referent(stats: Stats, session: Session, stop: float, args, who: dict, info) -> None:
    if not await log_in(stats, session, who["username"], info["password"]):
        return
    url = f"/lavoro/{NEXT}/valori/{who['unit']}/{info['period']}/"
    turn = 0
    while time.monotonic() < stop and stats.requests < args.max_requests:
        result = await timed(stats, "staff: form", session, "GET", url)
        if result is None:
            await asyncio.sleep(args.think)
            continue
        page, elapsed = result
        stats.record("staff: form", elapsed, page.status_code, page.status_code == 200)
        if page.status_code != 200:
            await asyncio.sleep(args.think)
            continue
        parser = _Form()
        parser.feed(page.text)
        data = [(k, v) for k, v in parser.data if k != "q"]
        value_fields = [k for k, _ in data if re.fullmatch(r"t\d+-value", k)]
        if not value_fields:
            stats.errors.append(f"staff: no value field in {url}")
            return
        field_name = value_fields[turn % len(value_fields)]
        current = dict(data).get(field_name, "")
        new = "4" if current.strip() != "4" else "3"
        data = [(k, new if k == field_name else v) for k, v in data]
        turn += 1
        await asyncio.sleep(random.uniform(0.5, 1.5) * args.think)  # typing
        posted: dict[str, list[str]] = defaultdict(list)
        for key, value in data:
            posted[key].append(value)
        result = await timed(stats, "staff: save", session, "POST", url, data=dict(posted))
        if result is None:
            continue
        response, elapsed = result
        ok = response.status_code == 302
        detail = "" if ok else re.sub(r"\s+", " ", response.text)[:300]
        stats.record("staff: save", elapsed, response.status_code, ok, detail)
        await asyncio.sleep(random.uniform(0.5, 1.5) * args.think)


async def run_load(env: Environment, info: dict, args) -> tuple[Stats, float]:
    stats = Stats()
    limits = httpx.Limits(max_connections=args.users + 10, max_keepalive_connections=args.users)
    timeout = httpx.Timeout(args.timeout)
    async with httpx.AsyncClient(
        base_url=env.base_url, limits=limits, timeout=timeout, follow_redirects=False
    ) as client:
        staff = info["staff"][: args.staff]
        start = time.monotonic()
        stop = start + args.duration
        tasks = []
        for index in range(args.users):
            session = Session(client, env.base_url, f"10.20.{index // 250}.{index % 250 + 1}")
            if index < len(staff):
                coroutine = referent(stats, session, stop, args, staff[index], info)
            else:
                coroutine = citizen(stats, session, stop, args)
            tasks.append(asyncio.create_task(coroutine))
            await asyncio.sleep(args.ramp / max(args.users, 1))  # a gentle ramp-up
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=args.duration + args.timeout + 30)
        elapsed = time.monotonic() - start
    return stats, elapsed


# ---------------------------------------------------------------------------------- report


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def report(stats: Stats, elapsed: float, args, staff: int) -> bool:
    log("")
    log(
        f"{args.users} users ({staff} referents saving values, the others citizens), "
        f"{args.duration:.0f} s, think time ~{args.think:g} s, gunicorn {args.workers} workers"
        + (f" x {args.threads} threads" if args.threads > 1 else " (sync)")
    )
    log(
        f"requests: {stats.requests} in {elapsed:.1f} s = {stats.requests / elapsed:.1f} req/s; "
        f"errors: {len(stats.errors)}; redirects followed: {stats.redirects} (relazione.pdf to "
        "the published version's PDF, timed with it)"
    )
    log("")
    columns = ("p50 ms", "p95 ms", "p99 ms", "max ms")
    header = f"{'endpoint':<16}{'n':>7}" + "".join(f"{c:>10}" for c in columns) + "  statuses"
    log(header)
    log("-" * len(header))
    order = [*PUBLIC, "log-in", "staff: form", "staff: save"]
    public_all: list[float] = []
    for name in order:
        values = stats.latencies.get(name, [])
        if not values:
            continue
        if name in PUBLIC:
            public_all += values
        statuses = ", ".join(f"{s}×{n}" for s, n in sorted(stats.statuses[name].items()))
        log(
            f"{name:<16}{len(values):>7}{percentile(values, 50) * 1000:>10.1f}"
            f"{percentile(values, 95) * 1000:>10.1f}{percentile(values, 99) * 1000:>10.1f}"
            f"{max(values) * 1000:>10.1f}  {statuses}"
        )
    if public_all:
        log(
            f"{'public (all)':<16}{len(public_all):>7}{percentile(public_all, 50) * 1000:>10.1f}"
            f"{percentile(public_all, 95) * 1000:>10.1f}{percentile(public_all, 99) * 1000:>10.1f}"
            f"{max(public_all) * 1000:>10.1f}"
        )
    log("")
    for error in stats.errors[:10]:
        log(f"  error: {error}")
    no_error = not stats.errors and stats.requests > 0
    worst = max(
        (percentile(stats.latencies[n], 95) for n in PUBLIC if stats.latencies.get(n)),
        default=float("inf"),
    )
    fast = worst * 1000 < PUBLIC_GOAL_MS
    saves = len(stats.latencies.get("staff: save", []))
    log(f"{'PASS' if no_error else 'FAIL'}: no error ({len(stats.errors)} errors, {saves} saves)")
    log(
        f"{'PASS' if fast else 'FAIL'}: public pages p95 < {PUBLIC_GOAL_MS:.0f} ms "
        f"(slowest public endpoint p95: {worst * 1000:.1f} ms; all public pages together: "
        f"{percentile(public_all, 95) * 1000:.1f} ms)"
    )
    return no_error and fast


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100, help="simulated users (100)")
    parser.add_argument("--duration", type=float, default=60, help="seconds of load (60)")
    parser.add_argument("--staff", type=int, default=10, help="users who save values (10)")
    parser.add_argument("--think", type=float, default=1.0, help="mean think time, s (1)")
    parser.add_argument("--ramp", type=float, default=5.0, help="ramp-up, s (5)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (1: sync)")
    parser.add_argument("--timeout", type=float, default=30, help="request timeout, s (30)")
    parser.add_argument("--max-requests", type=int, default=200_000, help="hard cap on requests")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("LOAD_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL server where a database may be created (loopback)",
    )
    args = parser.parse_args(argv)
    host = urlsplit(args.pg_url).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the load test runs on loopback only: --pg-url must be on 127.0.0.1")
    if args.duration > 600 or args.users > 1000:
        parser.error("bounded: at most 600 s and 1000 users")

    env = environment_for(args)
    try:
        info = prepare(env, args)
        start_gunicorn(env, args)
        log(f"gunicorn on {env.base_url} ({args.workers} workers); load for {args.duration:.0f} s…")
        stats, elapsed = asyncio.run(run_load(env, info, args))
        ok = report(stats, elapsed, args, min(len(info["staff"]), args.staff, args.users))
        server_log = (env.work / "gunicorn.out").read_text(errors="replace")
        if stats.errors and server_log.strip():
            log("\nserver log (last lines):\n" + "\n".join(server_log.splitlines()[-40:]))
        return 0 if ok else 1
    finally:
        teardown(env)


if __name__ == "__main__":
    sys.exit(main())
