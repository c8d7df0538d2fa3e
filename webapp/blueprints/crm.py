"""CRM: the deal pipeline and contacts."""
from flask import Blueprint, flash, redirect, request, url_for

from models import Contact, Deal
from models.vocabulary import DealStage, choices
from services import common, contact_service, deal_service
from webapp.forms import actor, commit_or_errors, error_messages, form_page, not_found_is_404, workspace_id
from webapp.security import workspace_get_or_404

bp = Blueprint("crm", __name__, url_prefix="/crm")


def _choices() -> dict:
    return {"members": common.members(workspace_id()), "contacts": contact_service.list_contacts(workspace_id()),
            "stages": choices(DealStage)}


@bp.get("")
def index():
    return form_page("crm/deals.html", columns=deal_service.deals_by_stage(workspace_id()))


@bp.route("/deals/new", methods=["GET", "POST"])
def new_deal():
    if request.method == "GET":
        return form_page("crm/deal_form.html", form={"contact_id": request.args.get("contact_id", "")}, **_choices())
    deal, errors = commit_or_errors(lambda: deal_service.create_deal(workspace_id(), request.form.to_dict(), actor()))
    if errors:
        return form_page("crm/deal_form.html", 422, form=request.form, errors=errors, **_choices())
    flash(f"Deal “{deal.title}” created.", "success")
    return redirect(url_for("crm.deal", deal_id=deal.id))


def _deal_page(deal: Deal, status=200, errors=None):
    return form_page("crm/deal.html", status, deal=deal, errors=errors or {},
                     messages=error_messages(errors or {}), **_choices())


@bp.get("/deals/<int:deal_id>")
def deal(deal_id):
    return _deal_page(workspace_get_or_404(Deal, deal_id))


@bp.post("/deals/<int:deal_id>/stage")
def move_stage(deal_id):
    deal = workspace_get_or_404(Deal, deal_id)
    with not_found_is_404():
        _, errors = commit_or_errors(
            lambda: deal_service.move_deal_to_stage(workspace_id(), deal.id, request.form.get("stage", ""), actor()))
    if errors:
        return _deal_page(workspace_get_or_404(Deal, deal_id), 422, errors)
    flash(f"Deal moved to {DealStage(deal.stage).label}.", "success")
    return redirect(url_for("crm.deal", deal_id=deal.id))


@bp.post("/deals/<int:deal_id>/owner")
def assign_deal_owner(deal_id):
    deal = workspace_get_or_404(Deal, deal_id)
    _, errors = commit_or_errors(
        lambda: deal_service.assign_owner(workspace_id(), deal.id, request.form.get("owner_id"), actor()))
    if errors:
        return _deal_page(workspace_get_or_404(Deal, deal_id), 422, errors)
    flash("Owner updated.", "success")
    return redirect(url_for("crm.deal", deal_id=deal.id))


@bp.get("/contacts")
def contacts():
    return form_page("crm/contacts.html", contacts=contact_service.list_contacts(workspace_id()))


@bp.route("/contacts/new", methods=["GET", "POST"])
def new_contact():
    members = common.members(workspace_id())
    if request.method == "GET":
        return form_page("crm/contact_form.html", members=members)
    contact, errors = commit_or_errors(
        lambda: contact_service.create_contact(workspace_id(), request.form.to_dict(), actor()))
    if errors:
        return form_page("crm/contact_form.html", 422, form=request.form, errors=errors, members=members)
    flash(f"Contact {contact.name} created.", "success")
    return redirect(url_for("crm.contact", contact_id=contact.id))


@bp.get("/contacts/<int:contact_id>")
def contact(contact_id):
    contact = workspace_get_or_404(Contact, contact_id)
    deals = [d for d in deal_service.list_deals(workspace_id()) if d.contact_id == contact.id]
    return form_page("crm/contact.html", contact=contact, deals=deals)
