"""Platform pages: outbox, audit log, notification bell and inbox, documents."""
from models import Document, db
from services import audit_service, document_service, email_service, notification_service
from tests import factories as f
from tests.http.test_crm import page


def test_outbox_page_shows_this_workspaces_email(logged_in, workspace):
    client, ws, _ = logged_in("member")
    email_service.send_email(ws.id, "jordan@acme.example", "Thanks for your order", "Body")
    email_service.send_email(workspace().id, "other@example.test", "Someone else's", "Body")
    db.session.commit()
    body = page(client.get("/settings/outbox"))
    assert "Thanks for your order" in body and "jordan@acme.example" in body and "Someone else" not in body
    assert 'href="/settings/outbox"' in body  # in the sidebar


def test_audit_log_page_is_workspace_scoped(logged_in, workspace):
    client, ws, _ = logged_in("member")
    audit_service.record_event(ws.id, "stale_flagged", "Deal Acme flagged", actor_label="Workflow #3")
    audit_service.record_event(workspace().id, "secret_event", "elsewhere")
    db.session.commit()
    body = page(client.get("/settings/audit-log"))
    assert "stale_flagged" in body and "Workflow #3" in body and "secret_event" not in body


def test_bell_count_inbox_and_mark_read(logged_in):
    client, ws, user = logged_in("member")
    first, second = (notification_service.notify(ws.id, [user.id], title, link="/crm")[0] for title in ("Deal won", "Task due"))
    db.session.commit()
    body = page(client.get("/"))
    assert 'data-unread-count="2"' in body and "Deal won" in body
    response = client.post(f"/notifications/{first.id}/read", data={"open": "1"})
    assert response.status_code == 302 and response.headers["Location"] == "/crm"
    assert 'data-unread-count="1"' in page(client.get("/notifications"))
    assert client.post("/notifications/read-all").status_code == 302
    assert "data-unread-count" not in page(client.get("/"))
    assert "Task due" in page(client.get("/notifications"))


def test_someone_elses_notification_cannot_be_marked(logged_in, workspace, user):
    client, ws, _ = logged_in("member")
    theirs = notification_service.notify(ws.id, [user(ws).id], "Private")[0]
    db.session.commit()
    assert client.post(f"/notifications/{theirs.id}/read").status_code == 404
    assert "Private" not in page(client.get("/notifications"))


def test_mark_read_never_redirects_off_site(logged_in):
    client, ws, user = logged_in("member")
    note = notification_service.notify(ws.id, [user.id], "x")[0]
    db.session.commit()
    response = client.post(f"/notifications/{note.id}/read", data={"next": "//evil.example/"})
    assert response.headers["Location"] == "/notifications"


def test_documents_list_detail_and_download(logged_in, workspace):
    client, ws, _ = logged_in("member")
    document = document_service.create_document(ws.id, "Proposal: Acme", "# Proposal\n<script>x</script>")
    foreign = document_service.create_document(workspace().id, "Theirs", "secret")
    db.session.commit()
    assert "Proposal: Acme" in page(client.get("/documents"))
    detail = page(client.get(f"/documents/{document.id}"))
    assert "# Proposal" in detail and "<script>x</script>" not in detail  # escaped
    response = client.get(f"/documents/{document.id}/download")
    assert response.status_code == 200 and response.get_data(as_text=True) == "# Proposal\n<script>x</script>"
    assert 'attachment; filename="proposal-acme.md"' == response.headers["Content-Disposition"]
    assert client.get(f"/documents/{foreign.id}").status_code == 404
    assert client.get(f"/documents/{foreign.id}/download").status_code == 404


def test_a_generated_document_is_viewable(logged_in):
    client, ws, _ = logged_in()
    output = f.run(f.step(ws, "generate_document", {"title": "Summary", "template": "Deal: Acme"}))
    assert "Deal: Acme" in page(client.get(output["link"]))
    assert client.get(output["download"]).get_data(as_text=True) == "Deal: Acme"
    assert db.session.get(Document, output["document_id"]).workspace_id == ws.id
