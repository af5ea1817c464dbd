import json

from django.core.management.base import BaseCommand, CommandError

from performance import scoring
from performance.selectors import cycle_get, cycle_score, unit_subtree


class Command(BaseCommand):
    help = (
        "Calcola l'albero della performance di un anno e lo stampa con le formule "
        "(--json per la forma leggibile da programmi)."
    )

    def add_arguments(self, parser):
        parser.add_argument("year", type=int, help="anno del ciclo, es. 2019")
        parser.add_argument("--json", action="store_true", dest="as_json", help="stampa in JSON")
        parser.add_argument("--unit", help="solo un'unità organizzativa (nome o codice)")
        parser.add_argument(
            "--no-rows", action="store_true", help="senza le righe dei singoli target"
        )

    def handle(self, *args, year, as_json: bool, unit, no_rows, **options):
        try:
            cycle = cycle_get(year=year)
        except Exception as error:  # DoesNotExist / MultipleObjectsReturned
            raise CommandError(f"Nessun ciclo unico per l'anno {year}.") from error
        score = cycle_score(cycle=cycle)
        if unit:
            node = unit_subtree(score=score, name_or_key=unit)
            if node is None:
                raise CommandError(f"Unità «{unit}» non trovata (o il nome è ambiguo).")
            if as_json:
                self._json(scoring.node_to_dict(node, with_rows=not no_rows))
            else:
                self._tree(node, 0, not no_rows)
            return
        if as_json:
            self._json(scoring.cycle_to_dict(score, with_rows=not no_rows))
            return
        self._text(score, not no_rows)

    def _json(self, data) -> None:
        self.stdout.write(json_dumps(data))

    def _text(self, score: scoring.CycleScore, rows: bool) -> None:
        out = self.stdout
        out.write(self.style.MIGRATE_HEADING(f"Ciclo {score.year} – {score.name}"))
        for title, tree in (
            ("PERFORMANCE STRATEGICA", score.strategic),
            ("OBIETTIVI OPERATIVI DELL'ENTE", score.operational),
            ("UNITÀ ORGANIZZATIVE", score.units),
        ):
            out.write("")
            out.write(self.style.MIGRATE_HEADING(title))
            if tree is not None:
                self._tree(tree, 0, rows)
        out.write("")
        out.write(self.style.MIGRATE_HEADING("OBIETTIVI INDIVIDUALI"))
        for position in score.individual:
            self._tree(position, 0, rows)
        out.write("")
        counts = score.counts
        out.write(
            f"Obiettivi strategici: {counts['strategic:total']}, di cui raggiunti al 100%: "
            f"{counts['strategic:full']}; obiettivi operativi: {counts['operational:total']}, "
            f"di cui raggiunti al 100%: {counts['operational:full']}."
        )
        overrides = score.overrides()
        if overrides:
            out.write("")
            out.write(self.style.MIGRATE_HEADING(f"RETTIFICHE MANUALI ({len(overrides)})"))
            for row in overrides:
                out.write(f"  {row.label}: {row.formula}")
        out.write("")
        discrepancies = score.discrepancies
        out.write(self.style.MIGRATE_HEADING(f"INCONGRUENZE CON LA FONTE ({len(discrepancies)})"))
        for check in discrepancies:
            out.write(self.style.WARNING(f"  {check.message}"))

    def _tree(self, node: scoring.NodeResult, depth: int, rows: bool) -> None:
        pad = "  " * depth
        code = f"{node.code} " if node.code else ""
        self.stdout.write(
            f"{pad}{code}{node.name}: {scoring.fmt_pct(node.achievement)}  [{node.formula}]"
        )
        for exclusion in node.excluded if not rows else []:
            self.stdout.write(f"{pad}  escluso: {exclusion.label} – {exclusion.reason}")
        for child in node.children:
            self._tree(child, depth + 1, rows)
        if rows:
            for row in node.rows:
                marker = " [rettifica]" if row.override else ""
                self.stdout.write(
                    f"{pad}  · {row.label}: {scoring.fmt_pct(row.achievement)}{marker}"
                    f"  [{row.formula}]"
                )


def json_dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)
