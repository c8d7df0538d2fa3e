"""Extensions created unbound at import time and bound in create_app."""
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx

from models.base import db

migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = Htmx()

__all__ = ["db", "migrate", "login_manager", "csrf", "htmx"]
