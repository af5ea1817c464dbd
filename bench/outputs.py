"""What the product computes and shows, written to a folder, to compare two versions of the code.

    .venv/bin/python bench/outputs.py OUT_DIR [--scale 50] [--skip-pdf]
    diff -r before/ after/

A refactoring must leave these files identical (issue 11): the 2019 score as ``manage.py score
2019 --json`` prints it, the score of the synthetic plan (the 2019 plan ×N, bench/synthetic.py),
the public page of the 2019 Relazione rendered live, its open data (CSV and JSON) and the text of
its PDF, page by page. Per-request values (CSP nonces, CSRF tokens, the time the open data was
generated) are replaced by a placeholder.

It works in a throw-away test database (the configured database is never touched) and a
temporary MEDIA_ROOT; it always exits 0 and prints the files written.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402

from bench.synthetic import base_dataset, synthetic_dataset  # noqa: E402
from organization.models import Cycle  # noqa: E402
from performance import scoring, services  # noqa: E402
from performance.dataset import read_dataset  # noqa: E402
from performance.selectors import cycle_score  # noqa: E402
from reports.relazione.services import relazione_load  # noqa: E402

YEAR = 2019
VOLATILE = [
    (re.compile(r'nonce="[^"]*"'), 'nonce="N"'),
    (
        re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"'),
        'name="csrfmiddlewaretoken" value="T"',
    ),
    (re.compile(r'"generated_at": "[^"]*"'), '"generated_at": "G"'),
]


def _stable(text: str) -> str:
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def write_outputs(out: Path, *, scale: int, pdf: bool) -> list[Path]:
    written: list[Path] = []

    def put(name: str, text: str) -> None:
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)

    base = base_dataset()
    cycle = services.cycle_load(data=base)
    relazione_load(cycle=cycle, data=read_dataset(ROOT / "fixtures" / "relazione-2019.yaml"))

    buffer = io.StringIO()
    call_command("score", str(YEAR), "--json", stdout=buffer)
    put("score-2019.json", buffer.getvalue())

    # The live rendering of the page (published without a frozen version).
    Cycle.objects.filter(pk=cycle.pk).update(status=Cycle.Status.PUBLISHED)
    client = Client()
    for name, url in (
        ("relazione-2019.html", f"/trasparenza/performance/{YEAR}/"),
        ("dati-2019.csv", f"/trasparenza/performance/{YEAR}/dati.csv"),
        ("dati-2019.json", f"/trasparenza/performance/{YEAR}/dati.json"),
    ):
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        put(name, f"HTTP {response.status_code}\n" + _stable(body.decode("utf-8")))

    if pdf:
        from pypdf import PdfReader

        from reports.relazione.pdf import render_relazione_pdf

        cycle.refresh_from_db()
        reader = PdfReader(io.BytesIO(render_relazione_pdf(cycle=cycle)))
        pages = [
            f"--- pagina {n} ---\n{page.extract_text()}" for n, page in enumerate(reader.pages, 1)
        ]
        put("relazione-2019.pdf.txt", "\n".join(pages))

    synthetic = services.cycle_load(data=synthetic_dataset(scale, base))
    score = cycle_score(cycle=Cycle.objects.get(pk=synthetic.pk))
    put(
        f"score-{scale}x.json",
        json.dumps(scoring.cycle_to_dict(score, with_rows=True), ensure_ascii=False, indent=1),
    )
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--scale", type=int, default=50)
    parser.add_argument("--skip-pdf", action="store_true")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        with (
            tempfile.TemporaryDirectory() as media,
            override_settings(
                MEDIA_ROOT=media, PDF_RENDER_INLINE_THREAD=False, ALLOWED_HOSTS=["*"]
            ),
        ):
            for path in write_outputs(args.out, scale=args.scale, pdf=not args.skip_pdf):
                print(f"{path}  {path.stat().st_size:,} byte")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
