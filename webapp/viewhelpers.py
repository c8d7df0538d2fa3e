"""Jinja filters and globals: durations, relative times, JSON, chart bars, links to records, and the
product's vocabulary (each enum of models/vocabulary.py by its name, so a template compares
`ticket.status == TicketStatus.RESOLVED` instead of spelling the value, and badge colours).

Registered app-wide by create_app, so any page including partials/_stats_strip.html or
runs/_partials/_chart.html has them.
"""
import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import g, has_app_context, request, url_for
from markupsafe import Markup

from engine.core.records import RECORD_KINDS
from models import vocabulary
from models.base import utcnow
from models.vocabulary import (ApplicationStage, DealStage, DealStatus, EmailStatus, InvoiceStatus, ProjectStatus,
                               QuotationStatus, RunStatus, SprintStatus, TaskStatus, TicketPriority, TicketStatus)

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE


def format_duration(ms) -> str:
    """Milliseconds for people: "0 ms", "999 ms", "1.5 s", "2 m 5 s", "3 h", "3 h 5 m"; "—" when unknown."""
    if ms is None:
        return "—"
    ms = max(0, int(ms))
    if ms < SECOND:
        return f"{ms} ms"
    if ms < MINUTE:
        tenths = ms // 100  # round down, so 59,999 ms stays "59.9 s"
        return f"{tenths // 10}.{tenths % 10} s" if tenths % 10 else f"{tenths // 10} s"
    if ms < HOUR:
        minutes, seconds = divmod(ms // SECOND, 60)
        return f"{minutes} m {seconds} s" if seconds else f"{minutes} m"
    hours, rest = divmod(ms // SECOND, 3600)
    minutes = rest // 60
    return f"{hours} h {minutes} m" if minutes else f"{hours} h"


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}{'' if count == 1 else 's'}"


def relative_time(moment: datetime | None, now: datetime | None = None) -> str:
    """ "just now", "45 s ago", "3 min ago", "2 h ago", "yesterday", "5 days ago", then the date; "in 5 min" ahead."""
    if moment is None:
        return "—"
    now = now or utcnow()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    seconds = int((now - moment).total_seconds())
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 10:
        return "just now"
    if seconds < 60:
        phrase = f"{seconds} s"
    elif seconds < 3600:
        phrase = f"{seconds // 60} min"
    elif seconds < 86400:
        phrase = f"{seconds // 3600} h"
    elif seconds < 2 * 86400 and not future:
        return "yesterday"
    elif seconds < 7 * 86400:
        phrase = _plural(seconds // 86400, "day")
    else:
        local = to_local(moment)
        return local.strftime("%b %-d") if local.year == to_local(now).year else local.strftime("%b %-d, %Y")
    return f"in {phrase}" if future else f"{phrase} ago"


def display_timezone():
    workspace = getattr(g, "workspace", None) if has_app_context() else None
    name = getattr(workspace, "timezone", None) or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def to_local(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(display_timezone())


def exact_time(moment: datetime | None) -> str:
    """The exact time in the workspace's timezone, e.g. "2026-11-25 17:05:23 UTC"."""
    if moment is None:
        return ""
    return to_local(moment).strftime("%Y-%m-%d %H:%M:%S %Z")


def local_time(moment: datetime | None, fmt: str = "%b %d, %Y %H:%M") -> str:
    """A moment formatted in the workspace's time zone (the zone is named once per page, in base.html)."""
    return to_local(moment).strftime(fmt) if moment else "—"


def time_tag(moment: datetime | None, now: datetime | None = None) -> Markup:
    """<time> with the relative time as text and the exact time on hover."""
    if moment is None:
        return Markup("—")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        moment.isoformat(), exact_time(moment), relative_time(moment, now)
    )


def pretty_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def url_with(**changes) -> str:
    """The current URL with some query arguments replaced (None removes one); cursors always reset."""
    args = request.args.to_dict()
    for key in ("before", "after"):
        args.pop(key, None)
    for key, value in changes.items():
        if value is None or value == "":
            args.pop(key, None)
        else:
            args[key] = value
    return url_for(request.endpoint, **(request.view_args or {}), **args)


# -- the runs chart -------------------------------------------------------------------------------
# Bottom up: finished runs first.
CHART_ORDER = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.PAUSED, RunStatus.RUNNING,
               RunStatus.PENDING)
# The .status-* colours of app.css, for SVG fills.
STATUS_COLOURS = {RunStatus.PENDING: "#adb5bd", RunStatus.RUNNING: "#1971c2", RunStatus.COMPLETED: "#237032",
                  RunStatus.FAILED: "#c92a2a", RunStatus.CANCELLED: "#495057", RunStatus.PAUSED: "#f59f00"}


def chart_bars(chart: dict, width: int = 720, height: int = 160, gap: int = 3) -> list[dict]:
    """One column per day, stacked segments per status (bottom up), in SVG user units."""
    days = chart["days"]
    scale = height / chart["max_total"] if chart["max_total"] else 0
    slot = width / max(1, len(days))
    bars = []
    for position, day in enumerate(days):
        x = position * slot + gap / 2
        top = height
        segments = []
        for status in CHART_ORDER:
            count = day["counts"].get(status, 0)
            if not count:
                continue
            size = max(1.0, count * scale)
            top -= size
            segments.append({"status": status.value, "count": count, "y": round(top, 2), "height": round(size, 2),
                             "colour": STATUS_COLOURS[status]})
        summary = ", ".join(f"{s['count']} {s['status']}" for s in segments) or "no runs"
        bars.append({"x": round(x, 2), "width": round(slot - gap, 2), "day": day["day"], "total": day["total"],
                     "segments": segments, "title": f"{day['day'].strftime('%b %-d')}: {summary}"})
    return bars


# -- links to what a step created ------------------------------------------------------------------
# Output key -> (label, endpoint, URL argument name or None for a list page, anchor format or None): every
# record kind's `<kind>_id` (engine.core.records), then outputs that name platform rows listed on one page.
OUTPUT_LINKS = (
    *((f"{kind.key}_id", kind.label, kind.endpoint, kind.argument, kind.anchor) for kind in RECORD_KINDS.values()),
    ("outbox_id", "Email", "platform.outbox", None, "email-{}"),
    ("notification_id", "Notification", "platform.notifications", None, None),
    ("notification_ids", "Notifications", "platform.notifications", None, None),
    ("audit_event_id", "Audit event", "platform.audit_log", None, None),
)


def output_links(output) -> list[dict]:
    """Links to the records a step's output names: [{"label": "Deal #3", "url": ...}]."""
    if not isinstance(output, dict):
        return []
    links = []
    for key, label, endpoint, argument, anchor in OUTPUT_LINKS:
        value = output.get(key)
        if value in (None, "", []):
            continue
        ids = value if isinstance(value, list) else [value]
        if not all(isinstance(item, int) for item in ids):
            continue
        text = f"{label} #{', #'.join(str(item) for item in ids)}"
        links.append({"label": text, "url": _record_url(endpoint, argument, anchor, ids)})
    return links


def _record_url(endpoint: str, argument, anchor, ids: list[int]) -> str:
    if argument:
        return url_for(endpoint, **{argument: ids[0]})
    return url_for(endpoint, _anchor=anchor.format(ids[0]) if anchor else None)


# -- badges ----------------------------------------------------------------------------------------
# The Bootstrap tone of a business record's badge (partials/_forms.html `badge`), by stored value. A word
# several enums share (open, pending, active, draft, sent, failed, completed) has one tone.
BADGE_TONES = {
    **{stage: tone for stage, tone in zip(DealStage, ("secondary", "info", "primary", "warning", "success", "danger"))},
    DealStatus.OPEN: "primary", DealStatus.WON: "success", DealStatus.LOST: "danger",
    TicketStatus.PENDING: "warning", TicketStatus.RESOLVED: "success",
    TicketPriority.LOW: "light", TicketPriority.NORMAL: "secondary", TicketPriority.HIGH: "warning",
    TicketPriority.URGENT: "danger",
    TaskStatus.TODO: "secondary", TaskStatus.IN_PROGRESS: "primary", TaskStatus.DONE: "success",
    ProjectStatus.ACTIVE: "success", ProjectStatus.COMPLETED: "success", ProjectStatus.ARCHIVED: "light",
    SprintStatus.CLOSED: "dark",
    InvoiceStatus.DRAFT: "secondary", InvoiceStatus.SENT: "primary", InvoiceStatus.PAID: "success",
    InvoiceStatus.REFUNDED: "dark", QuotationStatus.ACCEPTED: "success",
    EmailStatus.QUEUED: "warning", EmailStatus.FAILED: "danger",
    **{stage: tone for stage, tone in zip(ApplicationStage, ("secondary", "info", "primary", "warning", "success", "danger"))},
}


def label(value, vocabulary_enum) -> str:
    """The label of a stored value (`{{ run.status|label(RunStatus) }}`); an unknown value as it is."""
    try:
        return vocabulary_enum(value).label
    except ValueError:
        return str(value)


def register(app) -> None:
    app.add_template_filter(format_duration, "duration")
    app.add_template_filter(relative_time, "reltime")
    app.add_template_filter(exact_time, "exacttime")
    app.add_template_filter(time_tag, "timetag")
    app.add_template_filter(local_time, "localtime")
    app.add_template_filter(pretty_json, "prettyjson")
    app.add_template_filter(label, "label")
    app.add_template_global(url_with, "url_with")
    app.add_template_global(chart_bars, "chart_bars")
    app.add_template_global(output_links, "output_links")
    app.add_template_global(STATUS_COLOURS, "status_colours")
    app.add_template_global(CHART_ORDER, "chart_order")
    app.add_template_global(BADGE_TONES, "badge_tones")
    for name in dir(vocabulary):
        value = getattr(vocabulary, name)
        if isinstance(value, type) and issubclass(value, vocabulary.Vocabulary) and value is not vocabulary.Vocabulary:
            app.add_template_global(value, name)
