"""The catalog is the single source of truth: executors, schemas, seeds and the editor all use its keys."""
import re
from pathlib import Path

from engine.core.catalog import ACTIONS, TRIGGERS
from engine.executors import EXECUTORS, load_executors, missing_executors, register

ROOT = Path(__file__).resolve().parents[2]


def test_every_action_has_an_executor_and_every_executor_an_action():
    load_executors()
    assert missing_executors() == []
    assert set(EXECUTORS) == set(ACTIONS)


def test_an_executor_for_an_unknown_key_cannot_be_registered():
    try:
        register("teleport")
    except KeyError as error:
        assert "teleport" in str(error)
    else:
        raise AssertionError("registering an action the catalog lacks must fail")


def test_seed_files_only_use_catalog_keys():
    for path in (ROOT / "seeds").glob("*.json"):
        text = path.read_text(encoding="utf-8")
        for key in re.findall(r'"type":\s*"([a-z_]+)"', text):
            assert key in TRIGGERS or key in ACTIONS, f"{path.name} refers to {key!r}, which the catalog lacks"


def test_templates_and_code_name_no_unknown_action_or_trigger():
    pattern = re.compile(r"""["']type["']\s*:\s*["']([a-z_]+)["']""")
    known = set(TRIGGERS) | set(ACTIONS)
    for folder in ("webapp/templates", "services", "engine/executors", "seeds"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in (".py", ".html") or not path.is_file():
                continue
            for key in pattern.findall(path.read_text(encoding="utf-8")):
                assert key in known or key in {"object", "array", "string", "integer", "number", "boolean"}, (path, key)
