import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.catalog import CONDITION_OPERATORS
from engine.core.conditions import MISSING, conditions_hold, evaluate_condition, get_path

PAYLOAD = {
    "deal": {"title": "Acme Renewal", "value": 12500, "stage": "proposal",
             "probability": "40", "notes": None, "tags": ["vip", "renewal", 5],
             "won": True, "empty": "", "lines": [{"sku": "A-1"}, {"sku": "B-2"}]},
    "from_stage": "lead",
    "steps": {0: {"output": {"id": 9}}},
}


@pytest.mark.parametrize("path, expected", [
    ("deal.title", "Acme Renewal"),
    ("deal.notes", None),
    ("deal.tags.1", "renewal"),
    ("deal.lines.1.sku", "B-2"),
    ("steps.0.output.id", 9),          # integer mapping key
    ("deal.tags.9", MISSING),
    ("deal.title.0", MISSING),         # strings are not indexed
    ("deal.nope", MISSING),
    ("deal.value.real", MISSING),      # never attributes
    ("deal.__class__", MISSING),
    ("", MISSING),
    ("deal..title", MISSING),
])
def test_get_path(path, expected):
    assert get_path(PAYLOAD, path) == expected or get_path(PAYLOAD, path) is expected


@pytest.mark.parametrize("payload", [None, 3, "text", [1, 2], {"a": object()}])
def test_get_path_on_odd_payloads(payload):
    assert get_path(payload, "a.b") is MISSING
    assert get_path({"a": 1}, None) is MISSING


CASES = [
    # eq / neq: loose numbers, booleans, case-sensitive strings
    ("deal.value", "eq", 12500, True),
    ("deal.value", "eq", "12500", True),
    ("deal.value", "eq", "12500.00", True),
    ("deal.probability", "eq", 40, True),
    ("deal.stage", "eq", "proposal", True),
    ("deal.stage", "eq", "Proposal", False),
    ("deal.won", "eq", "true", True),
    ("deal.won", "eq", True, True),
    ("deal.won", "eq", "false", False),
    ("deal.notes", "eq", None, True),
    ("deal.value", "neq", 1, True),
    ("deal.value", "neq", "12500", False),
    ("deal.stage", "neq", "lead", True),
    # ordering
    ("deal.value", "gt", 10000, True),
    ("deal.value", "gt", "12500", False),
    ("deal.value", "gte", "12500", True),
    ("deal.probability", "lt", 50, True),
    ("deal.probability", "lte", "40", True),
    ("deal.stage", "gt", "lead", True),           # both strings: string order
    ("deal.value", "gt", "a lot", False),         # mismatch: false, no error
    ("deal.tags", "gt", 1, False),
    ("deal.notes", "lt", 5, False),
    ("deal.won", "gt", 0, False),                 # booleans are not numbers
    # contains
    ("deal.title", "contains", "acme", True),
    ("deal.title", "contains", "Globex", False),
    ("deal.tags", "contains", "vip", True),
    ("deal.tags", "contains", "5", True),
    ("deal.tags", "contains", "VIP", False),
    ("deal.value", "contains", "125", False),
    ("deal.title", "not_contains", "globex", True),
    ("deal.title", "not_contains", "RENEWAL", False),
    ("deal.tags", "not_contains", "cold", True),
    ("deal.notes", "not_contains", "x", True),
    ("deal.value", "not_contains", "x", False),
    # in / not_in
    ("deal.stage", "in", ["lead", "proposal"], True),
    ("deal.stage", "in", "lead, proposal", True),
    ("deal.stage", "in", ["lead"], False),
    ("deal.value", "in", ["12500", "1"], True),
    ("deal.probability", "in", [40], True),
    ("deal.stage", "not_in", "lead,qualified", True),
    ("deal.stage", "not_in", ["proposal"], False),
    ("deal.stage", "in", None, False),
    # emptiness
    ("deal.notes", "is_empty", None, True),
    ("deal.empty", "is_empty", None, True),
    ("deal.title", "is_empty", None, False),
    ("deal.lines", "is_not_empty", None, True),
    ("deal.notes", "is_not_empty", None, False),
    # missing fields
    ("deal.nope", "eq", None, False),
    ("deal.nope", "neq", "x", True),
    ("deal.nope", "is_empty", None, True),
    ("deal.nope", "is_not_empty", None, False),
    ("deal.nope", "gt", 0, False),
    ("deal.nope", "contains", "x", False),
    ("deal.nope", "not_contains", "x", False),
    ("deal.nope", "in", ["x"], False),
    ("deal.nope", "not_in", ["x"], False),
]


@pytest.mark.parametrize("field, op, value, expected", CASES)
def test_evaluate_condition(field, op, value, expected):
    assert evaluate_condition({"field": field, "op": op, "value": value}, PAYLOAD) is expected


def test_every_operator_is_covered_by_the_table():
    assert {op for _f, op, _v, _e in CASES} == set(CONDITION_OPERATORS)


@pytest.mark.parametrize("condition", [
    None, "deal.value", {}, {"field": "deal.value"}, {"field": "deal.value", "op": "like"},
    {"field": "deal.value", "op": ["eq"], "value": 1}, {"field": 5, "op": "eq", "value": 5},
])
def test_malformed_conditions_are_false(condition):
    assert evaluate_condition(condition, PAYLOAD) is False


def test_conditions_hold_needs_all():
    gte = {"field": "deal.value", "op": "gte", "value": 1000}
    stage = {"field": "deal.stage", "op": "eq", "value": "proposal"}
    lost = {"field": "deal.stage", "op": "eq", "value": "closed_lost"}
    assert conditions_hold([], PAYLOAD) is True
    assert conditions_hold(None, PAYLOAD) is True
    assert conditions_hold([gte, stage], PAYLOAD) is True
    assert conditions_hold([gte, lost], PAYLOAD) is False


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
    st.decimals(allow_nan=True), st.text(max_size=12),
    st.sampled_from(["", " ", "1e999999", "NaN", "-inf", "5", "true", "a,b", "²"]),
)
_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)
_paths = st.one_of(
    st.text(max_size=20),
    st.lists(st.sampled_from(["a", "b", "0", "1", "99", "", "__class__"]),
             min_size=1, max_size=4).map(".".join),
)


@settings(max_examples=400, deadline=None)
@given(payload=_values, field=_paths,
       op=st.one_of(st.sampled_from(list(CONDITION_OPERATORS)), st.text(max_size=5)),
       value=_values)
def test_evaluation_never_raises(payload, field, op, value):
    result = evaluate_condition({"field": field, "op": op, "value": value}, payload)
    assert isinstance(result, bool)
    assert isinstance(conditions_hold([{"field": field, "op": op, "value": value}], payload),
                      bool)
