"""Lease times on the database's clock, and the heartbeat that renews a lease while a long step runs.

Every worker compares and writes `lease_expires_at` with the database's own clock (PostgreSQL's
statement_timestamp()), so machines whose clocks drift apart still agree on when a lease ends. SQLite
runs on one machine and uses this process's clock.

While a run is held, one thread per process renews its lease every third of EXECUTION_LEASE_SECONDS
in a connection of its own, so a step longer than the lease is never taken over while its worker lives;
a worker that dies (SIGKILL, a lost machine) stops renewing and its runs are taken over once the lease
ends.
"""
import logging
import threading
import time
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, update

from models import WorkflowExecution, db
from models.base import utcnow
from models.types import UTCDateTime
from models.vocabulary import RunStatus

log = logging.getLogger(__name__)

EXECUTIONS = WorkflowExecution.__table__


def on_database_clock() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def database_now():
    """The database's "now" as an SQL expression (PostgreSQL), or this process's clock (SQLite)."""
    return func.statement_timestamp() if on_database_clock() else utcnow()


def expiry_after(now, seconds: float):
    """`now` (a datetime or database_now()) plus the lease, as a value or an SQL expression."""
    if isinstance(now, datetime):
        return now + timedelta(seconds=seconds)
    return now + func.make_interval(0, 0, 0, 0, 0, 0, float(seconds))


def renewal_expression():
    """statement_timestamp() + :lease_seconds, for a statement built once and run many times."""
    return func.statement_timestamp() + func.make_interval(0, 0, 0, 0, 0, 0, bindparam("lease_seconds"))


_RENEW = (
    update(EXECUTIONS)
    .where(EXECUTIONS.c.id.in_(bindparam("run_ids", expanding=True)), EXECUTIONS.c.lease_owner == bindparam("owner"),
           EXECUTIONS.c.status == RunStatus.RUNNING)
)


class LeaseKeeper:
    """Renews the leases this process holds; one thread per process, started on first use."""

    def __init__(self):
        self.lock = threading.Lock()
        self.held: dict[int, dict] = {}
        self.changed = threading.Event()
        self.thread: threading.Thread | None = None
        self.next_key = 0

    def hold(self, app, execution_ids: "int | list[int]", owner: str) -> int:
        """Keep renewing these leases (a run under way, or a claimed batch waiting its turn) until released."""
        seconds = float(app.config["EXECUTION_LEASE_SECONDS"])
        ids = [execution_ids] if isinstance(execution_ids, int) else list(execution_ids)
        with self.lock:
            self.next_key += 1
            key = self.next_key
            self.held[key] = {"app": app, "ids": ids, "owner": owner, "seconds": seconds,
                              "renewed": time.monotonic()}
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self.loop, name="workestra-lease-heartbeat", daemon=True)
                self.thread.start()
        return key

    def release(self, key: int) -> None:
        with self.lock:
            self.held.pop(key, None)

    def loop(self) -> None:
        while True:
            time.sleep(0.25)
            now = time.monotonic()
            with self.lock:
                due = [entry for entry in self.held.values() if now - entry["renewed"] >= entry["seconds"] / 3]
            for entry in due:
                try:
                    renewed = self.renew(entry)
                except Exception:  # a database blip: try again on the next tick, the lease still has 2/3 left
                    log.warning("Could not renew the leases of executions %s", entry["ids"], exc_info=True)
                    continue
                entry["renewed"] = now
                if renewed < len(entry["ids"]):
                    log.info("Of executions %s, %s are no longer held by %s (finished, cancelled or taken over)",
                             entry["ids"], len(entry["ids"]) - renewed, entry["owner"])

    @staticmethod
    def renew(entry) -> int:
        with entry["app"].app_context():
            engine = db.engine
            with engine.begin() as connection:
                if engine.dialect.name == "postgresql":
                    statement = _RENEW.values(lease_expires_at=renewal_expression())
                    params = {"lease_seconds": entry["seconds"]}
                else:
                    statement = _RENEW.values(lease_expires_at=bindparam("expires", type_=UTCDateTime()))
                    params = {"expires": utcnow() + timedelta(seconds=entry["seconds"])}
                result = connection.execute(statement, {"run_ids": entry["ids"], "owner": entry["owner"], **params})
                return result.rowcount


KEEPER = LeaseKeeper()
