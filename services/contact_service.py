"""CRM contacts (ContactService)."""
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from models import Contact, User, db
from services.common import (Origin, Stripped, fire, get_in_workspace, load, optional_member_id,
                             origin_columns, user_email, workspace_member)


class ContactSchema(Schema):
    name = Stripped(required=True, validate=validate.Length(max=200, error="At most 200 characters."),
                    error_messages={"required": "Name is required."})
    email = fields.Email(load_default="", error_messages={"invalid": "Enter a valid email address."})
    company = Stripped(load_default="", validate=validate.Length(max=200, error="At most 200 characters."))
    owner_id = fields.Integer(load_default=None, error_messages={"invalid": "Choose a member of this workspace."})


CONTACT_SCHEMA = ContactSchema()  # built once: building a schema costs more than loading with it


def build_contact_payload(contact: Contact | None) -> dict:
    if contact is None:
        return {"id": None, "name": None, "email": None, "company": None, "owner_id": None, "owner_email": None}
    return {
        "id": contact.id,
        "name": contact.name,
        "email": contact.email or None,
        "company": contact.company or None,
        "owner_id": contact.owner_id,
        "owner_email": user_email(contact.owner),
    }


def get_contact(workspace_id: int, contact_id) -> Contact:
    return get_in_workspace(Contact, workspace_id, contact_id, "Contact")


def list_contacts(workspace_id: int) -> list[Contact]:
    return list(db.session.scalars(select(Contact).where(Contact.workspace_id == workspace_id).order_by(Contact.name)))


def create_contact(workspace_id: int, data: dict, actor: User | None, *, origin: Origin = None) -> Contact:
    """Create a contact and fire contact_created."""
    clean = load(CONTACT_SCHEMA, data)
    clean["owner_id"] = optional_member_id(workspace_id, clean.get("owner_id"), "owner_id")
    if clean["owner_id"] is None and actor is not None:
        clean["owner_id"] = actor.id
    contact = Contact(workspace_id=workspace_id, **clean, **origin_columns(origin))
    db.session.add(contact)
    db.session.flush()
    fire(workspace_id, "contact_created", actor, contact=build_contact_payload(contact))
    return contact


def assign_owner(workspace_id: int, contact_id, user_id, actor: User | None) -> Contact:
    contact = get_contact(workspace_id, contact_id)
    contact.owner_id = workspace_member(workspace_id, user_id, "user_id").id
    db.session.flush()
    db.session.refresh(contact, ["owner"])
    return contact



