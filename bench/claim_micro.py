"""Claim cost with caps configured but not reached (issue #22, s7-fair): 300 claims of 20 pending runs of a
workflow capped at 1,000 with WORKSPACE_MAX_RUNNING=1000 (each claim then handed back), in one process, no Redis.
Usage: DATABASE_URL=postgresql+psycopg://.../<fresh db, upgraded> REDIS_URL= AUTOMATIONS_ENABLED=true \
       .venv/bin/python bench/claim_micro.py   (from the checkout to measure)"""
import os
import sys
import time

sys.path.insert(0, os.getcwd())
os.environ.setdefault("SECRET_KEY", "x" * 32)

from webapp import create_app  # noqa: E402 (the checkout measured is the working directory)
from models import db  # noqa: E402

app = create_app()
CAPS = os.environ.get("CLAIM_MICRO_CAPS", "1") == "1"  # 0: the same claims without any cap, for comparison
app.config.update(WORKSPACE_MAX_RUNNING=1000 if CAPS else 0, ENGINE_HANDOFF="sweep")
with app.app_context():
    from tests.factories import make_workflow, make_workspace
    from engine.core.runs import fire_workflow_event
    from engine.core.catalog import sample_payload
    from engine.runtime.runner import claim_states, hand_back
    ws = make_workspace("Micro Co")
    wf = make_workflow(ws.id)
    wf.max_concurrent_runs = 1000 if CAPS else None
    db.session.commit()
    ids = []
    for _ in range(200):
        ids += fire_workflow_event(ws.id, "deal_created", sample_payload("deal_created"))
    db.session.commit()
    times = []
    for rep in range(10):
        for start in range(0, 200, 20):
            batch = ids[start:start + 20]
            t = time.perf_counter()
            states = claim_states(batch, "micro")
            times.append(time.perf_counter() - t)
            assert len(states) == 20, len(states)
            hand_back(states, "micro")
    times.sort()
    print(os.getcwd(), "caps" if CAPS else "no caps", "claim of 20: median %.2f ms, p90 %.2f ms" % (1000 * times[len(times) // 2], 1000 * times[int(len(times) * 0.9)]))
