"""CLI groups, one per noun: `flask --app webapp workspaces|users|demo|automations|config ...`."""
import click
from flask import Flask, current_app
from flask.cli import AppGroup

from engine.runtime.cli import automations_cli
from engine.runtime.sweep import sweep_pending_executions
from models.vocabulary import Role, values
from services import demo_service, email_service, retention_service, workspace_service
from services.errors import NotFound, ValidationFailed
from webapp.config import README, markdown_table, with_table
from webapp.api.cli import tokens_cli
from webapp.extensions import db

workspaces_cli = AppGroup("workspaces", help="Create and inspect workspaces.")
users_cli = AppGroup("users", help="Manage users and their roles.")


def _fail(error: Exception):
    db.session.rollback()
    raise click.ClickException(str(error))


@workspaces_cli.command("create")
@click.option("--name", required=True, help="Workspace name.")
@click.option("--owner-email", required=True, help="Email of the owner (a new account).")
@click.option("--password", required=True, help="The owner's password (8 characters or more).")
def create_workspace_command(name, owner_email, password):
    try:
        workspace, user = workspace_service.create_workspace(name, owner_email, password)
        db.session.commit()
    except ValidationFailed as failure:
        _fail(failure)
    click.echo(f"Created workspace {workspace.name} (id {workspace.id}) owned by {user.email}.")


@users_cli.command("add")
@click.option("--workspace", "workspace_ref", required=True, help="Workspace id or name.")
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--role", type=click.Choice(values(Role)), default=Role.MEMBER.value, show_default=True)
@click.option("--name", default="")
def add_user_command(workspace_ref, email, password, role, name):
    try:
        workspace = workspace_service.find_workspace(workspace_ref)
        user = workspace_service.add_user(workspace, email, password, role, name)
        db.session.commit()
    except (ValidationFailed, NotFound) as failure:
        _fail(failure)
    click.echo(f"Added {user.email} to {workspace.name} as {role}.")


@click.command("demo", help="Create the demo workspace with an owner, an admin, a member and sample data.")
def demo_command():
    # A CLI process ends right away: run what the demo data triggers here, with the sweep, not in threads.
    current_app.config.update(ENGINE_HANDOFF="sweep", SWEEP_PENDING_GRACE_SECONDS=0)
    result = demo_service.create_demo_workspace()
    db.session.commit()
    runs = sweep_pending_executions()["claimed"] if result.created else 0
    verb = "Created" if result.created else "Found"
    click.echo(f"{verb} the demo workspace {result.workspace.name!r} (id {result.workspace.id}).")
    if runs:
        click.echo(f"Ran the {runs} workflow runs its sample data triggered.")
    click.echo("Sign in at http://127.0.0.1:5000/login with any of:")
    for role, email in result.logins:
        click.echo(f"  {role:<6} {email} / {demo_service.DEMO_PASSWORD}")


@automations_cli.command("prune")
@click.option("--batch", type=click.IntRange(1, 100_000), default=None,
              help="Rows per transaction (default: RUN_PRUNE_BATCH).")
def prune_command(batch):
    """Delete every workspace's finished runs, webhook deliveries, sent emails and read notifications older than
    its retention period (Settings → Workspace), in short batches. The daily totals behind stats stay."""
    results = retention_service.prune_all(batch=batch)
    for result in results:
        counts = ", ".join(f"{count:,} {key.replace('_', ' ')}" for key, count in result.deleted.items())
        kept = "keeps everything" if result.cutoff is None else f"before {result.cutoff:%Y-%m-%d %H:%M} UTC"
        click.echo(f"Workspace {result.workspace_id} ({kept}): deleted {counts}.")
    click.echo(f"Pruned {len(results)} workspaces.")


emails_cli = AppGroup("emails", help="The email outbox.")


@emails_cli.command("deliver")
@click.option("--limit", default=100, show_default=True, help="At most this many emails.")
def deliver_emails_command(limit):
    """Send outbox emails still queued (normally they are sent right after their transaction commits)."""
    counts = email_service.deliver_pending(limit)
    click.echo(f"Sent {counts['sent']}, failed {counts['failed']}.")


config_cli = AppGroup("config", help="The settings table (webapp/config.py).")


@config_cli.command("table")
@click.option("--write-readme", is_flag=True, help="Rewrite README's Configuration table instead of printing it.")
def config_table_command(write_readme):
    """Print README's Configuration table, generated from the settings table."""
    if write_readme:
        README.write_text(with_table(README.read_text(encoding="utf-8")), encoding="utf-8")
        click.echo(f"Rewrote the Configuration table of {README}.")
    else:
        click.echo(markdown_table(), nl=False)


def register_cli(app: Flask) -> None:
    app.cli.add_command(config_cli)
    app.cli.add_command(emails_cli)
    app.cli.add_command(workspaces_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_command)
    app.cli.add_command(automations_cli)
    app.cli.add_command(tokens_cli)
