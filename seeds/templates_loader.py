"""Load the system workflow templates from seeds/*.json into workflow_templates (workspace_id NULL).

Called by migrations, so the catalog of system templates is data: a later migration loads a newer
JSON file the same way. Upsert by slug: running it again changes nothing; usage counts are kept.
"""
import json
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa

SEEDS = Path(__file__).resolve().parent
SYSTEM_TEMPLATES_FILE = SEEDS / "system_templates.json"
BRANCH_TEMPLATES_FILE = SEEDS / "branch_templates.json"  # definition v2: templates with a branch (issue #19)
OPERATIONS_TEMPLATES_FILE = SEEDS / "operations_templates.json"  # on workflow_failed (issue #22)
# Every file of system templates, in the order the migrations load them.
SYSTEM_TEMPLATE_FILES = (SYSTEM_TEMPLATES_FILE, BRANCH_TEMPLATES_FILE, OPERATIONS_TEMPLATES_FILE)


def read_system_templates(path: Path = SYSTEM_TEMPLATES_FILE) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["templates"]


def read_all_system_templates() -> list[dict]:
    return [template for path in SYSTEM_TEMPLATE_FILES for template in read_system_templates(path)]


def _table(connection):
    return sa.Table("workflow_templates", sa.MetaData(), autoload_with=connection)


def load_system_templates(connection, path: Path = SYSTEM_TEMPLATES_FILE) -> int:
    """Insert or update every system template of the file; returns how many rows changed."""
    table = _table(connection)
    now = datetime.now(timezone.utc).replace(tzinfo=None) if connection.dialect.name == "sqlite" else datetime.now(timezone.utc)
    changed = 0
    for template in read_system_templates(path):
        values = {
            "name": template["name"], "description": template["description"], "category": template["category"],
            "featured": bool(template.get("featured")), "definition": template["definition"],
        }
        existing = connection.execute(
            sa.select(table.c.id, table.c.name, table.c.description, table.c.category, table.c.featured, table.c.definition)
            .where(table.c.slug == template["slug"], table.c.workspace_id.is_(None))
        ).first()
        if existing is None:
            connection.execute(table.insert().values(slug=template["slug"], workspace_id=None, usage_count=0,
                                                     created_at=now, updated_at=now, **values))
            changed += 1
        elif any(getattr(existing, key) != value for key, value in values.items()):
            connection.execute(table.update().where(table.c.id == existing.id).values(updated_at=now, **values))
            changed += 1
    return changed
