import pytest

from engine.core.catalog import sample_payload
from engine.core.templating import is_placeholder, placeholders, render

TRIGGER = {
    "deal": {"id": 42, "title": "Acme", "value": 12500.5, "tags": ["vip", "q3"],
             "contact": {"name": "Jordan"}, "notes": None},
    "late": False,
}
CONTEXT = {"trigger": TRIGGER, "steps": {0: {"output": {"id": 7, "url": "/d/7"}},
                                         "1": {"output": {"items": [{"sku": "A"}]}}}}


@pytest.mark.parametrize("template, expected", [
    ("{{ trigger.deal.id }}", 42),
    ("{{trigger.deal.value}}", 12500.5),
    ("  {{ trigger.deal.tags }} ", ["vip", "q3"]),
    ("{{ trigger.deal.contact }}", {"name": "Jordan"}),
    ("{{ trigger.late }}", False),
    ("{{ trigger.deal.notes }}", None),
    ("{{ trigger.deal.tags.1 }}", "q3"),
    ("{{ steps.0.output.id }}", 7),
    ("{{ steps.1.output.items.0.sku }}", "A"),  # string step keys (JSON round trip)
])
def test_a_single_placeholder_keeps_its_type(template, expected):
    result = render(template, CONTEXT)
    assert result.value == expected and type(result.value) is type(expected)
    assert result.missing == []


@pytest.mark.parametrize("template, expected", [
    ("Deal {{ trigger.deal.title }} is worth {{ trigger.deal.value }}",
     "Deal Acme is worth 12500.5"),
    ("#{{ trigger.deal.id }}", "#42"),
    ("Notes: [{{ trigger.deal.notes }}]", "Notes: []"),
    ("Tags: {{ trigger.deal.tags }}", 'Tags: ["vip", "q3"]'),
    ("Late? {{ trigger.late }}", "Late? False"),
    ("See {{ steps.0.output.url }}", "See /d/7"),
    ("no placeholders", "no placeholders"),
    ("", ""),
])
def test_mixed_text_is_stringified(template, expected):
    assert render(template, CONTEXT).value == expected


def test_nested_dicts_and_lists_are_rendered_and_other_values_kept():
    value = {"to": "{{ trigger.deal.contact.name }}", "n": 3, "flag": None,
             "changes": {"probability": "{{ trigger.deal.id }}"},
             "list": ["{{ steps.0.output.id }}", "x {{ trigger.deal.title }}", 1.5]}
    assert render(value, CONTEXT).value == {
        "to": "Jordan", "n": 3, "flag": None, "changes": {"probability": 42},
        "list": [7, "x Acme", 1.5]}


def test_render_does_not_alias_the_payload():
    result = render("{{ trigger.deal.tags }}", CONTEXT)
    result.value.append("changed")
    assert TRIGGER["deal"]["tags"] == ["vip", "q3"]


@pytest.mark.parametrize("template, value, missing", [
    ("{{ trigger.deal.nope }}", "", ["{{ trigger.deal.nope }}"]),
    ("Hi {{ trigger.contact.name }}!", "Hi !", ["{{ trigger.contact.name }}"]),
    ("{{ steps.5.output.id }}", "", ["{{ steps.5.output.id }}"]),
    ("{{ trigger.deal.tags.7 }}/{{trigger.x}}/{{ trigger.deal.tags.7 }}", "//",
     ["{{ trigger.deal.tags.7 }}", "{{trigger.x}}"]),
])
def test_missing_paths_render_empty_and_are_recorded(template, value, missing):
    result = render(template, CONTEXT)
    assert result.value == value
    assert result.missing == missing


def test_missing_is_collected_across_a_structure():
    result = render({"a": "{{ trigger.a }}", "b": ["{{ trigger.b }}"]}, CONTEXT)
    assert result.missing == ["{{ trigger.a }}", "{{ trigger.b }}"]


@pytest.mark.parametrize("template", [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{% for x in y %}{{ x }}{% endfor %}",
    "{{ config }}",
    "{{ config.items() }}",
    "{{ trigger }}",
    "{{ trigger.deal.title|upper }}",
    "{{ trigger['deal'] }}",
    "{{ 7*7 }}",
    "{{ steps.X.output.id }}",  # ids are lowercase (v2 reads steps.<id>)
    "${trigger.deal.title} {0} %(x)s",
])
def test_anything_else_stays_inert_text(template):
    result = render(template, CONTEXT)
    assert result.value == template
    assert result.missing == []


@pytest.mark.parametrize("template", [
    "{{ trigger.__class__ }}",
    "{{ trigger.deal.title.__class__ }}",
    "{{ trigger.deal.value.real }}",
    "{{ trigger.deal.tags.__len__ }}",
])
def test_attributes_are_never_resolved(template):
    result = render(template, CONTEXT)
    assert result.value == ""
    assert result.missing == [template]


def test_substituted_values_are_not_rendered_again():
    context = {"trigger": {"title": "{{ trigger.secret }}", "secret": "s3cr3t"}}
    assert render("Title: {{ trigger.title }}", context).value == "Title: {{ trigger.secret }}"
    assert render("{{ trigger.title }}", context).value == "{{ trigger.secret }}"


def test_placeholders_lists_paths_in_order_without_duplicates():
    value = {"a": "{{ trigger.deal.id }} {{ steps.0.output.id }}",
             "b": ["{{trigger.deal.id}}", "{{ config }}", 5]}
    assert placeholders(value) == ["trigger.deal.id", "steps.0.output.id"]
    assert placeholders("{{ ''.__class__ }}") == []


@pytest.mark.parametrize("text, expected", [
    ("{{ trigger.deal.id }}", True),
    ("  {{trigger.deal.id}} ", True),
    ("{{ steps.2.output.url }}", True),
    ("{{ trigger.a }}{{ trigger.b }}", False),
    ("#{{ trigger.deal.id }}", False),
    ("{{ config }}", False),
    (42, False),
])
def test_is_placeholder(text, expected):
    assert is_placeholder(text) is expected


def test_sample_payload_fills_a_default_mapping():
    result = render("{{ trigger.deal.id }}", {"trigger": sample_payload("deal_created")})
    assert result.value == 42 and result.missing == []
