"""The Relazione's narrative and context tables: the 2019 transcription, its loader, the Markdown
rendering with the engine's figures, and the staff editing pages (access, preview, optimistic
locking, history)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from performance.dataset import read_dataset
from reports.models import ContextTable, Relazione, Section
from reports.relazione import selectors
from reports.relazione.rendering import render_section, substitute_figures
from reports.relazione.services import (
    StaleEditError,
    context_table_update,
    relazione_load,
    relazione_update,
    section_update,
)

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "fixtures" / "relazione-2019.yaml"
REFERENCE = ROOT.parent / "shared" / "reference" / "relazione-performance-2019-cciaa-pavia.txt"


@pytest.fixture(scope="module")
def relazione_data() -> dict:
    return read_dataset(DATASET)


@pytest.fixture
def relazione(cycle_2019, relazione_data) -> Relazione:
    return relazione_load(cycle=cycle_2019, data=relazione_data)


def section(relazione: Relazione, key: str) -> Section:
    return relazione.sections.get(key=key)


def table(relazione: Relazione, key: str) -> ContextTable:
    return relazione.context_tables.get(key=key)


def nothing_written() -> bool:
    return (
        not Relazione.objects.exists()
        and not Section.objects.exists()
        and not ContextTable.objects.exists()
        and not Relazione.history.exists()
        and not Section.history.exists()
        and not ContextTable.history.exists()
    )


# -------------------------------------------------------------------- the 2019 transcription


def test_2019_dataset_has_one_section_per_key(relazione_data):
    keys = [item["key"] for item in relazione_data["sections"]]
    assert keys == list(Section.Key.values)  # every key, once, in the document's order


def test_loading_2019_creates_every_section_with_its_text(relazione):
    sections = list(relazione.sections.all())
    assert len(sections) == len(Section.Key.values) == 14
    assert [s.key for s in sections] == list(Section.Key.values)
    assert all(s.body.strip() for s in sections)
    titles = {s.key: s.title for s in sections}
    assert titles["premessa"] == "Premessa"
    assert titles["organico"] == "Organizzazione e Risorse umane"
    assert titles["criticita-opportunita"] == "Le criticità e le opportunità"


def test_loading_2019_front_matter(relazione):
    assert relazione.title == "La Relazione sulla performance 2019"
    assert (
        relazione.subtitle == "Allegato alla deliberazione di Giunta Camerale n. … del 29.07.2020"
    )
    assert relazione.signatories == [
        {"role": "Il Segretario Generale", "name": "Luigi Boldrin"},
        {"role": "Il Presidente", "name": "Franco Bosi"},
    ]
    assert relazione.approval_document.key == "relazione"


def test_loading_2019_context_tables_are_consistent(relazione):
    tables = list(relazione.context_tables.all())
    assert [t.key for t in tables] == ["numeri-territorio", "organico"]
    for item in tables:
        assert item.columns and all(item.columns)
        assert all(len(row) == len(item.columns) for row in item.rows), item.key
        assert all(isinstance(cell, str) for row in item.rows for cell in row)

    numbers = table(relazione, "numeri-territorio")
    assert numbers.title == "I numeri della circoscrizione territoriale di Pavia"
    assert numbers.section_key == "contesto-economico"
    assert numbers.columns == ["Voce", "Valore", "Riferimento"]
    assert len(numbers.rows) == 17
    assert numbers.rows[0] == ["Comuni", "186", ""]
    assert ["Imprese registrate", "46.581", "(dicembre 2019)"] in numbers.rows

    staff = table(relazione, "organico")
    assert staff.section_key == "organico"
    assert len(staff.columns) == 4
    assert staff.columns[0] == "CATEGORIE/PROFILI PROFESSIONALI"
    assert staff.rows[-1] == ["TOTALE AL 31.12.2019", "82", "41 + SG", "44 + S.G."]
    assert [note[0] for note in staff.footnotes] == ["¹", "²", "³"]
    assert sum(int(row[1]) for row in staff.rows[1:-1]) == 82  # dotazione organica


def test_narrative_leaves_the_computed_figures_to_the_engine(relazione):
    bodies = "\n".join(relazione.sections.values_list("body", flat=True))
    for figure in (
        "Obiettivi Strategici n. 19",
        "Obiettivi Operativi n. 51",
        "N. 16 raggiunti",
        "N. 43 raggiunti",
        "99,90%",
        "85,07%",
        "96,77%",
        "PERFORMANCE DI ENTE",
    ):
        assert figure not in bodies, figure
    criticita = section(relazione, "criticita-opportunita").body
    assert "98%" not in criticita and "93%" not in criticita
    assert "nella misura complessiva del {{strategici}} per gli obiettivi strategici" in criticita
    assert "nella misura del {{operativi}} per gli obiettivi operativi" in criticita
    risultati = section(relazione, "risultati").body
    assert risultati.startswith("Si riportano i dati sintetici")


def test_narrative_keeps_bold_and_renders_tables(relazione):
    premessa = section(relazione, "premessa")
    assert "**Metodo Balanced Scorecard (BSC)**" in premessa.body
    assert "<strong>Metodo Balanced Scorecard (BSC)</strong>" in render_section(premessa, {})

    normativo = str(render_section(section(relazione, "contesto-normativo"), {}))
    assert normativo.count("<table>") == 1
    assert "<strong>Semplificazione e Trasparenza</strong>" in normativo
    assert "Gestione Punti Impresa Digitale<br>Servizi connessi all'Agenda digitale" in normativo

    organico = str(render_section(section(relazione, "organico"), {}))
    assert organico.count("<li>") == 3  # genere, scolarizzazione, età
    assert "❖" not in organico

    forza = str(render_section(section(relazione, "punti-forza-debolezza"), {}))
    assert "<th>PUNTI DI FORZA</th>" in forza and "<th>PUNTI DI DEBOLEZZA</th>" in forza
    assert "Programma pluriennale di mandato 2015-2019<br>" in forza  # documents of the cycle

    piano = str(render_section(section(relazione, "piano-miglioramento"), {}))
    assert "<th>Oggetto</th>" in piano and "<th>Piano di miglioramento</th>" in piano
    assert "<h4>Miglioramenti avviati con il ciclo delle performance 2020</h4>" in piano


@pytest.mark.skipif(not REFERENCE.exists(), reason="documento di riferimento non disponibile")
def test_narrative_paragraphs_are_copied_from_the_document(relazione_data):
    flat = " ".join(REFERENCE.read_text(encoding="utf-8").split())
    missing = []
    for item in relazione_data["sections"]:
        for line in item["body"].splitlines():
            text = line[2:] if line.startswith("- ") else line
            if not text or text[0] in "|#*" or "<br>" in text or "{{" in text:
                continue
            candidates = (" ".join(text.split()), f"❖ {text}", f"⇒ {text}")
            if not any(candidate in flat for candidate in candidates):
                missing.append((item["key"], text[:80]))
    assert missing == []


def test_criticita_shows_the_engine_figures(relazione, cycle_2019):
    figures = selectors.relazione_figures(cycle=cycle_2019)
    html = str(render_section(section(relazione, "criticita-opportunita"), figures))
    assert "nella misura complessiva del 98,1% per gli obiettivi strategici" in html
    assert "nella misura del 93,04% per gli obiettivi operativi" in html


# ------------------------------------------------------------------------------ validation


def test_invalid_dataset_reports_every_problem_with_its_place_and_writes_nothing(cycle_2019):
    data = {
        "subtitle": "x",
        "approval_document": "inesistente",
        "signatories": [{"role": "Il Presidente"}],
        "sezioni": [],
        "sections": [
            {"key": "premessa", "body": "Testo."},
            {"key": "conclusioni", "body": "Non esiste."},
            {"key": "premessa", "body": "Ripetuta."},
        ],
        "tables": [
            {
                "key": "organico",
                "section": "organico",
                "title": "Organico",
                "columns": ["A", "B", "C"],
                "rows": [["1", "2", "3"], ["solo due", "celle"], ["1", "2", "3", "4"]],
            },
            {"key": "Chiave Errata", "section": "nessuna", "columns": [], "rows": []},
        ],
    }
    with pytest.raises(ValidationError) as caught:
        relazione_load(cycle=cycle_2019, data=data)
    messages = caught.value.messages
    expected = [
        "sezioni: campo «sezioni» sconosciuto",
        "title: manca il titolo della Relazione",
        "approval_document: documento «inesistente» sconosciuto nel ciclo 2019",
        "signatories[0].name: manca il nome del firmatario",
        "sections[1].key: sezione «conclusioni» sconosciuta",
        "sections[2].key: sezione «premessa» ripetuta",
        "tables[0].rows[1]: la riga ha 2 celle invece di 3, una per colonna",
        "tables[0].rows[2]: la riga ha 4 celle invece di 3, una per colonna",
        "tables[1].key: codice «Chiave Errata» non valido",
        "tables[1].section: sezione «nessuna» sconosciuta",
        "tables[1].title: manca il titolo",
        "tables[1].columns: servono le intestazioni di colonna",
    ]
    for text in expected:
        assert any(message.startswith(text) for message in messages), (text, messages)
    assert len(messages) == len(expected)
    assert nothing_written()


def test_dataset_that_is_not_a_mapping_is_refused(cycle_2019):
    with pytest.raises(ValidationError, match="mappa YAML attesa"):
        relazione_load(cycle=cycle_2019, data=["non", "una", "mappa"])
    assert nothing_written()


def test_an_existing_relazione_is_replaced_only_when_asked(relazione, cycle_2019, relazione_data):
    with pytest.raises(ValidationError, match="esiste già"):
        relazione_load(cycle=cycle_2019, data=relazione_data)
    assert Relazione.objects.get() == relazione
    replacement = relazione_load(
        cycle=cycle_2019, data={"title": "Nuova", "sections": []}, replace=True
    )
    assert Relazione.objects.get() == replacement
    assert replacement.title == "Nuova"
    assert not ContextTable.objects.exists()
    assert Section.history.filter(history_type="-").count() == 14  # old sections, deleted


def test_sections_absent_from_the_dataset_are_created_empty(cycle_2019):
    relazione = relazione_load(cycle=cycle_2019, data={"title": "Relazione di prova"})
    sections = list(relazione.sections.all())
    assert [s.key for s in sections] == list(Section.Key.values)
    assert all(s.body == "" and s.title == Section.Key(s.key).label for s in sections)


# ------------------------------------------------------------------------------- rendering

DANGEROUS = """**ok**

<script>alert('x')</script>

<img src="x" onerror="alert(1)">

[clic](javascript:alert(2)) <a href="javascript:alert(3)" onclick="alert(4)">b</a>

<p style="color:red" onmouseover="alert(5)">testo</p><iframe src="https://example.org"></iframe>
"""


def test_rendering_strips_scripts_handlers_and_javascript_links():
    html = str(render_section(Section(body=DANGEROUS), {}))
    assert "<strong>ok</strong>" in html
    assert "testo" in html and "clic" in html
    for bad in ("<script", "alert(", "onerror", "onclick", "onmouseover", "javascript:"):
        assert bad not in html, bad
    for bad in ("<img", "<iframe", "style="):
        assert bad not in html, bad


def test_only_the_whitelisted_tokens_are_filled_in():
    body = (
        "Strategici {{strategici}}, operativi {{ operativi }}. "
        "Altro: {{ settings.SECRET_KEY }} {{altro}} {% debug %} {{ strategici.__class__ }} "
        "{{request.user}}"
    )
    figures = {
        "strategici": Decimal("98.10"),
        "operativi": Decimal("93.04"),
        "altro": 5,
        "settings": "SEGRETO",
    }
    text = substitute_figures(body, figures)
    assert text.startswith("Strategici 98,1%, operativi 93,04%.")
    for literal in (
        "{{ settings.SECRET_KEY }}",
        "{{altro}}",
        "{% debug %}",
        "{{ strategici.__class__ }}",
        "{{request.user}}",
    ):
        assert literal in text
    html = str(render_section(Section(body=body), figures))
    assert "{{ settings.SECRET_KEY }}" in html and "{% debug %}" in html
    assert "SEGRETO" not in html and "98,1%" in html


def test_a_token_without_figure_reads_nd_and_a_text_figure_is_sanitized():
    assert substitute_figures("{{operativi}}", {}) == "n.d."
    assert substitute_figures("{{operativi}}", None) == "n.d."
    html = str(render_section(Section(body="{{strategici}}"), {"strategici": "<script>x</script>"}))
    assert "<script" not in html


# -------------------------------------------------------------------------------- services


def test_section_update_records_the_user_in_the_history(relazione):
    user = get_user_model().objects.create_user("redattore")
    premessa = section(relazione, "premessa")
    updated = section_update(section=premessa, title="Premessa", body="Nuovo testo.", user=user)
    assert updated.body == "Nuovo testo." and updated.updated_by == user
    latest = premessa.history.first()
    assert latest.history_user == user and latest.body == "Nuovo testo."
    assert premessa.history.count() == 2  # loaded, then edited


def test_section_update_refuses_a_stale_edit_and_writes_nothing(relazione):
    first, second = (get_user_model().objects.create_user(n) for n in ("primo", "secondo"))
    premessa = section(relazione, "premessa")
    opened_at = premessa.updated_at
    section_update(
        section=premessa,
        title="Premessa",
        body="Testo del primo.",
        user=first,
        expected_updated_at=opened_at,
    )
    with pytest.raises(StaleEditError) as caught:
        section_update(
            section=premessa,
            title="Premessa",
            body="Testo del secondo.",
            user=second,
            expected_updated_at=opened_at,
        )
    assert caught.value.current.body == "Testo del primo."
    assert "modificata da primo" in caught.value.messages[0]
    premessa.refresh_from_db()
    assert premessa.body == "Testo del primo." and premessa.updated_by == first


def test_section_update_requires_a_title(relazione):
    with pytest.raises(ValidationError) as caught:
        section_update(section=section(relazione, "premessa"), title=" ", body="x", user=None)
    assert caught.value.message_dict == {"title": ["Il titolo è obbligatorio."]}


def test_context_table_update_checks_every_row(relazione):
    staff = table(relazione, "organico")
    with pytest.raises(ValidationError) as caught:
        context_table_update(
            table=staff,
            title="Organico",
            columns=["A", ""],
            rows=[["1", "2"], ["3"], ["4", "5", "6"]],
            footnotes=[],
            user=None,
        )
    errors = caught.value.message_dict
    assert errors["columns"] == ["Colonna 2: intestazione di colonna vuota o non valida."]
    assert errors["rows"] == [
        "Riga 2: la riga ha 1 cella invece di 2, una per colonna.",
        "Riga 3: la riga ha 3 celle invece di 2, una per colonna.",
    ]
    staff.refresh_from_db()
    assert len(staff.columns) == 4 and staff.history.count() == 1


def test_context_table_update_saves_with_history(relazione):
    user = get_user_model().objects.create_user("tabellista")
    staff = table(relazione, "organico")
    updated = context_table_update(
        table=staff,
        title="Personale",
        columns=["Categoria", "Posti"],
        rows=[["D", "9"]],
        footnotes=["", " nota "],
        user=user,
        expected_updated_at=staff.updated_at,
    )
    assert updated.columns == ["Categoria", "Posti"] and updated.footnotes == ["nota"]
    assert staff.history.first().history_user == user


def test_relazione_update_drops_empty_signatories_and_checks_the_rest(relazione):
    user = get_user_model().objects.create_user("frontespizio")
    with pytest.raises(ValidationError) as caught:
        relazione_update(
            relazione=relazione,
            title="",
            subtitle="",
            signatories=[{"role": "Il Presidente", "name": ""}],
            user=user,
        )
    assert set(caught.value.message_dict) == {"title", "signatories"}
    updated = relazione_update(
        relazione=relazione,
        title="Relazione 2019",
        subtitle="Sottotitolo",
        signatories=[{"role": "Il Presidente", "name": "Franco Bosi"}, {"role": "", "name": ""}],
        user=user,
    )
    assert updated.signatories == [{"role": "Il Presidente", "name": "Franco Bosi"}]
    assert relazione.history.first().history_user == user


# ---------------------------------------------------------------------------------- commands


def test_load_relazione_command(cycle_2019, capsys):
    call_command("load_relazione", "2019", str(DATASET))
    assert "14 sezioni, 2 tabelle" in capsys.readouterr().out
    with pytest.raises(CommandError, match="esiste già"):
        call_command("load_relazione", "2019", str(DATASET))
    call_command("load_relazione", "2019", str(DATASET), "--replace")
    assert Relazione.objects.count() == 1
    with pytest.raises(CommandError, match="Non esiste un ciclo 2031"):
        call_command("load_relazione", "2031", str(DATASET))


def test_setup_demo_loads_the_relazione_once(cycle_2019, settings, monkeypatch):
    settings.DEBUG = True
    monkeypatch.setenv("DEMO_PASSWORD", "password-demo-di-prova")
    call_command("setup_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    relazione = Relazione.objects.get(cycle=cycle_2019)
    # setup_demo has published 2019 (read-only for the services): change the text directly
    Section.objects.filter(pk=section(relazione, "premessa").pk).update(body="X")
    call_command("setup_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert Relazione.objects.get() == relazione
    assert section(relazione, "premessa").body == "X"  # not reloaded


# ------------------------------------------------------------------------------ the pages


@pytest.fixture
def people(personas) -> dict:
    """The personas (tests/personas.py) under this file's names."""
    return {
        "controllo": personas.controllo,
        "oiv": personas.oiv,
        "referente": personas.referent,
        "senza-ruolo": personas.no_role,
    }


def urls() -> list[str]:
    return [
        reverse("reports:relazione-edit", args=[2019]),
        reverse("reports:relazione-section", args=[2019, "premessa"]),
        reverse("reports:relazione-table", args=[2019, "organico"]),
    ]


def test_the_urls_are_the_documented_ones():
    assert urls() == [
        "/lavoro/2019/relazione/",
        "/lavoro/2019/relazione/sezioni/premessa/",
        "/lavoro/2019/relazione/tabelle/organico/",
    ]


@pytest.mark.parametrize("url", urls())
@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_users_go_to_the_login(client, relazione, url, method):
    response = getattr(client, method)(url, {"title": "x", "body": "x"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("persona", ["senza-ruolo", "referente", "oiv"])
@pytest.mark.parametrize("url", urls())
@pytest.mark.parametrize("method", ["get", "post"])
def test_only_controllo_di_gestione_may_edit(client, relazione, people, persona, url, method):
    client.force_login(people[persona])
    data = {"action": "save", "title": "Titolo cambiato", "body": "cambiato", "col_0": "x"}
    response = getattr(client, method)(url, data)
    assert response.status_code == 403
    assert not Section.objects.filter(title="Titolo cambiato").exists()
    assert Section.history.count() == 14 and ContextTable.history.count() == 2


def test_controllo_sees_the_index_with_every_section_and_table(client, relazione, people):
    client.force_login(people["controllo"])
    response = client.get(reverse("reports:relazione-edit", args=[2019]))
    assert response.status_code == 200
    html = response.content.decode()
    for item in relazione.sections.all():
        assert reverse("reports:relazione-section", args=[2019, item.key]) in html
    for key in ("numeri-territorio", "organico"):
        assert reverse("reports:relazione-table", args=[2019, key]) in html
    assert "I numeri della circoscrizione territoriale di Pavia" in html
    assert 'value="Luigi Boldrin"' in html
    assert "Percorso di navigazione" in html


def test_the_navigation_links_the_editor_for_controllo_only(client, relazione, people):
    link = f'href="{reverse("reports:relazione-edit", args=[2019])}"'
    client.force_login(people["controllo"])
    assert (
        link
        in client.get(reverse("reports:relazione-table", args=[2019, "organico"])).content.decode()
    )
    client.force_login(people["oiv"])
    assert link not in client.get(reverse("workspace:home")).content.decode()


def test_unknown_year_or_key_is_404(client, relazione, people):
    client.force_login(people["controllo"])
    assert client.get(reverse("reports:relazione-edit", args=[2031])).status_code == 404
    assert (
        client.get(reverse("reports:relazione-section", args=[2019, "nessuna"])).status_code == 404
    )
    assert client.get(reverse("reports:relazione-table", args=[2019, "nessuna"])).status_code == 404


def test_a_cycle_without_relazione_can_be_started_empty(client, people, cycle_2019):
    client.force_login(people["controllo"])
    url = reverse("reports:relazione-edit", args=[2019])
    assert "Crea la Relazione" in client.get(url).content.decode()
    assert (
        client.get(reverse("reports:relazione-section", args=[2019, "premessa"])).status_code == 404
    )
    response = client.post(url, {"action": "create"})
    assert response.status_code == 302
    relazione = Relazione.objects.get(cycle=cycle_2019)
    assert relazione.sections.count() == 14
    assert relazione.history.first().history_user == people["controllo"]


def test_front_matter_is_edited_on_the_index(client, relazione, people):
    client.force_login(people["controllo"])
    url = reverse("reports:relazione-edit", args=[2019])
    form = client.get(url).context["form"]
    data = {
        "action": "save",
        "title": "La Relazione sulla performance 2019",
        "subtitle": "Allegato alla deliberazione di Giunta Camerale n. 55 del 29.07.2020",
        "expected_updated_at": form.initial["expected_updated_at"].isoformat(),
        "signatory_count": "3",
        "role_0": "Il Segretario Generale",
        "name_0": "Luigi Boldrin",
        "role_1": "",
        "name_1": "",
        "role_2": "Il Presidente",
        "name_2": "Franco Bosi",
    }
    assert client.post(url, data).status_code == 302
    relazione.refresh_from_db()
    assert relazione.subtitle.endswith("n. 55 del 29.07.2020")
    assert [s["name"] for s in relazione.signatories] == ["Luigi Boldrin", "Franco Bosi"]
    data["role_2"], data["expected_updated_at"] = "", relazione.updated_at.isoformat()
    response = client.post(url, data)
    assert response.status_code == 200
    assert "Manca la carica del firmatario." in response.content.decode()


# ---------------------------------------------------------------------------- section page


def section_url(key: str = "premessa") -> str:
    return reverse("reports:relazione-section", args=[2019, key])


def opened_form(client, key: str = "premessa") -> dict:
    form = client.get(section_url(key)).context["form"]
    return {
        "title": form.initial["title"],
        "body": form.initial["body"],
        "expected_updated_at": form.initial["expected_updated_at"].isoformat(),
    }


def test_section_page_shows_the_markdown_in_a_textarea(client, relazione, people):
    client.force_login(people["controllo"])
    response = client.get(section_url("criticita-opportunita"))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<textarea name="body"' in html and "{{strategici}}" in html
    assert '<label for="id_body" class="active">Testo (Markdown)' in html
    assert "Relazione 2019</a>" in html  # breadcrumbs


def test_preview_renders_sanitized_html_with_the_figures_and_saves_nothing(
    client, relazione, people
):
    client.force_login(people["controllo"])
    data = opened_form(client, "criticita-opportunita")
    data["body"] = "**Misura** del {{strategici}}.\n\n<script>alert(1)</script>{{ altro }}"
    response = client.post(section_url("criticita-opportunita"), {**data, "action": "preview"})
    assert response.status_code == 200
    preview = str(response.context["preview"])
    assert "<strong>Misura</strong> del 98,1%." in preview
    assert "{{ altro }}" in preview and "<script" not in preview
    html = response.content.decode()
    assert "Anteprima (non salvata)" in html and "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the text kept in the textarea
    assert section(relazione, "criticita-opportunita").body.startswith("Nonostante")


def test_saving_a_section_records_who(client, relazione, people):
    client.force_login(people["controllo"])
    data = opened_form(client)
    response = client.post(
        section_url(), {**data, "body": "Premessa riscritta.", "action": "save"}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("reports:relazione-edit", args=[2019])
    assert "Sezione «Premessa» salvata." in response.content.decode()
    premessa = section(relazione, "premessa")
    assert premessa.body == "Premessa riscritta."
    assert premessa.updated_by == people["controllo"]
    assert premessa.history.first().history_user == people["controllo"]


def test_a_section_without_title_shows_the_error_next_to_the_field(client, relazione, people):
    client.force_login(people["controllo"])
    data = opened_form(client)
    response = client.post(section_url(), {**data, "title": "", "action": "save"})
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'id="id_title-errori">[^<]*obbligatorio', html)
    assert section(relazione, "premessa").title == "Premessa"


def test_a_stale_section_edit_is_refused_showing_both_texts(client, relazione, people):
    client.force_login(people["controllo"])
    data = opened_form(client)
    other = get_user_model().objects.create_user("collega")
    section_update(
        section=section(relazione, "premessa"),
        title="Premessa",
        body="Testo salvato dal collega.",
        user=other,
    )
    mine = {**data, "body": "Il mio testo, da non perdere.", "action": "save"}
    response = client.post(section_url(), mine)
    assert response.status_code == 200
    html = response.content.decode()
    assert "modificata da collega" in html
    assert "Testo salvato dal collega." in html  # what is stored now
    assert "Il mio testo, da non perdere." in html  # what the user typed, still in the form
    assert section(relazione, "premessa").body == "Testo salvato dal collega."
    # The form now carries the stored version: saving again, deliberately, replaces it.
    form = response.context["form"]
    assert form.data["expected_updated_at"] != data["expected_updated_at"]
    again = client.post(
        section_url(), {**mine, "expected_updated_at": form.data["expected_updated_at"]}
    )
    assert again.status_code == 302
    assert section(relazione, "premessa").body == "Il mio testo, da non perdere."
    users = [h.history_user for h in section(relazione, "premessa").history.all()[:2]]
    assert users == [people["controllo"], other]


# ------------------------------------------------------------------------------ table page


def table_url(key: str = "organico") -> str:
    return reverse("reports:relazione-table", args=[2019, key])


def grid_data(form) -> dict:
    """The POST of the table page as opened (every input with its initial value)."""
    data = {
        "title": form.initial["title"],
        "footnotes": form.initial["footnotes"],
        "expected_updated_at": form.initial["expected_updated_at"].isoformat(),
        "column_count": str(form.column_count),
        "row_count": str(form.row_count),
        "action": "save",
    }
    for name in form.fields:
        if name.startswith(("col_", "cell_")):
            data[name] = form.initial.get(name, "")
    return data


def test_table_page_is_a_grid_with_a_blank_extra_row(client, relazione, people):
    client.force_login(people["controllo"])
    response = client.get(table_url())
    assert response.status_code == 200
    form = response.context["form"]
    assert form.column_count == 4 and form.row_count == 11  # 10 rows + 1 blank
    html = response.content.decode()
    assert 'value="CATEGORIE/PROFILI PROFESSIONALI"' in html
    assert 'value="TOTALE AL 31.12.2019"' in html
    assert 'name="cell_10_0"' in html and 'name="cell_11_0"' not in html
    assert "Segretario Generale fuori dotazione organica" in html
    assert '<label for="id_cell_0_0" class="visually-hidden">Riga 1, colonna 1</label>' in html


def test_saving_a_table_edits_adds_and_drops_rows(client, relazione, people):
    client.force_login(people["controllo"])
    form = client.get(table_url("numeri-territorio")).context["form"]
    data = grid_data(form)
    data["col_2"] = "Fonte e data"
    data["cell_0_1"] = "187"
    data["cell_17_0"], data["cell_17_1"] = "Sportelli", "3"  # the blank extra row
    for c in range(3):
        data[f"cell_1_{c}"] = ""  # "Superficie" left all empty: dropped
    data["delete_2"] = "on"  # "Popolazione" removed with its box
    data["footnotes"] = "Fonte: elaborazioni camerali\n\n  \nSeconda nota"
    response = client.post(table_url("numeri-territorio"), data)
    assert response.status_code == 302
    numbers = table(relazione, "numeri-territorio")
    assert numbers.columns == ["Voce", "Valore", "Fonte e data"]
    assert numbers.rows[0] == ["Comuni", "187", ""]
    assert numbers.rows[1][0] == "Popolazione straniera"
    assert numbers.rows[-1] == ["Sportelli", "3", ""]
    assert len(numbers.rows) == 17 - 2 + 1
    assert numbers.footnotes == ["Fonte: elaborazioni camerali", "Seconda nota"]
    assert numbers.history.first().history_user == people["controllo"]


def test_add_row_shows_one_more_blank_row_without_saving(client, relazione, people):
    client.force_login(people["controllo"])
    form = client.get(table_url()).context["form"]
    data = {**grid_data(form), "action": "add-row", "cell_10_0": "Nuova riga"}
    response = client.post(table_url(), data)
    assert response.status_code == 200
    assert response.context["form"].row_count == 12
    html = response.content.decode()
    assert 'value="Nuova riga"' in html and 'name="cell_11_3"' in html
    assert len(table(relazione, "organico").rows) == 10


def test_an_empty_column_heading_is_an_error_next_to_it(client, relazione, people):
    client.force_login(people["controllo"])
    form = client.get(table_url()).context["form"]
    response = client.post(table_url(), {**grid_data(form), "col_1": "  "})
    assert response.status_code == 200
    assert re.search(r'id="id_col_1-errori">[^<]*obbligatoria', response.content.decode())
    assert table(relazione, "organico").columns[1].startswith("DOTAZIONE ORGANICA")


def test_a_stale_table_edit_is_refused_showing_both_versions(client, relazione, people):
    client.force_login(people["controllo"])
    form = client.get(table_url()).context["form"]
    stored = table(relazione, "organico")
    context_table_update(
        table=stored,
        title=stored.title,
        columns=stored.columns,
        rows=[*stored.rows[:-1], ["TOTALE AL 31.12.2019", "82", "41 + SG (rivisto)", "44 + S.G."]],
        footnotes=stored.footnotes,
        user=None,
    )
    mine = {**grid_data(form), "cell_0_1": "valore mio"}
    response = client.post(table_url(), mine)
    assert response.status_code == 200
    html = response.content.decode()
    assert "La tabella è stata modificata" in html
    assert "41 + SG (rivisto)" in html  # what is stored now
    assert 'value="valore mio"' in html  # what the user typed
    assert "(rivisto)" in table(relazione, "organico").rows[-1][2]
    assert table(relazione, "organico").rows[0][1] == "="


def test_a_save_without_the_form_version_is_refused(client, relazione, people):
    client.force_login(people["controllo"])
    data = {**opened_form(client), "body": "Senza versione.", "action": "save"}
    del data["expected_updated_at"]
    response = client.post(section_url(), data)
    assert response.status_code == 200
    assert "Versione del modulo mancante" in response.content.decode()
    assert section(relazione, "premessa").body != "Senza versione."


# ------------------------------------------------------------------------------------ admin


def test_admin_pages_of_the_relazione(client, relazione, personas):
    client.force_login(personas.admin)
    premessa = section(relazione, "premessa")
    staff = table(relazione, "organico")
    for url in (
        reverse("admin:reports_relazione_changelist") + "?q=2019",
        reverse("admin:reports_relazione_change", args=[relazione.pk]),
        reverse("admin:reports_relazione_history", args=[relazione.pk]),
        reverse("admin:reports_section_changelist") + "?key=premessa&q=Relazione",
        reverse("admin:reports_section_change", args=[premessa.pk]),
        reverse("admin:reports_contexttable_changelist") + "?q=organico",
        reverse("admin:reports_contexttable_change", args=[staff.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
    html = client.get(reverse("admin:reports_relazione_change", args=[relazione.pk])).content
    assert b"Dotazione organica e posti occupati" in html and b"Premessa" in html
