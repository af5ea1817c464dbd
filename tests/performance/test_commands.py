"""Management commands: score (text, JSON, one unit), load_cycle, setup_demo."""

import json
import re
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError

from organization import roles
from organization.models import Cycle, Unit
from performance.models import Target
from tests.factories import CycleFactory

pytestmark = pytest.mark.django_db

User = get_user_model()


def run(*args, **kwargs) -> str:
    out = StringIO()
    call_command(*args, stdout=out, no_color=True, **kwargs)
    return out.getvalue()


# -------------------------------------------------------------------------------------- score


@pytest.fixture(scope="module")
def score_text(django_db_setup, django_db_blocker) -> str:
    with django_db_blocker.unblock():
        return run("score", "2019")


def test_score_text_key_figures(score_text):
    lines = score_text.splitlines()
    assert lines[0] == "Ciclo 2019 – CCIAA di Pavia"
    assert "Obiettivi strategici: 98,1%  [(99,9 + 96 + 96,5 + 100)/4 = 98,1%]" in lines
    assert "    Servizio Affari Generali: 79,75%  [638/8 = 79,75%]" in lines
    assert (
        "  1 Sostenere la competitività del sistema imprenditoriale: 99,9%  [1.698/17 = 99,9%]"
        in (lines)
    )
    assert "Obiettivi operativi dell'Ente: 93,04%  [4.931/53 = 93,04%]" in lines
    assert (
        "Obiettivi strategici: 19, di cui raggiunti al 100%: 16; obiettivi operativi: 51, "
        "di cui raggiunti al 100%: 41." in lines
    )


def test_score_text_sections(score_text):
    headings = [
        "PERFORMANCE STRATEGICA",
        "OBIETTIVI OPERATIVI DELL'ENTE",
        "UNITÀ ORGANIZZATIVE",
        "OBIETTIVI INDIVIDUALI",
        "RETTIFICHE MANUALI (12)",
        "INCONGRUENZE CON LA FONTE (8)",
    ]
    positions = [score_text.index(f"\n{h}\n") for h in headings]
    assert positions == sorted(positions)


def test_score_text_overrides_and_discrepancies(score_text):
    overrides = score_text.split("RETTIFICHE MANUALI (12)\n")[1].split("\n\n")[0].splitlines()
    assert len(overrides) == 12
    assert (
        "  Attivazione del Data Management: valore rettificato 80% (la regola darebbe 70%: "
        "30/05/2019: 30 giorni di ritardo sul 30/04/2019 → 100 − 30 × 1 = 70%) — "
        "valore approvato nella Relazione 2019"
    ) in overrides
    discrepancies = score_text.split("INCONGRUENZE CON LA FONTE (8)\n")[1].splitlines()
    assert len(discrepancies) == 8
    assert discrepancies[0] == (
        "  Sezione 1 – Servizi alle dirette dipendenze del Segretario Generale: la fonte indica "
        "valore 85,07, il calcolo dà 83,4 ((75 + 79,75 + 95,45)/3 = 83,4%)"
    )
    assert (
        "  Sezione 3 – Obiettivi operativi raggiunti al 100%: la fonte indica numero 43, "
        "il calcolo dà 41"
    ) in discrepancies


def test_score_text_rows_and_no_rows(score_text):
    assert "[rettifica]" in score_text
    assert "        · N. workshop realizzati: 100%  [4 ≥ 4 → 100%]" in score_text.splitlines()
    no_rows = run("score", "2019", "--no-rows")
    assert " · " not in no_rows
    assert "    Servizio Affari Generali: 79,75%  [638/8 = 79,75%]" in no_rows.splitlines()
    assert "escluso: " in no_rows
    assert len(no_rows.splitlines()) < len(score_text.splitlines())


NODE_KEYS = {"name", "kind", "code", "achievement", "formula", "children"}


def walk(item: dict, seen: list) -> None:
    assert item.keys() >= NODE_KEYS, item.get("name")
    assert isinstance(item["name"], str) and item["name"]
    assert isinstance(item["formula"], str)
    assert item["achievement"] is None or 0 <= item["achievement"] <= 100
    seen.append(item)
    for child in item["children"]:
        walk(child, seen)


def test_score_json():
    data = json.loads(run("score", "2019", "--json"))
    assert {
        "cycle",
        "name",
        "strategic",
        "operational",
        "units",
        "individual",
        "counts",
        "overrides",
        "discrepancies",
    } == data.keys()
    assert data["cycle"] == 2019
    assert data["name"] == "CCIAA di Pavia"
    assert data["strategic"].keys() == {"achievement", "formula", "perspectives"}
    assert data["strategic"]["achievement"] == 98.1
    assert data["strategic"]["formula"] == "(99,9 + 96 + 96,5 + 100)/4 = 98,1%"
    assert [p["code"] for p in data["strategic"]["perspectives"]] == ["1", "2", "3", "4"]
    assert data["operational"]["achievement"] == 93.04
    assert data["operational"]["formula"] == "4.931/53 = 93,04%"
    assert data["counts"] == {
        "strategic:total": 19,
        "strategic:full": 16,
        "operational:total": 51,
        "operational:full": 41,
    }
    assert len(data["overrides"]) == 12
    assert len(data["discrepancies"]) == 8
    assert data["discrepancies"][0]["stated"] == 85.07
    assert data["discrepancies"][0]["computed"] == 83.4
    seen: list = []
    for tree in (
        *data["strategic"]["perspectives"],
        data["operational"],
        data["units"],
        *data["individual"],
    ):
        walk(tree, seen)
    assert len(data["individual"]) == 5
    assert sum(1 for item in seen if item["kind"] == "target") > 150
    affari = next(i for i in seen if i["name"] == "Servizio Affari Generali")
    assert (affari["achievement"], affari["formula"]) == (79.75, "638/8 = 79,75%")


def test_score_json_no_rows():
    data = json.loads(run("score", "2019", "--json", "--no-rows"))
    seen: list = []
    walk(data["units"], seen)
    assert seen and all(item["kind"] != "target" for item in seen)


def test_score_one_unit():
    out = run("score", "2019", "--unit", "Registro Imprese")
    lines = out.splitlines()
    assert lines[0] == "Servizio Registro Imprese: 97%  [1.067/11 = 97%]"
    assert lines[1] == "  Servizi di sportello e sanzioni: n.d.  [nessun elemento misurato]"
    assert all(line.startswith("  ") for line in lines[1:])
    assert all("(Servizio Registro Imprese)" in line for line in lines[2:])
    assert len(lines) == 14  # the unit, its office, 12 rows (one excluded)
    for other in ("PERFORMANCE STRATEGICA", "Regolazione del Mercato", "Affari Generali", "Ciclo"):
        assert other not in out


def test_score_one_unit_json():
    data = json.loads(run("score", "2019", "--unit", "registro-imprese", "--json"))
    assert (data["key"], data["achievement"], data["formula"]) == (
        "registro-imprese",
        97.0,
        "1.067/11 = 97%",
    )
    assert [c["kind"] for c in data["children"]].count("target") == 12


def test_score_one_unit_json_no_rows():
    data = json.loads(run("score", "2019", "--unit", "Registro Imprese", "--json", "--no-rows"))
    assert [c["key"] for c in data["children"]] == ["ufficio-sportello"]
    assert [e["name"] for e in data["excluded"]] == [
        "n. 2 azioni di comunicazione (Servizio Registro Imprese)"
    ]


@pytest.mark.parametrize("unit", ["Ufficio Inesistente", "Ufficio"])
def test_score_unknown_or_ambiguous_unit(unit):
    with pytest.raises(CommandError) as raised:
        run("score", "2019", "--unit", unit)
    assert str(raised.value) == f"Unità «{unit}» non trovata (o il nome è ambiguo)."


def test_score_unknown_year():
    with pytest.raises(CommandError) as raised:
        run("score", "1999")
    assert str(raised.value) == "Nessun ciclo unico per l'anno 1999."


def test_score_year_of_two_organizations_is_ambiguous(cycle_2019):
    CycleFactory(year=2019)
    with pytest.raises(CommandError) as raised:
        run("score", "2019")
    assert str(raised.value) == "Nessun ciclo unico per l'anno 2019."


# --------------------------------------------------------------------------------- load_cycle

SMALL = """
organization: {name: "Camera di Commercio di Prova", short_name: "CCIAA Prova"}
cycle: {year: 2037, title: "Piano 2037"}
periods:
  - {key: consuntivo, name: "Consuntivo", end: 2037-12-31, final: true}
units:
  - {key: ente, name: "Ente", kind: ente, children: [{key: servizio-a, name: "A", kind: servizio}]}
perspectives:
  - code: "1"
    name: "Prospettiva"
    strategic_objectives: [{code: "1.1", title: "Obiettivo strategico"}]
operational:
  - strategic: "1.1"
    title: "Obiettivo operativo"
    indicators:
      - name: "n. pratiche"
        targets:
          - {unit: servizio-a, text: "≥ 4,5", rule: {kind: at_least, threshold: 4.5},
             actual: {value: 4.50}, published: 100}
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "ciclo.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_load_cycle_small_file(tmp_path):
    out = run("load_cycle", write(tmp_path, SMALL))
    assert out == "Caricato il ciclo CCIAA Prova – 2037.\n"
    cycle = Cycle.objects.get(year=2037)
    target = Target.objects.get(indicator__objective__cycle=cycle)
    assert target.rule == {"kind": "at_least", "threshold": "4.5"}  # decimals as written
    assert target.unit.key == "servizio-a"


def test_load_cycle_twice_and_replace(tmp_path):
    path = write(tmp_path, SMALL)
    run("load_cycle", path)
    with pytest.raises(CommandError) as raised:
        run("load_cycle", path)
    assert str(raised.value) == (
        "Il file non è stato caricato:\n"
        "  - cycle.year: il ciclo 2037 esiste già (usare --replace per sostituirlo)"
    )
    first = Cycle.objects.get(year=2037).pk
    assert run("load_cycle", path, "--replace") == "Caricato il ciclo CCIAA Prova – 2037.\n"
    assert Cycle.objects.filter(year=2037).exclude(pk=first).count() == 1


def test_load_cycle_bad_file_lists_the_errors(tmp_path):
    data = yaml.safe_load(SMALL)
    target = data["operational"][0]["indicators"][0]["targets"][0]
    target["rule"] = {"kind": "almeno"}
    data["operational"][0]["indicators"].append(
        {"name": "x", "targets": [{**target, "unit": "servizio-z", "rule": {"kind": "milestone"}}]}
    )
    data["periods"][0]["final"] = False
    before = Cycle.objects.count()
    with pytest.raises(CommandError) as raised:
        run("load_cycle", write(tmp_path, yaml.safe_dump(data, allow_unicode=True)))
    assert str(raised.value) == (
        "Il file non è stato caricato:\n"
        "  - periods: manca il periodo di consuntivo (final: true)\n"
        "  - operational[0].indicators[0].targets[0].rule: regola: tipo «almeno» sconosciuto\n"
        "  - operational[0].indicators[1].targets[0].unit: unità «servizio-z» sconosciuta"
    )
    assert Cycle.objects.count() == before


def test_load_cycle_missing_file(tmp_path):
    missing = tmp_path / "manca.yaml"
    with pytest.raises(CommandError) as raised:
        run("load_cycle", str(missing))
    assert str(missing) in str(raised.value)


def test_load_cycle_file_without_a_mapping(tmp_path):
    path = write(tmp_path, "- solo\n- una lista\n")
    with pytest.raises(CommandError) as raised:
        run("load_cycle", path)
    assert str(raised.value) == f"{path}: il file non contiene un ciclo (mappa YAML attesa)"


# --------------------------------------------------------------------------------- setup_demo

DEMO_PASSWORD = "password-demo-2019"
REFERENTS = {
    "referente-ri": "registro-imprese",
    "referente-segreteria-presidenza": "segreteria-presidenza",
    "referente-affari-generali": "affari-generali",
    "referente-risorse-patrimonio": "risorse-patrimonio",
    "referente-regolazione-mercato": "regolazione-mercato",
    "referente-promozione": "promozione",
    "referente-paviasviluppo": "paviasviluppo",
}
STAFF = {"admin": roles.AMMINISTRATORE, "controllo": roles.CONTROLLO, "oiv": roles.OIV}


@pytest.fixture
def demo_settings(settings, monkeypatch, cycle_2019):
    settings.DEBUG = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast
    monkeypatch.setenv("DEMO_PASSWORD", DEMO_PASSWORD)
    return settings


def demo_users() -> dict:
    return {
        user.username: user
        for user in User.objects.filter(username__in=[*STAFF, *REFERENTS]).prefetch_related(
            "groups", "referent_units"
        )
    }


def test_setup_demo_creates_the_users(demo_settings):
    before = User.objects.count()
    out = run("setup_demo")
    assert "Ciclo 2019 già presente." in out
    assert "Utenti demo creati: admin, controllo, oiv, referente-ri, " in out
    assert out.rstrip().endswith("(password DEMO_PASSWORD).")
    users = demo_users()
    assert set(users) == {*STAFF, *REFERENTS}
    assert User.objects.count() - before == 10
    for username, group in STAFF.items():
        user = users[username]
        assert [g.name for g in user.groups.all()] == [group]
        assert user.is_staff
        assert user.is_superuser == (username == "admin")
        assert user.check_password(DEMO_PASSWORD)
        assert list(user.referent_units.all()) == []
    for username, unit_key in REFERENTS.items():
        user = users[username]
        assert [g.name for g in user.groups.all()] == [roles.REFERENTE]
        assert not user.is_staff and not user.is_superuser
        assert [u.key for u in user.referent_units.all()] == [unit_key]
        assert user.check_password(DEMO_PASSWORD)
    registro = Unit.objects.get(cycle__year=2019, key="registro-imprese")
    assert [u.username for u in registro.referents.all()] == ["referente-ri"]


def test_setup_demo_groups_have_their_permissions(demo_settings):
    run("setup_demo")
    oiv = User.objects.get(username="oiv")
    assert oiv.has_perm("performance.view_target")
    assert not oiv.has_perm("performance.change_target")
    referent = User.objects.get(username="referente-ri")
    assert referent.has_perm("performance.change_actual")
    assert not referent.has_perm("performance.change_target")
    controllo = User.objects.get(username="controllo")
    assert controllo.has_perm("performance.delete_target")
    assert not controllo.has_perm("auth.add_user")


def test_setup_demo_is_idempotent(demo_settings):
    run("setup_demo")
    count = User.objects.count()
    memberships = sorted(User.groups.through.objects.values_list("user_id", "group_id"))
    referents = sorted(Unit.referents.through.objects.values_list("unit_id", "user_id"))
    out = run("setup_demo")
    assert "Utenti demo già presenti." in out
    assert User.objects.count() == count
    assert sorted(User.groups.through.objects.values_list("user_id", "group_id")) == memberships
    assert sorted(Unit.referents.through.objects.values_list("unit_id", "user_id")) == referents
    assert Group.objects.filter(name__in=[*STAFF.values(), roles.REFERENTE]).count() == 4
    assert all(u.check_password(DEMO_PASSWORD) for u in demo_users().values())
    assert Cycle.objects.filter(year=2019).count() == 1


def test_setup_demo_generated_password_is_shown_once_and_kept(demo_settings, monkeypatch):
    monkeypatch.delenv("DEMO_PASSWORD")
    out = run("setup_demo")
    match = re.search(r"Password \(mostrata una volta sola\): (\S+)", out)
    assert match
    password = match.group(1)
    assert len(password) >= 16
    assert User.objects.get(username="admin").check_password(password)
    again = run("setup_demo")
    assert "Password" not in again
    assert "Utenti demo già presenti." in again
    assert User.objects.get(username="referente-ri").check_password(password)


def test_setup_demo_refuses_without_debug(settings, monkeypatch, cycle_2019):
    settings.DEBUG = False
    monkeypatch.setenv("DEMO_PASSWORD", DEMO_PASSWORD)
    before = User.objects.count()
    with pytest.raises(CommandError) as raised:
        run("setup_demo")
    assert str(raised.value) == (
        "DEBUG è disattivato: gli utenti demo non vengono creati in produzione."
    )
    assert User.objects.count() == before
    assert not User.objects.filter(username__in=[*STAFF, *REFERENTS]).exists()
    assert Cycle.objects.filter(year=2019).count() == 1
