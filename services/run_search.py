"""Search in run data: the values of a run's trigger payload, its error and its steps' errors (issue #22).

What matches (both databases): the run's data is cut into words, and every word of the search must be found:
- a run's words are its values split at spaces and at " ' ` , ; ( ) < > [ ] { } | and backslash (an email, an order ref
  or a number such as 12.5 stays one word), plus the letter-and-digit parts of each word (the email
  `ada@example.test` gives `ada@example.test`, `ada`, `example`, `test`; `ORD-1042` gives `ord-1042`, `ord`, `1042`);
  lower case; words longer than WORD_MAX characters are cut into pieces of WORD_MAX;
- every word of the search must be a whole word of the run, in any order, except the last, which may be the
  beginning of one when it has 3 characters or more and is not a number (`ada lovel` finds "Ada Lovelace",
  `ord-` finds every `ORD-…`, `ada@ex` finds the email; `1042` finds `ORD-1042`, `104` does not);
- a search word with punctuation also matches when its letter-and-digit parts are all whole words of the run
  (`example.test` finds `ada@example.test`: "example" and "test");
- a word is not found in the middle of another (`lace` does not find "Lovelace") and keys are not searched.
Why not every word as a beginning: a beginning reads, in the index, every word it begins (all "deal…" at a
million runs, 170 ms); whole words are read only where the rarest word of the search has runs (bench/RESULTS.md).

PostgreSQL: `workflow_executions.search_words` is a stored generated `tsvector` of those words (migration
e0220000a122, workestra_run_search_words) with a GIN index; the search is `search_words @@ '<words>'::tsquery`, whose
posting lists are those of the search's own words, so a customer's email reads the few rows holding it rather than
every row sharing its trigrams (bench B4). SQLite (the embedded default, small histories): the same words and the
same rule in Python, a function registered on each connection (webapp.database), evaluated run by run (a scan).
"""
import json
import re

from sqlalchemy import cast, false, func, literal
from sqlalchemy.dialects.postgresql import TSQUERY

from models import WorkflowExecution, db

# Kept identical to the SQL of migration e0220000a122 (tests/unit/test_run_search.py compares the constants,
# tests/http/test_runs_triage.py the words PostgreSQL stores).
SEPARATORS = "\\s\"'`,;()<>\\[\\]{}|\\\\"
WORD_MAX = 100
PREFIX_MIN = 3  # the last word of a search matches as a beginning from this many characters
TEXT_MAX = 4000
SQLITE_FUNCTION = "workestra_run_search"
_SPLIT = re.compile(f"[{SEPARATORS}]+")
_LONG = re.compile(f"([^{SEPARATORS}]{{{WORD_MAX}}})")
_PARTS = re.compile(r"[\W_]+")
_LEADING = re.compile(r"^[\W_]+")


def _alnum(text: str) -> bool:
    return bool(text) and _PARTS.search(text) is None


def _clean(text: str) -> str:
    return _LONG.sub(r"\1 ", text.lower())


def run_words(texts) -> set[str]:
    """The words of a run's values (see the module's docstring): what PostgreSQL's search_words holds."""
    text = _clean(" ".join(texts)[:TEXT_MAX])
    return {word for word in (*_SPLIT.split(text), *_PARTS.split(text)) if word}


def _search_words(term: str) -> list[str]:
    words = (_LEADING.sub("", chunk)[:WORD_MAX] for chunk in _SPLIT.split(_clean(term)))
    return [word for word in words if word]


def compile_search(term: str) -> list[list[list[tuple[str, bool]]]]:
    """The search as clauses that must all hold; a clause holds when one of its alternatives does; an alternative
    is (word, prefix) pairs that must all be words of the run (prefix: a word beginning with it)."""
    words = _search_words(term)
    clauses = []
    for number, word in enumerate(words):
        # Only the last word is a beginning: a beginning reads every word it begins in the index (all of "deal…"
        # at a million runs), and a common one in the middle of a search would do so for a rare search.
        prefix = number == len(words) - 1 and len(word) >= PREFIX_MIN and not word.isdigit()
        alternatives = [[(word, prefix)]]
        parts = [part for part in _PARTS.split(word) if part]
        if len(parts) > 1:  # a word with punctuation: or all its parts, whole (cheap: the rarest part leads)
            alternatives.append([(part, False) for part in parts])
        clauses.append(alternatives)
    return clauses


def _lexeme(word: str, prefix: bool) -> str:
    quoted = "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"
    return quoted + (":*" if prefix else "")


def tsquery_text(clauses) -> str:
    """The clauses as PostgreSQL tsquery input (lexemes quoted, taken as they are: no dictionary)."""
    def alternative(pairs):
        text = " & ".join(_lexeme(word, prefix) for word, prefix in pairs)
        return f"( {text} )" if len(pairs) > 1 else text

    def clause(alternatives):
        text = " | ".join(alternative(pairs) for pairs in alternatives)
        return f"( {text} )" if len(alternatives) > 1 else text

    return " & ".join(clause(alternatives) for alternatives in clauses)


def _payload_values(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _payload_values(item)
    elif isinstance(value, list):
        for item in value:
            yield from _payload_values(item)
    elif isinstance(value, str):
        yield value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield json.dumps(value)


def _step_errors(steps):
    for step in steps if isinstance(steps, list) else ():
        if isinstance(step, dict) and isinstance(step.get("error"), str):
            yield step["error"]


def _loaded(document):
    if isinstance(document, (str, bytes)):
        try:
            return json.loads(document)
        except ValueError:
            return None
    return document


def run_matches(clauses, trigger_payload, error, completed_actions) -> bool:
    """The search's rule in Python (SQLite): every clause has an alternative whose words the run holds."""
    words = run_words([*_payload_values(_loaded(trigger_payload)), error or "",
                       *_step_errors(_loaded(completed_actions))])

    def holds(word, prefix):
        return any(candidate.startswith(word) for candidate in words) if prefix else word in words

    return all(any(all(holds(word, prefix) for word, prefix in pairs) for pairs in alternatives)
               for alternatives in clauses)


def sqlite_function(search_json, trigger_payload, error, completed_actions) -> int:
    """Registered on SQLite connections as SQLITE_FUNCTION (webapp.database)."""
    return int(run_matches(json.loads(search_json), trigger_payload, error, completed_actions))


def matches(term: str, runs=WorkflowExecution):
    """The WHERE condition: the run's data holds every word of `term` (see the module's docstring). `runs`: the
    executions table's entity or an alias of it (a subquery's rows)."""
    clauses = compile_search(term)
    if not clauses:
        return false()
    if db.session.get_bind().dialect.name == "postgresql":
        # The query inline (SQLAlchemy quotes it), not a bound parameter: a prepared statement's generic plan
        # cannot tell a rare word from a common one and may read a whole workflow's matches through the index.
        query = cast(literal(tsquery_text(clauses), literal_execute=True), TSQUERY)
        return runs.search_words.op("@@")(query)
    return getattr(func, SQLITE_FUNCTION)(json.dumps(clauses), runs.trigger_payload,
                                           runs.error, runs.completed_actions) == 1
