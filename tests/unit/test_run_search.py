"""The run search's words and query (services.run_search, issue #22): the Python rule SQLite applies, the tsquery
PostgreSQL receives, and the constants the migration's SQL shares with them."""
import importlib.util
import os

from services import run_search

MIGRATION = os.path.join(os.path.dirname(__file__), "..", "..", "migrations", "versions",
                         "2026_11_27_2200-e0220000a122_run_search_words.py")


def test_the_migration_splits_words_as_the_python_rule_does():
    spec = importlib.util.spec_from_file_location("search_words_migration", MIGRATION)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    # The SQL literal doubles its quote; otherwise the same bracket expression.
    assert migration.SEPARATORS.replace("''", "'") == f"[{run_search.SEPARATORS}]"
    assert (migration.WORD_MAX, migration.TEXT_MAX) == (run_search.WORD_MAX, run_search.TEXT_MAX)


def test_a_run_has_its_values_words_and_their_parts():
    words = run_search.run_words(["Ada.Lovelace@Example.test", "ORD-1042", "12.5", "Engines (analytical), phase 2"])
    assert {"ada.lovelace@example.test", "ada", "lovelace", "example", "test", "ord-1042", "ord", "1042", "12.5",
            "12", "5", "engines", "analytical", "phase", "2"} == words
    assert run_search.run_words(["x" * 250]) == {"x" * 100, "x" * 50}  # cut every 100 characters


def test_every_word_whole_but_the_last_which_may_begin_a_word():
    assert run_search.tsquery_text(run_search.compile_search("Mailbox 42 unavail")) == \
        "'mailbox' & '42' & 'unavail':*"
    assert run_search.tsquery_text(run_search.compile_search("deal 1042")) == "'deal' & '1042'"  # a number: whole
    assert run_search.tsquery_text(run_search.compile_search("c1@example.test")) == \
        "( 'c1@example.test':* | ( 'c1' & 'example' & 'test' ) )"
    assert run_search.tsquery_text(run_search.compile_search("@ab")) == "'ab'"  # leading punctuation dropped; short
    assert run_search.compile_search("--- ,,,") == []


def test_the_python_rule_matches_as_the_query_reads():
    payload = {"contact": {"email": "Ada.Lovelace@Example.test"}, "deal": {"title": "Deal 7", "value": 4201},
               "flag": True}

    def found(term):
        return run_search.run_matches(run_search.compile_search(term), payload, "Step 1 failed: HTTP 503", [])

    assert found("lovel") and found("ada lovelace") and found("example.test") and found("4201") and found("503 http")
    assert not found("lovel ada") and not found("lace") and not found("420") and not found("true")
