"""What the runner walks and records: step addresses, the plan of a definition's steps, step records.

A step's *address* says where it sits in the definition: `(1,)` is the second top-level action.
The plan lists the addresses in the order they run; the runner keeps the position of the next one
(`current_step`). Branches (DESIGN.md "Definition v2") add nested addresses to the plan.
"""
from dataclasses import dataclass, field

from models.vocabulary import StepStatus

BRANCH = "branch"  # the action type whose `then` and `else` lists hold actions
BRANCH_PATHS = ("then", "else")
BRANCH_NOT_TAKEN = "branch not taken"


@dataclass(frozen=True)
class StepAddress:
    path: tuple

    @property
    def index(self) -> int:
        """The top-level action this step is, or is inside of."""
        return self.path[0]

    @property
    def depth(self) -> int:
        """0 for a top-level step, 1 inside a branch, 2 inside a branch inside a branch, ..."""
        return len(self.path) // 2

    @property
    def side(self) -> str | None:
        """"then" or "else" for a step inside a branch; None on the main line."""
        return self.path[-2] if len(self.path) > 1 else None

    @property
    def label(self) -> str:
        """How people name the step: "2", or "2 › Then 1" inside the second step's branch."""
        words = [str(self.path[0] + 1)]
        for side, number in zip(self.path[1::2], self.path[2::2]):
            words.append(f"{side.capitalize()} {number + 1}")
        return " › ".join(words)

    def __str__(self) -> str:
        return ".".join(str(part) for part in self.path)


def branch_paths(action: dict) -> list[tuple[str, list]]:
    """A branch action's ("then", [...]) and ("else", [...]) lists (empty lists when absent or not lists)."""
    if not isinstance(action, dict) or action.get("type") != BRANCH:
        return []
    return [(side, action.get(side) if isinstance(action.get(side), list) else []) for side in BRANCH_PATHS]


class StepPlan:
    """The steps of a definition in the order they run, each with its address and its action.

    Branches are walked depth first: a branch, the steps of its `then` list, those of its `else` list, then
    the step after the branch. Every step knows the branch paths it lies on (`guards`), so the runner can
    record a step on a path not taken as skipped without running it.
    """

    def __init__(self, actions: list[dict]):
        self.steps: list[tuple[StepAddress, dict]] = []
        self.guards: list[tuple] = []  # per position: ((branch address text, side), ...) from the outside in
        self._walk(actions if isinstance(actions, list) else [], (), ())
        self.has_branches = any(self.guards)
        self._positions = {str(address): position for position, (address, _action) in enumerate(self.steps)}

    def _walk(self, actions: list, prefix: tuple, guards: tuple) -> None:
        for number, action in enumerate(actions):
            address = StepAddress((*prefix, number))
            self.steps.append((address, action))
            self.guards.append(guards)
            for side, nested in branch_paths(action):
                self._walk(nested, (*address.path, side), (*guards, (str(address), side)))

    def __len__(self) -> int:
        return len(self.steps)

    def at(self, position: int) -> tuple[StepAddress, dict] | None:
        return self.steps[position] if 0 <= position < len(self.steps) else None

    def after(self, position: int) -> range:
        return range(position + 1, len(self.steps))

    def position_of(self, path: str) -> int | None:
        return self._positions.get(path)

    def position_of_id(self, step_id: str) -> int | None:
        return next((position for position, (_address, action) in enumerate(self.steps)
                     if isinstance(action, dict) and action.get("id") == step_id), None)

    def not_taken(self, position: int, taken: dict) -> bool:
        """True when the step lies on a path its branch did not take (`taken`: branch address text -> side)."""
        return any(branch in taken and taken[branch] != side for branch, side in self.guards[position])


def taken_paths(records: list[dict]) -> dict:
    """Which path each branch that ran took: {branch address text: "then" | "else"}."""
    taken = {}
    for record in records:
        if record.get("type") == BRANCH and record.get("status") == StepStatus.COMPLETED.value:
            side = (record.get("output") or {}).get("path")
            if side in BRANCH_PATHS:
                taken[record.get("path") or str(record.get("index"))] = side
    return taken


def record_path(record: dict) -> str:
    """A stored record's address text; records written before branches existed only have an index."""
    return record.get("path") or str(record.get("index"))


@dataclass
class StepRecord:
    """One entry of an execution's `completed_actions[]` (DESIGN.md's execution shape)."""
    index: int
    type: str | None
    id: str | None = None  # the action's stable id (DESIGN.md "Definition v2")
    path: str | None = None  # its address, e.g. "1" or "1.then.0"
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
            "id": self.id, "path": self.path if self.path is not None else str(self.index),
        }
        if self.missing_fields:
            document["missing_fields"] = self.missing_fields
        if self.skipped_reason:
            document["skipped_reason"] = self.skipped_reason
        return document

    @classmethod
    def skipped(cls, index: int, action_type: str | None, reason: str, step_id: str | None = None,
                path: str | None = None) -> "StepRecord":
        return cls(index=index, type=action_type, status=StepStatus.SKIPPED, skipped_reason=reason, id=step_id, path=path)

    @classmethod
    def not_taken(cls, address: StepAddress, action: dict) -> "StepRecord":
        """A step on the path its branch did not take (DESIGN.md: status skipped, error null, output's reason)."""
        record = cls.skipped(address.index, action.get("type"), BRANCH_NOT_TAKEN, action.get("id"), str(address))
        record.output = {"reason": BRANCH_NOT_TAKEN}
        return record


def first_error(records: list[dict]) -> str | None:
    """The error of the first failed step among stored records."""
    return next((r.get("error") for r in records if r.get("status") == StepStatus.FAILED.value), None)
