"""Workspaces, users, memberships and invitations."""
import secrets
from datetime import timedelta
from functools import lru_cache
from zoneinfo import available_timezones

from flask import current_app
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from models import Invitation, Membership, Role, User, Workspace, db
from models.base import utcnow
from models.vocabulary import one_of, values
from services import audit_service, email_service, template_service
from services.common import is_plain_int
from services.password_policy import password_problem
from services.errors import NotFound, PermissionDenied, ValidationFailed

ROLE_VALUES = values(Role)
ROLE_ERROR = f"Choose {one_of(Role)}."
INVITATION_LIFETIME = timedelta(days=7)
# Said for a sign-up with an email that already has an account, so the page does not tell whether it has.
SIGNUP_REFUSED = ("We could not create a workspace with this email. If you already have an account, "
                  "sign in and create or join workspaces from there.")


def _check_password(value: str) -> None:
    problem = password_problem(value)
    if problem:
        raise ValidationError(problem)


class _Stripped(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


class NewUserSchema(Schema):
    email = fields.Email(required=True, error_messages={"required": "Email is required.", "invalid": "Enter a valid email address."})
    password = fields.String(
        required=True, validate=_check_password, error_messages={"required": "Password is required."},
    )
    name = _Stripped(load_default="", validate=validate.Length(max=120))


class NewWorkspaceSchema(NewUserSchema):
    workspace_name = _Stripped(
        required=True,
        validate=validate.Length(min=1, max=120, error="Workspace name is required (at most 120 characters)."),
        error_messages={"required": "Workspace name is required."},
    )


class InvitationSchema(Schema):
    email = fields.Email(required=True, error_messages={"required": "Email is required.", "invalid": "Enter a valid email address."})
    role = fields.String(
        required=True, validate=validate.OneOf(ROLE_VALUES, error=ROLE_ERROR)
    )


def _load(schema: Schema, data: dict) -> dict:
    try:
        loaded = schema.load(data, unknown="exclude")
    except ValidationError as error:
        raise ValidationFailed(error.normalized_messages()) from None
    if "email" in loaded:
        loaded["email"] = loaded["email"].strip().lower()
    return loaded


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == (email or "").strip().lower()))


def _new_user(email: str, password: str, name: str = "", taken_message: str = "An account with this email already exists.") -> User:
    password_hash = _hash(password)  # hashed first: a taken email takes as long to refuse as a new one
    if find_user_by_email(email):
        raise ValidationFailed({"email": [taken_message]})
    user = User(email=email, name=name, password_hash=password_hash, session_token=secrets.token_hex(16))
    db.session.add(user)
    return user


def create_workspace(workspace_name: str, email: str, password: str, name: str = "") -> tuple[Workspace, User]:
    """Sign-up: a new user who owns a new workspace."""
    data = _load(NewWorkspaceSchema(), {"workspace_name": workspace_name, "email": email, "password": password, "name": name})
    user = _new_user(data["email"], data["password"], data["name"], taken_message=SIGNUP_REFUSED)
    workspace = Workspace(name=data["workspace_name"])
    db.session.add(workspace)
    db.session.add(Membership(workspace=workspace, user=user, role=Role.OWNER))
    db.session.flush()
    if current_app.config["SEED_ONBOARDING_WORKFLOW"]:
        template_service.seed_workspace_workflows(workspace.id)
    return workspace, user


def add_user(workspace: Workspace, email: str, password: str, role: str, name: str = "") -> User:
    """Add a user to a workspace, creating the account when it does not exist yet."""
    if role not in ROLE_VALUES:
        raise ValidationFailed({"role": [ROLE_ERROR]})
    user = find_user_by_email(email)
    if user is None:
        data = _load(NewUserSchema(), {"email": email, "password": password, "name": name})
        user = _new_user(data["email"], data["password"], data["name"])
    _add_membership(workspace, user, role)
    db.session.flush()
    return user


def _add_membership(workspace: Workspace, user: User, role: str) -> Membership:
    existing = db.session.scalar(
        select(Membership).where(Membership.workspace_id == workspace.id, Membership.user_id == user.id)
    ) if user.id else None
    if existing:
        raise ValidationFailed({"email": [f"{user.email} is already a member of {workspace.name}."]})
    membership = Membership(workspace=workspace, user=user, role=role)
    db.session.add(membership)
    return membership


def _hash(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


@lru_cache(maxsize=4)
def _dummy_hash(method: str) -> str:
    return generate_password_hash(secrets.token_hex(16), method=method)


def authenticate(email: str, password: str) -> User | None:
    """The user with this email and password, or None. An unknown email costs a hash check too (against a
    dummy hash of the configured method), so the time to refuse does not tell which emails have accounts."""
    user = find_user_by_email(email or "")
    if user is None:
        check_password_hash(_dummy_hash(current_app.config["PASSWORD_HASH_METHOD"]), password or "")
        return None
    if not check_password_hash(user.password_hash, password or ""):
        return None
    return user


def change_password(user: User, current_password: str, new_password: str, confirmation: str) -> None:
    """Check the current password and the policy, store the new hash and sign out every other session."""
    errors = {}
    if not check_password_hash(user.password_hash, current_password or ""):
        errors["current_password"] = ["This is not your current password."]
    problem = password_problem(new_password or "")
    if problem:
        errors["new_password"] = [problem]
    elif new_password == current_password:
        errors["new_password"] = ["Choose a password different from the current one."]
    if not errors.get("new_password") and new_password != confirmation:
        errors["confirmation"] = ["The two new passwords differ."]
    if errors:
        raise ValidationFailed(errors)
    user.password_hash = _hash(new_password)
    rotate_session_token(user)


def rotate_session_token(user: User) -> None:
    """Invalidate every session cookie of this user (called at login and logout)."""
    user.session_token = secrets.token_hex(16)
    db.session.flush()


def find_workspace(identifier: str) -> Workspace:
    """A workspace by id or by exact name (for the CLI)."""
    identifier = str(identifier).strip()
    workspace = db.session.get(Workspace, int(identifier)) if is_plain_int(identifier) else None
    workspace = workspace or db.session.scalar(select(Workspace).where(Workspace.name == identifier))
    if workspace is None:
        raise NotFound(f"No workspace {identifier!r}.")
    return workspace


def list_members(workspace: Workspace) -> list[Membership]:
    return list(
        db.session.scalars(
            select(Membership).join(User).where(Membership.workspace_id == workspace.id).order_by(User.email)
        )
    )


def pending_invitations(workspace: Workspace) -> list[Invitation]:
    """Invitations not accepted yet and not expired."""
    return list(
        db.session.scalars(
            select(Invitation)
            .where(Invitation.workspace_id == workspace.id, Invitation.accepted_at.is_(None),
                   Invitation.created_at > utcnow() - INVITATION_LIFETIME)
            .order_by(Invitation.created_at.desc())
        )
    )


def invitation_expires_at(invitation: Invitation):
    return invitation.created_at + INVITATION_LIFETIME


def _acting_membership(workspace: Workspace, actor: User) -> Membership:
    acting = membership_in(actor, workspace.id)
    if acting is None or acting.role_enum.rank < Role.ADMIN.rank:
        raise PermissionDenied("Only owners and admins can manage members.")
    return acting


def _member_of(workspace: Workspace, membership_id) -> Membership:
    membership = db.session.scalar(select(Membership).where(
        Membership.id == membership_id, Membership.workspace_id == workspace.id)) if is_plain_int(str(membership_id)) else None
    if membership is None:
        raise NotFound("This person is not a member of this workspace.")
    return membership


def _owner_count(workspace: Workspace) -> int:
    return db.session.scalar(select(func.count()).select_from(Membership).where(
        Membership.workspace_id == workspace.id, Membership.role == Role.OWNER.value))


def _check_may_manage(acting: Membership, target: Membership) -> None:
    if target.role == Role.OWNER.value and acting.role_enum is not Role.OWNER:
        raise PermissionDenied("Only owners can change or remove an owner.")


def change_role(workspace: Workspace, membership_id, role: str, actor: User) -> Membership:
    """Owners and admins change a member's role; only owners make or unmake owners; the last owner stays one."""
    acting = _acting_membership(workspace, actor)
    target = _member_of(workspace, membership_id)
    if role not in ROLE_VALUES:
        raise ValidationFailed({"role": [ROLE_ERROR]})
    _check_may_manage(acting, target)
    if role == Role.OWNER.value and acting.role_enum is not Role.OWNER:
        raise PermissionDenied("Only owners can make someone an owner.")
    if target.role == Role.OWNER.value and role != Role.OWNER.value and _owner_count(workspace) <= 1:
        raise ValidationFailed({"role": ["A workspace keeps at least one owner: make someone else owner first."]})
    if target.role != role:
        audit_service.record_event(workspace.id, "member_role_changed",
                                   f"{target.user.email}: {target.role} → {role}", actor_id=actor.id)
        target.role = role
        db.session.flush()
    return target


def remove_member(workspace: Workspace, membership_id, actor: User) -> User:
    """Owners and admins remove a member (only owners remove an owner; never the last owner)."""
    acting = _acting_membership(workspace, actor)
    target = _member_of(workspace, membership_id)
    _check_may_manage(acting, target)
    if target.role == Role.OWNER.value and _owner_count(workspace) <= 1:
        raise ValidationFailed({"member": ["The last owner cannot be removed: make someone else owner first."]})
    removed = target.user
    audit_service.record_event(workspace.id, "member_removed", f"{removed.email} ({target.role})", actor_id=actor.id)
    db.session.delete(target)  # their next request no longer finds the membership (webapp.security)
    db.session.flush()
    return removed


def revoke_invitation(workspace: Workspace, invitation_id, actor: User) -> Invitation:
    _acting_membership(workspace, actor)
    invitation = db.session.scalar(select(Invitation).where(
        Invitation.id == invitation_id, Invitation.workspace_id == workspace.id,
        Invitation.accepted_at.is_(None))) if is_plain_int(str(invitation_id)) else None
    if invitation is None:
        raise NotFound("This invitation does not exist or was already used.")
    audit_service.record_event(workspace.id, "invitation_revoked", f"{invitation.email} ({invitation.role})",
                               actor_id=actor.id)
    db.session.delete(invitation)
    db.session.flush()
    return invitation


def invite_member(workspace: Workspace, email: str, role: str, invited_by: User) -> Invitation:
    data = _load(InvitationSchema(), {"email": email, "role": role})
    inviter = membership_in(invited_by, workspace.id)
    if inviter is None or inviter.role_enum.rank < Role.ADMIN.rank:
        raise ValidationFailed({"role": ["Only owners and admins can invite members."]})
    if data["role"] == Role.OWNER.value and inviter.role_enum is not Role.OWNER:
        raise ValidationFailed({"role": ["Only owners can invite another owner."]})
    user = find_user_by_email(data["email"])
    if user and any(m.workspace_id == workspace.id for m in user.memberships):
        raise ValidationFailed({"email": [f"{user.email} is already a member of this workspace."]})
    invitation = Invitation(
        workspace=workspace, email=data["email"], role=data["role"], token=secrets.token_urlsafe(24), invited_by_id=invited_by.id
    )
    db.session.add(invitation)
    db.session.flush()
    return invitation


def send_invitation_email(invitation: Invitation, link: str, invited_by: User):
    """The invitation goes out through the platform email service (the outbox, and SMTP/Resend when configured)."""
    return email_service.send_email(
        invitation.workspace_id, invitation.email,
        f"{invited_by.display_name} invited you to {invitation.workspace.name} on Workestra",
        f"Hello,\n\n{invited_by.display_name} invited you to join {invitation.workspace.name} as {invitation.role}.\n\n"
        f"Accept the invitation: {link}\n\nIf you did not expect this, ignore this email.",
        actor=invited_by,
    )


def open_invitation(token: str) -> Invitation:
    invitation = db.session.scalar(select(Invitation).where(Invitation.token == token))
    if invitation is None or invitation.accepted_at is not None:
        raise NotFound("This invitation does not exist or was already used.")
    if utcnow() >= invitation_expires_at(invitation):
        raise NotFound("This invitation has expired. Ask an admin of the workspace for a new one.")
    return invitation


def accept_invitation(token: str, user: User | None = None, password: str = "", name: str = "") -> User:
    """Join the invitation's workspace, as the logged-in user or as a new account for the invited email."""
    invitation = open_invitation(token)
    if user is None:
        data = _load(NewUserSchema(), {"email": invitation.email, "password": password, "name": name})
        user = _new_user(data["email"], data["password"], data["name"])
    elif user.email.lower() != invitation.email.lower():
        raise ValidationFailed({"email": [f"This invitation is for {invitation.email}; you are signed in as {user.email}."]})
    _add_membership(invitation.workspace, user, invitation.role)
    invitation.accepted_at = utcnow()
    db.session.flush()
    return user


def membership_in(user: User, workspace_id) -> Membership | None:
    try:
        workspace_id = int(workspace_id)
    except (TypeError, ValueError):
        return None
    return db.session.scalar(
        select(Membership).where(Membership.user_id == user.id, Membership.workspace_id == workspace_id)
    )


# -- workspace settings ----------------------------------------------------------------------------
def time_zone_choices() -> list[str]:
    """Every IANA time zone name this server knows, sorted, UTC first."""
    return ["UTC", *sorted(name for name in available_timezones() if name != "UTC" and "/" in name)]


def set_time_zone(workspace: Workspace, name: str, by: User) -> None:
    """The zone every time is shown in, and new schedules' default. Owners and admins only (the route checks)."""
    name = (name or "").strip()
    if name not in time_zone_choices():
        raise ValidationFailed({"timezone": ["Choose a time zone from the list, for example Europe/Berlin."]})
    if name == workspace.timezone:
        return
    previous, workspace.timezone = workspace.timezone, name
    audit_service.record_event(workspace.id, "workspace.time_zone_changed", f"Time zone changed from {previous} to {name}",
                               actor_id=by.id, actor_label=by.email, data={"from": previous, "to": name})
