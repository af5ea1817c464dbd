"""Writes on the Relazione sulla Performance: loading it from a dataset, editing its sections,
context tables and front matter.

Every service is keyword-only, validates before writing, runs in one transaction and leaves an
audit trail (django-simple-history: who, when, old and new values). Edits of sections and tables
use optimistic locking on ``updated_at``: a save based on a version that has changed in the
meantime is refused (StaleEditError) and nothing is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.text import slugify

from organization import concurrency, editability
from organization.models import Cycle, PlanDocument
from performance.services.cycle import _Errors
from reports.models import ContextTable, Relazione, Section
from reports.relazione import rendering

TITLE_MAX = 300
KEY_MAX = 60
MAX_COLUMNS = 30
MAX_ROWS = 500

SECTION_KEYS: list[str] = list(Section.Key.values)
_TOP_LEVEL = {"title", "subtitle", "approval_document", "signatories", "sections", "tables"}
_SECTION_FIELDS = {"key", "title", "body"}
_TABLE_FIELDS = {"key", "section", "title", "columns", "rows", "footnotes"}


class StaleEditError(concurrency.StaleError):
    """The object was changed by someone else after the form was opened: nothing was written.

    ``current`` is the object as stored now (to show next to what the user typed).
    """

    def __init__(self, current: models.Model, what: str) -> None:
        who = getattr(current, "updated_by", None)
        by = f" da {who.get_username()}" if who is not None else ""
        when = timezone.localtime(current.updated_at).strftime("%d/%m/%Y %H:%M")
        super().__init__(
            f"{what} è stata modificata{by} il {when}, dopo l'apertura del modulo: il salvataggio "
            "è stato rifiutato. Confrontare il testo salvato con il proprio e salvare di nuovo.",
            current=current,
        )


# ------------------------------------------------------------------------------- helpers


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | Decimal | dt.date)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value).strip()


def _cell(value: Any) -> str:
    """A table cell as stored: always a string (YAML may give numbers or dates)."""
    if isinstance(value, dt.date):
        return value.strftime("%d.%m.%Y")
    return _text(value)


def _check_title(title: Any, path: str, errors: _Errors, what: str = "il titolo") -> str:
    if not isinstance(title, str) or not title.strip():
        errors.add(path, f"manca {what}")
        return ""
    title = title.strip()
    if len(title) > TITLE_MAX:
        errors.add(path, f"{what} supera i {TITLE_MAX} caratteri ({len(title)})")
    return title


def _check_unknown(item: Mapping, allowed: set[str], path: str, errors: _Errors) -> None:
    for name in item:
        if name not in allowed:
            errors.add(
                f"{path}.{name}" if path else str(name),
                f"campo «{name}» sconosciuto (ammessi: {', '.join(sorted(allowed))})",
            )


def _check_signatories(value: Any, path: str, errors: _Errors) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add(path, "i firmatari devono essere un elenco di {role, name}")
        return []
    out = []
    for index, item in enumerate(value):
        where = f"{path}[{index}]"
        if not isinstance(item, Mapping):
            errors.add(where, "ogni firmatario deve essere una mappa {role, name}")
            continue
        _check_unknown(item, {"role", "name"}, where, errors)
        role, name = _text(item.get("role")), _text(item.get("name"))
        if not role:
            errors.add(f"{where}.role", "manca la carica del firmatario")
        if not name:
            errors.add(f"{where}.name", "manca il nome del firmatario")
        out.append({"role": role, "name": name})
    return out


def _check_grid(
    *, columns: Any, rows: Any, footnotes: Any, path: str, errors: _Errors
) -> tuple[list[str], list[list[str]], list[str]]:
    """Columns, rows and footnotes of a context table, normalized to strings; every row must have
    as many cells as there are columns."""
    out_columns: list[str] = []
    if not isinstance(columns, list) or not columns:
        errors.add(f"{path}columns", "servono le intestazioni di colonna (almeno una)")
    elif len(columns) > MAX_COLUMNS:
        errors.add(f"{path}columns", f"troppe colonne ({len(columns)}, al massimo {MAX_COLUMNS})")
    else:
        for index, column in enumerate(columns):
            if not _is_scalar(column) or not _text(column):
                errors.add(f"{path}columns[{index}]", "intestazione di colonna vuota o non valida")
            out_columns.append(_text(column) if _is_scalar(column) else "")
    out_rows: list[list[str]] = []
    if rows is None:
        rows = []
    if not isinstance(rows, list):
        errors.add(f"{path}rows", "le righe devono essere un elenco di righe")
        rows = []
    elif len(rows) > MAX_ROWS:
        errors.add(f"{path}rows", f"troppe righe ({len(rows)}, al massimo {MAX_ROWS})")
    width = len(columns) if isinstance(columns, list) else 0
    for index, row in enumerate(rows):
        where = f"{path}rows[{index}]"
        if not isinstance(row, list):
            errors.add(where, "ogni riga deve essere un elenco di celle")
            continue
        if width and len(row) != width:
            cells = "1 cella" if len(row) == 1 else f"{len(row)} celle"
            errors.add(where, f"la riga ha {cells} invece di {width}, una per colonna")
        bad = [i for i, value in enumerate(row) if not _is_scalar(value)]
        if bad:
            errors.add(where, f"celle non valide (posizione {', '.join(str(i + 1) for i in bad)})")
        out_rows.append([_cell(value) if _is_scalar(value) else "" for value in row])
    out_footnotes: list[str] = []
    if footnotes is None:
        footnotes = []
    if not isinstance(footnotes, list):
        errors.add(f"{path}footnotes", "le note devono essere un elenco di testi")
    else:
        for index, note in enumerate(footnotes):
            if not _is_scalar(note):
                errors.add(f"{path}footnotes[{index}]", "nota non valida")
            elif _text(note):
                out_footnotes.append(_text(note))
    return out_columns, out_rows, out_footnotes


# ------------------------------------------------------------------------- loading a Relazione


def relazione_load(
    *,
    cycle: Cycle,
    data: Mapping,
    user: AbstractBaseUser | None = None,
    replace: bool = False,
) -> Relazione:
    """Create the Relazione of ``cycle`` from a dataset (format: fixtures/relazione-2019.yaml).

    Every problem is collected with its place in the file and reported at once (ValidationError,
    Italian messages); nothing is written unless everything is valid. Sections absent from the
    dataset are created empty with their default title, so every key exists. With ``replace`` an
    existing Relazione of the cycle is deleted first; without it, it is an error.
    """
    errors = _Errors()
    if not isinstance(data, Mapping):
        raise ValidationError(["il file non contiene una Relazione (mappa YAML attesa)"])
    _check_unknown(data, _TOP_LEVEL, "", errors)
    title = _check_title(data.get("title"), "title", errors, "il titolo della Relazione")
    subtitle = data.get("subtitle")
    if subtitle is not None and not isinstance(subtitle, str):
        errors.add("subtitle", "il sottotitolo deve essere un testo")
    subtitle = _text(subtitle) if isinstance(subtitle, str) else ""
    if len(subtitle) > TITLE_MAX:
        errors.add("subtitle", f"il sottotitolo supera i {TITLE_MAX} caratteri")
    approval = None
    approval_key = data.get("approval_document")
    if approval_key not in (None, ""):
        approval = PlanDocument.objects.filter(cycle=cycle, key=_text(approval_key)).first()
        if approval is None:
            errors.add(
                "approval_document",
                f"documento «{approval_key}» sconosciuto nel ciclo {cycle.year}",
            )
    signatories = _check_signatories(data.get("signatories"), "signatories", errors)
    sections = _load_sections(data.get("sections"), errors)
    tables = _load_tables(data.get("tables"), errors)
    errors.raise_if_any()

    with transaction.atomic():
        existing = Relazione.objects.filter(cycle=cycle).first()
        if existing is not None:
            if not replace:
                raise ValidationError(
                    [
                        f"cycle: la Relazione del ciclo {cycle.year} esiste già "
                        "(usare --replace per sostituirla)"
                    ]
                )
            editability.ensure_editable(cycle)  # from the submission on, nothing is replaced
            _delete_relazione(existing, user)
        relazione = Relazione(
            cycle=cycle,
            title=title,
            subtitle=subtitle,
            approval_document=approval,
            signatories=signatories,
        )
        relazione._history_user = user
        relazione.save()
        for order, key in enumerate(SECTION_KEYS):
            given = sections.get(key, {})
            section = Section(
                relazione=relazione,
                key=key,
                title=given.get("title") or Section.Key(key).label,
                body=given.get("body", ""),
                order=(order + 1) * 10,
                updated_by=user,
            )
            section._history_user = user
            section.save()
        for order, table_data in enumerate(tables):
            table = ContextTable(relazione=relazione, order=(order + 1) * 10, **table_data)
            table._history_user = user
            table.save()
    return relazione


def _delete_relazione(relazione: Relazione, user: AbstractBaseUser | None) -> None:
    """Delete with a history record (who deleted) for the Relazione, its sections and tables."""
    for child in [*relazione.sections.all(), *relazione.context_tables.all()]:
        child._history_user = user
        child.delete()
    relazione._history_user = user
    relazione.delete()


def _load_sections(value: Any, errors: _Errors) -> dict[str, dict]:
    if value is None:
        return {}
    if not isinstance(value, list):
        errors.add("sections", "le sezioni devono essere un elenco")
        return {}
    out: dict[str, dict] = {}
    for index, item in enumerate(value):
        path = f"sections[{index}]"
        if not isinstance(item, Mapping):
            errors.add(path, "ogni sezione deve essere una mappa (key, title, body)")
            continue
        _check_unknown(item, _SECTION_FIELDS, path, errors)
        key = _text(item.get("key"))
        if not key:
            errors.add(f"{path}.key", "manca la chiave della sezione")
            continue
        if key not in SECTION_KEYS:
            errors.add(
                f"{path}.key",
                f"sezione «{key}» sconosciuta (ammesse: {', '.join(SECTION_KEYS)})",
            )
            continue
        if key in out:
            errors.add(f"{path}.key", f"sezione «{key}» ripetuta")
            continue
        title = item.get("title")
        if title is not None:
            title = _check_title(title, f"{path}.title", errors)
        body = item.get("body")
        if body is not None and not isinstance(body, str):
            errors.add(f"{path}.body", "il testo della sezione deve essere un testo (Markdown)")
            body = ""
        try:
            rendering.check_markdown((body or "").strip())
        except rendering.MarkdownError as error:
            name = rendering.section_name(Section(key=key, title=title or ""))
            errors.add(f"{path}.body", f"il testo della sezione «{name}» {error.reason}")
        out[key] = {"title": title or "", "body": (body or "").strip()}
    return out


def _load_tables(value: Any, errors: _Errors) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add("tables", "le tabelle devono essere un elenco")
        return []
    out: list[dict] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        path = f"tables[{index}]"
        if not isinstance(item, Mapping):
            errors.add(path, "ogni tabella deve essere una mappa")
            continue
        _check_unknown(item, _TABLE_FIELDS, path, errors)
        key = _text(item.get("key"))
        if not key:
            errors.add(f"{path}.key", "manca il codice della tabella")
        elif key != slugify(key) or len(key) > KEY_MAX:
            errors.add(
                f"{path}.key",
                f"codice «{key}» non valido (lettere minuscole, cifre e trattini; "
                f"al massimo {KEY_MAX} caratteri)",
            )
        elif key in seen:
            errors.add(f"{path}.key", f"tabella «{key}» ripetuta")
        seen.add(key)
        section_key = _text(item.get("section"))
        if section_key not in SECTION_KEYS:
            errors.add(
                f"{path}.section",
                f"sezione «{section_key}» sconosciuta (ammesse: {', '.join(SECTION_KEYS)})"
                if section_key
                else "manca la sezione dopo cui compare la tabella",
            )
        title = _check_title(item.get("title"), f"{path}.title", errors)
        columns, rows, footnotes = _check_grid(
            columns=item.get("columns"),
            rows=item.get("rows"),
            footnotes=item.get("footnotes"),
            path=f"{path}.",
            errors=errors,
        )
        out.append(
            {
                "key": key,
                "section_key": section_key,
                "title": title,
                "columns": columns,
                "rows": rows,
                "footnotes": footnotes,
            }
        )
    return out


# -------------------------------------------------------------------------------- editing


def _claim(model: type[models.Model], obj: models.Model, expected: dt.datetime | None, what: str):
    """Lock the row and check it has not moved on since ``expected`` (None: no check).

    Returns the stored object. The compare-and-set on ``updated_at`` makes the check safe on
    SQLite too, where select_for_update is a no-op.
    """
    current = model.objects.select_for_update().get(pk=obj.pk)
    if expected is None:
        return current
    concurrency.check_and_claim(
        current,
        field="updated_at",
        expected=expected,
        new=timezone.now(),
        stale=lambda stored: StaleEditError(stored, what),
    )
    return current


def section_update(
    *,
    section: Section,
    title: str,
    body: str,
    user: AbstractBaseUser | None,
    expected_updated_at: dt.datetime | None = None,
) -> Section:
    """Change a section's title and Markdown text.

    ``expected_updated_at`` is the ``updated_at`` the user saw when opening the form: if the
    section has changed since, StaleEditError (with the stored section) and nothing is written.
    """
    editability.ensure_editable(section.relazione.cycle_id, section_key=section.key)
    errors: dict[str, list[str]] = {}
    title = (title or "").strip()
    if not title:
        errors["title"] = ["Il titolo è obbligatorio."]
    elif len(title) > TITLE_MAX:
        errors["title"] = [f"Il titolo supera i {TITLE_MAX} caratteri."]
    if not isinstance(body, str):
        errors["body"] = ["Il testo deve essere un testo (Markdown)."]
    else:
        body = body.replace("\r\n", "\n").strip()
        try:  # within the bounds of the renderer (length, nesting, brackets…): never a 500 later
            rendering.check_markdown(body)
        except rendering.MarkdownError as error:
            named = Section(key=section.key, title=title or section.title)
            errors["body"] = [rendering.section_problem_message(named, error.reason)]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        current = _claim(Section, section, expected_updated_at, "La sezione")
        current.title = title
        current.body = body
        current.updated_by = user
        current._history_user = user
        current.save()
    return current


def context_table_update(
    *,
    table: ContextTable,
    title: str,
    columns: list,
    rows: list,
    footnotes: list,
    user: AbstractBaseUser | None,
    expected_updated_at: dt.datetime | None = None,
) -> ContextTable:
    """Change a context table: title, column headings, rows (each as long as the columns) and
    footnotes (empty ones dropped). Same optimistic locking as section_update."""
    editability.ensure_editable(table.relazione.cycle_id, section_key=table.section_key)
    errors = _Errors()
    title = _check_title(title, "title", errors)
    columns, rows, footnotes = _check_grid(
        columns=columns, rows=rows, footnotes=footnotes, path="", errors=errors
    )
    _raise_by_field(errors)
    with transaction.atomic():
        current = _claim(ContextTable, table, expected_updated_at, "La tabella")
        current.title = title
        current.columns = columns
        current.rows = rows
        current.footnotes = footnotes
        current._history_user = user
        current.save()
    return current


def _raise_by_field(errors: _Errors) -> None:
    """The errors of an edit form, if any, as a ValidationError by form field (the first name
    of each error's path), each message a sentence (_sentence)."""
    if not errors.messages:
        return
    by_field: dict[str, list[str]] = {}
    for message in errors.messages:
        place, _, text = message.partition(": ")
        name = place.split("[", 1)[0].split(".", 1)[0]
        by_field.setdefault(name, []).append(_sentence(place, text))
    raise ValidationError(by_field)


def _sentence(place: str, text: str) -> str:
    """``rows[2]: la riga ha…`` as a message for a form: ``Riga 3: la riga ha…``."""
    labels = {"rows": "Riga", "columns": "Colonna", "footnotes": "Nota"}
    name, _, rest = place.partition("[")
    if rest and name in labels:
        number = int(rest.split("]", 1)[0]) + 1
        return f"{labels[name]} {number}: {text}."
    return text[:1].upper() + text[1:] + "."


def relazione_update(
    *,
    relazione: Relazione,
    title: str,
    subtitle: str,
    signatories: list,
    user: AbstractBaseUser | None,
    expected_updated_at: dt.datetime | None = None,
) -> Relazione:
    """Change the front matter of the Relazione: title, subtitle and signatories
    ([{"role", "name"}], entries with both empty dropped)."""
    editability.ensure_editable(relazione.cycle_id, section_key=editability.FRONT_MATTER)
    errors = _Errors()
    title = _check_title(title, "title", errors)
    subtitle = (subtitle or "").strip()
    if len(subtitle) > TITLE_MAX:
        errors.add("subtitle", f"il sottotitolo supera i {TITLE_MAX} caratteri")
    kept = [
        item
        for item in (signatories or [])
        if not isinstance(item, Mapping) or _text(item.get("role")) or _text(item.get("name"))
    ]
    signatories = _check_signatories(kept, "signatories", errors)
    _raise_by_field(errors)
    with transaction.atomic():
        current = _claim(Relazione, relazione, expected_updated_at, "La Relazione")
        current.title = title
        current.subtitle = subtitle
        current.signatories = signatories
        current._history_user = user
        current.save()
    return current
