"""A real RQ worker process whose Log Event steps are slow, so a test can kill it mid-execution.

Run as `python -m tests.support.slow_worker` with DATABASE_URL and REDIS_URL in the environment.
After each Log Event it sets the Redis key PROGRESS_KEY to "<execution id>:<step index>": steps that
share a transaction are not visible in the database until the run commits, so that key is how a test
knows the worker is mid-run.
"""
import os
import time

from engine.executors import EXECUTORS, load_executors
from engine.core.redis_client import redis_connection
from engine.runtime.handoff import RQ_QUEUE_NAME
from engine.runtime.worker import AppSimpleWorker
from webapp import create_app

PROGRESS_KEY = "slow-worker:progress"


def main() -> None:
    real = load_executors()["log_event"]
    pause = float(os.environ.get("SLOW_STEP_SECONDS", "0.2"))

    app = create_app()

    def slow_log_event(step):
        time.sleep(pause)
        output = real(step)
        redis_connection(app).set(PROGRESS_KEY, f"{step.execution_id}:{step.step_index}")
        return output

    EXECUTORS["log_event"] = slow_log_event
    AppSimpleWorker([RQ_QUEUE_NAME], connection=redis_connection(app), app=app).work()


if __name__ == "__main__":
    main()
