"""A sweeper process for the race tests: `python -m tests.reliability.sweeper <seconds>` sweeps in a loop
(DATABASE_URL etc. from the environment) until nothing is due for a while or the time is up."""
import sys
import time

from engine.runtime.sweep import sweep_pending_executions
from models import db
from webapp import create_app


def main() -> None:
    limit = float(sys.argv[1]) if len(sys.argv) > 1 else 60
    app = create_app()
    deadline = time.monotonic() + limit
    idle_since = None
    with app.app_context():
        while time.monotonic() < deadline:
            counts = sweep_pending_executions()
            db.session.remove()
            if counts["due"] == 0:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 3:
                    return
                time.sleep(0.05)
            else:
                idle_since = None


if __name__ == "__main__":
    main()
