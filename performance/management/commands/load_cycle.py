from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from performance.dataset import read_dataset
from performance.services import cycle_load


class Command(BaseCommand):
    help = "Carica un ciclo della performance da un file YAML (docs/dataset-format.md)."

    def add_arguments(self, parser):
        parser.add_argument("path", help="file YAML del ciclo, es. fixtures/cycle-2019.yaml")
        parser.add_argument(
            "--replace", action="store_true", help="sostituisce il ciclo dello stesso anno"
        )

    def handle(self, *args, path, replace, **options):
        try:
            data = read_dataset(path)
        except (OSError, ValueError) as error:
            raise CommandError(str(error)) from error
        try:
            cycle = cycle_load(data=data, replace=replace)
        except ValidationError as error:
            lines = "\n".join(f"  - {message}" for message in error.messages)
            raise CommandError(f"Il file non è stato caricato:\n{lines}") from error
        self.stdout.write(self.style.SUCCESS(f"Caricato il ciclo {cycle}."))
