"""What the runner walks and records: step addresses, the plan of a definition's steps, step records.

A step's *address* says where it sits in the definition: `(1,)` is the second top-level action.
The plan lists the addresses in the order they run; the runner keeps the position of the next one
(`current_step`). Branches (DESIGN.md "Definition v2") add nested addresses to the plan.
"""
from dataclasses import dataclass, field

from models.vocabulary import StepStatus


@dataclass(frozen=True)
class StepAddress:
    path: tuple

    @property
    def index(self) -> int:
        """The top-level action this step is, or is inside of."""
        return self.path[0]

    def __str__(self) -> str:
        return ".".join(str(part) for part in self.path)


class StepPlan:
    """The steps of a definition in the order they run, each with its address and its action."""

    def __init__(self, actions: list[dict]):
        self.steps = [(StepAddress((index,)), action) for index, action in enumerate(actions)]

    def __len__(self) -> int:
        return len(self.steps)

    def at(self, position: int) -> tuple[StepAddress, dict] | None:
        return self.steps[position] if 0 <= position < len(self.steps) else None

    def after(self, position: int) -> range:
        return range(position + 1, len(self.steps))


@dataclass
class StepRecord:
    """One entry of an execution's `completed_actions[]` (DESIGN.md's execution shape)."""
    index: int
    type: str | None
    status: StepStatus | None = None
    attempts: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    duration_ms: int | None = None
    input: dict = field(default_factory=dict)
    output: dict = field(default_factory=dict)
    error: str | None = None
    missing_fields: list | None = None  # template fields that rendered empty
    skipped_reason: str | None = None

    def as_json(self) -> dict:
        document = {
            "index": self.index, "type": self.type, "status": self.status.value if self.status else None,
            "attempts": self.attempts, "started_at": self.started_at, "finished_at": self.finished_at,
            "duration_ms": self.duration_ms, "input": self.input, "output": self.output, "error": self.error,
        }
        if self.missing_fields:
            document["missing_fields"] = self.missing_fields
        if self.skipped_reason:
            document["skipped_reason"] = self.skipped_reason
        return document

    @classmethod
    def skipped(cls, index: int, action_type: str | None, reason: str) -> "StepRecord":
        return cls(index=index, type=action_type, status=StepStatus.SKIPPED, skipped_reason=reason)


def first_error(records: list[dict]) -> str | None:
    """The error of the first failed step among stored records."""
    return next((r.get("error") for r in records if r.get("status") == StepStatus.FAILED.value), None)
