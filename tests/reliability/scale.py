"""RELIABILITY_SCALE: `ci` (default, small enough for .ci/run) or `full` (the issue's sizes, run by hand).

Each heavy test reads its sizes from here, so one environment variable switches the whole suite.
"""
import os

SCALE = os.environ.get("RELIABILITY_SCALE", "ci").strip().lower()
if SCALE not in ("ci", "full"):
    raise RuntimeError(f"RELIABILITY_SCALE must be ci or full (got {SCALE!r})")

_SIZES = {
    #                       ci      full
    "crash_runs":          (20,     200),
    "redis_down_events":   (100,    100),
    "blip_runs":           (10,     50),
    "race_executions":     (1000,   10000),
    "race_schedules":      (20,     200),
    "load_seconds":        (20,     600),
    "load_rate":           (50,     50),
    "fuzz_examples":       (300,    10000),  # per target (4 targets): ci 1,200 inputs, full 40,000
    "state_machine_runs":  (60,     600),
}


def size(name: str) -> int:
    ci, full = _SIZES[name]
    return full if SCALE == "full" else ci
