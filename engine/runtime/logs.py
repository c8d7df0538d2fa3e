"""Logging, configured the same way in the web app and in every worker (DESIGN.md "Observability").

One line per event with time, level, logger, workspace and run ids; LOG_FORMAT=json writes one JSON
object per line instead. The runner puts the run it works on in a context variable, so every line
logged while a run is under way (by the engine, an executor or a service) carries its ids.
"""
import contextvars
import json
import logging
import sys
from contextlib import contextmanager
from datetime import datetime, timezone

_RUN = contextvars.ContextVar("workestra_run", default=None)
HANDLER_NAME = "workestra"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [ws=%(workspace_id)s run=%(run_id)s] %(message)s"


@contextmanager
def run_context(workspace_id: int | None, run_id: int | None):
    token = _RUN.set((workspace_id, run_id))
    try:
        yield
    finally:
        _RUN.reset(token)


class RunIds(logging.Filter):
    """Adds workspace_id and run_id ("-" outside a run) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = _RUN.get()
        if not hasattr(record, "workspace_id"):
            record.workspace_id = ids[0] if ids else "-"
        if not hasattr(record, "run_id"):
            record.run_id = ids[1] if ids else "-"
        return True


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
            "workspace_id": None if record.workspace_id == "-" else record.workspace_id,
            "run_id": None if record.run_id == "-" else record.run_id,
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(log_format: str = "text", level: str = "info") -> None:
    """Install one handler on the root logger (stderr), replacing the one a previous call installed."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.addFilter(RunIds())
    handler.setFormatter(JsonLines() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())
