"""FinishedRun: what the runner knows of a run it has just closed, as it hands it to the run-finished hook
(services.failure_alerts.on_run_finished, called by path: engine.runtime does not import services)."""
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class FinishedRun:
    id: int
    workspace_id: int
    workflow_id: int | None
    workflow_name: str
    trigger_type: str
    status: str
    error: str | None
    finished_at: datetime
    event_depth: int = 0
    started_at: datetime | None = None
