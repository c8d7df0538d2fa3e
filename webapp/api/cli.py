"""`flask --app webapp tokens create --workspace <id or name> --email <user> [--name ...]` prints a new API token."""
import click
from flask.cli import AppGroup

from services import api_token_service, workspace_service
from services.errors import NotFound, ValidationFailed
from webapp.extensions import db

tokens_cli = AppGroup("tokens", help="Create API tokens for the REST API (/api/v1).")


@tokens_cli.command("create")
@click.option("--workspace", "workspace_ref", required=True, help="Workspace id or name.")
@click.option("--email", required=True, help="The member the token acts as (with their role).")
@click.option("--name", default="CLI token", show_default=True, help="What the token is for.")
def create_token_command(workspace_ref, email, name):
    """Print the token on stdout (only once: only its hash is stored)."""
    try:
        workspace = workspace_service.find_workspace(workspace_ref)
        user = workspace_service.find_user_by_email(email)
        if user is None:
            raise NotFound(f"No user with the email {email}.")
        _token, secret = api_token_service.create_token(workspace, user, name)
        db.session.commit()
    except (ValidationFailed, NotFound) as failure:
        db.session.rollback()
        raise click.ClickException(str(failure)) from None
    click.echo(secret)
