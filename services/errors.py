"""Errors services raise; views turn them into inline form errors, 404s or 403s."""


class ServiceError(Exception):
    """Base class for expected, user-facing failures."""


class ValidationFailed(ServiceError):
    """Input broke a rule. `errors` maps a field name to its messages."""

    def __init__(self, errors: dict):
        super().__init__("; ".join(f"{field}: {' '.join(map(str, msgs)) if isinstance(msgs, list) else msgs}" for field, msgs in errors.items()))
        self.errors = errors


class NotFound(ServiceError):
    """The object does not exist in this workspace."""


class PermissionDenied(ServiceError):
    """The actor's role does not allow this."""
