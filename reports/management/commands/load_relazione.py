from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from organization.models import Cycle
from performance.dataset import read_dataset
from reports.relazione.services import relazione_load


class Command(BaseCommand):
    help = (
        "Carica i testi e le tabelle di contesto della Relazione sulla performance di un ciclo da "
        "un file YAML (formato: intestazione di fixtures/relazione-2019.yaml)."
    )

    def add_arguments(self, parser):
        parser.add_argument("year", type=int, help="anno del ciclo, es. 2019")
        parser.add_argument("path", help="file YAML, es. fixtures/relazione-2019.yaml")
        parser.add_argument(
            "--replace", action="store_true", help="sostituisce la Relazione già presente"
        )

    def handle(self, *args, year, path, replace, **options):
        cycles = list(Cycle.objects.filter(year=year).select_related("organization"))
        if not cycles:
            raise CommandError(f"Non esiste un ciclo {year}: caricarlo prima con load_cycle.")
        if len(cycles) > 1:
            names = ", ".join(str(cycle.organization) for cycle in cycles)
            raise CommandError(f"Più enti hanno un ciclo {year} ({names}): caso non gestito.")
        try:
            data = read_dataset(path)
        except (OSError, ValueError) as error:
            raise CommandError(str(error)) from error
        try:
            relazione = relazione_load(cycle=cycles[0], data=data, replace=replace)
        except ValidationError as error:
            lines = "\n".join(f"  - {message}" for message in error.messages)
            raise CommandError(f"Il file non è stato caricato:\n{lines}") from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Caricata «{relazione.title}» ({relazione.sections.count()} sezioni, "
                f"{relazione.context_tables.count()} tabelle)."
            )
        )
