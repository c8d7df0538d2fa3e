"""Blueprint registration: one blueprint per area."""


def register_blueprints(app) -> None:
    from webapp.blueprints import auth, automations, cron, main, settings

    for module in (auth, main, settings, automations, cron):
        app.register_blueprint(module.bp)
