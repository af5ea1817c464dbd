"""The worker of the Relazione's PDFs (reports.relazione.pdf_jobs).

manage.py render_pdfs                 # render the pending jobs, then exit (cron: every minute)
manage.py render_pdfs --published     # first queue a new version of every published cycle
                                      # whose content changed (a digest not rendered yet)
manage.py render_pdfs --watch 5       # keep running: look for pending jobs every 5 s
manage.py render_pdfs --year 2019     # render the 2019 PDF now (any status), synchronously
"""

import time

from django.core.management.base import BaseCommand, CommandError

from organization.models import Cycle
from reports.models.pdf import RelazionePdf
from reports.relazione import pdf
from reports.relazione import pdf_jobs as services_pdf
from reports.relazione import selectors as report_selectors


class Command(BaseCommand):
    help = (
        "Genera i PDF della Relazione sulla performance in attesa (il processo di lavoro in "
        "background); con --year genera subito quello di un anno."
    )

    def add_arguments(self, parser):
        parser.add_argument("--year", type=int, help="genera ora il PDF di questo anno")
        parser.add_argument(
            "--published",
            action="store_true",
            help="accoda i cicli pubblicati i cui contenuti sono cambiati dall'ultimo PDF",
        )
        parser.add_argument(
            "--watch",
            type=float,
            metavar="SECONDI",
            help="non termina: controlla le richieste in attesa ogni SECONDI secondi",
        )

    def handle(self, *args, year=None, published=False, watch=None, **options):
        if year is not None:
            self._year(year)
            return
        if published:
            for cycle in report_selectors.published_cycles():
                job = services_pdf.pdf_request(cycle=cycle, background=False)
                self.stdout.write(f"{cycle.year}: {job.get_status_display().lower()} ({job.pk})")
        while True:
            done = self._pending()
            if watch is None:
                if not done:
                    self.stdout.write("Nessun PDF in attesa.")
                return
            time.sleep(max(watch, 0.5))

    def _pending(self) -> int:
        jobs = services_pdf.pdf_pending()
        for job in jobs:
            self._render(job)
        return len(jobs)

    def _year(self, year: int) -> None:
        cycles = list(Cycle.objects.filter(year=year).select_related("organization"))
        if not cycles:
            raise CommandError(f"Non esiste un ciclo {year}.")
        if len(cycles) > 1:
            raise CommandError(f"Più enti hanno un ciclo {year}: caso non gestito.")
        cycle = cycles[0]
        source = pdf.relazione_source(cycle=cycle)
        job = services_pdf.pdf_request(cycle=cycle, source=source, background=False)
        if job.status == RelazionePdf.Status.DONE:
            self.stdout.write(
                f"Il PDF {year} di questa versione è già pronto: {job.file.name} "
                f"({job.pages} pagine, {job.size:,} byte)."
            )
            return
        self._render(job, source=source)

    def _render(self, job: RelazionePdf, source=None) -> None:
        year = job.cycle.year
        self.stdout.write(f"{year}: generazione del PDF {job.pk}…")
        start = time.perf_counter()
        job = services_pdf.pdf_render(job=job, source=source)
        seconds = time.perf_counter() - start
        if job.status == RelazionePdf.Status.DONE:
            self.stdout.write(
                self.style.SUCCESS(
                    f"{year}: PDF pronto in {seconds:.1f} s: {job.file.name} "
                    f"({job.pages} pagine, {job.size:,} byte)."
                )
            )
        elif job.status == RelazionePdf.Status.FAILED:
            self.stderr.write(f"{year}: PDF {job.pk} non riuscito: {job.error}")
        else:
            self.stdout.write(f"{year}: PDF {job.pk} in elaborazione da un altro processo.")
