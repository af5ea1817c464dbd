"""HTML validity (Nu Html Checker, the npm package ``vnu-jar``, run with Java 17): every public
page of the published Relazione 2019 and the main staff pages, rendered with the Django test
client, checked in ONE java invocation. A missing java or jar is a failure, never a skip
(``make install`` runs ``npm ci``)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.publishing import ROOT, publish, users

VNU_JAR = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
YEAR = 2019
RI = "registro-imprese"

STAFF = [
    "/lavoro/",
    f"/lavoro/{YEAR}/valori/",
    f"/lavoro/{YEAR}/valori/{RI}/consuntivo/",
    f"/lavoro/{YEAR}/obiettivi/",
    f"/lavoro/{YEAR}/indicatori/",
    f"/lavoro/{YEAR}/albero/",
    f"/lavoro/{YEAR}/piano/",
]
PUBLIC = [
    "/trasparenza/performance/",
    f"/trasparenza/performance/{YEAR}/",
    f"/trasparenza/performance/{YEAR}/versioni/",
    f"/trasparenza/performance/{YEAR}/versioni/1/",
    f"/trasparenza/performance/{YEAR}/versioni/1/validazione/",
]


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        pytest.fail(
            "The HTML validity test needs Java 17+ (`apt-get install default-jre-headless`).",
            pytrace=False,
        )
    if not VNU_JAR.is_file():
        pytest.fail(
            f"The HTML validity test needs the Nu Html Checker at {VNU_JAR}: run `make install` "
            "(or `npm ci --no-audit --no-fund`) at the repository root.",
            pytrace=False,
        )
    return java


def _render(client, url: str, pages: dict[str, str], label: str) -> None:
    response = client.get(url)
    assert response.status_code == 200, f"{url}: HTTP {response.status_code}"
    assert response["Content-Type"].startswith("text/html"), url
    pages[f"{label} {url}"] = response.content.decode()


def test_every_public_page_and_the_main_staff_pages_are_valid_html(
    client, cycle_2019, tmp_path, settings
):
    java = _java()
    settings.MEDIA_ROOT = tmp_path / "media"
    controllo, _ = users()
    pages: dict[str, str] = {}

    # staff pages while the cycle is still editable (planning), then after the publication
    client.force_login(controllo)
    for url in STAFF:
        _render(client, url, pages, "staff (pianificazione)")
    publish(cycle_2019)
    for url in STAFF:
        _render(client, url, pages, "staff (pubblicato)")
    client.logout()
    for url in PUBLIC:
        _render(client, url, pages, "pubblica")

    folder = tmp_path / "html"
    folder.mkdir()
    files: dict[str, str] = {}
    for index, (name, html) in enumerate(pages.items()):
        path = folder / f"page-{index:02d}.html"
        path.write_text(html, encoding="utf-8")
        files[path.name] = name
    result = subprocess.run(
        [
            java,
            "-jar",
            str(VNU_JAR),
            "--errors-only",
            "--format",
            "json",
            *sorted(map(str, folder.iterdir())),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    try:
        report = json.loads(result.stderr or result.stdout)
    except ValueError:
        pytest.fail(f"The Nu Html Checker failed (exit {result.returncode}):\n{result.stderr}")
    errors = [m for m in report["messages"] if m.get("type") in ("error", "non-document-error")]
    lines = []
    for m in errors:
        url = m.get("url", "?")
        page = files.get(url.rsplit("/", 1)[-1], url)
        lines.append(
            f"{page} line {m.get('lastLine', '?')}: {m.get('message')}\n"
            f"    {(m.get('extract') or '').strip()!r}"
        )
    assert not errors, f"{len(errors)} HTML errors (Nu Html Checker):\n" + "\n".join(lines)
