"""Property tests (hypothesis) of every parser of user input: whatever is typed, pasted or
imported, the answer is a value or an Italian validation error, never an exception that would
become a server error.

- performance.parsing: numbers, dates, yes/no, "k su n" (only ParseError; round trips); digits
  other than ASCII 0–9 and dates outside the plausible or the cycle's window always refused;
- performance.json_input: any text is a value or JSONInputError (never NaN, never too deep);
- performance.forms.parse_row: a row of the values form, for every kind of rule of 2019;
- performance.forms_plan: the target and rule forms (every field, and the JSON of multi-part
  rules) and the measurement rules form;
- performance.services.imports: reading a file (bytes), and the plan and values imports of rows
  whose cells are arbitrary (the row parsers raise only their own row error, reported per row);
- reports: the Relazione's Markdown (always sanitized) and the context table form;
- views: the values form and its live preview posted with arbitrary strings: never a 5xx.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from organization.models import MeasurementPeriod, Unit
from performance import forms as entry_forms
from performance import forms_plan, json_input, parsing, scoring
from performance.models import Target
from performance.parsing import ParseError, parse_bool, parse_date, parse_k_of_n, parse_number
from performance.services import imports

# Text as people type and paste it: digits, separators, signs, Italian words, any Unicode.
ITALIAN_BITS = st.sampled_from(
    [
        "0", "1", "4", "9", "12", "100", "1.234", ",", ".", "%", "-", "+", "−", "–", " ",
        "\u00a0", "\u202f", "/", "su", "di", "sì", "si", "no", "e", "E", "inf", "NaN", "x",
        "31/12/2019", "2019-02-30", "=", "'", "1e9", "\t", "\n", "٣", "½",
    ]
)  # fmt: skip
typed = st.one_of(
    st.text(max_size=60),
    st.lists(ITALIAN_BITS, max_size=12).map("".join),
)
# What a spreadsheet cell may hold once read (openpyxl, odfpy, csv).
cell = st.one_of(
    st.none(),
    typed,
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.dates(),
    st.datetimes(),
    st.booleans(),
)
anything = st.one_of(cell, st.lists(st.integers(), max_size=3), st.binary(max_size=10))

SETTINGS = settings(max_examples=300, deadline=None)
DB_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# ------------------------------------------------------------------------ performance.parsing


@SETTINGS
@given(value=anything)
def test_parse_number_raises_only_parse_error(value):
    try:
        result = parse_number(value)
    except ParseError as error:
        assert str(error)  # an Italian message
    else:
        assert result is None or (isinstance(result, Decimal) and result.is_finite())


@SETTINGS
@given(value=anything)
def test_parse_number_without_percent_raises_only_parse_error(value):
    try:
        result = parse_number(value, allow_percent=False)
    except ParseError:
        return
    assert result is None or result.is_finite()


@SETTINGS
@given(value=anything)
def test_parse_date_raises_only_parse_error(value):
    try:
        result = parse_date(value)
    except ParseError as error:
        assert str(error)
    else:
        assert result is None or isinstance(result, dt.date)


@SETTINGS
@given(value=anything)
def test_parse_bool_raises_only_parse_error(value):
    try:
        result = parse_bool(value)
    except ParseError:
        return
    assert result in (None, True, False)


@SETTINGS
@given(value=anything)
def test_parse_k_of_n_raises_only_parse_error(value):
    try:
        result = parse_k_of_n(value)
    except ParseError:
        return
    if result is not None:
        k, n = result
        assert k >= 0 and (n is None or n > 0)


def italian(value: Decimal, *, thousands: bool, minus: str, percent: bool) -> str:
    """``value`` written the Italian way: 1.234,5 (or 1234,5), with a chosen minus sign."""
    sign = minus if value < 0 else ""
    text = format(abs(value), "f")
    whole, _, fraction = text.partition(".")
    if thousands:
        groups = []
        while len(whole) > 3:
            groups.insert(0, whole[-3:])
            whole = whole[:-3]
        whole = ".".join([whole, *groups])
    out = sign + whole + ("," + fraction if fraction else "")
    return out + ("%" if percent else "")


@SETTINGS
@given(
    value=st.decimals(min_value=-(10**12), max_value=10**12, places=3, allow_nan=False),
    thousands=st.booleans(),
    minus=st.sampled_from(["-", "\u2212", "\u2013"]),
    percent=st.booleans(),
    padding=st.sampled_from(["", " ", "\u00a0"]),
)
def test_italian_numbers_round_trip(value, thousands, minus, percent, padding):
    text = padding + italian(value, thousands=thousands, minus=minus, percent=percent) + padding
    assert parse_number(text) == value


@SETTINGS
@given(value=st.decimals(min_value=-(10**6), max_value=10**6, places=2, allow_nan=False))
def test_engine_formatting_round_trips(value):
    """What the application shows ("1.234,5", "82,7%") reads back as the same number."""
    assert parse_number(scoring.fmt(value)) == value


DATE_STYLES = st.sampled_from(["%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "iso", "short"])


def written(day: dt.date, style: str) -> str:
    """``day`` as typed (not strftime: it writes the year 1 as "1", not "0001")."""
    if style == "iso":
        return f"{day.year:04d}-{day.month:02d}-{day.day:02d}"
    if style == "short":
        return f"{day.day}.{day.month}.{day.year:04d}"
    sep = style[2]  # "%d/%m/%Y" -> "/"
    return f"{day.day:02d}{sep}{day.month:02d}{sep}{day.year:04d}"


@SETTINGS
@given(
    day=st.dates(min_value=parsing.PLAUSIBLE_DATES.first, max_value=parsing.PLAUSIBLE_DATES.last),
    style=DATE_STYLES,
)
def test_italian_dates_round_trip(day, style):
    assert parse_date(written(day, style)) == day


# ------------------------------------------------------- refusals: other digits, far dates

# Decimal digits of other scripts (Arabic-Indic, Devanagari, full-width...): int() and Decimal()
# read them as 0–9; the parsers refuse them.
OTHER_DIGIT = st.characters(categories=["Nd"]).filter(lambda ch: not ch.isascii())


@SETTINGS
@given(before=typed, digit=OTHER_DIGIT, after=typed)
def test_digits_other_than_ascii_are_always_refused(before, digit, after):
    text = before + digit + after
    for parse in (parse_number, parse_date, parse_k_of_n):
        with pytest.raises(ParseError):
            parse(text)
    with pytest.raises(scoring.ScoringError):
        scoring.dec(text)


@SETTINGS
@given(
    number=st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False),
    position=st.integers(min_value=0),
    digit=OTHER_DIGIT,
)
def test_a_number_with_one_digit_replaced_by_another_script_is_refused(number, position, digit):
    text = scoring.fmt(number)
    places = [i for i, ch in enumerate(text) if ch.isdigit()]
    index = places[position % len(places)]
    with pytest.raises(ParseError, match="cifre da 0 a 9"):
        parse_number(text[:index] + digit + text[index + 1 :])


@SETTINGS
@given(
    day=st.dates().filter(
        lambda d: not parsing.PLAUSIBLE_DATES.first <= d <= parsing.PLAUSIBLE_DATES.last
    ),
    style=DATE_STYLES,
    as_object=st.booleans(),
)
def test_implausible_dates_are_refused(day, style, as_object):
    with pytest.raises(ParseError, match="fuori dall'intervallo ammesso: dal 01/01/1900"):
        parse_date(day if as_object else written(day, style))


@SETTINGS
@given(
    year=st.integers(min_value=1901, max_value=2098),
    day=st.dates(min_value=parsing.PLAUSIBLE_DATES.first, max_value=parsing.PLAUSIBLE_DATES.last),
    style=DATE_STYLES,
)
def test_a_cycles_dates_are_those_of_its_window(year, day, style):
    window = parsing.cycle_date_window(year)
    assert window.first == dt.date(year - parsing.CYCLE_YEARS_BEFORE, 1, 1)
    assert window.last == dt.date(year + parsing.CYCLE_YEARS_AFTER, 12, 31)
    text = written(day, style)
    if window.first <= day <= window.last:
        assert parse_date(text, window=window) == day
    else:
        with pytest.raises(ParseError, match=f"per il ciclo {year}"):
            parse_date(text, window=window)


json_text = st.one_of(
    st.text(max_size=80),
    st.lists(
        st.sampled_from(
            ["[", "]", "{", "}", ",", ":", '"a"', "1", "-", "1e999", "NaN", "Infinity", " "]
        ),
        max_size=40,
    ).map("".join),
    st.integers(min_value=1, max_value=3000).map(lambda n: "[" * n + "]" * n),
    st.integers(min_value=1, max_value=6000).map(lambda n: "9" * n),
)


def _finite_and_shallow(value, depth: int = 1) -> bool:
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, dict | list):
        children = value.values() if isinstance(value, dict) else value
        return depth <= json_input.MAX_DEPTH and all(
            _finite_and_shallow(child, depth + 1) for child in children
        )
    return True


@SETTINGS
@given(text=json_text)
def test_json_input_is_a_value_or_its_own_error(text):
    try:
        value = json_input.loads(text)
    except json_input.JSONInputError as error:
        assert str(error)
    else:
        assert _finite_and_shallow(value)


@SETTINGS
@given(
    word=st.sampled_from(["sì", "si", "SI", "Sì", "x", "vero", "realizzato", "fatto", "yes"]),
    no=st.sampled_from(["no", "NO", "n", "falso", "non realizzato", "Non  Realizzato"]),
    padding=st.sampled_from(["", " ", "  "]),
)
def test_yes_and_no_round_trip(word, no, padding):
    assert parse_bool(padding + word + padding) is True
    assert parse_bool(padding + no + padding) is False


@SETTINGS
@given(
    k=st.integers(min_value=0, max_value=10**6),
    n=st.integers(min_value=1, max_value=10**6),
    joiner=st.sampled_from([" su ", "/", " / ", " di ", " SU "]),
)
def test_k_of_n_round_trips(k, n, joiner):
    assert parse_k_of_n(f"{k}{joiner}{n}") == (Decimal(k), Decimal(n))
    assert parse_k_of_n(str(k)) == (Decimal(k), None)


# -------------------------------------------------------------- a row of the values form


def _rules_2019() -> list[dict]:
    """One rule of every kind in the 2019 plan (multi-part rules included)."""
    seen: dict[str, dict] = {}
    for rule in Target.objects.filter(indicator__objective__cycle__year=2019).values_list(
        "rule", flat=True
    ):
        if isinstance(rule, dict):
            seen.setdefault(str(rule.get("kind")), rule)
    return list(seen.values())


@pytest.mark.django_db
def test_parse_row_never_raises(cycle_2019):
    rules = _rules_2019()
    assert {"at_least", "deadline", "multi", "k_of_n"} <= {r["kind"] for r in rules}

    @DB_SETTINGS
    @given(data=st.data())
    def check(data):
        rule = data.draw(st.sampled_from(rules))
        names = [spec.name for spec in entry_forms.value_inputs(rule)]
        names += ["override_pct", "override_reason", "note", "source", "not_done", "done"]
        inputs = data.draw(st.dictionaries(st.sampled_from(names), typed, max_size=len(names)))
        parsed = entry_forms.parse_row(rule, inputs)
        assert isinstance(parsed.errors, dict)
        if not parsed.errors:
            parsed.value()  # the engine's value, built without an exception

    check()


# ---------------------------------------------------------------------- the plan's forms

RULE_FIELDS = [
    "kind",
    "threshold",
    "change_pct",
    "baseline",
    "due",
    "scale_min",
    "scale_max",
    "minimum",
    "target_value",
    "minimum_score",
    "n",
    "multi",
]
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["kind", "parts", "labels", "combine", "threshold", "due", "n", "x"]),
            children,
            max_size=5,
        )
    ),
    max_leaves=12,
)
kinds = st.sampled_from([*forms_plan.KIND_FIELDS, "sconosciuto", ""])


@pytest.mark.django_db
def test_target_form_never_raises(cycle_2019):
    unit = Unit.objects.get(cycle=cycle_2019, key="registro-imprese")

    @DB_SETTINGS
    @given(
        values=st.fixed_dictionaries(
            {"kind": kinds, "text": typed, "weight": typed, "unit": st.just(str(unit.pk))},
            optional={name: typed for name in RULE_FIELDS if name != "kind"},
        ),
        multi=st.none() | json_value.map(lambda v: json.dumps(v)) | typed,
    )
    def check(values, multi):
        if multi is not None:
            values = {**values, "multi": multi}
        form = forms_plan.TargetForm(values, cycle=cycle_2019)
        if form.is_valid():
            scoring.validate_spec(form.cleaned_data["rule"])  # a rule the engine accepts
        else:
            assert form.errors

    check()


@pytest.mark.django_db
def test_multi_part_rules_from_json_never_raise(cycle_2019):
    @DB_SETTINGS
    @given(
        parts=st.lists(
            st.fixed_dictionaries(
                {"kind": kinds},
                optional={
                    "threshold": json_value,
                    "due": json_value,
                    "n": json_value,
                    "change_pct": json_value,
                    "parts": json_value,
                },
            ),
            max_size=4,
        ),
        extra=st.dictionaries(st.sampled_from(["labels", "combine"]), json_value, max_size=2),
    )
    def check(parts, extra):
        text = json.dumps({"parts": parts, **extra})
        form = forms_plan.TargetForm(
            {"kind": "multi", "multi": text, "text": "t", "weight": "1"}, cycle=cycle_2019
        )
        if form.is_valid():
            scoring.validate_spec(form.cleaned_data["rule"])

    check()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "text",
    [
        # Found by the properties above (were a TypeError, a server error): kept as examples.
        '{"parts": [{"kind": "multi", "parts": true}, {"kind": "at_least", "threshold": 1}]}',
        '{"parts": [{"kind": "at_least", "threshold": 1}, {"kind": "milestone"}], "labels": 5}',
        '{"parts": 7}',
        "[1, 2]",
        '{"parts": [{"kind": "milestone"}, {"kind": "milestone"}], "combine": ["min"]}',
    ],
)
def test_malformed_multi_part_rules_are_errors_of_the_form(cycle_2019, text):
    form = forms_plan.TargetForm(
        {"kind": "multi", "multi": text, "text": "t", "weight": "1"}, cycle=cycle_2019
    )
    assert not form.is_valid()
    assert form.errors["multi"]


@pytest.mark.django_db
def test_plan_structure_forms_never_raise(cycle_2019):
    @DB_SETTINGS
    @given(
        code=typed,
        name=typed,
        weight=typed,
        document_number=typed,
        document_date=typed,
        reason=typed,
    )
    def check(code, name, weight, document_number, document_date, reason):
        forms_plan.PerspectiveForm({"code": code, "name": name, "weight": weight}).is_valid()
        forms_plan.ObjectiveNeutralizeForm(
            {
                "document_number": document_number,
                "document_date": document_date,
                "reason": reason,
            },
            cycle=cycle_2019,
        ).is_valid()
        forms_plan.TargetReviseForm(
            {
                "text": name,
                "kind": "at_least",
                "threshold": weight,
                "document_number": document_number,
                "document_date": document_date,
                "reason": reason,
            },
            cycle=cycle_2019,
        ).is_valid()

    check()


# ------------------------------------------------------------------------------------ imports


@SETTINGS
@given(
    content=st.one_of(
        st.binary(max_size=400),
        typed.map(lambda t: t.encode("utf-8")),
        st.lists(st.lists(typed, max_size=5), max_size=6).map(
            lambda rows: "\n".join(";".join(r) for r in rows).encode("utf-8")
        ),
        st.binary(max_size=300).map(lambda b: b"PK\x03\x04" + b),
    ),
    extension=st.sampled_from(["csv", "xlsx", "ods", "txt", ""]),
)
def test_reading_any_file_raises_only_an_import_error(content, extension):
    try:
        table = imports.read_table(content=content, filename=f"file.{extension}")
    except imports.ImportFileError:
        return
    assert isinstance(table, imports.Table)


def _mutated(rows: list[dict], data, columns: list[str]) -> imports.Table:
    """A few real rows of 2019 with some cells replaced by arbitrary values."""
    picked = data.draw(st.lists(st.sampled_from(range(len(rows))), min_size=1, max_size=4))
    out = []
    for index in picked:
        row = dict(rows[index])
        for column in data.draw(st.lists(st.sampled_from(columns), min_size=1, max_size=4)):
            row[column] = data.draw(cell)
        out.append(row)
    return imports.Table.from_rows(columns, [[row.get(c) for c in columns] for row in out])


def _import_or_validation_error(function, **kwargs) -> None:
    try:
        report = function(**kwargs)
    except ValidationError:  # ImportFileError, a cycle not open to changes…
        return
    assert isinstance(report, imports.ImportReport)
    for item in report.invalid:
        assert item.message


@pytest.mark.django_db
def test_plan_import_of_arbitrary_cells_never_raises(cycle_2019, personas):
    rows = imports.plan_rows(cycle=cycle_2019)
    columns = list(imports.PLAN_COLUMNS)
    user = personas.admin

    @DB_SETTINGS
    @given(data=st.data())
    def check(data):
        table = _mutated(rows, data, columns)
        _import_or_validation_error(
            imports.plan_import, cycle=cycle_2019, table=table, user=user, dry_run=True
        )

    check()


@pytest.mark.django_db
def test_values_import_of_arbitrary_cells_never_raises(cycle_2019, personas):
    period = MeasurementPeriod.objects.get(cycle=cycle_2019, is_final=True)
    rows = imports.values_rows(cycle=cycle_2019, period=period)
    columns = list(imports.VALUE_COLUMNS)
    user = personas.admin

    @DB_SETTINGS
    @given(data=st.data())
    def check(data):
        table = _mutated(rows, data, columns)
        _import_or_validation_error(
            imports.values_import, cycle=cycle_2019, table=table, user=user, dry_run=True
        )

    check()


@pytest.mark.django_db
def test_value_cell_parser_raises_only_its_row_error(cycle_2019):
    rules = _rules_2019()

    @DB_SETTINGS
    @given(rule=st.sampled_from(rules), raw=cell)
    def check(rule, raw):
        raw = imports._clean(raw)  # as every cell arrives from the file reader
        try:
            fields = imports._parse_value(raw, rule)
        except imports._RowError as error:
            assert error.message
        else:
            assert isinstance(fields, dict)

    check()


# ----------------------------------------------------------------------------------- reports

SAFE_SCHEMES = ("http", "https", "mailto")


@SETTINGS
@given(text=st.one_of(st.text(max_size=200), st.lists(st.sampled_from([
    "<script>", "</script>", "<img src=x onerror=", "javascript:", "[a](", ")", "<a href=",
    "\"", "'", ">", "style=", "<iframe", "<svg onload=", "&#106;avascript:", "**", "\n\n",
    "| a | b |\n|---|---|\n", "{{ strategici }}", "{% if %}", "<p onclick=x>",
]), max_size=20).map("".join)))  # fmt: skip
def test_markdown_is_always_sanitized(text):
    from html.parser import HTMLParser

    from reports.relazione.rendering import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, render_markdown

    found: list[tuple[str, list[tuple[str, str | None]]]] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Tags().feed(render_markdown(text))
    for tag, attrs in found:
        assert tag in ALLOWED_TAGS, tag
        for name, value in attrs:
            assert name in ALLOWED_ATTRIBUTES.get(tag, set()) | {"rel"}, (tag, name)
            if name == "href" and value:
                # As a browser reads it: leading controls and spaces dropped, tabs and newlines
                # removed; a scheme is a letter then letters, digits, + . - (else: a path).
                url = re.sub(r"[\t\n\r]", "", value).lstrip("".join(map(chr, range(33))))
                scheme = re.match(r"([a-zA-Z][a-zA-Z0-9+.\-]*):", url)
                assert scheme is None or scheme.group(1).lower() in SAFE_SCHEMES, value


@SETTINGS
@given(
    title=typed,
    footnotes=typed,
    cells=st.dictionaries(
        st.sampled_from([f"cell_{r}_{c}" for r in range(3) for c in range(3)]), typed
    ),
    columns=st.dictionaries(st.sampled_from(["col_0", "col_1", "col_2"]), typed),
    version=typed,
)
def test_context_table_form_never_raises(title, footnotes, cells, columns, version):
    from reports.relazione.forms import TableForm

    form = TableForm(
        {
            "title": title,
            "footnotes": footnotes,
            "expected_updated_at": version,
            **cells,
            **columns,
        },
        column_count=3,
        row_count=3,
    )
    if form.is_valid():
        form.rows()
        form.footnote_list()


# ------------------------------------------------------------------------- views, fuzzed


@pytest.fixture
def referent_client(personas) -> Client:
    return personas.client("referente-ri")


FORM_URL = "/lavoro/2019/valori/registro-imprese/consuntivo/"
PREVIEW_URL = "/lavoro/2019/valori/anteprima/"


@pytest.mark.django_db
def test_the_values_form_posted_with_anything_is_never_a_server_error(referent_client):
    page = referent_client.get(FORM_URL)
    assert page.status_code == 200
    names = sorted(set(re.findall(r'name="(t\d+-[a-z_]+)"', page.content.decode())))
    assert names

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=st.dictionaries(st.sampled_from(names), typed, max_size=12))
    def check(data):
        response = referent_client.post(FORM_URL, data)
        assert response.status_code < 500, response.status_code

    check()


@pytest.mark.django_db
def test_the_live_preview_with_anything_is_never_a_server_error(referent_client, cycle_2019):
    targets = list(
        Target.objects.filter(unit__cycle=cycle_2019, unit__key="registro-imprese").values_list(
            "pk", flat=True
        )
    )
    names = ["value", "date", "done", "not_done", "k", "n", "override_pct", "override_reason"]
    names += [f"p{i}-{n}" for i in range(3) for n in ("value", "date", "done")]
    payload = st.one_of(
        st.fixed_dictionaries(
            {
                "target": st.one_of(st.sampled_from(targets), typed, st.integers(), st.none()),
                "inputs": st.one_of(
                    st.dictionaries(st.sampled_from(names), st.one_of(typed, json_value)),
                    json_value,
                ),
            }
        ).map(json.dumps),
        json_value.map(json.dumps),
        typed,
    )

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=payload)
    def check(body):
        response = referent_client.post(PREVIEW_URL, data=body, content_type="application/json")
        assert response.status_code < 500, (response.status_code, body)
        if response.status_code == 200:
            assert "ok" in response.json()

    check()
