"""The system Quick Rules as data: seeds/quick_rules.json, read by the migration that seeds the
automation_rules table and by quick_rules_service.ensure_system_rules (tests, repair)."""
import json
from pathlib import Path

RULES_FILE = Path(__file__).with_name("quick_rules.json")
RULE_COLUMNS = ("slug", "name", "description", "module", "trigger_type", "conditions", "action", "position")


def load_rules() -> list[dict]:
    """Every system rule, with exactly the columns of automation_rules (id aside)."""
    rules = json.loads(RULES_FILE.read_text(encoding="utf-8"))
    return [{column: rule.get(column, [] if column == "conditions" else "") for column in RULE_COLUMNS} for rule in rules]
