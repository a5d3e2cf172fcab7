"""Domain errors.

Every error a user can cause carries a stable ``code`` (the API maps it to a
problem+json ``type``) and a message that says what was wrong. The ``kind``
decides the HTTP status in one place (api): invalid -> 422, not_found -> 404,
conflict -> 409.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    kind = "invalid"
    code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def __str__(self) -> str:
        return self.message


class InvalidInput(DomainError):
    """The command's input breaks a rule; nothing was recorded."""

    kind = "invalid"
    code = "invalid_input"


class NotFound(DomainError):
    kind = "not_found"
    code = "not_found"


class Conflict(DomainError):
    """The command is valid but the current state does not allow it."""

    kind = "conflict"
    code = "conflict"


class Unavailable(DomainError):
    """The system cannot answer now (a read model stuck, the database away); retry later."""

    kind = "unavailable"
    code = "unavailable"


class ViewFailed(Unavailable):
    """A read model could not apply an event: it stays at ``position`` until fixed and rebuilt."""

    code = "view_failed"

    def __init__(self, view: str, position: int, error: str) -> None:
        super().__init__(
            f"read model {view!r} cannot apply the events after position {position} ({error}); "
            "it stays there until the cause is fixed and the view rebuilt",
            view=view,
            position=position,
            error=error,
        )
        self.view = view
        self.position = position
        self.error = error
