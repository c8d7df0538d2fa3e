"""PostgreSQL's one-round-trip dispatch (engine.core.postgresql_runs) against the portable one.

The database function builds the definition snapshot in SQL; these tests hold it to the rows the portable
path builds in Python (Workflow.definition(), dispatcher.execution_row). They need PostgreSQL: on
SQLite both names lead to the same code.
"""
from contextlib import nullcontext

import pytest
from sqlalchemy import select, text, update

from engine.core import postgresql_runs as postgresql_dispatch, runs as dispatcher
from engine.core.catalog import sample_payload
from engine.core.runs import caused_by_execution, fire_workflow_event
from models import AuditEvent, Workflow, WorkflowExecution, db
from models.base import utcnow
from services import audit_service
from tests.factories import make_workflow, make_workspace
from tests.support.engine import log_step

COMPARED = ("workspace_id", "workflow_id", "workflow_name", "trigger_type", "source", "definition",
            "trigger_payload", "status", "completed_actions", "current_step", "step_attempts", "claim_count",
            "event_depth", "started_at", "finished_at", "lease_owner", "resume_at", "wait_marker", "replay_of_id",
            "chain_root_id")


@pytest.fixture
def pg_app(make_app):
    app = make_app(ENGINE_HANDOFF="sweep")
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the one-round-trip dispatch is PostgreSQL's")
        assert postgresql_dispatch.usable(db.session.connection()), "the migrations create workestra_dispatch()"
        yield app
        db.session.remove()


def _workflows(workspace_id):
    big_deals = [{"field": "deal.value", "op": "gte", "value": 1000}]
    workflows = [
        make_workflow(workspace_id, name="No conditions"),
        make_workflow(workspace_id, name="Holds", conditions=big_deals),
        make_workflow(workspace_id, name="Fails", conditions=[{"field": "deal.value", "op": "lt", "value": 0}]),
        make_workflow(workspace_id, name="Described, several steps", actions=[log_step("one"), log_step("two")]),
        make_workflow(workspace_id, name="Other trigger", trigger="deal_closed_won"),
    ]
    db.session.execute(update(Workflow).where(Workflow.id == workflows[3].id).values(description="Thanks → 💬 'quoted'"))
    db.session.commit()
    return workflows


def _dispatch_and_read(workspace_id, payload, depth=0):
    with caused_by_execution(depth - 1, []) if depth else nullcontext():
        ids = fire_workflow_event(workspace_id, "deal_created", payload)
    db.session.commit()
    db.session.expire_all()
    executions = db.session.scalars(select(WorkflowExecution).where(WorkflowExecution.id.in_(ids))
                                    .order_by(WorkflowExecution.workflow_id))
    return ids, [{column: getattr(execution, column) for column in COMPARED} | {"created_at": execution.created_at}
                 for execution in executions]


@pytest.mark.parametrize("depth", [0, 2])
def test_both_paths_insert_the_same_executions(pg_app, monkeypatch, depth):
    workspace = make_workspace("Paths")
    workflows = _workflows(workspace.id)
    payload = sample_payload("deal_created")
    payload["deal"]["value"] = 5000

    before = utcnow()
    in_database_ids, in_database = _dispatch_and_read(workspace.id, payload, depth)
    monkeypatch.setattr(postgresql_dispatch, "usable", lambda connection: False)
    portable_ids, portable = _dispatch_and_read(workspace.id, payload, depth)

    assert [row["workflow_id"] for row in in_database] == [workflows[0].id, workflows[1].id, workflows[3].id]
    assert in_database_ids == sorted(in_database_ids) and len(set(in_database_ids + portable_ids)) == 6
    for mine, theirs in zip(in_database, portable, strict=True):
        assert before <= mine.pop("created_at") <= theirs.pop("created_at")
        assert mine == theirs
    assert in_database[0]["definition"] == workflows[0].definition()
    assert in_database[2]["definition"]["description"] == "Thanks → 💬 'quoted'"
    assert in_database[0]["event_depth"] == depth


@pytest.mark.parametrize("in_database", [True, False])
def test_both_paths_keep_a_chain_within_its_budget(make_app, monkeypatch, in_database):
    """A chained event with room for 2 runs (budget 5, 2 used) and 3 matching workflows (one with conditions):
    both paths insert 2, with the chain's root, count them on the root and refuse the third."""
    app = make_app(ENGINE_HANDOFF="sweep", CHAIN_RUN_BUDGET=5)
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the one-round-trip dispatch is PostgreSQL's")
        if not in_database:
            monkeypatch.setattr(postgresql_dispatch, "usable", lambda connection: False)
        workspace = make_workspace("Budget paths")
        workflows = _workflows(workspace.id)
        payload = sample_payload("deal_created")
        payload["deal"]["value"] = 5000
        [root_id] = fire_workflow_event(workspace.id, "deal_closed_won", sample_payload("deal_closed_won"))
        db.session.execute(update(WorkflowExecution).where(WorkflowExecution.id == root_id).values(chain_runs=2))
        db.session.commit()
        refusals = []
        with caused_by_execution(0, refusals, root_id):
            ids = fire_workflow_event(workspace.id, "deal_created", payload)
        db.session.commit()
        runs = [db.session.get(WorkflowExecution, execution_id) for execution_id in ids]
        assert len(runs) == 2 and {run.chain_root_id for run in runs} == {root_id}
        assert {run.workflow_id for run in runs} < {workflows[0].id, workflows[1].id, workflows[3].id}
        assert db.session.get(WorkflowExecution, root_id).chain_runs == 4
        assert [refusal["refused"] for refusal in refusals] == [1]
        with caused_by_execution(1, refusals, ids[0]):  # a run of the chain: the same root, nothing left
            assert fire_workflow_event(workspace.id, "deal_created", payload) == []
        db.session.commit()
        assert [refusal["refused"] for refusal in refusals] == [1, 3]
        db.session.remove()


def test_no_match_inserts_nothing(pg_app):
    workspace = make_workspace("Quiet")
    make_workflow(workspace.id, trigger="ticket_created")
    make_workflow(workspace.id, conditions=[{"field": "deal.value", "op": "gte", "value": 10**9}])
    assert fire_workflow_event(workspace.id, "deal_created", sample_payload("deal_created")) == []
    db.session.commit()
    assert db.session.scalars(select(WorkflowExecution.id)).all() == []


def test_a_failed_second_round_keeps_the_first_and_the_business_change(pg_app, monkeypatch):
    """Workflows with conditions are inserted in a savepoint of their own, after those without."""
    handed = []
    monkeypatch.setattr(dispatcher, "hand_over_after_commit", lambda ids: ids and handed.append(ids))
    workspace = make_workspace("Half")
    plain = make_workflow(workspace.id, name="plain")
    make_workflow(workspace.id, name="conditioned", conditions=[{"field": "deal.value", "op": "gte", "value": 0}])
    real_insert_rows = postgresql_dispatch.insert_runs

    def refused_by_the_database(connection, rows):
        return real_insert_rows(connection, [{**row, "trigger_payload": ["not an object"]} for row in rows])

    monkeypatch.setattr(postgresql_dispatch, "insert_runs", refused_by_the_database)
    audit_service.record_event(workspace.id, "deal.created", "the business change")
    ids = fire_workflow_event(workspace.id, "deal_created", sample_payload("deal_created"))
    db.session.commit()

    assert handed == [ids] and len(ids) == 1
    assert db.session.get(WorkflowExecution, ids[0]).workflow_id == plain.id
    assert db.session.scalars(select(AuditEvent.event).where(AuditEvent.event == "deal.created")).all() == ["deal.created"]


def test_a_failure_part_way_through_inserts_nothing_and_reports_no_ids(pg_app):
    """The function's exception block rolls back every insert, including rows it already returned."""
    workspace = make_workspace("Part way")
    first = make_workflow(workspace.id, name="first")
    second = make_workflow(workspace.id, name="second")
    db.session.execute(text(f"""
        CREATE FUNCTION refuse_second_run() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.workflow_id = {second.id} THEN RAISE EXCEPTION 'refused by a test trigger'; END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_second_run BEFORE INSERT ON workflow_executions
            FOR EACH ROW EXECUTE FUNCTION refuse_second_run();"""))
    db.session.commit()
    try:
        audit_service.record_event(workspace.id, "deal.created", "the business change")
        assert fire_workflow_event(workspace.id, "deal_created", sample_payload("deal_created")) == []
        db.session.commit()
        assert db.session.scalars(select(WorkflowExecution.workflow_id)).all() == []
        assert db.session.scalars(select(AuditEvent.event).where(AuditEvent.event == "deal.created")).all() == ["deal.created"]
        assert first.id < second.id  # the first run was inserted, and returned, before the refusal
    finally:
        db.session.rollback()
        db.session.execute(text("DROP TRIGGER refuse_second_run ON workflow_executions; DROP FUNCTION refuse_second_run()"))
        db.session.commit()


def test_the_installed_functions_are_the_ones_the_code_generates(pg_app):
    """A change to the column lists without a migration that re-installs the functions fails here (and
    the runtime falls back to the portable path, see postgresql_runs.usable)."""
    for signature in (postgresql_dispatch.DISPATCH_SIGNATURE, postgresql_dispatch.INSERT_RUNS_SIGNATURE):
        comment = db.session.execute(text("SELECT obj_description(to_regprocedure(:signature), 'pg_proc')"),
                                     {"signature": signature}).scalar()
        assert comment == f"workestra {postgresql_dispatch.FUNCTIONS_HASH}", signature


def test_the_snapshot_carries_branches_and_conditions_match_unchanged(pg_app, monkeypatch):
    """Definition v2: both of PostgreSQL's functions (no conditions: the first call; conditions: the second)
    snapshot the nested then/else lists and conditions_match exactly as the portable path does."""
    workspace = make_workspace("Branches")
    branching = [log_step("one", id="a1"),
                 {"id": "b1", "type": "branch",
                  "config": {"match": "any", "conditions": [{"field": "steps.a1.output.event", "op": "eq", "value": "one"}]},
                  "then": [{"id": "b2", "type": "branch", "config": {"conditions": [{"field": "deal.value", "op": "gt", "value": 1}]},
                            "then": [log_step("deep", id="a2")]}],
                  "else": [log_step("other", id="a3")]}]
    plain = make_workflow(workspace.id, name="Unconditional", actions=branching)
    conditioned = make_workflow(workspace.id, name="Any", actions=branching, conditions_match="any",
                                conditions=[{"field": "deal.value", "op": "lt", "value": 0},
                                            {"field": "deal.title", "op": "is_not_empty"}])
    payload = sample_payload("deal_created")
    ids, in_database = _dispatch_and_read(workspace.id, payload)
    monkeypatch.setattr(postgresql_dispatch, "usable", lambda connection: False)
    _portable_ids, portable = _dispatch_and_read(workspace.id, payload)
    assert [row["workflow_id"] for row in in_database] == [plain.id, conditioned.id]
    for mine, theirs, workflow in zip(in_database, portable, (plain, conditioned), strict=True):
        assert mine["definition"] == theirs["definition"] == workflow.definition()
        assert mine["definition"]["actions"][1]["then"][0]["then"][0]["id"] == "a2"
    assert in_database[1]["definition"]["conditions_match"] == "any"
    assert in_database[0]["definition"]["conditions_match"] == "all"
