"""A real RQ worker process whose Log Event steps are slow, so a test can kill it mid-execution.

Run as `python -m tests.support.slow_worker` with DATABASE_URL and REDIS_URL in the environment.
"""
import os
import time

from rq import SimpleWorker

from engine.executors import EXECUTORS, load_executors
from engine.queue import RQ_QUEUE_NAME, redis_connection
from webapp import create_app


def main() -> None:
    real = load_executors()["log_event"]
    pause = float(os.environ.get("SLOW_STEP_SECONDS", "0.2"))

    def slow_log_event(step):
        time.sleep(pause)
        return real(step)

    EXECUTORS["log_event"] = slow_log_event
    app = create_app()
    with app.app_context():
        SimpleWorker([RQ_QUEUE_NAME], connection=redis_connection(app)).work()


if __name__ == "__main__":
    main()
