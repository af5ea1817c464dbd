"""Attack run, finding 5: bench/load.py counted every download of the year's relazione.pdf as an
error, since it answers 302 (to the published version's PDF). The citizens of the load test now
follow the redirect and time the whole download (redirect and file) as one request."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import httpx

from bench import load

PDF = b"%PDF-1.7\n% prova\n%%EOF\n"
VERSION_PDF = "/trasparenza/performance/2019/versioni/1/relazione.pdf"


def _site(request: httpx.Request) -> httpx.Response:
    """The public pages as the published 2019 answers them."""
    time.sleep(0.01)  # each hop takes some time: the whole download is timed
    path = request.url.path
    if path == load.PUBLIC_URLS["relazione.pdf"]:
        return httpx.Response(302, headers={"Location": VERSION_PDF})
    if path == VERSION_PDF:
        return httpx.Response(200, content=PDF, headers={"Content-Type": "application/pdf"})
    if path in load.PUBLIC_URLS.values():
        return httpx.Response(200, text="ok")
    return httpx.Response(404)


def _run(mix: dict[str, int], seconds: float = 0.3) -> load.Stats:
    async def main() -> load.Stats:
        stats = load.Stats()
        transport = httpx.MockTransport(_site)
        async with httpx.AsyncClient(base_url="http://127.0.0.1:9", transport=transport) as client:
            session = load.Session(client, "http://127.0.0.1:9", "10.20.0.1")
            args = SimpleNamespace(max_requests=1000, think=0.0)
            await load.citizen(stats, session, time.monotonic() + seconds, args)
        return stats

    original = dict(load.PUBLIC_MIX)
    load.PUBLIC_MIX.clear()
    load.PUBLIC_MIX.update(mix)
    try:
        return asyncio.run(main())
    finally:
        load.PUBLIC_MIX.clear()
        load.PUBLIC_MIX.update(original)


def test_the_pdf_redirect_is_followed_and_is_not_an_error():
    stats = _run({"relazione.pdf": 1})
    assert stats.requests > 0
    assert stats.errors == []
    assert dict(stats.statuses["relazione.pdf"]) == {200: stats.requests}
    # One entry per download, timed over both hops (each at least 10 ms here).
    assert len(stats.latencies["relazione.pdf"]) == stats.requests
    assert min(stats.latencies["relazione.pdf"]) >= 0.02


def test_every_public_page_of_the_mix_is_fetched_without_error():
    stats = _run(dict.fromkeys(load.PUBLIC, 1), seconds=0.5)
    assert stats.errors == []
    assert set(stats.latencies) <= set(load.PUBLIC)
