"""Home page and health check."""
from flask import Blueprint, current_app, jsonify, render_template

from webapp.database import database_answers
from webapp.security import public

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
    database_ok = database_answers()
    body = {"database": "ok" if database_ok else "down", "queue": queue_health()}
    return jsonify(body), 200 if database_ok else 503
