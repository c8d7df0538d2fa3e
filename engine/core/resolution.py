"""A failed run is resolved once a replay of it completes without a failed step (issue #22).

The replay that completes marks the run it replayed, and that run's own original when the original was a
failed run too (a replay of a replay), as `resolved_by_id` = the completing replay. The Runs tab leaves
resolved runs out of the Failed tab's count and list by default and shows "resolved by #N" on them.
"""
from sqlalchemy import select, update

from models import WorkflowExecution, db
from models.vocabulary import RunStatus

MAX_REPLAY_DEPTH = 20  # replays of replays followed at most this far up


def mark_resolved_by(replay_id: int, replay_of_id: int) -> int:
    """Mark the failed, unresolved runs up the replay chain from `replay_of_id` as resolved by `replay_id`, in the
    caller's transaction; how many were marked. A run that is not failed stops the walk (a completed original
    needs no resolving; its own original, if failed, was resolved when it completed)."""
    chain, current = [], replay_of_id
    while current is not None and len(chain) < MAX_REPLAY_DEPTH:
        row = db.session.execute(
            select(WorkflowExecution.status, WorkflowExecution.replay_of_id).where(WorkflowExecution.id == current)
        ).first()
        if row is None or row.status != RunStatus.FAILED:
            break
        chain.append(current)
        current = row.replay_of_id
    if not chain:
        return 0
    result = db.session.execute(
        update(WorkflowExecution)
        .where(WorkflowExecution.id.in_(chain), WorkflowExecution.status == RunStatus.FAILED,
               WorkflowExecution.resolved_by_id.is_(None))
        .values(resolved_by_id=replay_id)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount
