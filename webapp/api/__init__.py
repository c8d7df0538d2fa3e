"""The public REST API v1 (/api/v1): token-authenticated JSON over the same services as the pages.

Importing the package declares every endpoint on `bp`; register `bp` on the app.
"""
from webapp.api import auth, business, catalog, executions, openapi, templates, workflows  # noqa: F401  (importing declares the routes)
from webapp.api.blueprint import bp

__all__ = ["bp"]
