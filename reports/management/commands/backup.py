"""manage.py backup <file>: the database and the stored files in one archive (see _backup.py).

    manage.py backup /var/backups/ciclo/ciclo-$(date +%F).tar

PostgreSQL with pg_dump (custom format; the client of the server's version must be installed),
SQLite with its online backup API: both while the site runs. Restore with ``manage.py restore``.
Every frozen version of the Relazione is verified first: a version that does not match its
digests stops the backup (non-zero exit, the version and the file named). The archive is 0600.
"""

from pathlib import Path

from django.core.management.base import BaseCommand

from reports.management.commands import _backup


class Command(BaseCommand):
    help = (
        "Salva il database e i file archiviati (PDF, versioni pubblicate) in un unico archivio "
        ".tar, con le impronte per verificare il ripristino."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="file dell'archivio da creare, es. ciclo-2020-06-30.tar")

    def handle(self, *args, path: str, **options):
        def log(message: str) -> None:
            if options["verbosity"] > 0:
                self.stdout.write(message)

        manifest = _backup.backup(Path(path), log=log)
        integrity = manifest["integrity"]
        size = Path(path).stat().st_size
        self.stdout.write(
            self.style.SUCCESS(
                f"Backup completato: {path} ({size / 1024 / 1024:.1f} MB; database "
                f"{manifest['database']['vendor']}, {len(manifest['media'])} file archiviati, "
                f"{len(integrity['versions'])} versioni pubblicate, {len(integrity['pdfs'])} PDF, "
                f"{len(integrity['scores'])} cicli)."
            )
        )
