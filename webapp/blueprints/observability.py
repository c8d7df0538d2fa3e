"""GET /metrics: the Prometheus text format (DESIGN.md "Observability").

Open from loopback; from anywhere else only with `Authorization: Bearer $METRICS_TOKEN`. Under gunicorn
set PROMETHEUS_MULTIPROC_DIR (an empty directory, the same for the web processes and the workers of the
machine) so every process's counters are added up; the backlog gauges come from the database.
"""
import hmac
import ipaddress

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis import RedisError

from engine.runtime.handoff import heartbeats
from engine.runtime.metrics import registry_for_scrape
from webapp.security import public

bp = Blueprint("observability", __name__)


def _from_loopback() -> bool:
    try:
        return ipaddress.ip_address((request.remote_addr or "").split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _token_matches() -> bool:
    expected = current_app.config["METRICS_TOKEN"]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not token.strip():
        return False
    return hmac.compare_digest(token.strip().encode(), expected.encode())


def newest_heartbeat_age() -> float | None:
    """Seconds since the newest RQ worker heartbeat; None without Redis, with Redis down or no worker yet."""
    app = current_app._get_current_object()
    if not app.config["REDIS_URL"]:
        return None
    try:
        ages = heartbeats(app)
    except RedisError:
        return None
    return min(ages.values()) if ages else None


@bp.get("/metrics")
@public
def metrics():
    if not (_from_loopback() or _token_matches()):
        abort(403, description="Metrics are served to loopback, or with 'Authorization: Bearer <METRICS_TOKEN>'.")
    return Response(generate_latest(registry_for_scrape(newest_heartbeat_age)), mimetype=CONTENT_TYPE_LATEST)
