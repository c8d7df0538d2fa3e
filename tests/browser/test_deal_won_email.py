"""Create a deal, move it to Closed Won in the UI, and see the workflow's email on the Outbox page."""
import time

from models import Workflow, db
from services import workspace_service
from tests.conftest import PASSWORD


def test_closed_won_deal_sends_the_thank_you_email(live_server, page, screenshot):
    with live_server.app.app_context():
        workspace, _ = workspace_service.create_workspace("Deal Co", "dana@example.test", PASSWORD, "Dana Seller")
        db.session.add(Workflow(
            workspace_id=workspace.id, name="Deal won → thank-you", trigger={"type": "deal_closed_won", "config": {}},
            trigger_type="deal_closed_won", conditions=[], status="active",
            actions=[{"type": "send_template_email", "config": {
                "to": "{{ trigger.contact.email }}", "subject": "Thank you for choosing us",
                "body": "We are delighted to work with you on {{ trigger.deal.title }}.", "template": "thank_you"}}]))
        db.session.commit()

    page.goto(live_server.url + "/login")
    page.fill("#email", "dana@example.test")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")

    page.goto(live_server.url + "/crm/contacts/new")
    page.fill("#f-name", "Jordan Lee")
    page.fill("#f-email", "jordan@acme.example")
    page.get_by_role("button", name="Create contact").click()
    page.wait_for_url("**/crm/contacts/*")

    page.goto(live_server.url + "/crm/deals/new")
    page.fill("#f-title", "Acme — 50 seats")
    page.fill("#f-value", "12500")
    page.select_option("#f-stage", "negotiation")
    page.select_option("#f-contact_id", label="Jordan Lee")
    page.get_by_role("button", name="Create deal").click()
    page.wait_for_url("**/crm/deals/*")
    page.get_by_role("button", name="Closed Won").click()
    page.wait_for_load_state()
    assert "Deal moved to Closed Won." in page.locator("#toasts").inner_text()
    screenshot("deal-closed-won")

    deadline = time.monotonic() + 20
    while True:
        page.goto(live_server.url + "/settings/outbox")
        if "Thank you for choosing us" in page.content() or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    screenshot("outbox-thank-you")
    row = page.locator("tr", has_text="Thank you for choosing us")
    assert row.count() == 1 and "jordan@acme.example" in row.inner_text()
    assert page.errors == []
