"""CRM deals moving through the pipeline of DealStage (DealService)."""
from decimal import Decimal

from marshmallow import Schema, fields, validate
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm.util import identity_key

from engine.core.catalog import UPDATE_DEAL_FIELDS
from models import Deal, User, db
from models.base import utcnow
from models.vocabulary import DealStage, DealStatus, one_of, values
from services import contact_service
from services.common import (Origin, Stripped, fire, get_in_workspace, is_plain_int, load, money,
                             optional_member_id, origin_columns, user_email, workspace_member)
from services.errors import NotFound, ValidationFailed

DEFAULT_PROBABILITY = {DealStage.LEAD: 10, DealStage.QUALIFIED: 25, DealStage.PROPOSAL: 40, DealStage.NEGOTIATION: 60,
                       DealStage.CLOSED_WON: 100, DealStage.CLOSED_LOST: 0}
STATUS_FOR_STAGE = {DealStage.CLOSED_WON: DealStatus.WON, DealStage.CLOSED_LOST: DealStatus.LOST}
CURRENCY = validate.Regexp(r"^[A-Z]{3}$", error="Use a three-letter currency code, like USD.")
STAGE_ERROR = "Choose a pipeline stage: " + ", ".join(values(DealStage)) + "."
STAGE = validate.OneOf(values(DealStage), error=STAGE_ERROR)


class _Upper(Stripped):
    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).upper()


class DealSchema(Schema):
    title = Stripped(required=True, validate=validate.Length(max=200, error="At most 200 characters."),
                     error_messages={"required": "Title is required."})
    value = fields.Decimal(load_default=Decimal("0"), places=2, validate=validate.Range(min=0, error="Must be 0 or more."),
                           error_messages={"invalid": "Enter an amount, like 1200.50."})
    currency = _Upper(load_default="USD", validate=CURRENCY)
    stage = fields.String(load_default=DealStage.LEAD.value, validate=STAGE)
    probability = fields.Integer(load_default=None, validate=validate.Range(0, 100, error="Must be between 0 and 100."),
                                 error_messages={"invalid": "Must be a whole number between 0 and 100."})
    notes = Stripped(load_default="", validate=validate.Length(max=20000))
    contact_id = fields.Integer(load_default=None, error_messages={"invalid": "Choose a contact."})
    owner_id = fields.Integer(load_default=None, error_messages={"invalid": "Choose a member of this workspace."})


DEAL_SCHEMA = DealSchema()  # built once: building a schema costs more than loading with it


class DealChangesSchema(Schema):
    """The Update Deal whitelist: any other key is an error, never silently written."""
    title = Stripped(validate=validate.Length(min=1, max=200, error="Title must be 1 to 200 characters."))
    stage = fields.String(validate=STAGE)
    status = fields.String(validate=validate.OneOf(values(DealStatus), error=f"Choose {one_of(DealStatus)}."))
    value = fields.Decimal(places=2, validate=validate.Range(min=0, error="Must be 0 or more."))
    currency = _Upper(validate=CURRENCY)
    probability = fields.Integer(validate=validate.Range(0, 100, error="Must be between 0 and 100."))
    notes = Stripped(validate=validate.Length(max=20000))


DEAL_CHANGES_SCHEMA = DealChangesSchema()


PAYLOAD_COLUMNS = ("id", "title", "value", "currency", "stage", "status", "probability", "owner_id", "contact_id")
DEALS = Deal.__table__
# update_deal's read: the deal and its owner's email in one statement, built once (the engine's hot path).
_DEAL_WITH_OWNER_EMAIL = (
    select(*(DEALS.c[name] for name in PAYLOAD_COLUMNS), DEALS.c.notes, User.email.label("owner_email"))
    .select_from(DEALS.outerjoin(User.__table__, User.id == DEALS.c.owner_id))
    .where(DEALS.c.id == bindparam("deal_id"), DEALS.c.workspace_id == bindparam("workspace_id"))
)


def build_deal_payload(deal: Deal) -> dict:
    return _payload({name: getattr(deal, name) for name in PAYLOAD_COLUMNS}, user_email(deal.owner))


def _payload(values: dict, owner_email: str | None) -> dict:
    return {
        "id": values["id"],
        "title": values["title"],
        "value": money(values["value"]),
        "currency": values["currency"],
        "stage": values["stage"],
        "status": values["status"],
        "probability": values["probability"],
        "owner_id": values["owner_id"],
        "owner_email": owner_email,
        "contact_id": values["contact_id"],
    }


def _deal_objects(deal: Deal) -> dict:
    return {"deal": build_deal_payload(deal), "contact": contact_service.build_contact_payload(deal.contact)}


def get_deal(workspace_id: int, deal_id) -> Deal:
    return get_in_workspace(Deal, workspace_id, deal_id, "Deal")


def list_deals(workspace_id: int, stage: str | None = None) -> list[Deal]:
    query = select(Deal).where(Deal.workspace_id == workspace_id)
    if stage:
        query = query.where(Deal.stage == stage)
    return list(db.session.scalars(query.order_by(Deal.id.desc())))


def deals_by_stage(workspace_id: int) -> list[tuple[str, str, list[Deal]]]:
    deals = list_deals(workspace_id)
    return [(stage.value, stage.label, [d for d in deals if d.stage == stage]) for stage in DealStage]


def _refresh(deal: Deal) -> None:
    db.session.flush()
    db.session.refresh(deal, ["owner", "contact"])


def create_deal(workspace_id: int, data: dict, actor: User | None, *, origin: Origin = None) -> Deal:
    """Create a deal and fire deal_created."""
    clean = load(DEAL_SCHEMA, data)
    if clean.get("contact_id") is not None:
        try:
            contact_service.get_contact(workspace_id, clean["contact_id"])
        except Exception:
            raise ValidationFailed({"contact_id": [f"Contact {clean['contact_id']} not found in this workspace."]}) from None
    clean["owner_id"] = optional_member_id(workspace_id, clean.get("owner_id"), "owner_id")
    if clean["owner_id"] is None and actor is not None:
        clean["owner_id"] = actor.id
    if clean.get("probability") is None:
        clean["probability"] = DEFAULT_PROBABILITY[clean["stage"]]
    deal = Deal(workspace_id=workspace_id, status=STATUS_FOR_STAGE.get(clean["stage"], DealStatus.OPEN),
                **clean, **origin_columns(origin))
    db.session.add(deal)
    db.session.flush()  # a new row: its owner and contact load on first use (from the session when loaded)
    fire(workspace_id, "deal_created", actor, **_deal_objects(deal))
    return deal


def move_deal_to_stage(workspace_id: int, deal_id, stage: str, actor: User | None) -> Deal:
    """Move a deal; fires deal_stage_change, and deal_closed_won when the new stage is closed_won.
    Moving to the stage it is already in changes nothing and fires nothing."""
    if stage not in values(DealStage):
        raise ValidationFailed({"stage": [STAGE_ERROR]})
    deal = get_deal(workspace_id, deal_id)
    previous = deal.stage
    if previous == stage:
        return deal
    deal.stage = stage
    deal.stage_changed_at = utcnow()
    deal.status = STATUS_FOR_STAGE.get(stage, DealStatus.OPEN)
    if stage in STATUS_FOR_STAGE:
        deal.probability = DEFAULT_PROBABILITY[stage]
    _refresh(deal)
    change = {"from_stage": previous, "to_stage": stage}
    fire(workspace_id, "deal_stage_change", actor, **_deal_objects(deal), **change)
    if stage == DealStage.CLOSED_WON:
        fire(workspace_id, "deal_closed_won", actor, **_deal_objects(deal), **change)
    return deal


def update_deal(workspace_id: int, deal_id, changes: dict, actor: User | None) -> tuple[dict, list[str]]:
    """Apply whitelisted changes (title, stage, status, value, currency, probability, notes).
    A stage change goes through move_deal_to_stage, so its triggers fire. Returns (the deal's payload
    afterwards, changed fields). Reads and writes with Core statements (Update Deal is on the engine's
    hot path); a copy of the deal in the session is expired so later ORM reads see the change."""
    if not isinstance(changes, dict) or not changes:
        raise ValidationFailed({"changes": ["Give at least one field to change."]})
    unknown = sorted(set(changes) - set(UPDATE_DEAL_FIELDS))
    if unknown:
        raise ValidationFailed({"changes": [f"'{key}' cannot be updated; allowed: {', '.join(UPDATE_DEAL_FIELDS)}."
                                            for key in unknown]})
    clean = load(DEAL_CHANGES_SCHEMA, changes)
    if not is_plain_int(str(deal_id)):
        raise NotFound(f"Deal {deal_id!r} not found in this workspace")
    row = db.session.execute(_DEAL_WITH_OWNER_EMAIL, {"deal_id": int(deal_id), "workspace_id": workspace_id}).first()
    if row is None:
        raise NotFound(f"Deal {deal_id} not found in this workspace")
    stage = clean.pop("stage", None)
    values = row._asdict()
    changed = {key: value for key, value in clean.items() if values[key] != value}
    if changed:
        db.session.execute(update(DEALS).where(DEALS.c.id == row.id).values(**changed))
        _expire_loaded_copy(row.id)
        values.update(changed)
    names = list(changed)
    if stage is not None and stage != row.stage:
        deal = move_deal_to_stage(workspace_id, row.id, stage, actor)
        return build_deal_payload(deal), [*names, "stage"]
    return _payload(values, row.owner_email), names


def _expire_loaded_copy(deal_id: int) -> None:
    loaded = db.session.identity_map.get(identity_key(Deal, deal_id))
    if loaded is not None:
        db.session.expire(loaded)


def set_win_probability(workspace_id: int, deal_id, probability, actor: User | None) -> tuple[Deal, int]:
    """Set the probability (0–100). Returns (deal, previous probability)."""
    clean = load(DealChangesSchema(only=("probability",)), {"probability": probability})
    if "probability" not in clean:
        raise ValidationFailed({"probability": ["Must be between 0 and 100."]})
    deal = get_deal(workspace_id, deal_id)
    previous = deal.probability
    deal.probability = clean["probability"]
    db.session.flush()
    return deal, previous


def assign_owner(workspace_id: int, deal_id, user_id, actor: User | None) -> Deal:
    deal = get_deal(workspace_id, deal_id)
    deal.owner_id = workspace_member(workspace_id, user_id, "user_id").id
    _refresh(deal)
    return deal
