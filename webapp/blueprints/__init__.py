"""The blueprints, one per area, in the order create_app registers them."""
from webapp.api import bp as api_bp
from webapp.blueprints import (api_tokens, auth, automations, crm, cron, finance, hooks, insights, main, observability,
                               platform, projects, quick_rules, recruiting, runs, settings, support, test_runs,
                               workflow_versions)

BLUEPRINTS = (
    auth.bp, main.bp, settings.bp, automations.bp, cron.bp,
    crm.bp, projects.bp, support.bp, finance.bp, recruiting.bp, platform.bp,
    runs.bp, api_bp, api_tokens.bp, hooks.bp, hooks.panels_bp, quick_rules.bp, observability.bp,
    workflow_versions.bp, insights.bp, test_runs.bp,
)
