"""Domain errors: what a caller got wrong, in terms of the request, not of HTTP. Services raise
them; `web.errors` maps each class to the contract's status and code."""
from __future__ import annotations


class RiskengineError(Exception):
    """A caller's mistake, with the field it names (a dotted path such as `records[17].ip`)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message, self.field = message, field


class InvalidInput(RiskengineError):
    """A value is well-formed JSON but not acceptable (missing, wrong type, out of range)."""


class MalformedBody(RiskengineError):
    """The body is not parseable at all (not JSON)."""


class TooLarge(RiskengineError):
    """More items than one call may carry."""


class Conflict(RiskengineError):
    """The request contradicts what is stored (an idempotency key reused with another body)."""


class NotFound(RiskengineError):
    """The request names something that does not exist."""
