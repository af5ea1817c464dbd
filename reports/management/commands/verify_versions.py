"""manage.py verify_versions: recompute every digest of every frozen version of the Relazione
(reports.workflow.integrity.verify: the HTML, the computed tree, the documento di validazione, the
open
data and the two PDFs) and remove the orphan files of the versions folders
(reports.workflow.version_storage.orphans_clean: files no version refers to, older than a few
minutes,
left by an interrupted validation). For cron (docs/deploy.md), e.g. every hour:

    manage.py verify_versions --verbosity 0

Exit status 0 when every version matches; otherwise a CommandError (status 1) naming each
version and file that does not match, each also logged at ERROR level.
"""

from __future__ import annotations

import logging

from django.core.management.base import BaseCommand, CommandError

from reports.models.workflow import RelazioneVersion
from reports.workflow import integrity, version_storage

logger = logging.getLogger("reports.workflow.integrity")


class Command(BaseCommand):
    help = (
        "Verifica le impronte SHA-256 di tutte le versioni congelate della Relazione (documento, "
        "albero calcolato, dati aperti, PDF, documento di validazione) e rimuove i file orfani "
        "lasciati da una validazione interrotta."
    )

    def add_arguments(self, parser):
        parser.add_argument("--year", type=int, help="solo le versioni di quest'anno")
        parser.add_argument(
            "--keep-orphans", action="store_true", help="non rimuovere i file orfani"
        )

    def handle(self, *args, year: int | None = None, keep_orphans: bool = False, **options):
        def say(message: str) -> None:
            if options["verbosity"] > 0:
                self.stdout.write(message)

        if not keep_orphans:
            removed, completed = version_storage.orphans_clean(year=year)
            for name in completed:
                say(f"File spostato al suo nome dopo una validazione interrotta: {name}")
            for name in removed:
                say(f"File orfano rimosso (nessuna versione lo usa): {name}")

        versions = RelazioneVersion.objects.select_related("cycle")
        versions = versions.order_by("cycle__year", "number")
        if year is not None:
            versions = versions.filter(cycle__year=year)
        problems: list[str] = []
        count = 0
        for version in versions.iterator(chunk_size=20):
            count += 1
            result = integrity.verify(version=version)
            if result.ok:
                say(f"Relazione {version.cycle.year}, versione {version.number}: integra.")
                continue
            for problem in result.problems:
                logger.error("Frozen version failed verification (verify_versions): %s", problem)
            problems += result.problems
        if problems:
            raise CommandError(
                "Versioni non integre:\n- "
                + "\n- ".join(problems)
                + "\nRipristinare i file o i dati dal backup (manage.py restore)."
            )
        self.stdout.write(self.style.SUCCESS(f"Versioni verificate: {count}, tutte integre."))
