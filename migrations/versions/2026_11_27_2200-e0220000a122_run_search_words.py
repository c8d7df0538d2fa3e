"""The run search by words (issue #22): workflow_executions.search_words, a generated tsvector with a GIN index,
in place of search_text and its trigram index

Revision ID: e0220000a122
Revises: d0200000ab20
Create Date: 2026-11-27 22:00:00

The trigram index read, for a customer's email, the posting lists of trigrams every run holds ("@ex", "exa",
"ple", ".te", ...): 236 ms of database time at a million runs (bench/RESULTS.md). The words index reads the posting
lists of the search's own words. PostgreSQL: `search_words` is a STORED generated tsvector (SEARCH_WORDS_SQL: the
same values as search_text, lower case, cut into words as services/run_search.py describes; no dictionary, no
positions) with a GIN index; `search_text` and its trigram index go. Re-adding a generated column rewrites
workflow_executions once (a few minutes at a million runs, under an exclusive lock: plan it like any rewrite).
SQLite: the column is a virtual NULL as before (the search reads the JSON there).
No column a new run is written with changes, so the PostgreSQL dispatch functions stay as they are.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = "e0220000a122"
down_revision = "d0200000ab20"
branch_labels = None
depends_on = None

# services/run_search.py keeps the same constants (SEPARATORS, WORD_MAX, TEXT_MAX) and tests compare the two.
SEPARATORS = "[\\s\"''`,;()<>\\[\\]{}|\\\\]"  # inside a SQL string literal: '' is one quote
WORD_MAX = 100
TEXT_MAX = 4000
# The values (no keys): every string or number anywhere in the payload, then the errors, as before (silent and lax:
# odd JSON never makes the INSERT fail). JSON's \n \r \t escapes become spaces; a run of WORD_MAX characters without
# a separator gets one (a tsvector word holds at most 2,047 bytes).
VALUES_SQL = (
    "jsonb_path_query_array(trigger_payload, 'strict $.** ? (@.type() == \"string\" || @.type() == \"number\")', "
    "'{}', true)::text"
    " || ' ' || coalesce(error, '') || ' ' || "
    "jsonb_path_query_array(completed_actions, 'lax $[*].error ? (@.type() == \"string\")', '{}', true)::text"
)
# The words of that text, in a function so that the text is computed once per row (a plain expression would repeat
# it for each of the two splits). IMMUTABLE: only built-in immutable functions, as a generated column requires.
FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION workestra_run_search_words(source text) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $function$
DECLARE
    words text := regexp_replace(replace(replace(replace(lower(left(source, {TEXT_MAX})), '\\n', ' '), '\\r', ' '),
                                         '\\t', ' '), '([^{SEPARATORS[1:-1]}]{{{WORD_MAX}}})', '\\1 ', 'g');
BEGIN
    RETURN array_to_tsvector(array_remove(
        regexp_split_to_array(words, '{SEPARATORS}+') || regexp_split_to_array(words, '[^[:alnum:]]+'), ''));
END
$function$
"""
SEARCH_WORDS_SQL = f"workestra_run_search_words({VALUES_SQL})"
SEARCH_TEXT_SQL = (  # migration d0220000dd22's, for the downgrade
    "lower(left("
    "jsonb_path_query_array(trigger_payload, 'strict $.** ? (@.type() == \"string\" || @.type() == \"number\")', "
    "'{}', true)::text"
    " || ' ' || coalesce(error, '') || ' ' || "
    "jsonb_path_query_array(completed_actions, 'lax $[*].error ? (@.type() == \"string\")', '{}', true)::text"
    ", 4000))"
)


def add_search_words(execute) -> None:
    """The PostgreSQL column and its index (bench/search_at_scale.py adds them to a B4 database the same way)."""
    execute(FUNCTION_SQL)
    execute(f"ALTER TABLE workflow_executions ADD COLUMN search_words tsvector "
            f"GENERATED ALWAYS AS ({SEARCH_WORDS_SQL}) STORED")
    execute("CREATE INDEX ix_workflow_executions_search_words ON workflow_executions USING gin (search_words)")


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_workflow_executions_search")
        op.execute("ALTER TABLE workflow_executions DROP COLUMN search_text")
        add_search_words(op.execute)
    else:
        op.execute("DROP INDEX ix_workflow_executions_search")
        op.execute("ALTER TABLE workflow_executions DROP COLUMN search_text")
        op.execute("ALTER TABLE workflow_executions ADD COLUMN search_words TEXT GENERATED ALWAYS AS (NULL) VIRTUAL")
        op.execute("CREATE INDEX ix_workflow_executions_search_words ON workflow_executions (search_words) "
                   "WHERE search_words IS NOT NULL")  # always empty: the model's index, for the schema check


def downgrade():
    op.execute("DROP INDEX ix_workflow_executions_search_words")
    op.execute("ALTER TABLE workflow_executions DROP COLUMN search_words")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION workestra_run_search_words(text)")
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(f"ALTER TABLE workflow_executions ADD COLUMN search_text text "
                   f"GENERATED ALWAYS AS ({SEARCH_TEXT_SQL}) STORED")
        op.execute("CREATE INDEX ix_workflow_executions_search ON workflow_executions "
                   "USING gin (search_text gin_trgm_ops)")
    else:
        op.execute("ALTER TABLE workflow_executions ADD COLUMN search_text TEXT GENERATED ALWAYS AS (NULL) VIRTUAL")
        op.execute("CREATE INDEX ix_workflow_executions_search ON workflow_executions (search_text) "
                   "WHERE search_text IS NOT NULL")
