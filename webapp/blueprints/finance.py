"""Finance: invoices (with payments and refunds) and quotations. Refunds need the admin role."""
from flask import Blueprint, flash, redirect, request, url_for

from models import Invoice, Quotation, Role
from models.vocabulary import InvoiceStatus
from services import deal_service, invoice_service, payment_service
from webapp.forms import actor, commit_or_errors, error_messages, form_page, workspace_id
from webapp.security import has_role, require_role, workspace_get_or_404

bp = Blueprint("finance", __name__, url_prefix="/finance")


@bp.get("")
def index():
    return form_page("finance/index.html", invoices=invoice_service.list_invoices(workspace_id()),
                     quotations=invoice_service.list_quotations(workspace_id()), tab=request.args.get("tab", "invoices"))


def _deals():
    return deal_service.list_deals(workspace_id())


@bp.route("/invoices/new", methods=["GET", "POST"])
def new_invoice():
    if request.method == "GET":
        return form_page("finance/invoice_form.html", kind="invoice",
                         form={"currency": "USD", "due_days": "30", "deal_id": request.args.get("deal_id", "")},
                         deals=_deals())
    invoice, errors = commit_or_errors(
        lambda: invoice_service.create_invoice(workspace_id(), request.form.to_dict(), actor()))
    if errors:
        return form_page("finance/invoice_form.html", 422, kind="invoice", form=request.form, errors=errors,
                         deals=_deals())
    flash(f"Draft invoice {invoice.number} created.", "success")
    return redirect(url_for("finance.invoice", invoice_id=invoice.id))


def _invoice_page(invoice: Invoice, status=200, *, payment_form=None, payment_errors=None, refund_form=None,
                  refund_errors=None, errors=None):
    return form_page("finance/invoice.html", status, invoice=invoice, can_refund=has_role(Role.ADMIN),
                     can_record_payment=invoice.status in payment_service.PAYABLE_STATUSES,
                     payment_form=payment_form or {}, payment_errors=payment_errors or {},
                     refund_form=refund_form or {}, refund_errors=refund_errors or {},
                     messages=error_messages(errors or {}))


@bp.get("/invoices/<int:invoice_id>")
def invoice(invoice_id):
    return _invoice_page(workspace_get_or_404(Invoice, invoice_id))


@bp.post("/invoices/<int:invoice_id>/send")
def send_invoice(invoice_id):
    invoice = workspace_get_or_404(Invoice, invoice_id)
    _, errors = commit_or_errors(lambda: invoice_service.send_invoice(workspace_id(), invoice.id, actor()))
    if errors:
        return _invoice_page(workspace_get_or_404(Invoice, invoice_id), 422, errors=errors)
    flash(f"Invoice {invoice.number} marked as sent.", "success")
    return redirect(url_for("finance.invoice", invoice_id=invoice.id))


@bp.post("/invoices/<int:invoice_id>/payments")
def record_payment(invoice_id):
    invoice = workspace_get_or_404(Invoice, invoice_id)
    _, errors = commit_or_errors(
        lambda: payment_service.record_payment(workspace_id(), invoice.id, request.form.to_dict(), actor()))
    if errors:
        return _invoice_page(workspace_get_or_404(Invoice, invoice_id), 422, payment_form=request.form,
                             payment_errors=errors)
    flash("Payment recorded." + (" The invoice is paid." if invoice.status == InvoiceStatus.PAID else ""), "success")
    return redirect(url_for("finance.invoice", invoice_id=invoice.id))


@bp.post("/invoices/<int:invoice_id>/refunds")
@require_role(Role.ADMIN)
def refund(invoice_id):
    invoice = workspace_get_or_404(Invoice, invoice_id)
    _, errors = commit_or_errors(
        lambda: payment_service.refund_invoice(workspace_id(), invoice.id, request.form.to_dict(), actor()))
    if errors:
        return _invoice_page(workspace_get_or_404(Invoice, invoice_id), 422, refund_form=request.form,
                             refund_errors=errors)
    flash("Refund recorded.", "success")
    return redirect(url_for("finance.invoice", invoice_id=invoice.id))


@bp.route("/quotations/new", methods=["GET", "POST"])
def new_quotation():
    if request.method == "GET":
        return form_page("finance/invoice_form.html", kind="quotation",
                         form={"currency": "USD", "deal_id": request.args.get("deal_id", "")}, deals=_deals())
    quotation, errors = commit_or_errors(
        lambda: invoice_service.create_quotation(workspace_id(), request.form.to_dict(), actor()))
    if errors:
        return form_page("finance/invoice_form.html", 422, kind="quotation", form=request.form,
                         errors=errors, deals=_deals())
    flash(f"Draft quotation {quotation.number} created.", "success")
    return redirect(url_for("finance.quotation", quotation_id=quotation.id))


@bp.get("/quotations/<int:quotation_id>")
def quotation(quotation_id):
    return form_page("finance/quotation.html", quotation=workspace_get_or_404(Quotation, quotation_id), messages=[])


@bp.post("/quotations/<int:quotation_id>/<any(send, accept):transition>")
def quotation_transition(quotation_id, transition):
    quotation = workspace_get_or_404(Quotation, quotation_id)
    operation = invoice_service.send_quotation if transition == "send" else invoice_service.accept_quotation
    _, errors = commit_or_errors(lambda: operation(workspace_id(), quotation.id, actor()))
    if errors:
        return form_page("finance/quotation.html", 422, quotation=workspace_get_or_404(Quotation, quotation_id),
                         messages=error_messages(errors))
    flash(f"Quotation {quotation.number} is now {quotation.status}.", "success")
    return redirect(url_for("finance.quotation", quotation_id=quotation.id))
