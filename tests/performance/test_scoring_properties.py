"""Properties of the scoring engine: bounds, monotonicity, roll-ups of equal figures."""

import datetime as dt
from decimal import Decimal

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from performance.scoring import (
    METHODS,
    Node,
    Rounding,
    Row,
    Rules,
    Value,
    score_row,
    score_rule,
    score_tree,
)

D = Decimal
RULES = Rules()
FAST = settings(max_examples=200, deadline=None)
ROLL_UP = settings(max_examples=100, deadline=None)


def numbers(low=-10_000, high=10_000, places=2):
    return st.decimals(
        min_value=low, max_value=high, places=places, allow_nan=False, allow_infinity=False
    )


def nonzero(low=-10_000, high=10_000):
    return numbers(low, high).filter(lambda x: x != 0)


percentages = numbers(0, 100)
weights = numbers(D("0.01"), 100)
dates = st.dates(min_value=dt.date(2018, 1, 1), max_value=dt.date(2021, 12, 31))
lateness_rules = st.builds(
    lambda ppd, floor, grace: Rules.from_dict(
        {"lateness": {"points_per_day": ppd, "floor": floor, "grace_days": grace}}
    ),
    numbers(0, 20),
    percentages,
    st.integers(0, 60),
)


def in_range(result):
    return 0 <= result.pct <= 100


def score(spec, rules=RULES, **value):
    return score_rule(spec, Value(**value), rules).pct


# -------------------------------------------------------------------------- bounds per rule


@FAST
@given(kind=st.sampled_from(["at_least", "at_most"]), threshold=numbers(), actual=numbers())
def test_at_least_at_most_bounded(kind, threshold, actual):
    assert in_range(score_rule({"kind": kind, "threshold": threshold}, Value(number=actual), RULES))


@FAST
@given(required=nonzero(-100, 100), baseline=st.none() | nonzero(), actual=numbers())
def test_change_bounded(required, baseline, actual):
    spec = {"kind": "change", "change_pct": required, "baseline": baseline}
    assert in_range(score_rule(spec, Value(number=actual), RULES))


@FAST
@given(due=dates, done=dates, rules=lateness_rules)
def test_deadline_bounded(due, done, rules):
    result = score_rule({"kind": "deadline", "due": due}, Value(date=done), rules)
    assert in_range(result)
    if done <= due:
        assert result.pct == 100
    elif result.pct < 100:
        assert result.pct >= rules.lateness.floor


@FAST
@given(done=st.booleans(), date=st.none() | dates)
def test_milestone_bounded(done, date):
    assert score({"kind": "milestone"}, done=done, date=date) == (100 if done else 0)


@st.composite
def rating_cases(draw):
    low = draw(numbers(-10, 10))
    high = draw(numbers(low, 20))
    threshold = draw(numbers(low, high))
    actual = draw(numbers(low, high))
    return {"kind": "rating", "threshold": threshold, "scale_min": low, "scale_max": high}, actual


@FAST
@given(case=rating_cases())
def test_rating_bounded(case):
    spec, actual = case
    assert in_range(score_rule(spec, Value(number=actual), RULES))


@st.composite
def thresholds_specs(draw):
    minimum = draw(numbers())
    target = draw(numbers().filter(lambda t: t != minimum))
    return {
        "kind": "thresholds",
        "minimum": minimum,
        "target": target,
        "minimum_score": draw(percentages),
    }


@FAST
@given(spec=thresholds_specs(), actual=numbers())
def test_thresholds_bounded(spec, actual):
    result = score_rule(spec, Value(number=actual), RULES)
    assert in_range(result)
    if actual == spec["minimum"]:
        assert result.pct == spec["minimum_score"]
    if actual == spec["target"]:
        assert result.pct == 100


@FAST
@given(k=st.integers(0, 1000), n=st.integers(1, 1000))
def test_k_of_n_bounded(k, n):
    result = score_rule({"kind": "k_of_n", "n": n}, Value(k=D(k)), RULES)
    assert in_range(result)
    assert result.pct == min(D(k), D(n)) / D(n) * 100


simple_parts = st.tuples(
    st.sampled_from(["at_least", "at_most"]), numbers(-1000, 1000), numbers(-1000, 1000)
)


@FAST
@given(
    parts=st.lists(st.one_of(st.none(), simple_parts), min_size=2, max_size=5),
    combine=st.sampled_from(["mean", "min"]),
)
def test_multi_bounded(parts, combine):
    assume(any(p is not None for p in parts))
    spec = {
        "kind": "multi",
        "combine": combine,
        "parts": [
            {"kind": p[0] if p else "at_least", "threshold": p[1] if p else 1} for p in parts
        ],
    }
    values = tuple(None if p is None else Value(number=p[2]) for p in parts)
    result = score_rule(spec, Value(parts=values), RULES)
    assert in_range(result)
    scored = [
        score_rule(part, Value(number=p[2]), RULES).pct
        for part, p in zip(spec["parts"], parts, strict=True)
        if p is not None
    ]
    ulp = D("1e-20")  # the unrounded mean is exact to Decimal's 28 digits, not beyond
    assert min(scored) - ulp <= result.pct <= max(scored) + ulp
    if combine == "min":
        assert result.pct == min(scored)


@FAST
@given(spec=thresholds_specs(), actual=numbers(), rounding=st.sampled_from(["half_up", "up"]))
def test_row_achievement_bounded_and_rounded(spec, actual, rounding):
    rules = Rules(rounding={"default": Rounding(2), "row": Rounding(1, rounding)})
    result = score_row(Row("r", "R", spec=spec, value=Value(number=actual)), rules)
    assert 0 <= result.achievement <= 100
    assert result.achievement == Rounding(1, rounding).apply(result.rule_value)


@FAST
@given(override=numbers(-500, 500), actual=numbers())
def test_override_bounded(override, actual):
    r = Row(
        "r",
        "R",
        spec={"kind": "at_least", "threshold": 50},
        value=Value(number=actual),
        override=override,
        override_reason="rettifica",
    )
    result = score_row(r, RULES)
    assert 0 <= result.achievement <= 100
    assert result.override is True


# ---------------------------------------------------------------------------------- monotone


def ordered_pair(strategy):
    return st.tuples(strategy, strategy).map(sorted)


@FAST
@given(threshold=numbers(), pair=ordered_pair(numbers()))
def test_at_least_non_decreasing(threshold, pair):
    spec = {"kind": "at_least", "threshold": threshold}
    assert score(spec, number=pair[0]) <= score(spec, number=pair[1])


@FAST
@given(threshold=numbers(), pair=ordered_pair(numbers()))
def test_at_most_non_increasing(threshold, pair):
    spec = {"kind": "at_most", "threshold": threshold}
    assert score(spec, number=pair[0]) >= score(spec, number=pair[1])


@FAST
@given(
    required=nonzero(-100, 100),
    baseline=st.none() | nonzero(),
    pair=ordered_pair(numbers()),
)
def test_change_monotone_in_the_direction_of_the_target(required, baseline, pair):
    spec = {"kind": "change", "change_pct": required, "baseline": baseline}
    low, high = score(spec, number=pair[0]), score(spec, number=pair[1])
    if required > 0:
        assert low <= high
    else:
        assert low >= high


@FAST
@given(case=rating_cases(), other=percentages)
def test_rating_non_decreasing(case, other):
    spec, actual = case
    second = spec["scale_min"] + (spec["scale_max"] - spec["scale_min"]) * other / 100
    low, high = sorted([actual, second])
    assert score(spec, number=low) <= score(spec, number=high)


@FAST
@given(spec=thresholds_specs(), pair=ordered_pair(numbers()))
def test_thresholds_monotone(spec, pair):
    low, high = score(spec, number=pair[0]), score(spec, number=pair[1])
    if spec["target"] > spec["minimum"]:
        assert low <= high
    else:
        assert low >= high


@FAST
@given(n=st.integers(1, 500), pair=ordered_pair(st.integers(0, 1000)))
def test_k_of_n_non_decreasing(n, pair):
    spec = {"kind": "k_of_n", "n": n}
    assert score(spec, k=D(pair[0])) <= score(spec, k=D(pair[1]))


@FAST
@given(due=dates, pair=ordered_pair(dates), rules=lateness_rules)
def test_deadline_non_increasing_in_completion_date(due, pair, rules):
    spec = {"kind": "deadline", "due": due}
    assert score(spec, rules, date=pair[0]) >= score(spec, rules, date=pair[1])


@FAST
@given(due=dates, done=dates, rules=lateness_rules)
def test_deadline_done_late_never_below_not_done(due, done, rules):
    spec = {"kind": "deadline", "due": due}
    assert score(spec, rules, date=done) >= score(spec, rules, done=False) == 0


# ---------------------------------------------------------------------------------- roll-ups


def pct_row(key, value, **kwargs):
    """A row whose rule figure is exactly `value` (0–100)."""
    spec = {"kind": "at_least", "threshold": 100}
    return Row(key, key, spec=spec, value=Value(number=value), **kwargs)


TWO_DECIMALS = Rules(rounding={"default": Rounding(2), "row": Rounding(2)})


@ROLL_UP
@given(
    value=percentages,
    count=st.integers(1, 12),
    weight=weights,
    method=st.sampled_from(["own_rows", "subtree_rows", "objectives"]),
    rounded=st.booleans(),
)
def test_roll_up_of_equal_rows_equals_the_row(value, count, weight, method, rounded):
    rules = Rules(
        rounding={"default": Rounding(2), "row": Rounding(2)},
        roll_up_uses_rounded=rounded,
        weight_total=D(100),
    )
    rows = [pct_row(f"r{i}", value, weight=weight, objective_key=f"o{i % 3}") for i in range(count)]
    result = score_tree(Node("n", "N", "objective", method=method, rows=rows), rules)
    assert result.achievement == value
    assert result.count == (min(count, 3) if method == "objectives" else count)


@ROLL_UP
@given(
    value=percentages,
    count=st.integers(1, 12),
    child_weights=st.lists(weights, min_size=12, max_size=12),
    method=st.sampled_from(METHODS),
)
def test_roll_up_of_equal_children_equals_the_child(value, count, child_weights, method):
    children = [
        Node(
            f"c{i}",
            f"C{i}",
            "objective",
            weight=child_weights[i],
            rows=[pct_row(f"r{i}", value, objective_key="o")],
        )
        for i in range(count)
    ]
    tree = Node("n", "N", "group", method=method, children=children)
    result = score_tree(tree, TWO_DECIMALS)
    child = result.children[0].achievement
    assert child == value
    if method in ("own_rows", "objectives"):
        assert result.achievement is None  # these use the node's own rows: a group has none
    else:
        assert result.achievement == child


@ROLL_UP
@given(
    items=st.lists(st.tuples(percentages, weights), min_size=1, max_size=12),
    method=st.sampled_from(["children", "own_rows"]),
    rounded=st.booleans(),
)
def test_weighted_mean_between_min_and_max(items, method, rounded):
    rules = Rules(
        rounding={"default": Rounding(2), "row": Rounding(2)},
        roll_up_uses_rounded=rounded,
    )
    if method == "children":
        children = [
            Node(f"c{i}", f"C{i}", "objective", weight=w, rows=[pct_row(f"r{i}", v)])
            for i, (v, w) in enumerate(items)
        ]
        tree = Node("n", "N", "group", method="children", children=children)
    else:
        rows = [pct_row(f"r{i}", v, weight=w) for i, (v, w) in enumerate(items)]
        tree = Node("n", "N", "objective", method="own_rows", rows=rows)
    result = score_tree(tree, rules)
    values = [v for v, _ in items]
    assert min(values) <= result.achievement <= max(values)
    assert min(values) <= result.raw <= max(values)
    exact = sum(v * w for v, w in items) / sum(w for _, w in items)
    assert result.achievement == Rounding(2).apply(exact)


@ROLL_UP
@given(
    values=st.lists(percentages, min_size=1, max_size=8),
    excluded=st.lists(st.sampled_from(["neutralized", "excluded"]), max_size=4),
)
def test_excluded_rows_never_count_as_zero(values, excluded):
    rows = [pct_row(f"r{i}", v) for i, v in enumerate(values)]
    rows += [pct_row(f"x{i}", D(0), status=s) for i, s in enumerate(excluded)]
    result = score_tree(Node("n", "N", "objective", rows=rows), TWO_DECIMALS)
    assert result.count == len(values)
    assert len(result.excluded) == len(excluded)
    assert result.achievement == Rounding(2).apply(sum(values) / len(values))
