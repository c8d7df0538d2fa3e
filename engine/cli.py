"""`flask automations ...`: the sweep and the worker."""
from flask.cli import AppGroup

automations_cli = AppGroup("automations", help="The workflow engine: sweep and worker.")
