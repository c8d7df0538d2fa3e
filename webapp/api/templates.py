"""/api/v1/templates: the gallery, and Use Template, through services/template_service.py."""
from flask import g

from services import template_service
from webapp.api.blueprint import operation
from webapp.api.schemas import EmptySchema, TemplateOut, WorkflowOut, list_of
from webapp.forms import actor

TAG = "Templates"


@operation("/templates", "GET", summary="List templates", tag=TAG, response=list_of(TemplateOut), flagged=True)
def list_templates():
    """The 20 system templates and this workspace's own, featured first."""
    return {"data": template_service.gallery(g.workspace.id)}


@operation("/templates/<template_ref>/use", "POST", summary="Use a template", tag=TAG, body=EmptySchema(),
           response=WorkflowOut, status=201, errors=(404,), flagged=True)
def use_template(template_ref, body):
    """Copy the template (by id or slug) into the workspace as a draft workflow; counts one use."""
    template = template_service.get_template(g.workspace.id, template_ref)
    return template_service.use_template(template, g.workspace.id, actor())
