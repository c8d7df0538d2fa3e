"""after_commit: side effects only once the caller's transaction has committed.

Whatever leaves the process for a change (a run handed to the queue, an email sent) must wait for
the commit: the change may still roll back. Items are collected per callback on the session and the
callback gets them all at once, in one call per commit; a rollback of the outer transaction drops
them. A SAVEPOINT being released fires SQLAlchemy's after_commit too: that one is ignored.
"""
import logging
from typing import Callable

from flask import Flask, current_app
from sqlalchemy import event

from models import db

log = logging.getLogger(__name__)

_PENDING_KEY = "workestra_after_commit"
_HOOKED_KEY = "workestra_after_commit_hooked"

AfterCommit = Callable[[Flask, list], None]


def after_commit(callback: AfterCommit, items: list) -> None:
    """Call `callback(app, items)` after the current session's transaction commits, with every item
    registered for that callback since the last commit; never when it rolls back."""
    session = db.session()
    session.info.setdefault(_PENDING_KEY, {}).setdefault(callback, []).extend(items)
    if not session.info.get(_HOOKED_KEY):
        session.info[_HOOKED_KEY] = True
        app = current_app._get_current_object()
        event.listen(session, "after_commit", lambda committed: _run_pending(app, committed))
        event.listen(session, "after_rollback", _forget_pending)


def _run_pending(app: Flask, session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT was released: wait for the real commit
    pending = session.info.pop(_PENDING_KEY, None)
    for callback, items in (pending or {}).items():
        try:
            callback(app, items)
        except Exception:  # never break the caller's commit: each callback's work has a backstop (sweep, outbox)
            log.exception("After-commit %s failed for %s", getattr(callback, "__qualname__", callback), items)


def _forget_pending(session) -> None:
    # A savepoint rollback fires this too while the outer transaction goes on: keep the items then.
    if not session.in_transaction():
        session.info.pop(_PENDING_KEY, None)
