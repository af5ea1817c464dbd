"""Write the sample import files of docs/import-format.md (docs/samples/), reproducibly.

The samples refer to the structure of the 2019 cycle (units, positions, strategic objectives,
periods): the plan sample adds a few objectives to it, the values sample records their values
(import the plan first).
"""

import datetime as dt
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from performance.services import imports

_DIGITAL = "Esempio – Digitalizzazione dei servizi al pubblico"

PLAN_SAMPLE: list[dict] = [
    {
        "tipo_obiettivo": "operativo",
        "obiettivo_strategico_codice": "1.5",
        "obiettivo_titolo": _DIGITAL,
        "indicatore_nome": "Pratiche telematiche evase entro 5 giorni",
        "unita_misura": "%",
        "direzione": "più alto",
        "baseline_valore": Decimal("78.5"),
        "baseline_anno": 2018,
        "baseline_testo": "78,5% nel 2018",
        "fonte": "Priamo",
        "unita": "registro-imprese",
        "ufficio": "ufficio-sportello",
        "target_testo": "≥ 80%",
        "regola": "almeno",
        "soglia": Decimal(80),
        "note": "Riga di esempio: soglia minima",
    },
    {
        "tipo_obiettivo": "operativo",
        "obiettivo_strategico_codice": "1.5",
        "obiettivo_titolo": _DIGITAL,
        "indicatore_nome": "Tempo medio di evasione delle pratiche",
        "unita_misura": "giorni",
        "direzione": "più basso",
        "unita": "registro-imprese",
        "target_testo": "≤ 5 giorni",
        "regola": "al_massimo",
        "soglia": Decimal(5),
    },
    {
        "tipo_obiettivo": "operativo",
        "obiettivo_strategico_codice": "1.5",
        "obiettivo_titolo": _DIGITAL,
        "indicatore_nome": "Attivazione dello sportello virtuale",
        "unita_misura": "data",
        "unita": "regolazione-mercato",
        "target_testo": "entro il 31.05.2019",
        "regola": "scadenza",
        "data_scadenza": dt.date(2019, 5, 31),
    },
    {
        "tipo_obiettivo": "operativo",
        "obiettivo_strategico_codice": "1.5",
        "obiettivo_titolo": _DIGITAL,
        "indicatore_nome": "Addetti formati sui servizi digitali",
        "unita_misura": "n.",
        "unita": "",
        "target_testo": "almeno 1 addetto per ufficio (14 uffici)",
        "regola": "k_su_n",
        "n": 14,
    },
    {
        "tipo_obiettivo": "operativo",
        "obiettivo_strategico_codice": "1.5",
        "obiettivo_titolo": _DIGITAL,
        "indicatore_nome": "Pratiche presentate online",
        "unita_misura": "%",
        "unita": "promozione",
        "target_testo": "minimo 50%, obiettivo 70%",
        "regola": "soglie",
        "minimo": Decimal(50),
        "obiettivo": Decimal(70),
        "punteggio_minimo": Decimal(50),
    },
    {
        "tipo_obiettivo": "operativo",
        "obiettivo_strategico_codice": "1.5",
        "obiettivo_titolo": "Esempio – Qualità percepita dei servizi",
        "indicatore_nome": "Soddisfazione degli utenti",
        "unita_misura": "punti (scala 1-5)",
        "unita": "registro-imprese",
        "target_testo": "≥ 4,2 (su scala da 1 a 5)",
        "regola": "scala",
        "soglia": Decimal("4.2"),
        "scala_min": 1,
        "scala_max": 5,
    },
    {
        "tipo_obiettivo": "operativo",
        "obiettivo_strategico_codice": "2.1",
        "obiettivo_titolo": "Esempio – Riduzione del lavoro straordinario",
        "indicatore_nome": "Ore di lavoro straordinario",
        "unita_misura": "ore",
        "direzione": "più basso",
        "baseline_valore": 1200,
        "baseline_anno": 2018,
        "unita": "risorse-patrimonio",
        "target_testo": "riduzione del 10% rispetto al 2018",
        "regola": "variazione",
        "variazione_pct": Decimal(-10),
        "valore_partenza": 1200,
    },
    {
        "tipo_obiettivo": "strategico",
        "prospettiva_codice": "2",
        "obiettivo_strategico_codice": "2.2",
        "obiettivo_strategico_titolo": "Esempio – Valorizzare i dati camerali",
        "obiettivo_titolo": "Esempio – Pubblicazione di dati aperti",
        "indicatore_nome": "Dataset pubblicati",
        "unita": "",
        "target_testo": "almeno 3 dataset, il primo entro giugno",
        "regola": "piu_parti",
        "parti_regole": "almeno; scadenza",
        "soglia": "3; ",
        "data_scadenza": "; 30/06/2019",
        "parti_etichette": "3 dataset; il primo entro giugno",
        "parti_combinazione": "media",
    },
    {
        "tipo_obiettivo": "individuale",
        "posizione": "po-registro-imprese",
        "obiettivo_strategico_codice": "1.5",
        "obiettivo_titolo": "Esempio – Revisione delle procedure interne",
        "indicatore_nome": "Manuale delle procedure aggiornato",
        "target_testo": "Realizzazione",
        "regola": "realizzazione",
    },
]

VALUES_SAMPLE: list[dict] = [
    {
        "periodo": "consuntivo",
        "valore": "82,7%",
        "nota": "Dato estratto il 10/01/2020",
        "fonte": "Priamo",
    },
    {"periodo": "consuntivo", "valore": "4,6"},
    {"periodo": "consuntivo", "valore": "18/03/2019", "nota": "Servizio attivato il 18.3.2019"},
    {"periodo": "consuntivo", "valore": "13 su 14", "valore_testo": "13 uffici su 14"},
    {
        "periodo": "consuntivo",
        "valore": "65",
        "rettifica_pct": "90",
        "rettifica_motivazione": "Esempio di rettifica motivata: dato definitivo comunicato dopo",
    },
    {"periodo": "consuntivo", "valore": "4,4"},
    {"periodo": "consuntivo", "valore": "1.050", "nota": "Ore al 31.12.2019"},
    {"periodo": "consuntivo", "valore": "3; 14/06/2019", "valore_testo": "3 dataset"},
    {"periodo": "consuntivo", "valore": "sì"},
]
# The values sample names each target by its columns (no codice_target: the plan sample's
# targets get their codes when imported).
_KEY_COLUMNS = (
    "tipo_obiettivo",
    "posizione",
    "obiettivo_strategico_codice",
    "obiettivo_titolo",
    "indicatore_nome",
    "unita",
    "target_testo",
)
_VALUE_SAMPLE_COLUMNS = [
    c
    for c in imports.VALUE_COLUMNS
    if c not in ("codice_target", "ripetizione", "data_rilevazione")
]


def sample_tables() -> dict[str, tuple[list[str], list[dict]]]:
    """name -> (columns, rows) of the two samples."""
    plan_columns = [c for c in imports.PLAN_COLUMNS if not c.startswith("codice_")]
    values_rows = [
        {**{c: plan.get(c, "") for c in _KEY_COLUMNS}, **values}
        for plan, values in zip(PLAN_SAMPLE, VALUES_SAMPLE, strict=True)
    ]
    for plan, row in zip(PLAN_SAMPLE, values_rows, strict=True):
        kind = imports.rule_kind(plan["regola"])
        parts = [{"kind": imports.rule_kind(p)} for p in plan.get("parti_regole", "").split(";")]
        row["formato_valore"] = imports.value_hint({"kind": kind, "parts": parts})
    return {
        "piano-esempio": (plan_columns, PLAN_SAMPLE),
        "valori-esempio": (_VALUE_SAMPLE_COLUMNS, values_rows),
    }


def write_samples(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (columns, rows) in sample_tables().items():
        for fmt in imports.FORMATS:
            target = folder / f"{name}.{fmt}"
            title = "Piano esempio" if name.startswith("piano") else "Valori esempio"
            target.write_bytes(
                imports.render_table(columns=columns, rows=rows, fmt=fmt, title=title)
            )
            written.append(target)
    return written


class Command(BaseCommand):
    help = "Scrive i file di esempio delle importazioni (docs/samples/)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--output",
            default=str(Path(settings.BASE_DIR) / "docs" / "samples"),
            help="cartella di destinazione (predefinita: docs/samples)",
        )

    def handle(self, *args, output, **options):
        for path in write_samples(Path(output)):
            self.stdout.write(f"Scritto {path}")
