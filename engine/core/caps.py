"""Concurrency caps (issue #22): which waiting runs may start, decided by the database.

Two caps hold a run back as `pending` (never failed): its workflow's `max_concurrent_runs` (NULL = none) and
the app's WORKSPACE_MAX_RUNNING (0 = none). A run holds a slot while its row is `running` (a claimed run waiting
its turn in a worker's batch included); a wait step (`paused`) holds none.

How several workers on several machines agree (engine.runtime.runner.claim_states): a claim first takes
PostgreSQL's transaction-scoped advisory lock of every capped workflow and workspace among its candidates (in
one global order, so two claims cannot deadlock), then counts the running rows and moves only the oldest
candidates that fit under each cap, in its next statement. In READ COMMITTED that statement's snapshot is
taken after the locks were granted, and a claim holding a lock commits before it lets go of it, so every
count sees every earlier claim of the same workflow or workspace: two claims can never both take the last
slot. Runs without any cap skip all of this (their claim is the one statement it always was). SQLite has one
writer: the capped claim runs inside BEGIN IMMEDIATE instead.

Fairness across workspaces: candidates are ranked within their workspace (oldest first), so a claim, the
sweep and a freed slot's hand-over take at most a workspace's free slots from each workspace, round by round
(the sweep orders by that rank, then by age): a burst of one workspace cannot push another's runs back.
Nor can it in the Redis due list, where a burst's ids lie ahead of everyone else's: a worker whose batch was all
held back sifts the list (engine.runtime.crew.sift: the next 1,000 ids, the held-back ones dropped, the rest
first in line again), so another workspace's runs come up within one sift however long the burst is, and the
workers do not claim their way through it. A dropped run stays pending: a run that ends under a tight cap (see
`tight`) hands its slot to the next waiting run of its workflow or workspace, and the sweep hands over the rest.
"""
from sqlalchemy import and_, case, func, literal, or_, select, union

from models import Workflow, WorkflowExecution
from models.vocabulary import RunMode, RunStatus

EXECUTIONS = WorkflowExecution.__table__
WORKFLOWS = Workflow.__table__

# Advisory lock classes (pg_advisory_xact_lock(class, id)): one per kind of cap.
WORKFLOW_LOCK, WORKSPACE_LOCK = 2201, 2202


def holds_a_slot(table=EXECUTIONS):
    """The rows a cap counts: running live ones (a test run, issue #20, holds no slot)."""
    return and_(table.c.status == RunStatus.RUNNING, table.c.mode == RunMode.LIVE)


def takes_a_slot(table=EXECUTIONS):
    """The candidates a cap applies to: every live run (a test run never waits)."""
    return table.c.mode == RunMode.LIVE


def workflow_cap(table=EXECUTIONS):
    """The run's workflow's max_concurrent_runs, as a scalar subquery (NULL: no cap, or no workflow any more)."""
    return (select(WORKFLOWS.c.max_concurrent_runs).where(WORKFLOWS.c.id == table.c.workflow_id)
            .scalar_subquery())


# Built once: aliasing the table proxies all of its columns, which costs more than running the claim.
RUNNING_RUNS = EXECUTIONS.alias("running_runs")


def running_in_workflow(workflow_id):
    running = RUNNING_RUNS
    return (select(func.count()).select_from(running)
            .where(running.c.workflow_id == workflow_id, holds_a_slot(running)).scalar_subquery())


def running_in_workspace(workspace_id):
    running = RUNNING_RUNS
    return (select(func.count()).select_from(running)
            .where(running.c.workspace_id == workspace_id, holds_a_slot(running)).scalar_subquery())


def capped(workspace_max: int, table=EXECUTIONS):
    """Rows a cap applies to (with WORKSPACE_MAX_RUNNING on: every run)."""
    if workspace_max > 0:
        return takes_a_slot(table)
    return and_(takes_a_slot(table), workflow_cap(table).is_not(None))


def waiting_candidates(condition, oldest: int | None = None):
    """Rows (id, workspace_id, workflow_id, cap) meeting `condition`, not yet running (at most the `oldest` N)."""
    query = (select(EXECUTIONS.c.id, EXECUTIONS.c.workspace_id, EXECUTIONS.c.workflow_id, workflow_cap().label("cap"))
             .where(condition, EXECUTIONS.c.status != RunStatus.RUNNING))
    return query if oldest is None else query.order_by(EXECUTIONS.c.id).limit(oldest)


def _within(rank, free, share: bool):
    """rank <= free; with `share`, a claim takes at most half of a cap's free slots (at least one), so the slots
    of a small cap spread over the workers instead of waiting in one worker's batch."""
    if not share:
        return rank <= free
    return rank <= case((free >= 2, free / 2), else_=free)


def fitting(candidates, workspace_max: int, order_fairly: bool = False, share: bool = False, room: bool = False):
    """Of `candidates` (a SELECT of waiting_candidates' columns), the ids that fit under both caps: the oldest
    of each workflow up to its free slots, then of those the oldest of each workspace up to its free slots.
    `order_fairly`: the result in rounds across workspaces (each workspace's oldest first), else by id.
    `share`: for a claim (see _within). `room`: each row also carries its workspace_id, workflow_id, cap and the
    free slots of its workflow (NULL: no cap) and workspace (NULL: WORKSPACE_MAX_RUNNING off) before the claim."""
    rows = candidates.subquery("cap_candidates")
    workflow_free = case((rows.c.cap.is_(None), None), else_=rows.c.cap - running_in_workflow(rows.c.workflow_id))
    by_workflow = select(rows, workflow_free.label("workflow_free"),
                         func.row_number().over(partition_by=rows.c.workflow_id, order_by=rows.c.id)
                         .label("workflow_rank")).subquery("by_workflow")
    fits_workflow = or_(by_workflow.c.cap.is_(None), _within(by_workflow.c.workflow_rank, by_workflow.c.workflow_free,
                                                             share))
    if workspace_max <= 0:
        columns = [by_workflow.c.id]
        if room:
            columns += [by_workflow.c.workspace_id, by_workflow.c.workflow_id, by_workflow.c.cap,
                        by_workflow.c.workflow_free, literal(None).label("workspace_free")]
        return select(*columns).where(fits_workflow).order_by(by_workflow.c.id)
    allowed = select(by_workflow.c.id, by_workflow.c.workspace_id, by_workflow.c.workflow_id, by_workflow.c.cap,
                     by_workflow.c.workflow_free).where(fits_workflow).subquery("within_workflow")
    by_workspace = select(allowed, (literal(workspace_max) - running_in_workspace(allowed.c.workspace_id))
                          .label("workspace_free"),
                          func.row_number().over(partition_by=allowed.c.workspace_id, order_by=allowed.c.id)
                          .label("workspace_rank")).subquery("by_workspace")
    columns = [by_workspace.c.id]
    if room:
        columns += [by_workspace.c.workspace_id, by_workspace.c.workflow_id, by_workspace.c.cap,
                    by_workspace.c.workflow_free, by_workspace.c.workspace_free]
    query = select(*columns).where(_within(by_workspace.c.workspace_rank, by_workspace.c.workspace_free, share))
    return query.order_by(by_workspace.c.workspace_rank, by_workspace.c.id) if order_fairly \
        else query.order_by(by_workspace.c.id)


def tight(room_rows, workspace_max: int) -> set[int]:
    """Of the rows of a claim's look (fitting(room=True)), the ids whose workflow or workspace cap is tight: the
    look's runs fill its free slots, or half of its slots were taken already. A run claimed under a tight cap
    hands its slot on when it ends (engine.runtime.runner.hand_over_freed_slot): others may be waiting, now or
    soon, and do not depend on the sweep. Under a cap far from reached a run's end costs nothing more (B1)."""
    per_workflow: dict = {}
    per_workspace: dict = {}
    for row in room_rows:
        if row.cap is not None:
            per_workflow[row.workflow_id] = per_workflow.get(row.workflow_id, 0) + 1
        per_workspace[row.workspace_id] = per_workspace.get(row.workspace_id, 0) + 1

    def near(cap, free, taking) -> bool:
        return free is not None and (taking >= free or 2 * (cap - free) >= cap)

    return {row.id for row in room_rows
            if (row.cap is not None and near(row.cap, row.workflow_free, per_workflow[row.workflow_id]))
            or (workspace_max > 0 and near(workspace_max, row.workspace_free, per_workspace[row.workspace_id]))}


def advisory_locks(candidate_condition, workspace_max: int):
    """PostgreSQL: a SELECT taking the transaction-scoped advisory lock of every capped workflow (and, with
    WORKSPACE_MAX_RUNNING on, every workspace) among the rows meeting `candidate_condition`, in one global
    order (class, id). Returns a row per lock: none means nothing among them is capped."""
    keys = [select(literal(WORKFLOW_LOCK).label("lock_class"), EXECUTIONS.c.workflow_id.label("lock_id"))
            .where(candidate_condition, workflow_cap().is_not(None))]
    if workspace_max > 0:
        keys.append(select(literal(WORKSPACE_LOCK).label("lock_class"), EXECUTIONS.c.workspace_id.label("lock_id"))
                    .where(candidate_condition))
    ordered = union(*keys).subquery("lock_keys") if len(keys) > 1 else keys[0].distinct().subquery("lock_keys")
    inner = select(ordered.c.lock_class, ordered.c.lock_id).order_by(ordered.c.lock_class, ordered.c.lock_id) \
        .subquery("ordered_keys")
    return select(func.pg_advisory_xact_lock(inner.c.lock_class, inner.c.lock_id))


def slots(workflow_id: int | None, workspace_id: int):
    """(running in the workflow, its cap, running in the workspace): for the Runs tab's "queued" line."""
    return select(running_in_workflow(literal(workflow_id)), select(WORKFLOWS.c.max_concurrent_runs)
                  .where(WORKFLOWS.c.id == workflow_id).scalar_subquery(), running_in_workspace(literal(workspace_id)))
