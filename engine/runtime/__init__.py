"""The engine's upper half: hand-off, runner, sweep, schedules, jobs, executors."""
