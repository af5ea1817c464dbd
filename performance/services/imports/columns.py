"""The two formats' columns and vocabularies: the plan and values columns with their
descriptions, the readable names of rules, objective kinds, statuses and directions, and
how a header or a rule name is read (`column_key`, `rule_kind`)."""

from __future__ import annotations

import re
import unicodedata

from performance.models import Indicator, Objective, Target
from performance.rules import PARAMETER_COLUMNS, RULES

# ------------------------------------------------------------------------------------ columns

PLAN_COLUMNS: dict[str, str] = {
    "codice_target": "codice del target (dall'esportazione; vuoto per un nuovo target)",
    "codice_obiettivo": "codice dell'obiettivo (dall'esportazione; facoltativo)",
    "codice_indicatore": "codice dell'indicatore (dall'esportazione; facoltativo)",
    "tipo_obiettivo": "strategico, operativo o individuale",
    "posizione": "codice della posizione (solo obiettivi individuali)",
    "prospettiva_codice": "codice della prospettiva (per creare un obiettivo strategico)",
    "prospettiva_nome": "nome della prospettiva (per crearla)",
    "obiettivo_strategico_codice": "codice dell'obiettivo strategico (es. 1.1)",
    "obiettivo_strategico_titolo": "titolo dell'obiettivo strategico (per crearlo)",
    "obiettivo_titolo": "titolo dell'obiettivo",
    "obiettivo_peso": "peso dell'obiettivo (vuoto: 1)",
    "obiettivo_stato": "attivo o neutralizzato",
    "motivo_neutralizzazione": "motivo della neutralizzazione",
    "neutralizzato_con": "codice del documento che neutralizza l'obiettivo",
    "indicatore_nome": "nome dell'indicatore",
    "unita_misura": "unità di misura (n., %, data, giorni...)",
    "direzione": "più alto o più basso (è meglio)",
    "baseline_valore": "valore di partenza dell'indicatore",
    "baseline_anno": "anno del valore di partenza",
    "baseline_testo": "valore di partenza come scritto",
    "fonte": "fonte del dato",
    "indicatore_note": "note dell'indicatore",
    "unita": "codice dell'unità organizzativa (vuoto: Ente)",
    "ufficio": "codice dell'ufficio che realizza l'attività",
    "target_testo": "target come approvato",
    "regola": "tipo di regola di calcolo",
    "soglia": "soglia (almeno, al_massimo, scala)",
    "data_scadenza": "scadenza gg/mm/aaaa (scadenza)",
    "variazione_pct": "variazione richiesta in % (variazione)",
    "valore_partenza": "valore di partenza della variazione (variazione)",
    "scala_min": "minimo della scala (scala; vuoto: 1)",
    "scala_max": "massimo della scala (scala; vuoto: 5)",
    "n": "totale n (k_su_n)",
    "minimo": "valore minimo (soglie)",
    "obiettivo": "valore obiettivo (soglie)",
    "punteggio_minimo": "punteggio al minimo (soglie; vuoto: 0)",
    "parti_regole": "regole delle parti separate da ; (piu_parti)",
    "parti_etichette": "etichette delle parti separate da ; (piu_parti)",
    "parti_combinazione": "media o minimo (piu_parti; vuoto: media)",
    "stato": "misurato o escluso",
    "motivo_esclusione": "motivo dell'esclusione",
    "riga_ripetuta": "sì se la riga ripete un'altra riga del documento",
    "peso": "peso del target (vuoto: 1)",
    "testo_originario": "testo del target prima della revisione",
    "rivisto_con": "codice del documento che ha rivisto il target",
    "nota_pie_pagina": "nota a piè di pagina",
    "note": "note del target",
    "percentuale_pubblicata": "percentuale stampata nel documento di origine",
}

VALUE_COLUMNS: dict[str, str] = {
    "codice_target": "codice del target (dall'esportazione del piano o dei valori)",
    "periodo": "codice del periodo di misurazione",
    "tipo_obiettivo": "per riconoscere il target senza codice",
    "posizione": "per riconoscere il target senza codice",
    "obiettivo_strategico_codice": "per riconoscere il target senza codice",
    "obiettivo_titolo": "per riconoscere il target senza codice",
    "indicatore_nome": "per riconoscere il target senza codice",
    "unita": "per riconoscere il target senza codice (vuoto: Ente)",
    "target_testo": "per riconoscere il target senza codice",
    "ripetizione": "1, 2... solo se più target hanno le stesse colonne qui sopra",
    "formato_valore": "come scrivere il valore (solo informativo, ignorato)",
    "valore": "valore rilevato come si scrive: 4,6 – 82,7% – 18/03/2019 – sì – 13 su 14",
    "valore_testo": "valore come scritto nel documento",
    "nota": "nota",
    "fonte": "fonte del dato",
    "data_rilevazione": "data di rilevazione gg/mm/aaaa",
    "rettifica_pct": "percentuale rettificata (0–100)",
    "rettifica_motivazione": "motivazione della rettifica (obbligatoria con la rettifica)",
}

# each rule kind's name in the files and the other names read (its module in performance/rules/)
RULE_NAMES = {kind: rule.import_name for kind, rule in RULES.items()}
_RULE_ALIASES = {
    **{kind: kind for kind in RULES},
    **{name: kind for kind, name in RULE_NAMES.items()},
    **{alias: kind for kind, rule in RULES.items() for alias in rule.aliases},
}
# the rules' parameters, in the order of PLAN_COLUMNS
_RULE_PARAMETERS = tuple(column for column in PLAN_COLUMNS if column in PARAMETER_COLUMNS)
_OBJECTIVE_KINDS = {
    "strategico": Objective.Kind.STRATEGIC,
    "strategic": Objective.Kind.STRATEGIC,
    "operativo": Objective.Kind.OPERATIONAL,
    "operational": Objective.Kind.OPERATIONAL,
    "individuale": Objective.Kind.INDIVIDUAL,
    "individual": Objective.Kind.INDIVIDUAL,
}
_OBJECTIVE_KIND_NAMES = {
    Objective.Kind.STRATEGIC: "strategico",
    Objective.Kind.OPERATIONAL: "operativo",
    Objective.Kind.INDIVIDUAL: "individuale",
}
_OBJECTIVE_STATUSES = {
    "attivo": Objective.Status.ACTIVE,
    "active": Objective.Status.ACTIVE,
    "neutralizzato": Objective.Status.NEUTRALIZED,
    "neutralized": Objective.Status.NEUTRALIZED,
}
_TARGET_STATUSES = {
    "misurato": Target.Status.ACTIVE,
    "attivo": Target.Status.ACTIVE,
    "active": Target.Status.ACTIVE,
    "escluso": Target.Status.EXCLUDED,
    "excluded": Target.Status.EXCLUDED,
}
_DIRECTIONS = {
    "piu_alto": Indicator.Direction.HIGHER,
    "piu_alto_e_meglio": Indicator.Direction.HIGHER,
    "alto": Indicator.Direction.HIGHER,
    "crescente": Indicator.Direction.HIGHER,
    "higher": Indicator.Direction.HIGHER,
    "piu_basso": Indicator.Direction.LOWER,
    "piu_basso_e_meglio": Indicator.Direction.LOWER,
    "basso": Indicator.Direction.LOWER,
    "decrescente": Indicator.Direction.LOWER,
    "lower": Indicator.Direction.LOWER,
}
_COMBINE = {"media": "mean", "mean": "mean", "minimo": "min", "min": "min"}
_PLAN_ORDER = (
    "indicator__objective__order",
    "indicator__objective_id",
    "indicator__order",
    "indicator_id",
    "order",
    "id",
)


def column_key(text: str) -> str:
    """A header as a column key: "Unità" -> "unita", "Codice target" -> "codice_target"."""
    text = unicodedata.normalize("NFKD", str(text))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def rule_kind(text: str) -> str | None:
    """The rule kind of a readable name ("scadenza", "più parti", "at_least"), None if unknown."""
    return _RULE_ALIASES.get(column_key(text))
