"""Blueprint registration: one blueprint per area."""


def register_blueprints(app) -> None:
    from webapp.blueprints import auth, automations, cron, main, settings

    for module in (auth, main, settings, automations, cron):
        app.register_blueprint(module.bp)

    from webapp.blueprints import crm, finance, platform, projects, recruiting, support

    for module in (crm, projects, support, finance, recruiting, platform):
        app.register_blueprint(module.bp)
