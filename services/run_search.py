"""Search in run data: the values of a run's trigger payload, its error and its steps' errors (issue #22).

PostgreSQL: `workflow_executions.search_text` is a stored generated column holding those values in lower case
(migration d0220000dd22) with a pg_trgm GIN index, so `search_text LIKE '%term%'` is answered from the index
at a million runs (bench B4 measures it). SQLite (the embedded default, small histories): the same values are
read from the JSON on the fly with json_tree / json_each, a scan. Both match a term anywhere inside a value,
ignoring case (SQLite: ASCII case only).
"""
from sqlalchemy import literal, or_, text

from models import WorkflowExecution, db

ESCAPE = "\\"


def like_pattern(term: str) -> str:
    """'%term%' in lower case, with LIKE's wildcards in the term escaped."""
    escaped = term.lower().replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")
    return f"%{escaped}%"


def matches(term: str):
    """The WHERE condition: the run's data contains `term`."""
    pattern = like_pattern(term)
    if db.session.get_bind().dialect.name == "postgresql":
        # The pattern inline (SQLAlchemy quotes it), not a bound parameter: a prepared statement's generic plan
        # cannot tell a rare term from a common one and may read a whole workflow's matches through the index.
        return WorkflowExecution.search_text.like(literal(pattern, literal_execute=True), escape=ESCAPE)
    payload_values = text(
        "EXISTS (SELECT 1 FROM json_tree(workflow_executions.trigger_payload) AS value_node "
        "WHERE value_node.type IN ('text', 'integer', 'real') AND lower(value_node.atom) LIKE :run_search ESCAPE '\\')"
    ).bindparams(run_search=pattern)
    step_errors = text(
        "EXISTS (SELECT 1 FROM json_each(workflow_executions.completed_actions) AS step "
        "WHERE lower(json_extract(step.value, '$.error')) LIKE :run_search ESCAPE '\\')"
    ).bindparams(run_search=pattern)
    return or_(payload_values, WorkflowExecution.error.like(literal(pattern), escape=ESCAPE), step_errors)
