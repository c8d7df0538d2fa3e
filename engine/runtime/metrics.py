"""The engine's Prometheus metrics (DESIGN.md "Observability"; names are a contract).

Counters and the step histogram live in the process that does the work (an RQ worker, a web process's
embedded runner). With PROMETHEUS_MULTIPROC_DIR set before the process starts (gunicorn, and the workers
of the same machine) prometheus_client writes them to files there and `/metrics` adds up every process's
values. The backlog gauges are read from the database when `/metrics` is scraped, so they are right
whichever machine does the work.
"""
import os
from datetime import datetime, timezone

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select

from models import WorkflowExecution, db
from models.vocabulary import RunStatus

RUNS_FINISHED = Counter("workestra_runs_finished", "Runs that reached a final status, by status", ["status"])
STEP_DURATION = Histogram("workestra_step_duration_seconds", "Duration of one step, by action type", ["action"],
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60))
LEASE_TAKEOVERS = Counter("workestra_lease_takeovers", "Runs claimed from a worker whose lease had expired")


_STEP_CHILDREN: dict = {}  # action → its labelled histogram (labels() costs more than the observation)
_FINISHED_CHILDREN: dict = {}


def observe_steps(records: list) -> None:
    for record in records:
        duration = record.get("duration_ms") if isinstance(record, dict) else None
        if isinstance(duration, (int, float)) and record.get("status") != "skipped":
            action = str(record.get("type"))
            child = _STEP_CHILDREN.get(action)
            if child is None:
                child = _STEP_CHILDREN[action] = STEP_DURATION.labels(action=action)
            child.observe(duration / 1000)


def run_finished(status: str) -> None:
    child = _FINISHED_CHILDREN.get(status)
    if child is None:
        child = _FINISHED_CHILDREN[status] = RUNS_FINISHED.labels(status=status)
    child.inc()


class BacklogCollector:
    """The run gauges, counted by the database at scrape time (inside the app context of the request)."""

    def __init__(self, heartbeat_age=None):
        self.heartbeat_age = heartbeat_age  # callable -> seconds since the newest worker heartbeat, or None

    def collect(self):
        now = datetime.now(timezone.utc)
        executions = WorkflowExecution.__table__.c
        counts = dict(db.session.execute(
            select(executions.status, func.count())
            .where(executions.status.in_((RunStatus.PENDING, RunStatus.RUNNING)))
            .group_by(executions.status)).all())
        due = func.coalesce(executions.resume_at, executions.created_at)
        oldest = db.session.scalar(
            select(func.min(due)).where(executions.status == RunStatus.PENDING,
                                        (executions.resume_at.is_(None)) | (executions.resume_at <= now)))
        db.session.rollback()
        if isinstance(oldest, str):  # SQLite without the column type (an aggregate): parse it
            oldest = datetime.fromisoformat(oldest)
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=timezone.utc)
        yield GaugeMetricFamily("workestra_runs_pending", "Runs waiting to be run (status pending)",
                                value=counts.get(RunStatus.PENDING, 0))
        yield GaugeMetricFamily("workestra_runs_running", "Runs a worker holds right now (status running)",
                                value=counts.get(RunStatus.RUNNING, 0))
        yield GaugeMetricFamily("workestra_oldest_pending_age_seconds",
                                "Seconds since the oldest due pending run became due (0 when none is)",
                                value=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
        if self.heartbeat_age is not None:
            age = self.heartbeat_age()
            if age is not None:
                yield GaugeMetricFamily("workestra_worker_heartbeat_age_seconds",
                                        "Seconds since the newest RQ worker heartbeat", value=age)


def registry_for_scrape(heartbeat_age=None) -> CollectorRegistry:
    """A registry for one scrape: every process's counters (multiprocess mode) or this process's, plus the backlog."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        for collector in (RUNS_FINISHED, STEP_DURATION, LEASE_TAKEOVERS):
            registry.register(_Forward(collector))
    registry.register(BacklogCollector(heartbeat_age))
    return registry


class _Forward:
    """A metric of the global registry shown in another registry (a collector can belong to one registry only)."""

    def __init__(self, metric):
        self.metric = metric

    def collect(self):
        return self.metric.collect()

