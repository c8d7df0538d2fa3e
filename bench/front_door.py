"""The front door (issue #24): what one request costs the web processes, through gunicorn as in the Procfile.

    .venv/bin/python -m bench.front_door --mode sqlite|pg [--root DIR] [--requests 600] [--concurrency 8]
    .venv/bin/python -m bench.front_door --profile hook|deal   # one path in-process under cProfile

Against a running app (`gunicorn --workers 2 --threads 4 "webapp:create_app()"`, started from `--root`, so the
same script measures another checkout of the code, e.g. main, on the same schema), on a fresh database
(SQLite file, or PostgreSQL `BENCH_FD_PG_DB` + Redis `BENCH_FD_REDIS_URL`), it drives, one phase after the other:
- `hook`: signed `POST /hooks/<token>` deliveries (a new delivery id and body each) to an active Webhook
  Received workflow (the bench's 3-step workflow);
- `deal`: `POST /api/v1/deals` with a bearer token, firing deal_created to an active 3-step workflow;
- `contact`: `POST /api/v1/contacts` (fires contact_created; no workflow listens);
- `get`: `GET /api/v1/deals/<id>`.
For each phase: requests/s, latency p50/p99 (client side) and CPU per request of the gunicorn master and its
workers (utime + stime from /proc, before and after the phase). Runs are handed over but not run: SQLite runs
with ENGINE_HANDOFF=sweep (no embedded runner threads in the web processes, so their CPU is the front door's
alone); PostgreSQL hands runs to Redis (the hand-off is part of the cost) with no worker consuming them.
"""
import argparse
import hashlib
import hmac
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PG_BASE = os.environ.get("BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
PG_DB = os.environ.get("BENCH_FD_PG_DB", "bench24fd")
REDIS_URL = os.environ.get("BENCH_FD_REDIS_URL", "redis://127.0.0.1:6379/10")
SQLITE_PATH = os.environ.get("BENCH_FD_SQLITE", "/tmp/workestra-front-door.db")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PHASES = ("hook", "deal", "contact", "get")

# Run with the measured tree's own python (cwd = that tree): a workspace, the two workflows, a token, a deal.
SEED = r"""
import json, sys
from webapp import create_app
from models import db
from services import api_token_service, deal_service, incoming_webhook_service, workflow_service, workspace_service
steps = json.loads(sys.argv[1])
app = create_app()
with app.app_context():
    ws, owner = workspace_service.create_workspace("Front door", "bench@front-door.test", "bench-pass-2718", "Bench")
    workflows = [workflow_service.create_workflow(ws.id, {"name": trigger, "trigger": {"type": trigger, "config": {}},
                     "conditions": [], "actions": steps, "error_strategy": "continue", "status": "active"})
                 for trigger in ("webhook_received", "deal_created")]
    db.session.commit()
    endpoint = incoming_webhook_service.endpoint_for(workflows[0].id)
    _token, secret = api_token_service.create_token(ws, owner, "bench")
    deal = deal_service.create_deal(ws.id, {"title": "Seed", "value": 100}, owner)
    db.session.commit()
    print(json.dumps({"token": endpoint.token, "secret": endpoint.secret, "api": secret, "deal_id": deal.id}))
"""
STEPS = [  # the bench's 3-step workflow (bench.common.THREE_STEPS), on a trigger without a deal it logs twice
    {"type": "log_event", "config": {"event": "bench_step", "message": "front door"}},
    {"type": "send_in_app_notification", "config": {"recipient": "role", "role": "owner", "title": "Front door"}},
    {"type": "log_event", "config": {"event": "bench_done", "message": "done"}},
]


def environment(mode: str, port: int) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DATABASE_URL", "REDIS_URL"))}
    env.update({
        "APP_ENV": "production", "SECRET_KEY": "front-door-bench-secret-0123456789abcdef", "AUTOMATIONS_ENABLED": "true",
        "CRON_SECRET": "front-door-cron-secret-0123", "WEBHOOK_SIGNING_SECRET": "front-door-webhook-secret-0123",
        "WEBHOOK_RATE_LIMIT_PER_MINUTE": "1000000", "WEBHOOK_UNVERIFIED_PER_MINUTE": "0", "SWEEP_INTERVAL_SECONDS": "0",
        "SEED_ONBOARDING_WORKFLOW": "false",
    })
    if mode == "pg":
        env["DATABASE_URL"] = f"{PG_BASE}/{PG_DB}"
        env["REDIS_URL"] = REDIS_URL
    else:
        env["DATABASE_URL"] = f"sqlite:///{SQLITE_PATH}"
        env["ENGINE_HANDOFF"] = "sweep"
    return env


def fresh_database(mode: str, root: str, env: dict) -> dict:
    if mode == "pg":
        admin = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-q", "-c"]
        subprocess.run(admin + [f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"], check=True)
        subprocess.run(admin + [f"CREATE DATABASE {PG_DB}"], check=True)
        subprocess.run(["redis-cli", "-u", REDIS_URL, "flushdb"], check=True, stdout=subprocess.DEVNULL)
    else:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(SQLITE_PATH + suffix):
                os.remove(SQLITE_PATH + suffix)
    python = os.path.join(root, ".venv/bin/python")
    subprocess.run([os.path.join(root, ".venv/bin/flask"), "--app", "webapp", "db", "upgrade"], cwd=root, env=env,
                   check=True, stdout=subprocess.DEVNULL)
    out = subprocess.run([python, "-c", SEED, json.dumps(STEPS)], cwd=root, env=env, check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def start_server(root: str, env: dict, port: int) -> subprocess.Popen:
    server = subprocess.Popen([os.path.join(root, ".venv/bin/gunicorn"), "--workers", "2", "--threads", "4",
                               "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "webapp:create_app()"],
                              cwd=root, env=env, start_new_session=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            if len(children(server.pid)) >= 2:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    stop_server(server)
    raise RuntimeError("gunicorn did not start")


def stop_server(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


def children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as handle:
            found += [int(child) for child in handle.read().split()]
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLOCK_TICKS


# -- requests ------------------------------------------------------------------------------------
def hook_request(seed: dict, n: int):
    body = json.dumps({"event": "order.created", "order_id": f"ORD-{n}-{uuid.uuid4().hex[:8]}", "total": 12.5}).encode()
    timestamp = int(time.time())
    digest = hmac.new(seed["secret"].encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Workestra-Signature": f"t={timestamp},v1={digest}",
               "X-Workestra-Webhook-Id": f"fd-{uuid.uuid4().hex}"}
    return "POST", f"/hooks/{seed['token']}", body, headers, 202


def api_headers(seed: dict) -> dict:
    return {"Content-Type": "application/json", "Authorization": f"Bearer {seed['api']}"}


def deal_request(seed: dict, n: int):
    return "POST", "/api/v1/deals", json.dumps({"title": f"Deal {n}", "value": 100}).encode(), api_headers(seed), 201


def contact_request(seed: dict, n: int):
    body = json.dumps({"name": f"Contact {n}", "email": f"c{n}-{uuid.uuid4().hex[:6]}@example.test"}).encode()
    return "POST", "/api/v1/contacts", body, api_headers(seed), 201


def get_request(seed: dict, n: int):
    return "GET", f"/api/v1/deals/{seed['deal_id']}", None, api_headers(seed), 200


REQUESTS = {"hook": hook_request, "deal": deal_request, "contact": contact_request, "get": get_request}


def drive(port: int, seed: dict, phase: str, total: int, concurrency: int) -> tuple[list[float], float, list[str]]:
    """`total` requests from `concurrency` keep-alive clients; (latencies in s, wall time, errors)."""
    make = REQUESTS[phase]
    counter = iter(range(total))
    lock = threading.Lock()
    latencies, errors = [], []

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                break
            method, path, body, headers, expected = make(seed, n)
            began = time.perf_counter()
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - began
            with lock:
                latencies.append(elapsed)
                if response.status != expected and len(errors) < 5:
                    errors.append(f"{response.status} {payload[:200]!r}")
            if response.getheader("Connection", "").lower() == "close":
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - began, errors


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(mode: str, root: str, port: int, total: int, concurrency: int, phases) -> dict:
    env = environment(mode, port)
    seed = fresh_database(mode, root, env)
    server = start_server(root, env, port)
    try:
        pids = [server.pid] + children(server.pid)
        figures = {}
        for phase in phases:
            drive(port, seed, phase, max(20, total // 10), concurrency)  # warm-up: imports, pools, caches
            cpu_before = cpu_seconds(pids)
            latencies, wall, errors = drive(port, seed, phase, total, concurrency)
            cpu = cpu_seconds(pids) - cpu_before
            figures[phase] = {
                "rps": len(latencies) / wall, "p50_ms": 1000 * percentile(latencies, 0.5),
                "p99_ms": 1000 * percentile(latencies, 0.99), "cpu_ms": 1000 * cpu / len(latencies),
                "errors": errors,
            }
        return figures
    finally:
        stop_server(server)


def report(label: str, figures: dict) -> None:
    for phase, row in figures.items():
        errors = f"  ERRORS: {row['errors']}" if row["errors"] else ""
        print(f"{label:<28} {phase:<8} {row['rps']:7.1f} req/s  p50 {row['p50_ms']:6.1f} ms  p99 {row['p99_ms']:6.1f} ms"
              f"  web CPU {row['cpu_ms']:5.2f} ms/req{errors}", flush=True)


# -- in-process profile ----------------------------------------------------------------------------
def profile(path: str, mode: str, count: int) -> None:
    """`count` requests of one path through the Flask test client in this process, under cProfile."""
    import cProfile
    import pstats

    env = environment(mode, 0)
    seed = fresh_database(mode, ROOT, env)
    os.environ.update(env)
    from webapp import create_app
    app = create_app()
    client = app.test_client()
    make = {"hook": hook_request, "deal": deal_request}[path]

    def run(first: int, n: int) -> None:
        for i in range(first, first + n):
            method, url, body, headers, expected = make(seed, i)
            response = client.open(url, method=method, data=body, headers=headers)
            assert response.status_code == expected, response.get_data(as_text=True)[:300]

    run(0, 50)
    profiler = cProfile.Profile()
    began = time.process_time()
    profiler.enable()
    run(50, count)
    profiler.disable()
    print(f"{path} ({mode}): {1000 * (time.process_time() - began) / count:.2f} ms CPU per request (under cProfile)")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("sqlite", "pg"), default="sqlite")
    parser.add_argument("--root", default=ROOT, help="the checkout to measure (its .venv runs gunicorn)")
    parser.add_argument("--label", default=None)
    parser.add_argument("--port", type=int, default=5130)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--profile", choices=("hook", "deal"), default=None)
    parser.add_argument("--json", default=None, help="append the figures as one JSON line to this file")
    args = parser.parse_args()
    if args.profile:
        profile(args.profile, args.mode, args.requests)
        return
    figures = measure(args.mode, os.path.abspath(args.root), args.port, args.requests, args.concurrency,
                      args.phases.split(","))
    label = args.label or f"{args.mode} {os.path.basename(os.path.abspath(args.root))}"
    report(label, figures)
    if args.json:
        with open(args.json, "a") as handle:
            handle.write(json.dumps({"label": label, "mode": args.mode, "root": args.root, "at": time.time(),
                                     "figures": figures}) + "\n")


if __name__ == "__main__":
    sys.exit(main())
