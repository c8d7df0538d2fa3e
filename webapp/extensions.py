"""Extensions created unbound at import time and bound in create_app."""
from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx

from models.base import db

migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = Htmx()
# Storage from RATELIMIT_STORAGE_URI (webapp.config: Redis when REDIS_URL is set, else memory). A Redis
# outage must not lock people out: errors are swallowed and counting falls back to memory.
limiter = Limiter(key_func=get_remote_address, headers_enabled=True, swallow_errors=True,
                  in_memory_fallback_enabled=True, key_prefix="workestra-auth")
# Only the sign-in routes carry Flask-Limiter limits: the front door's blueprints (signed webhooks, with their own
# limits in services.incoming_webhook_service, and the token API) skip its per-request lookup altogether.
# They never act through the login session either (webapp.security): signed deliveries and bearer tokens.
FRONT_DOOR_BLUEPRINTS = frozenset({"hooks", "api_v1"})


@limiter.request_filter
def _front_door_has_no_limiter_limits() -> bool:
    return request.blueprint in FRONT_DOOR_BLUEPRINTS

__all__ = ["db", "migrate", "login_manager", "csrf", "htmx", "limiter"]
