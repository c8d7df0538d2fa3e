"""Generate Document: store the rendered template (fields already mapped by the runner) as a workspace document."""
from engine.core.records import record_path
from engine.executors import StepContext, register
from engine.executors._common import config_of, earlier_record, link, origin, service_errors
from models import Document
from services import document_service


@register("generate_document")
def generate_document(step: StepContext) -> dict:
    config = config_of(step)
    document = earlier_record(Document, step)
    if document is None:
        with service_errors():
            document = document_service.create_document(step.workspace_id, config["title"], config["template"],
                                                        config.get("format") or "markdown", origin=origin(step))
    return {"document_id": document.id, "title": document.title, "format": document.format,
            "link": link("document", document.id), "download": record_path("document", document.id, "platform.download_document")}
