"""manage.py restore <file>: put back the database and the stored files of a backup archive,
then check that every published version, stored PDF and computed tree is identical (same
digests as when the backup was made) and that every frozen version still matches the digests
recorded at its validation (a backup taken after a version was tampered with is not
"verificato"). See _backup.py.

Stop the application servers and the PDF worker first: the restore replaces the data under them.
"""

from pathlib import Path
from tempfile import TemporaryDirectory

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from reports.management.commands import _backup


class Command(BaseCommand):
    help = (
        "Ripristina database e file archiviati da un archivio di «backup» e verifica che versioni "
        "pubblicate, PDF e alberi calcolati siano identici a quelli salvati."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="archivio creato da manage.py backup")
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="non chiedere conferma",
        )

    def handle(self, *args, path: str, interactive: bool, **options):
        source = Path(path)
        if not source.is_file():
            raise CommandError(f"Archivio non trovato: {path}")

        def log(message: str) -> None:
            if options["verbosity"] > 0:
                self.stdout.write(message)

        work_parent = Path(settings.MEDIA_ROOT).resolve().parent
        work_parent.mkdir(parents=True, exist_ok=True)
        with TemporaryDirectory(prefix="ciclo-restore-", dir=work_parent) as work:
            log("Verifica dell'archivio…")
            manifest = _backup.extract_and_verify(source, Path(work))
            if interactive:
                answer = input(
                    f"Il database e i file archiviati saranno sostituiti con quelli del backup "
                    f"del {manifest['created_at']}. Continuare? [sì/no] "
                )
                if answer.strip().lower() not in ("si", "sì", "s", "yes", "y"):
                    raise CommandError("Ripristino annullato: nulla è stato modificato.")
            _backup.restore_database(manifest, Path(work), log=log)
            _backup.restore_media(manifest, Path(work), log=log)

        if _backup.applied_migrations() != manifest["migrations"]:
            self.stderr.write(
                "Attenzione: le migrazioni del backup sono diverse da quelle dell'applicazione "
                "installata: eseguire «manage.py migrate» (o ripristinare con la stessa versione)."
            )
        log("Verifica delle impronte…")
        problems = _backup.integrity_differences(manifest["integrity"], _backup.integrity_digests())
        log("Verifica delle versioni congelate (impronte registrate alla validazione)…")
        problems += [f"versione non integra: {p}" for p in _backup.versions_problems()]
        if problems:
            raise CommandError(
                "Ripristino completato ma la verifica non è riuscita:\n- " + "\n- ".join(problems)
            )
        integrity = manifest["integrity"]
        self.stdout.write(
            self.style.SUCCESS(
                f"Ripristino completato e verificato: {len(integrity['versions'])} versioni "
                f"pubblicate, {len(integrity['pdfs'])} PDF e {len(integrity['scores'])} alberi "
                "calcolati identici al backup; le versioni corrispondono alle impronte della "
                "validazione."
            )
        )
