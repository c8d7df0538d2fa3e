"""Blueprint registration: one blueprint per area."""


def register_blueprints(app) -> None:
    from webapp.blueprints import auth, automations, cron, main, settings

    for module in (auth, main, settings, automations, cron):
        app.register_blueprint(module.bp)

    from webapp.blueprints import crm, finance, platform, projects, recruiting, support

    for module in (crm, projects, support, finance, recruiting, platform):
        app.register_blueprint(module.bp)

    from webapp.blueprints import runs

    app.register_blueprint(runs.bp)

    from webapp import api
    from webapp.blueprints import api_tokens

    app.register_blueprint(api.bp)
    app.register_blueprint(api_tokens.bp)

    from webapp.blueprints import hooks, quick_rules

    for blueprint in (hooks.bp, hooks.panels_bp, quick_rules.bp):
        app.register_blueprint(blueprint)
