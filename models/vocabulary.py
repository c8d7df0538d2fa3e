"""The product's vocabulary: every status, stage, priority and role, once, with the label people read.

Each concept is one enum. A member is its stored string (`TicketStatus.RESOLVED == "resolved"`, also
as a dict key, in JSON and in templates), so rows, payloads and URLs keep today's values; `.label` is
what pages show. The models' CHECK constraints are generated from these enums (`check_in`); forms and
schemas take `choices(...)` / `values(...)`. Migrations are frozen history and spell their values
themselves: tests/unit/test_vocabulary.py proves the database's constraints hold exactly these values.

This module lives in `models`, the lowest layer, so that every layer can import it. It imports nothing
of the project.
"""
import enum
from typing import Iterable

from sqlalchemy import CheckConstraint


class Vocabulary(str, enum.Enum):
    """A string enum whose members carry a label: `DRAFT = "draft", "Draft"`."""

    label: str

    def __new__(cls, value: str, label: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    def __str__(self) -> str:  # the stored value, in f-strings and templates too
        return self.value


# -- automations ---------------------------------------------------------------------------------
class WorkflowStatus(Vocabulary):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    ARCHIVED = "archived", "Archived"


class RunStatus(Vocabulary):
    """A workflow execution's status (the Runs tab calls an execution a run)."""
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    PAUSED = "paused", "Paused"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_RUN_STATUSES


TERMINAL_RUN_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})
# A run waiting for a worker or on one (a paused run waits for its resume time).
ACTIVE_RUN_STATUSES = (RunStatus.PENDING, RunStatus.RUNNING)
# A run that can still be stopped: waiting for a worker, on a worker, or waiting for its resume time.
CANCELLABLE_RUN_STATUSES = (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.PAUSED)


class StepStatus(Vocabulary):
    """The outcome of one step, as recorded in a run's completed_actions."""
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class ConditionsMatch(Vocabulary):
    """How a list of conditions holds: a workflow's `conditions_match` and a branch's `config.match`."""
    ALL = "all", "All conditions hold"
    ANY = "any", "Any condition holds"


class ErrorStrategy(Vocabulary):
    """What a workflow does when a step fails."""
    CONTINUE = "continue", "Continue on error"
    RETRY = "retry", "Retry on error"
    STOP = "stop", "Stop on error"


class RunSource(Vocabulary):
    """What started a run."""
    EVENT = "event", "Event"
    MANUAL = "manual", "Manual"
    SCHEDULE = "schedule", "Schedule"
    WEBHOOK = "webhook", "Webhook"
    REPLAY = "replay", "Replay"


class RunMode(Vocabulary):
    """A live run acts; a test run (issue #20) shows what each step would do and leaves nothing behind."""
    LIVE = "live", "Live"
    TEST = "test", "Test"


class ReplayFrom(Vocabulary):
    """Where a replay starts."""
    FAILED_STEP = "failed_step", "From the failed step"
    START = "start", "From the start"


class ReplayOn(Vocabulary):
    """Which definition a replay runs."""
    SNAPSHOT = "snapshot", "on the snapshot it ran with"
    CURRENT = "current", "on the current definition"


# -- workspaces ----------------------------------------------------------------------------------
class Role(Vocabulary):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"

    @property
    def rank(self) -> int:
        return _ROLE_RANKS[self]

    @property
    def plural(self) -> str:
        return f"{self.label}s"


_ROLE_RANKS = {Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


# -- business modules ----------------------------------------------------------------------------
class DealStage(Vocabulary):
    """The CRM pipeline, in order."""
    LEAD = "lead", "Lead"
    QUALIFIED = "qualified", "Qualified"
    PROPOSAL = "proposal", "Proposal"
    NEGOTIATION = "negotiation", "Negotiation"
    CLOSED_WON = "closed_won", "Closed Won"
    CLOSED_LOST = "closed_lost", "Closed Lost"


class DealStatus(Vocabulary):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class TicketPriority(Vocabulary):
    """In escalation order."""
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class TicketStatus(Vocabulary):
    OPEN = "open", "Open"
    PENDING = "pending", "Pending"
    RESOLVED = "resolved", "Resolved"


class ProjectStatus(Vocabulary):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    ARCHIVED = "archived", "Archived"


class TaskStatus(Vocabulary):
    """In board order."""
    TODO = "todo", "To do"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"


class SprintStatus(Vocabulary):
    ACTIVE = "active", "Active"
    CLOSED = "closed", "Closed"


class InvoiceStatus(Vocabulary):
    DRAFT = "draft", "Draft"
    SENT = "sent", "Sent"
    PAID = "paid", "Paid"
    REFUNDED = "refunded", "Refunded"


class QuotationStatus(Vocabulary):
    DRAFT = "draft", "Draft"
    SENT = "sent", "Sent"
    ACCEPTED = "accepted", "Accepted"


class ApplicationStage(Vocabulary):
    """The hiring stages, in order."""
    APPLIED = "applied", "Applied"
    SCREENING = "screening", "Screening"
    INTERVIEW = "interview", "Interview"
    OFFER = "offer", "Offer"
    HIRED = "hired", "Hired"
    REJECTED = "rejected", "Rejected"


class EmailStatus(Vocabulary):
    """An outbox email: queued (waiting for the commit), sent, failed."""
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


# -- words and numbers ---------------------------------------------------------------------------
# The words a form field, a query argument or a condition value may use for a boolean (lower case).
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})

# A deal not updated for this many days is stale (the Flag as Stale action's default, the stale-deals list).
STALE_AFTER_DAYS = 14


def parse_bool(word) -> bool | None:
    """True or False for one of TRUE_WORDS / FALSE_WORDS (any case, surrounding spaces ignored), else None."""
    word = str(word).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


# -- helpers -------------------------------------------------------------------------------------
def values(vocabulary: Iterable[Vocabulary]) -> tuple[str, ...]:
    """The stored values, in order: for OneOf validators and OpenAPI enums."""
    return tuple(member.value for member in vocabulary)


def choices(vocabulary: Iterable[Vocabulary]) -> list[tuple[str, str]]:
    """[(value, label)], in order: for a <select>, radio buttons or tabs."""
    return [(member.value, member.label) for member in vocabulary]


def labels(vocabulary: Iterable[Vocabulary]) -> dict[str, str]:
    """{value: label}: for a page that shows stored values."""
    return {member.value: member.label for member in vocabulary}


def one_of(vocabulary: Iterable[Vocabulary]) -> str:
    """The values as a phrase for an error message: "low, normal, high or urgent"."""
    words = values(vocabulary)
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def check_in(column: str, vocabulary: type[Vocabulary], name: str) -> CheckConstraint:
    """CHECK (column IN ('a', 'b', ...)) over the enum's values, in its order.

    `name` goes through the metadata's naming convention (ck_<table>_<name>). The enum is kept in the
    constraint's `info`, so a test can compare every generated constraint with the database's.
    """
    for member in vocabulary:
        if "'" in member.value:
            raise ValueError(f"{vocabulary.__name__}.{member.name}: a quote in a stored value")
    listed = ", ".join(f"'{member.value}'" for member in vocabulary)
    return CheckConstraint(f"{column} IN ({listed})", name=name,
                           info={"vocabulary": vocabulary, "column": column})
