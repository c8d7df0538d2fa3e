"""Columns shared by the business tables."""
from sqlalchemy import Integer
from sqlalchemy.orm import Mapped, mapped_column

from models.automations import BigId


class CreatedByStep:
    """Which workflow execution and step created a row (both None when a person did).

    Executors look a row up by these two columns before creating it, so an action creates
    its record at most once per (execution, step); run pages link to what a step created.
    """

    created_by_execution_id: Mapped[int | None] = mapped_column(BigId, index=True)
    created_by_step: Mapped[int | None] = mapped_column(Integer)
