"""Home page and health check."""
from flask import Blueprint, current_app, jsonify, render_template

from webapp.blueprints.observability import newest_heartbeat_age
from webapp.database import database_answers
from webapp.security import public

# A worker whose heartbeat is older than this many WORKER_HEARTBEAT_SECONDS is reported stale.
STALE_HEARTBEATS = 3

bp = Blueprint("main", __name__)


@bp.get("/")
def dashboard():
    return render_template("main/dashboard.html")


def queue_health() -> str:
    redis_url = current_app.config["REDIS_URL"]
    if not redis_url:
        return "embedded"
    import redis

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1).ping()
        return "ok"
    except redis.RedisError:
        return "down"


@bp.get("/healthz")
@public
def healthz():
    """The database and, with REDIS_URL, Redis are required (503 when down). The workers' heartbeat is reported
    (`workers`: ok / stale / none) but does not fail the check: a load balancer must not take the web down
    because the workers are being deployed."""
    database_ok = database_answers()
    queue = queue_health()
    body = {"database": "ok" if database_ok else "down", "queue": queue}
    if queue == "ok":
        age = newest_heartbeat_age()
        limit = STALE_HEARTBEATS * current_app.config["WORKER_HEARTBEAT_SECONDS"]
        body["workers"] = "none" if age is None else ("ok" if age <= limit else "stale")
        body["worker_heartbeat_age_seconds"] = None if age is None else round(age, 1)
    return jsonify(body), 200 if database_ok and queue != "down" else 503
