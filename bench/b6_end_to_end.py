"""B6E end to end (issue #24): events through gunicorn to finished runs, embedded and on the scale path.

The workload of issue #24: gunicorn as in the Procfile (2 processes × 4 threads), a 3-step in-process workflow
(B1's: log event, in-app notification, update deal), triggered (1) by signed `POST /hooks/<token>` deliveries
and, separately, (2) by `POST /api/v1/deals` with a Bearer token. Two modes:

- embedded: SQLite, no Redis; the web processes' own runner threads run the runs;
- scale: PostgreSQL + Redis + 2 `flask automations worker` processes (AppSimpleWorker).

Each (mode, source) pair gets warm-up requests, then a burst (2,000 requests from 20 concurrent keep-alive
clients) and a steady rate (20 requests/s for 30 s, open loop: each request at its scheduled time). Per phase:
completed runs/s = completed / (last finished_at − first created_at), event → finished p50/p99 from the rows'
own timestamps (finished_at − created_at), and CPU per completed run of the web processes and of the workers
separately (utime + stime from /proc of each process tree, from the phase's first request until its last run
finished). B1's PG figure (2 × SimpleWorker) and SQLite figure are measured in the same session and printed
beside it, with the targets' ratios. The load generator runs on the same 2 cores: its own CPU is not counted,
but it competes with the app.

Environment: B6E_MODES (embedded,scale), B6E_SOURCES (webhook,api), B6E_BURST (2000), B6E_RATE (20),
B6E_SECONDS (30), B6E_CONCURRENCY (20), B6E_PORT (5125), B6E_B1 (1: also measure B1).
"""
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time

from sqlalchemy import create_engine, text

from bench import common
from bench.common import heading, line

SIZES = {"small": {"burst": 2000, "rate": 20, "seconds": 30}, "full": {"burst": 2000, "rate": 20, "seconds": 30}}
CONCURRENCY = int(os.environ.get("B6E_CONCURRENCY", "20"))
PORT = int(os.environ.get("B6E_PORT", "5125"))
WORKERS = 2
WARM_UP = 60
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

WEBHOOK_STEPS = [
    {"type": "log_event", "config": {"event": "bench_step", "message": "{{ trigger.body.deal.title }}"}},
    {"type": "send_in_app_notification",
     "config": {"recipient": "role", "role": "owner", "title": "New deal {{ trigger.body.deal.title }}"}},
    {"type": "update_deal", "config": {"deal_id": "{{ trigger.body.deal.id }}", "changes": {"probability": 55}}},
]


# -- /proc -------------------------------------------------------------------------------------------
def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and its reaped children)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), sum(int(value) for value in fields[11:15]) / CLOCK_TICKS


def tree_cpu_seconds(roots: list[int]) -> float:
    """utime + stime (+ reaped children's) of these processes and every live descendant."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                stats[int(entry)] = stat
    children: dict[int, list[int]] = {}
    for pid, (parent, _cpu) in stats.items():
        children.setdefault(parent, []).append(pid)
    total, todo, seen = 0.0, list(roots), set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in stats:
            continue
        seen.add(pid)
        total += stats[pid][1]
        todo += children.get(pid, [])
    return total


# -- the app's processes -------------------------------------------------------------------------------
def app_env(url: str, redis_url: str | None) -> dict:
    env = dict(os.environ, DATABASE_URL=url, AUTOMATIONS_ENABLED="true", APP_ENV="development", FLASK_APP="webapp",
               SECRET_KEY="bench-secret-key-0123456789", WEBHOOK_RATE_LIMIT_PER_MINUTE="0",
               SEED_ONBOARDING_WORKFLOW="false", PYTHONUNBUFFERED="1")
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def _log(name: str):
    """stdout/stderr of a started process: a file under B6E_LOG_DIR when set, else nowhere."""
    folder = os.environ.get("B6E_LOG_DIR")
    if not folder:
        return subprocess.DEVNULL
    os.makedirs(folder, exist_ok=True)
    return open(os.path.join(folder, f"{name}.log"), "ab")


def start_gunicorn(env: dict) -> subprocess.Popen:
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    process = subprocess.Popen([gunicorn, "--workers", "2", "--threads", "4", "--bind", f"127.0.0.1:{PORT}",
                                "webapp:create_app()"], cwd=common.ROOT, env=env,
                               stdout=_log("web"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=2)
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            return process
        except OSError:
            time.sleep(0.3)
    stop_process(process)
    raise TimeoutError("gunicorn did not answer within 60 s")


def stop_process(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def start_workers(url: str, redis_url: str) -> list[subprocess.Popen]:
    command = [sys.executable, "-m", "flask", "--app", "webapp", "automations", "worker", "--with-scheduler"]
    env = dict(app_env(url, redis_url), SWEEP_INTERVAL_SECONDS="30")
    return [subprocess.Popen(command, cwd=common.ROOT, env=env, stdout=_log(f"worker-{n}"),
                             stderr=subprocess.STDOUT, start_new_session=True) for n in range(WORKERS)]


# -- the scenario ---------------------------------------------------------------------------------------
def seed(url: str) -> dict:
    """A workspace with a deal, a Webhook Received workflow and a deal_created workflow (B1's 3 steps), an API token."""
    from models import WebhookEndpoint, Workflow, db
    from services import api_token_service, deal_service, incoming_webhook_service, workflow_service
    from sqlalchemy import select

    app = common.make_app(url, ENGINE_HANDOFF="sweep")
    with app.app_context():
        workspace_id, owner = common.seed_workspace("B6E Co", actions=common.THREE_STEPS)
        deal = deal_service.create_deal(workspace_id, {"title": "Webhook target", "value": "100"}, owner)
        db.session.commit()
        hooked = workflow_service.create_workflow(workspace_id, {
            "name": "Bench: webhook", "trigger": {"type": "webhook_received", "config": {}}, "conditions": [],
            "actions": WEBHOOK_STEPS, "error_strategy": "continue", "status": "active"})
        db.session.commit()
        incoming_webhook_service.sync_endpoint(hooked)
        db.session.commit()
        endpoint = db.session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.workflow_id == hooked.id))
        from models import Workspace
        _token, secret = api_token_service.create_token(db.session.get(Workspace, workspace_id), owner, "bench")
        db.session.commit()
        deals_workflow = db.session.scalar(select(Workflow.id).where(Workflow.workspace_id == workspace_id,
                                                                     Workflow.trigger_type == "deal_created"))
        seeded = {"deal_id": deal.id, "token": endpoint.token, "hook_secret": endpoint.secret, "api_secret": secret,
                  "workflows": {"webhook": hooked.id, "api": deals_workflow}}
        db.session.remove()
        db.engine.dispose()
    return seeded


class Sender:
    """One keep-alive connection per client thread; builds and sends request n of a source."""

    def __init__(self, seeded: dict, source: str):
        self.seeded, self.source = seeded, source
        self.local = threading.local()

    def connection(self) -> http.client.HTTPConnection:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = self.local.connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        return connection

    def request(self, n: int) -> tuple[str, str, bytes, dict]:
        from services.incoming_webhook_service import SIGNATURE_HEADER, sign

        if self.source == "webhook":
            body = json.dumps({"deal": {"id": self.seeded["deal_id"], "title": f"Deal {n}"}, "n": n}).encode()
            headers = {"Content-Type": "application/json",
                       SIGNATURE_HEADER: sign(self.seeded["hook_secret"], body, int(time.time()))}
            return "POST", f"/hooks/{self.seeded['token']}", body, headers
        body = json.dumps({"title": f"Deal {n}", "value": "100"}).encode()
        return "POST", "/api/v1/deals", body, {"Content-Type": "application/json",
                                               "Authorization": f"Bearer {self.seeded['api_secret']}"}

    def send(self, n: int) -> int:
        method, path, body, headers = self.request(n)
        for attempt in range(2):
            try:
                connection = self.connection()
                connection.request(method, path, body, headers)
                response = connection.getresponse()
                response.read()
                return response.status
            except (OSError, http.client.HTTPException):
                self.local.connection = None
                if attempt:
                    return 0
        return 0


def send_burst(sender: Sender, count: int, start: int) -> dict:
    numbers = iter(range(start, start + count))
    lock = threading.Lock()
    statuses: dict = {}

    def client():
        while True:
            with lock:
                n = next(numbers, None)
            if n is None:
                return
            status = sender.send(n)
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    _run_clients(client)
    return statuses


def _run_clients(client) -> None:
    """CONCURRENCY threads each running `client` until it returns."""
    threads = [threading.Thread(target=client) for _ in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def send_steady(sender: Sender, rate: float, seconds: float, start: int) -> dict:
    count = int(rate * seconds)
    began = time.monotonic() + 0.2
    lock = threading.Lock()
    state = {"next": 0, "late": 0}
    statuses: dict = {}

    def client():
        while True:
            with lock:
                k = state["next"]
                state["next"] += 1
            if k >= count:
                return
            due = began + k / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.05:
                state["late"] += 1
            status = sender.send(start + k)
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    _run_clients(client)
    statuses["late_starts"] = state["late"]
    return statuses


def phase_rows(url: str, workflow_id: int, since: int) -> dict:
    engine = create_engine(url)
    if url.startswith("sqlite"):
        latency = ("(julianday(finished_at) - julianday(created_at)) * 86400.0, "
                   "(julianday(started_at) - julianday(created_at)) * 86400.0")
        window = "(julianday(max(finished_at)) - julianday(min(created_at))) * 86400.0"
    else:
        latency = "extract(epoch FROM finished_at - created_at), extract(epoch FROM started_at - created_at)"
        window = "extract(epoch FROM max(finished_at) - min(created_at))"
    with engine.connect() as connection:
        rows = [(float(row[0]), float(row[1])) for row in connection.execute(text(
            f"SELECT {latency} FROM workflow_executions WHERE id > :since AND workflow_id = :wf "
            "AND status = 'completed'"), {"since": since, "wf": workflow_id})]
        span = connection.scalar(text(f"SELECT {window} FROM workflow_executions WHERE id > :since "
                                      "AND workflow_id = :wf AND status = 'completed'"),
                                 {"since": since, "wf": workflow_id})
        statuses = dict(connection.execute(text(
            "SELECT status, count(*) FROM workflow_executions WHERE id > :since AND workflow_id = :wf GROUP BY status"),
            {"since": since, "wf": workflow_id}).all())
    engine.dispose()
    return {"latencies": [row[0] for row in rows], "to_start": [row[1] for row in rows], "span": float(span or 0.0),
            "statuses": statuses}


def wait_for_runs(url: str, workflow_id: int, since: int, expected: int, timeout: float) -> None:
    engine = create_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                done = connection.scalar(text(
                    "SELECT count(*) FROM workflow_executions WHERE id > :since AND workflow_id = :wf "
                    "AND status IN ('completed', 'failed', 'cancelled')"), {"since": since, "wf": workflow_id})
            if done >= expected:
                return
            time.sleep(0.1)
    finally:
        engine.dispose()


def measure_phase(url, seeded, source, kind, sizes, web_pids, worker_pids, counter) -> dict:
    sender = Sender(seeded, source)
    workflow_id = seeded["workflows"][source]
    since = common.max_execution_id(url)
    web_before, workers_before = tree_cpu_seconds(web_pids), tree_cpu_seconds(worker_pids)
    began = time.perf_counter()
    if kind == "burst":
        statuses = send_burst(sender, sizes["burst"], counter)
        sent = sizes["burst"]
    else:
        statuses = send_steady(sender, sizes["rate"], sizes["seconds"], counter)
        sent = int(sizes["rate"] * sizes["seconds"])
    send_seconds = time.perf_counter() - began
    accepted = sum(n for status, n in statuses.items() if status in (200, 201, 202))
    wait_for_runs(url, workflow_id, since, accepted, timeout=max(120, accepted / 5))
    wall = time.perf_counter() - began
    web_cpu, worker_cpu = tree_cpu_seconds(web_pids) - web_before, tree_cpu_seconds(worker_pids) - workers_before
    rows = phase_rows(url, workflow_id, since)
    completed = rows["statuses"].get("completed", 0)
    lat = rows["latencies"]
    return {"sent": sent, "http": statuses, "send_s": send_seconds, "requests_per_s": sent / send_seconds,
            "wall_s": wall, "completed": completed, "statuses": rows["statuses"],
            "completed_per_s": completed / rows["span"] if rows["span"] else 0.0,
            "p50_ms": common.percentile(lat, 50) * 1000, "p99_ms": common.percentile(lat, 99) * 1000,
            "to_start_p50_ms": common.percentile(rows["to_start"], 50) * 1000,
            "web_cpu_ms_per_run": web_cpu * 1000 / completed if completed else float("nan"),
            "worker_cpu_ms_per_run": worker_cpu * 1000 / completed if completed else float("nan"),
            "cpu_ms_per_run": (web_cpu + worker_cpu) * 1000 / completed if completed else float("nan"),
            "web_cores": web_cpu / wall, "worker_cores": worker_cpu / wall}


def print_phase(label: str, figures: dict) -> None:
    line(f"{label}: completed/s ({figures['completed']}/{figures['sent']}, http {figures['http']})",
         f"{figures['completed_per_s']:.1f}", f"runs/s (requests sent at {figures['requests_per_s']:.1f}/s)")
    line(f"{label}: event → finished p50 / p99", f"{figures['p50_ms']:.0f} / {figures['p99_ms']:.0f}",
         f"ms  (event → claimed p50 {figures['to_start_p50_ms']:.0f} ms)")
    line(f"{label}: CPU per completed run, web + workers = all",
         f"{figures['web_cpu_ms_per_run']:.1f} + {figures['worker_cpu_ms_per_run']:.1f} = "
         f"{figures['cpu_ms_per_run']:.1f}", f"ms  (web {figures['web_cores']:.2f} cores, workers "
                                            f"{figures['worker_cores']:.2f} cores)")


def run_mode(mode: str, sizes: dict, sources: list[str]) -> dict:
    url = common.sqlite_url() if mode == "embedded" else common.pg_url()
    redis_url = common.REDIS_URL if mode == "scale" else None
    common.reset_database(url)
    if redis_url:
        common.flush_redis(redis_url)
    seeded = seed(url)
    env = app_env(url, redis_url)
    workers = start_workers(url, redis_url) if mode == "scale" else []
    web = start_gunicorn(env)
    results: dict = {}
    counter = 0
    try:
        if workers:
            common.wait_for_idle_workers(WORKERS)
        for source in sources:
            sender = Sender(seeded, source)
            since = common.max_execution_id(url)
            statuses = send_burst(sender, WARM_UP, counter)
            counter += WARM_UP
            wait_for_runs(url, seeded["workflows"][source], since,
                          sum(n for s, n in statuses.items() if s in (200, 201, 202)), timeout=60)
            for kind in ("burst", "steady"):
                figures = measure_phase(url, seeded, source, kind, sizes, [web.pid], [w.pid for w in workers], counter)
                counter += figures["sent"]
                results[f"{source}_{kind}"] = figures
                print_phase(f"{mode} {source} {kind}", figures)
    finally:
        stop_process(web)
        for worker in workers:
            stop_process(worker)
    return results


def b1_figures() -> dict:
    """B1 in this session: PG + 2 × SimpleWorker, and SQLite's embedded runner (B1's small sizes)."""
    from bench import b1_throughput

    url = common.pg_url()
    common.reset_database(url)
    pg = b1_throughput.rq_throughput(url, b1_throughput.SIZES["small"]["pg"], 2, "simple")
    sqlite = b1_throughput.sqlite_throughput(b1_throughput.SIZES["small"]["sqlite"])
    line("B1 (same session): PG + RQ 2 × SimpleWorker", f"{pg['per_s']:.0f}", "runs/s")
    line("B1 (same session): SQLite embedded runner", f"{sqlite['per_s']:.0f}", "runs/s")
    return {"pg_per_s": pg["per_s"], "sqlite_per_s": sqlite["per_s"]}


def verdicts(results: dict, b1: dict | None, sources: list[str]) -> dict:
    checks = {}
    scale, embedded = results.get("scale", {}), results.get("embedded", {})
    for source in sources:
        burst, steady = scale.get(f"{source}_burst"), scale.get(f"{source}_steady")
        if burst and b1:
            ratio = burst["completed_per_s"] / b1["pg_per_s"]
            checks[f"{source}: scale burst / B1 PG ≥ 0.6"] = ratio
        if burst and steady:
            checks[f"{source}: scale 20/s CPU per run / burst's ≤ 1.25"] = steady["cpu_ms_per_run"] / burst["cpu_ms_per_run"]
        embedded_steady = embedded.get(f"{source}_steady")
        if steady and embedded_steady:
            checks[f"{source}: scale 20/s p50 / embedded's ≤ 1"] = steady["p50_ms"] / embedded_steady["p50_ms"]
        embedded_burst = embedded.get(f"{source}_burst")
        if embedded_burst:
            checks[f"{source}: embedded burst p99 (s) ≤ 1"] = embedded_burst["p99_ms"] / 1000
    limits = {"≥ 0.6": (0.6, True), "≤ 1.25": (1.25, False), "≤ 1": (1.0, False)}
    for name, value in checks.items():
        limit, higher = next(limits[key] for key in limits if name.endswith(key))
        line(name, f"{value:.2f}", common.verdict(value, limit, higher))
    return checks


def run(size: str = "small") -> dict:
    sizes = dict(SIZES[size])
    sizes["burst"] = int(os.environ.get("B6E_BURST", sizes["burst"]))
    sizes["rate"] = float(os.environ.get("B6E_RATE", sizes["rate"]))
    sizes["seconds"] = float(os.environ.get("B6E_SECONDS", sizes["seconds"]))
    modes = [m.strip() for m in os.environ.get("B6E_MODES", "embedded,scale").split(",") if m.strip()]
    sources = [s.strip() for s in os.environ.get("B6E_SOURCES", "webhook,api").split(",") if s.strip()]
    heading(f"B6E end to end: gunicorn 2×4, {', '.join(sources)}; burst {sizes['burst']} at concurrency "
            f"{CONCURRENCY}, then {sizes['rate']:.0f}/s for {sizes['seconds']:.0f} s; modes {', '.join(modes)}")
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    line("load average before", load)
    results: dict = {"sizes": sizes}
    for mode in modes:
        results[mode] = run_mode(mode, sizes, sources)
    b1 = b1_figures() if os.environ.get("B6E_B1", "1") == "1" else None
    results["b1"] = b1
    results["checks"] = verdicts(results, b1, sources)
    return results


if __name__ == "__main__":  # `PYTHONPATH=<tree> python bench/b6_end_to_end.py` runs it against another tree too
    import logging

    logging.basicConfig(level=logging.WARNING)
    figures = run(os.environ.get("B6E_SIZE", "small"))
    if os.environ.get("B6E_JSON"):
        with open(os.environ["B6E_JSON"], "w") as out:
            json.dump(figures, out, indent=1, default=str)
